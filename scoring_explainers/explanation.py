"""Explanations: global and local feature importances with the familiar getters.

One definition of global importance whatever made the explanation: the mean absolute local
value per feature and class over the explained rows (``per_class_values``), then the mean
over classes (``global_importance_values``); for regression the mean absolute local value.
Permutation importance (``method="pfi"``) is global only and carries its own values.

Layouts follow interpret-community: ``local_importance_values`` is
``(n_classes, n_rows, n_features)`` for classification and ``(n_rows, n_features)`` for
regression. Every value a getter returns is JSON-native (lists, floats, ints, str), and
``to_json`` / ``from_json`` round-trip losslessly.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np

from ._errors import InputError
from .runtime._json import json_native

if TYPE_CHECKING:
    from .runtime import RawSchema

__all__ = [
    "GlobalExplanation",
    "LocalExplanation",
    "global_from_local",
    "json_native",
    "load_explanation",
    "save_explanation",
]

ModelTask = Literal["classification", "regression"]
#: Version of the JSON form written by :meth:`LocalExplanation.to_json`.
JSON_VERSION = 1


def _ranked(values: np.ndarray, top_k: int | None) -> np.ndarray:
    """Indices that sort the last axis by value, descending (stable), cut to ``top_k``."""
    if top_k is not None and top_k < 1:
        raise InputError(f"top_k must be a positive integer, got {top_k}")
    order = np.argsort(-values, axis=-1, kind="stable")
    return order if top_k is None else order[..., :top_k]


def _with_nulls(array: np.ndarray) -> list[Any]:
    """Nested lists with NaN as ``None`` (JSON has no NaN; ``None`` reads back as NaN)."""
    if not np.isnan(array).any():
        return cast("list[Any]", array.tolist())
    values = array.astype(object)
    values[np.isnan(array)] = None
    return cast("list[Any]", values.tolist())


def _cell(value: Any) -> Any:
    """One value of a raw row as JSON-native: numbers, strings, booleans; missing -> None."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return None if value != value else value
    try:
        if value != value:  # pandas.NaT
            return None
    except (TypeError, ValueError):  # pandas.NA: its comparisons are NA, whose bool raises
        return None
    raise InputError(f"eval_data holds a {type(value).__name__} value: {value!r:.60}")


def _mixed_rows(data: Any, n_features: int) -> list[list[Any]]:
    """Rows of mixed values (a DataFrame with string columns, an object array, lists)."""
    if hasattr(data, "to_numpy") and hasattr(data, "columns"):
        data = data.to_numpy(dtype=object)
    try:
        matrix = np.asarray(data, dtype=object)
    except (TypeError, ValueError) as exc:
        raise InputError(f"eval_data must be rows of values: {exc}") from exc
    if matrix.ndim != 2 or matrix.shape[1] != n_features:
        raise InputError(
            f"eval_data must be (n_rows, {n_features}) rows of values, got shape {matrix.shape}"
        )
    return [[_cell(v) for v in row] for row in matrix.tolist()]


def _finite(name: str, array: np.ndarray) -> np.ndarray:
    if not np.all(np.isfinite(array)):
        raise InputError(f"{name} holds non-finite values")
    return array


