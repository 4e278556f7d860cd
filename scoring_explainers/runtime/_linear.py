"""LinearScoringExplainer: exact SHAP values of linear models in closed form."""

from __future__ import annotations

from typing import Any, ClassVar, Literal, overload

import numpy as np

from ._base import ScoringExplainer
from ._onnx_model import OnnxModel
from ._registry import builder

__all__ = ["LinearScoringExplainer"]

#: How predictions follow from the margin: computed here in float64 (``identity`` for
#: regressors, ``logistic``/``softmax`` for logistic regression), or by the ONNX model.
Link = Literal["identity", "logistic", "softmax", "onnx"]
LINKS = ("identity", "logistic", "softmax", "onnx")


class LinearScoringExplainer(ScoringExplainer):
    """Exact SHAP values of a linear model: ``coef * (x - background mean)``.

    For classifiers the values are in the margin space (log-odds for logistic models,
    ``output_space="log_odds"``; the decision function otherwise, ``"raw"``); a binary
    model gets two classes ``[-v, v]`` as in interpret-community. For regressors they are
    in the prediction's space (``"raw"``). Per row and class,
    ``values.sum() + expected_value == margin``.
    """

    kind: ClassVar[str] = "linear"

    @overload
    def __init__(self, explainer: object, /, initialization_examples: Any = None) -> None: ...

    @overload
    def __init__(
        self,
        *,
        model: OnnxModel,
        coef: np.ndarray,
        intercept: np.ndarray,
        mean: np.ndarray,
        link: Link = "onnx",
        **common: Any,
    ) -> None: ...

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """From state, keywords only (as ``load`` and ``from_model`` build it). The
        positional ``LinearScoringExplainer(explainer)`` is deprecated: use
        :meth:`from_explainer`."""
        if not self._from_positional(args, kwargs):
            self._build(**kwargs)

    def _build(
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
        explainer: LinearScoringExplainer = builder(cls.kind, "from_model")(
            cls,
            model,
            initialization_examples,
            features=features,
            classes=classes,
            background_weights=background_weights,
            threads=threads,
        )
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
        cls, settings: dict[str, Any], n_features: int, n_outputs: int, *, n_raw: int
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
