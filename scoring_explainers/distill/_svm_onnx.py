"""Kernel SVMs as dense ONNX graphs (GEMM + element-wise ops), distill side.

onnxruntime's ``SVMClassifier``/``SVMRegressor`` operators evaluate the kernel row by row;
written as one matrix product against the support vectors, the same model runs several
times faster in onnxruntime's GEMM, which is what Kernel SHAP's tens of thousands of
synthetic rows per explained row need. The graph reproduces scikit-learn exactly in
float64, including libsvm's Platt scaling and its pairwise-coupling iteration for
``SVC(probability=True)``.

Supported: binary ``SVC`` with ``probability=True`` and ``SVR``, kernels ``rbf``,
``linear``, ``poly``, ``sigmoid``. Everything else goes through skl2onnx's converters.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["dense_svm_graph", "supports"]

#: Sweeps of libsvm's pairwise-coupling iteration unrolled in the graph. For two classes
#: libsvm stops after at most 2 sweeps for any probability in [1e-7, 1 - 1e-7]; updates
#: stop once its convergence test passes, so extra sweeps change nothing.
COUPLING_SWEEPS = 4


def supports(model: Any) -> bool:
    """Whether :func:`dense_svm_graph` converts ``model``."""
    name = type(model).__name__
    if name not in ("SVC", "SVR") or not hasattr(model, "support_vectors_"):
        return False
    if model.kernel not in ("rbf", "linear", "poly", "sigmoid"):
        return False
    if hasattr(model, "_sparse") and model._sparse:
        return False
    if name == "SVC":
        return len(model.classes_) == 2 and getattr(model, "_probA", np.empty(0)).size == 1
    return True


class _Graph:
    def __init__(self) -> None:
        from onnx import helper

        self.helper = helper
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"svm_{hint}_{self._count}"

    def const(self, value: Any, hint: str = "c") -> str:
        from onnx import numpy_helper

        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type: str, *inputs: str, out: str | None = None, **attrs: Any) -> str:
        output = out or self.name(op_type.lower())
        self.nodes.append(self.helper.make_node(op_type, list(inputs), [output], **attrs))
        return output


def _kernel(g: _Graph, model: Any, X: str) -> str:
    """K(X, support vectors), shape (N, n_sv), float64."""
    from onnx import TensorProto

    sv = np.asarray(model.support_vectors_, dtype=np.float64)
    gamma = float(model._gamma)
    if model.kernel == "rbf":
        # ||x - s||^2 = |x|^2 - 2 x.s + |s|^2 on centred, sqrt(gamma)-scaled data
        centre = sv.mean(axis=0)
        scale = np.sqrt(gamma)
        svs = (sv - centre) * scale
        Xs = g.op("Mul", g.op("Sub", X, g.const(centre)), g.const(np.float64(scale)))
        x2 = g.op("ReduceSumSquare", Xs, g.const(np.array([1], dtype=np.int64)), keepdims=1)
        cross = g.op("MatMul", Xs, g.const(-2.0 * svs.T))
        d2 = g.op("Add", g.op("Add", x2, cross), g.const((svs**2).sum(axis=1)[None, :]))
        # Distances need float64 (they cancel); exp does not, and is 4x faster in float32.
        d2 = g.op("Cast", g.op("Max", d2, g.const(np.float64(0.0))), to=TensorProto.FLOAT)
        return g.op("Cast", g.op("Exp", g.op("Neg", d2)), to=TensorProto.DOUBLE)
    dot = g.op("MatMul", X, g.const(sv.T))
    if model.kernel == "linear":
        return dot
    inner = g.op(
        "Add", g.op("Mul", dot, g.const(np.float64(gamma))), g.const(np.float64(model.coef0))
    )
    if model.kernel == "poly":
        return g.op("Pow", inner, g.const(np.float64(model.degree)))
    return g.op("Tanh", inner)


def _couple(g: _Graph, r01: str) -> tuple[str, str]:
    """libsvm's ``multiclass_probability`` for two classes, unrolled; returns (p0, p1)."""
    one = g.const(np.float64(1.0))
    r10 = g.op("Sub", one, r01)
    q = {(0, 0): g.op("Mul", r10, r10), (1, 1): g.op("Mul", r01, r01)}
    q[(0, 1)] = q[(1, 0)] = g.op("Neg", g.op("Mul", r10, r01))
    half = g.op("Mul", r01, g.const(np.float64(0.0)))
    half = g.op("Add", half, g.const(np.float64(0.5)))
    p = [half, half]
    eps = g.const(np.float64(0.005 / 2))
    done = g.op("Less", one, g.const(np.float64(0.0)))  # all False, broadcast below
    for _ in range(COUPLING_SWEEPS):
        qp = [
            g.op("Add", g.op("Mul", q[(t, 0)], p[0]), g.op("Mul", q[(t, 1)], p[1]))
            for t in range(2)
        ]
        pqp = g.op("Add", g.op("Mul", p[0], qp[0]), g.op("Mul", p[1], qp[1]))
        err = g.op(
            "Max", g.op("Abs", g.op("Sub", qp[0], pqp)), g.op("Abs", g.op("Sub", qp[1], pqp))
        )
        done = g.op("Or", done, g.op("Less", err, eps))
        new_p, new_qp, new_pqp = list(p), list(qp), pqp
        for t in range(2):
            diff = g.op("Div", g.op("Sub", new_pqp, new_qp[t]), q[(t, t)])
            new_p[t] = g.op("Add", new_p[t], diff)
            grow = g.op("Add", one, diff)
            num = g.op(
                "Add",
                new_pqp,
                g.op(
                    "Mul",
                    diff,
                    g.op(
                        "Add",
                        g.op("Mul", diff, q[(t, t)]),
                        g.op("Mul", new_qp[t], g.const(np.float64(2.0))),
                    ),
                ),
            )
            new_pqp = g.op("Div", num, g.op("Mul", grow, grow))
            new_qp = [
                g.op("Div", g.op("Add", new_qp[j], g.op("Mul", diff, q[(t, j)])), grow)
                for j in range(2)
            ]
            new_p = [g.op("Div", new_p[j], grow) for j in range(2)]
        p = [g.op("Where", done, p[j], new_p[j]) for j in range(2)]
    return p[0], p[1]


