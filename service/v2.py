"""The Open Inference (V2) protocol: request and response bodies."""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import chain
from typing import Any

import msgspec
import numpy as np

from scoring_explainers import InputError
from scoring_explainers.runtime import Column, RawSchema
from scoring_explainers.runtime._payload import encode_columns
from scoring_explainers.scoring import ScoreResult

from .payload import (
    BodyTooLarge,
    MalformedBody,
    check_unique_keys,
    first_non_number,
    not_a_number,
)

__all__ = [
    "InferenceRequest",
    "RequestInput",
    "RequestOutput",
    "column_datatype",
    "decode_v2",
    "rows_from_v2",
    "v2_options",
    "v2_outputs",
]

_NUMERIC = {
    "BOOL",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FP16",
    "FP32",
    "FP64",
}
OUTPUT_NAMES = ("predictions", "probabilities", "local_importance_values", "expected_values")
#: Outputs sent when asked for: by name in ``outputs``, or by ``parameters.uncertainty``
#: or ``parameters.tolerance``.
UNCERTAINTY_OUTPUTS = ("standard_errors", "coalitions_used")
#: What a tensor's values may be: numbers and null, and also true/false in a BOOL tensor.
_NUMBERS: frozenset[type] = frozenset({int, float, type(None)})
_BOOLS = _NUMBERS | {bool}


class RequestInput(msgspec.Struct):
    """One input tensor: ``shape`` [n_rows, n_features] (or [n_rows] for a tensor named
    after one feature), row-major ``data`` (flat or nested)."""

    name: str
    shape: list[int]
    datatype: str
    data: list[Any]
    parameters: dict[str, Any] | None = None


class RequestOutput(msgspec.Struct):
    name: str
    parameters: dict[str, Any] | None = None


class InferenceRequest(msgspec.Struct):
    """``POST /v2/models/{name}/infer`` body. ``parameters.top_k`` is accepted."""

    inputs: list[RequestInput]
    id: str | None = None
    parameters: dict[str, Any] | None = None
    outputs: list[RequestOutput] | None = None


