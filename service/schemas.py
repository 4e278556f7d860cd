"""Bodies as the OpenAPI schema shows them (documentation types; encoding is orjson)."""

from __future__ import annotations

from typing import Any

import msgspec

from scoring_explainers.runtime import Column, RawSchema

__all__ = [
    "ErrorBody",
    "ExplanationDownload",
    "ExplanationRecord",
    "ExplanationUpload",
    "ModelReadyBody",
    "RawColumn",
    "ReadyBody",
    "RunSummary",
    "ScoreResponse",
    "StatusBody",
    "TopK",
    "V2InferenceResponse",
    "V2ModelMetadata",
    "column_schema",
    "score_request_schema",
]


class ErrorBody(msgspec.Struct):
    """Every 4xx/5xx answer: what went wrong, in words."""

    error: str
    status: int


class StatusBody(msgspec.Struct):
    status: str


class ReadyBody(msgspec.Struct):
    ready: bool


class ModelReadyBody(msgspec.Struct):
    name: str
    ready: bool


class TopK(msgspec.Struct):
    """Per row, the ``top_k`` features with the largest absolute importance (of the
    predicted class for classifiers), and their values."""

    features: list[list[str]]
    values: list[list[float]]


class ScoreResponse(msgspec.Struct):
    """Predictions and local importances.

    ``local_importance_values`` is ``[class][row][feature]`` for classification and
    ``[row][feature]`` for regression; per row and class,
    ``sum(values) + expected_value == output`` in ``output_space``. ``standard_errors``
    (with ``?uncertainty=true`` or ``?tolerance=``): each importance's standard error, same
    layout, and ``coalitions_used``: per row, the coalitions evaluated (0 for exact
    explainers).
    """

    predictions: list[Any]
    local_importance_values: list[Any]
    expected_values: list[float] | float
    features: list[str]
    output_space: str
    method: str
    probabilities: list[list[float]] | None = None
    classes: list[Any] | None = None
    top_k: TopK | None = None
    standard_errors: list[Any] | None = None
    coalitions_used: list[int] | None = None


class ExplanationRecord(msgspec.Struct):
    """One stored explanation as listings show it (``upload_time`` is ISO 8601, UTC;
    ``top_k`` is set when only the top-k global values were kept)."""

    id: str
    run_id: str
    comment: str | None
    upload_time: str
    kind: str
    method: str
    model_task: str
    is_raw: bool
    is_engineered: bool
    num_features: int
    num_examples: int | None
    num_classes: int | None
    top_k: int | None
    has_eval_data: bool
    has_true_ys: bool


class RunSummary(msgspec.Struct):
    """A run with its number of stored explanations."""

    run_id: str
    count: int
    latest_upload_time: str


class ExplanationUpload(msgspec.Struct):
    """An upload: ``explanation`` is ``LocalExplanation.to_dict()`` (local or global form),
    ``true_ys`` one label per explained row."""

    explanation: dict[str, Any]
    comment: str | None = None
    true_ys: list[Any] | None = None


class ExplanationDownload(msgspec.Struct):
    """A stored explanation: its listing entry, true labels and JSON form (read it with
    ``LocalExplanation.from_dict``)."""

    record: ExplanationRecord
    true_ys: list[Any] | None
    explanation: dict[str, Any]


class RawColumn(msgspec.Struct):
    """One raw input column (``GET /score/schema``): ``kind`` numeric or categorical,
    ``type`` the JSON type of its values, whether ``missing`` (null) is accepted; a
    categorical column's ``categories`` and ``unknown`` policy (``"code"``: another value
    is scored as an unknown category; ``"error"``: refused with a 422)."""

    name: str
    kind: str
    type: str
    missing: bool
    categories: list[Any] | None = None
    unknown: str | None = None


class V2Tensor(msgspec.Struct):
    name: str
    shape: list[int]
    datatype: str
    data: list[Any]


class V2InferenceResponse(msgspec.Struct):
    """Outputs ``predictions``, ``probabilities`` (classification),
    ``local_importance_values`` and ``expected_values``, flattened row-major; with
    ``parameters.uncertainty`` or ``parameters.tolerance`` (or asked for by name)
    ``standard_errors`` and ``coalitions_used``."""

    model_name: str
    outputs: list[V2Tensor]
    id: str | None = None
    parameters: dict[str, Any] | None = None


class V2TensorMetadata(msgspec.Struct):
    """An input or output; a per-column input's ``parameters`` hold the column's
    ``kind``, ``type``, ``missing`` and, for a categorical column, ``categories`` and
    ``unknown``."""

    name: str
    datatype: str
    shape: list[int]
    parameters: dict[str, Any] | None = None


class V2ModelMetadata(msgspec.Struct):
    name: str
    platform: str
    versions: list[str]
    inputs: list[V2TensorMetadata]
    outputs: list[V2TensorMetadata]
    parameters: dict[str, Any] | None = None


