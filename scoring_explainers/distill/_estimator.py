"""What the distill side and the full explainers read from a fitted model: the estimator a
Pipeline ends in, and whether it predicts classes."""

from __future__ import annotations

from typing import Any

__all__ = ["final_estimator", "gives_probabilities", "is_classifier"]


def final_estimator(model: Any) -> Any:
    """The last step of a Pipeline (anything with non-empty ``steps``), else ``model``."""
    steps = getattr(model, "steps", None)
    return steps[-1][1] if steps else model


def _estimator_type(estimator: Any) -> str | None:
    """scikit-learn's estimator type (``"classifier"``, ``"regressor"``, ...), or ``None``
    when it gives none (not a scikit-learn-style estimator, or one without a type)."""
    try:
        from sklearn.utils import get_tags
    except ImportError:  # scikit-learn < 1.6
        kind = getattr(estimator, "_estimator_type", None)
        return kind if isinstance(kind, str) else None
    try:
        kind = get_tags(estimator).estimator_type
    except Exception:  # no scikit-learn tags: not a scikit-learn-style estimator
        return None
    return kind if isinstance(kind, str) else None


def is_classifier(model: Any) -> bool:
    """Whether ``model`` predicts classes.

    scikit-learn's view of the final estimator (a Pipeline is what its last step is) when it
    has one: a regressor, clusterer or density estimator is not a classifier even with a
    ``predict_proba`` (``GaussianMixture``). A model scikit-learn gives no type (a
    black box, an ONNX model, a booster) is a classifier when it has ``predict_proba``.

    ``SVC(probability=False)`` is a classifier without probabilities (see
    :func:`gives_probabilities`).
    """
    kind = _estimator_type(final_estimator(model))
    if kind is not None:
        return kind == "classifier"
    return hasattr(model, "predict_proba")


def gives_probabilities(model: Any) -> bool:
    """A classifier (:func:`is_classifier`) with ``predict_proba``: what the scoring
    explainers explain in probability space."""
    return is_classifier(model) and hasattr(model, "predict_proba")
