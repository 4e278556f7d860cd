"""PFIExplainer: permutation feature importance, on scikit-learn's permutation_importance."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from .._errors import InputError
from ..distill import is_classifier as _is_classifier
from ..explanation import GlobalExplanation
from ._common import ModelTask, dense, explained_model, numeric

__all__ = ["METRICS", "PFIExplainer"]

#: name -> (function of (y_true, y_pred), needs probabilities, is an error metric, kwargs)
METRICS: dict[str, tuple[str, bool, bool, dict[str, Any]]] = {
    "mean_absolute_error": ("mean_absolute_error", False, True, {}),
    "mean_squared_error": ("mean_squared_error", False, True, {}),
    "mean_squared_log_error": ("mean_squared_log_error", False, True, {}),
    "median_absolute_error": ("median_absolute_error", False, True, {}),
    "explained_variance_score": ("explained_variance_score", False, False, {}),
    "r2_score": ("r2_score", False, False, {}),
    "accuracy_score": ("accuracy_score", False, False, {}),
    "balanced_accuracy_score": ("balanced_accuracy_score", False, False, {}),
    "f1_score": ("f1_score", False, False, {"average": "micro"}),
    "fbeta_score": ("fbeta_score", False, False, {"average": "micro", "beta": 1.0}),
    "precision_score": ("precision_score", False, False, {"average": "micro"}),
    "recall_score": ("recall_score", False, False, {"average": "micro"}),
    "average_precision_score": ("average_precision_score", True, False, {}),
    "roc_auc_score": ("roc_auc_score", True, False, {}),
    "log_loss": ("log_loss", True, True, {}),
    "brier_score_loss": ("brier_score_loss", True, True, {}),
}


class PFIExplainer:
    """Global importance by permutation: how much a metric worsens when one column's values
    are shuffled. Built on :func:`sklearn.inspection.permutation_importance`.

    Parameters
    ----------
    model : fitted estimator with ``predict`` (``predict_proba`` for probability metrics)
    metric : str or callable, optional
        A name in :data:`METRICS` (default ``f1_score`` with ``average="micro"`` for
        classifiers, ``mean_absolute_error`` otherwise) or ``metric(y_true, y_pred)``.
    metric_args : dict, optional
        Extra keyword arguments of the metric.
    is_error_metric : bool, optional
        For a callable metric: lower is better (importance = increase of the metric).
        Names know it themselves.
    for_classifier_use_predict_proba : bool, default=False
        Give a callable metric the class probabilities (the positive class's for binary
        tasks) instead of labels.
    n_repeats : int, default=5
        Shuffles per column; importances are the mean, with their standard deviation.
    features, classes, transformations, allow_all_transformations, model_task :
        As :class:`~scoring_explainers.explainers.TabularExplainer`; with
        ``transformations`` raw columns are shuffled.
    random_state : int, default=0
    """

    method = "pfi"

    def __init__(
        self,
        model: Any,
        *,
        metric: str | Callable[..., float] | None = None,
        metric_args: dict[str, Any] | None = None,
        is_error_metric: bool | None = None,
        for_classifier_use_predict_proba: bool = False,
        n_repeats: int = 5,
        features: list[str] | None = None,
        classes: list[Any] | None = None,
        transformations: Any = None,
        allow_all_transformations: bool = False,
        model_task: ModelTask = "auto",
        random_state: int = 0,
    ) -> None:
        if n_repeats < 1:
            raise InputError("n_repeats must be at least 1")
        if not hasattr(model, "predict"):
            raise InputError(f"{type(model).__name__} has no predict")
        is_classifier = (
            _is_classifier(model) or model_task == "classification"
        ) and model_task != "regression"
        self.model = model
        self.model_task: Literal["classification", "regression"] = (
            "classification" if is_classifier else "regression"
        )
        if metric is None:
            metric = "f1_score" if is_classifier else "mean_absolute_error"
        if isinstance(metric, str):
            if metric not in METRICS:
                raise InputError(f"unknown metric {metric!r}; known: {', '.join(sorted(METRICS))}")
            import sklearn.metrics

            func_name, needs_proba, is_error, defaults = METRICS[metric]
            self._metric: Callable[..., float] = getattr(sklearn.metrics, func_name)
            self._needs_proba = needs_proba
            self._is_error = is_error
            self._metric_args = {**defaults, **(metric_args or {})}
            self.metric_name = metric
        elif callable(metric):
            self._metric = metric
            self._needs_proba = bool(for_classifier_use_predict_proba)
            self._is_error = bool(is_error_metric)
            self._metric_args = dict(metric_args or {})
            self.metric_name = getattr(metric, "__name__", "custom")
        else:
            raise InputError(f"metric must be a name or a callable, got {metric!r}")
        if self._needs_proba and not hasattr(model, "predict_proba"):
            raise InputError(f"metric {self.metric_name} needs predict_proba; the model has none")
        self.n_repeats = n_repeats
        self.random_state = random_state
        self._features = features
        self._classes = classes
        self._transformations = transformations
        self._allow_all = allow_all_transformations

    def _score(self, explained: Any) -> Callable[[Any, Any, Any], float]:
        """``scorer(estimator, X_raw, y)``: higher is better."""
        sign = -1.0 if self._is_error else 1.0

        kwargs = dict(self._metric_args)
        labels = getattr(self.model, "classes_", None)
        if self._needs_proba and labels is not None and self.metric_name in METRICS:
            # name the positive class / the class order for the probability metrics
            if len(labels) == 2 and self.metric_name in (
                "average_precision_score",
                "brier_score_loss",
            ):
                kwargs.setdefault("pos_label", labels[1])
            if len(labels) > 2 and self.metric_name == "roc_auc_score":
                kwargs.setdefault("multi_class", "ovr")
                kwargs.setdefault("labels", list(labels))
            if self.metric_name == "log_loss":
                kwargs.setdefault("labels", list(labels))

        def scorer(_: Any, X: Any, y: Any) -> float:
            rows = explained.model_input(X)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if self._needs_proba:
                    proba = np.asarray(self.model.predict_proba(rows))
                    binary = proba.shape[1] == 2 and self.metric_name != "log_loss"
                    pred = proba[:, 1] if binary else proba
                else:
                    pred = self.model.predict(rows)
            try:
                value = self._metric(y, pred, **kwargs)
            except (ValueError, TypeError) as exc:
                raise InputError(
                    f"metric {self.metric_name} failed on these labels: {exc} (pass its "
                    "options with metric_args=)"
                ) from exc
            return sign * float(value)

        return scorer

    def explain_global(self, evaluation_examples: Any, true_labels: Any) -> GlobalExplanation:
        """Permutation importances on ``evaluation_examples`` (raw rows) and their labels.

        Returns
        -------
        GlobalExplanation
            ``global_importance_values`` (mean decrease of the score; for error metrics the
            increase of the error) with ``global_importance_std``; no local values.
        """
        from sklearn.inspection import permutation_importance

        X = dense(evaluation_examples)
        y = np.asarray(true_labels)
        if y.ndim != 1 or len(y) != np.shape(X)[0]:
            raise InputError(
                f"true_labels must be one label per row ({np.shape(X)[0]}), got {y.shape}"
            )
        explained = explained_model(
            self.model,
            X,
            features=self._features,
            transformations=self._transformations,
            allow_all_transformations=self._allow_all,
            split_pipeline=False,
        )
        result = permutation_importance(
            self.model,
            X,
            y,
            scoring=self._score(explained),
            n_repeats=self.n_repeats,
            random_state=self.random_state,
            n_jobs=1,
        )
        classes = None
        if self.model_task == "classification":
            labels = [
                c.item() if isinstance(c, np.generic) else c
                for c in getattr(self.model, "classes_", np.unique(y))
            ]
            if self._classes is not None and len(self._classes) != len(labels):
                raise InputError(
                    f"{len(self._classes)} class names given, the model has {len(labels)}"
                )
            classes = labels if self._classes is None else list(self._classes)
        return GlobalExplanation(
            global_importance_values=result.importances_mean,
            global_importance_std=result.importances_std,
            num_examples=int(np.shape(X)[0]),
            features=explained.raw_features,
            classes=classes,
            method=self.method,
            model_task=self.model_task,
            is_raw=explained.fmap is not None,
            eval_data=numeric(X),
            metadata={"metric": self.metric_name, "n_repeats": self.n_repeats},
        )
