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

__all__ = ["CoalitionDesign", "projection"]


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
    """

    masks: np.ndarray
    weights: np.ndarray
    exact: bool


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
