"""Kernel SHAP's coalition design, chosen at distill time within a budget.

The run-time half (:class:`CoalitionDesign` and its constrained least-squares
:func:`~scoring_explainers.runtime._design.projection`) is in the runtime.
"""

from __future__ import annotations

from math import comb

import numpy as np

from ..runtime._design import CoalitionDesign

__all__ = ["auto_nsamples", "coalition_design"]


def auto_nsamples(n_features: int) -> int:
    """shap's ``nsamples="auto"`` budget: ``2 * M + 2048``."""
    return 2 * n_features + 2048


def _size_mass(n_features: int) -> np.ndarray:
    """Shapley-kernel mass of each coalition size 1..M-1 (normalised to sum to 1)."""
    sizes = np.arange(1, n_features)
    mass = (n_features - 1) / (sizes * (n_features - sizes))
    normalised: np.ndarray = mass / mass.sum()
    return normalised


def _all_of_size(n_features: int, size: int) -> np.ndarray:
    """Every coalition with ``size`` members, shape (comb(M, size), M), bool."""
    from itertools import combinations

    idx = np.array(list(combinations(range(n_features), size)), dtype=np.intp)
    masks = np.zeros((len(idx), n_features), dtype=bool)
    masks[np.arange(len(idx))[:, None], idx] = True
    return masks


def _draw_pairs(
    n_features: int, open_sizes: np.ndarray, p: np.ndarray, n_pairs: int, rng: np.random.Generator
) -> np.ndarray:
    """Draw up to ``n_pairs`` distinct complement pairs, without replacement, in draw order.

    A size is drawn with probability ``p`` among ``open_sizes``, then a uniform subset of
    that size; a pair (the subset and its complement) drawn before is rejected. Stops early
    when every pair of the open sizes has been drawn.

    Returns
    -------
    ndarray of shape (2 * n_drawn, n_features), bool
        Rows ``2i`` and ``2i + 1``: the ``i``-th drawn coalition and its complement.
    """
    m = n_features
    available = sum(comb(m, int(s)) for s in open_sizes) // 2  # each pair counted twice
    target = min(n_pairs, available)
    seen: set[bytes] = set()
    drawn: list[np.ndarray] = []
    while len(drawn) < target:
        batch = max(64, 2 * (target - len(drawn)))
        sizes = rng.choice(open_sizes, size=batch, p=p)
        keys = rng.random((batch, m))
        # The `size` smallest random keys of a row are a uniform subset of that size.
        ranks = np.argsort(np.argsort(keys, axis=1), axis=1)
        coalitions = ranks < sizes[:, None]
        # A pair is known by its member without feature 0.
        canonical = np.packbits(np.where(coalitions[:, :1], ~coalitions, coalitions), axis=1)
        for coalition, key in zip(coalitions, canonical, strict=True):
            name = key.tobytes()
            if name in seen:
                continue
            seen.add(name)
            drawn.append(coalition)
            if len(drawn) == target:
                break
    if not drawn:
        return np.zeros((0, m), dtype=bool)
    first = np.array(drawn)
    return np.stack([first, ~first], axis=1).reshape(-1, m)


def coalition_design(n_features: int, nsamples: int, rng: np.random.Generator) -> CoalitionDesign:
    """Choose the coalitions to evaluate within a budget of ``nsamples``.

    Every coalition when ``2**M - 2 <= nsamples``. Otherwise, coalition sizes are taken
    in pairs from both ends (1 and M-1, then 2 and M-2, ...) and enumerated completely
    while the budget, spent in proportion to the kernel mass still open, covers a whole
    pair; the rest of the budget goes to paired sampling: each drawn coalition is
    evaluated together with its complement (antithetic pairs cancel the odd-order
    sampling error), sizes drawn in proportion to their kernel mass, pairs drawn without
    replacement (a pair drawn before is rejected and another drawn; the sampling stops
    early when the open sizes have no pair left), kept in draw order, each sampled
    coalition weighted ``open mass / number sampled``. The design's ``units`` record this:
    ``-1`` for the enumerated coalitions, then one unit per drawn pair (see
    :class:`~scoring_explainers.runtime._design.CoalitionDesign`).

    Parameters
    ----------
    n_features : int
    nsamples : int
        Number of coalitions to evaluate, at least ``n_features``... ``2**M - 2``.
    rng : numpy.random.Generator
        Only used for the sampled part; the design is fixed once made.
    """
    m = n_features
    if m < 2:
        raise ValueError("Kernel SHAP needs at least 2 features")
    n_all = 2**m - 2 if m < 63 else np.iinfo(np.int64).max
    if nsamples >= n_all:
        masks = np.concatenate([_all_of_size(m, s) for s in range(1, m)])
        sizes = masks.sum(1)
        weights = (m - 1) / (np.array([comb(m, int(s)) for s in sizes]) * sizes * (m - sizes))
        units = np.full(len(masks), -1, dtype=np.int64)
        return CoalitionDesign(masks, weights / weights.sum(), exact=True, units=units)

    mass = _size_mass(m)  # index s-1 -> size s
    blocks: list[np.ndarray] = []
    block_weights: list[np.ndarray] = []
    left = nsamples
    open_mass = 1.0
    complete: set[int] = set()
    for small in range(1, m // 2 + 1):
        large = m - small
        pair = [small] if small == large else [small, large]
        n_pair = sum(comb(m, s) for s in pair)
        pair_mass = sum(mass[s - 1] for s in pair)
        # Enumerate this pair only if its proportional share of the budget covers it.
        if n_pair > left or left * pair_mass / open_mass < n_pair - 1e-8:
            break
        for s in pair:
            block = _all_of_size(m, s)
            blocks.append(block)
            block_weights.append(np.full(len(block), mass[s - 1] / comb(m, s)))
            complete.add(s)
        left -= n_pair
        open_mass -= pair_mass

    n_fixed = sum(len(block) for block in blocks)
    if left >= 2 and open_mass > 1e-12:
        open_sizes = np.array([s for s in range(1, m) if s not in complete])
        p = mass[open_sizes - 1] / mass[open_sizes - 1].sum()
        sampled = _draw_pairs(m, open_sizes, p, left // 2, rng)
        blocks.append(sampled)
        block_weights.append(np.full(len(sampled), open_mass / max(1, len(sampled))))

    masks = np.concatenate(blocks)
    weights = np.concatenate(block_weights)
    units = np.concatenate(
        [
            np.full(n_fixed, -1, dtype=np.int64),
            np.repeat(np.arange((len(masks) - n_fixed) // 2, dtype=np.int64), 2),
        ]
    )
    return CoalitionDesign(masks, weights / weights.sum(), exact=False, units=units)
