"""Kernel SVMs as dense ONNX graphs (GEMM + element-wise ops), distill side.

onnxruntime's ``SVMClassifier``/``SVMRegressor`` operators evaluate the kernel row by row;
written as one matrix product against the support vectors, the same model runs several
times faster in onnxruntime's GEMM, which is what Kernel SHAP's tens of thousands of
synthetic rows per explained row need. The graph reproduces scikit-learn in float64,
including libsvm's Platt scaling and its pairwise-coupling iteration for
``probability=True``; only the kernel's exp (tanh) may be float32, where a check on rows
made from the support vectors shows it changes the outputs by at most 1e-6
(:func:`checked_graph`).

Supported: ``SVC`` and ``NuSVC`` with ``probability=True`` (two or more classes: every
one-vs-one decision value from one kernel product against all support vectors and one
product with the pairs' coefficients), ``SVR`` and ``NuSVR``; kernels ``rbf``, ``linear``,
``poly``, ``sigmoid``. Everything else goes through skl2onnx's converters.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "checked_graph",
    "dense_calibrated_graph",
    "dense_svm_graph",
    "supports",
    "supports_calibrated",
]

#: Sweeps of libsvm's pairwise-coupling iteration unrolled in the graph. For two classes
#: libsvm stops after at most 2 sweeps for any probability in [1e-7, 1 - 1e-7]; updates
#: stop once its convergence test passes, so extra sweeps change nothing.
COUPLING_SWEEPS = 4

#: Sweeps of the coupling iteration unrolled for three or more classes. libsvm stops at
#: the first sweep that starts with ``max_t |(Qp)_t - p'Qp| < 0.005 / k``; searching pairwise
#: probabilities for the slowest rows (3 to 20 classes, clipped values included) found none
#: needing more than 5 sweeps; after 6 the worst error found is 5% of the threshold (it
#: shrinks 5-10x per sweep). Rows that have passed the test are frozen, so extra sweeps
#: change nothing.
MULTICLASS_SWEEPS = 6

#: Largest |float32-exp graph - scikit-learn| on the check rows (probabilities; relative to
#: the largest |prediction| for regressors) for which :func:`checked_graph` keeps float32.
EXP32_TOLERANCE = 1e-6

#: Check rows of :func:`checked_graph`: up to this many support vectors, and this many rows
#: mixing the features of two support vectors at random (Kernel SHAP's coalition rows).
CHECK_SUPPORT_VECTORS = 1000
CHECK_MIXED_ROWS = 3000

_CLASSIFIERS = ("SVC", "NuSVC")
_KERNELS = ("rbf", "linear", "poly", "sigmoid")
_REGRESSORS = ("SVR", "NuSVR")


def supports(model: Any) -> bool:
    """Whether :func:`dense_svm_graph` converts ``model``."""
    name = type(model).__name__
    if name not in _CLASSIFIERS + _REGRESSORS or not hasattr(model, "support_vectors_"):
        return False
    if not isinstance(model.kernel, str) or model.kernel not in _KERNELS:
        return False
    if getattr(model, "_sparse", False):
        return False
    if name in _CLASSIFIERS:
        k = len(model.classes_)
        # probability=True: one Platt (A, B) per class pair
        return k >= 2 and getattr(model, "_probA", np.empty(0)).size == k * (k - 1) // 2
    return True


def _exp32(exp: str) -> bool:
    if exp not in ("float32", "float64"):
        raise ValueError(f"exp must be 'float32' or 'float64', not {exp!r}")
    return exp == "float32"


class _Graph:
    """Nodes and initializers of one graph; ``exp32``: the kernel's exp (rbf) or tanh
    (sigmoid) in float32."""

    def __init__(self, exp32: bool = False) -> None:
        from onnx import helper

        self.exp32 = exp32
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

    def split(self, x: str, k: int, size: int = 1) -> list[str]:
        """``x`` of shape (k size, ...) cut into k tensors of shape (size, ...)."""
        outputs = [self.name("part") for _ in range(k)]
        sizes = self.const(np.full(k, size, dtype=np.int64))
        self.nodes.append(self.helper.make_node("Split", [x, sizes], outputs, axis=0))
        return outputs

    def op(self, op_type: str, *inputs: str, out: str | None = None, **attrs: Any) -> str:
        output = out or self.name(op_type.lower())
        self.nodes.append(self.helper.make_node(op_type, list(inputs), [output], **attrs))
        return output


def _kernel(g: _Graph, model: Any, X: str, sizes: list[int]) -> list[str]:
    """K(X, support vectors) in blocks of ``sizes`` consecutive support vectors, float64.

    Returns one (N, size) tensor per block. Every block is one matrix product of the input,
    widened by a column of squared norms (rbf) and a column of ones, with a matrix that
    holds the kernel's scale and offset, followed by one element-wise function (rbf: exp,
    poly: power, sigmoid: tanh).
    """
    from onnx import TensorProto

    sv = np.asarray(model.support_vectors_, dtype=np.float64)
    gamma = float(model._gamma)
    axis1 = g.const(np.array([1], dtype=np.int64))
    if model.kernel == "rbf":
        # -gamma ||x - s||^2 = -|x|^2 + 2 x.s - |s|^2 on centred, sqrt(gamma)-scaled data
        centre = sv.mean(axis=0)
        scale = np.sqrt(gamma)
        svs = (sv - centre) * scale
        Xs = g.op("Mul", g.op("Sub", X, g.const(centre)), g.const(np.float64(scale)))
        x2 = g.op("ReduceSumSquare", Xs, axis1, keepdims=1)
        ones = g.op("Add", g.op("Mul", x2, g.const(np.float64(0.0))), g.const(np.float64(1.0)))
        wide = g.op("Concat", Xs, x2, ones, axis=1)
        weights = np.vstack([2.0 * svs.T, -np.ones((1, len(sv))), -(svs**2).sum(axis=1)[None]])
    elif model.kernel == "linear":
        wide, weights = X, sv.T
    else:
        first = g.op(
            "Slice",
            X,
            g.const(np.array([0], dtype=np.int64)),
            g.const(np.array([1], dtype=np.int64)),
            axis1,
        )
        ones = g.op("Add", g.op("Mul", first, g.const(np.float64(0.0))), g.const(np.float64(1.0)))
        wide = g.op("Concat", X, ones, axis=1)
        weights = np.vstack([gamma * sv.T, np.full((1, len(sv)), float(model.coef0))])
    blocks = []
    start = 0
    for size in sizes:
        block = g.op("MatMul", wide, g.const(weights[:, start : start + size]))
        start += size
        if model.kernel in ("rbf", "sigmoid") and g.exp32:
            # float32's exp (tanh) is several times faster than float64's and has no slow
            # underflow path, but errs by 1e-7 of every kernel value, which the dual
            # coefficients multiply: chosen per model by :func:`checked_graph`.
            block = g.op("Cast", block, to=TensorProto.FLOAT)
            block = g.op("Exp" if model.kernel == "rbf" else "Tanh", block)
            block = g.op("Cast", block, to=TensorProto.DOUBLE)
        elif model.kernel == "rbf":
            # below -700 (a kernel value under 1e-304) float64 exp takes its 3-5x slower
            # underflow path
            block = g.op("Exp", g.op("Max", block, g.const(np.float64(-700.0))))
        elif model.kernel == "poly":
            block = g.op("Pow", block, g.const(np.float64(model.degree)))
        elif model.kernel == "sigmoid":
            block = g.op("Tanh", block)
        blocks.append(block)
    return blocks


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


def _pairs(k: int) -> list[tuple[int, int]]:
    """libsvm's order of the one-vs-one class pairs: (0, 1), (0, 2) ... (k-2, k-1)."""
    return [(i, j) for i in range(k) for j in range(i + 1, k)]


