"""An extracted tree ensemble -> its prediction ONNX graph (distill side only).

For models skl2onnx cannot convert (scikit-learn's HistGradientBoosting*), the graph is
built from the same :class:`~scoring_explainers._trees.Ensemble` the explainer uses: one
``ai.onnx.ml`` ``TreeEnsembleRegressor`` (opset 3) summing the leaf values with the base
offset, then the link. Splits compare in the ensemble's own precision: a float64
ensemble gets a double input and double thresholds, leaf values and base values, so every
row takes the same path as in the library. The graph follows the contract of
:class:`~scoring_explainers.runtime.OnnxModel`: outputs ``label`` + ``probabilities``
(classification: sigmoid as ``[1 - p, p]`` for a binary margin, softmax for a multiclass
margin, the sum itself for averaged probabilities) or ``predictions`` (regression).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._errors import ConversionError
from ..runtime._onnx_model import LABEL_OUTPUT, PREDICTION_OUTPUT, PROBABILITY_OUTPUT
from ._trees import Ensemble

__all__ = ["ensemble_to_onnx"]

#: Main-domain opset (Softmax over one axis since 13) and the ai.onnx.ml opset.
OPSET = 13
ML_OPSET = 3
#: An IR version every onnxruntime since 1.10 reads.
IR_VERSION = 8


def _node_attributes(ensemble: Ensemble) -> dict[str, Any]:
    """The TreeEnsembleRegressor node and target attributes, as flat lists/arrays."""
    branch = "BRANCH_LEQ" if ensemble.decision == "le" else "BRANCH_LT"
    modes: list[str] = []
    tree_ids: list[np.ndarray] = []
    node_ids: list[np.ndarray] = []
    features: list[np.ndarray] = []
    thresholds: list[np.ndarray] = []
    true_ids: list[np.ndarray] = []
    false_ids: list[np.ndarray] = []
    missing_true: list[np.ndarray] = []
    target_tree: list[np.ndarray] = []
    target_node: list[np.ndarray] = []
    target_id: list[np.ndarray] = []
    target_weight: list[np.ndarray] = []
    for t, tree in enumerate(ensemble.trees):
        if tree.zero_missing is not None and tree.zero_missing.any():
            raise ConversionError("zero-as-missing splits cannot be written as ONNX")
        n = len(tree.left)
        leaf = tree.left < 0
        tree_ids.append(np.full(n, t, dtype=np.int64))
        node_ids.append(np.arange(n, dtype=np.int64))
        features.append(np.where(leaf, 0, tree.feature))
        thresholds.append(np.where(leaf, 0.0, tree.threshold))
        modes.extend("LEAF" if is_leaf else branch for is_leaf in leaf)
        true_ids.append(np.where(leaf, 0, tree.left))
        false_ids.append(np.where(leaf, 0, tree.right))
        missing_true.append((tree.nan_left & ~leaf).astype(np.int64))
        leaves, outputs = np.nonzero(leaf[:, None] & (tree.value != 0))
        target_tree.append(np.full(len(leaves), t, dtype=np.int64))
        target_node.append(leaves.astype(np.int64))
        target_id.append(outputs.astype(np.int64))
        target_weight.append(tree.value[leaves, outputs])

    def cat(parts: list[np.ndarray], dtype: Any) -> np.ndarray:
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)

    return {
        "nodes_treeids": cat(tree_ids, np.int64),
        "nodes_nodeids": cat(node_ids, np.int64),
        "nodes_featureids": cat(features, np.int64),
        "nodes_values": cat(thresholds, np.float64),
        "nodes_modes": modes,
        "nodes_truenodeids": cat(true_ids, np.int64),
        "nodes_falsenodeids": cat(false_ids, np.int64),
        "nodes_missing_value_tracks_true": cat(missing_true, np.int64),
        "target_treeids": cat(target_tree, np.int64),
        "target_nodeids": cat(target_node, np.int64),
        "target_ids": cat(target_id, np.int64),
        "target_weights": cat(target_weight, np.float64),
    }


def _float32_thresholds(threshold: np.ndarray, decision: str) -> np.ndarray:
    """float32 thresholds ``s`` with ``x <= s`` iff ``x <= t`` (``x < s`` iff ``x < t``)
    for every float32 ``x``: ``t`` rounded down (``"le"``) or up (``"lt"``)."""
    rounded = threshold.astype(np.float32)
    if decision == "le":
        over = rounded.astype(np.float64) > threshold
        rounded[over] = np.nextafter(rounded[over], np.float32(-np.inf))
    else:
        under = rounded.astype(np.float64) < threshold
        rounded[under] = np.nextafter(rounded[under], np.float32(np.inf))
    return rounded.astype(np.float64)


def _class_tensor(classes: list[Any]) -> Any:
    """The class labels as a constant: int64 when all are integers, else strings."""
    from onnx import TensorProto, helper

    integral = all(
        isinstance(c, int | np.integer) and not isinstance(c, bool | np.bool_) for c in classes
    )
    if integral:
        return helper.make_tensor("classes", TensorProto.INT64, [len(classes)], list(classes))
    names: list[Any] = [str(c).encode() for c in classes]
    return helper.make_tensor("classes", TensorProto.STRING, [len(classes)], names)


def ensemble_to_onnx(ensemble: Ensemble, classes: list[Any] | None = None) -> bytes:
    """The prediction graph of an extracted ensemble.

    Parameters
    ----------
    ensemble : Ensemble
        Trees whose leaf values add up (with ``ensemble.base``) to the explained output,
        ``n_outputs = len(ensemble.base)``.
    classes : list of length n_classes, optional
        Class labels for the ``label`` output (classification; default ``0 .. K-1``).

    Returns
    -------
    bytes
        A serialised ONNX model with input ``X`` of shape (n_rows, n_features) (double
        for a float64 ensemble, float otherwise) and outputs ``label`` of shape (n_rows,)
        and ``probabilities`` of shape (n_rows, n_classes), or ``predictions`` of shape
        (n_rows, 1).

    Raises
    ------
    ConversionError
        When the ensemble has splits ONNX cannot express (LightGBM's zero-as-missing).
    """
    from onnx import TensorProto, helper, numpy_helper

    attrs = _node_attributes(ensemble)
    double = ensemble.dtype == "float64"
    n_outputs = len(ensemble.base)

    def values(name: str, array: np.ndarray) -> dict[str, Any]:
        array = np.asarray(array, dtype=np.float64)
        if double:
            return {f"{name}_as_tensor": numpy_helper.from_array(array, f"{name}_as_tensor")}
        return {name: array.astype(np.float32).tolist()}

    if not double:  # float32 thresholds that split float32 inputs exactly as float64 ones
        attrs["nodes_values"] = _float32_thresholds(attrs["nodes_values"], ensemble.decision)

    margin = "margin"
    nodes = [
        helper.make_node(
            "TreeEnsembleRegressor",
            ["X"],
            [margin],
            domain="ai.onnx.ml",
            name="trees",
            aggregate_function="SUM",
            post_transform="NONE",
            n_targets=n_outputs,
            nodes_modes=attrs["nodes_modes"],
            **{
                key: attrs[key].tolist()
                for key in (
                    "nodes_treeids",
                    "nodes_nodeids",
                    "nodes_featureids",
                    "nodes_truenodeids",
                    "nodes_falsenodeids",
                    "nodes_missing_value_tracks_true",
                    "target_treeids",
                    "target_nodeids",
                    "target_ids",
                )
            },
            **values("nodes_values", attrs["nodes_values"]),
            **values("target_weights", attrs["target_weights"]),
            **values("base_values", ensemble.base),
        )
    ]
    initializers = []
    if ensemble.task == "regression":
        nodes.append(helper.make_node("Identity", [margin], [PREDICTION_OUTPUT]))
        outputs = [
            helper.make_tensor_value_info(PREDICTION_OUTPUT, TensorProto.FLOAT, [None, n_outputs])
        ]
    else:
        n_classes = 2 if ensemble.binary_margin else n_outputs
        if ensemble.binary_margin:
            initializers.append(numpy_helper.from_array(np.ones((1, 1), np.float32), "one"))
            nodes += [
                helper.make_node("Sigmoid", [margin], ["positive"]),
                helper.make_node("Sub", ["one", "positive"], ["negative"]),
                helper.make_node("Concat", ["negative", "positive"], [PROBABILITY_OUTPUT], axis=1),
            ]
        elif ensemble.output_space == "log_odds":
            nodes.append(helper.make_node("Softmax", [margin], [PROBABILITY_OUTPUT], axis=1))
        else:  # averaged class probabilities (forests)
            nodes.append(helper.make_node("Identity", [margin], [PROBABILITY_OUTPUT]))
        labels = list(range(n_classes)) if classes is None else list(classes)
        if len(labels) != n_classes:
            raise ConversionError(f"{len(labels)} classes for {n_classes} model outputs")
        table = _class_tensor(labels)
        initializers.append(table)
        nodes += [
            helper.make_node("ArgMax", [PROBABILITY_OUTPUT], ["best"], axis=1, keepdims=0),
            helper.make_node("Gather", ["classes", "best"], [LABEL_OUTPUT], axis=0),
        ]
        outputs = [
            helper.make_tensor_value_info(LABEL_OUTPUT, table.data_type, [None]),
            helper.make_tensor_value_info(PROBABILITY_OUTPUT, TensorProto.FLOAT, [None, n_classes]),
        ]
    graph = helper.make_graph(
        nodes,
        "tree_ensemble",
        [
            helper.make_tensor_value_info(
                "X",
                TensorProto.DOUBLE if double else TensorProto.FLOAT,
                [None, ensemble.n_features],
            )
        ],
        outputs,
        initializer=initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid("ai.onnx.ml", ML_OPSET)],
        producer_name="scoring_explainers",
    )
    model.ir_version = IR_VERSION
    return bytes(model.SerializeToString())
