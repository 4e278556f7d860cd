"""LinearScoringExplainer: exact SHAP values of linear models in closed form."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np

from .._errors import UnsupportedModelError
from ._base import OutputSpace, ScoringExplainer
from ._onnx_model import OnnxModel

__all__ = ["LinearScoringExplainer"]

#: How predictions follow from the margin: computed here in float64 (``identity`` for
#: regressors, ``logistic``/``softmax`` for logistic regression), or by the ONNX model.
Link = Literal["identity", "logistic", "softmax", "onnx"]
LINKS = ("identity", "logistic", "softmax", "onnx")

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
    final = steps[-1][1] if steps else model
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


class LinearScoringExplainer(ScoringExplainer):
    """Exact SHAP values of a linear model: ``coef * (x - background mean)``.

    For classifiers the values are in the margin space (log-odds for logistic models,
    ``output_space="log_odds"``; the decision function otherwise, ``"raw"``); a binary
    model gets two classes ``[-v, v]`` as in interpret-community. For regressors they are
    in the prediction's space (``"raw"``). Per row and class,
    ``values.sum() + expected_value == margin``.
    """

    kind: ClassVar[str] = "linear"

    def __init__(
        self,
        *,
        model: OnnxModel,
        coef: np.ndarray,
        intercept: np.ndarray,
        mean: np.ndarray,
        link: Link = "onnx",
        **common: Any,
    ) -> None:
        super().__init__(model=model, **common)
        self.coef_ = np.asarray(coef, dtype=np.float64)
        self.intercept_ = np.asarray(intercept, dtype=np.float64)
        self.mean_ = np.asarray(mean, dtype=np.float64)
        if link not in LINKS:
            raise ValueError(f"unknown link {link!r}")
        self.link: Link = link
        labels = self.metadata.get("model_classes", self._classes)
        self._labels = None if labels is None else np.asarray(labels)

    @classmethod
    def from_model(
        cls,
        model: Any,
        initialization_examples: Any,
        *,
        features: list[str] | None = None,
        classes: list[Any] | None = None,
        background_weights: np.ndarray | None = None,
        threads: int = 1,
    ) -> LinearScoringExplainer:
        """Distill from a fitted linear model.

        Parameters
        ----------
        model : fitted linear estimator, or Pipeline of per-feature scalers + one
            LinearRegression, Ridge, Lasso, ElasticNet, LogisticRegression, SGDClassifier,
            SGDRegressor (any estimator with ``coef_`` and ``intercept_``).
        initialization_examples : array-like of shape (n_rows, n_features) or DataFrame
            The background; its (weighted) mean is the reference point.
        features, classes : optional
            As in :meth:`KernelScoringExplainer.from_model`.
        background_weights : array-like of shape (n_rows,), optional
        threads : int, default=1
        """
        from ._distill import prepare, resolve_features

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

    def margin(self, X: Any) -> np.ndarray:
        """The explained output: ``X @ coef.T + intercept``, shape (n_rows, n_outputs)."""
        return self._check(X) @ self.coef_.T + self.intercept_

    def _predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The model's outputs from the margin itself when the link is known (no model
        call: exact in float64 and several times cheaper for one row)."""
        if self.link == "onnx":
            return self._model.predict(X)
        margin = X @ self.coef_.T + self.intercept_
        if self.link == "identity":
            return margin[:, 0].copy(), margin
        if self.link == "logistic":  # binary: margins are [-m, m]
            p1 = 1.0 / (1.0 + np.exp(-margin[:, 1]))
            outputs = np.stack([1.0 - p1, p1], axis=1)
        else:
            shifted = np.exp(margin - margin.max(axis=1, keepdims=True))
            outputs = shifted / shifted.sum(axis=1, keepdims=True)
        assert self._labels is not None
        return self._labels[np.argmax(margin, axis=1)], outputs

    def _attribute(self, X: np.ndarray, outputs: np.ndarray | None) -> np.ndarray:
        return (X - self.mean_)[:, :, None] * self.coef_.T[None, :, :]

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"coef": self.coef_, "intercept": self.intercept_, "mean": self.mean_}

    def _settings(self) -> dict[str, Any]:
        return {"link": self.link}

    @classmethod
    def _array_shapes(
        cls, settings: dict[str, Any], n_features: int, n_outputs: int
    ) -> dict[str, tuple[int | None, ...]]:
        return {"coef": (n_outputs, n_features), "intercept": (n_outputs,), "mean": (n_features,)}

    @classmethod
    def _restore(
        cls, *, arrays: dict[str, np.ndarray], settings: dict[str, Any], common: dict[str, Any]
    ) -> LinearScoringExplainer:
        return cls(
            coef=arrays["coef"],
            intercept=arrays["intercept"],
            mean=arrays["mean"],
            link=settings.get("link", "onnx"),
            **common,
        )