class LocalExplanation:
    """Local importances of a set of rows.

    Parameters
    ----------
    local_importance_values : array-like
        ``(n_classes, n_rows, n_features)`` for classification, ``(n_rows, n_features)``
        for regression.
    features : list of str
        Names of the explained features (raw or engineered, see ``is_raw``).
    classes : list, optional
        Class labels (classification).
    expected_values : array-like or float, optional
        Expected output per class (classification) or the expected prediction.
    method : str
        What computed the values, e.g. ``"shap.tree"``, ``"shap.kernel"``,
        ``"mimic.lightgbm"``.
    model_task : {"classification", "regression"}
    is_raw : bool, default=False
        Whether ``features`` are the raw features (before ``transformations``).
    eval_data : array-like of shape (n_rows, n_features), optional
        The explained rows (raw data when ``is_raw``): numbers, or for raw rows with
        categories any mix of numbers, strings, booleans and missing values (a DataFrame
        with string columns, an object array, lists); kept as JSON-native values.
    eval_y_predicted, eval_y_predicted_proba : array-like, optional
        The model's predictions (and class probabilities) for the explained rows.
    metadata : dict, optional
        Anything else worth keeping (fidelity of a surrogate, the chosen explainer and why).
        ``metadata["raw_schema"]`` (a :class:`~scoring_explainers.runtime.RawSchema` or its
        JSON form, one column per feature) says which features are categorical and their
        categories; it is checked and kept as JSON.
    standard_errors : array-like, optional
        Each local value's standard error (``ScoreResult.standard_errors`` of
        ``score(X, uncertainty=True)``): the layout of ``local_importance_values``,
        finite and non-negative; zero where the value is exact.
    """

    kind = "local"

    def __init__(
        self,
        *,
        local_importance_values: Any,
        features: list[str],
        classes: list[Any] | None = None,
        expected_values: Any = None,
        method: str,
        model_task: ModelTask,
        is_raw: bool = False,
        eval_data: Any = None,
        eval_y_predicted: Any = None,
        eval_y_predicted_proba: Any = None,
        metadata: dict[str, Any] | None = None,
        id: str | None = None,
        standard_errors: Any = None,
    ) -> None:
        self._common(features, classes, expected_values, method, model_task, is_raw, metadata, id)
        self._local: np.ndarray | None = None
        if local_importance_values is not None:
            self._local = self._check_local(local_importance_values)
        self._se = None if standard_errors is None else self._check_se(standard_errors)
        self._eval(eval_data, eval_y_predicted, eval_y_predicted_proba)

    # -- construction helpers -------------------------------------------------------------
    def _common(
        self,
        features: list[str],
        classes: list[Any] | None,
        expected_values: Any,
        method: str,
        model_task: ModelTask,
        is_raw: bool,
        metadata: dict[str, Any] | None,
        id: str | None,
    ) -> None:
        if model_task not in ("classification", "regression"):
            raise InputError(f"model_task must be 'classification' or 'regression': {model_task}")
        self._features = [str(f) for f in features]
        self._classes = None if classes is None else json_native(list(classes))
        if model_task == "classification" and self._classes is None:
            raise InputError("a classification explanation needs its classes")
        self._expected = (
            None
            if expected_values is None
            else _finite("expected_values", np.asarray(expected_values, dtype=np.float64))
        )
        self._method = str(method)
        self._task: ModelTask = model_task
        self._is_raw = bool(is_raw)
        self.metadata: dict[str, Any] = json_native(dict(metadata or {}))
        if self.metadata.get("raw_schema") is not None:
            from .runtime import RawSchema  # here: the runtime imports this module

            if isinstance(self.metadata["raw_schema"], RawSchema):
                self.metadata["raw_schema"] = self.metadata["raw_schema"].to_json()
            try:
                schema = RawSchema.from_json(self.metadata["raw_schema"])
            except ValueError as exc:
                raise InputError(f"metadata raw_schema: {exc}") from exc
            if schema.names != self._features:
                raise InputError(
                    f"metadata raw_schema names the columns {schema.names[:10]}, the "
                    f"explanation's features are {self._features[:10]}"
                )
        self._id = id or str(uuid.uuid4())

    def _check_local(self, values: Any) -> np.ndarray:
        array = _finite("local_importance_values", np.asarray(values, dtype=np.float64))
        want = 3 if self._task == "classification" else 2
        if array.ndim != want or array.shape[-1] != len(self._features):
            layout = "(n_classes, n_rows, n_features)" if want == 3 else "(n_rows, n_features)"
            raise InputError(
                f"local_importance_values must be shaped {layout} with "
                f"{len(self._features)} features, got {array.shape}"
            )
        if want == 3 and self._classes is not None and array.shape[0] != len(self._classes):
            raise InputError(
                f"{array.shape[0]} classes of local values, {len(self._classes)} class names"
            )
        return array

    def _check_se(self, values: Any) -> np.ndarray:
        if self._local is None:
            raise InputError("standard_errors need the local_importance_values they belong to")
        array = _finite("standard_errors", np.asarray(values, dtype=np.float64))
        if array.shape != self._local.shape:
            raise InputError(
                f"standard_errors must be shaped as local_importance_values "
                f"{self._local.shape}, got {array.shape}"
            )
        if (array < 0).any():
            raise InputError("standard_errors must not be negative")
        return array

    def _eval(self, data: Any, predicted: Any, proba: Any) -> None:
        self._eval_data: np.ndarray | None = None
        self._eval_mixed: list[list[Any]] | None = None
        if data is not None:
            try:
                self._eval_data = np.asarray(data, dtype=np.float64)
            except (TypeError, ValueError):  # strings (categories) among the values
                self._eval_mixed = _mixed_rows(data, len(self._features))
        self._eval_predicted = None if predicted is None else json_native(np.asarray(predicted))
        self._eval_proba = None if proba is None else np.asarray(proba, dtype=np.float64)

    # -- common members -------------------------------------------------------------------
    @property
    def id(self) -> str:
        return self._id

    @property
    def features(self) -> list[str]:
        return list(self._features)

    @property
    def num_features(self) -> int:
        return len(self._features)

    @property
    def classes(self) -> list[Any] | None:
        return None if self._classes is None else list(self._classes)

    @property
    def num_classes(self) -> int | None:
        return None if self._classes is None else len(self._classes)

    @property
    def expected_values(self) -> list[float] | float | None:
        """Expected output per class (classification) or the expected prediction."""
        if self._expected is None:
            return None
        if self._task == "regression":
            return float(self._expected.reshape(-1)[0])
        return [float(v) for v in self._expected.reshape(-1)]

    @property
    def method(self) -> str:
        return self._method

    @property
    def model_task(self) -> ModelTask:
        return self._task

    @property
    def is_raw(self) -> bool:
        return self._is_raw

    @property
    def is_engineered(self) -> bool:
        return not self._is_raw

    @property
    def eval_data(self) -> list[list[Any]] | None:
        """The explained rows as JSON-native values: numbers, and for raw rows with
        categories also strings and booleans; a missing value (NaN, ``None``) is ``None``
        (JSON ``null``)."""
        if self._eval_mixed is not None:
            return [list(row) for row in self._eval_mixed]
        return None if self._eval_data is None else _with_nulls(self._eval_data)

    @property
    def raw_schema(self) -> RawSchema | None:
        """The raw columns' schema (kinds, categories) from ``metadata["raw_schema"]``,
        when the explanation carries it: which features are categorical and their known
        categories (the dashboard offers them)."""
        from .runtime import RawSchema

        data = self.metadata.get("raw_schema")
        return None if data is None else RawSchema.from_json(data)

    @property
    def eval_y_predicted(self) -> list[Any] | None:
        return None if self._eval_predicted is None else list(self._eval_predicted)

    @property
    def eval_y_predicted_proba(self) -> list[list[float]] | None:
        return None if self._eval_proba is None else self._eval_proba.tolist()

    # -- local members --------------------------------------------------------------------
    @property
    def has_local(self) -> bool:
        return self._local is not None

    def _local_array(self) -> np.ndarray:
        if self._local is None:
            raise InputError(
                f"this {self._method} explanation has no local values (explain_global with "
                "include_local=False, or a global-only method)"
            )
        return self._local

    @property
    def local_importance_array(self) -> np.ndarray:
        """The local values as a float64 array (a copy), layout as ``local_importance_values``."""
        return self._local_array().copy()

    @property
    def local_importance_values(self) -> list[Any]:
        """``(n_classes, n_rows, n_features)`` (classification) or ``(n_rows, n_features)``."""
        return cast("list[Any]", self._local_array().tolist())

    @property
    def standard_errors(self) -> list[Any] | None:
        """Each local value's standard error, layout as ``local_importance_values``
        (``None`` when the explanation carries none)."""
        return None if self._se is None else cast("list[Any]", self._se.tolist())

    @property
    def num_examples(self) -> int:
        return int(self._local_array().shape[-2])

    @property
    def is_local_sparse(self) -> bool:
        return False

    def get_local_importance_rank(self) -> list[Any]:
        """Feature indices per row sorted by local value, descending (signed, as
        interpret-community ranks them)."""
        return cast("list[Any]", _ranked(self._local_array(), None).tolist())

    def get_ranked_local_names(self, top_k: int | None = None) -> list[Any]:
        """Feature names per row (and class) sorted by local value, descending."""
        names = np.asarray(self._features, dtype=object)
        return cast("list[Any]", names[_ranked(self._local_array(), top_k)].tolist())

    def get_ranked_local_values(self, top_k: int | None = None) -> list[Any]:
        """Local values per row (and class) sorted descending."""
        values = self._local_array()
        order = _ranked(values, top_k)
        return cast("list[Any]", np.take_along_axis(values, order, axis=-1).tolist())

    # -- JSON -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The JSON-native form read by :meth:`from_dict` (and the explanation store);
        ``standard_errors`` only when the explanation has them."""
        data: dict[str, Any] = {
            "format_version": JSON_VERSION,
            "kind": self.kind,
            "id": self._id,
            "method": self._method,
            "model_task": self._task,
            "is_raw": self._is_raw,
            "features": self.features,
            "classes": self.classes,
            "expected_values": None if self._expected is None else self._expected.tolist(),
            "local_importance_values": None if self._local is None else self._local.tolist(),
            "eval_data": self.eval_data,
            "eval_y_predicted": self.eval_y_predicted,
            "eval_y_predicted_proba": self.eval_y_predicted_proba,
            "metadata": self.metadata,
        }
        if self._se is not None:
            data["standard_errors"] = self._se.tolist()
        return data

    def to_json(self) -> str:
        """JSON text; floats are written with their shortest exact repr (lossless)."""
        try:
            return json.dumps(self.to_dict(), allow_nan=False)
        except ValueError as exc:
            raise InputError(f"explanation holds a non-finite value: {exc}") from exc

    @staticmethod
    def from_dict(data: dict[str, Any]) -> LocalExplanation | GlobalExplanation:
        """Rebuild a local or global explanation from :meth:`to_dict`'s form."""
        if not isinstance(data, dict):
            raise InputError("an explanation must be a JSON object")
        version = data.get("format_version")
        if version != JSON_VERSION:
            raise InputError(f"unsupported explanation format_version {version!r}")
        kind = data.get("kind")
        if kind not in ("local", "global"):
            raise InputError(f"explanation kind must be 'local' or 'global', got {kind!r}")
        try:
            common = {
                "features": data["features"],
                "classes": data.get("classes"),
                "expected_values": data.get("expected_values"),
                "method": data["method"],
                "model_task": data["model_task"],
                "is_raw": bool(data.get("is_raw", False)),
                "eval_data": data.get("eval_data"),
                "eval_y_predicted": data.get("eval_y_predicted"),
                "eval_y_predicted_proba": data.get("eval_y_predicted_proba"),
                "metadata": data.get("metadata") or {},
                "id": data.get("id"),
                "local_importance_values": data.get("local_importance_values"),
                "standard_errors": data.get("standard_errors"),
            }
            if kind == "local":
                return LocalExplanation(**common)
            return GlobalExplanation(
                **common,
                global_importance_values=data["global_importance_values"],
                per_class_values=data.get("per_class_values"),
                global_importance_std=data.get("global_importance_std"),
                num_examples=data.get("num_examples"),
            )
        except KeyError as exc:
            raise InputError(f"explanation is missing {exc.args[0]!r}") from exc
        except (TypeError, ValueError) as exc:
            raise InputError(f"malformed explanation: {exc}") from exc

    @staticmethod
    def from_json(text: str | bytes) -> LocalExplanation | GlobalExplanation:
        """Rebuild from :meth:`to_json`'s text."""
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InputError(f"explanation is not valid JSON: {exc}") from exc
        return LocalExplanation.from_dict(data)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LocalExplanation) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        shape = None if self._local is None else self._local.shape
        return (
            f"{type(self).__name__}(method={self._method!r}, task={self._task!r}, "
            f"features={len(self._features)}, local={shape}, is_raw={self._is_raw})"
        )