_PARAMETERS: dict[str, Any] = {"type": ["object", "null"]}

V2_INFER_REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "InferenceRequest",
    "description": (
        "One [n_rows, n_features] input, or one [n_rows] (or [n_rows, 1]) input per feature "
        "named after it; data row-major, flat or nested; numbers, null for a missing value "
        "(true/false in a BOOL input). parameters.top_k adds each row's top features; "
        "parameters.uncertainty (true) adds the standard_errors and coalitions_used outputs; "
        "parameters.tolerance (a positive number) stops each row's coalitions once every "
        "standard error is below it, and adds them too."
    ),
    "required": ["inputs"],
    "properties": {
        "inputs": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "shape", "datatype", "data"],
                "properties": {
                    "name": {"type": "string"},
                    "shape": {"type": "array", "items": {"type": "integer"}},
                    "datatype": {"type": "string"},
                    "data": {"type": "array", "items": {}},
                    "parameters": _PARAMETERS,
                },
            },
        },
        "id": {"type": ["string", "null"]},
        "parameters": _PARAMETERS,
        "outputs": {
            "type": ["array", "null"],
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {"name": {"type": "string"}, "parameters": _PARAMETERS},
            },
        },
    },
}

SCORE_REQUEST_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {
            "type": "object",
            "title": "Rows",
            "description": "Rows in feature order, or records keyed by feature name.",
            "properties": {
                "data": {
                    "type": "array",
                    "items": {
                        "oneOf": [
                            {"type": "array", "items": {"type": ["number", "null"]}},
                            {
                                "type": "object",
                                "additionalProperties": {"type": ["number", "null"]},
                            },
                        ]
                    },
                }
            },
            "required": ["data"],
        },
        {
            "type": "array",
            "title": "Records",
            "items": {"type": "object", "additionalProperties": {"type": ["number", "null"]}},
        },
        {
            "type": "object",
            "title": "pandas DataFrame.to_json()",
            "description": "Column orientation: {feature: {row label: value}}.",
            "additionalProperties": {
                "type": "object",
                "additionalProperties": {"type": ["number", "null"]},
            },
        },
    ],
}

_JSON_TYPES = {"number": "number", "integer": "integer", "boolean": "boolean", "string": "string"}


def column_schema(column: Column) -> dict[str, Any]:
    """The JSON schema of one raw column's values: its JSON type (``null`` too when a
    missing value is accepted); a categorical column's categories as an ``enum`` (with
    ``null`` when missing is accepted) - the only values when the fitted encoder refuses
    others (``unknown: "error"``), else any other value of the type is an unknown
    category, scored as the encoder scores one."""
    kind: Any = [_JSON_TYPES[column.type], "null"] if column.missing else _JSON_TYPES[column.type]
    if column.kind == "numeric":
        return {"type": kind, "description": f"{column.name}: numeric ({column.type})"}
    known = [*(column.categories or ()), *([None] if column.missing else [])]
    if column.unknown == "error":
        return {
            "type": kind,
            "enum": known,
            "description": f"{column.name}: a category; any other value is refused (422)",
        }
    return {
        "anyOf": [
            {"enum": known, "description": "the known categories"},
            {"type": kind, "description": "any other value: an unknown category"},
        ],
        "description": f"{column.name}: a category",
    }


def score_request_schema(schema: RawSchema) -> dict[str, Any]:
    """The ``POST /score`` body for an artifact's raw columns: rows (values in column
    order), records, and pandas ``to_json()`` by columns, each column with its type
    (:func:`column_schema`). The other pandas orientations (``split``, ``index``,
    ``values``, ``table``) are taken too."""
    columns = {c.name: column_schema(c) for c in schema.columns}
    m = len(schema)
    row = {
        "type": "array",
        "prefixItems": list(columns.values()),
        "minItems": m,
        "maxItems": m,
        "description": f"Values in column order: {schema.names[:50]}",
    }
    record = {
        "type": "object",
        "properties": columns,
        "required": list(columns),
        "additionalProperties": False,
    }
    return {
        "oneOf": [
            {
                "type": "object",
                "title": "Rows",
                "description": "Rows in column order, or records keyed by column name.",
                "properties": {"data": {"type": "array", "items": {"oneOf": [row, record]}}},
                "required": ["data"],
            },
            {"type": "array", "title": "Records", "items": record},
            {
                "type": "object",
                "title": "pandas DataFrame.to_json()",
                "description": (
                    "Column orientation: {column: {row label: value}}; the split, index, "
                    "records, values and table orientations are taken too."
                ),
                "properties": {
                    name: {"type": "object", "additionalProperties": value}
                    for name, value in columns.items()
                },
                "required": list(columns),
            },
        ],
    }
