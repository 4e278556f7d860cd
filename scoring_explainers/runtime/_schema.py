"""The raw schema: what a raw input column holds, and how rows become one float matrix.

Every row that enters the library (``score``/``explain``, the service, Spark) is encoded
here, in numpy, into one float64 matrix of shape ``(n_rows, n_columns)`` before any graph
runs:

- a **numeric** column keeps its value as a float (NaN = missing; booleans are 0/1);
- a **categorical** column holds a *code*: the index of the value in the column's
  ``categories``, ``K = len(categories)`` for a missing value and ``K + 1`` for a value not
  among the categories (only when the column's ``unknown`` policy is ``"code"``; with
  ``"error"`` such a value is an :class:`InputError`).

Value matching is strict and the same everywhere: string categories accept ``str`` only;
integer categories accept integers and integral floats (``3.0``, as a pandas integer column
with missing values holds them), never booleans, and a non-integral float is an unknown
value; boolean categories and boolean columns accept ``bool`` only. Missing is ``None``,
a float NaN, or anything not equal to itself (``pandas.NA``, ``NaT``); ``""`` is a value.

No pandas here: a DataFrame is recognised by its ``columns`` and ``to_numpy``, a Series by
``index`` and ``to_numpy``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, overload

import numpy as np

from .._errors import InputError

__all__ = [
    "MAX_CATEGORIES",
    "Column",
    "Kind",
    "RawSchema",
    "Unknown",
    "ValueType",
    "check_names",
]

Kind = Literal["numeric", "categorical"]
ValueType = Literal["number", "integer", "boolean", "string"]
Unknown = Literal["code", "error"]
Category = str | int | bool | float

#: Largest magnitude a value may have: the ONNX graphs compute in float32.
FLOAT32_MAX = float(np.finfo(np.float32).max)
#: Most categories a column may have: codes travel as float32, exact up to 2**24.
MAX_CATEGORIES = 2**24 - 2
#: Largest scipy sparse input densified for scoring (cells).
MAX_SPARSE_CELLS = 50_000_000
#: Categories listed in an "unknown category" message.
_LISTED = 20

_KINDS: tuple[str, ...] = ("numeric", "categorical")
_NUMERIC_TYPES: tuple[str, ...] = ("number", "boolean")
_CATEGORY_TYPES: tuple[str, ...] = ("number", "integer", "boolean", "string")
_UNKNOWN: tuple[str, ...] = ("code", "error")


def check_names(
    names: Sequence[str], features: Sequence[str], *, what: str, where: str = ""
) -> None:
    """Raise an :class:`InputError` naming missing and unknown ``names`` (up to 10 each)."""
    given, known = set(names), set(features)
    missing = [f for f in features if f not in given]
    unknown = [n for n in names if n not in known]
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing {what} {missing[:10]}")
        if unknown:
            parts.append(f"unknown {what} {unknown[:10]}")
        prefix = f"{where}: " if where else ""
        raise InputError(prefix + "; ".join(parts) + f" (the model takes {len(features)} features)")


def is_missing(value: Any) -> bool:
    """``None``, NaN, or anything not equal to itself (``pandas.NA``, ``NaT``)."""
    if value is None:
        return True
    if isinstance(value, float):
        return value != value
    try:
        return bool(value != value)
    except (TypeError, ValueError):  # pandas.NA: its comparisons are NA, whose bool raises
        return True


def _shown(value: Any) -> str:
    text = repr(value.item() if isinstance(value, np.generic) else value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool | np.bool_)


def _is_real(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not _is_bool(value)


@dataclass(frozen=True)
class Column:
    """One raw input column.

    Parameters
    ----------
    name : str
    kind : {"numeric", "categorical"}
        Numeric values are encoded as their float value; categorical values as codes.
    type : {"number", "integer", "boolean", "string"}
        The JSON type of the values: ``number`` or ``boolean`` for a numeric column, any of
        the four for a categorical one.
    missing : bool
        Whether a missing value (None/NaN) is accepted: the preprocessing fills it or the
        model handles it.
    categories : tuple, optional
        Categorical only: the known values, in code order (``categories[i]`` has code ``i``).
    unknown : {"code", "error"}, optional
        Categorical only: a value not in ``categories`` gets code ``K + 1`` (``"code"``:
        the fitted encoder ignores it or maps it to its infrequent/unknown output) or is an
        :class:`InputError` (``"error"``: the fitted encoder would raise).
    """

    name: str
    kind: Kind
    type: ValueType
    missing: bool
    categories: tuple[Category, ...] | None = None
    unknown: Unknown | None = None
    _lookup: dict[Any, int] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        problem = self._problem()
        if problem:
            raise ValueError(f"column {self.name!r}: {problem}")
        lookup: dict[Any, int] = {}
        if self.categories is not None:
            object.__setattr__(self, "categories", tuple(self.categories))
            for i, value in enumerate(self.categories):
                lookup[value] = i
        object.__setattr__(self, "_lookup", lookup)

    def _problem(self) -> str | None:
        if not isinstance(self.name, str) or not self.name:
            return "the name must be a non-empty string"
        if self.kind not in _KINDS:
            return f"kind must be one of {list(_KINDS)}, got {self.kind!r}"
        if not isinstance(self.missing, bool):
            return "missing must be true or false"
        if self.kind == "numeric":
            if self.type not in _NUMERIC_TYPES:
                return f"a numeric column's type must be one of {list(_NUMERIC_TYPES)}"
            if self.categories is not None or self.unknown is not None:
                return "a numeric column has no categories or unknown policy"
            return None
        if self.type not in _CATEGORY_TYPES:
            return f"a categorical column's type must be one of {list(_CATEGORY_TYPES)}"
        if self.unknown not in _UNKNOWN:
            return f"unknown must be one of {list(_UNKNOWN)}, got {self.unknown!r}"
        if not isinstance(self.categories, tuple | list) or not self.categories:
            return "a categorical column needs a non-empty list of categories"
        if len(self.categories) > MAX_CATEGORIES:
            return f"more than {MAX_CATEGORIES} categories"
        accepts: Callable[[Any], bool] = {
            "string": lambda v: isinstance(v, str),
            "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
            "boolean": lambda v: isinstance(v, bool),
            "number": lambda v: _is_real(v) and math.isfinite(v),
        }[self.type]
        wrong = [v for v in self.categories if not accepts(v)]
        if wrong:
            return f"categories of type {self.type!r} cannot hold {_shown(wrong[0])}"
        if len(set(self.categories)) != len(self.categories):
            return "categories repeat a value"
        return None

    # -- codes --------------------------------------------------------------------------
    @property
    def n_categories(self) -> int:
        """``K``: the number of known categories (0 for a numeric column)."""
        return 0 if self.categories is None else len(self.categories)

    @property
    def missing_code(self) -> int:
        """``K``: the code of a missing value (categorical columns)."""
        return self.n_categories

    @property
    def unknown_code(self) -> int:
        """``K + 1``: the code of a value not among the categories (``unknown="code"``)."""
        return self.n_categories + 1

    def _fail(self, row: int, problem: str) -> InputError:
        return InputError(f"row {row}, column {self.name!r}: {problem}")

    def _missing_problem(self) -> str:
        return (
            "missing value; the preprocessing does not fill it and the model does not handle "
            "missing values"
        )

    def code(self, value: Any, row: int = 0) -> float:
        """The encoded value of one cell.

        Parameters
        ----------
        value : any
        row : int, default=0
            The row the cell is in, for the message.

        Returns
        -------
        float

        Raises
        ------
        InputError
            Naming the row, the column and the value.
        """
        result = self._code_or_problem(value)
        if isinstance(result, str):
            raise self._fail(row, result)
        return result

    def _code_or_problem(self, value: Any) -> float | str:
        """The code of ``value``, or a message saying why it has none."""
        if self.kind == "numeric":
            if self.type == "boolean":
                if _is_bool(value):
                    return float(value)
                if is_missing(value):
                    return math.nan if self.missing else self._missing_problem()
                return f"expected true or false, got {_shown(value)}"
            if _is_real(value):
                number = float(value)
                if number != number:
                    return math.nan if self.missing else self._missing_problem()
                if math.isinf(number):
                    return f"infinite value {_shown(value)}"
                if abs(number) > FLOAT32_MAX:
                    return f"value {number:.3g} is beyond the float32 range the model computes in"
                return number
            if is_missing(value):
                return math.nan if self.missing else self._missing_problem()
            return f"non-numeric value {_shown(value)} (expected a number)"
        if is_missing(value):
            return float(self.missing_code) if self.missing else self._missing_problem()
        key: Any
        if self.type == "string":
            if not isinstance(value, str):
                return f"expected a string category, got {_shown(value)}"
            key = str(value)
        elif self.type == "boolean":
            if not _is_bool(value):
                return f"expected a boolean category, got {_shown(value)}"
            key = bool(value)
        elif self.type == "integer":
            if not _is_real(value):
                return f"expected an integer category, got {_shown(value)}"
            number = float(value)
            key = int(value) if isinstance(value, int | np.integer) else None
            if key is None and number.is_integer():
                key = int(number)
        else:  # number
            if not _is_real(value):
                return f"expected a number category, got {_shown(value)}"
            key = float(value)
        code = self._lookup.get(key) if key is not None else None
        if code is not None:
            return float(code)
        if self.unknown == "code":
            return float(self.unknown_code)
        known = list(self.categories or ())
        listed = ", ".join(_shown(c) for c in known[:_LISTED]) + (
            ", ..." if len(known) > _LISTED else ""
        )
        return (
            f"unknown category {_shown(value)}; the fitted encoder raises for it "
            f"(known: [{listed}])"
        )

    def encode_values(
        self,
        values: Sequence[Any] | np.ndarray,
        first_row: int = 0,
        problems: list[tuple[int, str]] | None = None,
    ) -> np.ndarray:
        """Encode one column's values.

        Parameters
        ----------
        values : sequence or ndarray of shape (n_rows,)
        first_row : int, default=0
            The row number of ``values[0]``, for messages.
        problems : list, optional
            When given, every bad cell appends ``(row, message)`` here and is encoded as NaN;
            otherwise the first bad cell raises.

        Returns
        -------
        ndarray of shape (n_rows,), float64

        Raises
        ------
        InputError
            (without ``problems``) naming the row, the column and the value.
        """
        if isinstance(values, np.ndarray) and values.dtype.kind in "biuf":
            if self.kind == "numeric" and (self.type == "number" or values.dtype.kind == "b"):
                return self._numeric_array(values, first_row, problems)
            values = values.astype(object)
        out = np.empty(len(values), dtype=np.float64)
        lookup = self._lookup
        fast_string = self.kind == "categorical" and self.type == "string"
        for i, value in enumerate(values):
            if fast_string and type(value) is str:
                code = lookup.get(value)
                if code is not None:
                    out[i] = code
                    continue
            result = self._code_or_problem(value)
            if isinstance(result, str):
                if problems is None:
                    raise self._fail(first_row + i, result)
                problems.append(
                    (first_row + i, f"row {first_row + i}, column {self.name!r}: {result}")
                )
                out[i] = math.nan
            else:
                out[i] = result
        return out

    def _numeric_array(
        self, values: np.ndarray, first_row: int, problems: list[tuple[int, str]] | None
    ) -> np.ndarray:
        out = values.astype(np.float64)
        if values.dtype.kind == "b":
            return out
        bad = ~(np.abs(out) <= FLOAT32_MAX)  # NaN, infinities, beyond float32
        if self.missing:
            bad &= ~np.isnan(out)
        if not bad.any():
            return out
        for i in np.flatnonzero(bad).tolist():
            result = self._code_or_problem(float(out[i]))
            assert isinstance(result, str)
            if problems is None:
                raise self._fail(first_row + i, result)
            problems.append((first_row + i, f"row {first_row + i}, column {self.name!r}: {result}"))
            out[i] = math.nan
        return out

    # -- JSON ---------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The manifest form: ``name``, ``kind``, ``type``, ``missing`` (and for a
        categorical column ``categories`` and ``unknown``)."""
        out: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "type": self.type,
            "missing": self.missing,
        }
        if self.kind == "categorical":
            out["categories"] = list(self.categories or ())
            out["unknown"] = self.unknown
        return out

    @classmethod
    def from_json(cls, data: Any) -> Column:
        """Parse :meth:`to_json`'s form; ``ValueError`` naming the problem."""
        if not isinstance(data, dict):
            raise ValueError("a column must be a JSON object")
        if data.get("kind") not in _KINDS:
            raise ValueError(
                f"column {data.get('name')!r}: kind must be one of {list(_KINDS)}, "
                f"got {data.get('kind')!r}"
            )
        required = {"name", "kind", "type", "missing"}
        allowed = required | (
            {"categories", "unknown"} if data.get("kind") == "categorical" else set()
        )
        keys = set(data)
        if required - keys:
            raise ValueError(f"a column needs the keys {sorted(required - keys)}")
        if keys - allowed:
            raise ValueError(
                f"column {data.get('name')!r}: unexpected keys {sorted(keys - allowed)}"
            )
        categories = data.get("categories")
        if data["kind"] == "categorical" and not isinstance(categories, list):
            raise ValueError(f"column {data.get('name')!r}: categories must be a list")
        return cls(
            name=data["name"],
            kind=data["kind"],
            type=data["type"],
            missing=data["missing"],
            categories=None if categories is None else tuple(categories),
            unknown=data.get("unknown"),
        )


