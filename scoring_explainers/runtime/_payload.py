"""Request bodies -> a float matrix in feature order (numpy only: no pandas, no framework).

Shared by the service (``POST /score``, ``run(raw_data)``) and the notebook dashboard
(:class:`scoring_explainers.dashboard.ExplanationDashboard`). Accepted bodies:

- ``{"data": [[v, ...], ...]}``: rows as lists, in feature order (one flat list = one row);
- ``{"data": [{"feature": v, ...}, ...]}`` or ``[{"feature": v, ...}, ...]``: records;
- pandas ``DataFrame.to_json()`` in every orientation: ``"columns"`` (the default:
  ``{"feature": {"0": v, "1": v}, ...}``), ``"index"``, ``"split"``, ``"records"``,
  ``"values"`` (rows in feature order) and ``"table"`` (its ``schema`` and index fields are
  dropped).

``null`` means a missing value. Errors are :class:`InputError` naming the problem.

Given feature names, the rows are numbers and the result is a float matrix. Given a
:class:`RawSchema`, the result is its code matrix (ready for ``score_codes``): a schema of
numeric columns only takes the numeric path and encodes its matrix (the checks ``score``
makes); any other schema reads each column's values (strings in categorical columns,
``true``/``false`` in boolean ones) and encodes them with the schema's column encoders, so
a value is accepted or refused exactly as ``score(X)`` would.

Memory: a parsed body costs far more than its text (a Python float per number, a list per
row), so a body larger than any request the model can take is refused from its structure
before it is parsed (:func:`check_size`), and the service parses at most a few large bodies
at once (``service.payload.ParseSlots``).

JSON is read with orjson when it is installed (the ``serve`` extra), else with the standard
library, as strictly (no NaN/Infinity literals, bounded nesting, no repeated keys).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._errors import InputError
from ._base import check_names
from ._schema import RawSchema

try:  # an optional speed-up: the serve extra has it
    import orjson
except ImportError:  # pragma: no cover - exercised where orjson is not installed
    orjson = None  # type: ignore[assignment]

__all__ = [
    "MAX_DEPTH",
    "BodyTooLarge",
    "MalformedBody",
    "Structure",
    "check_size",
    "check_unique_keys",
    "decode",
    "encode_columns",
    "first_non_number",
    "not_a_number",
    "parse_rows",
    "rows_from_payload",
    "scan",
    "value_budget",
]

#: Deepest JSON nesting accepted (orjson's own limit): deeper bodies are a 400.
MAX_DEPTH = 1024


class MalformedBody(InputError):
    """The body is not valid JSON (HTTP 400)."""


class BodyTooLarge(InputError):
    """Too many rows or values in one request (HTTP 413)."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise MalformedBody(f"duplicate key {key[:80]!r} in a JSON object")
        seen.add(key)
    return dict(pairs)


def decode(body: bytes | bytearray | str) -> Any:
    """Parse JSON strictly: no NaN/Infinity literals, bounded nesting, no duplicate keys.

    orjson validates first (fast, and it bounds nesting); the standard library's parser
    then rejects duplicate object keys, which orjson would silently resolve to the last.
    That second parse is skipped when counting the quotes proves there is no duplicate
    (see ``_distinct_strings``), as for every usual body shape. Without orjson the
    standard library's parser does it all in one pass.
    """
    if not body:
        raise MalformedBody('empty body: send a JSON object such as {"data": [[...]]}')
    if orjson is None:
        return _decode_stdlib(body)
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedBody(f"body is not valid JSON: {exc}") from exc
    if isinstance(payload, dict) or (
        isinstance(payload, list) and payload and isinstance(payload[0], dict)
    ):
        quote: Any = '"' if isinstance(body, str) else b'"'
        if body.count(quote) != 2 * _distinct_strings(payload):
            check_unique_keys(body)
    return payload


def _no_constant(name: str) -> Any:
    raise MalformedBody(f"body is not valid JSON: {name} is not a JSON value")


