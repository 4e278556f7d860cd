"""Raw columns of any kind: the raw schema and the categorical lookup tables (distill side).

Each raw column is numeric (encoded as its value) or categorical (encoded as its index in
the column's ``categories``; ``K`` = missing, ``K+1`` = unknown). The fitted transformers
that read a categorical column are *tabulated*: the table of the column holds, for every
code, the engineered columns the fitted sklearn transformer itself gives for that value
(for the missing value and for unseen values too), so unknown and missing values behave
exactly as the fitted encoder makes them behave.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._errors import ConversionError, InputError
from ..transformations import FeatureMap, Leaf

__all__ = [
    "ENCODERS",
    "RawColumns",
    "Tabulated",
    "infer_columns",
    "infer_schema",
    "is_missing",
    "raw_frame",
    "transformed",
]

#: Steps that make the columns they read categorical.
ENCODERS = frozenset({"OneHotEncoder", "OrdinalEncoder", "TargetEncoder"})
#: Steps allowed in a leaf that reads a categorical column (then any one-to-one numeric step).
CATEGORICAL_STEPS = ENCODERS | {"SimpleImputer", "FunctionTransformer"}
#: Most categories a column may have (float32 codes are exact up to 2**24).
MAX_CATEGORIES = 1 << 24
#: Unseen values probed for a string column.
STRING_SENTINELS = ("\x00unseen-1", "\x00unseen-2")


def is_missing(value: Any) -> bool:
    """``None``, a float NaN, ``pd.NA`` or ``NaT``."""
    if value is None:
        return True
    try:
        return bool(value != value)
    except (TypeError, ValueError):  # pd.NA
        return True


def raw_frame(X: Any, names: list[str]) -> Any:
    """Raw rows as a DataFrame with ``names`` as columns (a DataFrame is reordered)."""
    import pandas as pd

    if hasattr(X, "columns"):
        absent = [n for n in names if n not in [str(c) for c in X.columns]]
        if absent:
            raise InputError(f"columns {absent} are missing from the raw data")
        frame = X.set_axis([str(c) for c in X.columns], axis=1)
        return frame[names]
    array = np.asarray(X, dtype=object)
    if array.ndim != 2 or array.shape[1] != len(names):
        raise InputError(f"expected rows of {len(names)} raw columns, got shape {array.shape}")
    frame = pd.DataFrame(array, columns=names)
    return frame.infer_objects()


def transformed(fmap: FeatureMap, frame: Any) -> np.ndarray:
    """``fmap.transform`` of raw rows given as a DataFrame: as a DataFrame when the
    transformations select columns by name (a list of pairs, or fitted on a DataFrame),
    else as an array (as they were fitted)."""
    t = fmap.transformations
    by_name = isinstance(t, list | tuple) or getattr(t, "feature_names_in_", None) is not None
    if not by_name:
        values = frame.to_numpy()
        numeric = all(getattr(d, "kind", "O") in "biuf" for d in frame.dtypes)
        return fmap.transform(values.astype(np.float64) if numeric else values)
    return fmap.transform(frame)


def _value_type(values: list[Any], name: str) -> str:
    if all(isinstance(v, str) for v in values):
        return "string"
    if all(isinstance(v, bool | np.bool_) for v in values):
        return "boolean"
    if all(
        isinstance(v, int | np.integer | float | np.floating)
        and not isinstance(v, bool | np.bool_)
        and float(v) == math.floor(float(v))
        for v in values
    ):
        return "integer"
    if all(isinstance(v, int | float | np.integer | np.floating) for v in values):
        return "number"
    kinds = sorted({type(v).__name__ for v in values})
    raise ConversionError(
        f"column {name!r} mixes value types {kinds}; a categorical column holds strings, "
        "integers or booleans only (normalise it before fitting)"
    )


def _canonical(value: Any, kind: str) -> Any:
    if kind == "string":
        return str(value)
    if kind == "boolean":
        return bool(value)
    if kind == "integer":
        return int(value)
    return float(value)


def _fits(value: Any, kind: str) -> bool:
    """Whether a fitted category ``value`` is a value of a column of type ``kind``."""
    if kind == "string":
        return isinstance(value, str)
    if isinstance(value, str):
        return False
    try:
        return _value_type([value], "") == kind or kind == "number"
    except ConversionError:
        return False


def _steps(transformer: Any) -> list[Any]:
    if transformer is None or isinstance(transformer, str):
        return []
    if hasattr(transformer, "steps"):
        return [s for _, step in transformer.steps for s in _steps(step)]
    return [transformer]


def _has_encoder(leaf: Leaf) -> bool:
    return any(type(step).__name__ in ENCODERS for step in _steps(leaf.transformer))


@dataclass(frozen=True)
class Tabulated:
    """The lookup table of one categorical column.

    Attributes
    ----------
    table : ndarray of shape (K + 2, width)
        Row ``i < K``: the engineered columns of ``categories[i]``; row ``K``: of the
        missing value; row ``K + 1``: of an unseen value (NaN where not allowed).
    engineered : ndarray of int, shape (width,)
        Which engineered columns (before post steps) the table's columns are.
    """

    table: np.ndarray
    engineered: np.ndarray


@dataclass(frozen=True)
class RawColumns:
    """What :func:`infer_columns` finds: the schema's columns (JSON form) and the tables."""

    columns: list[dict[str, Any]]
    tables: dict[int, Tabulated]
    numeric_leaves: list[int]
    """Indices (into ``fmap.leaves``) of the leaves converted by skl2onnx."""
    tabulated_leaves: list[int]


