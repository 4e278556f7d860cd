"""The Open Inference (V2) protocol's routes under ``/v2`` (bodies: :mod:`service.v2`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from litestar import Controller, MediaType, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException
from litestar.openapi.spec import OpenAPIMediaType, Operation, RequestBody
from litestar.params import FromPath

from scoring_explainers._version import __version__
from scoring_explainers.runtime import RawSchema

from ._openapi import error_docs, schema
from ._score import INLINE_PARSE_BYTES
from .lifetime import RequestLifetime, run_in_worker
from .payload import check_size
from .policy import check_length, read_body
from .runtime import ScoringRuntime, encode
from .schemas import (
    V2_INFER_REQUEST_SCHEMA,
    ModelReadyBody,
    ReadyBody,
    V2InferenceResponse,
    V2ModelMetadata,
)
from .settings import Settings
from .v2 import (
    InferenceRequest,
    column_datatype,
    decode_v2,
    rows_from_v2,
    v2_options,
    v2_outputs,
)

__all__ = ["V2Controller"]


def _prediction_datatype(classes: list[Any] | None) -> str:
    """The V2 datatype of the predictions output, as ``v2_outputs`` will send it."""
    if not classes:
        return "FP64"
    first = classes[0]
    if isinstance(first, bool):
        return "BOOL"
    return "INT64" if isinstance(first, int) else "BYTES"


def _inputs(schema: RawSchema) -> list[dict[str, Any]]:
    """The model's inputs as the metadata states them: one ``[-1, n_features]`` FP64
    tensor for a schema of numeric columns only; else one ``[-1]`` input per column with
    its datatype and, in ``parameters``, its kind, categories, unknown policy and whether
    null (missing) is accepted."""
    if schema._all_numbers:
        return [{"name": "input-0", "datatype": "FP64", "shape": [-1, len(schema)]}]
    inputs = []
    for column in schema.columns:
        described = column.to_json()
        del described["name"]
        inputs.append(
            {
                "name": column.name,
                "datatype": column_datatype(column),
                "shape": [-1],
                "parameters": described,
            }
        )
    return inputs


def _check_model(name: str, settings: Settings) -> None:
    if name != settings.name:
        raise HTTPException(
            status_code=404, detail=f"unknown model {name!r}; this server has {settings.name!r}"
        )


def _parse(
    runtime: ScoringRuntime, max_rows: int, body: bytes | bytearray
) -> tuple[InferenceRequest, Any]:
    """A V2 body (checked for size before it is parsed) and its rows; the request is
    returned without its inputs' data."""
    explainer = runtime.explainer
    check_size(body, explainer.n_features, max_rows)
    request = decode_v2(body)
    matrix = rows_from_v2(request, explainer.schema, max_rows=max_rows)
    request.inputs = []  # the data's Python objects can go now
    return request, matrix