def _ints(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def _pair_decisions(g: _Graph, model: Any, X: str) -> str:
    """libsvm's one-vs-one decision values, pairs first: (n_pairs, N), float64.

    libsvm's layout: for pair (i, j) the coefficients of class i's support vectors are in
    row ``j - 1`` of the dual coefficients and those of class j's in row ``i``, so the
    decision value is ``S[i, j - 1] + S[j, i] - rho`` with ``S[c, m]`` the sum over class
    c's support vectors of ``dual[m] * K``. The kernel is computed class by class (the
    support vectors are grouped by class) and each block multiplied by its
    (k - 1, n_sv_c) coefficients: 1/k of the work of one product of K with an
    (n_sv, n_pairs) matrix.
    """
    dual = np.asarray(model._dual_coef_, dtype=np.float64)  # (k - 1, n_sv), libsvm's signs
    counts = [int(c) for c in model._n_support]
    k = len(counts)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(int)
    kept = [c for c in range(k) if counts[c]]
    blocks = _kernel(g, model, X, [counts[c] for c in kept])
    partial = [
        g.op("Gemm", g.const(dual[:, starts[c] : starts[c] + counts[c]]), block, transB=1)
        for block, c in zip(blocks, kept, strict=True)
    ]  # S[c, :] of each class with support vectors, (k - 1, N)
    S = g.op("Concat", *partial, axis=0) if len(partial) > 1 else partial[0]
    blank = len(kept) * (k - 1)
    if len(kept) < k:  # a row of zeros for the classes without support vectors
        first = g.op("Slice", S, g.const(_ints(0)), g.const(_ints(1)), g.const(_ints(0)))
        S = g.op("Concat", S, g.op("Mul", first, g.const(np.float64(0.0))), axis=0)
    position = {c: n for n, c in enumerate(kept)}

    def row(c: int, m: int) -> int:
        return position[c] * (k - 1) + m if c in position else blank

    pairs = _pairs(k)
    left = g.op("Gather", S, g.const(_ints(*(row(i, j - 1) for i, j in pairs))), axis=0)
    right = g.op("Gather", S, g.const(_ints(*(row(j, i) for i, j in pairs))), axis=0)
    intercept = np.asarray(model._intercept_, dtype=np.float64)[:, None]  # -rho
    return g.op("Add", g.op("Add", left, right), g.const(intercept))


def _pairwise_probabilities(g: _Graph, model: Any, decision: str) -> str:
    """libsvm's Platt probability r_ij of each pair, clipped to [1e-7, 1 - 1e-7]; (n_pairs, N).

    libsvm's ``sigmoid_predict`` is ``1 / (1 + exp(dec * A + B))`` (written differently
    for ``dec * A + B >= 0``, equal to the last bits); an exp overflowing to inf gives 0.
    """
    f = g.op(
        "Add",
        g.op("Mul", decision, g.const(np.asarray(model._probA, dtype=np.float64)[:, None])),
        g.const(np.asarray(model._probB, dtype=np.float64)[:, None]),
    )
    r = g.op("Reciprocal", g.op("Add", g.op("Exp", f), g.const(np.float64(1.0))))
    return g.op("Clip", r, g.const(np.float64(1e-7)), g.const(np.float64(1 - 1e-7)))


def _couple_multiclass(g: _Graph, r: str, k: int, sweeps: int) -> str:
    """libsvm's ``multiclass_probability`` (Wu, Lin & Weng's method 2), unrolled.

    ``r`` holds the pairs' probabilities, (n_pairs, N); returns p, (N, k). Each sweep
    starts with libsvm's convergence test (``max_t |(Qp)_t - p'Qp| < 0.005 / k``) and is
    applied only to rows that have not passed it yet, so a row keeps the iterate libsvm
    returns as long as libsvm stops within ``sweeps`` sweeps. Within a sweep the updates
    are libsvm's, in its order. Three differences change only the last bits: ``Qp`` and
    ``p'Qp`` are carried from one sweep to the next (libsvm recomputes them), the
    division of all of ``p`` and ``Qp`` by ``1 + diff`` at every step is carried in a
    scale factor, and ``diff Q[t][t]`` is taken as ``p'Qp - Qp[t]``. Tensors are laid out
    classes first, ``(k, N)``, so every element-wise operation runs along the rows.
    """
    pairs = _pairs(k)
    n_pairs = len(pairs)
    axis0 = g.const(_ints(0))
    one = g.const(np.float64(1.0))
    # libsvm's r[i][j] = r_ij and r[j][i] = 1 - r_ij (i < j); Q[t][j] = -r[j][t] r[t][j] is
    # -r_q (1 - r_q) for the pair q of t and j, and Q[t][t] = sum_j r[j][t]^2 sums r_q^2
    # over the pairs (j, t) and (1 - r_q)^2 over the pairs (t, j).
    complement = g.op("Sub", one, r)
    off = g.op("Neg", g.op("Mul", r, complement))  # (n_pairs, N)
    both = g.op("Concat", r, complement, axis=0)
    sums = np.zeros((k, 2 * n_pairs))
    index = np.zeros((k, k), dtype=np.int64)
    for q, (i, j) in enumerate(pairs):
        sums[j, q] = 1.0
        sums[i, n_pairs + q] = 1.0
        index[i, j] = index[j, i] = q
    diagonal = g.op("MatMul", g.const(sums), g.op("Mul", both, both))  # Q[t][t], (k, N)
    index[np.arange(k), np.arange(k)] = n_pairs + np.arange(k)
    table = g.op("Concat", off, diagonal, axis=0)
    Q = g.op("Gather", table, g.const(index.reshape(-1)), axis=0)  # Q[t][j] at t k + j
    rows = g.split(Q, k, size=k)  # Q[t, :], (k, N) each
    q_tt = g.split(diagonal, k)  # Q[t][t], (1, N) each
    totals = np.zeros((k, n_pairs + k))  # sum_j Q[t][j]
    for q, (i, j) in enumerate(pairs):
        totals[i, q] = totals[j, q] = 1.0
    totals[np.arange(k), n_pairs + np.arange(k)] = 1.0
    eps = g.const(np.float64(0.005 / k))
    p = g.op("Add", g.op("Mul", diagonal, g.const(np.float64(0.0))), g.const(np.float64(1 / k)))
    Qp = g.op("Mul", g.op("MatMul", g.const(totals), table), g.const(np.float64(1 / k)))
    pQp = g.op("ReduceSum", g.op("Mul", p, Qp), axis0, keepdims=1)
    done = g.op("Less", q_tt[0], g.const(np.float64(-1.0)))  # all False, (1, N)
    for sweep in range(sweeps):
        last = sweep == sweeps - 1
        error = g.op("ReduceMax", g.op("Abs", g.op("Sub", Qp, pQp)), axis0, keepdims=1)
        done = g.op("Or", done, g.op("Less", error, eps))
        # p = c * p_ and Qp = c * Qp_: libsvm divides both by 1 + diff at every step
        p_, Qp_, c, new_pQp = g.split(p, k), Qp, one, pQp
        for t in range(k):
            qp_t = g.op("Slice", Qp_, g.const(_ints(t)), g.const(_ints(t + 1)), axis0)
            if t:
                qp_t = g.op("Mul", qp_t, c)
            diff = g.op("Div", g.op("Sub", new_pQp, qp_t), q_tt[t])
            grow = g.op("Add", one, diff)
            scaled = g.op("Div", diff, c) if t else diff
            p_[t] = g.op("Add", p_[t], scaled)  # p[t] += diff
            c = g.op("Div", c, grow)
            if last and t == k - 1:
                break
            # p'Qp = (p'Qp + diff (diff Q[t][t] + 2 Qp[t])) / (1 + diff)^2, with
            # diff Q[t][t] = p'Qp - Qp[t]
            total = g.op("Add", new_pQp, g.op("Mul", diff, g.op("Add", new_pQp, qp_t)))
            new_pQp = g.op("Div", g.op("Div", total, grow), grow)
            # Qp = (Qp + diff Q[t, :]) / (1 + diff)
            Qp_ = g.op("Add", Qp_, g.op("Mul", rows[t], scaled))
        p = g.op("Where", done, p, g.op("Mul", g.op("Concat", *p_, axis=0), c))
        if not last:
            Qp = g.op("Where", done, Qp, g.op("Mul", Qp_, c))
            pQp = g.op("Where", done, pQp, new_pQp)
    return g.op("Transpose", p, perm=[1, 0])


def _labels(g: _Graph, model: Any, winner: str) -> tuple[str, int]:
    """Class labels at the (N,) int64 indices ``winner``; returns (name, ONNX type)."""
    from onnx import TensorProto

    classes = np.asarray(model.classes_)
    if classes.dtype.kind in "iub":
        labels = g.const(classes.astype(np.int64))
        label_type = TensorProto.INT64
    else:
        labels = g.const(classes.astype(str).astype(object))
        label_type = TensorProto.STRING
    g.op("Gather", labels, winner, out="label", axis=0)
    return "label", label_type


def _votes(g: _Graph, decision: str, k: int, *, ovr: bool) -> str:
    """Votes of the classes from libsvm's (n_pairs, N) decision values; (k, N), float64.

    libsvm's vote: pair (i, j) votes for i when its decision value is > 0, else for j.
    With ``ovr``, scikit-learn's ovr decision function instead: votes (for i when the
    value is >= 0) plus ``s / (3 (|s| + 1))`` with ``s`` the summed decision values of each
    class (+ for i, - for j).
    """
    from onnx import TensorProto

    pairs = _pairs(k)
    first = np.zeros((k, len(pairs)))
    second = np.zeros((k, len(pairs)))
    for q, (i, j) in enumerate(pairs):
        first[i, q] = 1.0
        second[j, q] = 1.0
    zero = g.const(np.float64(0.0))
    wins = g.op("GreaterOrEqual" if ovr else "Greater", decision, zero)
    wins = g.op("Cast", wins, to=TensorProto.DOUBLE)
    # votes_c = sum_q wins_q [c == i_q] + (1 - wins_q) [c == j_q], (k, N)
    votes = g.op(
        "Add",
        g.op("MatMul", g.const(first - second), wins),
        g.const(second.sum(axis=1, keepdims=True)),
    )
    if not ovr:
        return votes
    summed = g.op("MatMul", g.const(first - second), decision)
    scaled = g.op(
        "Div",
        summed,
        g.op(
            "Mul",
            g.const(np.float64(3.0)),
            g.op("Add", g.op("Abs", summed), g.const(np.float64(1.0))),
        ),
    )
    return g.op("Add", votes, scaled)


def _vote(g: _Graph, model: Any, decision: str, k: int) -> str:
    """The index of the class ``SVC.predict`` returns, (N,) int64, from (n_pairs, N) values:
    the most votes, the first class among equals; with ``break_ties=True`` (and
    ``decision_function_shape='ovr'``) the argmax of scikit-learn's ovr decision function.
    """
    ties = bool(getattr(model, "break_ties", False)) and model.decision_function_shape == "ovr"
    return g.op("ArgMax", _votes(g, decision, k, ovr=ties), axis=0, keepdims=0)


def _binary_decision(g: _Graph, model: Any, X: str) -> str:
    """scikit-learn's decision function of a two-class SVC/NuSVC or an SVR; (N, 1)."""
    (kernel,) = _kernel(g, model, X, [len(model.support_vectors_)])
    dual = np.asarray(model.dual_coef_, dtype=np.float64).T  # (n_sv, 1)
    return g.op(
        "Add",
        g.op("MatMul", kernel, g.const(dual)),
        g.const(np.asarray(model.intercept_, dtype=np.float64)),
    )


def _calibrated_svms(model: Any) -> list[Any] | None:
    """The SVMs of a ``CalibratedClassifierCV`` with sigmoid calibration that
    :func:`dense_calibrated_graph` converts, else ``None``."""
    if type(model).__name__ != "CalibratedClassifierCV" or model.method != "sigmoid":
        return None
    fitted = getattr(model, "calibrated_classifiers_", None)
    if not fitted:
        return None
    svms = []
    for calibrated in fitted:
        svm = calibrated.estimator
        if type(svm).__name__ not in _CLASSIFIERS or not hasattr(svm, "support_vectors_"):
            return None
        if not isinstance(svm.kernel, str) or svm.kernel not in _KERNELS:
            return None
        if getattr(svm, "_sparse", False):
            return None
        k = len(svm.classes_)
        if k > 2 and svm.decision_function_shape != "ovr":
            return None
        if len(calibrated.calibrators) != (1 if k == 2 else k):
            return None
        svms.append(svm)
    return svms


def supports_calibrated(model: Any) -> bool:
    """Whether :func:`dense_calibrated_graph` converts ``model``."""
    return _calibrated_svms(model) is not None


def dense_calibrated_graph(
    model: Any,
    n_features: int,
    *,
    input_name: str = "X",
    input_type: int | None = None,
    opset: int = 18,
    exp: str = "float64",
) -> Any:
    """An ONNX graph of a fitted ``CalibratedClassifierCV`` of ``SVC``/``NuSVC`` with
    ``method="sigmoid"`` (``ensemble`` True or False, two or more classes).

    For each calibrated SVM: its decision function (two classes: one value; more: the ovr
    function, votes plus scaled summed one-vs-one values), ``1 / (1 + exp(a f + b))`` per
    class, two classes completed by ``1 - p``, more normalised by their sum (uniform where
    it is 0), values in (1, 1 + 1e-5] set to 1; the mean over the calibrated SVMs.
    Outputs ``label`` (N,), the first class of highest probability, as ``predict``, and
    ``probabilities`` (N, n_classes), float32. ``exp``: the precision of the kernel's exp
    (rbf) or tanh (sigmoid), ``"float64"`` or ``"float32"``.
    """
    from onnx import TensorProto, helper

    svms = _calibrated_svms(model)
    if svms is None:
        raise ValueError("not a sigmoid-calibrated SVC/NuSVC")
    g = _Graph(exp32=_exp32(exp))
    X = g.op("Cast", input_name, to=TensorProto.DOUBLE)
    classes = list(model.classes_)
    k = len(classes)
    one = g.const(np.float64(1.0))
    total = None
    for svm, calibrated in zip(svms, model.calibrated_classifiers_, strict=True):
        own = len(svm.classes_)
        if own == 2:
            decision = g.op("Transpose", _binary_decision(g, svm, X), perm=[1, 0])  # (1, N)
        else:
            decision = _votes(g, _pair_decisions(g, svm, X), own, ovr=True)  # (own, N)
        a = np.array([c.a_ for c in calibrated.calibrators], dtype=np.float64)[:, None]
        b = np.array([c.b_ for c in calibrated.calibrators], dtype=np.float64)[:, None]
        f = g.op("Add", g.op("Mul", decision, g.const(a)), g.const(b))
        p = g.op("Reciprocal", g.op("Add", g.op("Exp", f), one))  # expit(-(a f + b))
        if k == 2:
            proba = g.op("Concat", g.op("Sub", one, p), p, axis=0)
        else:
            # the SVM's classes (a fold may lack some) into the model's
            place = np.zeros((k, own))
            for n, c in enumerate(svm.classes_):
                place[classes.index(c), n] = 1.0
            proba = (
                p if own == k and np.all(place == np.eye(k)) else g.op("MatMul", g.const(place), p)
            )
            denominator = g.op(
                "ReduceSum", proba, g.const(np.array([0], dtype=np.int64)), keepdims=1
            )
            nonzero = g.op("Not", g.op("Equal", denominator, g.const(np.float64(0.0))))
            proba = g.op(
                "Where",
                nonzero,
                g.op("Div", proba, denominator),
                g.const(np.full((k, 1), 1 / k)),
            )
        above = g.op(
            "And",
            g.op("Greater", proba, one),
            g.op("LessOrEqual", proba, g.const(np.float64(1.0 + 1e-5))),
        )
        proba = g.op("Where", above, one, proba)
        total = proba if total is None else g.op("Add", total, proba)
    assert total is not None
    mean = g.op("Div", total, g.const(np.float64(len(svms))))
    g.op("Cast", g.op("Transpose", mean, perm=[1, 0]), out="probabilities", to=TensorProto.FLOAT)
    label, label_type = _labels(g, model, g.op("ArgMax", mean, axis=0, keepdims=0))
    in_type = input_type if input_type is not None else TensorProto.FLOAT
    graph = helper.make_graph(
        g.nodes,
        "dense_calibrated_svm",
        [helper.make_tensor_value_info(input_name, in_type, [None, n_features])],
        [
            helper.make_tensor_value_info(label, label_type, [None]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, k]),
        ],
        g.initializers,
    )
    return helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="scoring-explainers"
    )


