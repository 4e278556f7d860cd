"""OpenAPI helpers shared by the controllers: error responses, request-body schemas, and
the ``/score`` body described for the artifact served."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import Request
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.plugins import JsonRenderPlugin, OpenAPIRenderPlugin, YamlRenderPlugin
from litestar.openapi.spec import OpenAPIType, Schema

from scoring_explainers.runtime import RawSchema

from .schemas import ErrorBody, score_request_schema

__all__ = ["ERRORS", "describe_artifact", "error_docs", "schema"]

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


#: Where the ``/score`` request body's schema sits in the rendered document.
_SCORE_BODY = ("paths", "/score", "post", "requestBody", "content", "application/json", "schema")


def _replaced(document: Any, path: tuple[str, ...], value: Any) -> Any:
    """``document`` with ``value`` at ``path``, the dicts along it copied (the rendered
    document is cached by Litestar and stays as it is); unchanged if the path is absent."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if not isinstance(document, dict) or head not in document:
        return document
    return {**document, head: _replaced(document[head], rest, value)}


class _ArtifactDocument:
    """The rendered OpenAPI document with the ``/score`` body of the artifact loaded:
    each raw column with its type and categories (:func:`score_request_schema`). Until an
    artifact is loaded the generic body stays."""

    def __init__(self, schema_of: Callable[[Request[Any, Any, Any]], RawSchema | None]) -> None:
        self.schema_of = schema_of
        self._cached: tuple[RawSchema, dict[str, Any]] | None = None

    def __call__(self, request: Request[Any, Any, Any], document: dict[str, Any]) -> dict[str, Any]:
        raw = self.schema_of(request)
        if raw is None:
            return document
        if self._cached is None or self._cached[0] is not raw:
            self._cached = (raw, score_request_schema(raw))
        replaced: dict[str, Any] = _replaced(document, _SCORE_BODY, self._cached[1])
        return replaced


class _ArtifactJson(JsonRenderPlugin):
    def __init__(self, document: _ArtifactDocument, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.document = document

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, self.document(request, openapi_schema))


class _ArtifactYaml(YamlRenderPlugin):
    def __init__(self, document: _ArtifactDocument, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.document = document

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, self.document(request, openapi_schema))


def describe_artifact(
    config: OpenAPIConfig, schema_of: Callable[[Request[Any, Any, Any]], RawSchema | None]
) -> OpenAPIConfig:
    """Make ``config``'s JSON and YAML documents describe the ``/score`` body of the
    artifact served: ``schema_of(request)`` gives its raw schema (None: not loaded). The
    document is rendered when asked for, so the artifact may load after start-up."""
    document = _ArtifactDocument(schema_of)
    plugins: list[OpenAPIRenderPlugin] = []
    for plugin in config.render_plugins:
        swapped: OpenAPIRenderPlugin = plugin
        if type(plugin) is JsonRenderPlugin:
            swapped = _ArtifactJson(document, path=plugin.paths, media_type=plugin.media_type)
        elif type(plugin) is YamlRenderPlugin:
            swapped = _ArtifactYaml(document, path=plugin.paths, media_type=plugin.media_type)
        if config.default_plugin is plugin:
            config.default_plugin = swapped
        plugins.append(swapped)
    config.render_plugins = plugins
    return config
