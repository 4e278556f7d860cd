"""What every scoring explainer shares: input checks, the result shape, ``score``."""

from __future__ import annotations

import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol, Self

import numpy as np

from .._errors import InputError, ScoringExplainersError
from ._onnx_model import OnnxModel, OnnxTransform, Task
from ._registry import add_kind, builder
from ._schema import MAX_SPARSE_CELLS, RawSchema, check_names

__all__ = [
    "CancelToken",
    "ExplanationCancelled",
    "OutputSpace",
    "ScoreResult",
    "ScoringExplainer",
    "as_matrix",
    "check_names",
    "raise_if_cancelled",
]

OutputSpace = Literal["probability", "log_odds", "raw"]
#: Largest magnitude an input may have: the ONNX graphs compute in float32.
FLOAT32_MAX = float(np.finfo(np.float32).max)


class CancelToken(Protocol):
    """What ``score(..., cancel=)`` takes: a ``threading.Event``, or anything whose
    ``is_set()`` turns true when the work should stop (checked from the working thread)."""

    def is_set(self) -> bool: ...


class ExplanationCancelled(ScoringExplainersError):
    """``score`` or ``explain`` stopped early because its ``cancel`` token was set."""


def raise_if_cancelled(cancel: CancelToken | None) -> None:
    """Raise :class:`ExplanationCancelled` when ``cancel`` is set."""
    if cancel is not None and cancel.is_set():
        raise ExplanationCancelled("the explanation was cancelled before it finished")


def check_tolerance(tolerance: Any) -> float | None:
    """``tolerance`` as a positive finite float (or None); :class:`InputError` (a
    ``ValueError``, a 422 in the service) otherwise."""
    if tolerance is None:
        return None
    if (
        isinstance(tolerance, bool)
        or not isinstance(tolerance, int | float | np.number)
        or not np.isfinite(float(tolerance))
        or float(tolerance) <= 0
    ):
        raise InputError(f"tolerance must be a positive finite number, got {tolerance!r}")
    return float(tolerance)


def _is_dataframe(X: Any) -> bool:
    return hasattr(X, "columns") and hasattr(X, "to_numpy") and hasattr(X, "dtypes")


def _dataframe_matrix(X: Any, features: Sequence[str]) -> np.ndarray:
    columns = [str(c) for c in X.columns]
    if len(set(columns)) != len(columns):
        dupes = sorted({c for c in columns if columns.count(c) > 1})
        raise InputError(f"duplicate column names: {dupes}")
    check_names(columns, features, what="columns")
    position = {c: i for i, c in enumerate(columns)}
    out = np.empty((len(X), len(features)), dtype=np.float64)
    for j, name in enumerate(features):
        column = X.iloc[:, position[name]]
        try:
            out[:, j] = column.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError) as exc:
            raise InputError(f"column {name!r} has non-numeric values") from exc
    return out