def _decode_stdlib(body: bytes | bytearray | str) -> Any:
    """:func:`decode` with the standard library only (orjson not installed)."""
    try:
        return json.loads(body, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except RecursionError as exc:
        raise MalformedBody("JSON nested too deeply") from exc
    except MalformedBody:
        raise
    except ValueError as exc:
        raise MalformedBody(f"body is not valid JSON: {exc}") from exc


def check_unique_keys(body: bytes | bytearray | str) -> None:
    """Refuse a body with a repeated key in any object (the standard library's parser,
    which sees every key; slower than orjson, so only run when needed)."""
    try:
        json.loads(body, object_pairs_hook=_unique_keys)
    except RecursionError as exc:  # its limit is below orjson's
        raise MalformedBody("JSON nested too deeply to check its keys") from exc
    except MalformedBody:
        raise
    except ValueError as exc:
        raise MalformedBody(f"body is not valid JSON: {exc}") from exc


def _strings(items: Any) -> int:
    """Keys of the objects in a list, or its strings (pandas ``columns``); else 0."""
    if not isinstance(items, list) or not items:
        return 0
    if isinstance(items[0], dict):
        return sum(len(item) for item in items if isinstance(item, dict))
    if isinstance(items[0], str):
        return sum(isinstance(item, str) for item in items)
    return 0


def _distinct_strings(payload: Any) -> int:
    """How many strings (keys, column names) the usual body shapes hold after parsing,
    without walking the rows.

    A body whose quote characters number exactly twice this has no duplicate key: every
    JSON string takes at least two quotes, and each string counted here is a distinct
    string of the text, so equality leaves no room for another one, a repeated key
    included. Anything this does not count (string values, deeper objects) only makes the text's
    count larger, and such bodies take the full duplicate-key check.
    """
    if isinstance(payload, list):
        return _strings(payload)
    n = len(payload)
    for value in payload.values():
        if isinstance(value, dict):
            n += len(value)  # pandas orient="columns" / "index"
        elif isinstance(value, list):
            n += _strings(value)  # {"data": [records]}, split's columns
    return n


def _check_count(n: int, max_rows: int) -> None:
    if n > max_rows:
        raise BodyTooLarge(f"{n} rows in one request; the limit is {max_rows}")
    if n == 0:
        raise InputError("empty batch: no rows to score")


#: The types a JSON number or null parses to (``bool`` is not one of them).
_NUMBER_TYPES: frozenset[type] = frozenset({int, float, type(None)})


def first_non_number(values: list[Any], allowed: frozenset[type] = _NUMBER_TYPES) -> int:
    """Index of the first value whose type is not in ``allowed`` (numbers and null), or -1.

    One pass over the types in C when all are numbers; strings and booleans, which
    ``np.asarray(..., dtype=float)`` would silently turn into numbers, are found here.
    """
    if allowed.issuperset(map(type, values)):
        return -1
    return next(i for i, v in enumerate(values) if type(v) not in allowed)


def not_a_number(value: Any) -> str:
    """The end of the message for a value that should have been a number."""
    return f"values must be numbers (null for a missing value), got {value!r:.40}"


def _numbers(rows: list[Any], features: Sequence[str], *, plain: bool) -> np.ndarray:
    """Rows as lists of numbers (or one flat list: one row) -> (n_rows, n_features).

    ``plain``: the body's text is known to hold no string or boolean among the rows (see
    :func:`parse_rows`), so numpy's conversion is all the checking needed (a nested list or
    an object fails it); otherwise, or when it fails, each row is checked and the first
    problem named.
    """
    n_features = len(features)
    if plain:
        try:
            matrix = np.asarray(rows, dtype=np.float64)
        except (TypeError, ValueError, OverflowError):
            pass  # named below
        else:
            if matrix.ndim == 1 and len(matrix) == n_features:
                return matrix.reshape(1, -1)  # one flat list is one row
            if matrix.ndim == 2 and matrix.shape[1] == n_features:
                return matrix
    rows = _row_lists(rows, n_features, "numbers")
    for i, row in enumerate(rows):
        j = first_non_number(row)
        if j >= 0:
            raise InputError(f"row {i}, feature {features[j]!r}: {not_a_number(row[j])}")
    try:
        return np.asarray(rows, dtype=np.float64).reshape(len(rows), n_features)
    except OverflowError as exc:  # an integer beyond float64
        raise InputError("rows must hold numbers within the float64 range") from exc


def _value(v: Any, feature: str, row: int) -> float:
    if v is None:
        return float("nan")
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise InputError(f"row {row}, feature {feature!r}: {not_a_number(v)}")
    return float(v)


def _records(records: list[Any], features: Sequence[str], max_rows: int) -> np.ndarray:
    _check_count(len(records), max_rows)
    out = np.empty((len(records), len(features)))
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise InputError(f"record {i} is not an object of feature: value pairs")
        if len(record) != len(features) or any(f not in record for f in features):
            check_names(list(record), features, what="features", where=f"record {i}")
        for j, name in enumerate(features):
            out[i, j] = _value(record[name], name, i)
    return out


def _columns(table: dict[str, Any], features: Sequence[str], max_rows: int) -> np.ndarray:
    """pandas ``orient="columns"``: {feature: {row label: value}}."""
    check_names(list(table), features, what="features", where="columns")
    labels = list(table[features[0]])
    _check_count(len(labels), max_rows)
    out = np.empty((len(labels), len(features)))
    for j, name in enumerate(features):
        column = table[name]
        if not isinstance(column, dict) or len(column) != len(labels):
            raise InputError(f"column {name!r} must map the same {len(labels)} row labels")
        for i, label in enumerate(labels):
            if label not in column:
                raise InputError(f"column {name!r} has no value for row {label!r}")
            out[i, j] = _value(column[label], name, i)
    return out


def _plain(body: bytes | bytearray | str, payload: Any) -> bool:
    """Whether the text of ``payload`` holds no string and no boolean in row lists: no
    ``true``/``false`` (looked for only when the text has an ``e`` at all), and no quotes
    but those of the keys and of a pandas ``split`` body's ``columns`` and ``index`` (each
    a distinct string of the text)."""
    if isinstance(body, str):
        body = body.encode()
    if b"e" in body and (b"true" in body or b"false" in body):
        return False
    strings = 0
    if isinstance(payload, dict):
        strings = len(payload)
        for key in ("columns", "index"):
            labels = payload.get(key)
            if isinstance(labels, list):
                strings += sum(isinstance(label, str) for label in labels)
    return body.count(b'"') == 2 * strings


def _names(features: Sequence[str] | RawSchema) -> Sequence[str]:
    return features.names if isinstance(features, RawSchema) else features


def _numbers_only(features: Sequence[str] | RawSchema) -> bool:
    """Whether rows are read as numbers: feature names, or a schema whose columns are all
    numeric numbers (the lean path; any other schema reads values of every JSON type)."""
    return not isinstance(features, RawSchema) or features._all_numbers


def parse_rows(
    body: bytes | bytearray | str, features: Sequence[str] | RawSchema, *, max_rows: int
) -> np.ndarray:
    """:func:`decode` and :func:`rows_from_payload`, knowing the text: row lists whose text
    holds no strings or booleans are converted without checking each value.

    Parameters
    ----------
    body : bytes or str
    features : sequence of str or RawSchema
        Names: the rows are numbers, returned as floats. A schema: the rows are encoded
        through it, returned as codes for ``score_codes``.
    max_rows : int

    Returns
    -------
    ndarray of shape (n_rows, n_features), float64
    """
    if not _numbers_only(features):
        assert isinstance(features, RawSchema)
        return _parse_encoded(body, features, max_rows)
    payload = decode(body)
    matrix = rows_from_payload(
        payload, _names(features), max_rows=max_rows, plain=_plain(body, payload)
    )
    return features.encode(matrix) if isinstance(features, RawSchema) else matrix


def rows_from_payload(
    payload: Any, features: Sequence[str] | RawSchema, *, max_rows: int, plain: bool = False
) -> np.ndarray:
    """The rows of a decoded body as a float64 matrix of shape (n_rows, n_features).

    ``features``: names (numbers, returned as floats) or a :class:`RawSchema` (codes, see
    :func:`parse_rows`). ``plain``: the text is known to hold no string or boolean in row
    lists (see :func:`parse_rows`); by default each value of row lists is checked.
    """
    if not _numbers_only(features):
        assert isinstance(features, RawSchema)
        return _encoded_payload(payload, features, max_rows)[0]
    matrix = _number_rows(payload, _names(features), max_rows=max_rows, plain=plain)
    return features.encode(matrix) if isinstance(features, RawSchema) else matrix


def _number_rows(
    payload: Any, features: Sequence[str], *, max_rows: int, plain: bool = False
) -> np.ndarray:
    """Numbers of every body shape -> (n_rows, n_features) floats."""
    if isinstance(payload, list):
        if payload and all(isinstance(r, dict) for r in payload):
            return _records(payload, features, max_rows)
        _check_count(len(payload), max_rows)
        return _numbers(payload, features, plain=plain)
    if not isinstance(payload, dict):
        raise InputError("body must be a JSON object or array of rows")
    if "data" in payload:
        data = payload["data"]
        if "columns" in payload:  # pandas orient="split"
            columns = payload["columns"]
            if not isinstance(columns, list) or not isinstance(data, list):
                raise InputError("split orientation needs 'columns' and 'data' lists")
            _check_count(len(data), max_rows)
            names = [str(c) for c in columns]
            check_names(names, features, what="features", where="columns")
            matrix = _numbers(data, names, plain=plain)
            order = [names.index(f) for f in features]
            return matrix[:, order]
        if isinstance(data, list) and data and all(isinstance(r, dict) for r in data):
            if "schema" in payload:  # pandas orient="table"
                data = _table_records(payload, data, features)
            return _records(data, features, max_rows)
        if not isinstance(data, list):
            raise InputError("'data' must be a list of rows")
        if data and not isinstance(data[0], list):
            data = [data]
        _check_count(len(data), max_rows)
        return _numbers(data, features, plain=plain)
    if payload and all(isinstance(v, dict) for v in payload.values()):
        keys = list(payload)
        if set(keys) & set(features):
            return _columns(payload, features, max_rows)
        # pandas orient="index": {row label: {feature: value}}
        return _records(list(payload.values()), features, max_rows)
    raise InputError(
        'unrecognised body: send {"data": [[...], ...]}, a list of records, or '
        "pandas DataFrame.to_json()"
    )


def _table_records(
    payload: dict[str, Any], records: list[Any], features: Sequence[str]
) -> list[Any]:
    """pandas ``orient="table"``: its records without the index fields (the schema's
    ``primaryKey``, default ``["index"]``) that are not features."""
    table_schema = payload["schema"]
    keys = table_schema.get("primaryKey") if isinstance(table_schema, dict) else None
    if not isinstance(keys, list):
        keys = ["index"]
    drop = {k for k in keys if isinstance(k, str) and k not in features}
    if not drop:
        return records
    return [
        {k: v for k, v in r.items() if k not in drop} if isinstance(r, dict) else r for r in records
    ]


# -- any schema: values of every JSON type, encoded per column -------------------------------
def _parse_encoded(body: bytes | bytearray | str, schema: RawSchema, max_rows: int) -> np.ndarray:
    """:func:`parse_rows` for a schema read value by value.

    Duplicate keys: the quotes of the text are counted against the strings the body holds
    for sure, now including the string values the encoders met (each a distinct string of
    the text); only when they differ does the standard library parse the text again. A
    body with a repeated key is a 400 before any 422 its rows would give.
    """
    if orjson is None:
        return _encoded_payload(_decode_stdlib(body), schema, max_rows)[0]
    if not body:
        raise MalformedBody('empty body: send a JSON object such as {"data": [[...]]}')
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedBody(f"body is not valid JSON: {exc}") from exc
    try:
        codes, strings = _encoded_payload(payload, schema, max_rows)
    except InputError:
        if isinstance(payload, dict | list):
            check_unique_keys(body)
        raise
    quote: Any = '"' if isinstance(body, str) else b'"'
    if strings < 0 or body.count(quote) != 2 * strings:
        check_unique_keys(body)
    return codes


def _row_values(rows: list[Any], names: Sequence[str]) -> list[Sequence[Any]]:
    """Rows as lists of values (or one flat list: one row) -> one sequence per column."""
    rows = _row_lists(rows, len(names), "values")
    return list(zip(*rows, strict=True)) if rows else [() for _ in names]


def _record_values(records: list[Any], names: Sequence[str]) -> tuple[list[list[Any]], int]:
    """Records -> one list per column, and the number of keys."""
    m = len(names)
    keys = 0
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise InputError(f"record {i} is not an object of feature: value pairs")
        if len(record) != m or any(f not in record for f in names):
            check_names(list(record), names, what="features", where=f"record {i}")
        keys += m
    return [[r[name] for r in records] for name in names], keys


def _column_values(table: dict[str, Any], names: Sequence[str]) -> tuple[list[list[Any]], int]:
    """pandas ``orient="columns"``: {feature: {row label: value}} -> one list per column,
    and the number of keys (names and labels)."""
    check_names(list(table), names, what="features", where="columns")
    first = table[names[0]]
    labels = list(first)
    out = []
    for name in names:
        column = table[name]
        if not isinstance(column, dict) or len(column) != len(labels):
            raise InputError(f"column {name!r} must map the same {len(labels)} row labels")
        if column is first or list(column) == labels:
            out.append(list(column.values()))
            continue
        for label in labels:
            if label not in column:
                raise InputError(f"column {name!r} has no value for row {label!r}")
        out.append([column[label] for label in labels])
    return out, len(table) + len(names) * len(labels)


def _json_strings(value: Any, budget: int = 10_000) -> int:
    """Keys and string values of a small JSON value (pandas' table schema), or -1 when it
    holds more than ``budget`` containers (then the text is checked in full)."""
    count, stack, seen = 0, [value], 0
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            count += 1
        elif isinstance(item, dict):
            count += len(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        else:
            continue
        seen += 1
        if seen > budget:
            return -1
    return count


def _encoded_payload(payload: Any, schema: RawSchema, max_rows: int) -> tuple[np.ndarray, int]:
    """Every body shape -> ``(codes, strings)``: the code matrix, and how many strings the
    body holds for sure (keys, labels, column names, string values), -1 if unknown."""
    names = schema.names
    strings = 0
    counted = True  # whether ``strings`` counts every string the body holds for sure
    columns: Sequence[Sequence[Any]]
    if isinstance(payload, list):
        if payload and all(isinstance(r, dict) for r in payload):
            _check_count(len(payload), max_rows)
            columns, strings = _record_values(payload, names)
        else:
            _check_count(len(payload), max_rows)
            columns = _row_values(payload, names)
    elif not isinstance(payload, dict):
        raise InputError("body must be a JSON object or array of rows")
    elif "data" in payload:
        data = payload["data"]
        strings = len(payload)
        if "columns" in payload:  # pandas orient="split"
            given = payload["columns"]
            if not isinstance(given, list) or not isinstance(data, list):
                raise InputError("split orientation needs 'columns' and 'data' lists")
            _check_count(len(data), max_rows)
            split = [str(c) for c in given]
            check_names(split, names, what="features", where="columns")
            strings += sum(type(c) is str for c in given)
            index = payload.get("index")
            if isinstance(index, list):
                strings += sum(type(label) is str for label in index)
            by_name = dict(zip(split, _row_values(data, split), strict=True))
            columns = [by_name[name] for name in names]
        elif isinstance(data, list) and data and all(isinstance(r, dict) for r in data):
            if "schema" in payload:  # pandas orient="table"
                table_strings = _json_strings(payload["schema"])
                counted = table_strings >= 0
                strings += table_strings
                strings += sum(len(r) for r in data) - len(data) * len(names)  # index fields
                data = _table_records(payload, data, names)
            _check_count(len(data), max_rows)
            columns, keys = _record_values(data, names)
            strings += keys
        else:
            if not isinstance(data, list):
                raise InputError("'data' must be a list of rows")
            if data and not isinstance(data[0], list):
                data = [data]
            _check_count(len(data), max_rows)
            columns = _row_values(data, names)
    elif payload and all(isinstance(v, dict) for v in payload.values()):
        if set(payload) & set(names):
            columns, strings = _column_values(payload, names)
            _check_count(len(columns[0]), max_rows)
        else:  # pandas orient="index": {row label: {feature: value}}
            records = list(payload.values())
            _check_count(len(records), max_rows)
            columns, strings = _record_values(records, names)
            strings += len(payload)
    else:
        raise InputError(
            'unrecognised body: send {"data": [[...], ...]}, a list of records, or '
            "pandas DataFrame.to_json()"
        )
    codes, values = encode_columns(schema, columns)
    return codes, strings + values if counted else -1


def _first_problem(schema: RawSchema, columns: Sequence[Sequence[Any]], found: str) -> str:
    """The message of the first bad value by row, then column (as ``RawSchema.encode``
    reports it), once a column encoder has raised ``found``."""
    problems: list[tuple[int, str]] = []
    try:
        for column, values in zip(schema.columns, columns, strict=True):
            column.encode_values(values, 0, problems)
    except (OverflowError, InputError):
        return found
    return min(problems, key=lambda p: p[0])[1] if problems else found


def encode_columns(
    schema: RawSchema, columns: Sequence[Sequence[Any]], *, where: str = ""
) -> tuple[np.ndarray, int]:
    """One sequence of values per schema column (of equal length) -> the code matrix, with
    the schema's column encoders.

    Parameters
    ----------
    schema : RawSchema
    columns : sequence of n_columns sequences of shape (n_rows,)
        JSON values: numbers, strings, booleans, None.
    where : str, optional
        Put before a message (e.g. ``"input 'x': "``).

    Returns
    -------
    codes : ndarray of shape (n_rows, n_columns), float64
    strings : int
        The string values among them (those of string categorical columns).

    Raises
    ------
    InputError
        The first bad value by row, then column, naming its row, column and value.
    """
    n = len(columns[0]) if columns else 0
    if n == 0:
        raise InputError("empty batch: no rows to score")
    for column, values in zip(schema.columns, columns, strict=True):
        if len(values) != n:
            raise InputError(f"{where}column {column.name!r} has {len(values)} values, not {n}")
    try:
        if n <= _FEW_ROWS:  # cell by cell: less overhead than a column's arrays
            cells = [
                [column.code(v, i) for i, v in enumerate(values)]
                for column, values in zip(schema.columns, columns, strict=True)
            ]
            codes = np.array(cells, dtype=np.float64).T
        else:
            codes = np.empty((n, len(schema)), dtype=np.float64)
            for j, (column, given) in enumerate(zip(schema.columns, columns, strict=True)):
                cells_j: Sequence[Any] | np.ndarray = given
                if (
                    column.kind == "numeric"
                    and column.type == "number"
                    and first_non_number(given) < 0  # type: ignore[arg-type]
                ):  # numbers and nulls only: one conversion (None -> NaN), checked at once
                    cells_j = np.asarray(given, dtype=np.float64)
                codes[:, j] = schema.column_encoder(j)(cells_j, 0)
    except OverflowError as exc:  # an integer beyond float64
        raise InputError(f"{where}a number beyond the float64 range") from exc
    except InputError as exc:
        raise InputError(where + _first_problem(schema, columns, str(exc))) from exc
    strings = 0
    for column, given in zip(schema.columns, columns, strict=True):
        if column.kind == "categorical" and column.type == "string":
            # every value is a string or a missing one (JSON has no NaN): None
            strings += n - list(given).count(None)
    return codes, strings


#: Rows up to which :func:`encode_columns` encodes cell by cell.
_FEW_ROWS = 4


# -- the size of a body's structure, before it is parsed -------------------------------------
#: +1 for ``[`` and ``{``, -1 for ``]`` and ``}``: a byte's change of nesting depth.
_DEPTH_STEP = np.zeros(256, np.int8)
_DEPTH_STEP[[ord("["), ord("{")]] = 1
_DEPTH_STEP[[ord("]"), ord("}")]] = -1
_QUOTE, _BACKSLASH, _COMMA = ord('"'), ord("\\"), ord(",")
#: Bytes scanned at a time (the scan's temporary arrays are a few times this).
_SCAN_CHUNK = 1 << 18


@dataclass(frozen=True)
class Structure:
    """What :func:`scan` finds outside the strings of a JSON text."""

    commas: int
    """Commas: every value of an array or object but the first follows one."""
    containers: int
    """Arrays and objects."""
    depth: int
    """Deepest nesting."""

    @property
    def values(self) -> int:
        """The number of values (numbers, strings, arrays, objects...) and keys parsing
        the text would build, give or take one (the first value of the text)."""
        return self.commas + self.containers


def _escaped_quotes(chunk: np.ndarray, quotes: np.ndarray, run: int) -> np.ndarray:
    """Which of the ``quotes`` (positions in ``chunk``) follow an odd run of backslashes
    (``run``: the backslashes that ended the chunks before)."""
    backslash = chunk == _BACKSLASH
    positions = np.arange(len(chunk))
    # the last byte that is not a backslash, at or before each position
    last_other = np.maximum.accumulate(np.where(backslash, -1, positions))
    before = quotes - 1
    start = np.where(quotes > 0, last_other[np.maximum(before, 0)], -1)
    length = before - start + np.where(start < 0, run, 0)
    return (length % 2).astype(bool)


def scan(body: bytes | bytearray) -> Structure:
    """Count a JSON text's commas and containers and measure its depth, outside strings,
    without parsing it: a vectorised pass over the bytes, a chunk at a time (a few MB of
    temporaries whatever the body's size).

    Text that is not valid JSON gives some counts; the parser refuses it afterwards.
    """
    data = np.frombuffer(body, np.uint8)
    has_escapes = b"\\" in body
    in_string = False  # whether the chunk starts inside a string
    run = 0  # backslashes ending the previous chunk
    depth = deepest = commas = containers = 0
    for start in range(0, len(data), _SCAN_CHUNK):
        chunk = data[start : start + _SCAN_CHUNK]
        quotes = np.flatnonzero(chunk == _QUOTE)
        if has_escapes and len(quotes):
            quotes = quotes[~_escaped_quotes(chunk, quotes, run)]
        if has_escapes:
            tail = chunk[::-1] != _BACKSLASH
            ended = int(np.argmax(tail)) if tail.any() else len(chunk)
            run = ended + (run if ended == len(chunk) else 0)
        # a byte is inside a string when an odd number of quotes precede it in the text
        toggles = np.zeros(len(chunk), np.int8)
        toggles[quotes] = 1
        outside = (np.cumsum(toggles, dtype=np.int32) + in_string) % 2 == 0
        in_string = bool((len(quotes) + in_string) % 2)
        steps = _DEPTH_STEP[chunk] * outside
        commas += int(np.count_nonzero((chunk == _COMMA) & outside))
        containers += int(np.count_nonzero(steps == 1))
        levels = np.cumsum(steps, dtype=np.int32)
        if len(levels):
            deepest = max(deepest, depth + int(levels.max()))
            depth += int(levels[-1])
    return Structure(commas=commas, containers=containers, depth=deepest)


def value_budget(n_features: int, max_rows: int) -> int:
    """The most values and keys (:attr:`Structure.values`) a body may hold for a model with
    ``n_features`` inputs and requests of at most ``max_rows`` rows.

    Every accepted body shape fits: rows (a value per cell and a list per row), records and
    pandas orientations (a key and a value per cell), V2 tensors, one [n_rows, 1] tensor
    per feature (a list per cell), with room for names, parameters and the like.
    """
    return 2 * max_rows * (n_features + 1) + 64 * n_features + 1024


def check_size(body: bytes | bytearray | str, n_features: int, max_rows: int) -> None:
    """Refuse, before parsing, a body holding more values than any request the model can
    take (:func:`value_budget`): a 413, a 422 for one over-wide row, a 400 when nested
    deeper than ``MAX_DEPTH``.

    Free for a body shorter than the budget (every value takes a byte); otherwise the byte
    counts decide, and only when those exceed the budget does :func:`scan` look outside
    the strings (a comma in a feature name is not a value).
    """
    budget = value_budget(n_features, max_rows)
    if len(body) <= budget:
        return
    if isinstance(body, str):  # run(raw_data) may be given text
        body = body.encode()
    if body.count(b",") + body.count(b"[") + body.count(b"{") <= budget:
        return
    found = scan(body)
    if found.depth > MAX_DEPTH:
        raise MalformedBody(f"JSON nested {found.depth} levels deep; at most {MAX_DEPTH}")
    if found.values <= budget:
        return
    if found.containers <= 3:  # {"data": [[...]]} and its like: one row
        raise InputError(
            f"expected {n_features} features per row, got a row of about "
            f"{found.commas + 1:,} values"
        )
    raise BodyTooLarge(
        f"the body holds about {found.values:,} values; a request takes at most "
        f"{max_rows} rows of {n_features} features (the limit is {budget:,} values)"
    )


def _row_lists(rows: list[Any], width: int, what: str) -> list[list[Any]]:
    """``rows`` checked as lists of ``width`` items each (one flat list is one row); the
    first row that is not names its index. ``what``: "numbers" or "values"."""
    if rows and all(type(v) is not list for v in rows):
        rows = [rows]  # one flat list is one row
    for i, row in enumerate(rows):
        if type(row) is not list:
            raise InputError(
                f"row {i}: rows must be lists of {width} {what} (null for a missing value), "
                f"got {row!r:.40}"
            )
        if len(row) != width:
            raise InputError(f"expected {width} features per row, got {len(row)} in row {i}")
    return rows
