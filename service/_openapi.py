"""OpenAPI helpers shared by the controllers: error responses and request-body schemas."""

from __future__ import annotations

from typing import Any

from litestar.openapi import ResponseSpec
from litestar.openapi.spec import OpenAPIType, Schema

from .schemas import ErrorBody

__all__ = ["ERRORS", "error_docs", "schema"]

#: What each error status means, as the OpenAPI document says it.
ERRORS = {
    400: "Body or parameters are not valid",
    401: "API key missing or wrong",
    404: "Unknown model",
    413: "Too many rows or bytes",
    415: "Not application/json",
    422: "Rows that do not fit the model",
    503: "The artifact is not loaded",
}


def error_docs(ok: type, *errors: int, ok_on_503: bool = False) -> dict[int, ResponseSpec]:
    """OpenAPI responses: ``ok`` for 200 and the error body for each error status."""
    docs = {200: ResponseSpec(ok, description="OK")}
    for code in errors:
        body = ok if (code == 503 and ok_on_503) else ErrorBody
        docs[code] = ResponseSpec(body, description=ERRORS[code])
    return docs


def schema(node: dict[str, Any]) -> Schema:
    """A litestar ``Schema`` from a JSON-schema dict (the few keywords we use)."""
    kind = node.get("type")
    return Schema(
        type=[OpenAPIType(t) for t in kind]
        if isinstance(kind, list)
        else OpenAPIType(kind)
        if kind
        else None,
        title=node.get("title"),
        description=node.get("description"),
        required=node.get("required"),
        one_of=[schema(n) for n in node["oneOf"]] if "oneOf" in node else None,
        items=schema(node["items"]) if "items" in node else None,
        properties={k: schema(v) for k, v in node["properties"].items()}
        if "properties" in node
        else None,
        additional_properties=schema(node["additionalProperties"])
        if "additionalProperties" in node
        else None,
    )
