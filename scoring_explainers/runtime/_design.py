"""Kernel SHAP's coalition design and its constrained least-squares projection.

Both are fixed at distill time, so at run time an explanation is one model evaluation of
the synthetic rows and one matrix product.

For a row ``x`` with model output ``f(x)``, background expectation ``E`` and coalition
values ``v(z) = sum_b w_b f(x_z, b_{not z})``, Kernel SHAP solves

    min_phi  sum_z k(z) (v(z) - E - z . phi)^2    subject to   sum(phi) = f(x) - E

with the Shapley kernel ``k``. The solution is linear in ``(v - E, f(x) - E)``:
``phi = P (v - E) + q (f(x) - E)`` with ``P`` and ``q`` computed here once.
When every coalition is enumerated the result is the exact Shapley value with respect to
the background. The coalitions themselves are chosen at distill time
(:mod:`scoring_explainers.distill._design`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "MAX_GROUPS",
    "CoalitionDesign",
    "check_units",
    "checkpoints",
    "n_groups",
    "projection",
    "sub_design",
]

#: Most groups of the delete-a-group jackknife.
MAX_GROUPS = 8


@dataclass(frozen=True)
class CoalitionDesign:
    """Coalitions and their regression weights.

    Attributes
    ----------
    masks : ndarray of shape (n_coalitions, n_features), bool
        ``True`` where the feature comes from the explained row.
    weights : ndarray of shape (n_coalitions,), float64
        Shapley-kernel weight of each coalition (sums to 1).
    exact : bool
        Every coalition is enumerated: the values are exact Shapley values.
    units : ndarray of shape (n_coalitions,), int64, or None
        The sampling units. ``-1`` marks an enumerated coalition (no sampling error); these
        come first. The sampled coalitions follow, grouped into units ``0 .. U-1`` in
        order: a unit is one drawn coalition and its complement, in adjacent rows, and the
        units are in draw order. So the enumerated part plus the first ``u`` units is a
        valid (smaller) design: a *prefix*. ``None``: a design made before units were
        recorded (no standard errors and no tolerance for it).

    Notes
    -----
    Sub-design rule (prefixes and the jackknife): the enumerated coalitions keep their
    weights; the kept sampled coalitions have their weights scaled by (total sampled
    weight / kept sampled weight); then :func:`projection` as usual (:func:`sub_design`).

    Standard errors: delete-a-group jackknife over the units of a prefix of ``u`` units,
    ``G = min(8, U)`` groups, unit ``i`` in group ``i % G`` (every prefix of at least ``G``
    units holds all groups, balanced). ``phi_(g)`` is the sub-design without group ``g``'s
    units and ``se**2 = (G - 1) / G * sum_g (phi_(g) - mean_g phi_(g))**2``. Zero for a
    design without sampled units.
    """

    masks: np.ndarray
    weights: np.ndarray
    exact: bool
    units: np.ndarray | None = None


def projection(design: CoalitionDesign) -> tuple[np.ndarray, np.ndarray]:
    """The constrained weighted least-squares solution as a linear map.

    Returns
    -------
    P : ndarray of shape (n_features, n_coalitions)
    q : ndarray of shape (n_features,)
        ``phi = P @ (v - E) + q * (f(x) - E)``; ``P`` has zero column sums and ``q``
        sums to one, so ``sum(phi) == f(x) - E`` exactly (additivity).
    """
    Z = design.masks.astype(np.float64)
    W = design.weights
    A = Z.T @ (W[:, None] * Z)
    A_inv = np.linalg.pinv(A, hermitian=True)
    ones = np.ones(Z.shape[1])
    a1 = A_inv @ ones
    q = a1 / (ones @ a1)
    P = (np.eye(Z.shape[1]) - np.outer(q, ones)) @ A_inv @ (Z.T * W)
    return P, q


def sub_design(design: CoalitionDesign, keep: np.ndarray) -> CoalitionDesign:
    """The design restricted to the coalitions ``keep``, by the sub-design rule.

    Parameters
    ----------
    design : CoalitionDesign
        With ``units``.
    keep : ndarray of shape (n_coalitions,), bool
        Must keep every enumerated coalition and at least one sampled one (when there
        are any).

    Returns
    -------
    CoalitionDesign
        The kept rows; enumerated weights unchanged, sampled weights scaled by
        ``total sampled weight / kept sampled weight``.
    """
    if design.units is None:
        raise ValueError("the design has no sampling units")
    sampled = design.units >= 0
    weights = design.weights.copy()
    kept = weights[keep & sampled].sum()
    if sampled.any():
        if kept <= 0:
            raise ValueError("a sub-design must keep some sampled coalitions")
        weights[sampled] *= weights[sampled].sum() / kept
    return CoalitionDesign(design.masks[keep], weights[keep], False, design.units[keep])


def n_groups(n_units: int) -> int:
    """Jackknife groups for a design of ``n_units`` sampled units: ``min(8, U)``."""
    return min(MAX_GROUPS, n_units)


def checkpoints(n_units: int) -> list[int]:
    """Unit counts at which a tolerance is checked: doubling from ``max(G, ceil(U/16))``,
    always ending at ``U`` (``[0]`` when there are no sampled units)."""
    n_units = int(n_units)
    if n_units <= 0:
        return [0]
    out = []
    u = max(n_groups(n_units), -(-n_units // 16))
    while u < n_units:
        out.append(u)
        u *= 2
    out.append(n_units)
    return out


def check_units(units: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Validated sampling units for ``masks`` (see :class:`CoalitionDesign`).

    Parameters
    ----------
    units : array-like of shape (n_coalitions,), integer
    masks : ndarray of shape (n_coalitions, n_features), bool

    Returns
    -------
    ndarray of shape (n_coalitions,), int64

    Raises
    ------
    ValueError
        Naming the problem: wrong length or type, ``-1`` not first, ids not ``0, 1, ...``
        in order, a unit that is not exactly two adjacent complementary coalitions.
    """
    array = np.asarray(units)
    if array.ndim != 1 or len(array) != len(masks):
        raise ValueError(f"units must have shape ({len(masks)},), got {array.shape}")
    if array.dtype.kind not in "iu" and not (
        array.dtype.kind == "f" and np.isfinite(array).all() and (array == np.round(array)).all()
    ):
        raise ValueError(f"units must be integers, got dtype {array.dtype}")
    if len(array) and (array.min() < -1 or array.max() >= len(array)):
        raise ValueError("units must be -1 (enumerated) or a unit id below n_coalitions")
    ids = array.astype(np.int64)
    n_fixed = int((ids == -1).sum())
    if (ids[:n_fixed] != -1).any():
        raise ValueError("units: the enumerated coalitions (-1) must come first")
    sampled = ids[n_fixed:]
    if len(sampled) % 2:
        raise ValueError("units: every unit must be exactly two coalitions (odd count)")
    expected = np.repeat(np.arange(len(sampled) // 2, dtype=np.int64), 2)
    if not np.array_equal(sampled, expected):
        at = int(np.flatnonzero(sampled != expected)[0])
        raise ValueError(
            f"units: coalition {n_fixed + at} has unit {int(sampled[at])}, expected "
            f"{int(expected[at])} (units are 0, 0, 1, 1, ... in order, two adjacent "
            "coalitions each)"
        )
    pairs = np.asarray(masks, dtype=bool)[n_fixed:].reshape(-1, 2, masks.shape[1])
    not_complement = (pairs[:, 0] == pairs[:, 1]).any(axis=1)
    if not_complement.any():
        unit = int(np.flatnonzero(not_complement)[0])
        raise ValueError(f"units: unit {unit}'s two coalitions are not complements")
    return ids