def _is_dataframe(X: Any) -> bool:
    return hasattr(X, "columns") and hasattr(X, "to_numpy") and hasattr(X, "dtypes")


def _is_series(X: Any) -> bool:
    return (
        not _is_dataframe(X)
        and hasattr(X, "index")
        and hasattr(X, "to_numpy")
        and getattr(X, "ndim", None) == 1
    )


class RawSchema:
    """The raw input columns of an explainer, in order, and the one encoder of rows.

    Parameters
    ----------
    columns : sequence of Column
        At least one; names unique.
    """

    def __init__(self, columns: Sequence[Column]) -> None:
        self.columns: tuple[Column, ...] = tuple(columns)
        if not self.columns:
            raise ValueError("a schema needs at least one column")
        if not all(isinstance(c, Column) for c in self.columns):
            raise ValueError("a schema is made of Column objects")
        self.names: list[str] = [c.name for c in self.columns]
        if len(set(self.names)) != len(self.names):
            repeated = sorted({n for n in self.names if self.names.count(n) > 1})[:10]
            raise ValueError(f"column names {repeated} appear more than once")
        self.numeric_only: bool = all(c.kind == "numeric" for c in self.columns)
        self._position = {name: j for j, name in enumerate(self.names)}
        # numeric "number" columns are checked together, as one block
        self._number_columns = np.array(
            [j for j, c in enumerate(self.columns) if c.kind == "numeric" and c.type == "number"],
            dtype=np.intp,
        )
        self._all_numbers = len(self._number_columns) == len(self.columns)
        self._missing_allowed = np.array([c.missing for c in self.columns], dtype=bool)

    # -- construction -------------------------------------------------------------------
    @classmethod
    def numeric(cls, names: Sequence[str], *, missing: bool) -> RawSchema:
        """Every column numeric (``type="number"``), as for a version-1 artifact.

        Parameters
        ----------
        names : sequence of str
        missing : bool
            Whether NaN is accepted in every column.
        """
        return cls([Column(str(n), "numeric", "number", missing) for n in names])

    def to_json(self) -> list[dict[str, Any]]:
        """The manifest's ``raw_schema``: one object per column, in order."""
        return [c.to_json() for c in self.columns]

    @classmethod
    def from_json(cls, data: Any) -> RawSchema:
        """Parse :meth:`to_json`'s form.

        Raises
        ------
        ValueError
            Naming the problem (not a list, a bad column, repeated names).
        """
        if not isinstance(data, list) or not data:
            raise ValueError("raw_schema must be a non-empty list of columns")
        return cls([Column.from_json(c) for c in data])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RawSchema) and self.columns == other.columns

    def __hash__(self) -> int:
        return hash(self.columns)

    def __len__(self) -> int:
        return len(self.columns)

    def __repr__(self) -> str:
        kinds = sum(c.kind == "categorical" for c in self.columns)
        return f"RawSchema({len(self)} columns, {kinds} categorical)"

    # -- encoding -------------------------------------------------------------------------
    def column_encoder(self, j: int) -> Callable[[Sequence[Any] | np.ndarray, int], np.ndarray]:
        """The encoder of column ``j``: ``(values, first_row) -> codes`` (float64), raising
        an :class:`InputError` naming the row, the column and the value of the first bad
        cell."""
        column = self.columns[j]

        def encode(values: Sequence[Any] | np.ndarray, first_row: int = 0) -> np.ndarray:
            return column.encode_values(values, first_row)

        return encode

    def example_codes(self, n: int = 1) -> np.ndarray:
        """``n`` valid encoded rows (0 for numeric columns, the first category's code 0 for
        categorical ones): shape (n, n_columns), float64."""
        return np.zeros((n, len(self.columns)), dtype=np.float64)

    @overload
    def encode(self, X: Any, *, errors: Literal["raise"] = "raise") -> np.ndarray: ...

    @overload
    def encode(
        self, X: Any, *, errors: Literal["collect"]
    ) -> tuple[np.ndarray, list[tuple[int, str]]]: ...

    def encode(
        self, X: Any, *, errors: Literal["raise", "collect"] = "raise"
    ) -> np.ndarray | tuple[np.ndarray, list[tuple[int, str]]]:
        """Rows of any form the library takes -> the code matrix.

        Parameters
        ----------
        X : DataFrame, Series (one row), ndarray of shape (n_rows, n_columns) or (n_columns,)
            (numeric or object), list of rows, list of records (dicts), scipy sparse
            (numeric schemas)
            A DataFrame, a Series and records are matched by column name (any order, no
            column missing or extra).
        errors : {"raise", "collect"}, default="raise"
            ``"raise"``: the first bad cell (lowest row, then column order) is an
            :class:`InputError`. ``"collect"``: return the problems too, one per bad row
            (its first bad cell), bad rows encoded with NaN in their bad cells.

        Returns
        -------
        codes : ndarray of shape (n_rows, n_columns), float64
        problems : list of (row, message)
            With ``errors="collect"`` only, sorted by row.

        Raises
        ------
        InputError
            Whatever the rows' values: wrong, missing, extra or repeated columns, a wrong
            width, an empty batch, a shape that is not rows; with ``errors="raise"`` also
            the first bad value, naming row, column and value.
        """
        if errors not in ("raise", "collect"):
            raise ValueError(f"errors must be 'raise' or 'collect', got {errors!r}")
        fast = self._numeric_matrix(X)
        if fast is not None:
            return fast if errors == "raise" else (fast, [])
        columns = self._columns_of(X)
        n = len(columns[0]) if columns else 0
        if n == 0:
            raise InputError("empty batch: no rows to explain")
        codes = np.empty((n, len(self.columns)), dtype=np.float64)
        problems: list[tuple[int, str]] = []
        unchecked: list[int] = []
        for j, (column, values) in enumerate(zip(self.columns, columns, strict=True)):
            if (
                column.kind == "numeric"
                and column.type == "number"
                and isinstance(values, np.ndarray)
                and values.dtype.kind in "biuf"
            ):
                codes[:, j] = values  # checked below, all such columns at once
                unchecked.append(j)
                continue
            found: list[tuple[int, str]] = []
            codes[:, j] = column.encode_values(values, 0, found)
            problems.extend(found[:1] if errors == "raise" else found)
        if unchecked and not self._valid_numbers(codes[:, unchecked], unchecked):
            for j in unchecked:
                found = []
                self.columns[j].encode_values(columns[j], 0, found)
                problems.extend(found[:1] if errors == "raise" else found)
        if errors == "raise":
            if problems:
                raise InputError(min(problems, key=lambda p: p[0])[1])
            return codes
        first: dict[int, str] = {}
        for row, message in sorted(problems, key=lambda p: p[0]):  # stable: column order
            first.setdefault(row, message)
        return codes, sorted(first.items())

    def _valid_numbers(self, block: np.ndarray, columns: Sequence[int] | np.ndarray) -> bool:
        """Whether every value of ``block`` (numeric columns ``columns``) is finite, within
        float32, or NaN where that column allows missing values."""
        ok = np.abs(block) <= FLOAT32_MAX  # False for NaN and infinities
        if ok.all():
            return True
        ok |= np.isnan(block) & self._missing_allowed[np.asarray(columns)]
        return bool(ok.all())

    def _numeric_matrix(self, X: Any) -> np.ndarray | None:
        """A numeric ndarray for an all-number schema, checked as one block: the codes, or
        ``None`` to take the general path (which also gives the messages)."""
        if not (self._all_numbers and isinstance(X, np.ndarray) and X.dtype.kind in "biuf"):
            return None
        m = len(self.columns)
        if X.ndim == 1 and X.shape[0] == m:
            X = X.reshape(1, -1)
        if X.ndim != 2 or X.shape[1] != m or X.shape[0] == 0:
            return None
        matrix = np.asarray(X, dtype=np.float64)
        return matrix if self._valid_numbers(matrix, self._number_columns) else None

    def problems(self, X: Any) -> list[tuple[int, str]]:
        """One ``(row, message)`` per row with a bad value, sorted by row (structural
        problems, e.g. a missing column, still raise :class:`InputError`)."""
        return self.encode(X, errors="collect")[1]

    # -- shapes of input ------------------------------------------------------------------
    def _columns_of(self, X: Any) -> list[Any]:
        """Per-column value sequences (ndarrays), one per schema column, in order."""
        m = len(self.columns)
        if hasattr(X, "toarray") and hasattr(X, "nnz"):  # scipy sparse
            cells = int(X.shape[0]) * int(X.shape[1])
            if cells > MAX_SPARSE_CELLS:
                raise InputError(
                    f"a sparse matrix of {X.shape[0]} x {X.shape[1]} is too large to densify "
                    f"at once (limit {MAX_SPARSE_CELLS:,} cells); explain it in batches"
                )
            X = X.toarray()
        if _is_dataframe(X):
            return self._dataframe_columns(X)
        if _is_series(X):
            return self._series_columns(X)
        if isinstance(X, dict):
            raise InputError(
                "a dict is not rows: pass a DataFrame, a list of records (dicts) or a 2-D array"
            )
        if isinstance(X, list | tuple) and X and all(isinstance(r, dict) for r in X):
            return self._record_columns(X)
        matrix = self._matrix(X)
        if matrix.ndim == 1 and matrix.shape[0] == 0:
            raise InputError("empty batch: no rows to explain")
        if matrix.ndim == 1 and matrix.shape[0] == m:
            matrix = matrix.reshape(1, -1)
        if matrix.ndim != 2:
            raise InputError(
                f"rows must form a 2-D array of shape (n_rows, {m}), "
                f"got {matrix.ndim} dimension(s) with shape {matrix.shape}"
            )
        if matrix.shape[0] == 0:
            raise InputError("empty batch: no rows to explain")
        if matrix.shape[1] != m:
            raise InputError(f"expected {m} features per row, got {matrix.shape[1]}")
        return [matrix[:, j] for j in range(m)]

    def _matrix(self, X: Any) -> np.ndarray:
        if isinstance(X, np.ndarray):
            if X.dtype.kind in "biufO":
                return X
            if X.dtype.kind in "USV":
                return X.astype(object)
            raise InputError(f"rows of dtype {X.dtype} cannot be encoded")
        if isinstance(X, list | tuple):
            rows = list(X)
            if rows and all(isinstance(r, list | tuple | np.ndarray) for r in rows):
                m = len(self.columns)
                for i, r in enumerate(rows):
                    if len(r) != m:
                        raise InputError(f"expected {m} features per row, got {len(r)} in row {i}")
                matrix = np.empty((len(rows), m), dtype=object)
                for i, r in enumerate(rows):
                    matrix[i, :] = list(r)
                return _narrowed(matrix)
            flat = np.empty(len(rows), dtype=object)
            flat[:] = rows
            if any(isinstance(v, list | tuple | np.ndarray | dict) for v in rows):
                raise InputError("rows must all be lists of values (or all records)")
            return _narrowed(flat)
        try:
            matrix = np.asarray(X)
        except (TypeError, ValueError) as exc:
            raise InputError(f"rows must form a 2-D array: {exc}") from exc
        if matrix.dtype.kind not in "biufO":
            matrix = matrix.astype(object)
        return matrix

    def _dataframe_columns(self, X: Any) -> list[Any]:
        names = [str(c) for c in X.columns]
        if len(set(names)) != len(names):
            dupes = sorted({c for c in names if names.count(c) > 1})
            raise InputError(f"duplicate column names: {dupes}")
        check_names(names, self.names, what="columns")
        if len(X) == 0:
            raise InputError("empty batch: no rows to explain")
        position = {c: i for i, c in enumerate(names)}
        if self._all_numbers and all(getattr(d, "kind", "O") in "biuf" for d in X.dtypes):
            try:  # one conversion for the whole frame
                order = [position[c.name] for c in self.columns]
                matrix = X.iloc[:, order].to_numpy(dtype=np.float64, na_value=np.nan)
                return [matrix[:, j] for j in range(len(order))]
            except (TypeError, ValueError):
                pass
        out = []
        for column in self.columns:
            series = X.iloc[:, position[column.name]]
            kind = getattr(series.dtype, "kind", "O")
            if column.kind == "numeric" and column.type == "number" and kind in "biuf":
                try:
                    out.append(series.to_numpy(dtype=np.float64, na_value=np.nan))
                    continue
                except (TypeError, ValueError):
                    pass
            out.append(series.to_numpy(dtype=object))
        return out

    def _series_columns(self, X: Any) -> list[Any]:
        labels = list(X.index)
        values = X.to_numpy(dtype=object)
        m = len(self.columns)
        if labels == list(range(len(labels))):  # a plain array turned into a Series
            if len(values) != m:
                raise InputError(f"expected {m} features per row, got {len(values)}")
            return [values[j : j + 1] for j in range(m)]
        names = [str(label) for label in labels]
        if len(set(names)) != len(names):
            dupes = sorted({c for c in names if names.count(c) > 1})
            raise InputError(f"duplicate names in the row's index: {dupes}")
        check_names(names, self.names, what="columns")
        position = {c: i for i, c in enumerate(names)}
        return [values[position[c.name] : position[c.name] + 1] for c in self.columns]

    def _record_columns(self, records: Sequence[dict[Any, Any]]) -> list[Any]:
        m = len(self.columns)
        matrix = np.empty((len(records), m), dtype=object)
        for i, record in enumerate(records):
            if len(record) != m or any(k not in self._position for k in record):
                check_names(
                    [str(k) for k in record], self.names, what="columns", where=f"record {i}"
                )
            for name, value in record.items():
                matrix[i, self._position[name]] = value
        return [matrix[:, j] for j in range(m)]


def _narrowed(matrix: np.ndarray) -> np.ndarray:
    """An object array of Python/numpy numbers only as float64 (the fast path); else as is."""
    try:
        if all(_is_real(v) for v in matrix.flat):
            return matrix.astype(np.float64)
    except (TypeError, ValueError, OverflowError):
        pass
    return matrix
