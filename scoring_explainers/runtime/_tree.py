"""TreeScoringExplainer: exact path-dependent and interventional TreeSHAP, vectorised over
rows, numpy only.

Each leaf's root path is reduced to one element per feature with its zero fraction ``z``
(the share of training cover that follows the path at that feature's splits). For a row,
each element is "on" (``o = 1``) when the row follows the path at all of that feature's
splits. The leaf's contribution to the element's feature is (Linear TreeSHAP's identity)

    v * (o_i - z_i) * integral_0^1 prod_{j != i} (z_j (1 - t) + o_j t) dt,

which depends on the row only through the on/off pattern of the leaf's ``d`` elements.
So for every leaf the ``2**d x d`` contributions are tabulated once at load (Gauss-Legendre
quadrature with ``ceil(d / 2)`` nodes is exact for this polynomial), and explaining a row
is: split directions at every node, the pattern of every leaf, one table lookup per
element, a sum per feature. Ensembles with very deep paths use the quadrature per row
instead of tables (same values, less memory, slower).

Interventional TreeSHAP (a fixed background) also depends on the row only through each
leaf's pattern: the contributions averaged over the background are tabulated once at load
(:func:`_interventional_tables`, a superset sum of the background's pattern histogram per
leaf), so explaining a row costs the same lookups as path-dependent TreeSHAP, whatever the
background size. Without tables (very deep paths) every (row, background row, leaf) is
weighed from bit patterns instead (same values, slower, linear in the background).
"""

from __future__ import annotations

from itertools import product
from math import factorial
from typing import Any, ClassVar, overload

import numpy as np

from ._base import CancelToken, ScoringExplainer, raise_if_cancelled
from ._onnx_model import OnnxModel
from ._registry import builder

__all__ = ["TreeScoringExplainer"]

#: Tables are used while every leaf has at most this many distinct features on its path
#: and all tables together stay under MAX_TABLE_BYTES.
MAX_TABLE_DEPTH = 14
MAX_TABLE_BYTES = 512 * 2**20
#: Cells per interventional pass (bounds memory): (rows x background rows x leaves)
#: without tables, (leaves x histogram bins) and (background rows x leaves) for tables.
INTERVENTIONAL_CELLS = 4_000_000
#: Rows explained per vectorised pass (bounds memory: rows x path elements).
ROW_CHUNK = 32

_ARRAYS = (
    "node_feature",
    "node_threshold",
    "node_nan_left",
    "node_zero_missing",
    "cond_node",
    "cond_left",
    "elem_cond_start",
    "elem_feature",
    "elem_z",
    "leaf_start",
    "leaf_len",
    "leaf_value",
)


