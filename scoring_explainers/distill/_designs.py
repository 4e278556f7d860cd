"""Coalition designs and their linear maps, chosen at distill time (``design=``).

Every design here ends as the run-time map ``phi = P (v - E) + q (f(x) - E)`` (see
:mod:`scoring_explainers.runtime._design`), so the run-time cost is the same for all.

``"paired"``
    The original design (:func:`~scoring_explainers.distill._design.coalition_design`):
    complete sizes enumerated while the kernel-proportional budget covers them, the rest
    paired sampling with sizes drawn in proportion to the kernel mass, pairs drawn without
    replacement in draw order, and the constrained weighted least-squares (WLS) map.
``"stratified"``
    The same complete sizes, then a fixed number of coalition/complement pairs per size
    (largest remainder of the kernel mass), drawn without replacement, weights
    ``mass_s / n_s``; WLS map.
``"bayes"`` (the default)
    Complete sizes as above, then a fixed number of pairs per open size in proportion to
    the square root of the kernel mass, and the posterior mean of the Shapley values
    under a prior on the game (:func:`bayes_map`): ``v(z) = c + z . beta + r(z)``, the
    constant and linear part fitted by generalised least squares, the interactions
    ``r`` of order 2 and up with independent Gaussian coefficients in the Moebius basis
    (``v(S) = sum_{T <= S} m(T)``) or the Walsh basis (``prod_{i in T} (2 z_i - 1)``).
    Paired least squares is an order-2 regression: every interaction of order 3 and
    more aliases into the values; the prior gives each order its expected share instead.
    The posterior mean is linear in the values, so it is fixed at distill time. The
    basis and the decay of the orders' variances are chosen by restricted marginal
    likelihood on a few training rows' games at the design (:func:`fit_prior`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from math import comb
from typing import Any

import numpy as np

from ..runtime._design import CoalitionDesign, checkpoints, n_groups, projection, sub_design
from ._design import _all_of_size, _size_mass, coalition_design

__all__ = [
    "DEFAULT_DESIGN",
    "DESIGNS",
    "Design",
    "bayes_map",
    "fit_prior",
    "make_design",
    "stratified_design",
    "training_games",
]

#: ``values(masks) -> (v(masks) - E, f(x) - E)`` for a few training rows, shapes (R, S) and
#: (R,): what a design may use at distill time to fit itself to the model.
GameValues = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Design:
    """A coalition design with its linear map.

    Attributes
    ----------
    masks : ndarray of shape (S, M), bool
    weights : ndarray of shape (S,)
        Kernel weights (sum 1); the WLS map and ``max_features``' refit use them.
    units : ndarray of shape (S,), int
        -1 for enumerated coalitions (first); sampled coalitions in units ``0..U-1``
        (a coalition and its complement, adjacent rows), in draw order.
    exact : bool
    P : ndarray of shape (M, S)
    q : ndarray of shape (M,)
    prior : (family, ratio) or None
        The prior of a Bayesian map (see :func:`bayes_map` and :func:`profile_for`);
        ``None`` for WLS.
    note : str or None
        Why a Bayesian design fell back to least squares, if it did.
    """

    masks: np.ndarray
    weights: np.ndarray
    units: np.ndarray
    exact: bool
    P: np.ndarray
    q: np.ndarray
    prior: tuple[str, float] | None = None
    note: str | None = None


def _complete_sizes(m: int, budget: int) -> tuple[list[int], int]:
    """Sizes enumerated completely (as in ``coalition_design``) and the budget left."""
    mass = _size_mass(m)
    left, open_mass, complete = budget, 1.0, []
    for small in range(1, m // 2 + 1):
        large = m - small
        pair = [small] if small == large else [small, large]
        n_pair = sum(comb(m, s) for s in pair)
        pair_mass = sum(mass[s - 1] for s in pair)
        if n_pair > left or left * pair_mass / open_mass < n_pair - 1e-8:
            break
        complete += pair
        left -= n_pair
        open_mass -= pair_mass
    return complete, left


def _pair_counts(m: int, small: list[int], n_pairs: int, exponent: float) -> np.ndarray:
    """Pairs per open size, in proportion to ``(kernel mass)**exponent`` (largest
    remainder), capped by the number of distinct pairs of that size."""
    mass = _size_mass(m)
    pair_mass = np.array([mass[s - 1] * (1 if 2 * s == m else 2) for s in small]) ** exponent
    cap = np.array([comb(m, s) // 2 if 2 * s == m else comb(m, s) for s in small])
    n = np.zeros(len(small), dtype=np.int64)
    left = n_pairs
    open_ = np.ones(len(small), dtype=bool)
    while left > 0 and open_.any():
        share = np.where(open_, pair_mass, 0.0)
        share = share / share.sum() * left
        add = np.minimum(np.floor(share).astype(np.int64), cap - n)
        if add.sum() == 0:
            order = np.argsort(-(share - np.floor(share)), kind="stable")
            for j in order:
                if open_[j] and n[j] < cap[j]:
                    add[j] = 1
                    break
        n += add
        left -= int(add.sum())
        open_ &= n < cap
    return n


def stratified_design(
    m: int, budget: int, rng: np.random.Generator, exponent: float = 1.0
) -> CoalitionDesign:
    """Complete sizes enumerated, then a fixed number of paired draws per open size.

    The pairs go to the open sizes in proportion to ``(kernel mass)**exponent`` (1: the
    kernel's own proportions; 0.5 leans towards the middle sizes); the weights are
    ``mass_s / n_s`` whatever the allocation, so the weighted sums stay kernel sums.

    Returns a :class:`CoalitionDesign` whose sampled coalitions come in units (a drawn
    coalition and its complement, adjacent rows), sizes interleaved so that every prefix
    of units is close to the proportional allocation; see :func:`design_units`.
    """
    if m < 2:
        raise ValueError("Kernel SHAP needs at least 2 features")
    full = coalition_design(m, budget, rng) if budget >= 2**m - 2 else None
    if full is not None:
        return full
    mass = _size_mass(m)
    complete, left = _complete_sizes(m, budget)
    blocks = [_all_of_size(m, s) for s in complete]
    block_weights = [np.full(comb(m, s), mass[s - 1] / comb(m, s)) for s in complete]
    small = [s for s in range(1, m // 2 + 1) if s not in complete]
    n_pairs = left // 2
    if small and n_pairs:
        counts = _pair_counts(m, small, n_pairs, exponent)
        # Draw order: unit j of a size with n pairs sits at (j + 1/2) / n, so any prefix
        # holds every size in proportion.
        position = np.concatenate([(np.arange(k) + 0.5) / k for k in counts if k])
        label = np.concatenate([np.full(k, s) for s, k in zip(small, counts, strict=True) if k])
        label = label[np.argsort(position, kind="stable")]
        seen: set[bytes] = set()
        rows = np.zeros((2 * len(label), m), dtype=bool)
        for j, s in enumerate(label):
            while True:  # without replacement: a size has more pairs than are drawn
                z = np.zeros(m, dtype=bool)
                z[rng.permutation(m)[:s]] = True
                if z.tobytes() not in seen:
                    break
            seen.update((z.tobytes(), (~z).tobytes()))
            rows[2 * j], rows[2 * j + 1] = z, ~z
        sizes = rows.sum(1)
        per_size = np.bincount(sizes, minlength=m + 1)
        blocks.append(rows)
        block_weights.append(mass[sizes - 1] / per_size[sizes])
    masks = np.concatenate(blocks)
    weights = np.concatenate(block_weights)
    return CoalitionDesign(masks, weights / weights.sum(), exact=False)


def design_units(design: CoalitionDesign) -> np.ndarray:
    """Units of a :func:`stratified_design`, shape (S,): -1 for the enumerated sizes
    (the leading rows), then one unit per coalition/complement pair, in draw order."""
    n = len(design.masks)
    if design.exact:
        return np.full(n, -1)
    m = design.masks.shape[1]
    complete, _ = _complete_sizes(m, n)
    n_fixed = int(sum(comb(m, s) for s in complete))
    units = np.full(n, -1)
    units[n_fixed:] = np.arange(n - n_fixed) // 2
    return units


# ------------------------------------------------------------------------ Bayesian map

#: The prior families: independent coefficients of the game in the Moebius basis
#: (``v(S) = sum_{T <= S} m(T)``) or in the Walsh basis
#: (``v(z) = sum_T f(T) prod_{i in T} (2 z_i - 1)``), with variance ``s2_|T|``.
FAMILIES = ("moebius", "walsh")


def _binom_table(n: int) -> np.ndarray:
    """``C(a, b)`` for ``0 <= a, b <= n``, shape (n + 1, n + 1)."""
    return np.array([[comb(a, b) for b in range(n + 1)] for a in range(n + 1)], dtype=np.float64)


def _krawtchouk(n: int) -> np.ndarray:
    """``K[k, d] = sum_j (-1)**j C(d, j) C(n - d, k - j)``: the sum of ``chi_T(z) chi_T(z')``
    over the ``|T| = k`` subsets of ``n`` players at Hamming distance ``d``, (n + 1, n + 1).

    Summed in integers: the terms reach ``C(n, n / 2)`` and cancel.
    """
    out = np.zeros((n + 1, n + 1))
    for k in range(n + 1):
        for d in range(n + 1):
            out[k, d] = float(
                sum((-1) ** j * comb(d, j) * comb(n - d, k - j) for j in range(min(k, d) + 1))
            )
    return out


def _prior(D: np.ndarray, family: str, profile: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Prior covariance of the interactions (order 2 and up) at coalitions ``D`` (S, M).

    Returns ``K`` of shape (S, S), ``Cov(v(D_s), v(D_t))``, and ``C`` of shape (M, S),
    ``C[i, s] = Cov(phi_i, v(D_s))``, for the game's coefficients of order 2 and up
    (``profile[k]`` for ``k >= 2``); the constant and the linear part are fitted (see
    :func:`bayes_map`).
    """
    m = D.shape[1]
    profile = np.where(np.arange(m + 1) >= 2, profile, 0.0)
    Z = D.astype(np.float64)
    inter = np.rint(Z @ Z.T).astype(np.intp)
    sizes = D.sum(1)
    k = np.arange(m + 1)
    if family == "moebius":
        binom = _binom_table(m)
        g = binom @ profile  # g[c] = sum_k C(c, k) s2_k
        K = g[inter]
        per = np.where(k > 0, profile / np.maximum(k, 1), 0.0)
        h = np.zeros(m + 1)
        h[1:] = binom[:-1, :-1] @ per[1:]  # h[s] = sum_k C(s - 1, k - 1) s2_k / k
        C = Z.T * h[sizes]
    elif family == "walsh":
        g = profile @ _krawtchouk(m)  # g[d]
        K = g[sizes[:, None] + sizes[None, :] - 2 * inter]
        odd = np.where(k % 2 == 1, 2.0 * profile / np.maximum(k, 1), 0.0)
        h = odd[1:] @ _krawtchouk(m - 1)  # h[d'], d' = zeros among the other players
        zeros_others = (m - 1) - (sizes[None, :] - D.T)
        C = (2.0 * Z.T - 1.0) * h[zeros_others]
    else:
        raise ValueError(f"unknown prior family {family!r}")
    return K, C


def _cholesky(K: np.ndarray, jitter: float) -> np.ndarray:
    """Lower Cholesky factor of ``K`` with ``jitter * mean(diag K)`` added to the diagonal
    (100x more at a time if rounding leaves it indefinite)."""
    from scipy.linalg import LinAlgError, cholesky

    scale = float(np.mean(np.diag(K))) or 1.0
    for _ in range(6):
        loaded = K.copy()
        loaded[np.diag_indices_from(loaded)] += jitter * scale
        try:
            factor: np.ndarray = cholesky(loaded, lower=True, check_finite=False)
            return factor
        except LinAlgError:
            jitter *= 100.0
    raise np.linalg.LinAlgError("prior covariance is not positive definite")


@dataclass(frozen=True)
class _Kriging:
    """The kriging system at the observed coalitions ``D`` (n of them), ``K = L L'``."""

    factor: np.ndarray  # L, (n, n) lower
    F: np.ndarray  # [1, Z], (n, M + 1): the fitted constant and linear part
    KiF: np.ndarray  # K^-1 F, (n, M + 1)
    gram: np.ndarray  # F' K^-1 F, (M + 1, M + 1)
    logdet: float  # log det K + log det gram

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """``K^-1 rhs``."""
        from scipy.linalg import cho_solve

        out: np.ndarray = cho_solve((self.factor, True), rhs, check_finite=False)
        return out


def _kriging(D: np.ndarray, K: np.ndarray, jitter: float) -> _Kriging:
    factor = _cholesky(K, jitter)
    F = np.concatenate([np.ones((len(D), 1)), D.astype(np.float64)], axis=1)
    from scipy.linalg import cho_solve

    KiF = cho_solve((factor, True), F, check_finite=False)
    gram = F.T @ KiF
    logdet = 2.0 * float(np.log(np.diag(factor)).sum()) + float(np.linalg.slogdet(gram)[1])
    return _Kriging(factor, F, KiF, gram, logdet)


def profile_for(m: int, ratio: float) -> np.ndarray:
    """Order energies ``e_k = ratio**(k - 1)`` spread over the ``C(M, k)`` coefficients
    of each order: ``s2_k = e_k / C(M, k)``, shape (M + 1,) (``s2_0 = 0``)."""
    k = np.arange(m + 1)
    energy = np.where(k > 0, float(ratio) ** np.maximum(k - 1, 0), 0.0)
    profile: np.ndarray = energy / _binom_table(m)[m]
    return profile


def _observed(masks: np.ndarray) -> np.ndarray:
    """The empty coalition, the design's coalitions and the full one, (S + 2, M)."""
    m = masks.shape[1]
    return np.concatenate([np.zeros((1, m), dtype=bool), masks, np.ones((1, m), dtype=bool)])


def bayes_map(
    masks: np.ndarray, family: str, profile: np.ndarray, jitter: float = 1e-8
) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean of the Shapley values as the run-time linear map.

    The game is ``v(z) = c + z . beta + r(z)``: the constant and the linear part are
    fitted (generalised least squares, a flat prior), ``r`` holds the interactions of
    order 2 and up with independent coefficients in the ``family`` basis, of variance
    ``profile[|T|]``. ``phi = beta + `` the posterior mean of ``r``'s Shapley values
    (universal kriging). ``v(empty)``, the coalitions and ``v(N)`` are observed.

    Parameters
    ----------
    masks : ndarray of shape (S, M), bool
        The evaluated coalitions (neither empty nor full).
    family : {"moebius", "walsh"}
        The basis whose coefficients are a priori independent.
    profile : ndarray of shape (M + 1,)
        Prior variance ``s2_k`` of a coefficient of order ``k`` (``k >= 2`` used).
    jitter : float
        Diagonal loading of the prior covariance, relative to its mean diagonal.

    Returns
    -------
    P : ndarray of shape (M, S)
    q : ndarray of shape (M,)
        ``phi = P (v - E) + q (f(x) - E)``. Additive games are recovered exactly, and
        the posterior mean is additive (``sum(phi) = f(x) - E``); zero column sums of
        ``P`` and ``sum(q) == 1`` are made exact in floating point.
    """
    m = masks.shape[1]
    D = _observed(masks)
    K, C = _prior(D, family, profile)
    krig = _kriging(D, K, jitter)
    B = np.linalg.solve(krig.gram, krig.KiF.T)  # (M + 1, n): y -> (c, beta) by GLS
    CKi = krig.solve(C.T).T  # (M, n): C K^-1
    L = B[1:] + CKi - (CKi @ krig.F) @ B  # beta + C K^-1 (y - F (c, beta))
    P, q = L[:, 1:-1], L[:, -1]
    P = P - P.mean(axis=0)
    q = q + (1.0 - q.sum()) / m
    return P, q


#: The candidate priors :func:`fit_prior` chooses among: (family, energy ratio).
CANDIDATES: tuple[tuple[str, float], ...] = (
    ("moebius", 0.1),
    ("moebius", 0.25),
    ("moebius", 0.5),
    ("moebius", 1.0),
    ("walsh", 0.05),
    ("walsh", 0.1),
    ("walsh", 0.2),
    ("walsh", 0.3),
    ("walsh", 0.5),
)
DEFAULT_PRIOR = ("walsh", 0.2)


def log_likelihoods(
    masks: np.ndarray,
    y: np.ndarray,
    full: np.ndarray,
    candidates: tuple[tuple[str, float], ...] = CANDIDATES,
    jitter: float = 1e-8,
) -> dict[tuple[str, float], float]:
    """Restricted log marginal likelihood of training rows' games under each candidate.

    Parameters
    ----------
    masks : ndarray of shape (S, M), bool
    y : ndarray of shape (R, S)
        ``v(S) - E`` of R training rows' games at the coalitions.
    full : ndarray of shape (R,)
        ``f(x) - E`` of those rows.

    The constant and linear part are integrated out (REML); each game's scale is
    profiled out.
    """
    Y = np.concatenate([np.zeros((len(y), 1)), y, full[:, None]], axis=1).T  # (n, R)
    D = _observed(masks)
    dof = len(D) - (masks.shape[1] + 1)
    out: dict[tuple[str, float], float] = {}
    for family, ratio in candidates:
        K, _ = _prior(D, family, profile_for(masks.shape[1], ratio))
        try:
            krig = _kriging(D, K, jitter)
        except np.linalg.LinAlgError:
            continue
        KiY = krig.solve(Y)  # (n, R)
        fitted = krig.KiF.T @ Y  # F' K^-1 y, (M + 1, R)
        quad = (Y * KiY).sum(axis=0) - (fitted * np.linalg.solve(krig.gram, fitted)).sum(axis=0)
        quad = np.maximum(quad, 1e-300)
        out[(family, ratio)] = float(
            -0.5 * dof * np.log(quad / dof).sum() - 0.5 * Y.shape[1] * krig.logdet
        )
    return out


def fit_prior(masks: np.ndarray, y: np.ndarray, full: np.ndarray) -> tuple[str, float]:
    """The maximum-marginal-likelihood candidate (see :func:`log_likelihoods`)."""
    ll = log_likelihoods(masks, y, full)
    return max(ll, key=ll.__getitem__) if ll else DEFAULT_PRIOR


# ------------------------------------------------------------------------- registry


def _wls(design: CoalitionDesign) -> Design:
    P, q = projection(design)
    return Design(design.masks, design.weights, design_units(design), design.exact, P, q)


def _make_paired(
    m: int, budget: int, rng: np.random.Generator, values: GameValues | None
) -> Design:
    design = coalition_design(m, budget, rng)
    assert design.units is not None  # coalition_design records its units
    P, q = projection(design)
    return Design(design.masks, design.weights, design.units, design.exact, P, q)


def _make_stratified(
    m: int, budget: int, rng: np.random.Generator, values: GameValues | None
) -> Design:
    return _wls(stratified_design(m, budget, rng))


#: Pairs per open size in proportion to the square root of the kernel mass.
BAYES_EXPONENT = 0.5


#: Most coalitions a Bayesian map is made for: its solves are cubic and its prior
#: covariance quadratic in them (2,500: 50 MB and about 1 s a solve here; shap's
#: ``"auto"`` budget stays below it up to 226 features). Above it: least squares.
MAX_BAYES_COALITIONS = 2_500


def _make_bayes(m: int, budget: int, rng: np.random.Generator, values: GameValues | None) -> Design:
    design = stratified_design(m, budget, rng, BAYES_EXPONENT)
    if design.exact:
        return _wls(design)  # enumerated: exact values
    if len(design.masks) > MAX_BAYES_COALITIONS:
        return replace(
            _wls(design),
            note=f"{len(design.masks)} coalitions > {MAX_BAYES_COALITIONS}: least squares "
            "on the stratified design",
        )
    observed = _observed(design.masks).astype(np.float64)
    if np.linalg.matrix_rank(observed) < m:
        return replace(
            _wls(design), note="too few coalitions to fit the linear part: least squares"
        )
    prior = DEFAULT_PRIOR
    if values is not None:
        y, full = values(design.masks)
        if len(y):
            prior = fit_prior(design.masks, y, full)
    P, q = bayes_map(design.masks, prior[0], profile_for(m, prior[1]))
    return Design(design.masks, design.weights, design_units(design), False, P, q, prior=prior)


DESIGNS: dict[str, Callable[[int, int, np.random.Generator, GameValues | None], Design]] = {
    "paired": _make_paired,
    "stratified": _make_stratified,
    "bayes": _make_bayes,
}
#: What ``from_model`` uses unless told otherwise.
DEFAULT_DESIGN = "bayes"


def make_design(
    name: str,
    n_features: int,
    budget: int,
    rng: np.random.Generator,
    values: GameValues | None = None,
) -> Design:
    """The named design (a key of :data:`DESIGNS`) within ``budget`` coalitions.

    ``values`` (training rows' games) lets ``"bayes"`` fit its prior; without it the
    prior is :data:`DEFAULT_PRIOR`. The other designs ignore it.
    """
    if name not in DESIGNS:
        raise ValueError(f"design must be one of {sorted(DESIGNS)}, got {name!r}")
    return DESIGNS[name](n_features, budget, rng, values)


def training_games(
    outputs: Callable[[np.ndarray], np.ndarray],
    X: np.ndarray,
    background: np.ndarray,
    weights: np.ndarray,
    expected: np.ndarray,
    seed: int,
    n_rows: int = 8,
    columns: Callable[[np.ndarray], np.ndarray] | None = None,
) -> GameValues:
    """The games of a few training rows, for a design to fit itself at distill time.

    Parameters
    ----------
    outputs : callable
        The model: (n, M) float32 rows -> (n, K) outputs.
    X : ndarray of shape (n_rows, M)
        Training rows; ``n_rows`` of them (seeded by ``seed``) are used.
    background : ndarray of shape (B, M)
    weights : ndarray of shape (B,)
    expected : ndarray of shape (K,)
        ``E``, the weighted background output.
    columns : callable, optional
        Players' masks (S, P) -> the model columns they take from the row (S, M), for
        games whose players own several columns (raw features); default: one player per
        column.

    Returns
    -------
    callable
        ``masks (S, M) -> (y, full)``: ``v(S) - E`` of shape (G, S) and ``f(x) - E`` of
        shape (G,) for each finite, non-constant game (one per row and output).
    """
    X = np.asarray(X, dtype=np.float64)
    pick = np.random.default_rng(seed).choice(len(X), min(n_rows, len(X)), replace=False)
    rows = X[np.sort(pick)].astype(np.float32)
    bg32 = np.asarray(background, dtype=np.float32)
    m = X.shape[1]

    def values(masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ys, fulls = [], []
        full = outputs(rows) - expected  # (R, K)
        for r, x in enumerate(rows):
            taken = masks if columns is None else columns(masks)
            synth = np.where(taken[:, None, :], x, bg32[None]).reshape(-1, m)
            v = np.einsum("sbk,b->sk", outputs(synth).reshape(len(masks), len(bg32), -1), weights)
            ys.append((v - expected).T)  # (K, S)
            fulls.append(full[r])
        y, f = np.concatenate(ys), np.concatenate(fulls)
        spread = np.abs(y).max(axis=1, initial=0.0)
        ok = (
            np.isfinite(y).all(axis=1)
            & np.isfinite(f)
            & (spread > 1e-6 * max(spread.max(), 1e-300))
        )
        return y[ok], f[ok]

    return values


def jackknife_maps(design: Design, groups: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Each delete-a-group design's own linear map, for jackknife standard errors.

    Unit ``u`` is in group ``u % groups``; deleting group ``g`` drops its units' columns.
    A WLS design keeps the enumerated coalitions' weights and scales the kept sampled
    ones by (total sampled weight / kept sampled weight) before the projection; a
    Bayesian design recomputes its map on the kept coalitions with the same prior.

    Returns
    -------
    P : ndarray of shape (groups, M, S)
        Zero in the deleted columns.
    q : ndarray of shape (groups, M)
    """
    m = design.masks.shape[1]
    sampled = design.units >= 0
    if not sampled.any():
        raise ValueError("the design has no sampled units to delete")
    P = np.zeros((groups, m, len(design.masks)))
    q = np.zeros((groups, m))
    for g in range(groups):
        keep = ~sampled | (design.units % groups != g)
        if design.prior is not None:
            family, ratio = design.prior
            P[g][:, keep], q[g] = bayes_map(design.masks[keep], family, profile_for(m, ratio))
            continue
        full = CoalitionDesign(design.masks, design.weights, False, design.units)
        P[g][:, keep], q[g] = projection(sub_design(full, keep))
    return P, q


def stored_maps(design: Design) -> dict[str, Any]:
    """The maps a Bayesian design's artifact stores for standard errors and a tolerance
    (least-squares designs store none: the runtime derives theirs), as keywords of
    :class:`~scoring_explainers.runtime._kernel.KernelScoringExplainer`.

    ``jackknife_projection``/``jackknife_constraint``: the whole design's delete-a-group
    maps (:func:`jackknife_maps`); ``prefix_maps``: each tolerance checkpoint short of the
    whole design (:func:`~scoring_explainers.runtime._design.checkpoints`), its own
    posterior map on the prefix's coalitions (least squares where the prefix cannot fit
    the linear part) and its delete-a-group maps, concatenated over the checkpoints.
    """
    n_units = int((design.units >= 0).sum()) // 2
    if design.prior is None or n_units == 0:
        return {}
    groups = n_groups(n_units)
    jack_p, jack_q = jackknife_maps(design, groups)
    m = design.masks.shape[1]
    n_fixed = int((design.units < 0).sum())
    family, ratio = design.prior
    pieces: dict[str, list[np.ndarray]] = {
        "projection": [],
        "constraint": [],
        "jackknife_projection": [],
        "jackknife_constraint": [],
    }
    full = CoalitionDesign(design.masks, design.weights, False, design.units)
    for u in checkpoints(n_units)[:-1]:
        size = n_fixed + 2 * u
        masks = design.masks[:size]
        sub = sub_design(full, np.arange(len(design.masks)) < size)
        if np.linalg.matrix_rank(_observed(masks).astype(np.float64)) < m:
            P, q = projection(sub)
            prior = None
        else:
            P, q = bayes_map(masks, family, profile_for(m, ratio))
            prior = design.prior
        prefix = Design(masks, sub.weights, design.units[:size], False, P, q, prior=prior)
        pj, qj = jackknife_maps(prefix, groups)
        pieces["projection"].append(P)
        pieces["constraint"].append(q)
        pieces["jackknife_projection"].append(pj)
        pieces["jackknife_constraint"].append(qj)
    out: dict[str, Any] = {"jackknife_projection": jack_p, "jackknife_constraint": jack_q}
    if pieces["projection"]:  # a design of few units has no checkpoint before its end
        out["prefix_maps"] = {
            "projection": np.concatenate(pieces["projection"], axis=1),
            "constraint": np.array(pieces["constraint"]),
            "jackknife_projection": np.concatenate(pieces["jackknife_projection"], axis=2),
            "jackknife_constraint": np.array(pieces["jackknife_constraint"]),
        }
    return out
