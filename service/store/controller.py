"""``/explanations``: upload, list, download and delete explanations under a run id.

Every database call runs in a worker thread; so do parsing and validating an upload, in
one of the service's parse slots (the ``parse_slots`` dependency: a bounded number at once).
Errors carry their status (see :mod:`.errors`); bad input is a 400 (malformed body or
parameters) or a 422 (an explanation that does not hold together), a store that is off or
cannot be used a 503 and a full disk a 507, never a 500.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anyio
import orjson
from litestar import Controller, HttpMethod, MediaType, Request, Response, delete, get, post, route
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import FromPath, FromQuery

from scoring_explainers import InputError

from ..payload import BodyTooLarge, ParseSlots
from ..policy import check_json
from ..schemas import ErrorBody, ExplanationDownload, ExplanationRecord, RunSummary
from .config import StoreConfig
from .records import (
    MAX_COMMENT,
    NewRecord,
    check_comment,
    check_id,
    download_body,
    parse_upload,
    top_k_explanation,
)
from .store import ExplanationStore

__all__ = ["ExplanationController", "create_store_router"]

JSON = MediaType.JSON
#: Bodies over the upload limit are drained up to this many times the limit, then cut.
DRAIN_FACTOR = 4
_ERRORS = {
    400: "Malformed body or parameters",
    401: "API key missing or wrong",
    404: "No explanation matches",
    409: "This explanation id is already stored under the run",
    413: "Upload larger than SCORING_STORE_MAX_BYTES",
    415: "Not application/json",
    422: "An explanation that does not hold together (shape, non-finite values, rows)",
    503: "The store is off, or its database is unavailable, read-only or busy",
    507: "The store's disk is full: delete explanations or give it more space",
}


def _docs(ok: Any, *errors: int, ok_status: int = 200) -> dict[int, ResponseSpec]:
    docs = {ok_status: ResponseSpec(ok, description="OK")} if ok is not None else {}
    for code in errors:
        docs[code] = ResponseSpec(ErrorBody, description=_ERRORS[code])
    return docs


@dataclass
class _UploadOperation(Operation):
    """OpenAPI operation of the upload, with the body it reads (parsed off the event loop)."""

    def __post_init__(self) -> None:
        schema = Schema(
            type=OpenAPIType.OBJECT,
            required=["explanation"],
            properties={
                "explanation": Schema(
                    type=OpenAPIType.OBJECT,
                    description=(
                        "LocalExplanation.to_dict() of a local or global explanation: unique "
                        "feature names (strings), finite values, an id of 1-128 letters, "
                        "digits or '._:-' (not 'latest'), metadata nested at most 32 levels"
                    ),
                ),
                "comment": Schema(
                    type=[OpenAPIType.STRING, OpenAPIType.NULL], max_length=MAX_COMMENT
                ),
                "true_ys": Schema(
                    type=[OpenAPIType.ARRAY, OpenAPIType.NULL],
                    description="One true label per explained row",
                    items=Schema(),
                ),
            },
        )
        self.request_body = RequestBody(
            required=True,
            description="The explanation with an optional comment and true labels.",
            content={"application/json": OpenAPIMediaType(schema=schema)},
        )


def _json(body: Any, status: int = 200) -> Response[bytes]:
    return Response(orjson.dumps(body), status_code=status, media_type=JSON)


def _is_raw(raw: bool | None, engineered: bool | None) -> bool | None:
    """One raw/engineered filter from the two familiar flags."""
    if raw is not None and engineered is not None and raw == engineered:
        raise InputError("raw and engineered contradict each other: give one of them")
    if raw is not None:
        return raw
    return None if engineered is None else not engineered


async def _read_upload(request: Request[Any, Any, Any], limit: int) -> bytes:
    """The upload body, at most ``limit`` bytes (a 413 beyond).

    A body over the limit is still read to its end (up to ``DRAIN_FACTOR`` times the
    limit) before the 413 is sent: a server that answers and closes while the client is
    still sending makes the client fail on a broken pipe, without ever seeing the answer.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > DRAIN_FACTOR * limit:
        raise BodyTooLarge(_too_large(int(declared), limit))
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        elif size > DRAIN_FACTOR * limit:
            break
    if size > limit:
        raise BodyTooLarge(_too_large(size, limit))
    return b"".join(chunks)


