"""KernelScoringExplainer: model-agnostic Kernel SHAP, vectorised, on onnxruntime."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, overload

import numpy as np

from .._errors import InputError
from ._base import CancelToken, ScoringExplainer, raise_if_cancelled
from ._design import (
    CoalitionDesign,
    check_units,
    checkpoints,
    n_groups,
    projection,
    sub_design,
)
from ._onnx_model import OnnxModel
from ._registry import builder

__all__ = ["KernelScoringExplainer"]

#: Synthetic rows evaluated per onnxruntime call; bounds memory for any batch size.
DEFAULT_MAX_SYNTHETIC_ROWS = 8_192
#: Largest chunk an artifact may ask for (bounds the memory of one model call).
MAX_CHUNK = 1 << 22
#: Coalition values held at once per block of rows with standard errors (8 MiB).
MAX_BLOCK_VALUES = 1 << 20


@dataclass(frozen=True)
class _PrefixMaps:
    """The linear maps of a prefix of ``u`` sampling units (``s`` coalitions, ``M``
    players, ``G`` jackknife groups): the prefix's own and, stacked, those of its ``G``
    delete-a-group sub-designs (zero columns for the deleted coalitions)."""

    projection: np.ndarray  # (M, s)
    constraint: np.ndarray  # (M,)
    jack_projection: np.ndarray  # (G * M, s)
    jack_constraint: np.ndarray  # (G, M)
    zw: np.ndarray | None  # (M, s), for max_features
    gram: np.ndarray | None  # (M, M)
    jack_zw: np.ndarray | None  # (G, M, s)
    jack_gram: np.ndarray | None  # (G, M, M)
    #: A stored (Bayesian) prefix's least-squares delete-a-group maps, (G * M, s) and
    #: (G, M): its standard error is the larger of the two jackknifes.
    guard_projection: np.ndarray | None = None
    guard_constraint: np.ndarray | None = None


class KernelScoringExplainer(ScoringExplainer):
    """Kernel SHAP with a design fixed at distill time.

    The background (a weighted k-means summary), the coalitions and the constrained
    weighted least-squares projection are fixed when the explainer is made, so at run time
    a batch of rows becomes one tensor of synthetic rows evaluated by onnxruntime in
    bounded chunks, and the attributions are one matrix product. The same row always gets
    the same values, whatever else is in the batch, and ``explain`` never writes to
    ``self`` (safe to share between threads).

    Attributions are in the space of the model's output: class probabilities for
    classifiers (``output_space="probability"``), the prediction for regressors
    (``"raw"``). Make one with :meth:`from_model`, :meth:`from_explainer` or
    :func:`scoring_explainers.load`.
    """

    kind: ClassVar[str] = "kernel"

    @overload
    def __init__(self, explainer: object, /, initialization_examples: Any = None) -> None: ...

    @overload
    def __init__(
        self,
        *,
        model: OnnxModel,
        background: np.ndarray,
        background_weights: np.ndarray,
        masks: np.ndarray,
        coalition_weights: np.ndarray,
        exact: bool,
        projection_matrix: np.ndarray | None = None,
        constraint: np.ndarray | None = None,
        max_synthetic_rows: int = DEFAULT_MAX_SYNTHETIC_ROWS,
        max_features: int | None = None,
        groups: np.ndarray | None = None,
        coalition_units: np.ndarray | None = None,
        jackknife_projection: np.ndarray | None = None,
        jackknife_constraint: np.ndarray | None = None,
        prefix_maps: dict[str, np.ndarray] | None = None,
        **common: Any,
    ) -> None: ...

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """From state, keywords only (as ``load`` and ``from_model`` build it). The
        positional ``KernelScoringExplainer(explainer)`` is deprecated: use
        :meth:`from_explainer`."""
        if not self._from_positional(args, kwargs):
            self._build(**kwargs)

    def _build(
        self,
        *,
        model: OnnxModel,
        background: np.ndarray,
        background_weights: np.ndarray,
        masks: np.ndarray,
        coalition_weights: np.ndarray,
        exact: bool,
        projection_matrix: np.ndarray | None = None,
        constraint: np.ndarray | None = None,
        max_synthetic_rows: int = DEFAULT_MAX_SYNTHETIC_ROWS,
        max_features: int | None = None,
        groups: np.ndarray | None = None,
        coalition_units: np.ndarray | None = None,
        jackknife_projection: np.ndarray | None = None,
        jackknife_constraint: np.ndarray | None = None,
        prefix_maps: dict[str, np.ndarray] | None = None,
        **common: Any,
    ) -> None:
        """State constructor.

        ``coalition_units`` (optional, shape ``(n_coalitions,)``, int) are the design's
        sampling units (:class:`~scoring_explainers.runtime._design.CoalitionDesign`):
        ``-1`` for the enumerated coalitions, first, then ``0, 0, 1, 1, ...``, one
        complementary pair per unit in draw order. They enable
        ``score(uncertainty=True)`` and ``score(tolerance=...)``; ``None`` (a design
        made before units were recorded) allows neither for a sampled design.

        ``jackknife_projection`` (``(G, n_players, n_coalitions)``) and
        ``jackknife_constraint`` (``(G, n_players)``), optional: the whole design's
        delete-a-group maps when its estimator is not least squares (a Bayesian map, whose
        sub-designs' maps are not the least-squares ones); zero in each group's deleted
        columns. ``None``: derived by least squares (the sub-design rule).

        ``prefix_maps`` (optional, with the jackknife maps): the same for every tolerance
        checkpoint short of the whole design (:meth:`unit_checkpoints` but the last),
        concatenated over the checkpoints' coalitions: ``"projection"``
        ``(n_players, sum_c s_c)``, ``"constraint"`` ``(C, n_players)``,
        ``"jackknife_projection"`` ``(G, n_players, sum_c s_c)``,
        ``"jackknife_constraint"`` ``(C, G, n_players)``, where checkpoint ``c`` of ``u_c``
        units has ``s_c`` = enumerated + ``2 u_c`` coalitions. ``None``: least squares.

        ``groups`` (optional, shape ``(n_players, n_columns)``, bool) makes the players the
        input features (the raw features when there is a preprocessor) instead of the
        model's columns: each model column belongs to exactly one player, ``masks`` are
        over the players (shape ``(n_coalitions, n_players)``) and a coalition takes all of
        a player's columns from the explained row together; ``background`` stays in the
        model's columns. Values are then reported per player directly, exact Shapley values
        of the grouped game when every coalition is enumerated. ``None`` keeps one player
        per model column.
        """
        super().__init__(model=model, **common)
        self.background_ = np.asarray(background, dtype=np.float64)
        self.background_weights_ = np.asarray(background_weights, dtype=np.float64)
        self.masks_ = np.asarray(masks, dtype=bool)
        self.groups_: np.ndarray | None = None
        self._column_masks = self.masks_
        if groups is not None:
            self.groups_ = self._checked_groups(groups)
            self._column_masks = (self.masks_.astype(np.int64) @ self.groups_.astype(np.int64)) > 0
            self._raw_players = True
        self.coalition_weights_ = np.asarray(coalition_weights, dtype=np.float64)
        self.exact_ = bool(exact)
        self.units_: np.ndarray | None = None
        if coalition_units is not None:
            self.units_ = check_units(coalition_units, self.masks_)
            if self.exact_ and (self.units_ >= 0).any():
                raise ValueError("units: an exact design has no sampled coalitions")
        n_sampled = 0 if self.units_ is None else int((self.units_ >= 0).sum())
        self._n_fixed = self.masks_.shape[0] - n_sampled
        self._n_units = n_sampled // 2
        self._prefix_maps: dict[int, _PrefixMaps] = {}
        self._prefix_lock = threading.Lock()
        self.max_synthetic_rows = int(max_synthetic_rows)
        if projection_matrix is None or constraint is None:
            projection_matrix, constraint = projection(
                CoalitionDesign(self.masks_, self.coalition_weights_, self.exact_)
            )
        self.projection_ = np.asarray(projection_matrix, dtype=np.float64)
        self.constraint_ = np.asarray(constraint, dtype=np.float64)
        self.jackknife_projection_: np.ndarray | None = None
        self.jackknife_constraint_: np.ndarray | None = None
        if (jackknife_projection is None) != (jackknife_constraint is None):
            raise ValueError("jackknife_projection and jackknife_constraint go together")
        if jackknife_projection is not None and jackknife_constraint is not None:
            self._set_jackknife(jackknife_projection, jackknife_constraint)
        self.prefix_maps_: dict[str, np.ndarray] | None = None
        self._stored_prefixes: dict[int, tuple[np.ndarray, ...]] = {}
        if prefix_maps is not None:
            self._set_prefix_maps(prefix_maps)
        self._background32 = self.background_.astype(np.float32)
        self._gather = self._gather_index()
        m = self.masks_.shape[1]
        if max_features is not None and not 1 <= int(max_features) <= m:
            raise ValueError(f"max_features must be in [1, {m}], got {max_features}")
        # Selecting features only pays for sampled designs; enumerated ones are exact.
        self.max_features = (
            None
            if max_features is None or self.exact_ or int(max_features) >= m
            else int(max_features)
        )
        if self.max_features is not None:
            Z = self.masks_.astype(np.float64)
            self._zw = Z.T * self.coalition_weights_  # (M, S)
            self._gram = self._zw @ Z  # (M, M)

    def _set_jackknife(self, projection_maps: np.ndarray, constraints: np.ndarray) -> None:
        """Check and keep the whole design's stored delete-a-group maps."""
        if self.units_ is None or self._n_units == 0:
            raise ValueError("jackknife maps need a design with sampling units")
        s, m = self.masks_.shape
        g = n_groups(self._n_units)
        maps = np.asarray(projection_maps, dtype=np.float64)
        consts = np.asarray(constraints, dtype=np.float64)
        if maps.shape != (g, m, s) or consts.shape != (g, m):
            raise ValueError(
                f"jackknife maps must be ({g}, {m}, {s}) and ({g}, {m}), got "
                f"{maps.shape} and {consts.shape}"
            )
        if not (np.isfinite(maps).all() and np.isfinite(consts).all()):
            raise ValueError("jackknife maps must be finite")
        if not self._zero_where_deleted(maps, self.units_):
            raise ValueError("jackknife maps must be zero in each group's deleted coalitions")
        self.jackknife_projection_ = maps
        self.jackknife_constraint_ = consts

    @staticmethod
    def _zero_where_deleted(maps: np.ndarray, units: np.ndarray) -> bool:
        """Whether delete-a-group maps (G, M, s) are zero in the coalitions of each group's
        deleted units (``units`` (s,), unit ``i`` in group ``i % G``)."""
        g = maps.shape[0]
        deleted = (units[None, :] >= 0) & (units[None, :] % g == np.arange(g)[:, None])
        return not np.abs(maps[np.broadcast_to(deleted[:, None, :], maps.shape)]).any()

    #: Arrays of stored prefix maps (artifact members ``prefix_<name>``).
    PREFIX_MAPS = ("projection", "constraint", "jackknife_projection", "jackknife_constraint")

    def _set_prefix_maps(self, maps: dict[str, np.ndarray]) -> None:
        """Check and keep the stored maps of the tolerance checkpoints short of the whole
        design (see ``prefix_maps`` in the constructor)."""
        if self.jackknife_projection_ is None or self.units_ is None:
            raise ValueError("prefix maps need a design with stored jackknife maps")
        if sorted(maps) != sorted(self.PREFIX_MAPS):
            raise ValueError(f"prefix maps must be exactly {list(self.PREFIX_MAPS)}")
        arrays = {name: np.asarray(maps[name], dtype=np.float64) for name in self.PREFIX_MAPS}
        m = self.masks_.shape[1]
        g = n_groups(self._n_units)
        prefixes = checkpoints(self._n_units)[:-1]
        sizes = [self._n_fixed + 2 * u for u in prefixes]
        width, count = sum(sizes), len(prefixes)
        expected = {
            "projection": (m, width),
            "constraint": (count, m),
            "jackknife_projection": (g, m, width),
            "jackknife_constraint": (count, g, m),
        }
        for name, shape in expected.items():
            if arrays[name].shape != shape:
                raise ValueError(
                    f"prefix maps: {name} must be {shape} for checkpoints {prefixes}, got "
                    f"{arrays[name].shape}"
                )
            if not np.isfinite(arrays[name]).all():
                raise ValueError(f"prefix maps: {name} must be finite")
        start = 0
        for c, (u, size) in enumerate(zip(prefixes, sizes, strict=True)):
            cols = slice(start, start + size)
            jack = arrays["jackknife_projection"][:, :, cols]
            if not self._zero_where_deleted(jack, self.units_[:size]):
                raise ValueError(
                    f"prefix maps: the jackknife maps of checkpoint {u} must be zero in each "
                    "group's deleted coalitions"
                )
            self._stored_prefixes[u] = (
                arrays["projection"][:, cols],
                arrays["constraint"][c],
                jack,
                arrays["jackknife_constraint"][c],
            )
            start += size
        self.prefix_maps_ = arrays

    def _checked_groups(self, groups: np.ndarray) -> np.ndarray:
        """``groups`` as a bool (n_players, n_columns) matrix, every column owned once."""
        matrix = np.asarray(groups)
        if matrix.dtype.kind not in "biuf":
            raise ValueError(f"groups must be a boolean matrix, got dtype {matrix.dtype}")
        shape = (len(self.features), len(self._features))
        if matrix.shape != shape:
            raise ValueError(
                f"groups must be (n_features, n_model_columns) = {shape}, got {matrix.shape}"
            )
        if not np.isin(matrix, (0, 1)).all():
            raise ValueError("groups must hold only 0/1 (false/true)")
        matrix = matrix.astype(bool)
        owners = matrix.sum(axis=0)
        if (owners != 1).any():
            column = int(np.flatnonzero(owners != 1)[0])
            raise ValueError(
                f"every model column must belong to exactly one player; column "
                f"{self._features[column]!r} belongs to {int(owners[column])}"
            )
        if self.masks_.ndim != 2 or self.masks_.shape[1] != shape[0]:
            raise ValueError(
                f"with groups, masks must be (n_coalitions, {shape[0]}) over the players, "
                f"got {self.masks_.shape}"
            )
        return matrix

    @property
    def players(self) -> Literal["model", "raw"]:
        """``"raw"``: the players are the input (raw) features, grouped by ``groups_``;
        ``"model"``: one player per model column (values summed by the feature map)."""
        return "raw" if self.groups_ is not None else "model"

    # -- distill ----------------------------------------------------------------------
    @classmethod
    def from_model(
        cls,
        model: Any,
        initialization_examples: Any,
        *,
        features: list[str] | None = None,
        classes: list[Any] | None = None,
        nclusters: int | None = 10,
        nsamples: int | Literal["auto"] = "auto",
        random_state: int = 0,
        max_features: int | None = None,
        background_weights: np.ndarray | None = None,
        allow_missing: bool | None = None,
        threads: int = 1,
        max_synthetic_rows: int | Literal["auto"] = "auto",
        require_onnx: bool = True,
        design: str = "bayes",
    ) -> KernelScoringExplainer:
        """Distill a Kernel scoring explainer from a fitted model.

        Parameters
        ----------
        model : fitted scikit-learn estimator or Pipeline, LightGBM/XGBoost model, or ONNX
            model (path, bytes or ``onnx.ModelProto``); converted once with
            :func:`scoring_explainers.convert.to_onnx`.
        initialization_examples : array-like of shape (n_rows, n_features) or DataFrame
            Data the background is summarised from (typically the training set).
        features : list of str, optional
            Feature names; default: DataFrame columns, the model's ``feature_names_in_``,
            else ``feature_0`` ...
        classes : list, optional
            Class names to report instead of the model's labels (same order).
        nclusters : int or None, default=10
            Background size: weighted k-means summary (centres snapped to observed values,
            weights = cluster shares). ``None`` keeps every row with equal weights.
        nsamples : int or "auto", default="auto"
            Coalitions per row. ``"auto"`` = ``2 * M + 2048`` as in shap. With
            ``2**M - 2 <= nsamples`` every coalition is enumerated and the values are exact
            Shapley values with respect to the background.
        random_state : int, default=0
            Seeds k-means and the sampled part of the coalition design.
        max_features : int, optional
            Give non-zero values to at most this many features per row, as shap's
            ``l1_reg="num_features(k)"``: the features with the largest full-regression
            values (summed over classes) are kept and the constrained regression is
            refitted on them; the others get 0. When few features carry the output (the
            usual case with many features) this lowers the error of a sampled design
            several-fold at the same budget. Ignored when every coalition is enumerated
            (the values are exact then). Additivity holds either way.
        background_weights : array-like of shape (n_rows,), optional
            Row weights of ``initialization_examples`` (e.g. a summary made elsewhere,
            with ``nclusters=None``).
        allow_missing : bool, optional
            Accept NaN inputs. Default: probe the model (allowed when it gives finite
            outputs for rows with a missing value in any feature).
        threads : int, default=1
            onnxruntime intra-op threads.
        max_synthetic_rows : int or "auto", default="auto"
            Synthetic rows per model call; bounds memory. ``"auto"`` times the model on
            a synthetic stream at distill time and keeps the fastest chunk size (small
            chunks keep a model's intermediates in cache, large ones save per-call
            overhead; which wins depends on the model).
        require_onnx : bool, default=True
            With ``False``, a model that does not convert to ONNX is called in Python:
            the explainer works in-process (the full explainers use this) but cannot be
            saved.
        design : {"bayes", "paired", "stratified"}, default="bayes"
            How a sampled budget is spent and turned into values (fixed at distill time;
            the run-time cost is the same). ``"bayes"``: paired draws, a fixed number per
            coalition size, and the posterior mean of the Shapley values under a prior on
            the game's interactions fitted to a few training rows. ``"paired"`` and
            ``"stratified"``: Kernel SHAP's weighted least squares on randomly sized or
            per-size paired draws. See the README ("Coalition designs").
        """
        explainer: KernelScoringExplainer = builder(cls.kind, "from_model")(
            cls,
            model,
            initialization_examples,
            features=features,
            classes=classes,
            nclusters=nclusters,
            nsamples=nsamples,
            random_state=random_state,
            max_features=max_features,
            background_weights=background_weights,
            allow_missing=allow_missing,
            threads=threads,
            max_synthetic_rows=max_synthetic_rows,
            require_onnx=require_onnx,
            design=design,
        )
        return explainer

    # -- run time ---------------------------------------------------------------------
    #: Largest gather index kept in memory (entries); above it rows are built with `where`.
    MAX_GATHER_ENTRIES = 8_000_000

    def _gather_index(self) -> np.ndarray | None:
        """Positions in ``[x, background.ravel()]`` of every synthetic value, or None."""
        s, m = self._column_masks.shape
        b = self.background_.shape[0]
        if s * b * m > self.MAX_GATHER_ENTRIES:
            return None
        feature = np.arange(m)
        from_background = m + np.arange(b)[:, None] * m + feature[None, :]  # (b, m)
        index = np.where(
            self._column_masks[:, None, :], feature[None, None, :], from_background[None, :, :]
        )
        return index.reshape(-1).astype(np.intp)

    @property
    def n_coalitions(self) -> int:
        return int(self.masks_.shape[0])

    def synthetic_rows(self, X32: np.ndarray, coalitions: slice) -> np.ndarray:
        """The rows the model is evaluated on: x on each coalition, the background elsewhere.

        Parameters
        ----------
        X32 : ndarray of shape (r, n_features), float32
        coalitions : slice of the coalition design

        Returns
        -------
        ndarray of shape (r * n_coalitions * n_background, n_features), float32
            Ordered by row, then coalition, then background row.
        """
        r, m = X32.shape
        b = self._background32.shape[0]
        s = len(range(*coalitions.indices(self.masks_.shape[0])))
        if self._gather is not None:
            # One gather from [x, background] with a precomputed index: several times
            # faster than a 4-D broadcast `where` for small feature counts.
            source = np.empty((r, m + b * m), dtype=np.float32)
            source[:, :m] = X32
            source[:, m:] = self._background32.reshape(1, -1)
            start, stop = coalitions.start * b * m, (coalitions.start + s) * b * m
            return np.take(source, self._gather[start:stop], axis=1).reshape(r * s * b, m)
        masks = self._column_masks[coalitions]
        synthetic = np.where(
            masks[None, :, None, :], X32[:, None, None, :], self._background32[None, None]
        )
        return synthetic.reshape(r * s * b, m)

    def _coalition_values(self, X32: np.ndarray, coalitions: slice) -> np.ndarray:
        """v(z) for rows X32 (r, M) and a slice of coalitions: shape (r, s, K).

        The weighted mean over the background is summed in an order fixed by the background
        size alone (:meth:`_sum_over_background`), so a value does not depend on how many
        rows and coalitions share its chunk: one matrix product for the chunk would round
        differently with its shape (BLAS picks its kernels and blocking by shape).
        """
        r = X32.shape[0]
        b = self._background32.shape[0]
        out = self._model.outputs(self.synthetic_rows(X32, coalitions))
        k = out.shape[1]
        n = out.shape[0] // b
        # Row j * K + c: background row j's weighted output c for each of the n (row,
        # coalition) pairs, contiguous, so that the sums below run over long blocks.
        terms = np.empty((b * k, n))
        weights = np.repeat(self.background_weights_, k)[:, None]
        np.multiply(out.reshape(n, b * k).T, weights, out=terms)
        return self._sum_over_background(terms, k).T.reshape(r, -1, k)

    @staticmethod
    def _sum_over_background(terms: np.ndarray, k: int) -> np.ndarray:
        """Sum the ``b`` blocks of ``k`` rows of ``terms`` (b * k, n) by a pairwise tree.

        Only elementwise additions (each rounded on its own) in an order fixed by ``b``
        alone, so every entry is the same whatever ``n`` is. Overwrites ``terms``.

        Returns
        -------
        ndarray of shape (k, n)
        """
        b = terms.shape[0] // k
        while b > 1:
            half = b // 2  # block i += block i + b - half; an odd b's middle block waits
            terms[: half * k] += terms[(b - half) * k : b * k]
            b -= half
        return terms[:k]

    def chunk_plan(self, n_rows: int) -> Iterator[tuple[slice, slice]]:
        """The (rows, coalitions) blocks evaluated per onnxruntime call, in order.

        Whole rows are grouped while their synthetic rows fit ``max_synthetic_rows``;
        a row whose synthetic rows do not fit is split by coalitions.
        """
        return self._range_plan(n_rows, 0, self.masks_.shape[0])

    def _attribute(self, X: np.ndarray, outputs: np.ndarray | None) -> np.ndarray:
        return self._attribute_until(X, outputs, None)

    def _attribute_until(
        self, X: np.ndarray, outputs: np.ndarray | None, cancel: CancelToken | None
    ) -> np.ndarray:
        """Attributions chunk by chunk; ``cancel`` is checked before each chunk."""
        if outputs is None:
            outputs = self._model.outputs(X)
        X32 = X.astype(np.float32)
        n = X.shape[0]
        s, m = self.masks_.shape  # m players
        expected = self._expected_values
        values = np.empty((n, m, outputs.shape[1]))
        pieces: list[np.ndarray] = []
        for rows, coalitions in self.chunk_plan(n):
            raise_if_cancelled(cancel)
            pieces.append(self._coalition_values(X32[rows], coalitions))
            if coalitions.stop == s:  # every coalition of these rows is evaluated
                v = pieces[0] if len(pieces) == 1 else np.concatenate(pieces, axis=1)
                pieces = []
                values[rows] = self._project(v - expected, outputs[rows] - expected)
        return values

    def _project(self, y: np.ndarray, delta: np.ndarray) -> np.ndarray:
        """phi = P y + q delta for y (r, S, K), delta (r, K): shape (r, M, K).

        ``matmul`` over the stacked rows runs the same product for every row, so a row's
        values do not depend on the rest of the batch.
        """
        phi: np.ndarray = (
            np.matmul(self.projection_, y) + self.constraint_[None, :, None] * delta[:, None, :]
        )
        if self.max_features is None:
            return phi
        return self._refit_top(phi, y, delta)

    def _refit_top(self, phi: np.ndarray, y: np.ndarray, delta: np.ndarray) -> np.ndarray:
        """Constrained WLS on each row's ``max_features`` largest features; others 0."""
        return self._refit(self._top_features(phi), y, delta, self._zw, self._gram)

    def _top_features(self, phi: np.ndarray) -> np.ndarray:
        """Each row's ``max_features`` largest features (summed over outputs), sorted:
        shape (r, t)."""
        return np.sort(
            np.argsort(-np.abs(phi).sum(axis=2), axis=1, kind="stable")[:, : self.max_features],
            axis=1,
        )

    @staticmethod
    def _refit(
        keep: np.ndarray, y: np.ndarray, delta: np.ndarray, zw: np.ndarray, gram: np.ndarray
    ) -> np.ndarray:
        """The constrained WLS of ``y`` (r, S, K) on the features ``keep`` (r, t) of each
        row, with ``zw = Z.T * w`` (M, S) and ``gram = zw @ Z`` (M, M): shape (r, M, K),
        zero outside ``keep``."""
        r, k = y.shape[0], y.shape[2]
        m = zw.shape[0]
        gram_keep = gram[keep[:, :, None], keep[:, None, :]]  # (r, t, t)
        zwy = np.take_along_axis(np.matmul(zw, y), keep[:, :, None], axis=1)  # (r, t, K)
        rhs = np.concatenate([zwy, np.ones((r, keep.shape[1], 1))], axis=2)
        solved = np.linalg.solve(gram_keep, rhs)
        a_inv_b, a_inv_1 = solved[:, :, :k], solved[:, :, k:]
        lam = (a_inv_b.sum(axis=1) - delta) / a_inv_1.sum(axis=1)  # (r, K)
        out = np.zeros((r, m, k))
        np.put_along_axis(out, keep[:, :, None], a_inv_b - a_inv_1 * lam[:, None, :], axis=1)
        return out

    # -- standard errors and tolerance ----------------------------------------------------
    @property
    def n_units(self) -> int:
        """Sampled units (complementary pairs) of the design; 0 when every coalition is
        enumerated or the design has no recorded units."""
        return self._n_units

    def unit_checkpoints(self) -> list[int]:
        """The unit counts at which ``score(tolerance=...)`` checks the standard errors
        (see :func:`~scoring_explainers.runtime._design.checkpoints`)."""
        return checkpoints(self._n_units)

    def _maps(self, n_units: int) -> _PrefixMaps:
        """The prefix of ``n_units`` units' maps, made once and cached (thread-safe)."""
        with self._prefix_lock:
            maps = self._prefix_maps.get(n_units)
            if maps is None:
                maps = self._prefix_maps[n_units] = self._make_maps(n_units)
        return maps

    def _make_maps(self, n_units: int) -> _PrefixMaps:
        assert self.units_ is not None
        design = CoalitionDesign(self.masks_, self.coalition_weights_, False, self.units_)
        total, m = self.masks_.shape
        s = self._n_fixed + 2 * n_units
        in_prefix = np.arange(total) < s
        Z = self.masks_[:s].astype(np.float64)
        stored_prefix = self._stored_prefixes.get(n_units)
        if n_units == self._n_units:
            P, q = self.projection_, self.constraint_
        elif stored_prefix is not None:
            P, q = stored_prefix[0], stored_prefix[1]
        else:
            P, q = projection(sub_design(design, in_prefix))
        g_count = n_groups(self._n_units)
        units = self.units_[:s]
        jack_p = np.zeros((g_count, m, s))
        jack_q = np.empty((g_count, m))
        jack_w = np.zeros((g_count, s))
        guard_p = np.zeros((g_count, m, s)) if stored_prefix is not None else None
        guard_q = np.empty((g_count, m)) if stored_prefix is not None else None
        stored = n_units == self._n_units and self.jackknife_projection_ is not None
        for g in range(g_count):
            kept = (units < 0) | (units % g_count != g)
            sub = sub_design(design, in_prefix & np.pad(kept, (0, total - s)))
            if stored:
                assert self.jackknife_projection_ is not None
                assert self.jackknife_constraint_ is not None
                jack_p[g], jack_q[g] = self.jackknife_projection_[g], self.jackknife_constraint_[g]
            elif stored_prefix is not None:
                assert guard_p is not None and guard_q is not None
                jack_p[g], jack_q[g] = stored_prefix[2][g], stored_prefix[3][g]
                guard_p[g][:, kept], guard_q[g] = projection(sub)
            else:
                jack_p[g][:, kept], jack_q[g] = projection(sub)
            jack_w[g, kept] = sub.weights
        zw = gram = jack_zw = jack_gram = None
        if self.max_features is not None:
            if n_units == self._n_units:
                zw, gram = self._zw, self._gram
            else:
                zw = Z.T * sub_design(design, in_prefix).weights
                gram = zw @ Z
            jack_zw = Z.T[None] * jack_w[:, None, :]  # (G, M, s)
            jack_gram = np.matmul(jack_zw, Z)
        return _PrefixMaps(
            projection=P,
            constraint=q,
            jack_projection=jack_p.reshape(g_count * m, s),
            jack_constraint=jack_q,
            zw=zw,
            gram=gram,
            jack_zw=jack_zw,
            jack_gram=jack_gram,
            guard_projection=None if guard_p is None else guard_p.reshape(g_count * m, s),
            guard_constraint=guard_q,
        )

    def _estimate(
        self, n_units: int, y: np.ndarray, delta: np.ndarray, get_raw: bool | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Values and jackknife standard errors of a prefix of ``n_units`` units for
        ``y`` (r, s, K) and ``delta`` (r, K), in the reported space: both (r, M', K).

        On the whole design the values are exactly :meth:`_project`'s.
        """
        maps = self._maps(n_units)
        r, _, k = y.shape
        m = maps.constraint.shape[0]
        g_count = maps.jack_constraint.shape[0]
        phi: np.ndarray = (
            np.matmul(maps.projection, y) + maps.constraint[None, :, None] * delta[:, None, :]
        )
        reps = np.matmul(maps.jack_projection, y).reshape(r, g_count, m, k)
        reps += maps.jack_constraint[None, :, :, None] * delta[:, None, None, :]
        if self.max_features is not None:
            assert maps.zw is not None and maps.gram is not None
            assert maps.jack_zw is not None and maps.jack_gram is not None
            keep = self._top_features(phi)
            phi = self._refit(keep, y, delta, maps.zw, maps.gram)
            for g in range(g_count):
                reps[:, g] = self._refit(keep, y, delta, maps.jack_zw[g], maps.jack_gram[g])
        values = self._to_raw(phi, get_raw)
        errors = self._jackknife_errors(reps, get_raw)
        if maps.guard_projection is not None and self.max_features is None:
            # A stored Bayesian prefix: its few units per group make its own jackknife
            # too narrow; least squares' on the same coalitions bounds it from above.
            assert maps.guard_constraint is not None
            guard = np.matmul(maps.guard_projection, y).reshape(r, g_count, m, k)
            guard += maps.guard_constraint[None, :, :, None] * delta[:, None, None, :]
            errors = np.maximum(errors, self._jackknife_errors(guard, get_raw))
        return values, errors

    def _jackknife_errors(self, reps: np.ndarray, get_raw: bool | None) -> np.ndarray:
        """Delete-a-group jackknife standard errors of replicates (r, G, M, K), in the
        reported space: (r, M', K)."""
        r, g_count, m, k = reps.shape
        raw = self._to_raw(reps.reshape(r * g_count, m, k), get_raw)
        raw = raw.reshape(r, g_count, *raw.shape[1:])
        spread = raw - raw.mean(axis=1, keepdims=True)
        errors: np.ndarray = np.sqrt((g_count - 1) / g_count * (spread * spread).sum(axis=1))
        return errors

    def _range_plan(self, n_rows: int, start: int, stop: int) -> Iterator[tuple[slice, slice]]:
        """:meth:`chunk_plan` for the coalitions ``start:stop`` only (the chunks of a
        tolerance's checkpoints)."""
        s, b = stop - start, self.background_.shape[0]
        if s * b <= self.max_synthetic_rows:
            step = max(1, self.max_synthetic_rows // (s * b))
            for first in range(0, n_rows, step):
                yield slice(first, min(n_rows, first + step)), slice(start, stop)
        else:
            step = max(1, self.max_synthetic_rows // b)
            for i in range(n_rows):
                for c in range(start, stop, step):
                    yield slice(i, i + 1), slice(c, min(stop, c + step))

    def _attribute_uncertain(
        self,
        X: np.ndarray,
        outputs: np.ndarray | None,
        cancel: CancelToken | None,
        tolerance: float | None,
        get_raw: bool | None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Values, standard errors (both (n, M', K), reported space) and coalitions used
        per row (n,).

        Without ``tolerance`` every row uses the whole design (values exactly as
        :meth:`_attribute`). With it, each row is evaluated on the enumerated coalitions
        plus the units of the first checkpoint, then the next checkpoint's, ..., until its
        largest standard error is at most ``tolerance`` or the design is used up. A row's
        values and errors depend on that row alone.
        """
        if self.units_ is None and not self.exact_:
            raise InputError(
                "this explainer's coalition design has no sampling units (it was distilled "
                "before standard errors existed): re-distill it for uncertainty or tolerance"
            )
        if outputs is None:
            outputs = self._model.outputs(X)
        n, total = X.shape[0], self.masks_.shape[0]
        if self._n_units == 0:  # every coalition enumerated: no sampling error
            values = self._to_raw(self._attribute_until(X, outputs, cancel), get_raw)
            return values, np.zeros_like(values), np.full(n, total, dtype=np.int64)
        if self._n_units < 2:
            raise InputError(
                "the design has a single sampled unit: no standard error can be estimated; "
                "re-distill with a larger nsamples"
            )
        stages = checkpoints(self._n_units) if tolerance is not None else [self._n_units]
        expected = self._expected_values
        X32 = X.astype(np.float32)
        k = outputs.shape[1]
        width = self.n_features if get_raw is not False else self.masks_.shape[1]
        values = np.empty((n, width, k))
        errors = np.empty((n, width, k))
        used = np.empty(n, dtype=np.int64)
        block = max(1, MAX_BLOCK_VALUES // (total * k))
        for first in range(0, n, block):
            rows = np.arange(first, min(n, first + block))
            y = np.empty((len(rows), total, k))
            active = np.arange(len(rows))  # positions in `rows`
            start = 0
            for u in stages:
                stop = self._n_fixed + 2 * u
                x_active = X32[rows[active]]
                for part, coalitions in self._range_plan(len(active), start, stop):
                    raise_if_cancelled(cancel)
                    y[active[part], coalitions] = self._coalition_values(x_active[part], coalitions)
                delta = outputs[rows[active]] - expected
                phi, se = self._estimate(
                    u, np.ascontiguousarray(y[active, :stop]) - expected, delta, get_raw
                )
                done = (
                    np.ones(len(active), dtype=bool)
                    if u == self._n_units
                    else se.max(axis=(1, 2)) <= tolerance
                )
                values[rows[active[done]]] = phi[done]
                errors[rows[active[done]]] = se[done]
                used[rows[active[done]]] = stop
                active = active[~done]
                if not len(active):
                    break
                start = stop
        return values, errors, used

    # -- persistence ------------------------------------------------------------------
    def _arrays(self) -> dict[str, np.ndarray]:
        arrays = {
            "background": self.background_,
            "background_weights": self.background_weights_,
            "masks": self.masks_,
            "coalition_weights": self.coalition_weights_,
            "projection": self.projection_,
            "constraint": self.constraint_,
        }
        if self.groups_ is not None:
            arrays["groups"] = self.groups_
        if self.units_ is not None:
            arrays["units"] = self.units_
        if self.jackknife_projection_ is not None and self.jackknife_constraint_ is not None:
            arrays["jackknife_projection"] = self.jackknife_projection_
            arrays["jackknife_constraint"] = self.jackknife_constraint_
        if self.prefix_maps_ is not None:
            arrays.update({f"prefix_{k}": v for k, v in self.prefix_maps_.items()})
        return arrays

    def _settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = {
            "exact": self.exact_,
            "max_synthetic_rows": self.max_synthetic_rows,
            "max_features": self.max_features,
        }
        if self.groups_ is not None:
            settings["players"] = "raw"
        if self.units_ is not None:
            settings["units"] = True
        if self.jackknife_projection_ is not None:
            settings["jackknife_maps"] = True
        if self.prefix_maps_ is not None:
            settings["prefix_maps"] = True
        return settings

    @classmethod
    def _array_shapes(
        cls, settings: dict[str, Any], n_features: int, n_outputs: int, *, n_raw: int
    ) -> dict[str, tuple[int | None, ...]]:
        players = n_raw if settings.get("players") == "raw" else n_features
        shapes: dict[str, tuple[int | None, ...]] = {
            "background": (None, n_features),
            "background_weights": (None,),
            "masks": (None, players),
            "coalition_weights": (None,),
            "projection": (players, None),
            "constraint": (players,),
        }
        if settings.get("players") == "raw":
            shapes["groups"] = (n_raw, n_features)
        if settings.get("units") is True:  # the design's sampling units (optional)
            shapes["units"] = (None,)
        if settings.get("jackknife_maps") is True:  # a non-least-squares design's (optional)
            shapes["jackknife_projection"] = (None, players, None)
            shapes["jackknife_constraint"] = (None, players)
        if settings.get("prefix_maps") is True:  # and its tolerance checkpoints' (optional)
            shapes["prefix_projection"] = (players, None)
            shapes["prefix_constraint"] = (None, players)
            shapes["prefix_jackknife_projection"] = (None, players, None)
            shapes["prefix_jackknife_constraint"] = (None, None, players)
        return shapes

    @classmethod
    def _restore(
        cls, *, arrays: dict[str, np.ndarray], settings: dict[str, Any], common: dict[str, Any]
    ) -> KernelScoringExplainer:
        if len(arrays["background"]) != len(arrays["background_weights"]):
            raise ValueError("background and background_weights differ in length")
        n_coalitions = len(arrays["masks"])
        if len(arrays["coalition_weights"]) != n_coalitions:
            raise ValueError("masks and coalition_weights differ in length")
        if arrays["projection"].shape[1] != n_coalitions:
            raise ValueError("projection does not match the number of coalitions")
        if n_coalitions == 0 or len(arrays["background"]) == 0:
            raise ValueError("empty coalition design or background")
        exact = settings.get("exact", False)
        chunk = settings.get("max_synthetic_rows", DEFAULT_MAX_SYNTHETIC_ROWS)
        top = settings.get("max_features")
        if not isinstance(exact, bool):
            raise ValueError("settings.exact must be true or false")
        if isinstance(chunk, bool) or not isinstance(chunk, int) or not 1 <= chunk <= MAX_CHUNK:
            raise ValueError(f"settings.max_synthetic_rows must be an integer in [1, {MAX_CHUNK}]")
        if top is not None and (isinstance(top, bool) or not isinstance(top, int)):
            raise ValueError("settings.max_features must be an integer or null")
        players = settings.get("players", "model")
        if players not in ("model", "raw"):
            raise ValueError("settings.players must be 'model' or 'raw'")
        if not isinstance(settings.get("units", False), bool):
            raise ValueError("settings.units must be true or false")
        for flag in ("jackknife_maps", "prefix_maps"):
            if not isinstance(settings.get(flag, False), bool):
                raise ValueError(f"settings.{flag} must be true or false")
        prefix = {name: arrays.get(f"prefix_{name}") for name in cls.PREFIX_MAPS}
        units = arrays.get("units")
        if units is not None and units.dtype.kind not in "iu":
            raise ValueError(f"units must be an integer array, got dtype {units.dtype}")
        return cls(
            groups=arrays.get("groups"),
            coalition_units=units,
            jackknife_projection=arrays.get("jackknife_projection"),
            jackknife_constraint=arrays.get("jackknife_constraint"),
            prefix_maps=(
                None
                if any(v is None for v in prefix.values())
                else {k: v for k, v in prefix.items() if v is not None}
            ),
            background=arrays["background"],
            background_weights=arrays["background_weights"],
            masks=arrays["masks"],
            coalition_weights=arrays["coalition_weights"],
            projection_matrix=arrays["projection"],
            constraint=arrays["constraint"],
            exact=exact,
            max_synthetic_rows=chunk,
            max_features=top,
            **common,
        )