def dense_svm_graph(
    model: Any,
    n_features: int,
    *,
    input_name: str = "X",
    input_type: int | None = None,
    opset: int = 18,
    exp: str = "float64",
) -> Any:
    """An ONNX graph of a fitted ``SVC``/``NuSVC`` (``probability=True``) or ``SVR``/``NuSVR``.

    Outputs ``label`` (N,) + ``probabilities`` (N, n_classes) for classifiers or
    ``predictions`` (N, 1) for regressors, computed in float64 and returned as float32, as
    the other converted graphs. ``exp``: the precision of the kernel's exp (rbf) or tanh
    (sigmoid), ``"float64"`` or ``"float32"`` (see :func:`checked_graph`).
    """
    from onnx import TensorProto, helper

    g = _Graph(exp32=_exp32(exp))
    X = g.op("Cast", input_name, to=TensorProto.DOUBLE)
    in_type = input_type if input_type is not None else TensorProto.FLOAT
    inputs = [helper.make_tensor_value_info(input_name, in_type, [None, n_features])]
    name = type(model).__name__
    k = 0 if name in _REGRESSORS else len(model.classes_)
    if k > 2:
        decision = _pair_decisions(g, model, X)
        r = _pairwise_probabilities(g, model, decision)
        p = _couple_multiclass(g, r, k, MULTICLASS_SWEEPS)
        g.op("Cast", p, out="probabilities", to=TensorProto.FLOAT)
        label, label_type = _labels(g, model, _vote(g, model, decision, k))
        graph = helper.make_graph(
            g.nodes,
            "dense_svm",
            inputs,
            [
                helper.make_tensor_value_info(label, label_type, [None]),
                helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, k]),
            ],
            g.initializers,
        )
        return helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", opset)],
            producer_name="scoring-explainers",
        )
    decision = _binary_decision(g, model, X)
    if not k:
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
        # libsvm votes for the first class when its decision value is > 0, i.e. when
        # scikit-learn's is < 0.
        second = g.op(
            "Cast",
            g.op("Flatten", g.op("Not", g.op("Less", decision, g.const(np.float64(0.0)))), axis=0),
            to=TensorProto.INT64,
        )
        second = g.op("Reshape", second, g.const(np.array([-1], dtype=np.int64)))
        label, label_type = _labels(g, model, second)
        outputs = [
            helper.make_tensor_value_info(label, label_type, [None]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2]),
        ]
    graph = helper.make_graph(g.nodes, "dense_svm", inputs, outputs, g.initializers)
    onx = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="scoring-explainers"
    )
    return onx