def dense_svm_graph(
    model: Any,
    n_features: int,
    *,
    input_name: str = "X",
    input_type: int | None = None,
    opset: int = 18,
) -> Any:
    """An ONNX graph of a fitted binary ``SVC(probability=True)`` or ``SVR``.

    Outputs ``label`` + ``probabilities`` (SVC) or ``predictions`` (SVR), computed in
    float64 and returned as float32, as the other converted graphs.
    """
    from onnx import TensorProto, helper

    g = _Graph()
    X = g.op("Cast", input_name, to=TensorProto.DOUBLE)
    kernel = _kernel(g, model, X)
    dual = np.asarray(model.dual_coef_, dtype=np.float64).T  # (n_sv, 1)
    decision = g.op(
        "Add",
        g.op("MatMul", kernel, g.const(dual)),
        g.const(np.asarray(model.intercept_, dtype=np.float64)),
    )
    in_type = input_type if input_type is not None else TensorProto.FLOAT
    inputs = [helper.make_tensor_value_info(input_name, in_type, [None, n_features])]
    if type(model).__name__ == "SVR":
        g.op("Cast", decision, out="predictions", to=TensorProto.FLOAT)
        outputs = [helper.make_tensor_value_info("predictions", TensorProto.FLOAT, [None, 1])]
    else:
        # libsvm's decision value has the opposite sign of scikit-learn's, so its Platt
        # probability of the first class is sigmoid(decision * A - B), clipped to 1e-7.
        a, b = float(model._probA[0]), float(model._probB[0])
        r01 = g.op(
            "Sigmoid",
            g.op("Sub", g.op("Mul", decision, g.const(np.float64(a))), g.const(np.float64(b))),
        )
        r01 = g.op("Clip", r01, g.const(np.float64(1e-7)), g.const(np.float64(1 - 1e-7)))
        p0, p1 = _couple(g, r01)
        g.op("Cast", g.op("Concat", p0, p1, axis=1), out="probabilities", to=TensorProto.FLOAT)
        classes = np.asarray(model.classes_)
        if classes.dtype.kind in "iub":
            labels = g.const(classes.astype(np.int64))
            label_type = TensorProto.INT64
        else:
            labels = g.const(classes.astype(str).astype(object))
            label_type = TensorProto.STRING
        # libsvm votes for the first class when its decision value is > 0, i.e. when
        # scikit-learn's is < 0.
        second = g.op(
            "Cast",
            g.op("Flatten", g.op("Not", g.op("Less", decision, g.const(np.float64(0.0)))), axis=0),
            to=TensorProto.INT64,
        )
        second = g.op("Reshape", second, g.const(np.array([-1], dtype=np.int64)))
        g.op("Gather", labels, second, out="label", axis=0)
        outputs = [
            helper.make_tensor_value_info("label", label_type, [None]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2]),
        ]
    graph = helper.make_graph(g.nodes, "dense_svm", inputs, outputs, g.initializers)
    onx = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="scoring-explainers"
    )
    return onx
