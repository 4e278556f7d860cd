"""Background summaries for Kernel SHAP (distill side)."""

from __future__ import annotations

import numpy as np

from .._errors import InputError

__all__ = ["summarize", "summarize_rows"]


def summarize(
    X: np.ndarray,
    nclusters: int | None,
    *,
    random_state: int = 0,
    sample_weight: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted k-means summary of ``X``, as ``shap.kmeans(X, k, round_values=True)``.

    Each centre is snapped, feature by feature, to the nearest value observed in ``X`` (so
    integer codes and one-hot columns stay valid inputs), and weighted by the share of
    rows (or of ``sample_weight``) in its cluster.

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_features)
    nclusters : int or None
        ``None``, or at least ``n_rows``, keeps every row.
    random_state : int
    sample_weight : ndarray of shape (n_rows,), optional

    Returns
    -------
    background : ndarray of shape (n_background, n_features)
    weights : ndarray of shape (n_background,), summing to 1
    """
    n = len(X)
    weight = _row_weights(sample_weight, n)
    if nclusters is None or nclusters >= n:
        return X.copy(), weight / weight.sum()
    if nclusters < 1:
        raise InputError(f"nclusters must be a positive integer or None, got {nclusters}")
    if np.isnan(X).any():
        raise InputError(
            "initialization_examples contain missing values (NaN): k-means needs complete "
            "rows; impute them or pass nclusters=None"
        )
    from sklearn.cluster import KMeans

    km = KMeans(n_clusters=nclusters, random_state=random_state, n_init=10)
    km.fit(X, sample_weight=weight)
    centres = km.cluster_centers_.copy()
    for j in range(X.shape[1]):
        observed = np.unique(X[:, j])
        pos = np.clip(np.searchsorted(observed, centres[:, j]), 1, max(1, len(observed) - 1))
        left = observed[pos - 1]
        right = observed[np.minimum(pos, len(observed) - 1)]
        centres[:, j] = np.where(
            np.abs(centres[:, j] - left) <= np.abs(right - centres[:, j]), left, right
        )
    shares = np.bincount(km.labels_, weights=weight, minlength=nclusters)
    keep = shares > 0
    return centres[keep], shares[keep] / shares[keep].sum()


def summarize_rows(
    engineered: np.ndarray,
    nclusters: int | None,
    *,
    random_state: int = 0,
    sample_weight: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted k-means in standardised engineered space, each cluster represented by its
    member row nearest the centre: a background of real rows (valid categories, no averaged
    one-hot columns) for mixed data.

    Parameters
    ----------
    engineered : ndarray of shape (n_rows, n_engineered)
        The rows after the transformations (NaN allowed: replaced by the column mean for
        the clustering only).
    nclusters : int or None
        ``None``, or at least ``n_rows``, keeps every row.
    random_state : int
    sample_weight : ndarray of shape (n_rows,), optional

    Returns
    -------
    rows : ndarray of int, shape (n_background,)
        Indices of the chosen rows.
    weights : ndarray of shape (n_background,), summing to 1
        Each row's cluster's share of the (weighted) rows.
    """
    n = len(engineered)
    weight = _row_weights(sample_weight, n)
    if nclusters is None or nclusters >= n:
        return np.arange(n), weight / weight.sum()
    if nclusters < 1:
        raise InputError(f"nclusters must be a positive integer or None, got {nclusters}")
    from sklearn.cluster import KMeans

    Z = np.array(engineered, dtype=np.float64)
    means = np.nanmean(np.where(np.isfinite(Z), Z, np.nan), axis=0)
    means = np.where(np.isfinite(means), means, 0.0)
    Z = np.where(np.isfinite(Z), Z, means)
    std = Z.std(axis=0)
    Z = (Z - Z.mean(axis=0)) / np.where(std > 0, std, 1.0)
    km = KMeans(n_clusters=nclusters, random_state=random_state, n_init=10)
    km.fit(Z, sample_weight=weight)
    rows, shares = [], []
    for k in range(nclusters):
        members = np.flatnonzero((km.labels_ == k) & (weight > 0))
        if not len(members):
            continue
        distance = ((Z[members] - km.cluster_centers_[k]) ** 2).sum(axis=1)
        rows.append(int(members[np.argmin(distance)]))
        shares.append(float(weight[members].sum()))
    share = np.asarray(shares)
    return np.asarray(rows, dtype=np.int64), share / share.sum()


def _row_weights(sample_weight: np.ndarray | None, n: int) -> np.ndarray:
    """``sample_weight`` checked (non-negative, finite, not all zero, one per row), or ones."""
    weight = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if (
        weight.shape != (n,)
        or not np.all(np.isfinite(weight))
        or np.any(weight < 0)
        or weight.sum() <= 0
    ):
        raise InputError("background_weights must be non-negative finite numbers, one per row")
    return weight