def decode_v2(body: bytes | bytearray) -> InferenceRequest:
    """Parse a ``/v2/models/{name}/infer`` body as strictly as ``/score``'s: a 400
    (:class:`MalformedBody`) for text that is not JSON, nesting too deep, a repeated key
    in an object, or a body that is not an inference request.

    Duplicate keys: as in :func:`service.payload.decode`, the standard library's second
    parse is skipped when the quotes of the text number exactly twice the strings the
    request is known to hold (its keys, names and datatypes).
    """
    if not body:
        raise MalformedBody('empty body: send {"inputs": [...]}')
    try:
        request = msgspec.json.decode(body, type=InferenceRequest)
    except RecursionError as exc:
        raise MalformedBody("JSON nested too deeply") from exc
    except msgspec.ValidationError as exc:
        raise MalformedBody(f"not an inference request: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise MalformedBody(f"body is not valid JSON: {exc}") from exc
    if body.count(b'"') != 2 * _strings(request):
        check_unique_keys(body)
    return request


def _object_strings(obj: dict[str, Any]) -> int:
    return len(obj) + sum(isinstance(v, str) for v in obj.values())


def _data_strings(data: list[Any]) -> int:
    """The strings among a BYTES tensor's values (flat or nested lists)."""
    count, stack = 0, [data]
    while stack:
        items = stack.pop()
        for value in items:
            if type(value) is str:
                count += 1
            elif type(value) is list:
                stack.append(value)
    return count


def _strings(request: InferenceRequest) -> int:
    """Strings the text of ``request`` holds for sure, each a distinct one of the text: the
    keys of the fields that are set, names, datatypes and the first level of parameters."""
    n = 1 + 6 * len(request.inputs)  # inputs; name, shape, datatype, data and two values
    for item in request.inputs:
        if item.datatype == "BYTES":  # string values: each a distinct string of the text
            n += _data_strings(item.data)
        if item.parameters is not None:
            n += 1 + _object_strings(item.parameters)
    if request.id is not None:
        n += 2
    if request.parameters is not None:
        n += 1 + _object_strings(request.parameters)
    if request.outputs is not None:
        n += 1
        for output in request.outputs:
            n += 2
            if output.parameters is not None:
                n += 1 + _object_strings(output.parameters)
    return n


def _flat(item: RequestInput) -> list[Any]:
    """The tensor's values, row-major: its ``data`` flat, or nested lists flattened."""
    data = item.data
    while data and type(data[0]) is list:
        width = len(data[0])
        if any(type(d) is not list or len(d) != width for d in data):
            raise InputError(f"input {item.name!r}: nested data must be lists of equal length")
        data = list(chain.from_iterable(data))
    return data


def _tensor(item: RequestInput, max_values: int, position: Callable[[int], str]) -> np.ndarray:
    """One input's values as float64 of its shape. ``position(k)`` names the k-th value
    (row-major) in messages."""
    if item.datatype not in _NUMERIC:
        raise InputError(f"input {item.name!r}: datatype {item.datatype} is not numeric")
    if any(isinstance(d, bool) or not isinstance(d, int) or d < 0 for d in item.shape):
        raise InputError(f"input {item.name!r}: shape must be non-negative integers")
    expected = math.prod(item.shape)  # Python ints: no wrap-around
    if expected > max_values:
        raise BodyTooLarge(f"input {item.name!r}: {expected} values; the limit is {max_values}")
    values = _flat(item)
    if len(values) != expected:
        raise InputError(
            f"input {item.name!r}: shape {item.shape} needs {expected} values, got {len(values)}"
        )
    k = first_non_number(values, _BOOLS if item.datatype == "BOOL" else _NUMBERS)
    if k >= 0:
        raise InputError(f"input {item.name!r}, {position(k)}: {not_a_number(values[k])}")
    try:
        flat = np.asarray(values, dtype=np.float64)
    except OverflowError as exc:  # an integer beyond float64
        raise InputError(
            f"input {item.name!r}: data must be numbers within the float64 range"
        ) from exc
    return flat.reshape(item.shape)


def column_datatype(column: Column) -> str:
    """The V2 datatype of a raw column's per-column input: ``BYTES`` for string
    categories, ``INT64`` for integer ones, ``BOOL`` for booleans, else ``FP64``."""
    return {"string": "BYTES", "integer": "INT64", "boolean": "BOOL"}.get(column.type, "FP64")


_INTEGERS = {"INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"}
_FLOATS = {"FP16", "FP32", "FP64"}
#: The datatypes a per-column input may have, by the column's V2 datatype.
_ACCEPTED = {
    "BYTES": {"BYTES"},
    "INT64": _INTEGERS | _FLOATS,
    "BOOL": {"BOOL"},
    "FP64": _INTEGERS | _FLOATS,
}


def _values(item: RequestInput, max_values: int) -> list[Any]:
    """One input's values, row-major, checked against its shape (any JSON values)."""
    if any(isinstance(d, bool) or not isinstance(d, int) or d < 0 for d in item.shape):
        raise InputError(f"input {item.name!r}: shape must be non-negative integers")
    expected = math.prod(item.shape)
    if expected > max_values:
        raise BodyTooLarge(f"input {item.name!r}: {expected} values; the limit is {max_values}")
    values = _flat(item)
    if len(values) != expected:
        raise InputError(
            f"input {item.name!r}: shape {item.shape} needs {expected} values, got {len(values)}"
        )
    return values


def _encoded_v2(request: InferenceRequest, schema: RawSchema, max_rows: int) -> np.ndarray:
    """:func:`rows_from_v2` for a schema with categorical or boolean columns: one
    [n_rows, n_columns] tensor of mixed values (BYTES), or one input per column with the
    column's datatype; values encoded by the schema's column encoders."""
    names = schema.names
    m = len(names)
    if len(request.inputs) == 1 and len(request.inputs[0].shape) == 2:
        item = request.inputs[0]
        if item.datatype not in _NUMERIC and item.datatype != "BYTES":
            raise InputError(f"input {item.name!r}: unknown datatype {item.datatype}")
        if item.shape[1] != m:
            raise InputError(f"input {item.name!r}: shape {item.shape}, expected [n_rows, {m}]")
        if item.shape[0] > max_rows:
            raise BodyTooLarge(f"{item.shape[0]} rows in one request; the limit is {max_rows}")
        values = _values(item, max_rows * m)
        columns = [values[j::m] for j in range(m)]
        return encode_columns(schema, columns, where=f"input {item.name!r}: ")[0]
    by_name = {item.name: item for item in request.inputs}
    missing = [f for f in names if f not in by_name]
    if missing or len(by_name) != m:
        raise InputError(
            f"send one input of shape [n_rows, {m}], or one input per feature; missing "
            f"features {missing[:10]}"
        )
    columns = []
    for column in schema.columns:
        item = by_name[column.name]
        datatype = column_datatype(column)
        if item.datatype not in _ACCEPTED[datatype]:
            raise InputError(
                f"input {item.name!r}: datatype {item.datatype}; this column takes {datatype}"
            )
        if len(item.shape) not in (1, 2) or (len(item.shape) == 2 and item.shape[1] != 1):
            raise InputError(f"input {item.name!r}: a feature's shape is [n_rows] or [n_rows, 1]")
        if item.shape[0] > max_rows:
            raise BodyTooLarge(f"{item.shape[0]} rows in one request; the limit is {max_rows}")
        columns.append(_values(item, max_rows))
    if len({len(c) for c in columns}) != 1:
        raise InputError("per-feature inputs differ in length")
    return encode_columns(schema, columns)[0]


def rows_from_v2(
    request: InferenceRequest, features: list[str] | RawSchema, *, max_rows: int
) -> np.ndarray:
    """One [n_rows, n_features] tensor, or one [n_rows] / [n_rows, 1] tensor per feature.

    ``features``: names (numbers, returned as floats), or the artifact's
    :class:`RawSchema` (returned as its codes, for ``score_codes``). A schema of numeric
    columns only reads numbers as with names; any other takes BYTES, INT64 and BOOL
    inputs for its categorical and boolean columns (:func:`column_datatype`), or one
    tensor of mixed values.
    """
    if not request.inputs:
        raise InputError("inputs is empty")
    if isinstance(features, RawSchema):
        if not features._all_numbers:
            return _encoded_v2(request, features, max_rows)
        return features.encode(_number_rows_v2(request, features.names, max_rows=max_rows))
    return _number_rows_v2(request, features, max_rows=max_rows)


def _number_rows_v2(request: InferenceRequest, features: list[str], *, max_rows: int) -> np.ndarray:
    """Numeric inputs -> (n_rows, n_features) floats."""
    n_features = len(features)
    if len(request.inputs) == 1 and len(request.inputs[0].shape) == 2:
        item = request.inputs[0]
        if item.shape[1] != n_features:
            raise InputError(
                f"input {item.name!r}: shape {item.shape}, expected [n_rows, {n_features}]"
            )
        if item.shape[0] > max_rows:
            raise BodyTooLarge(f"{item.shape[0]} rows in one request; the limit is {max_rows}")
        matrix = _tensor(
            item,
            max_rows * n_features,
            lambda k: f"row {k // n_features}, feature {features[k % n_features]!r}",
        )
    else:
        by_name = {item.name: item for item in request.inputs}
        missing = [f for f in features if f not in by_name]
        if missing or len(by_name) != n_features:
            raise InputError(
                f"send one input of shape [n_rows, {n_features}], or one input per "
                f"feature; missing features {missing[:10]}"
            )
        for item in request.inputs:
            if len(item.shape) not in (1, 2) or (len(item.shape) == 2 and item.shape[1] != 1):
                raise InputError(
                    f"input {item.name!r}: a feature's shape is [n_rows] or [n_rows, 1]"
                )
            if item.shape[0] > max_rows:
                raise BodyTooLarge(f"{item.shape[0]} rows in one request; the limit is {max_rows}")
        columns = [
            _tensor(by_name[f], max_rows, lambda k: f"row {k}").reshape(-1) for f in features
        ]
        if len({len(c) for c in columns}) != 1:
            raise InputError("per-feature inputs differ in length")
        matrix = np.stack(columns, axis=1)
    if matrix.shape[0] == 0:
        raise InputError("empty batch: no rows to score")
    return matrix


def _datatype(values: np.ndarray) -> str:
    return {"b": "BOOL", "i": "INT64", "u": "UINT64", "f": "FP64"}.get(values.dtype.kind, "BYTES")


def v2_options(request: InferenceRequest) -> tuple[Any, bool, Any]:
    """A request's ``parameters.top_k`` (checked to be an integer), whether it asks for
    standard errors (``parameters.uncertainty``, or the ``standard_errors`` or
    ``coalitions_used`` output by name) and its ``parameters.tolerance`` (checked to be a
    number; the runtime checks it is positive and finite)."""
    parameters = request.parameters or {}
    top_k = parameters.get("top_k")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int)):
        raise InputError("parameters.top_k must be an integer")
    uncertainty = parameters.get("uncertainty", False)
    if not isinstance(uncertainty, bool):
        raise InputError(f"parameters.uncertainty must be true or false, got {uncertainty!r:.40}")
    tolerance = parameters.get("tolerance")
    if tolerance is not None and (
        isinstance(tolerance, bool) or not isinstance(tolerance, int | float)
    ):
        raise InputError(f"parameters.tolerance must be a number, got {tolerance!r:.40}")
    asked = any(o.name in UNCERTAINTY_OUTPUTS for o in request.outputs or ())
    return top_k, uncertainty or asked, tolerance


