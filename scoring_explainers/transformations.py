"""Engineered -> raw feature mapping from fitted transformers' metadata.

A :class:`FeatureMap` says which raw columns each engineered column was made from, read
from the fitted transformers themselves (never from a sample row), so it holds for every
row: ``OneHotEncoder`` with ``drop`` or ``handle_unknown="ignore"``, imputers with
indicator columns, ``Pipeline``s, nested ``ColumnTransformer``s, passthrough and drop.

Values move from engineered to raw features by summing, per raw feature, over the
engineered columns it produced (an engineered column made from several raw columns is
spread evenly over them), so additivity is kept: a row's raw values sum to its engineered
values' sum.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._errors import InputError, UnsupportedModelError

__all__ = ["SEPARABLE", "FeatureMap", "Leaf", "feature_map"]

#: Transformers whose output column j comes from input column j only.
ONE_TO_ONE = frozenset(
    {
        "StandardScaler",
        "MinMaxScaler",
        "MaxAbsScaler",
        "RobustScaler",
        "Normalizer",
        "QuantileTransformer",
        "PowerTransformer",
        "Binarizer",
        "OrdinalEncoder",
        "KNNImputer",
        "IterativeImputer",
    }
)

#: Transformers whose every output column is a function of one input column's value only
#: (column-separable): masking a raw feature's engineered columns together then equals
#: transforming the masked raw row. ``Normalizer``, ``KNNImputer`` and ``IterativeImputer``
#: map column j to column j but use the other columns' values, so they are not here.
SEPARABLE = frozenset(
    {
        "StandardScaler",
        "MinMaxScaler",
        "MaxAbsScaler",
        "RobustScaler",
        "QuantileTransformer",
        "PowerTransformer",
        "Binarizer",
        "OrdinalEncoder",
        "OneHotEncoder",
        "TargetEncoder",
        "SimpleImputer",
        "MissingIndicator",
        "KBinsDiscretizer",
        "SplineTransformer",
    }
)


@dataclass(frozen=True)
class Leaf:
    """An innermost fitted transformer and the raw columns it reads.

    Attributes
    ----------
    transformer : object
        The fitted transformer (a Pipeline of steps, an encoder, ``"passthrough"``...).
    columns : list of int
        Positions of its input columns among the raw features, in its input order.
    output : slice
        Its block of engineered columns (before any ``post`` steps).
    separable : bool
        Whether each of its outputs depends on one input column's value only.
    """

    transformer: Any
    columns: list[int]
    output: slice
    separable: bool


@dataclass(frozen=True)
class FeatureMap:
    """Which raw features each engineered feature comes from.

    Attributes
    ----------
    raw_features : list of str
    engineered_features : list of str
    weights : ndarray of shape (n_raw, n_engineered)
        Column ``j`` sums to 1: the share of engineered column ``j`` given to each raw
        feature.
    transformations : object
        The fitted ColumnTransformer / tuple list it was read from (``None`` once loaded
        from an artifact: only the matrix is kept there).
    """

    raw_features: list[str]
    engineered_features: list[str]
    weights: np.ndarray
    transformations: Any = None
    leaves: list[Leaf] = field(default_factory=list)
    """The innermost transformers, in output order (empty once loaded from an artifact)."""
    post: Any = None
    """Steps applied to the stacked leaves' output (a Pipeline's steps after a leading
    ColumnTransformer), or ``None``."""

    @property
    def separable(self) -> bool:
        """Whether every engineered column is a function of one raw column's value only
        (each leaf separable, owning columns of one raw feature each, and no mixing post
        step), so that masking engineered columns by raw feature is exact."""
        if not self.leaves:
            return False
        if self.post is not None and not _separable(self.post):
            return False
        return all(leaf.separable for leaf in self.leaves) and bool(
            np.all((self.weights > 0).sum(axis=0) == 1)
        )

    def to_raw(self, values: np.ndarray) -> np.ndarray:
        """Engineered values (..., n_engineered) -> raw values (..., n_raw)."""
        raw: np.ndarray = np.asarray(values, dtype=np.float64) @ self.weights.T
        return raw

    def transform(self, X: Any) -> np.ndarray:
        """Raw rows -> engineered float64 matrix (n_rows, n_engineered)."""
        if self.transformations is None:
            raise UnsupportedModelError("this feature map has no transformer to apply")
        return _transform(self.transformations, X, self.raw_features)


def _dense(matrix: Any) -> np.ndarray:
    if hasattr(matrix, "toarray"):
        matrix = matrix.toarray()
    try:
        return np.asarray(matrix, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"the transformations give non-numeric columns: {exc}") from exc


def _transform(transformations: Any, X: Any, raw: list[str]) -> np.ndarray:
    if hasattr(transformations, "transform"):
        return _dense(transformations.transform(X))
    blocks = []
    for columns, transformer in transformations:
        cols = _tuple_columns(columns)
        part = X[cols] if hasattr(X, "columns") else np.asarray(X)[:, [raw.index(c) for c in cols]]
        out = part if transformer is None else transformer.transform(part)
        blocks.append(_dense(out).reshape(len(part), -1))
    return np.hstack(blocks)


def _tuple_columns(columns: Any) -> list[str]:
    if isinstance(columns, str | int):
        return [str(columns)]
    return [str(c) for c in columns]


def _is_drop(transformer: Any) -> bool:
    return isinstance(transformer, str) and transformer == "drop"


def _is_passthrough(transformer: Any) -> bool:
    return transformer is None or (isinstance(transformer, str) and transformer == "passthrough")


def _uniform(n_in: int, n_out: int) -> np.ndarray:
    return np.ones((n_in, n_out)) / max(n_in, 1)


def _onehot_widths(encoder: Any) -> list[int]:
    widths = getattr(encoder, "_n_features_outs", None)
    if widths is not None:
        return [int(w) for w in widths]
    drop = getattr(encoder, "drop_idx_", None)
    return [
        len(cats) - (0 if drop is None or drop[i] is None else 1)
        for i, cats in enumerate(encoder.categories_)
    ]


def _block(transformer: Any, n_in: int, allow_all: bool) -> np.ndarray:
    """The (n_in, n_out) 0/1 (or spread) map of one fitted transformer."""
    if _is_passthrough(transformer):
        return np.eye(n_in)
    name = type(transformer).__name__
    if hasattr(transformer, "steps"):  # Pipeline: compose the steps' maps
        weights = np.eye(n_in)
        for _, step in transformer.steps:
            if _is_drop(step):
                return np.zeros((n_in, 0))
            weights = weights @ _block(step, weights.shape[1], allow_all)
        return weights
    if hasattr(transformer, "transformers_"):  # nested ColumnTransformer
        fitted = getattr(transformer, "feature_names_in_", None)
        names = (
            [str(f) for f in fitted]
            if fitted is not None and len(fitted) == n_in
            else [str(i) for i in range(n_in)]
        )
        return _column_transformer(transformer, names, allow_all)[0]
    if name == "OneHotEncoder":
        widths = _onehot_widths(transformer)
        return np.repeat(np.eye(n_in), widths, axis=1)
    if name == "TargetEncoder":  # one column per feature, n_classes for multiclass
        per = len(transformer.classes_) if transformer.target_type_ == "multiclass" else 1
        return np.repeat(np.eye(n_in), per, axis=1)
    if name == "KBinsDiscretizer":
        if transformer.encode == "ordinal":
            return np.eye(n_in)
        return np.repeat(np.eye(n_in), [int(b) for b in transformer.n_bins_], axis=1)
    if name in ("SimpleImputer", "MissingIndicator"):
        return _imputer(transformer, n_in)
    if name == "SplineTransformer":  # n_splines columns per input, in input order
        return np.repeat(np.eye(n_in), int(transformer.n_features_out_) // n_in, axis=1)
    if name == "FunctionTransformer" and transformer.feature_names_out == "one-to-one":
        return np.eye(n_in)  # a function may mix columns: trusted only when it says so
    if name in ONE_TO_ONE:
        return np.eye(n_in)
    return _refuse(transformer, allow_all, n_in)


def _imputer(imputer: Any, n_in: int) -> np.ndarray:
    name = type(imputer).__name__
    if name == "MissingIndicator":
        features = np.asarray(imputer.features_, dtype=int)
        return np.eye(n_in)[:, features]
    keep = np.arange(n_in)
    statistics = getattr(imputer, "statistics_", None)
    if statistics is not None and not getattr(imputer, "keep_empty_features", False):
        stats = np.asarray(statistics)
        if stats.dtype.kind == "f":
            keep = np.flatnonzero(~np.isnan(stats))
    weights = np.eye(n_in)[:, keep]
    indicator = getattr(imputer, "indicator_", None)
    if indicator is not None:
        weights = np.hstack([weights, np.eye(n_in)[:, np.asarray(indicator.features_, int)]])
    return weights


def _refuse(transformer: Any, allow_all: bool, n_in: int) -> np.ndarray:
    n_out = getattr(transformer, "n_features_out_", None)
    if n_out is None and hasattr(transformer, "get_feature_names_out"):
        try:
            n_out = len(transformer.get_feature_names_out())
        except Exception:
            n_out = None
    if n_out is None and hasattr(transformer, "n_components_"):
        n_out = int(transformer.n_components_)
    if allow_all and n_out is not None:
        return _uniform(n_in, int(n_out))
    raise UnsupportedModelError(
        f"cannot tell which inputs each output of {type(transformer).__name__} comes from; "
        "pass allow_all_transformations=True to spread each of its outputs evenly over its "
        f"{n_in} input column(s)"
        + ("" if n_out is not None else " (its output width is unknown, too)")
    )


def _ct_columns(spec: Any, names: list[str], n: int) -> list[int]:
    """Positions of a ColumnTransformer column spec."""
    if callable(spec):
        raise UnsupportedModelError("callable column selectors are not supported")
    if isinstance(spec, slice):
        if isinstance(spec.start, str) or isinstance(spec.stop, str):
            start = 0 if spec.start is None else names.index(spec.start)
            stop = n if spec.stop is None else names.index(spec.stop) + 1
            return list(range(start, stop))
        return list(range(n))[spec]
    items = [spec] if isinstance(spec, str | int | np.integer) else list(spec)
    if items and all(isinstance(i, bool | np.bool_) for i in items):
        return [i for i, keep in enumerate(items) if keep]
    out = []
    for item in items:
        if isinstance(item, str):
            if item not in names:
                raise InputError(f"transformations use column {item!r}, not in the raw data")
            out.append(names.index(item))
        else:
            out.append(int(item))
    return out


def _column_transformer(ct: Any, raw: list[str], allow_all: bool) -> tuple[np.ndarray, list[str]]:
    n = len(raw)
    blocks: dict[str, np.ndarray] = {}
    for name, transformer, columns in ct.transformers_:
        cols = _ct_columns(columns, raw, n)
        if _is_drop(transformer) or not cols:
            continue
        block = _block(transformer, len(cols), allow_all)
        weights = np.zeros((n, block.shape[1]))
        weights[cols] = block
        blocks[name] = weights
    width = sum(b.shape[1] for b in blocks.values())
    total = np.zeros((n, width))
    indices = getattr(ct, "output_indices_", None)
    if indices is None:
        raise UnsupportedModelError("the ColumnTransformer has no output_indices_ (too old)")
    for name, weights in blocks.items():
        where = indices[name]
        if where.stop - where.start != weights.shape[1]:
            raise UnsupportedModelError(
                f"transformer {name!r} gives {where.stop - where.start} columns, its "
                f"metadata says {weights.shape[1]}"
            )
        total[:, where] = weights
    try:
        engineered = [str(f) for f in ct.get_feature_names_out()]
    except Exception:
        engineered = [f"engineered_{j}" for j in range(width)]
    return total, engineered


def _tuple_list(
    transformations: list[Any], raw: list[str], allow_all: bool
) -> tuple[np.ndarray, list[str]]:
    n = len(raw)
    blocks: list[np.ndarray] = []
    engineered: list[str] = []
    for entry in transformations:
        try:
            columns, transformer = entry
        except (TypeError, ValueError) as exc:
            raise InputError("transformations must be (columns, transformer) pairs") from exc
        cols = _tuple_columns(columns)
        missing = [c for c in cols if c not in raw]
        if missing:
            raise InputError(f"transformations use columns {missing}, not in the raw data")
        block = _block(transformer, len(cols), allow_all)
        weights = np.zeros((n, block.shape[1]))
        weights[[raw.index(c) for c in cols]] = block
        blocks.append(weights)
        names = None
        if transformer is not None and hasattr(transformer, "get_feature_names_out"):
            try:
                names = [str(f) for f in transformer.get_feature_names_out(cols)]
            except Exception:
                names = None
        if names is None or len(names) != block.shape[1]:
            names = (
                cols
                if block.shape[1] == len(cols)
                else [f"{'_'.join(cols)}_{j}" for j in range(block.shape[1])]
            )
        engineered.extend(names)
    return np.hstack(blocks) if blocks else np.zeros((n, 0)), engineered


def _steps(transformer: Any) -> list[Any]:
    """A transformer's innermost steps (a Pipeline flattened; passthrough as ``[]``)."""
    if _is_passthrough(transformer):
        return []
    if hasattr(transformer, "steps"):
        return [s for _, step in transformer.steps for s in _steps(step)]
    return [transformer]


