"""Coalition designs and their linear maps, chosen at distill time (``design=``).

Every design here ends as the run-time map ``phi = P (v - E) + q (f(x) - E)`` (see
:mod:`scoring_explainers.runtime._design`), so the run-time cost is the same for all.

``"paired"``
    The original design (:func:`~scoring_explainers.distill._design.coalition_design`):
    complete sizes enumerated while the kernel-proportional budget covers them, the rest
    paired sampling with sizes drawn in proportion to the kernel mass, duplicates merged,
    and the constrained weighted least-squares (WLS) map.
``"stratified"``
    The same complete sizes, then a fixed number of coalition/complement pairs per size
    (largest remainder of the kernel mass), drawn without replacement, weights
    ``mass_s / n_s``; WLS map.
``"bayes"``
    The stratified coalitions with the posterior-mean map of a Gaussian prior on the
    game's Moebius coefficients (:func:`bayes_map`): ``v(S) = sum_{T <= S} m(T)`` with
    independent ``m(T) ~ N(0, s2_|T|)``. Given the evaluated coalitions (and ``v(N)``,
    ``v(empty)`` exactly), the posterior mean of each Shapley value
    ``phi_i = sum_{T ni i} m(T) / |T|`` is linear in the values, so it is fixed at
    distill time. Paired WLS is order-2 regression (all interactions of order 3 and
    more alias into the estimate); the prior instead gives each order its expected share,
    so the higher orders are estimated rather than ignored. The order profile ``s2`` is
    fitted at distill time by maximum marginal likelihood over a few training rows' games
    at the design (:func:`fit_profile`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from math import comb

import numpy as np

from ..runtime._design import CoalitionDesign, projection
from ._design import _all_of_size, _size_mass, coalition_design

__all__ = [
    "DESIGNS",
    "Design",
    "bayes_map",
    "fit_profile",
    "linear_map",
    "make_design",
    "stratified_design",
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
    profile : ndarray of shape (M + 1,) or None
        The prior variances ``s2_k`` of a Bayesian map (``None`` for WLS).
    """

    masks: np.ndarray
    weights: np.ndarray
    units: np.ndarray
    exact: bool
    P: np.ndarray
    q: np.ndarray
    profile: np.ndarray | None = None


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


def _pair_counts(m: int, small: list[int], n_pairs: int) -> np.ndarray:
    """Pairs per open size (largest remainder of the kernel mass), capped by the
    number of distinct pairs of that size."""
    mass = _size_mass(m)
    pair_mass = np.array([mass[s - 1] * (1 if 2 * s == m else 2) for s in small])
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


def stratified_design(m: int, budget: int, rng: np.random.Generator) -> CoalitionDesign:
    """Complete sizes enumerated, then a fixed number of paired draws per open size.

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
        counts = _pair_counts(m, small, n_pairs)
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
    """Units of a stratified design: -1 for the enumerated sizes, then pairs 0, 1, ...

    The enumerated coalitions come first; every later pair of rows is one unit.
    """
    sizes = design.masks.sum(1)
    n = len(sizes)
    if design.exact:
        return np.full(n, -1)
    # The sampled block is the tail of paired rows; enumerated sizes are complete.
    m = design.masks.shape[1]
    complete = [s for s in range(1, m) if (sizes == s).sum() == comb(m, s)]
    n_fixed = int(sum(comb(m, s) for s in complete))
    units = np.full(n, -1)
    units[n_fixed:] = np.arange(n - n_fixed) // 2
    return units


# ------------------------------------------------------------------------ Bayesian map


def _kernels(m: int, profile: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``g(c) = Cov(v(S), v(S'))`` for ``|S & S'| = c`` and ``h(s)`` with
    ``Cov(phi_i, v(S)) = [i in S] h(|S|)``, both shape (M + 1,)."""
    k = np.arange(m + 1)
    binom = np.array([[comb(c, j) for j in k] for c in k], dtype=np.float64)  # C(c, j)
    g = binom @ profile
    shifted = np.zeros((m + 1, m + 1))
    shifted[1:, 1:] = binom[:-1, :-1]  # C(s - 1, j - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        per = np.where(k > 0, profile / np.maximum(k, 1), 0.0)
    h = shifted @ per
    return g, h


def _gram(masks: np.ndarray, profile: np.ndarray, jitter: float) -> np.ndarray:
    """Prior covariance of ``v`` at the coalitions, shape (S, S)."""
    Z = masks.astype(np.float64)
    g, _ = _kernels(masks.shape[1], profile)
    K = g[np.rint(Z @ Z.T).astype(np.intp)]
    K[np.diag_indices_from(K)] *= 1.0 + jitter
    return K


def _with_full(masks: np.ndarray) -> np.ndarray:
    return np.concatenate([masks, np.ones((1, masks.shape[1]), dtype=bool)])


