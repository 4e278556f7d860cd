"""Shared distill-time preparation: rows, names, the ONNX model and its check."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._errors import ConversionError, InputError, UnsupportedModelError
from ..runtime._base import as_matrix
from ..runtime._onnx_model import OnnxModel, Task
from ._convert import check_agreement, to_onnx
from ._estimator import final_estimator, is_classifier

__all__ = [
    "Prepared",
    "PythonModel",
    "check_fitted",
    "checked_agreement",
    "function_task",
    "is_function",
    "prepare",
    "resolve_features",
]

#: Largest probability / prediction gap between the model and its ONNX graph (relative to
#: the output scale when above 1) accepted at distill time; above it the conversion is
#: treated as broken. float32 arithmetic in the graph stays far below it.
MAX_CONVERSION_GAP = 1e-3


def resolve_features(X: Any, model: Any, features: list[str] | None) -> list[str]:
    """Feature names: given, else DataFrame columns, else ``feature_names_in_``, else generic."""
    if features is not None:
        return [str(f) for f in features]
    if hasattr(X, "columns"):
        return [str(c) for c in X.columns]
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        return [str(f) for f in names]
    width = np.shape(X)[1] if np.ndim(X) == 2 else 0
    return [f"feature_{i}" for i in range(width)]


@dataclass
class Prepared:
    """What every distiller starts from."""

    X: np.ndarray
    model: OnnxModel
    features: list[str]
    classes: list[Any] | None
    task: Task
    metadata: dict[str, Any] = field(default_factory=dict)

    original: Any = None

    def probe_missing(self, row: np.ndarray) -> bool:
        """Whether the model handles NaN inputs.

        True when the original model predicts rows with a NaN in any one feature (its own
        input validation rejects NaN otherwise) and the ONNX graph gives finite outputs for
        them. A bare ONNX model is assumed not to handle missing values.
        """
        if self.original is None:
            return False
        probe = np.repeat(row[None, :], len(row), axis=0)
        probe[np.arange(len(row)), np.arange(len(row))] = np.nan
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                frame: Any = probe
                names = getattr(self.original, "feature_names_in_", None)
                if names is not None:
                    import pandas as pd

                    frame = pd.DataFrame(probe, columns=names)
                self.original.predict(frame)
        except Exception:
            return False
        return bool(np.all(np.isfinite(self.model.outputs(probe))))


def checked_agreement(
    model: Any, converted: Any, sample: np.ndarray, *, threads: int, graph: str
) -> dict[str, Any]:
    """Compare ``converted`` (a :class:`~scoring_explainers.convert.ConvertedModel`) with
    ``model`` on ``sample``; a gap above :data:`MAX_CONVERSION_GAP` is a
    :class:`ConversionError`, above 1e-5 a warning. Returns the report for the manifest."""
    report = check_agreement(model, converted, sample, threads=threads)
    gap = report["max_abs_diff"] / max(1.0, report["output_scale"])
    if gap > MAX_CONVERSION_GAP:
        raise ConversionError(
            f"{graph} disagrees with the model by {report['max_abs_diff']:.3g} on the "
            "initialization examples"
        )
    if gap > 1e-5:
        warnings.warn(
            f"{graph} differs from the model by up to {report['max_abs_diff']:.2g} "
            "(float32 arithmetic)",
            stacklevel=4,
        )
    return report


def prepare(
    model: Any,
    initialization_examples: Any,
    *,
    features: list[str] | None,
    classes: list[Any] | None,
    threads: int,
    require_onnx: bool = True,
) -> Prepared:
    """Validate the examples, convert the model and check the conversion on them.

    With ``require_onnx=False`` a model that does not convert is called in Python instead
    (:class:`PythonModel`): it explains in-process but cannot be saved.
    """
    final = final_estimator(model)
    check_fitted(model)
    if is_function(model) and require_onnx:
        raise ConversionError(
            f"{getattr(model, '__qualname__', type(model).__name__)} is a function: it cannot "
            "be converted to ONNX, so it cannot be distilled; pass the fitted model itself "
            "(not its predict_proba or predict)"
        )
    if is_classifier(model) and not hasattr(model, "predict_proba"):
        raise UnsupportedModelError(
            f"{type(final).__name__} is a classifier without predict_proba: the scoring "
            "explainers explain class probabilities (or a logistic margin); wrap it in "
            "CalibratedClassifierCV(..., ensemble=False) to get probabilities"
        )
    names = resolve_features(initialization_examples, model, features)
    if hasattr(initialization_examples, "columns") and features is not None:
        initialization_examples = initialization_examples.set_axis(names, axis=1)
    X = as_matrix(initialization_examples, names)
    try:
        converted = to_onnx(model, X.shape[1], classes=classes)
    except (ConversionError, UnsupportedModelError) as exc:
        if require_onnx:
            raise
        return _python_prepared(model, X, names, classes, str(exc))
    onnx_model = OnnxModel(
        converted.onnx_bytes, task=converted.task, n_features=X.shape[1], threads=threads
    )
    metadata: dict[str, Any] = {"model_type": converted.source}
    if converted.notes:
        metadata["conversion_notes"] = dict(converted.notes)
    if (
        converted.source != "onnx"
        and hasattr(model, "predict")
        and not type(model).__module__.startswith(("lightgbm.basic", "xgboost.core"))
    ):
        sample = X[np.all(np.isfinite(X), axis=1)][:1000]
        if len(sample):
            try:
                metadata["conversion_check"] = checked_agreement(
                    model,
                    converted,
                    sample,
                    threads=threads,
                    graph=f"the ONNX graph of {converted.source}",
                )
            except ConversionError as exc:
                message = str(exc)
                if "KNeighbors" in type(final).__name__:
                    message += (
                        "; the cause is distance ties: the graph and scikit-learn order "
                        "equally distant neighbours differently (add a tiny jitter to the "
                        "training rows or use weights='distance' to avoid them)"
                    )
                if require_onnx:
                    raise ConversionError(message) from exc
                warnings.warn(
                    f"{message}; the model is called in Python instead (not distillable)",
                    stacklevel=3,
                )
                return _python_prepared(model, X, names, classes, message)
    n_outputs = onnx_model.outputs(X[:1]).shape[1]
    model_classes = converted.classes
    if converted.task == "classification" and model_classes is None:
        model_classes = list(range(n_outputs))
    display = model_classes
    if classes is not None:
        if converted.task != "classification":
            raise InputError("classes were given for a regression model")
        if len(classes) != n_outputs:
            raise InputError(f"{len(classes)} class names given, the model has {n_outputs}")
        display = list(classes)
    if model_classes is not None and display is not None and list(display) != list(model_classes):
        metadata["model_classes"] = list(model_classes)
    return Prepared(
        X=X,
        model=onnx_model,
        features=names,
        classes=display,
        task=converted.task,
        metadata=metadata,
        original=None if converted.source == "onnx" else model,
    )


class PythonModel:
    """A fitted model called in Python, with :class:`OnnxModel`'s interface.

    The fallback of the full explainers for models that do not convert to ONNX: the
    explainer works in-process, but saving it fails with the conversion error.
    """

    model_bytes = None
    threads = 1

    def __init__(
        self,
        model: Any,
        *,
        task: Task,
        n_features: int,
        feature_names: list[str] | None,
        conversion_error: str,
        labels: list[Any] | None = None,
    ) -> None:
        self._model = model
        self._labels = labels
        self.task: Task = task
        self.n_features = n_features
        self._names = feature_names
        self.conversion_error = conversion_error

    def _frame(self, X: np.ndarray) -> Any:
        if self._names is None:
            return X
        import pandas as pd

        return pd.DataFrame(X, columns=self._names)

    def outputs(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities or predictions, float64 of shape (n_rows, n_outputs)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frame = self._frame(X)
            if is_function(self._model):
                values = self._model(frame)
            elif self.task == "classification":
                values = self._model.predict_proba(frame)
            else:
                values = self._model.predict(frame)
        return np.asarray(values, dtype=np.float64).reshape(len(X), -1)

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        outputs = self.outputs(X)
        if self.task == "classification":
            known = self._labels if self._labels is not None else self._model.classes_
            labels = np.asarray(known)[np.argmax(outputs, axis=1)]
            return labels, outputs
        return outputs[:, 0].copy(), outputs


def check_fitted(model: Any, transformations: Any = None) -> None:
    """An :class:`InputError` saying "fit it first" for an unfitted model, Pipeline step or
    transformer (scikit-learn's ``check_is_fitted``); objects that are not scikit-learn
    estimators are not checked."""
    try:
        from sklearn.exceptions import NotFittedError
        from sklearn.utils.validation import check_is_fitted
    except ImportError:  # pragma: no cover - scikit-learn is in the distill extra
        return
    items: list[tuple[str, Any]] = []
    steps = getattr(model, "steps", None)
    if steps:
        items.extend((f"Pipeline step {name!r}", step) for name, step in steps)
    else:
        items.append(("the model", model))
    if isinstance(transformations, list | tuple):
        items.extend(("a transformation", t) for _, t in transformations if t is not None)
    elif transformations is not None:
        items.append(("the transformations", transformations))
    for what, item in items:
        if isinstance(item, str) or item is None or not hasattr(item, "fit"):
            continue
        try:
            check_is_fitted(item)
        except NotFittedError as exc:
            raise InputError(f"{what} ({type(item).__name__}) is not fitted: fit it first") from exc
        except (TypeError, AttributeError):  # not an estimator check_is_fitted understands
            continue


def is_function(model: Any) -> bool:
    """A plain function (``model.predict_proba``, shap-style), not a model object."""
    return callable(model) and not hasattr(model, "predict") and not hasattr(model, "fit")


def function_task(function: Any, rows: Any, n_rows: int) -> tuple[Task, int]:
    """Classification when ``function`` gives rows of probabilities summing to 1 (two
    or more columns), else regression; and its output width."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = np.asarray(function(rows), dtype=np.float64).reshape(n_rows, -1)
    width = out.shape[1]
    probabilities = (
        width > 1
        and bool(np.all((out >= 0) & (out <= 1)))
        and bool(np.allclose(out.sum(axis=1), 1.0, atol=1e-6))
    )
    return ("classification" if probabilities else "regression"), width


def _python_prepared(
    model: Any, X: np.ndarray, names: list[str], classes: list[Any] | None, error: str
) -> Prepared:
    fitted = getattr(model, "feature_names_in_", None)
    python = PythonModel(
        model,
        task="regression",
        n_features=X.shape[1],
        feature_names=None if fitted is None else [str(f) for f in fitted],
        conversion_error=error,
    )
    if is_function(model):
        task, width = function_task(model, python._frame(X[:5]), min(5, len(X)))
    else:
        task = "classification" if hasattr(model, "predict_proba") else "regression"
        python.task = task
        width = python.outputs(X[:1]).shape[1]
    python.task = task
    model_classes = None
    if task == "classification":
        known = getattr(model, "classes_", None)
        if known is None:  # predict_proba without classes_: the given names, else 0..k-1
            known = list(classes) if classes is not None else list(range(width))
            python._labels = list(known)
        model_classes = [c.item() if isinstance(c, np.generic) else c for c in known]
    display = model_classes if classes is None else list(classes)
    if display is not None and model_classes is not None and len(display) != len(model_classes):
        raise InputError(f"{len(display)} class names given, the model has {len(model_classes)}")
    metadata: dict[str, Any] = {"model_type": type(model).__qualname__, "onnx": error}
    if display is not None and display != model_classes:
        metadata["model_classes"] = model_classes
    return Prepared(
        X=X,
        model=python,  # type: ignore[arg-type]
        features=names,
        classes=display,
        task=task,
        metadata=metadata,
        original=model,
    )
