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


def coalition_design(n_features: int, nsamples: int, rng: np.random.Generator) -> CoalitionDesign:
    """Choose the coalitions to evaluate within a budget of ``nsamples``.

    Every coalition when ``2**M - 2 <= nsamples``. Otherwise, coalition sizes are taken
    in pairs from both ends (1 and M-1, then 2 and M-2, ...) and enumerated completely
    while the budget, spent in proportion to the kernel mass still open, covers a whole
    pair; the rest of the budget goes to paired sampling: each drawn coalition is
    evaluated together with its complement (antithetic pairs cancel the odd-order
    sampling error), sizes drawn in proportion to their kernel mass, duplicates merged.

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
        return CoalitionDesign(masks, weights / weights.sum(), exact=True)

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

    if left >= 2 and open_mass > 1e-12:
        open_sizes = np.array([s for s in range(1, m) if s not in complete])
        p = mass[open_sizes - 1] / mass[open_sizes - 1].sum()
        n_pairs = left // 2
        drawn_sizes = rng.choice(open_sizes, size=n_pairs, p=p)
        keys = rng.random((n_pairs, m))
        # The `size` smallest random keys of a row are a uniform subset of that size.
        ranks = np.argsort(np.argsort(keys, axis=1), axis=1)
        sampled = ranks < drawn_sizes[:, None]
        sampled = np.concatenate([sampled, ~sampled])
        unique, counts = np.unique(sampled, axis=0, return_counts=True)
        blocks.append(unique)
        block_weights.append(counts * (open_mass / len(sampled)))

    masks = np.concatenate(blocks)
    weights = np.concatenate(block_weights)
    return CoalitionDesign(masks, weights / weights.sum(), exact=False)
