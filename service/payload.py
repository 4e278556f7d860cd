"""Request bodies -> a float matrix in feature order (no pandas on the runtime side).

Accepted bodies for ``POST /score`` (and ``run(raw_data)``):

- ``{"data": [[v, ...], ...]}``: rows as lists, in feature order (one flat list = one row);
- ``{"data": [{"feature": v, ...}, ...]}`` or ``[{"feature": v, ...}, ...]``: records;
- pandas ``DataFrame.to_json()`` (``orient="columns"``, the default:
  ``{"feature": {"0": v, "1": v}, ...}``), and also ``orient="split"`` and ``"index"``.

``null`` means a missing value. Errors are :class:`InputError` naming the problem.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson

from scoring_explainers import InputError
from scoring_explainers.runtime import check_names

__all__ = ["BodyTooLarge", "MalformedBody", "decode", "rows_from_payload"]


class MalformedBody(InputError):
    """The body is not valid JSON (HTTP 400)."""


class BodyTooLarge(InputError):
    """Too many rows in one request (HTTP 413)."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise MalformedBody(f"duplicate key {key[:80]!r} in a JSON object")
        seen.add(key)
    return dict(pairs)


def decode(body: bytes | str) -> Any:
    """Parse JSON strictly: no NaN/Infinity literals, bounded nesting, no duplicate keys.

    orjson validates first (fast, and it bounds nesting); the standard library's parser
    then rejects duplicate object keys, which orjson would silently resolve to the last.
    That second parse is skipped when counting the quotes proves there is no duplicate
    (see ``_distinct_strings``), as for every usual body shape.
    """
    if not body:
        raise MalformedBody('empty body: send a JSON object such as {"data": [[...]]}')
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedBody(f"body is not valid JSON: {exc}") from exc
    if isinstance(payload, dict) or (
        isinstance(payload, list) and payload and isinstance(payload[0], dict)
    ):
        quote: Any = b'"' if isinstance(body, bytes) else '"'
        if body.count(quote) != 2 * _distinct_strings(payload):
            json.loads(body, object_pairs_hook=_unique_keys)
    return payload


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


def _numbers(rows: Any, n_features: int) -> np.ndarray:
    try:
        matrix = np.asarray(rows, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(
            "rows must be lists of numbers of equal length (null for a missing value)"
        ) from exc
    if matrix.ndim == 1 and len(matrix) == n_features:
        matrix = matrix.reshape(1, -1)
    if matrix.ndim != 2:
        raise InputError(
            f"rows must be a list of lists of {n_features} numbers, got shape {matrix.shape}"
        )
    if matrix.shape[1] != n_features:
        raise InputError(f"expected {n_features} features per row, got {matrix.shape[1]}")
    return matrix


def _value(v: Any, feature: str, row: int) -> float:
    if v is None:
        return float("nan")
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise InputError(f"row {row}, feature {feature!r}: expected a number, got {v!r:.40}")
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


def rows_from_payload(payload: Any, features: Sequence[str], *, max_rows: int) -> np.ndarray:
    """The rows of a decoded body as a float64 matrix of shape (n_rows, n_features)."""
    n_features = len(features)
    if isinstance(payload, list):
        if payload and all(isinstance(r, dict) for r in payload):
            return _records(payload, features, max_rows)
        _check_count(len(payload), max_rows)
        return _numbers(payload, n_features)
    if not isinstance(payload, dict):
        raise InputError("body must be a JSON object or array of rows")
    if "data" in payload:
        data = payload["data"]
        if "columns" in payload:  # pandas orient="split"
            columns = payload["columns"]
            if not isinstance(columns, list) or not isinstance(data, list):
                raise InputError("split orientation needs 'columns' and 'data' lists")
            _check_count(len(data), max_rows)
            check_names([str(c) for c in columns], features, what="features", where="columns")
            matrix = _numbers(data, len(columns))
            order = [[str(c) for c in columns].index(f) for f in features]
            return matrix[:, order]
        if isinstance(data, list) and data and all(isinstance(r, dict) for r in data):
            return _records(data, features, max_rows)
        if not isinstance(data, list):
            raise InputError("'data' must be a list of rows")
        if data and not isinstance(data[0], list):
            data = [data]
        _check_count(len(data), max_rows)
        return _numbers(data, n_features)
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