@dataclass
class _V2InferOperation(Operation):
    """OpenAPI operation of ``POST /v2/models/{name}/infer`` (its body is parsed by the
    handler, see ``decode_v2``)."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True,
            description="An Open Inference (V2) inference request.",
            content={"application/json": OpenAPIMediaType(schema=schema(V2_INFER_REQUEST_SCHEMA))},
        )


class V2Controller(Controller):
    """Server and model metadata, health and inference, for the one model served. (The
    handlers are named ``v2_*``: their names make the OpenAPI operation ids.)"""

    path = "/v2"
    tags = ["v2"]  # noqa: RUF012 - Litestar's layer attribute

    @get("/", summary="Server metadata")
    async def v2_server(self, settings: NamedDependency[Settings]) -> dict[str, Any]:
        return {
            "name": "scoring-explainers",
            "version": __version__,
            "extensions": [],
            "models": [settings.name],
        }

    @get("/health/live", summary="Server live")
    async def v2_live(self) -> dict[str, bool]:
        return {"live": True}

    @get(
        "/health/ready",
        summary="Server ready",
        responses=error_docs(ReadyBody, 503, ok_on_503=True),
    )
    async def v2_ready(self, runtime: NamedDependency[ScoringRuntime]) -> Response[bytes]:
        status = 200 if runtime.ready else 503
        return Response(
            encode({"ready": runtime.ready}), status_code=status, media_type=MediaType.JSON
        )

    @get(
        "/models/{name:str}/ready",
        summary="Model ready",
        responses=error_docs(ModelReadyBody, 400, 401, 404, 503, ok_on_503=True),
    )
    async def v2_model_ready(
        self,
        name: FromPath[str],
        runtime: NamedDependency[ScoringRuntime],
        settings: NamedDependency[Settings],
    ) -> Response[bytes]:
        _check_model(name, settings)
        status = 200 if runtime.ready else 503
        return Response(
            encode({"name": name, "ready": runtime.ready}),
            status_code=status,
            media_type=MediaType.JSON,
        )

    @get(
        "/models/{name:str}",
        summary="Model metadata",
        responses=error_docs(V2ModelMetadata, 400, 401, 404, 503),
    )
    async def v2_model(
        self,
        name: FromPath[str],
        runtime: NamedDependency[ScoringRuntime],
        settings: NamedDependency[Settings],
    ) -> Response[bytes]:
        _check_model(name, settings)
        explainer = runtime.explainer
        k = len(explainer.expected_values)
        shape = (
            [k, -1, explainer.n_features]
            if explainer.task == "classification"
            else [-1, explainer.n_features]
        )
        outputs = [
            {
                "name": "predictions",
                "datatype": _prediction_datatype(explainer.classes),
                "shape": [-1],
            },
            {"name": "local_importance_values", "datatype": "FP64", "shape": shape},
            {"name": "expected_values", "datatype": "FP64", "shape": [k]},
        ]
        if explainer.task == "classification":
            outputs.insert(1, {"name": "probabilities", "datatype": "FP64", "shape": [-1, k]})
        if runtime.estimates_errors:  # sent when asked for (parameters.uncertainty, .tolerance)
            outputs += [
                {"name": "standard_errors", "datatype": "FP64", "shape": shape},
                {"name": "coalitions_used", "datatype": "INT64", "shape": [-1]},
            ]
        body = {
            "name": settings.name,
            "platform": "scoring-explainers",
            "versions": ["1"],
            "inputs": _inputs(explainer.schema),
            "outputs": outputs,
            "parameters": {
                "features": explainer.features,
                "raw_schema": explainer.schema.to_json(),
                "classes": explainer.classes,
                "kind": explainer.kind,
                "output_space": explainer.output_space,
            },
        }
        return Response(encode(body), media_type=MediaType.JSON)

    @post(
        "/models/{name:str}/infer",
        status_code=200,
        summary="Inference with local importances",
        operation_class=_V2InferOperation,
        responses=error_docs(V2InferenceResponse, 400, 401, 404, 413, 422, 503),
    )
    async def v2_infer(
        self,
        name: FromPath[str],
        request: Request[Any, Any, Any],
        runtime: NamedDependency[ScoringRuntime],
        settings: NamedDependency[Settings],
    ) -> Response[bytes]:
        _check_model(name, settings)
        check_length(request.headers.get("content-length"), settings.max_body_bytes)
        body = await read_body(request.receive, settings.max_body_bytes)
        max_rows = settings.max_rows
        if len(body) <= INLINE_PARSE_BYTES:
            data, matrix = _parse(runtime, max_rows, body)
        else:
            data, matrix = await runtime.parse_slots.run(_parse, runtime, max_rows, body)
        del body
        top_k, uncertainty, tolerance = v2_options(data)
        runtime.check_tolerance(tolerance)
        model_name = settings.name

        def work(cancel: RequestLifetime) -> dict[str, Any]:
            result = runtime.score_matrix(
                matrix, cancel, uncertainty=uncertainty, tolerance=tolerance
            )
            body: dict[str, Any] = {
                "model_name": model_name,
                "id": data.id or str(uuid.uuid4()),
                "parameters": {
                    "output_space": result.output_space,
                    "features": result.features,
                    "classes": result.classes,
                },
                "outputs": v2_outputs(result, data.outputs),
            }
            if top_k is not None:
                names, values = result.top_features(runtime.check_top_k(top_k) or 0)
                body["parameters"]["top_k"] = {"features": names, "values": values}
            return body

        lifetime = RequestLifetime(settings.request_timeout_seconds)
        answer = await run_in_worker(lifetime, request.receive, work)
        return Response(encode(answer), media_type=MediaType.JSON)
