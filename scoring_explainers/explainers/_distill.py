"""Scoring explainers distilled from full explainers (``KernelScoringExplainer(explainer)``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._errors import ConversionError, InputError, UnsupportedModelError
from ..scoring._base import ScoringExplainer
from ..scoring._distill import PythonModel
from ..scoring._onnx_model import OnnxTransform
from ._common import ExplainedModel, numeric

__all__ = ["distill", "scoring_explainer_for"]

#: Largest gap between the preprocessing graph and the fitted transformers (relative to
#: the engineered columns' scale) accepted at distill time.
MAX_PREPROCESS_GAP = 1e-4


def _with_preprocessing(
    engine: ScoringExplainer, explained: ExplainedModel, raw_examples: Any
) -> ScoringExplainer:
    """``engine`` fed by the ONNX graph of the preprocessing, reporting raw features."""
    from ..convert import preprocessing_to_onnx

    fmap = explained.fmap
    assert fmap is not None
    raw = numeric(raw_examples)
    if raw is None:
        raise ConversionError(
            "the raw data has non-numeric columns; a scoring explainer takes one numeric "
            "matrix (encode categories as numbers before the transformations to distill)"
        )
    graph = preprocessing_to_onnx(explained.preprocessing, explained.raw_features)
    transform = OnnxTransform(
        graph, n_inputs=len(explained.raw_features), n_outputs=len(fmap.engineered_features)
    )
    sample = raw[np.all(np.isfinite(raw), axis=1)][:1000]
    if len(sample):
        expected = explained.model_input(sample)
        got = transform.transform(sample)
        scale = max(1.0, float(np.abs(expected).max()))
        gap = float(np.abs(got - expected).max()) / scale
        if gap > MAX_PREPROCESS_GAP:
            raise ConversionError(
                f"the ONNX graph of the transformations differs from them by {gap:.3g} "
                "(relative) on the initialization examples"
            )
    common = {
        "model": engine.model,
        "features": engine.engineered_features,
        "classes": engine.classes,
        "output_space": engine.output_space,
        "expected_values": engine.expected_values,
        "allow_missing": engine.allow_missing,
        "metadata": {**engine.metadata, "feature_map": "engineered -> raw (sum)"},
        "preprocessor": transform,
        "raw_features": explained.raw_features,
        "feature_map": fmap.weights,
    }
    return type(engine)._restore(
        arrays=engine._arrays(), settings=engine._settings(), common=common
    )


def distill(
    explainer: Any, kind: str | None = None, *, initialization_examples: Any = None
) -> ScoringExplainer:
    """The scoring explainer of ``kind`` (default: what ``explainer`` uses) for it.

    The result explains the same rows with the same values (bit-for-bit the same engine
    for the kind the explainer uses) and, when the explainer has transformations, takes
    raw rows and reports raw features (the preprocessing runs as an ONNX graph).
    """
    from .mimic import MimicExplainer
    from .tabular import TabularExplainer, build_engine

    if isinstance(explainer, MimicExplainer):
        engine = explainer.engine_
        if kind is not None and kind != engine.kind:
            raise UnsupportedModelError(
                f"this MimicExplainer's surrogate ({explainer.method}) is explained by the "
                f"{engine.kind} scoring explainer, not {kind}; use scoring_explainer_for()"
            )
        explained = explainer.explained_
        raw_examples = explainer.initialization_examples
    elif isinstance(explainer, TabularExplainer):
        explained = explainer.explained_
        raw_examples = (
            explainer.initialization_examples
            if initialization_examples is None
            else initialization_examples
        )
        if kind is None or (kind == explainer.kind and initialization_examples is None):
            engine = explainer.engine_
        else:
            if kind not in ("tree", "linear", "kernel"):
                raise InputError(f"unknown scoring explainer kind {kind!r}")
            engine = build_engine(
                kind,  # type: ignore[arg-type]
                explained,
                explained.model_input(raw_examples),
                classes=explainer.classes,
                nclusters=explainer.nclusters,
                nsamples=explainer.nsamples,
                random_state=explainer.random_state,
                require_onnx=True,
            )
    else:
        raise InputError(
            f"expected a TabularExplainer or MimicExplainer, got {type(explainer).__name__} "
            "(use from_model for a fitted model)"
        )
    if isinstance(engine.model, PythonModel):
        raise ConversionError(
            f"the model cannot be converted to ONNX, so it cannot be distilled: "
            f"{engine.model.conversion_error}"
        )
    if explained.fmap is None:
        return engine
    return _with_preprocessing(engine, explained, raw_examples)


def scoring_explainer_for(explainer: Any) -> ScoringExplainer:
    """The scoring explainer matching what ``explainer`` uses (tree, linear or kernel)."""
    return distill(explainer)