def _quadrature(depth: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [0, 1], exact for degree < 2 * n."""
    n = max(1, (depth + 1) // 2)
    t, w = np.polynomial.legendre.leggauss(n)
    return (t + 1) / 2, w / 2


def _tables(
    z: np.ndarray, leaf_start: np.ndarray, leaf_len: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per leaf, the (2**d, d) contributions (without the leaf value), flattened."""
    sizes = (2**leaf_len) * leaf_len
    start = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    flat = np.empty(int(sizes.sum()))
    for d in np.unique(leaf_len):
        leaves = np.flatnonzero(leaf_len == d)
        t, w = _quadrature(int(d))
        bits = np.array(list(product((0.0, 1.0), repeat=int(d))))[:, ::-1]  # bit i of p
        zs = z[leaf_start[leaves][:, None] + np.arange(d)[None, :]]  # (leaves, d)
        factor = zs[:, None, :, None] * (1 - t) + bits[None, :, :, None] * t  # (l, 2^d, d, Q)
        whole = factor.prod(axis=2, keepdims=True)
        table = (bits[None] - zs[:, None, :]) * ((whole / factor) * w).sum(axis=-1)
        index = start[leaves][:, None] + np.arange(2**d * d)[None, :]
        flat[index] = table.reshape(len(leaves), -1)
    return flat, start


def _shapley_weights(depth: int) -> tuple[np.ndarray, np.ndarray]:
    """The interventional Shapley weights by ``(a, c)``, each of shape (depth + 1, depth + 1).

    ``w_in[a, c] = (a-1)! c! / (a+c)!`` (a feature only x follows, ``a >= 1``) and
    ``w_out[a, c] = -a! (c-1)! / (a+c)!`` (a feature only b follows, ``c >= 1``); 0 elsewhere.
    """
    f = np.array([float(factorial(n)) for n in range(2 * depth + 2)])
    a, c = np.meshgrid(np.arange(depth + 1), np.arange(depth + 1), indexing="ij")
    w_in = np.where(a >= 1, f[np.maximum(a - 1, 0)] * f[c] / f[a + c], 0.0)
    w_out = np.where(c >= 1, -f[a] * f[np.maximum(c - 1, 0)] / f[a + c], 0.0)
    return w_in, w_out


def _interventional_tables(
    background_pattern: np.ndarray, leaf_len: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per leaf, the (2**d, d) contributions averaged over the background (without the
    leaf value), flattened in the layout of :func:`_tables`.

    Parameters
    ----------
    background_pattern : ndarray of shape (n_background, n_leaves)
        Bit p: the background row follows the leaf's path at its p-th feature.
    leaf_len : ndarray of shape (n_leaves,)
        ``d``, the number of features on each leaf's path.

    Notes
    -----
    A hybrid row (x on a coalition, b elsewhere) reaches the leaf for some coalition iff x
    or b follows the path at every feature: with ``S = full & ~px`` (where x does not
    follow), iff ``pb`` is a superset of ``S``. Then the features only x follows number
    ``a = d - |pb|`` and those only b follows ``c = |S|``, so the weights depend on b
    only through ``|pb|``. With ``A_k[S] = #{b : pb >= S, |pb| = k}`` (a superset sum
    of the background's pattern histogram, one per ``k``), the entry for x's pattern and
    the leaf's p-th feature is ``sum_k w_out(d-k, |S|) A_k[S]`` when x does not follow at
    p, else ``sum_k w_in(d-k, |S|) (A_k[S] - A_k[S | 1<<p])`` (the b that do not follow
    at p). The cost does not depend on the background size beyond one histogram.
    """
    n_background = len(background_pattern)
    sizes = (2**leaf_len) * leaf_len
    start = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    flat = np.empty(int(sizes.sum()))
    for d in (int(d) for d in np.unique(leaf_len)):
        n_pat = 2**d
        sets = np.arange(n_pat)
        size = np.bitwise_count(sets).astype(np.int64)  # |S|
        k = np.arange(d + 1)[:, None]
        w_in, w_out = _shapley_weights(d)
        m_in = w_in[d - k, size[None, :]]  # (d + 1, 2**d): by k = |pb| and S
        m_out = w_out[d - k, size[None, :]]
        m_shift = np.where(size >= 1, w_in[d - k, np.maximum(size - 1, 0)[None, :]], 0.0)
        bit = np.arange(d)
        in_set = ((sets[:, None] >> bit) & 1).astype(bool)  # (2**d, d): p in S
        with_p = sets[:, None] | (1 << bit)  # (2**d, d): S | 1<<p
        leaves_d = np.flatnonzero(leaf_len == d)
        # leaves per pass: bounds the histograms and the (background x leaves) cells
        step = max(1, INTERVENTIONAL_CELLS // max((d + 1) * n_pat, n_background))
        for begin in range(0, len(leaves_d), step):
            leaves = leaves_d[begin : begin + step]
            g = len(leaves)
            pb = background_pattern[:, leaves].astype(np.int64)  # (B, g)
            cell = (np.arange(g) * (d + 1) + np.bitwise_count(pb)) * n_pat + pb
            counts = np.bincount(cell.reshape(-1), minlength=g * (d + 1) * n_pat)
            sums = counts.astype(np.float64).reshape(g, d + 1, n_pat)
            for j in range(d):  # superset sums, one bit at a time
                halves = sums.reshape(g, d + 1, n_pat >> (j + 1), 2, 1 << j)
                halves[:, :, :, 0, :] += halves[:, :, :, 1, :]
            win = np.einsum("gks,ks->gs", sums, m_in)  # (g, 2**d), by S
            wout = np.einsum("gks,ks->gs", sums, m_out)
            shift = np.einsum("gks,ks->gs", sums, m_shift)
            table = np.where(in_set, wout[:, :, None], win[:, :, None] - shift[:, with_p])
            # rows by x's pattern px = full ^ S, i.e. S in reverse order
            index = start[leaves][:, None] + np.arange(n_pat * d)[None, :]
            flat[index] = table[:, ::-1, :].reshape(g, -1) / n_background
    return flat, start


class _FeatureSums:
    """Sums element contributions times leaf values into (feature, output) columns.

    Elements are sorted by feature, so each feature's terms are one contiguous run and a
    batch is one small product per feature: ``contributions[:, run] @ leaf_value[run]``.
    ``single``: every leaf feeds one output (boosting: its class), so its value can be
    folded into the contribution table; then the products use ``output_of`` (one-hot).
    """

    def __init__(self, feature: np.ndarray, leaf_value: np.ndarray, n_features: int) -> None:
        self.n_features, self.k = n_features, leaf_value.shape[1]
        self.single = bool(self.k == 1 or np.all((leaf_value != 0).sum(axis=1) <= 1))
        self.order = np.argsort(feature, kind="stable")
        self.leaf_value = np.ascontiguousarray(leaf_value[self.order])  # (E, K)
        output = np.argmax(self.leaf_value != 0, axis=1)
        self.output_of = np.zeros_like(self.leaf_value)
        self.output_of[np.arange(len(output)), output] = 1.0
        ordered = feature[self.order]
        starts = np.searchsorted(ordered, np.arange(n_features))
        ends = np.searchsorted(ordered, np.arange(n_features), side="right")
        self.runs = [
            (f, int(b), int(e)) for f, (b, e) in enumerate(zip(starts, ends, strict=True)) if e > b
        ]

    def __call__(self, contributions: np.ndarray, *, weighted: bool) -> np.ndarray:
        """(n, n_elements) in ``order`` -> (n, n_features * n_outputs)."""
        weights = self.leaf_value if weighted else self.output_of
        out = np.zeros((len(contributions), self.n_features, self.k))
        for f, begin, end in self.runs:
            out[:, f, :] = contributions[:, begin:end] @ weights[begin:end]
        return out.reshape(len(contributions), -1)


class _PatternSlots:
    """Every leaf's on/off pattern (bit p: the row follows the path at the leaf's p-th
    feature) from the split directions, without a reduction per element.

    Each leaf gets ``width`` (8 or 16) slots; slot p holds the first condition of the
    p-th element, the later conditions of multi-split features are AND-ed in, unused
    slots read a column that is always False, and ``np.packbits`` over the row turns
    every leaf's slots into its pattern.
    """

    def __init__(self, a: dict[str, np.ndarray], depth: int) -> None:
        n_nodes = len(a["node_feature"])
        self.width = 8 if depth <= 8 else 16  # tables stop at MAX_TABLE_DEPTH <= 16
        n_leaves = len(a["leaf_len"])
        n_elem = len(a["elem_feature"])
        leaf_of = np.repeat(np.arange(n_leaves), a["leaf_len"])
        slot = leaf_of * self.width + (np.arange(n_elem) - a["leaf_start"][leaf_of])
        # direction columns: left (0..N-1), right (N..2N-1), always True, always False
        column = a["cond_node"] + n_nodes * (~a["cond_left"].astype(bool))
        starts = a["elem_cond_start"]
        count = np.diff(np.r_[starts, len(column)])
        self.first = np.full(n_leaves * self.width, 2 * n_nodes + 1, dtype=np.intp)
        self.first[slot] = column[starts]
        self.more = [
            (slot[count > j], column[starts[count > j] + j]) for j in range(1, int(count.max()))
        ]

    def patterns(self, go_left: np.ndarray) -> np.ndarray:
        """(n, n_nodes) split directions -> (n, n_leaves) patterns (uint8 or uint16)."""
        n, n_nodes = go_left.shape
        both = np.empty((n, 2 * n_nodes + 2), dtype=bool)
        both[:, :n_nodes] = go_left
        np.logical_not(go_left, out=both[:, n_nodes : 2 * n_nodes])
        both[:, 2 * n_nodes] = True
        both[:, 2 * n_nodes + 1] = False
        on = np.take(both, self.first, axis=1)
        for slots, columns in self.more:
            on[:, slots] &= np.take(both, columns, axis=1)
        # each leaf's slots are whole bytes of the row: pack the row in one contiguous pass
        packed = np.packbits(on, axis=1, bitorder="little")
        return packed.view("<u2") if self.width == 16 else packed


class TreeScoringExplainer(ScoringExplainer):
    """Exact path-dependent TreeSHAP (what ``shap.TreeExplainer(model)`` computes), or
    interventional TreeSHAP over a background (``feature_perturbation="interventional"``).

    Output spaces as each library defines them: class probabilities for random forests and
    decision trees, the raw margin (log-odds) for gradient boosting (a binary model gets two
    classes ``[-v, v]``), the prediction for regressors. Missing values follow each split's
    learned default direction. ``explain`` is pure (safe from many threads).
    """

    kind: ClassVar[str] = "tree"

    @overload
    def __init__(self, explainer: object, /, initialization_examples: Any = None) -> None: ...

    @overload
    def __init__(
        self,
        *,
        model: OnnxModel,
        arrays: dict[str, np.ndarray],
        decision: str,
        dtype: str,
        binary_margin: bool,
        background: np.ndarray | None = None,
        **common: Any,
    ) -> None: ...

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """From state, keywords only (as ``load`` and ``from_model`` build it). The
        positional ``TreeScoringExplainer(explainer)`` is deprecated: use
        :meth:`from_explainer`."""
        if not self._from_positional(args, kwargs):
            self._build(**kwargs)

    def _build(
        self,
        *,
        model: OnnxModel,
        arrays: dict[str, np.ndarray],
        decision: str,
        dtype: str,
        binary_margin: bool,
        background: np.ndarray | None = None,
        **common: Any,
    ) -> None:
        super().__init__(model=model, **common)
        self.arrays_ = {k: np.asarray(arrays[k]) for k in _ARRAYS}
        if decision not in ("le", "lt") or dtype not in ("float32", "float64"):
            raise ValueError("decision must be le|lt and dtype float32|float64")
        self.decision, self.dtype, self.binary_margin = decision, dtype, bool(binary_margin)
        a = self.arrays_
        n_elem = len(a["elem_feature"])
        leaf_of = np.repeat(np.arange(len(a["leaf_start"])), a["leaf_len"])
        if len(leaf_of) != n_elem or (n_elem and a["elem_cond_start"].max() >= len(a["cond_node"])):
            raise ValueError("inconsistent path arrays")
        self._leaf_of = leaf_of
        self._pos = np.arange(n_elem) - a["leaf_start"][leaf_of]
        self._zero_missing = bool(a["node_zero_missing"].any())
        # element contributions -> (feature, output) sums over contiguous segments
        # the model's own columns (engineered ones when there is a preprocessor)
        self._width = len(self.engineered_features)
        self._sums = _FeatureSums(a["elem_feature"], a["leaf_value"][leaf_of], self._width)
        self._order = self._sums.order
        depth = int(a["leaf_len"].max()) if len(a["leaf_len"]) else 0
        table_bytes = int(((2 ** a["leaf_len"].astype(np.float64)) * a["leaf_len"]).sum()) * 8
        self.background_ = None if background is None else np.asarray(background, np.float64)
        if self.background_ is not None and len(self.background_) == 0:
            raise ValueError("the interventional background has no rows")
        if self.background_ is not None and depth > 30:
            raise ValueError("interventional TreeSHAP takes paths of at most 30 features")
        self.uses_tables_ = 0 <= depth <= MAX_TABLE_DEPTH and table_bytes <= MAX_TABLE_BYTES
        if self.uses_tables_ and n_elem:
            self._slots = _PatternSlots(a, depth)
            if self.background_ is None:
                self._table, start = _tables(a["elem_z"], a["leaf_start"], a["leaf_len"])
            else:  # the background is fixed: average over it once, per pattern of x
                self._table, start = _interventional_tables(
                    self._background_patterns(self.background_), a["leaf_len"]
                )
            self._index_dtype = np.int32 if len(self._table) < 2**31 else np.int64
            if self._sums.single:  # one output per leaf: its value goes into the table
                sizes = (2 ** a["leaf_len"]) * a["leaf_len"]
                self._table *= np.repeat(a["leaf_value"].sum(axis=1), sizes)
            # lookups come out in summation order
            elem_base = (start[leaf_of] + self._pos).astype(self._index_dtype)
            self._sorted_base = elem_base[self._order]
            self._sorted_leaf = leaf_of[self._order]
        elif self.background_ is not None and n_elem:
            self._prepare_pairs(self.background_, depth)
        elif self.background_ is None:
            self._t, self._w = _quadrature(depth)

    def _background_patterns(self, background: np.ndarray) -> np.ndarray:
        """Every leaf's pattern for every background row, (n_background, n_leaves) uint8 or
        uint16, computed in passes of ``ROW_CHUNK * 8`` rows (bounds the split directions)."""
        step = ROW_CHUNK * 8
        patterns = [
            self._slots.patterns(self._go(background[begin : begin + step]))
            for begin in range(0, len(background), step)
        ]
        return np.concatenate(patterns)

    def _prepare_pairs(self, background: np.ndarray, depth: int) -> None:
        """State of the per-(row, background row) evaluation, for paths too deep for
        tables: the background's leaf patterns and per-element bits, the weights."""
        a, leaf_of = self.arrays_, self._leaf_of
        on_background = self._on(background)  # (B, E)
        positions = self._pos
        weights = (1 << positions).astype(np.int64)
        background_pattern = np.add.reduceat(
            on_background * weights, a["leaf_start"], axis=1
        ).astype(np.int32)  # (B, L)
        self._full_pattern = ((1 << a["leaf_len"]) - 1).astype(np.int32)
        width = int(a["leaf_len"].max())
        # bits[l, p, b]: background row b follows leaf l's path at its p-th feature
        self._background_bits = np.zeros((len(a["leaf_len"]), width, len(background)))
        self._background_bits[leaf_of, positions, :] = on_background.T
        self._element_slot = leaf_of * width + positions
        self._background_pattern_t = np.ascontiguousarray(background_pattern.T)[:, :, None]
        self._pattern_weights = weights
        w_in, w_out = _shapley_weights(depth)
        # flat weight tables indexed by n_x * stride + n_b, with a zero slot for dead leaves
        self._count_stride = depth + 1
        self._dead_slot = (depth + 1) * (depth + 1)
        self._w_in_flat = np.append(w_in.reshape(-1), 0.0)
        self._w_out_flat = np.append(w_out.reshape(-1), 0.0)

    # -- distill ------------------------------------------------------------------------
    @classmethod
    def from_model(
        cls,
        model: Any,
        initialization_examples: Any = None,
        *,
        features: list[str] | None = None,
        classes: list[Any] | None = None,
        feature_perturbation: str = "tree_path_dependent",
        threads: int = 1,
    ) -> TreeScoringExplainer:
        """Distill from a fitted tree ensemble (or a Pipeline ending in one).

        Parameters
        ----------
        model : scikit-learn DecisionTree*/RandomForest*/ExtraTrees*/GradientBoosting*/
            HistGradientBoosting* (numeric splits), XGBoost or LightGBM model (sklearn API
            or Booster). HistGradientBoosting* is taken bare (not inside a Pipeline): its
            prediction graph is built from the extracted trees, as for any ensemble
            skl2onnx fails to convert.
        initialization_examples : array-like of shape (n_rows, n_features), optional
            Used to check the ONNX conversion; the background for ``"interventional"``
            (every row is used; its size costs time and memory at load, not per row,
            while paths fit the tables).
        features, classes : optional
            As in :meth:`KernelScoringExplainer.from_model`.
        feature_perturbation : {"tree_path_dependent", "interventional"}
            Path-dependent (shap's default, no background, cover-weighted) or
            interventional (exact Shapley values of ``E_b[f(x_S, b_notS)]`` over the
            background rows, as ``shap.TreeExplainer(model, data,
            feature_perturbation="interventional")``).
        """
        explainer: TreeScoringExplainer = builder(cls.kind, "from_model")(
            cls,
            model,
            initialization_examples,
            features=features,
            classes=classes,
            feature_perturbation=feature_perturbation,
            threads=threads,
        )
        return explainer

    # -- run time -----------------------------------------------------------------------
    def _on(self, X: np.ndarray) -> np.ndarray:
        """Element on/off (n, n_elements): the row follows the path at that feature."""
        a = self.arrays_
        follows = self._go(X)[:, a["cond_node"]] == a["cond_left"]
        return np.logical_and.reduceat(follows, a["elem_cond_start"], axis=1)

    def _go(self, X: np.ndarray) -> np.ndarray:
        """Split directions (n, n_nodes): True where the row goes left."""
        a = self.arrays_
        x = X.astype(np.float32 if self.dtype == "float32" else np.float64)
        values = x[:, a["node_feature"]]
        if self.decision == "le":
            go_left = values <= a["node_threshold"]
        else:
            go_left = values < a["node_threshold"]
        missing = np.isnan(values)
        if self._zero_missing:
            missing |= a["node_zero_missing"] & (np.abs(np.nan_to_num(values)) <= 1e-35)
        if missing.any():
            go_left = np.where(missing, a["node_nan_left"], go_left)
        return go_left

    def _element_values(self, X: np.ndarray) -> np.ndarray:
        """Each element's contribution (n, n_elements), in the summation order
        ``self._order``; times the leaf value when the table holds it."""
        a = self.arrays_
        if self.uses_tables_:
            pattern = self._slots.patterns(self._go(X))  # (n, leaves)
            offset: np.ndarray = pattern.astype(self._index_dtype)
            offset *= a["leaf_len"].astype(self._index_dtype)
            index: np.ndarray = offset[:, self._sorted_leaf]
            index += self._sorted_base
            return np.take(self._table, index)
        z = a["elem_z"]
        o = self._on(X).astype(np.float64)
        factor = z[None, :, None] * (1 - self._t) + o[:, :, None] * self._t
        whole = np.multiply.reduceat(factor, a["leaf_start"], axis=1)
        values = (o - z) * ((whole[:, self._leaf_of, :] / factor) * self._w).sum(axis=-1)
        ordered: np.ndarray = values[:, self._order]
        return ordered

    def _interventional(self, on: np.ndarray) -> np.ndarray:
        """Element contributions averaged over the background, (n, n_elements), for
        ``on`` of shape (n, n_elements) (paths too deep for :func:`_interventional_tables`).

        For a row x and a background row b, a leaf is reached by the hybrid row
        (x on S, b elsewhere) iff every feature where only x follows the path is in S and
        every feature where only b follows it is not; the Shapley values of that game are
        (a-1)! b! / (a+b)! for the a features of the first kind and -a! (b-1)! / (a+b)! for
        the b of the second. Per (row, background row, leaf) only the counts matter, taken
        from bit patterns; the per-feature sums over the background are one batched product.
        """
        starts = self.arrays_["leaf_start"]
        n_background = self._background_bits.shape[2]
        x_pattern = np.add.reduceat(on * self._pattern_weights, starts, axis=1).astype(np.int32)
        # leaf-major layout (L, B, n): the product below then needs no copy
        px = np.ascontiguousarray(x_pattern.T)[:, None, :]  # (L, 1, n)
        pb = self._background_pattern_t  # (L, B, 1)
        full = self._full_pattern[:, None, None]
        counts = np.bitwise_count(px & ~pb).astype(np.int32) * self._count_stride
        counts += np.bitwise_count(~px & pb & full)
        # a leaf no hybrid row reaches (a feature where neither follows) weighs nothing
        counts[(~(px | pb) & full) != 0] = self._dead_slot
        w_in = self._w_in_flat[counts]  # (L, B, n)
        w_out = self._w_out_flat[counts]
        bits = self._background_bits  # (L, width, B)
        in_with_bit = np.matmul(bits, w_in)  # (L, width, n): sums over b of bit * weight
        out_with_bit = np.matmul(bits, w_out)
        in_total = w_in.sum(axis=1)  # (L, n)
        slot = self._element_slot
        in_x = in_total[self._leaf_of] - in_with_bit.reshape(-1, len(on))[slot]  # b off, x on
        out_b = out_with_bit.reshape(-1, len(on))[slot]  # b on, x off
        ordered: np.ndarray = (np.where(on.T, in_x, out_b).T / n_background)[:, self._order]
        return ordered

    def _attribute(self, X: np.ndarray, outputs: np.ndarray | None) -> np.ndarray:
        return self._attribute_until(X, outputs, None)

    def _attribute_until(
        self, X: np.ndarray, outputs: np.ndarray | None, cancel: CancelToken | None
    ) -> np.ndarray:
        """Rows in chunks of ``ROW_CHUNK`` (fewer for per-pair interventional values);
        ``cancel`` is checked before each chunk."""
        raise_if_cancelled(cancel)
        k = self.arrays_["leaf_value"].shape[1]
        values = np.zeros((len(X), self._width * k))
        if len(self.arrays_["elem_feature"]):
            pairs = self.background_ is not None and not self.uses_tables_
            step = ROW_CHUNK
            if pairs:
                cells = self._background_bits.shape[2] * len(self.arrays_["leaf_len"])
                step = max(1, INTERVENTIONAL_CELLS // max(1, cells))
            for start in range(0, len(X), step):
                if start:
                    raise_if_cancelled(cancel)
                rows = slice(start, start + step)
                if pairs:
                    contributions = self._interventional(self._on(X[rows]))
                    values[rows] = self._sums(contributions, weighted=True)
                else:
                    contributions = self._element_values(X[rows])
                    weighted = not (self.uses_tables_ and self._sums.single)
                    values[rows] = self._sums(contributions, weighted=weighted)
        values = values.reshape(len(X), self._width, k)
        if self.binary_margin:
            return np.concatenate([-values, values], axis=2)
        return values

    def margin(self, X: Any) -> np.ndarray:
        """The explained output from the trees themselves, shape (n_rows, n_outputs)."""
        values = self._attribute(self._check(X), None)
        margin: np.ndarray = values.sum(axis=1) + self._expected_values
        return margin

    # -- persistence --------------------------------------------------------------------
    def _arrays(self) -> dict[str, np.ndarray]:
        arrays = dict(self.arrays_)
        if self.background_ is not None:
            arrays["background"] = self.background_
        return arrays

    def _settings(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "dtype": self.dtype,
            "binary_margin": self.binary_margin,
            "feature_perturbation": (
                "tree_path_dependent" if self.background_ is None else "interventional"
            ),
        }

    @classmethod
    def _array_shapes(
        cls, settings: dict[str, Any], n_features: int, n_outputs: int, *, n_raw: int
    ) -> dict[str, tuple[int | None, ...]]:
        k = 1 if settings.get("binary_margin") else n_outputs
        return {
            "node_feature": (None,),
            "node_threshold": (None,),
            "node_nan_left": (None,),
            "node_zero_missing": (None,),
            "cond_node": (None,),
            "cond_left": (None,),
            "elem_cond_start": (None,),
            "elem_feature": (None,),
            "elem_z": (None,),
            "leaf_start": (None,),
            "leaf_len": (None,),
            "leaf_value": (None, k),
            **(
                {"background": (None, n_features)}
                if settings.get("feature_perturbation") == "interventional"
                else {}
            ),
        }

    @classmethod
    def _restore(
        cls, *, arrays: dict[str, np.ndarray], settings: dict[str, Any], common: dict[str, Any]
    ) -> TreeScoringExplainer:
        a = arrays
        n_features = len(common["features"])
        if len(a["node_feature"]) and (
            a["node_feature"].min() < 0 or a["node_feature"].max() >= n_features
        ):
            raise ValueError("split features out of range")
        for name, size in (("cond_node", len(a["node_feature"])), ("elem_feature", n_features)):
            if len(a[name]) and (a[name].min() < 0 or a[name].max() >= size):
                raise ValueError(f"{name} out of range")
        if len(a["leaf_len"]) and (a["leaf_len"].min() < 1 or a["leaf_len"].max() > 64):
            raise ValueError("leaf path lengths out of range")
        return cls(
            arrays=arrays,
            decision=settings.get("decision", ""),
            dtype=settings.get("dtype", ""),
            binary_margin=bool(settings.get("binary_margin", False)),
            background=arrays.get("background"),
            **common,
        )