def as_matrix(X: Any, features: Sequence[str]) -> np.ndarray:
    """Validate rows and return them as a float64 matrix in feature order.

    Parameters
    ----------
    X : array-like of shape (n_rows, n_features) or (n_features,), or DataFrame
        A DataFrame is matched to ``features`` by column name (any order).
    features : sequence of str

    Returns
    -------
    ndarray of shape (n_rows, n_features), float64
        May contain NaN; infinities are rejected.
    """
    if hasattr(X, "toarray") and hasattr(X, "nnz"):  # scipy sparse
        cells = int(X.shape[0]) * int(X.shape[1])
        if cells > MAX_SPARSE_CELLS:
            raise InputError(
                f"a sparse matrix of {X.shape[0]} x {X.shape[1]} is too large to densify "
                f"at once (limit {MAX_SPARSE_CELLS:,} cells); explain it in batches"
            )
        X = X.toarray()
    if _is_dataframe(X):
        matrix = _dataframe_matrix(X, features)
    else:
        try:
            matrix = np.asarray(X, dtype=np.float64)
        except (TypeError, ValueError, OverflowError) as exc:
            raise InputError(f"rows must be numbers: {exc}") from exc
        if matrix.ndim == 1 and len(features) > 0 and matrix.shape[0] == len(features):
            matrix = matrix.reshape(1, -1)
        if matrix.ndim != 2:
            raise InputError(
                f"rows must form a 2-D array of shape (n_rows, {len(features)}), "
                f"got {matrix.ndim} dimension(s) with shape {matrix.shape}"
            )
        if matrix.shape[1] != len(features):
            raise InputError(f"expected {len(features)} features per row, got {matrix.shape[1]}")
    if matrix.shape[0] == 0:
        raise InputError("empty batch: no rows to explain")
    if np.isinf(matrix).any():
        row, col = np.argwhere(np.isinf(matrix))[0]
        raise InputError(f"infinite value in row {row}, feature {features[col]!r}")
    too_large = np.abs(matrix) > FLOAT32_MAX
    if too_large.any():  # the models take float32: these would become infinities
        row, col = np.argwhere(too_large)[0]
        raise InputError(
            f"value {matrix[row, col]:.3g} in row {row}, feature {features[col]!r} is "
            f"beyond the float32 range the model computes in"
        )
    return matrix


