"""``LinearScoringExplainer.from_model``: a linear model (after per-feature scalers) read as
one linear map, the background mean, and the closed-form link where it reproduces the
model's graph."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._errors import UnsupportedModelError
from ..runtime._base import OutputSpace
from ..runtime._linear import LinearScoringExplainer, Link
from ._estimator import final_estimator
from ._prepare import prepare, resolve_features

__all__ = ["from_model"]

#: Per-feature affine preprocessing steps that fold into the linear model's coefficients.
_AFFINE_STEPS = ("StandardScaler", "MinMaxScaler", "MaxAbsScaler", "RobustScaler")


def _affine(step: Any, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """(scale, shift) with ``step.transform(x) == x * scale + shift``."""
    name = type(step).__name__
    if name == "StandardScaler":
        scale = 1.0 / step.scale_ if step.with_std else np.ones(n_features)
        mean = step.mean_ if step.with_mean else np.zeros(n_features)
        return scale, -mean * scale
    if name == "MinMaxScaler":
        if getattr(step, "clip", False):
            raise UnsupportedModelError(
                "MinMaxScaler(clip=True) is not affine (it clips out-of-range inputs); "
                "use KernelScoringExplainer or clip=False"
            )
        return np.asarray(step.scale_, dtype=float), np.asarray(step.min_, dtype=float)
    if name == "MaxAbsScaler":
        return 1.0 / step.scale_, np.zeros(n_features)
    if name == "RobustScaler":
        scale = 1.0 / step.scale_ if step.scale_ is not None else np.ones(n_features)
        centre = step.center_ if step.center_ is not None else np.zeros(n_features)
        return scale, -centre * scale
    raise AssertionError(name)


def _linear_form(model: Any, n_features: int) -> tuple[np.ndarray, np.ndarray, Any]:
    """Coefficients (n_outputs, M) and intercepts (n_outputs,) in the raw input space.

    Pipelines of per-feature scalers ending in a linear model are folded into one
    linear map. Returns the final estimator too.
    """
    steps = getattr(model, "steps", None)
    transforms = [s for _, s in steps[:-1]] if steps else []
    final = final_estimator(model)
    if not (hasattr(final, "coef_") and hasattr(final, "intercept_")):
        raise UnsupportedModelError(
            f"{type(final).__name__} is not a linear model with coef_ and intercept_; "
            "use KernelScoringExplainer (any model) or TreeScoringExplainer (trees)"
        )
    scale = np.ones(n_features)
    shift = np.zeros(n_features)
    for step in transforms:
        if step is None or step == "passthrough":
            continue
        if type(step).__name__ not in _AFFINE_STEPS:
            raise UnsupportedModelError(
                f"pipeline step {type(step).__name__} is not a per-feature affine scaler "
                f"({', '.join(_AFFINE_STEPS)}); the linear closed form needs one linear map "
                "from inputs to margin"
            )
        s, t = _affine(step, n_features)
        scale, shift = scale * s, shift * s + t
    coef = np.atleast_2d(np.asarray(final.coef_, dtype=np.float64))
    intercept = np.atleast_1d(np.asarray(final.intercept_, dtype=np.float64))
    if coef.shape[1] != n_features:
        raise UnsupportedModelError(
            f"{type(final).__name__} has {coef.shape[1]} coefficients per output, "
            f"the data has {n_features} features"
        )
    if np.broadcast_to(intercept, (coef.shape[0],)).shape[0] != coef.shape[0]:
        raise UnsupportedModelError("intercept_ does not match coef_")
    intercept = np.broadcast_to(intercept, (coef.shape[0],)) + coef @ shift
    return coef * scale, np.asarray(intercept, dtype=np.float64), final


def from_model(
    cls: type[LinearScoringExplainer],
    model: Any,
    initialization_examples: Any,
    *,
    features: list[str] | None,
    classes: list[Any] | None,
    background_weights: np.ndarray | None,
    threads: int,
) -> LinearScoringExplainer:
    """The body of :meth:`LinearScoringExplainer.from_model` (parameters documented there)."""
    names = resolve_features(initialization_examples, model, features)
    coef, intercept, final = _linear_form(model, len(names))
    prep = prepare(
        model, initialization_examples, features=features, classes=classes, threads=threads
    )
    X = prep.X
    if np.isnan(X).any():
        raise UnsupportedModelError("initialization_examples contain NaN")
    weights = (
        np.full(len(X), 1.0 / len(X))
        if background_weights is None
        else np.asarray(background_weights, dtype=np.float64)
    )
    mean = weights @ X / weights.sum()
    if prep.task == "classification" and coef.shape[0] == 1:
        coef = np.vstack([-coef, coef])
        intercept = np.concatenate([-intercept, intercept])
    output_space: OutputSpace = "raw"
    if prep.task == "classification" and (
        type(final).__name__.startswith("LogisticRegression")
        or getattr(final, "loss", None) in ("log_loss", "log")
    ):
        output_space = "log_odds"

    def make(link: Link) -> LinearScoringExplainer:
        return cls(
            model=prep.model,
            coef=coef,
            intercept=intercept,
            mean=mean,
            link=link,
            features=prep.features,
            classes=prep.classes,
            output_space=output_space,
            expected_values=coef @ mean + intercept,
            allow_missing=False,
            metadata=prep.metadata,
        )

    explainer = make("onnx")
    if prep.task == "regression":
        link: Link = "identity"
    elif type(final).__name__.startswith("LogisticRegression"):
        link = "logistic" if coef.shape[0] == 2 and len(final.classes_) == 2 else "softmax"
    else:
        return explainer
    # Use the closed form only where it reproduces the model's own graph.
    native = make(link)
    spread = X.max(axis=0) - X.min(axis=0)
    sample = np.vstack([X[:1000], X.min(axis=0) - spread, X.max(axis=0) + spread])
    labels, outputs = explainer._predict(sample)
    native_labels, native_outputs = native._predict(sample)
    scale = max(1.0, float(np.abs(outputs).max()))
    if np.max(np.abs(native_outputs - outputs)) <= 1e-5 * scale and (
        prep.task == "regression" or np.mean(native_labels == labels) >= 0.999
    ):
        return native
    return explainer
