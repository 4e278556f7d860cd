"""Scoring explainers distilled from full explainers (``KernelScoringExplainer.from_explainer``).

The distill side does not import the full explainers (they import it): a full explainer
takes part through one method, ``_scoring_engine(kind, X)``, that gives the engine to
distil, what it explains (:class:`Explained`) and the raw rows to distil from.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from .._errors import ConversionError, InputError
from ..runtime._base import ScoringExplainer
from ..runtime._onnx_model import OnnxTransform
from ..runtime._schema import RawSchema
from ._prepare import PythonModel
from ._raw_kernel import is_raw, refuse_unconverted

__all__ = ["Explained", "binary_classifier", "distill", "scoring_explainer_for"]


class Explained(Protocol):
    """What a full explainer explains: its model's input columns and how raw rows reach
    them (``scoring_explainers.explainers``' ``ExplainedModel``)."""

    raw_features: list[str]
    fmap: Any
    """The engineered -> raw feature map (``FeatureMap``), or ``None``."""
    preprocessing: Any

    def model_input(self, X: Any) -> Any:
        """Raw rows -> the model's input."""

    def raw_matrix(self, X: Any) -> np.ndarray | None:
        """Raw rows as float64, or ``None`` when a column is not numeric."""


def _with_preprocessing(
    engine: ScoringExplainer, explained: Explained, raw_examples: Any
) -> ScoringExplainer:
    """``engine`` fed by the ONNX graph of the preprocessing, reporting raw features.

    The graph takes the raw columns' codes (:mod:`._raw`): numeric leaves converted by
    skl2onnx, categorical columns as lookup tables computed by the fitted transformers;
    it is checked against the transformers on the initialization rows and on probe rows
    with unseen and missing values. Values stay the engine's exact engineered values
    summed per raw feature."""
    from ._preprocess import check_preprocessing, preprocessing_graph
    from ._raw import infer_columns, probe_rows, raw_frame

    fmap = explained.fmap
    assert fmap is not None
    names = list(explained.raw_features)
    frame = raw_frame(raw_examples, names)
    raw = infer_columns(frame, fmap, model_handles_missing=engine.allow_missing)
    schema = RawSchema.from_json(raw.columns)
    graph = preprocessing_graph(fmap, raw)
    check = check_preprocessing(
        graph, fmap, schema, frame, probes=probe_rows(frame, raw.columns, names)
    )
    transform = OnnxTransform(graph, n_inputs=len(names), n_outputs=len(fmap.engineered_features))
    common = {
        "model": engine.model,
        "features": engine.engineered_features,
        "classes": engine.classes,
        "output_space": engine.output_space,
        "expected_values": engine.expected_values,
        "allow_missing": engine.allow_missing,
        "metadata": {
            **engine.metadata,
            "feature_map": "engineered -> raw (sum)",
            "preprocess_check": check,
        },
        "preprocessor": transform,
        "raw_features": names,
        "feature_map": fmap.weights,
        "schema": schema,
    }
    return type(engine)._restore(
        arrays=engine._arrays(), settings=engine._settings(), common=common
    )


def _logit_classifier_graph(regressor: bytes, labels: list[Any]) -> bytes:
    """A regressor graph on the class-1 log-odds as a binary classifier graph: ``label``
    (the label of the larger probability) and ``probabilities`` ``[1 - p, p]``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from ..runtime._onnx_model import LABEL_OUTPUT, PREDICTION_OUTPUT, PROBABILITY_OUTPUT

    model = onnx.load_from_string(regressor)
    graph = model.graph
    (output,) = [o for o in graph.output if o.name == PREDICTION_OUTPUT]
    elem = output.type.tensor_type.elem_type
    dtype = np.float64 if elem == TensorProto.DOUBLE else np.float32
    margin = "__class1_margin"
    for node in graph.node:
        node.output[:] = [margin if o == PREDICTION_OUTPUT else o for o in node.output]
    graph.output.remove(output)
    if all(isinstance(c, int | np.integer) and not isinstance(c, bool) for c in labels):
        table = np.asarray(labels, dtype=np.int64)
        label_type = TensorProto.INT64
    else:
        table = np.asarray([str(c) for c in labels], dtype=object)
        label_type = TensorProto.STRING
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.array(1.0, dtype=dtype), "__one"),
            numpy_helper.from_array(np.array(0.5, dtype=dtype), "__half"),
            numpy_helper.from_array(np.array([-1], dtype=np.int64), "__flat"),
            numpy_helper.from_array(table, "__labels"),
        ]
    )
    graph.node.extend(
        [
            helper.make_node("Reshape", [margin, "__flat"], ["__m"]),
            helper.make_node("Sigmoid", ["__m"], ["__p1"]),
            helper.make_node("Sub", ["__one", "__p1"], ["__p0"]),
            helper.make_node("Unsqueeze", ["__p0", "__axis"], ["__p0c"]),
            helper.make_node("Unsqueeze", ["__p1", "__axis"], ["__p1c"]),
            helper.make_node("Concat", ["__p0c", "__p1c"], [PROBABILITY_OUTPUT], axis=1),
            helper.make_node("Greater", ["__p1", "__half"], ["__is1"]),
            helper.make_node("Cast", ["__is1"], ["__index"], to=TensorProto.INT64),
            helper.make_node("Gather", ["__labels", "__index"], [LABEL_OUTPUT], axis=0),
        ]
    )
    graph.initializer.append(numpy_helper.from_array(np.array([1], dtype=np.int64), "__axis"))
    graph.output.extend(
        [
            helper.make_tensor_value_info(LABEL_OUTPUT, label_type, [None]),
            helper.make_tensor_value_info(PROBABILITY_OUTPUT, elem, [None, 2]),
        ]
    )
    return bytes(model.SerializeToString())


def binary_classifier(
    engine: ScoringExplainer,
    *,
    teacher_classes: list[Any],
    classes: list[Any],
    fidelity: dict[str, Any],
) -> ScoringExplainer:
    """A binary Mimic's surrogate (a regressor on the class-1 log-odds) as a two-class
    explainer: values ``[-v, v]`` and expected values ``[-e, e]`` in log-odds, labels and
    probabilities (the sigmoid of the surrogate's margin), as the full explainer reports.

    ``teacher_classes`` are the teacher's labels, ``classes`` the names reported for them."""
    from ..runtime._onnx_model import OnnxModel

    teacher = list(teacher_classes)
    graph = _logit_classifier_graph(engine.model.model_bytes, teacher)
    model = OnnxModel(graph, task="classification", n_features=len(engine.engineered_features))
    e = float(engine.expected_values[0])
    metadata = {**engine.metadata, "fidelity": fidelity, "surrogate_of": "log-odds"}
    if list(classes) != teacher:
        metadata["model_classes"] = teacher
    arrays, settings = engine._arrays(), engine._settings()
    if engine.kind == "tree":
        settings = {**settings, "binary_margin": True}
    elif engine.kind == "linear":
        arrays = {
            **arrays,
            "coef": np.vstack([-arrays["coef"], arrays["coef"]]),
            "intercept": np.concatenate([-arrays["intercept"], arrays["intercept"]]),
        }
        settings = {**settings, "link": "logistic"}
    common = {
        "model": model,
        "features": engine.engineered_features,
        "classes": list(classes),
        "output_space": "log_odds",
        "expected_values": np.array([-e, e]),
        "allow_missing": engine.allow_missing,
        "metadata": metadata,
    }
    return type(engine)._restore(arrays=arrays, settings=settings, common=common)


def distill(
    explainer: Any, kind: str | None = None, *, initialization_examples: Any = None
) -> ScoringExplainer:
    """The scoring explainer of ``kind`` (default: what ``explainer`` uses) for it.

    The result explains the same rows with the same values (bit-for-bit the same engine
    for the kind the explainer uses) and, when the explainer has transformations, takes
    raw rows and reports raw features (the preprocessing runs as an ONNX graph).
    """
    parts = getattr(explainer, "_scoring_engine", None)
    if parts is None:
        raise InputError(
            f"expected a TabularExplainer or MimicExplainer, got {type(explainer).__name__} "
            "(use from_model for a fitted model)"
        )
    engine: ScoringExplainer
    engine, explained, raw_examples = parts(kind, initialization_examples)
    if is_raw(engine):  # raw players: the engine already takes the raw columns' codes
        refuse_unconverted(engine)
        return engine
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
