"""``POST /score``: predictions with local importances.

:func:`score_answer` is the one way a ``/score`` body is answered: by
:class:`ScoreController`'s handler and by the fast path (:mod:`service.fast_score`), which
takes the requests that need nothing of the framework.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any

from litestar import Controller, MediaType, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, Operation, RequestBody
from litestar.params import FromQuery, QueryParameter
from litestar.types import Receive

from ._openapi import error_docs, schema
from .lifetime import RequestLifetime, run_in_worker
from .policy import check_json, check_length, read_body
from .runtime import ScoringRuntime, encode
from .schemas import SCORE_REQUEST_SCHEMA, ErrorBody, RawColumn, ScoreResponse
from .settings import Settings

__all__ = ["INLINE_PARSE_BYTES", "ScoreController", "score_answer"]

#: Bodies up to this size are parsed on the event loop (microseconds); larger ones in a
#: worker thread with the scoring.
INLINE_PARSE_BYTES = 64 * 1024

_UNCERTAINTY = (
    "true (or 1): add standard_errors, each importance's standard error (same layout as "
    "local_importance_values; zero for exact explainers: tree, linear, enumerated Kernel "
    "designs), and coalitions_used, the coalitions evaluated per row. false (or 0, the "
    "default): neither."
)
_TOLERANCE = (
    "A positive number: evaluate each row's coalitions until every standard error of the "
    "row is at most this (within the artifact's budget); adds standard_errors and "
    "coalitions_used."
)


async def score_answer(
    runtime: ScoringRuntime,
    body: bytes | bytearray,
    top_k: int | None,
    lifetime: RequestLifetime,
    receive: Receive,
    *,
    uncertainty: bool = False,
    tolerance: float | None = None,
) -> bytes:
    """A ``/score`` body's answer, encoded: cheap requests on the event loop, others in a
    worker thread that stops at its next chunk when the client leaves or the deadline
    passes (``ClientGone``, ``DeadlineExceeded``); a large body is parsed in one of the
    runtime's parse slots. ``uncertainty`` and ``tolerance`` as
    :meth:`ScoringRuntime.respond`."""
    respond = partial(runtime.respond, uncertainty=uncertainty, tolerance=tolerance)
    if len(body) <= INLINE_PARSE_BYTES:
        matrix = runtime.parse(body)
        if runtime.is_cheap(len(matrix)):  # a thread hop would cost more than the work
            return encode(respond(matrix, top_k))
    else:
        matrix = await runtime.parse_slots.run(runtime.parse, body)
    return encode(await run_in_worker(lifetime, receive, respond, matrix, top_k))


@dataclass
class _ScoreOperation(Operation):
    """OpenAPI operation of ``POST /score`` with the request body it really takes."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True,
            description='Rows to score: {"data": [[...]]}, records, or pandas to_json().',
            content={"application/json": OpenAPIMediaType(schema=schema(SCORE_REQUEST_SCHEMA))},
        )


class ScoreController(Controller):
    """``POST /score`` with the runtime and settings injected."""

    path = "/score"
    tags = ["scoring"]  # noqa: RUF012 - Litestar's layer attribute

    @post(
        "/",
        status_code=200,
        operation_class=_ScoreOperation,
        responses={
            200: ResponseSpec(ScoreResponse, description="Scored rows"),
            400: ResponseSpec(ErrorBody, description="Body is not valid JSON"),
            401: ResponseSpec(ErrorBody, description="API key missing or wrong"),
            413: ResponseSpec(ErrorBody, description="Too many rows or bytes"),
            415: ResponseSpec(ErrorBody, description="Not application/json"),
            422: ResponseSpec(ErrorBody, description="Unusable rows"),
        },
        summary="Predictions and local importances",
    )
    async def score(
        self,
        request: Request[Any, Any, Any],
        runtime: NamedDependency[ScoringRuntime],
        settings: NamedDependency[Settings],
        top_k: FromQuery[int | None] = None,
        uncertainty: Annotated[bool | None, QueryParameter(description=_UNCERTAINTY)] = None,
        tolerance: Annotated[float | None, QueryParameter(description=_TOLERANCE)] = None,
    ) -> Response[bytes]:
        """Score rows. ``?top_k=K`` adds each row's K most important features,
        ``?uncertainty=true`` their standard errors, ``?tolerance=T`` stops each row's
        coalitions once every standard error is below ``T``."""
        check_json(request.headers.get("content-type"))
        lifetime = RequestLifetime(settings.request_timeout_seconds)
        check_length(request.headers.get("content-length"), settings.max_body_bytes)
        body = await read_body(request.receive, settings.max_body_bytes)
        answer = await score_answer(
            runtime,
            body,
            top_k,
            lifetime,
            request.receive,
            uncertainty=bool(uncertainty),
            tolerance=tolerance,
        )
        return Response(answer, media_type=MediaType.JSON)

    @get(
        "/schema",
        summary="The raw columns /score takes",
        responses=error_docs(list[RawColumn], 401, 503),
    )
    async def score_schema(self, runtime: NamedDependency[ScoringRuntime]) -> Response[bytes]:
        """The artifact's raw schema (its manifest's ``raw_schema``): per column its
        ``name``, ``kind``, ``type``, whether ``missing`` values are accepted and, for a
        categorical column, its ``categories`` and ``unknown`` policy."""
        return Response(encode(runtime.explainer.schema.to_json()), media_type=MediaType.JSON)