@dataclass(frozen=True)
class ScoreResult:
    """Predictions and local importances for a batch of rows.

    Attributes
    ----------
    predictions : ndarray of shape (n_rows,)
        Class labels (classification) or predicted values (regression).
    probabilities : ndarray of shape (n_rows, n_classes) or None
        Class probabilities; ``None`` for regression.
    local_importance_values : ndarray
        ``(n_classes, n_rows, n_features)`` for classification,
        ``(n_rows, n_features)`` for regression.
    expected_values : ndarray of shape (n_classes,) or 0-d
        The explained output's expected value over the background, per class.
    features : list of str
    classes : list or None
    output_space : {"probability", "log_odds", "raw"}
        The space the importances add up in:
        ``importances.sum(-1) + expected_value == output`` per row and class.
    method : str
        ``"kernel"``, ``"tree"`` or ``"linear"``.
    standard_errors : ndarray or None
        Same layout as ``local_importance_values``: the standard error of each value
        (jackknife over the sampled coalitions of a Kernel design; zero where the values
        are exact: enumerated designs, tree and linear explainers). ``None`` unless
        ``score`` was asked for ``uncertainty`` or given a ``tolerance``.
    coalitions_used : ndarray of shape (n_rows,), int64, or None
        Coalitions evaluated for each row (Kernel; 0 for tree and linear explainers).
        Present exactly when ``standard_errors`` is.
    """

    predictions: np.ndarray
    probabilities: np.ndarray | None
    local_importance_values: np.ndarray
    expected_values: np.ndarray
    features: list[str]
    classes: list[Any] | None
    output_space: OutputSpace
    method: str
    standard_errors: np.ndarray | None = None
    coalitions_used: np.ndarray | None = None

    def top_features(self, k: int) -> tuple[list[list[str]], np.ndarray]:
        """The ``k`` features with the largest absolute importance in each row.

        For classification the ranking is of the predicted class's importances.

        Returns
        -------
        names : list of n_rows lists of k str
        values : ndarray of shape (n_rows, k)
        """
        values = self.local_importance_values
        if values.ndim == 3:
            index = {c: i for i, c in enumerate(self.classes or [])}
            fallback = (
                np.argmax(self.probabilities, axis=1)
                if self.probabilities is not None
                else np.zeros(len(self.predictions), dtype=int)
            )
            chosen = np.array(
                [
                    index.get(p, int(f))
                    for p, f in zip(self.predictions.tolist(), fallback, strict=True)
                ]
            )
            values = values[chosen, np.arange(values.shape[1])]
        k = max(0, min(int(k), values.shape[1]))
        order = np.argsort(-np.abs(values), axis=1, kind="stable")[:, :k]
        names = [[self.features[j] for j in row] for row in order.tolist()]
        return names, np.take_along_axis(values, order, axis=1)

    def to_dict(self) -> dict[str, Any]:
        """JSON-native form (lists, floats, str) with the familiar key names."""
        out: dict[str, Any] = {
            "predictions": self.predictions.tolist(),
            "local_importance_values": self.local_importance_values.tolist(),
            "expected_values": self.expected_values.tolist(),
            "features": list(self.features),
            "output_space": self.output_space,
            "method": self.method,
        }
        if self.probabilities is not None:
            out["probabilities"] = self.probabilities.tolist()
        if self.classes is not None:
            out["classes"] = [c.item() if isinstance(c, np.generic) else c for c in self.classes]
        if self.standard_errors is not None:
            out["standard_errors"] = self.standard_errors.tolist()
        if self.coalitions_used is not None:
            out["coalitions_used"] = self.coalitions_used.tolist()
        return out

    def to_body(self, top_k: int | None = None, *, arrays: bool = False) -> dict[str, Any]:
        """The ``POST /score`` response body (the service's, ``run(raw_data)``'s and the
        notebook dashboard's).

        Keys, in order: ``predictions``, ``local_importance_values``, ``expected_values``
        (a float for a 0-d value), ``features``, ``output_space``, ``method``; with
        probabilities, ``probabilities`` and ``classes``; with ``top_k``, ``top_k``:
        ``{"features": n_rows lists of k names, "values": (n_rows, k)}`` (see
        :meth:`top_features`); then ``standard_errors`` and ``coalitions_used`` when the
        result has them (else the body is as without them, byte for byte).

        Parameters
        ----------
        top_k : int, optional
            Add each row's ``top_k`` most important features.
        arrays : bool, default False
            False: JSON-native (lists, floats, str). True: numeric arrays stay ndarrays,
            for an encoder that writes them natively (orjson's ``OPT_SERIALIZE_NUMPY``)
            without a Python float per value.
        """

        def out(values: np.ndarray) -> Any:
            return values if arrays else values.tolist()

        predictions = self.predictions
        body: dict[str, Any] = {
            "predictions": out(predictions)
            if predictions.dtype.kind in "biuf"
            else predictions.tolist(),
            "local_importance_values": out(self.local_importance_values),
            "expected_values": out(self.expected_values)
            if self.expected_values.ndim
            else float(self.expected_values),
            "features": list(self.features),
            "output_space": self.output_space,
            "method": self.method,
        }
        if self.probabilities is not None:
            body["probabilities"] = out(self.probabilities)
            body["classes"] = (
                None
                if self.classes is None
                else [c.item() if isinstance(c, np.generic) else c for c in self.classes]
            )
        if top_k is not None:
            names, values = self.top_features(top_k)
            body["top_k"] = {"features": names, "values": out(values)}
        if self.standard_errors is not None:
            body["standard_errors"] = out(self.standard_errors)
        if self.coalitions_used is not None:
            body["coalitions_used"] = out(self.coalitions_used)
        return body