def v2_outputs(result: ScoreResult, requested: list[RequestOutput] | None) -> list[dict[str, Any]]:
    """The output tensors: those ``requested`` by name, else every output of the model
    (``OUTPUT_NAMES``) and the standard errors and coalitions used when the result has
    them; an output the result lacks (probabilities of a regression) is left out."""
    available = [*OUTPUT_NAMES, *UNCERTAINTY_OUTPUTS]
    names = [o.name for o in requested] if requested else list(available)
    unknown = [n for n in names if n not in available]
    if unknown:
        raise InputError(f"unknown outputs {unknown}; available: {available}")
    tensors: dict[str, np.ndarray | None] = {
        "predictions": result.predictions,
        "probabilities": result.probabilities,
        "local_importance_values": result.local_importance_values,
        "expected_values": np.atleast_1d(result.expected_values),
        "standard_errors": result.standard_errors,
        "coalitions_used": result.coalitions_used,
    }
    out = []
    for name in names:
        values = tensors[name]
        if values is None:
            continue
        datatype = _datatype(values)
        data: Any = (
            [str(v) for v in values.reshape(-1).tolist()]
            if datatype == "BYTES"
            else np.ascontiguousarray(values.reshape(-1))
        )
        out.append({"name": name, "shape": list(values.shape), "datatype": datatype, "data": data})
    return out