def bayes_map(
    masks: np.ndarray, profile: np.ndarray, jitter: float = 1e-9
) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean of the Shapley values as the run-time linear map.

    Parameters
    ----------
    masks : ndarray of shape (S, M), bool
        The evaluated coalitions (neither empty nor full).
    profile : ndarray of shape (M + 1,)
        Prior variance ``s2_k`` of each Moebius coefficient of order ``k`` (``s2_0``
        unused: ``v(empty) = E`` is known).
    jitter : float
        Relative diagonal loading for the solve.

    Returns
    -------
    P : ndarray of shape (M, S)
    q : ndarray of shape (M,)
        ``phi = P (v - E) + q (f(x) - E)``, ``P`` with zero column sums and ``q`` summing
        to one (the prior's own additivity, made exact in floating point).
    """
    m = masks.shape[1]
    D = _with_full(masks)
    K = _gram(D, profile, jitter)
    _, h = _kernels(m, profile)
    Z = D.astype(np.float64)
    cross = Z.T * h[D.sum(1)]  # (M, S + 1): Cov(phi_i, v(S))
    factor = np.linalg.cholesky(K)
    solved = np.linalg.solve(factor.T, np.linalg.solve(factor, cross.T)).T
    P, q = solved[:, :-1], solved[:, -1]
    P = P - P.mean(axis=0)
    q = q + (1.0 - q.sum()) / m
    return P, q


def geometric_profile(m: int, first: float, ratio: float) -> np.ndarray:
    """Order energies ``e_1 = first``, ``e_k = ratio**(k - 2)`` (k >= 2), as the
    per-coefficient variances ``s2_k = e_k / C(M, k)``, shape (M + 1,)."""
    k = np.arange(m + 1)
    energy = np.where(k == 1, first, ratio ** np.maximum(k - 2, 0).astype(np.float64))
    energy[0] = 0.0
    return energy / np.array([comb(m, int(j)) for j in k], dtype=np.float64)


FIRST_GRID = (0.25, 1.0, 4.0, 16.0)
RATIO_GRID = (0.1, 0.25, 0.5, 0.75, 1.0)
DEFAULT_PROFILE = (4.0, 0.5)


def fit_profile(
    masks: np.ndarray, y: np.ndarray, full: np.ndarray, jitter: float = 1e-9
) -> tuple[float, float]:
    """Maximum marginal likelihood ``(first, ratio)`` of :func:`geometric_profile`.

    Parameters
    ----------
    masks : ndarray of shape (S, M), bool
    y : ndarray of shape (R, S)
        ``v(S) - E`` of R training rows' games at the coalitions.
    full : ndarray of shape (R,)
        ``f(x) - E`` of those rows.

    Each row's game gets its own scale (profiled out); the grid is
    ``FIRST_GRID x RATIO_GRID``.
    """
    D = _with_full(masks)
    Y = np.concatenate([y, full[:, None]], axis=1)  # (R, S + 1)
    n = Y.shape[1]
    best, best_ll = DEFAULT_PROFILE, -np.inf
    for first in FIRST_GRID:
        for ratio in RATIO_GRID:
            K = _gram(D, geometric_profile(masks.shape[1], first, ratio), jitter)
            try:
                factor = np.linalg.cholesky(K)
            except np.linalg.LinAlgError:
                continue
            white = np.linalg.solve(factor, Y.T)  # (S + 1, R)
            quad = np.maximum((white**2).sum(axis=0), 1e-300)
            logdet = 2.0 * np.log(np.diag(factor)).sum()
            ll = float(-0.5 * n * np.log(quad / n).sum() - 0.5 * len(Y) * logdet)
            if ll > best_ll:
                best, best_ll = (first, ratio), ll
    return best


# ------------------------------------------------------------------------- registry


def _wls(design: CoalitionDesign) -> Design:
    P, q = projection(design)
    return Design(design.masks, design.weights, design_units(design), design.exact, P, q)


def _make_paired(
    m: int, budget: int, rng: np.random.Generator, values: GameValues | None
) -> Design:
    design = coalition_design(m, budget, rng)
    units = np.full(len(design.masks), -1)  # merged duplicates: no units
    P, q = projection(design)
    return Design(design.masks, design.weights, units, design.exact, P, q)


def _make_stratified(
    m: int, budget: int, rng: np.random.Generator, values: GameValues | None
) -> Design:
    return _wls(stratified_design(m, budget, rng))


def _make_bayes(m: int, budget: int, rng: np.random.Generator, values: GameValues | None) -> Design:
    design = stratified_design(m, budget, rng)
    if design.exact:
        return _wls(design)
    first, ratio = DEFAULT_PROFILE
    if values is not None:
        y, full = values(design.masks)
        first, ratio = fit_profile(design.masks, y, full)
    profile = geometric_profile(m, first, ratio)
    P, q = bayes_map(design.masks, profile)
    return Design(design.masks, design.weights, design_units(design), False, P, q, profile=profile)


def _make_bayes_fixed(
    m: int, budget: int, rng: np.random.Generator, values: GameValues | None
) -> Design:
    return _make_bayes(m, budget, rng, None)


DESIGNS: dict[str, Callable[[int, int, np.random.Generator, GameValues | None], Design]] = {
    "paired": _make_paired,
    "stratified": _make_stratified,
    "bayes": _make_bayes,
    "bayes_fixed": _make_bayes_fixed,
}


def make_design(
    name: str,
    n_features: int,
    budget: int,
    rng: np.random.Generator,
    values: GameValues | None = None,
) -> Design:
    """The named design (a key of :data:`DESIGNS`) within ``budget`` coalitions."""
    if name not in DESIGNS:
        raise ValueError(f"design must be one of {sorted(DESIGNS)}, got {name!r}")
    return DESIGNS[name](n_features, budget, rng, values)


def linear_map(
    name: str, m: int, budget: int, rng: np.random.Generator, values: GameValues | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(masks, P, q)`` of the named design (for the benchmark)."""
    d = make_design(name, m, budget, rng, values)
    return d.masks, d.P, d.q