class ScoringExplainer(ABC):
    """Base of the scoring explainers: a model plus what is needed to attribute its output.

    Subclasses implement :meth:`_attribute`. ``explain`` and ``score`` are pure: they never
    write to ``self``, so one instance serves many threads at once. Make one with a
    subclass's ``from_model``, from a full explainer (``from_explainer``) or with
    :func:`scoring_explainers.load`.

    A subclass that sets ``kind`` is known to ``save``/``load`` by that name (it registers
    itself when it is defined).
    """

    kind: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "kind" in cls.__dict__:
            add_kind(cls)

    @classmethod
    def from_explainer(cls, explainer: object, X: Any = None) -> Self:
        """Distill from a full explainer (``TabularExplainer`` or ``MimicExplainer``).

        The result explains the same rows with the same values (bit-for-bit the same engine
        when the explainer uses this kind) and, when the explainer has transformations,
        takes raw rows and reports raw features (the preprocessing runs as an ONNX graph).
        Needs the ``distill`` extra.

        Parameters
        ----------
        explainer : TabularExplainer or MimicExplainer
        X : array-like of shape (n_rows, n_raw_features) or DataFrame, optional
            Rows to distill from instead of the explainer's initialization examples
            (a TabularExplainer explained by another kind, e.g. Kernel for a tree model).

        Raises
        ------
        InputError
            ``explainer`` is not a full explainer.
        UnsupportedModelError
            A MimicExplainer whose surrogate is explained by another kind.
        ConversionError
            The model or its transformations do not convert to ONNX.
        """
        kind = getattr(cls, "kind", None)
        if kind is None:
            raise TypeError(
                "call from_explainer on KernelScoringExplainer, TreeScoringExplainer or "
                "LinearScoringExplainer (or use scoring_explainer_for)"
            )
        distilled: Self = builder(kind, "from_explainer")(explainer, X)
        return distilled

    def _from_positional(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        """The deprecated ``KernelScoringExplainer(explainer[, initialization_examples])``:
        distil as :meth:`from_explainer` and take that explainer's state. ``False`` (nothing
        done) for the keyword-only state constructor."""
        if not args:
            return False
        name = type(self).__name__
        if len(args) > 2 or set(kwargs) - {"initialization_examples"}:
            raise TypeError(
                f"{name}(explainer, initialization_examples=None) takes at most two "
                "positional arguments; the state constructor takes keywords only"
            )
        if len(args) == 2 and "initialization_examples" in kwargs:
            raise TypeError("initialization_examples given twice")
        warnings.warn(
            f"{name}(explainer) is deprecated; use {name}.from_explainer(explainer, X=None)",
            DeprecationWarning,
            stacklevel=3,
        )
        X = args[1] if len(args) == 2 else kwargs.get("initialization_examples")
        self.__dict__.update(type(self).from_explainer(args[0], X).__dict__)
        return True

    def __init__(
        self,
        *,
        model: OnnxModel,
        features: Sequence[str],
        classes: Sequence[Any] | None,
        output_space: OutputSpace,
        expected_values: np.ndarray,
        allow_missing: bool,
        metadata: dict[str, Any] | None = None,
        preprocessor: OnnxTransform | None = None,
        raw_features: Sequence[str] | None = None,
        feature_map: np.ndarray | None = None,
        schema: RawSchema | None = None,
    ) -> None:
        self._model = model
        self._features = [str(f) for f in features]
        self._preprocessor = preprocessor
        self._raw_features: list[str] | None = None
        self._feature_map: np.ndarray | None = None
        if preprocessor is not None:
            if raw_features is None or feature_map is None:
                raise ValueError("a preprocessor needs raw_features and a feature_map")
            self._raw_features = [str(f) for f in raw_features]
            weights = np.asarray(feature_map, dtype=np.float64)
            if weights.shape != (len(self._raw_features), len(self._features)):
                raise ValueError(
                    f"feature_map must be (n_raw, n_engineered) = "
                    f"({len(self._raw_features)}, {len(self._features)}), got {weights.shape}"
                )
            if preprocessor.n_outputs != len(self._features):
                raise ValueError("the preprocessor's width does not match the features")
            self._feature_map = weights
        self._classes = None if classes is None else list(classes)
        self._output_space: OutputSpace = output_space
        self._expected_values = np.asarray(expected_values, dtype=np.float64).reshape(-1)
        self._allow_missing = allow_missing
        if schema is None:  # numeric raw columns; NaN where the model or preprocessing may take it
            schema = RawSchema.numeric(
                self.features, missing=allow_missing or preprocessor is not None
            )
        if not isinstance(schema, RawSchema) or schema.names != self.features:
            raise ValueError(
                f"the schema's columns must be the input features {self.features[:10]}"
            )
        if preprocessor is None and not schema.numeric_only and len(schema) != len(self._features):
            raise ValueError("the schema does not fit the model's input")
        self._schema = schema
        self.metadata: dict[str, Any] = dict(metadata or {})
        model_classes = self.metadata.get("model_classes")
        self._label_map: dict[Any, Any] | None = (
            dict(zip(model_classes, self._classes, strict=True))
            if model_classes is not None and self._classes is not None
            else None
        )

    # -- description --------------------------------------------------------------------
    @property
    def features(self) -> list[str]:
        """Names of the input features, in column order: the raw features when the
        explainer has a preprocessor (importances are reported for them), else the
        model's."""
        return list(self._raw_features if self._raw_features is not None else self._features)

    @property
    def schema(self) -> RawSchema:
        """The raw input columns: kinds, categories, missing values allowed; every row is
        encoded through it (see :meth:`RawSchema.encode`)."""
        return self._schema

    #: Whether the attributions are computed for the raw features directly (a Kernel
    #: explainer whose players are the raw features) instead of summed from the model's.
    _raw_players: bool = False

    @property
    def n_features(self) -> int:
        """Width of an input row (raw features when there is a preprocessor)."""
        return len(self.features)

    @property
    def engineered_features(self) -> list[str]:
        """Names of the model's own input columns (after the preprocessor, if any)."""
        return list(self._features)

    @property
    def preprocessor(self) -> OnnxTransform | None:
        """Raw -> engineered transform (an ONNX graph), or ``None``."""
        return self._preprocessor

    @property
    def feature_map(self) -> np.ndarray | None:
        """``(n_raw, n_engineered)`` shares of each engineered column per raw feature."""
        return None if self._feature_map is None else self._feature_map.copy()

    @property
    def classes(self) -> list[Any] | None:
        """Class labels (classification), ``None`` for regression."""
        return None if self._classes is None else list(self._classes)

    @property
    def task(self) -> Task:
        return self._model.task

    @property
    def output_space(self) -> OutputSpace:
        return self._output_space

    @property
    def expected_values(self) -> np.ndarray:
        """Expected explained output per class, shape (n_outputs,)."""
        return self._expected_values.copy()

    @property
    def allow_missing(self) -> bool:
        """Whether NaN inputs are accepted (the model handles missing values)."""
        return self._allow_missing

    @property
    def model(self) -> OnnxModel:
        return self._model

    # -- run time -------------------------------------------------------------------------
    def _check(self, X: Any) -> np.ndarray:
        """Validated model input (engineered when there is a preprocessor), float64."""
        return self._model_input(self._schema.encode(X))

    def _model_input(self, matrix: np.ndarray) -> np.ndarray:
        """Encoded rows (n_rows, n_raw) -> the model's input (n_rows, n_model), float64."""
        if self._preprocessor is not None:
            raw = matrix
            matrix = self._preprocessor.transform(raw)
            if not self._allow_missing and np.isnan(matrix).any():
                row = int(np.argwhere(np.isnan(matrix))[0][0])
                cols = [f for f, v in zip(self.features, raw[row], strict=True) if np.isnan(v)]
                raise InputError(
                    f"missing value (NaN) in row {row}"
                    + (f", feature(s) {cols}" if cols else "")
                    + " that the preprocessing does not fill; this model does not handle "
                    "missing values"
                )
            return matrix
        if not self._allow_missing and np.isnan(matrix).any():
            row, col = np.argwhere(np.isnan(matrix))[0]
            raise InputError(
                f"missing value (NaN) in row {row}, feature {self._features[col]!r}; "
                "this model does not handle missing values"
            )
        return matrix

    def _to_raw(self, values: np.ndarray, get_raw: bool | None) -> np.ndarray:
        """Engineered attributions (n_rows, n_eng, n_outputs) -> raw (n_rows, n_raw, ...)."""
        if self._raw_players:
            if get_raw is False:
                raise InputError(
                    "this explainer's players are the raw features: it has no values for "
                    "the engineered columns (get_raw=False)"
                )
            return values
        if self._feature_map is None:
            if get_raw:
                raise InputError("this explainer has no preprocessing: no raw features")
            return values
        if get_raw is False:
            return values
        raw: np.ndarray = np.einsum("reo,ae->rao", values, self._feature_map)
        return raw

    def _predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Predictions (n_rows,) and explained outputs (n_rows, n_outputs): the model's."""
        return self._model.predict(X)

    @abstractmethod
    def _attribute(self, X: np.ndarray, outputs: np.ndarray | None) -> np.ndarray:
        """Attributions of shape (n_rows, n_features, n_outputs), float64.

        ``outputs`` are the model's outputs for ``X`` (probabilities or predictions,
        shape (n_rows, n_outputs)) when ``score`` has computed them already.
        """

    def _attribute_until(
        self, X: np.ndarray, outputs: np.ndarray | None, cancel: CancelToken | None
    ) -> np.ndarray:
        """:meth:`_attribute`, stopped with :class:`ExplanationCancelled` once ``cancel`` is
        set: checked before the work here; explainers that work in chunks check before
        each chunk."""
        raise_if_cancelled(cancel)
        return self._attribute(X, outputs)

    def _attribute_uncertain(
        self,
        X: np.ndarray,
        outputs: np.ndarray | None,
        cancel: CancelToken | None,
        tolerance: float | None,
        get_raw: bool | None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Values and standard errors, both (n_rows, n_features, n_outputs) in the
        reported space, and the coalitions used per row (n_rows,). Exact explainers: zero
        errors, no coalitions, ``tolerance`` ignored; Kernel overrides it."""
        values = self._to_raw(self._attribute_until(X, outputs, cancel), get_raw)
        return values, np.zeros_like(values), np.zeros(X.shape[0], dtype=np.int64)

    def _layout(self, values: np.ndarray) -> np.ndarray:
        if self.task == "classification":
            return np.ascontiguousarray(values.transpose(2, 0, 1))
        return np.ascontiguousarray(values[:, :, 0])

    def explain(
        self, X: Any, *, get_raw: bool | None = None, cancel: CancelToken | None = None
    ) -> np.ndarray:
        """Local importances of every feature for every row.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_features) or DataFrame
        get_raw : bool, optional
            With a preprocessor: raw-feature importances (default, ``True``) or the
            engineered columns' (``False``).
        cancel : threading.Event or CancelToken, optional
            Stop early, raising :class:`ExplanationCancelled`, once ``cancel.is_set()``
            (checked before each chunk of model evaluations).

        Returns
        -------
        ndarray
            ``(n_classes, n_rows, n_features)`` for classification (two classes for a
            binary model), ``(n_rows, n_features)`` for regression.
        """
        values = self._attribute_until(self._check(X), None, cancel)
        return self._layout(self._to_raw(values, get_raw))

    def score(
        self,
        X: Any,
        *,
        timings: dict[str, float] | None = None,
        cancel: CancelToken | None = None,
        uncertainty: bool = False,
        tolerance: float | None = None,
    ) -> ScoreResult:
        """Predictions, probabilities and local importances in one pass.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_features) or DataFrame
        timings : dict, optional
            Filled with the seconds spent in the model (``"model"``: predictions and
            probabilities) and in the explainer (``"explain"``), for monitoring.
        cancel : threading.Event or CancelToken, optional
            Stop early, raising :class:`ExplanationCancelled`, once ``cancel.is_set()``
            (checked before each chunk of model evaluations): a caller whose answer is no
            longer wanted stops the work from another thread.
        uncertainty : bool, default False
            Add :attr:`ScoreResult.standard_errors` and :attr:`ScoreResult.coalitions_used`
            (zero errors where the values are exact: enumerated Kernel designs, tree and
            linear explainers).
        tolerance : float, optional
            Kernel: evaluate each row's coalitions by checkpoints and stop once its largest
            standard error (over features and outputs) is at most ``tolerance``, never
            beyond the distilled design; implies ``uncertainty``. A no-op for exact
            explainers.

        Returns
        -------
        ScoreResult

        Raises
        ------
        InputError
            Rows that do not fit :attr:`schema` (see :meth:`RawSchema.encode`), naming the
            row, the column and the value; also ``tolerance`` not a positive finite
            number, or ``uncertainty``/``tolerance`` asked of a sampled Kernel design
            without sampling units (re-distill it). ``InputError`` is a ``ValueError``.
        """
        return self.score_codes(
            self._schema.encode(X),
            timings=timings,
            cancel=cancel,
            uncertainty=uncertainty,
            tolerance=tolerance,
        )

    def score_codes(
        self,
        codes: np.ndarray,
        *,
        timings: dict[str, float] | None = None,
        cancel: CancelToken | None = None,
        uncertainty: bool = False,
        tolerance: float | None = None,
    ) -> ScoreResult:
        """:meth:`score` for rows already encoded by :attr:`schema` (the service and Spark
        encode while they parse).

        Parameters
        ----------
        codes : ndarray of shape (n_rows, n_features), float
            As :meth:`RawSchema.encode` returns them.
        timings, cancel, uncertainty, tolerance
            As :meth:`score`.

        Returns
        -------
        ScoreResult
        """
        tolerance = check_tolerance(tolerance)
        codes = np.asarray(codes, dtype=np.float64)
        if codes.ndim != 2 or codes.shape[1] != len(self._schema) or codes.shape[0] == 0:
            raise InputError(
                f"codes must be a non-empty (n_rows, {len(self._schema)}) matrix, "
                f"got shape {codes.shape}"
            )
        matrix = self._model_input(codes)
        start = time.perf_counter()
        predictions, outputs = self._predict(matrix)
        predicted = time.perf_counter()
        errors = used = None
        if uncertainty or tolerance is not None:
            values, errors, used = self._attribute_uncertain(
                matrix, outputs, cancel, tolerance, None
            )
        else:
            values = self._to_raw(self._attribute_until(matrix, outputs, cancel), None)
        if timings is not None:
            timings["model"] = predicted - start
            timings["explain"] = time.perf_counter() - predicted
        if self._label_map is not None:
            predictions = np.array([self._label_map[p] for p in predictions.tolist()])
        expected: np.ndarray = (
            self._expected_values.copy()
            if self.task == "classification"
            else np.asarray(self._expected_values[0])
        )
        return ScoreResult(
            predictions=predictions,
            probabilities=outputs if self.task == "classification" else None,
            local_importance_values=self._layout(values),
            expected_values=expected,
            features=self.features,
            classes=self.classes,
            output_space=self._output_space,
            method=self.kind,
            standard_errors=None if errors is None else self._layout(errors),
            coalitions_used=used,
        )

    # -- persistence hooks (see scoring_explainers.artifact) ----------------------------
    @abstractmethod
    def _arrays(self) -> dict[str, np.ndarray]:
        """Numeric state written to ``arrays.npz``."""

    @abstractmethod
    def _settings(self) -> dict[str, Any]:
        """Kind-specific JSON settings written to the manifest."""

    @classmethod
    @abstractmethod
    def _array_shapes(
        cls, settings: dict[str, Any], n_features: int, n_outputs: int, *, n_raw: int
    ) -> dict[str, tuple[int | None, ...]]:
        """Expected shape of every array (``None`` = any length), checked by ``load``;
        ``n_features`` is the model's input width, ``n_raw`` the raw columns'."""

    @classmethod
    @abstractmethod
    def _restore(
        cls, *, arrays: dict[str, np.ndarray], settings: dict[str, Any], common: dict[str, Any]
    ) -> ScoringExplainer:
        """Rebuild from loaded, verified state."""

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(task={self.task!r}, n_features={self.n_features}, "
            f"output_space={self._output_space!r})"
        )