def _encoder_categories(leaf: Leaf, position: int) -> list[Any]:
    """The fitted categories (or imputer fill / missing markers) of ``position`` in a leaf."""
    found: list[Any] = []
    for step in _steps(leaf.transformer):
        cats = getattr(step, "categories_", None)
        if cats is not None and len(cats) == len(leaf.columns):
            found.extend(list(cats[position]))
        if type(step).__name__ == "SimpleImputer":
            marker = getattr(step, "missing_values", None)
            if isinstance(marker, str):
                found.append(marker)
    return found


def _missing_marker(leaf_values: list[Any], name: str) -> Any:
    has_none = any(v is None for v in leaf_values)
    has_nan = any(isinstance(v, float) and v != v for v in leaf_values)
    if has_none and has_nan:
        raise ConversionError(
            f"the fitted encoder of column {name!r} knows both None and NaN as categories; "
            "normalise None/NaN to one missing value before fitting"
        )
    return None if has_none else np.nan


def _transform_leaf(leaf: Leaf, frame: Any) -> np.ndarray:
    transformer = leaf.transformer
    if isinstance(transformer, str):  # passthrough
        return np.asarray(frame, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = transformer.transform(frame)
    if hasattr(out, "toarray"):
        out = out.toarray()
    return np.asarray(out, dtype=np.float64).reshape(len(frame), -1)


def _leaf_input(leaf: Leaf, frame: Any, names: list[str]) -> Any:
    """The leaf's input columns of ``frame`` (by name: every leaf here is fitted on a
    DataFrame or a numpy array, and takes the same columns either way)."""
    part = frame[[names[c] for c in leaf.columns]]
    transformer = leaf.transformer
    fitted = getattr(transformer, "feature_names_in_", None)
    if fitted is None and not isinstance(transformer, str):
        return part.to_numpy()
    return part


def _probe_rows(reference: Any, name: str, values: list[Any]) -> Any:
    import pandas as pd

    rows = reference.iloc[[0] * len(values)].reset_index(drop=True)
    column = None
    for dtype in (reference[name].dtype, np.float64):
        try:
            candidate = pd.Series(values, dtype=dtype)
        except (TypeError, ValueError):
            continue
        same = all(
            (is_missing(a) and is_missing(b)) or a == b
            for a, b in zip(candidate.tolist(), values, strict=True)
        )
        if same:
            column = candidate
            break
    if column is None:
        column = pd.Series(values, dtype=object).infer_objects()
    rows[name] = column
    return rows


def _try(leaf: Leaf, frame: Any, names: list[str]) -> np.ndarray | None:
    try:
        return _transform_leaf(leaf, _leaf_input(leaf, frame, names))
    except Exception:
        return None


def _leaf_name(leaf: Leaf) -> str:
    return (
        type(leaf.transformer).__name__ if not isinstance(leaf.transformer, str) else "passthrough"
    )


def _tabulate(
    j: int,
    leaves: list[tuple[int, Leaf]],
    fmap: FeatureMap,
    frame: Any,
    names: list[str],
    values: list[Any],
    kind: str,
    model_handles_missing: bool,
) -> tuple[dict[str, Any], Tabulated]:
    name = names[j]
    known: list[Any] = []
    markers: list[Any] = []
    for _, leaf in leaves:
        cats = _encoder_categories(leaf, leaf.columns.index(j))
        markers.extend(cats)
        known.extend(v for v in cats if not is_missing(v))
    vocab_raw = [_canonical(v, kind) for v in values]
    vocab_raw += [_canonical(v, kind) for v in known if _fits(v, kind)]
    try:
        vocab = sorted(set(vocab_raw))
    except TypeError as exc:
        raise ConversionError(f"column {name!r} mixes value types: {exc}") from exc
    if len(vocab) + 2 > MAX_CATEGORIES:
        raise ConversionError(f"column {name!r} has {len(vocab)} categories, more than allowed")
    missing_value = _missing_marker(markers, name)
    if kind == "string":
        sentinels: list[Any] = list(STRING_SENTINELS)
    elif kind == "boolean":
        sentinels = []
    else:
        top = max([0, *vocab])
        sentinels = [_canonical(top + 1, kind), _canonical(top + 2, kind)]
    blocks, owned = [], []
    unknown = "code"
    missing_ok = True
    for _, leaf in leaves:
        columns = [names[c] for c in leaf.columns]
        complete = frame[columns].notna().all(axis=1).to_numpy()
        reference = frame[complete].iloc[:1] if complete.any() else frame.iloc[:1].copy()
        if not complete.any():
            for c in leaf.columns:
                reference[names[c]] = [values[0] if c == j else reference[names[c]].iloc[0]]
        start, stop = leaf.output.start, leaf.output.stop
        own = np.flatnonzero(fmap.weights[j, start:stop] > 0)
        rows = _try(leaf, _probe_rows(reference, name, list(vocab)), names)
        if rows is None:
            raise ConversionError(
                f"the fitted {_leaf_name(leaf)} reading column {name!r} fails on its own "
                "known values"
            )
        miss = _try(leaf, _probe_rows(reference, name, [missing_value]), names)
        unseen = [_try(leaf, _probe_rows(reference, name, [s]), names) for s in sentinels]
        # the other outputs of the leaf must not move with this column
        others = np.setdiff1d(np.arange(stop - start), own)
        probes = [rows] + [p for p in [miss, *unseen] if p is not None]
        stacked = np.vstack(probes)[:, others]
        if others.size and not np.allclose(stacked, stacked[:1], equal_nan=True):
            raise ConversionError(
                f"the fitted {_leaf_name(leaf)} mixes column {name!r} into the outputs of "
                "other columns; categorical columns must be encoded each on its own"
            )
        width = own.size
        miss_row = np.full(width, np.nan) if miss is None else miss[0, own]
        if miss is None or (np.isnan(miss_row).any() and not model_handles_missing):
            missing_ok = False
        if not sentinels:
            unknown_row = np.full(width, np.nan)
            unknown = "error"
        elif any(u is None for u in unseen):
            unknown_row = np.full(width, np.nan)
            unknown = "error"
        else:
            first, second = unseen[0][0, own], unseen[1][0, own]  # type: ignore[index]
            if not np.array_equal(first, second, equal_nan=True):
                unknown = "error"  # the column also feeds a numeric transformer
            unknown_row = first
            if np.isnan(first).any() and not model_handles_missing:
                unknown = "error"
        blocks.append(np.vstack([rows[:, own], miss_row[None], unknown_row[None]]))
        owned.append(start + own)
    table = np.hstack(blocks) if blocks else np.zeros((len(vocab) + 2, 0))
    if unknown == "error":
        table[len(vocab) + 1] = np.nan
    if not missing_ok:
        table[len(vocab)] = np.nan
    column = {
        "name": name,
        "kind": "categorical",
        "type": kind,
        "missing": missing_ok,
        "categories": vocab,
        "unknown": unknown,
    }
    engineered = np.concatenate(owned) if owned else np.zeros(0)  # a dropped column: none
    return column, Tabulated(table=table, engineered=engineered.astype(np.int64))


def _numeric_missing(
    j: int,
    leaves: list[tuple[int, Leaf]],
    frame: Any,
    names: list[str],
    model_handles_missing: bool,
) -> bool:
    """Whether NaN in numeric column ``j`` is accepted: each leaf reading it fills it (or
    the model handles NaN)."""
    for _, leaf in leaves:
        columns = [names[c] for c in leaf.columns]
        complete = frame[columns].notna().all(axis=1).to_numpy()
        if not complete.any():
            continue
        reference = frame[complete].iloc[:1]
        out = _try(leaf, _probe_rows(reference, names[j], [np.nan]), names)
        if out is None or (np.isnan(out).any() and not model_handles_missing):
            return False
    return True


def _check_categorical_leaf(leaf: Leaf, numeric_inputs: list[str]) -> None:
    """Refuse a leaf that reads categorical columns unless it is an allowed chain: imputers
    and one-to-one functions, an encoder, then anything (checked one-to-one by the probes)."""
    if numeric_inputs:
        raise ConversionError(
            f"the fitted {_leaf_name(leaf)} reads categorical and numeric columns together "
            f"({numeric_inputs} numeric); give the categorical columns their own transformer"
        )
    for step in _steps(leaf.transformer):
        step_name = type(step).__name__
        if step_name in ENCODERS:
            return
        if step_name not in CATEGORICAL_STEPS:
            raise ConversionError(
                f"{step_name} reads categorical columns before any encoder; encode them "
                "with OneHotEncoder, OrdinalEncoder or TargetEncoder first"
            )
    raise ConversionError(
        f"the fitted {_leaf_name(leaf)} gives categorical columns to the model unencoded; "
        "encode them with OneHotEncoder, OrdinalEncoder or TargetEncoder"
    )


def infer_columns(X: Any, fmap: FeatureMap, *, model_handles_missing: bool) -> RawColumns:
    """The raw schema's columns (JSON form) and categorical tables of ``X`` through ``fmap``.

    Parameters
    ----------
    X : DataFrame or array of shape (n_rows, n_raw)
        The initialization rows (raw).
    fmap : FeatureMap
        With its leaves (read from fitted transformations).
    model_handles_missing : bool
        Whether the model takes NaN in its input.

    Returns
    -------
    RawColumns
    """
    names = list(fmap.raw_features)
    frame = raw_frame(X, names)
    if not fmap.leaves:
        raise ConversionError("the transformations have no leaves to read the raw columns")
    readers: dict[int, list[tuple[int, Leaf]]] = {j: [] for j in range(len(names))}
    for i, leaf in enumerate(fmap.leaves):
        for c in leaf.columns:
            readers[c].append((i, leaf))
    values: dict[int, list[Any]] = {}
    kinds: dict[int, str] = {}
    categorical: set[int] = set()
    for j, name in enumerate(names):
        column = frame[name].to_numpy(dtype=object)
        present = [v for v in column if not is_missing(v)]
        values[j] = present
        kinds[j] = _value_type(present, name) if present else "number"
        encoded = any(_has_encoder(leaf) for _, leaf in readers[j])
        if kinds[j] == "string" or encoded:
            categorical.add(j)
    tabulated = sorted(
        {i for i, leaf in enumerate(fmap.leaves) if categorical.intersection(leaf.columns)}
    )
    for i in tabulated:
        _check_categorical_leaf(
            fmap.leaves[i], [names[c] for c in fmap.leaves[i].columns if c not in categorical]
        )
    columns: list[dict[str, Any]] = []
    tables: dict[int, Tabulated] = {}
    for j, name in enumerate(names):
        if j in categorical:
            kind = kinds[j] if values[j] else "string"
            column, tables[j] = _tabulate(
                j,
                [(i, fmap.leaves[i]) for i, _ in readers[j]],
                fmap,
                frame,
                names,
                values[j],
                kind,
                model_handles_missing,
            )
            columns.append(column)
        else:
            columns.append(
                {
                    "name": name,
                    "kind": "numeric",
                    "type": "boolean" if kinds[j] == "boolean" else "number",
                    "missing": _numeric_missing(j, readers[j], frame, names, model_handles_missing),
                }
            )
    numeric_leaves = [i for i in range(len(fmap.leaves)) if i not in tabulated]
    return RawColumns(columns, tables, numeric_leaves, tabulated)


def infer_schema(
    X: Any, fmap: FeatureMap | None, *, model_handles_missing: bool, names: list[str] | None = None
) -> tuple[Any, dict[int, np.ndarray]]:
    """The raw schema of ``X`` and the categorical lookup tables.

    Parameters
    ----------
    X : DataFrame or array of shape (n_rows, n_raw)
    fmap : FeatureMap or None
        ``None``: every column numeric (``names`` then gives the names).
    model_handles_missing : bool

    Returns
    -------
    schema : RawSchema
    tables : dict of int to ndarray of shape (K + 2, width)
        Per categorical column.
    """
    from ..runtime._schema import RawSchema

    if fmap is None:
        width = int(np.shape(X)[1])
        return RawSchema.numeric(
            names or [f"feature_{i}" for i in range(width)], missing=model_handles_missing
        ), {}
    raw = infer_columns(X, fmap, model_handles_missing=model_handles_missing)
    return RawSchema.from_json(raw.columns), {j: t.table for j, t in raw.tables.items()}


def probe_rows(X: Any, columns: list[dict[str, Any]], names: list[str]) -> Any:
    """Raw rows with an unseen value (where the column codes unknowns) or a missing value
    (where allowed) in each column in turn, on copies of the first rows of ``X``."""
    frame = raw_frame(X, names)
    probes = []
    for j, column in enumerate(columns):
        changes: list[Any] = []
        if column.get("missing"):
            changes.append(np.nan)
        if column.get("unknown") == "code":
            changes.append(STRING_SENTINELS[0] if column["type"] == "string" else None)
            if column["type"] != "string":
                top = max([0, *column["categories"]])
                changes[-1] = _canonical(top + 7, column["type"])
        for k, value in enumerate(changes):
            row = frame.iloc[[(j + k) % len(frame)]].astype(object).copy()
            row.iloc[0, j] = value
            probes.append(row)
    if not probes:
        return frame.iloc[:0]
    import pandas as pd

    return pd.concat(probes, ignore_index=True)