async def _decode(slots: ParseSlots, raw: bytes, run_id: str, top_k: int | None) -> NewRecord:
    """``parse_upload`` in a worker thread, once one of the service's parse slots is free
    (the slots bound the bodies decoded at once)."""
    return await slots.run(lambda: parse_upload(raw, run_id, top_k=top_k))


def _too_large(size: int, limit: int) -> str:
    return (
        f"the upload has {size} bytes or more, over the store's limit of {limit} bytes "
        "(SCORING_STORE_MAX_BYTES)"
    )


def _top_k(top_k: int | None) -> int | None:
    """``top_k`` checked: a positive integer (one over the number of features keeps them
    all, however large)."""
    if top_k is not None and top_k < 1:
        raise InputError(f"top_k must be a positive integer, got {top_k}")
    return None if top_k is None else min(top_k, 2**31 - 1)


def _download(
    store: NamedDependency[ExplanationStore], run_id: str, top_k: int | None, **filters: Any
) -> bytes:
    """The download body: the stored JSON, or the top-k form built from the summary."""
    if top_k is None:
        record, body, true_ys = store.find(run_id, **filters)
        return download_body(record, body, true_ys)
    record, summary, _ = store.find(run_id, summary_only=True, **filters)
    reduced = top_k_explanation(orjson.loads(summary), top_k)
    record = {
        **record,
        "top_k": reduced.num_features,  # a top_k over the number of features keeps them all
        "num_features": reduced.num_features,
        "has_eval_data": False,
        "has_true_ys": False,
    }
    return download_body(record, orjson.dumps(reduced.to_dict()), None)