def _separable(transformer: Any) -> bool:
    for step in _steps(transformer):
        name = type(step).__name__
        if name == "FunctionTransformer" and step.feature_names_out == "one-to-one":
            continue
        if hasattr(step, "transformers_"):
            return False
        if name not in SEPARABLE:
            return False
    return True


def _width(transformer: Any, n_in: int) -> int:
    return int(_block(transformer, n_in, True).shape[1])


def _ct_leaves(ct: Any, cols: list[int], raw: list[str], offset: int) -> list[Leaf]:
    """Leaves of a fitted ColumnTransformer reading raw columns ``cols`` (its input order)."""
    names = [raw[c] for c in cols]
    out = []
    for name, transformer, columns in ct.transformers_:
        picked = _ct_columns(columns, names, len(names))
        if _is_drop(transformer) or not picked:
            continue
        where = ct.output_indices_[name]
        inner = [cols[i] for i in picked]
        if hasattr(transformer, "transformers_"):
            out.extend(_ct_leaves(transformer, inner, raw, offset + where.start))
            continue
        out.append(
            Leaf(
                transformer=transformer,
                columns=inner,
                output=slice(offset + where.start, offset + where.stop),
                separable=_separable(transformer),
            )
        )
    return sorted(out, key=lambda leaf: leaf.output.start)


