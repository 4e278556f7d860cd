"""Nearest-neighbour classifiers as dense ONNX graphs (GEMM + TopK), distill side.

skl2onnx writes ``KNeighborsClassifier`` with a ``Scan`` over the query rows that
computes the distances one row at a time; Kernel SHAP's synthetic rows then cost several
times the model's own ``predict_proba``. Here the squared euclidean distances to all
training rows are one matrix product (centred data, float64), the neighbours one
``TopK``, and the vote one product with the neighbours' one-hot classes.

For ``weights="distance"`` the distances of the k neighbours found are computed again
directly, so a row equal to a training row is at distance 0 (scikit-learn's brute-force
search, through the same product, can leave ~1e-5 there, and its probabilities then
differ from the exact ones by up to ~1e-5).

Supported: ``KNeighborsClassifier`` with the euclidean metric (``minkowski`` with
``p=2``, or ``euclidean``), ``weights`` ``"uniform"`` or ``"distance"``, one output,
dense training data of at most :data:`MAX_TRAINING_ROWS` rows. Neighbours equally far at
the k-th place may be chosen differently from scikit-learn (whose own algorithms do not
agree on them either).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["dense_knn_graph", "supports"]

#: Largest training set written as a dense graph: the graph holds an (N, n_train) float64
#: distance matrix per call (8,192 synthetic rows x 10,000 training rows: 655 MB).
MAX_TRAINING_ROWS = 10_000


def supports(model: Any) -> bool:
    """Whether :func:`dense_knn_graph` converts ``model``."""
    if type(model).__name__ != "KNeighborsClassifier" or not hasattr(model, "_fit_X"):
        return False
    if getattr(model, "outputs_2d_", True) or model.weights not in ("uniform", "distance"):
        return False
    if getattr(model, "effective_metric_", None) != "euclidean":
        return False
    fit_x = model._fit_X
    return isinstance(fit_x, np.ndarray) and 0 < len(fit_x) <= MAX_TRAINING_ROWS


def dense_knn_graph(
    model: Any,
    n_features: int,
    *,
    input_name: str = "X",
    input_type: int | None = None,
    opset: int = 18,
) -> Any:
    """An ONNX graph of a fitted ``KNeighborsClassifier`` (see :func:`supports`).

    Outputs ``label`` (N,) and ``probabilities`` (N, n_classes), float32, as the other
    converted graphs. ``label`` is the first class of highest probability, as
    ``predict`` chooses it.
    """
    from onnx import TensorProto, helper, numpy_helper

    nodes: list[Any] = []
    initializers: list[Any] = []

    def const(value: Any, name: str) -> str:
        initializers.append(numpy_helper.from_array(np.asarray(value), f"knn_{name}"))
        return f"knn_{name}"

    def op(op_type: str, inputs: list[str], out: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op_type, inputs, [f"knn_{out}"], **attrs))
        return f"knn_{out}"

    train = np.asarray(model._fit_X, dtype=np.float64)
    centre = train.mean(axis=0)
    centred = train - centre
    n_classes = len(model.classes_)
    k = int(model.n_neighbors)
    axis1 = const(np.array([1], dtype=np.int64), "axis1")

    x = op("Cast", [input_name], "x", to=TensorProto.DOUBLE)
    xc = op("Sub", [x, const(centre, "centre")], "xc")
    # |x - t|^2 = |x|^2 - 2 x.t + |t|^2: the neighbours are the k smallest of the last two
    # terms (one product, the ones column adding |t|^2); |x|^2 is added to those k only.
    first = op(
        "Slice",
        [
            xc,
            const(np.array([0], dtype=np.int64), "s0"),
            const(np.array([1], dtype=np.int64), "s1"),
            axis1,
        ],
        "first",
    )
    ones = op(
        "Add", [op("Mul", [first, const(np.float64(0.0), "zero")], "x0"), const(1.0, "one")], "ones"
    )
    wide = op("Concat", [xc, ones], "wide", axis=1)
    weights = np.vstack([-2.0 * centred.T, (centred**2).sum(axis=1)[None, :]])
    score = op("MatMul", [wide, const(weights, "train")], "score")
    nodes.append(
        helper.make_node(
            "TopK",
            [score, const(np.array([k], dtype=np.int64), "k")],
            ["knn_near", "knn_index"],
            axis=1,
            largest=0,
            sorted=1,
        )
    )
    classes = op(
        "Gather", [const(np.asarray(model._y, dtype=np.int64), "y"), "knn_index"], "cls", axis=0
    )
    one_hot = op(
        "Cast",
        [
            op(
                "Equal",
                [
                    op(
                        "Unsqueeze",
                        [classes, const(np.array([2], dtype=np.int64), "axis2")],
                        "cls3",
                    ),
                    const(np.arange(n_classes, dtype=np.int64)[None, None, :], "range"),
                ],
                "hit",
            )
        ],
        "onehot",
        to=TensorProto.DOUBLE,
    )  # (N, k, n_classes)
    if model.weights == "uniform":
        votes = op("ReduceSum", [one_hot, axis1], "votes", keepdims=0)
    else:
        # 1 / distance; a row at distance 0 from training rows takes only those (weight 1)
        # the k distances again, directly (no cancellation): a row equal to a training row
        # is at distance 0, as scikit-learn finds it
        near = op("Gather", [const(train, "rows"), "knn_index"], "near_rows", axis=0)
        gap = op("Sub", [op("Unsqueeze", [x, axis1], "x3"), near], "gap")  # (N, k, f)
        d2 = op(
            "ReduceSumSquare",
            [gap, const(np.array([2], dtype=np.int64), "axis2d")],
            "d2",
            keepdims=0,
        )
        distance = op("Sqrt", [d2], "dist")
        zero = op("Equal", [distance, const(np.float64(0.0), "zero_d")], "at0")
        any_zero = op(
            "Cast",
            [
                op(
                    "ReduceMax",
                    [op("Cast", [zero], "at0f", to=TensorProto.DOUBLE), axis1],
                    "anyf",
                    keepdims=1,
                )
            ],
            "any0",
            to=TensorProto.BOOL,
        )
        inverse = op("Div", [const(np.float64(1.0), "one_d"), distance], "inv")
        weight = op(
            "Where", [any_zero, op("Cast", [zero], "at0w", to=TensorProto.DOUBLE), inverse], "w"
        )
        weighted = op(
            "Mul",
            [
                one_hot,
                op("Unsqueeze", [weight, const(np.array([2], dtype=np.int64), "axis2w")], "w3"),
            ],
            "wh",
        )
        votes = op("ReduceSum", [weighted, axis1], "votes", keepdims=0)
    total = op("ReduceSum", [votes, axis1], "total", keepdims=1)
    probabilities = op("Div", [votes, total], "proba")
    nodes.append(helper.make_node("Cast", [probabilities], ["probabilities"], to=TensorProto.FLOAT))
    winner = op("ArgMax", [probabilities], "winner", axis=1, keepdims=0)
    labels = np.asarray(model.classes_)
    if labels.dtype.kind in "iub":
        table, label_type = const(labels.astype(np.int64), "labels"), TensorProto.INT64
    else:
        table, label_type = const(labels.astype(str).astype(object), "labels"), TensorProto.STRING
    nodes.append(helper.make_node("Gather", [table, winner], ["label"], axis=0))
    in_type = input_type if input_type is not None else TensorProto.FLOAT
    graph = helper.make_graph(
        nodes,
        "dense_knn",
        [helper.make_tensor_value_info(input_name, in_type, [None, n_features])],
        [
            helper.make_tensor_value_info("label", label_type, [None]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, n_classes]),
        ],
        initializers,
    )
    return helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="scoring-explainers"
    )