class GlobalExplanation(LocalExplanation):
    """Global importances, with the local values they came from when kept.

    Parameters
    ----------
    global_importance_values : array-like of shape (n_features,)
    per_class_values : array-like of shape (n_classes, n_features), optional
        Mean absolute local value per class (classification).
    global_importance_std : array-like of shape (n_features,), optional
        Standard deviation of each importance over repeats (permutation importance).
    num_examples : int, optional
        Rows the importances were computed on (defaults to the local values' rows).
    Others as :class:`LocalExplanation`; ``local_importance_values`` may be ``None``.
    """

    kind = "global"

    def __init__(
        self,
        *,
        global_importance_values: Any,
        per_class_values: Any = None,
        global_importance_std: Any = None,
        num_examples: int | None = None,
        local_importance_values: Any = None,
        **common: Any,
    ) -> None:
        super().__init__(local_importance_values=local_importance_values, **common)
        n = len(self._features)
        glob = _finite("global_importance_values", np.asarray(global_importance_values, float))
        if glob.shape != (n,):
            raise InputError(f"global_importance_values must have {n} values, got {glob.shape}")
        self._global = glob
        self._per_class = None
        if per_class_values is not None:
            per_class = _finite("per_class_values", np.asarray(per_class_values, float))
            if per_class.ndim != 2 or per_class.shape[1] != n:
                raise InputError(f"per_class_values must be (n_classes, {n}): {per_class.shape}")
            self._per_class = per_class
        self._std = None
        if global_importance_std is not None:
            std = _finite("global_importance_std", np.asarray(global_importance_std, float))
            if std.shape != (n,):
                raise InputError(f"global_importance_std must have {n} values, got {std.shape}")
            self._std = std
        if num_examples is None and self._local is not None:
            num_examples = int(self._local.shape[-2])
        self._num_examples = None if num_examples is None else int(num_examples)

    @property
    def num_examples(self) -> int:
        if self._num_examples is None:
            raise InputError("this explanation does not record how many rows it covers")
        return self._num_examples

    # -- global members -------------------------------------------------------------------
    @property
    def global_importance_values(self) -> list[float]:
        return cast("list[float]", self._global.tolist())

    @property
    def global_importance_std(self) -> list[float] | None:
        return None if self._std is None else self._std.tolist()

    @property
    def global_importance_rank(self) -> list[int]:
        return cast("list[int]", _ranked(self._global, None).tolist())

    def get_ranked_global_names(self, top_k: int | None = None) -> list[str]:
        return [self._features[i] for i in _ranked(self._global, top_k)]

    def get_ranked_global_values(self, top_k: int | None = None) -> list[float]:
        return cast("list[float]", self._global[_ranked(self._global, top_k)].tolist())

    def get_feature_importance_dict(self, top_k: int | None = None) -> dict[str, float]:
        """Feature name -> global importance, in rank order (JSON-native)."""
        order = _ranked(self._global, top_k)
        return {self._features[i]: float(self._global[i]) for i in order}

    def _per_class_array(self) -> np.ndarray:
        if self._per_class is None:
            raise InputError(f"this {self._method} explanation has no per-class values")
        return self._per_class

    @property
    def per_class_values(self) -> list[list[float]]:
        return cast("list[list[float]]", self._per_class_array().tolist())

    @property
    def per_class_rank(self) -> list[list[int]]:
        return cast("list[list[int]]", _ranked(self._per_class_array(), None).tolist())

    def get_ranked_per_class_names(self, top_k: int | None = None) -> list[list[str]]:
        names = np.asarray(self._features, dtype=object)
        return cast("list[list[str]]", names[_ranked(self._per_class_array(), top_k)].tolist())

    def get_ranked_per_class_values(self, top_k: int | None = None) -> list[list[float]]:
        values = self._per_class_array()
        ranked = np.take_along_axis(values, _ranked(values, top_k), axis=-1)
        return cast("list[list[float]]", ranked.tolist())

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data.update(
            global_importance_values=self._global.tolist(),
            per_class_values=None if self._per_class is None else self._per_class.tolist(),
            global_importance_std=None if self._std is None else self._std.tolist(),
            num_examples=self._num_examples,
        )
        return data

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f", num_examples={self._num_examples})"