class ExplanationController(Controller):
    """The store's routes; the store (``store``) and the parse slots (``parse_slots``) are
    the application's dependencies."""

    path = "/explanations"
    #: Largest upload in bytes (set by :func:`create_store_router`); the body is read by
    #: the handler itself, so Litestar's own limit is off for these routes.
    upload_limit: int = 64 * 2**20
    request_max_body_size = None
    tags = ["explanations"]  # noqa: RUF012 - Litestar's layer attribute

    # Explicit OPTIONS answers for the paths with several methods: Litestar 2.x builds its
    # automatic one when a path's first handler is registered, so its ``Allow`` would miss
    # the methods added later. (Named ``allow_*``: a controller registers its handlers in
    # name order, and these must come first so that no automatic one is made.)
    @route("/{run_id:str}", http_method=[HttpMethod.OPTIONS], include_in_schema=False)
    async def allow_run(self) -> Response[None]:
        return Response(None, status_code=204, headers={"Allow": "DELETE, GET, OPTIONS, POST"})

    @route(
        "/{run_id:str}/{explanation_id:str}",
        http_method=[HttpMethod.OPTIONS],
        include_in_schema=False,
    )
    async def allow_explanation(self) -> Response[None]:
        return Response(None, status_code=204, headers={"Allow": "DELETE, GET, OPTIONS"})

    @get(
        "/",
        summary="Runs that hold explanations",
        responses=_docs(list[RunSummary], 401, 503, 507),
    )
    async def list_runs(self, store: NamedDependency[ExplanationStore]) -> Response[bytes]:
        """Every run id with its number of explanations, by latest upload."""
        return _json(await anyio.to_thread.run_sync(store.runs))

    @post(
        "/{run_id:str}",
        status_code=201,
        summary="Upload an explanation",
        operation_class=_UploadOperation,
        responses=_docs(ExplanationRecord, 400, 401, 409, 413, 415, 422, 503, 507, ok_status=201),
    )
    async def upload(
        self,
        request: Request[Any, Any, Any],
        store: NamedDependency[ExplanationStore],
        parse_slots: NamedDependency[ParseSlots],
        run_id: FromPath[str],
        top_k: FromQuery[int | None] = None,
    ) -> Response[bytes]:
        """Store an explanation under ``run_id``; ``?top_k=K`` keeps only the top-K ranked
        global values. Validated whole and written in one transaction (never partially)."""
        check_id(run_id, "run id")
        top_k = _top_k(top_k)
        check_json(request.headers.get("content-type"))
        # a store that cannot be opened answers 503 before the body is read
        await anyio.to_thread.run_sync(store.open)
        raw = await _read_upload(request, self.upload_limit)
        record = await _decode(parse_slots, raw, run_id, top_k)
        del raw
        return _json(await anyio.to_thread.run_sync(store.add, record), 201)

    @get(
        "/{run_id:str}",
        summary="List the explanations of a run",
        responses=_docs(list[ExplanationRecord], 400, 401, 422, 503, 507),
    )
    async def list_explanations(
        self,
        store: NamedDependency[ExplanationStore],
        run_id: FromPath[str],
        comment: FromQuery[str | None] = None,
        raw: FromQuery[bool | None] = None,
        engineered: FromQuery[bool | None] = None,
    ) -> Response[bytes]:
        """Explanations under ``run_id`` matching the filters, oldest upload first (an unknown
        run has none)."""
        check_id(run_id, "run id")
        is_raw = _is_raw(raw, engineered)
        check_comment(comment, "the comment filter")
        rows = await anyio.to_thread.run_sync(
            lambda: store.list(run_id, comment=comment, is_raw=is_raw)
        )
        return _json(rows)

    @get(
        "/{run_id:str}/latest",
        summary="Download the latest matching explanation",
        responses=_docs(ExplanationDownload, 400, 401, 404, 422, 503, 507),
    )
    async def download_latest(
        self,
        store: NamedDependency[ExplanationStore],
        run_id: FromPath[str],
        top_k: FromQuery[int | None] = None,
        comment: FromQuery[str | None] = None,
        raw: FromQuery[bool | None] = None,
        engineered: FromQuery[bool | None] = None,
    ) -> Response[bytes]:
        """The newest explanation of the run matching the filters; ``?top_k=K`` returns only
        the top-K ranked global values (no rows)."""
        check_id(run_id, "run id")
        is_raw, top_k = _is_raw(raw, engineered), _top_k(top_k)
        check_comment(comment, "the comment filter")
        body = await anyio.to_thread.run_sync(
            lambda: _download(store, run_id, top_k, comment=comment, is_raw=is_raw)
        )
        return Response(body, media_type=JSON)

    @get(
        "/{run_id:str}/{explanation_id:str}",
        summary="Download an explanation by id",
        responses=_docs(ExplanationDownload, 400, 401, 404, 422, 503, 507),
    )
    async def download(
        self,
        store: NamedDependency[ExplanationStore],
        run_id: FromPath[str],
        explanation_id: FromPath[str],
        top_k: FromQuery[int | None] = None,
        comment: FromQuery[str | None] = None,
        raw: FromQuery[bool | None] = None,
        engineered: FromQuery[bool | None] = None,
    ) -> Response[bytes]:
        """One explanation (a 404 unless it also matches the filters given); ``?top_k=K``
        returns only the top-K ranked global values."""
        check_id(run_id, "run id")
        check_id(explanation_id, "explanation id")
        is_raw, top_k = _is_raw(raw, engineered), _top_k(top_k)
        check_comment(comment, "the comment filter")
        body = await anyio.to_thread.run_sync(
            lambda: _download(
                store,
                run_id,
                top_k,
                explanation_id=explanation_id,
                comment=comment,
                is_raw=is_raw,
            )
        )
        return Response(body, media_type=JSON)

    @delete(
        "/{run_id:str}/{explanation_id:str}",
        summary="Delete an explanation",
        responses=_docs(None, 400, 401, 404, 422, 503, 507),
    )
    async def delete_explanation(
        self,
        store: NamedDependency[ExplanationStore],
        run_id: FromPath[str],
        explanation_id: FromPath[str],
    ) -> None:
        """Remove one explanation (204)."""
        check_id(run_id, "run id")
        check_id(explanation_id, "explanation id")
        await anyio.to_thread.run_sync(store.delete, run_id, explanation_id)

    @delete(
        "/{run_id:str}",
        summary="Delete every explanation of a run",
        responses=_docs(None, 400, 401, 404, 422, 503, 507),
    )
    async def delete_run(
        self, store: NamedDependency[ExplanationStore], run_id: FromPath[str]
    ) -> None:
        """Remove the run's explanations (204; 404 when it has none)."""
        check_id(run_id, "run id")
        await anyio.to_thread.run_sync(store.delete, run_id)


def create_store_router(config: StoreConfig) -> type[Controller]:
    """The ``/explanations`` routes, with uploads up to ``config.max_upload_bytes``.

    (One controller, so that each path's handlers are registered together and the
    automatic ``OPTIONS`` answer lists all their methods.)
    """
    return type(
        "ExplanationController",
        (ExplanationController,),
        {"upload_limit": config.max_upload_bytes},
    )
