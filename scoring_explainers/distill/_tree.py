"""``TreeScoringExplainer.from_model``: tree extraction, root-to-leaf paths, the prediction
graph (converted, or built from the trees when no converter takes the model)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._errors import ConversionError, InputError, UnsupportedModelError
from ..runtime._tree import TreeScoringExplainer
from ._convert import ConvertedModel
from ._estimator import final_estimator
from ._prepare import Prepared
from ._tree_onnx import ensemble_to_onnx
from ._trees import Ensemble, _tree_sum, extract, paths

__all__ = ["from_model"]


def _has_zero_missing(ensemble: Ensemble) -> bool:
    return any(t.zero_missing is not None and t.zero_missing.any() for t in ensemble.trees)


def _prepare_own_graph(
    model: Any,
    ensemble: Ensemble,
    initialization_examples: Any,
    features: list[str] | None,
    classes: list[Any] | None,
    threads: int,
) -> Prepared:
    """Distill-time preparation with the prediction graph built from the trees.

    The graph goes through :func:`prepare` as an ONNX model, then is checked against the
    model's own ``predict_proba``/``predict`` on the examples (NaN rows included: the
    trees route them) with the same tolerance as a converted model.
    """
    from ._prepare import checked_agreement, prepare, resolve_features

    if len(getattr(model, "steps", None) or []) > 1:
        raise UnsupportedModelError(
            f"{type(final_estimator(model)).__name__} inside a Pipeline is not supported: its "
            "graph is built from the trees alone; pass the fitted model on transformed rows"
        )
    model_classes = None
    if ensemble.task == "classification":
        model_classes = [
            c.item() if isinstance(c, np.generic) else c for c in getattr(model, "classes_", [])
        ] or None
    names = resolve_features(initialization_examples, model, features)
    graph = ensemble_to_onnx(ensemble, model_classes)
    prep = prepare(
        graph,
        initialization_examples,
        features=names,
        classes=classes if classes is not None else model_classes,
        threads=threads,
    )
    if classes is not None and model_classes is not None and list(classes) != model_classes:
        prep.metadata["model_classes"] = model_classes
    source = f"{type(model).__module__}.{type(model).__qualname__}"
    prep.metadata["model_type"] = source
    prep.original = model
    if hasattr(model, "predict"):
        feature_names = getattr(model, "feature_names_in_", None)
        converted = ConvertedModel(
            onnx_bytes=graph,
            task=ensemble.task,
            classes=model_classes,
            n_features=ensemble.n_features,
            source=source,
            feature_names=None if feature_names is None else [str(f) for f in feature_names],
        )
        prep.metadata["conversion_check"] = checked_agreement(
            model,
            converted,
            prep.X[:1000],
            threads=threads,
            graph=f"the ONNX graph built from the trees of {source}",
        )
    return prep


def from_model(
    cls: type[TreeScoringExplainer],
    model: Any,
    initialization_examples: Any,
    *,
    features: list[str] | None,
    classes: list[Any] | None,
    feature_perturbation: str,
    threads: int,
) -> TreeScoringExplainer:
    """The body of :meth:`TreeScoringExplainer.from_model` (parameters documented there)."""
    from ._prepare import prepare

    if feature_perturbation not in ("tree_path_dependent", "interventional"):
        raise UnsupportedModelError(
            "feature_perturbation must be 'tree_path_dependent' or 'interventional'"
        )
    interventional = feature_perturbation == "interventional"
    if interventional and initialization_examples is None:
        raise InputError("interventional TreeSHAP needs initialization_examples (the background)")
    ensemble = extract(model)
    if initialization_examples is None:
        initialization_examples = np.zeros((1, ensemble.n_features))
    final = final_estimator(model)
    if type(final).__name__.startswith("HistGradientBoosting"):
        # skl2onnx cannot convert it: the graph is built from the extracted trees
        prep = _prepare_own_graph(
            model, ensemble, initialization_examples, features, classes, threads
        )
    else:
        try:
            prep = prepare(
                model,
                initialization_examples,
                features=features,
                classes=classes,
                threads=threads,
            )
        except ConversionError:
            if final is not model or _has_zero_missing(ensemble):
                raise
            prep = _prepare_own_graph(
                model, ensemble, initialization_examples, features, classes, threads
            )
    if prep.X.shape[1] != ensemble.n_features:
        raise InputError(
            f"the model takes {ensemble.n_features} features, the examples have {prep.X.shape[1]}"
        )
    arrays = paths(ensemble)
    expected = arrays.pop("expected")
    background = None
    if interventional:
        background = prep.X
        expected = (_tree_sum(ensemble, background) + ensemble.base).mean(axis=0)
    if ensemble.binary_margin:
        expected = np.array([-expected[0], expected[0]])
    return cls(
        model=prep.model,
        arrays=arrays,
        decision=ensemble.decision,
        dtype=ensemble.dtype,
        binary_margin=ensemble.binary_margin,
        background=background,
        features=prep.features,
        classes=prep.classes,
        output_space=ensemble.output_space,
        expected_values=expected,
        allow_missing=True,
        metadata=prep.metadata,
    )