def global_from_local(
    local_importance_values: Any,
    *,
    model_task: ModelTask,
    include_local: bool = True,
    **common: Any,
) -> GlobalExplanation:
    """A :class:`GlobalExplanation` by the one definition, from local values.

    ``per_class_values`` = mean over rows of ``|local|`` per class, ``global`` = their mean
    over classes; for regression ``global`` = mean over rows of ``|local|``. The local
    values' ``standard_errors``, if given, are kept with them (dropped without them).
    """
    local = np.asarray(local_importance_values, dtype=np.float64)
    if not include_local:  # standard errors belong to the local values
        common.pop("standard_errors", None)
    magnitude = np.abs(local).mean(axis=-2)  # (n_classes, n_features) or (n_features,)
    per_class = magnitude if model_task == "classification" else None
    glob = magnitude.mean(axis=0) if model_task == "classification" else magnitude
    return GlobalExplanation(
        global_importance_values=glob,
        per_class_values=per_class,
        num_examples=int(local.shape[-2]),
        local_importance_values=local if include_local else None,
        model_task=model_task,
        **common,
    )


def save_explanation(
    explanation: LocalExplanation, path: str | os.PathLike[str], *, exist_ok: bool = False
) -> Path:
    """Write an explanation as one JSON file (see :meth:`LocalExplanation.to_json`)."""
    target = Path(path)
    if target.exists() and not exist_ok:
        raise FileExistsError(f"{target} exists (pass exist_ok=True to replace it)")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.tmp")
    staging.write_text(explanation.to_json(), encoding="utf-8")
    staging.replace(target)
    return target


def load_explanation(path: str | os.PathLike[str]) -> LocalExplanation | GlobalExplanation:
    """Read an explanation written by :func:`save_explanation`."""
    return LocalExplanation.from_json(Path(path).read_text(encoding="utf-8"))