def _leaves(transformations: Any, raw: list[str]) -> tuple[list[Leaf], Any]:
    """The leaves (in output order) and post steps of fitted ``transformations``."""
    everything = list(range(len(raw)))
    if hasattr(transformations, "transformers_"):
        return _ct_leaves(transformations, everything, raw, 0), None
    if isinstance(transformations, list | tuple):
        leaves, start = [], 0
        for columns, transformer in transformations:
            cols = [raw.index(c) for c in _tuple_columns(columns)]
            width = _width(transformer, len(cols))
            leaves.append(
                Leaf(
                    transformer="passthrough" if transformer is None else transformer,
                    columns=cols,
                    output=slice(start, start + width),
                    separable=_separable(transformer),
                )
            )
            start += width
        return leaves, None
    steps = getattr(transformations, "steps", None)
    if steps and hasattr(steps[0][1], "transformers_"):
        leaves = _ct_leaves(steps[0][1], everything, raw, 0)
        post = transformations[1:] if len(steps) > 1 else None
        return leaves, post
    width = _width(transformations, len(raw))
    leaf = Leaf(transformations, everything, slice(0, width), _separable(transformations))
    return [leaf], None


def feature_map(
    transformations: Any,
    raw_features: list[str],
    *,
    allow_all_transformations: bool = False,
) -> FeatureMap:
    """Read the engineered -> raw map of fitted ``transformations``.

    Parameters
    ----------
    transformations : fitted ColumnTransformer, Pipeline of transformers, or list of
        ``(columns, fitted transformer or None)`` pairs (sklearn-pandas style: the outputs
        are stacked in list order).
    raw_features : list of str
        The raw columns, in the order of the raw data.
    allow_all_transformations : bool, default=False
        Accept transformers whose outputs mix several inputs (PCA, PolynomialFeatures...):
        each of their outputs is spread evenly over the transformer's inputs. Without it
        they are refused, since such a split is a convention, not a fact about the data.

    Returns
    -------
    FeatureMap
    """
    raw = [str(f) for f in raw_features]
    if hasattr(transformations, "transformers_"):
        counts, engineered = _column_transformer(transformations, raw, allow_all_transformations)
    elif isinstance(transformations, list | tuple):
        counts, engineered = _tuple_list(list(transformations), raw, allow_all_transformations)
    elif hasattr(transformations, "transform"):
        counts = _block(transformations, len(raw), allow_all_transformations)
        try:
            engineered = [str(f) for f in transformations.get_feature_names_out(raw)]
        except Exception:
            engineered = [f"engineered_{j}" for j in range(counts.shape[1])]
    else:
        raise InputError(
            "transformations must be a fitted ColumnTransformer, a fitted transformer or "
            f"Pipeline, or a list of (columns, transformer) pairs; got {type(transformations)}"
        )
    if len(engineered) != counts.shape[1]:
        engineered = [f"engineered_{j}" for j in range(counts.shape[1])]
    totals = counts.sum(axis=0)
    if np.any(totals == 0):
        raise UnsupportedModelError("an engineered column maps to no raw feature")
    leaves, post = _leaves(transformations, raw)
    return FeatureMap(
        raw_features=raw,
        engineered_features=engineered,
        weights=counts / totals,
        transformations=transformations,
        leaves=leaves,
        post=post,
    )