def _svms(model: Any) -> list[Any]:
    """The SVMs of ``model`` (one, or those of a calibrated model)."""
    return _calibrated_svms(model) or [model]


def check_rows(model: Any, *, seed: int = 0) -> np.ndarray:
    """Rows made from ``model``'s support vectors, float64 (n_rows, n_features).

    Up to :data:`CHECK_SUPPORT_VECTORS` of the support vectors (of every SVM of a calibrated
    model), then :data:`CHECK_MIXED_ROWS` rows taking each feature from one of two random
    support vectors with probability 1/2, like Kernel SHAP's coalition rows. Seeded.
    """
    rng = np.random.default_rng(seed)
    sv = np.vstack([np.asarray(svm.support_vectors_, dtype=np.float64) for svm in _svms(model)])
    if len(sv) > CHECK_SUPPORT_VECTORS:
        sv = sv[np.sort(rng.choice(len(sv), CHECK_SUPPORT_VECTORS, replace=False))]
    a = sv[rng.integers(0, len(sv), CHECK_MIXED_ROWS)]
    b = sv[rng.integers(0, len(sv), CHECK_MIXED_ROWS)]
    mask = rng.random(a.shape) < 0.5
    return np.vstack([sv, np.where(mask, a, b)])


def exp32_gap(model: Any, onx: Any, rows: np.ndarray) -> tuple[float, float, bool]:
    """Run graph ``onx`` in onnxruntime on ``rows`` (as its input type) and compare it with
    ``model``'s ``predict_proba`` (``predict`` for regressors), float64.

    Returns (max |difference|, output scale: 1 for probabilities, the largest |prediction|
    for regressors, whether every label equals ``predict``'s).
    """
    import warnings

    import onnxruntime as ort
    from onnx import TensorProto

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(
        onx.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    feed = session.get_inputs()[0]
    double = onx.graph.input[0].type.tensor_type.elem_type == TensorProto.DOUBLE
    X = rows.astype(np.float64 if double else np.float32)
    names = [o.name for o in session.get_outputs()]
    outputs = dict(zip(names, session.run(None, {feed.name: X}), strict=True))
    X64 = X.astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if "probabilities" in outputs:
            expected = np.asarray(model.predict_proba(X64), dtype=np.float64)
            got = outputs["probabilities"]
            labels = np.asarray(model.predict(X64)).astype(str)
            same = bool(np.array_equal(labels, np.asarray(outputs["label"]).astype(str)))
            scale = 1.0
        else:
            expected = np.asarray(model.predict(X64), dtype=np.float64).reshape(len(X), -1)
            got = outputs["predictions"]
            same = True
            scale = float(np.max(np.abs(expected)))
    return float(np.max(np.abs(got.astype(np.float64) - expected))), scale, same


def checked_graph(
    model: Any,
    build: Any,
    n_features: int,
    *,
    exp: str = "auto",
    **kwargs: Any,
) -> tuple[Any, dict[str, Any]]:
    """The graph of ``model`` by ``build`` (:func:`dense_svm_graph` or
    :func:`dense_calibrated_graph`), its kernel's exp (rbf) or tanh (sigmoid) in float32
    when that passes the check, else in float64; and notes saying which and why.

    With ``exp="auto"`` the float32 variant is run in onnxruntime on :func:`check_rows`
    and compared with the model: kept when every label equals ``predict``'s and the
    largest difference is at most :data:`EXP32_TOLERANCE` (probabilities; regressors:
    times their largest |prediction|). ``exp="float64"`` skips the check. Models with
    linear or poly kernels have no exp: their graph and notes are the same either way.

    Returns
    -------
    onx : onnx.ModelProto
    notes : dict
        ``kernel_exp`` ("float32" or "float64"), ``kernel_exp_check`` (the float32
        variant's max difference, its tolerance, the rows and whether labels agreed, or
        why it was skipped). Empty for kernels without exp.
    """
    if exp not in ("auto", "float64"):
        raise ValueError(f"exp must be 'auto' or 'float64', not {exp!r}")
    if not any(svm.kernel in ("rbf", "sigmoid") for svm in _svms(model)):
        return build(model, n_features, **kwargs), {}
    if exp == "float64":
        notes = {"kernel_exp": "float64", "kernel_exp_check": "skipped: float64 asked for"}
        return build(model, n_features, exp="float64", **kwargs), notes
    rows = check_rows(model)
    fast = build(model, n_features, exp="float32", **kwargs)
    gap, scale, same = exp32_gap(model, fast, rows)
    tolerance = EXP32_TOLERANCE * scale
    keep = same and gap <= tolerance
    check = {
        "max_abs_diff": gap,
        "tolerance": tolerance,
        "rows": len(rows),
        "labels_equal": same,
    }
    if keep:
        return fast, {"kernel_exp": "float32", "kernel_exp_check": check}
    return build(model, n_features, exp="float64", **kwargs), {
        "kernel_exp": "float64",
        "kernel_exp_check": check,
    }
