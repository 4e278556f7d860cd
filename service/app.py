"""The Litestar application: /score, the V2 protocol, metrics, probes, the explanation store
and the dashboard."""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import anyio
from litestar import Litestar, MediaType, Request, Response, get, post
from litestar.datastructures import State
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.spec import Components, OpenAPIMediaType, Operation, RequestBody, Schema
from litestar.params import FromPath, FromQuery
from litestar.types import (
    ASGIApp,
    HTTPScope,
    LifeSpanReceive,
    LifeSpanScope,
    LifeSpanSend,
    Message,
    Receive,
    Scope,
    Send,
)
from prometheus_client import CONTENT_TYPE_LATEST

from scoring_explainers import InputError, ScoringExplainersError
from scoring_explainers._version import __version__

from .dashboard import create_dashboard_router, is_dashboard_path
from .lifetime import ClientGone, DeadlineExceeded, RequestLifetime, run_in_worker
from .payload import BodyTooLarge, MalformedBody, check_size
from .runtime import NotReady, ScoringRuntime, encode
from .schemas import (
    SCORE_REQUEST_SCHEMA,
    V2_INFER_REQUEST_SCHEMA,
    ErrorBody,
    ModelReadyBody,
    ReadyBody,
    ScoreResponse,
    StatusBody,
    V2InferenceResponse,
    V2ModelMetadata,
)
from .settings import Settings
from .store import ExplanationStore, StoreConfig, StoreError, create_store_router
from .v2 import InferenceRequest, decode_v2, rows_from_v2, v2_outputs

__all__ = ["create_app"]

log = logging.getLogger("service")

#: Paths that never need the API key (probes and metrics; the dashboard's page and files
#: too, see ``is_dashboard_path``: the page asks for the key before it reads data).
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/v2/health/live", "/v2/health/ready"})
JSON = MediaType.JSON
#: The ``endpoint`` label of requests no route takes.
UNMATCHED = "unmatched"
#: Bodies up to this size are parsed on the event loop (microseconds); larger ones in a
#: worker thread with the scoring.
INLINE_PARSE_BYTES = 64 * 1024


_ERRORS = {
    400: "Body or parameters are not valid",
    401: "API key missing or wrong",
    404: "Unknown model",
    413: "Too many rows or bytes",
    415: "Not application/json",
    422: "Rows that do not fit the model",
    503: "The artifact is not loaded",
}


def _prediction_datatype(classes: list[Any] | None) -> str:
    """The V2 datatype of the predictions output, as ``v2_outputs`` will send it."""
    if not classes:
        return "FP64"
    first = classes[0]
    if isinstance(first, bool):
        return "BOOL"
    return "INT64" if isinstance(first, int) else "BYTES"


def _docs(ok: type, *errors: int, ok_on_503: bool = False) -> dict[int, ResponseSpec]:
    """OpenAPI responses: ``ok`` for 200 and the error body for each error status."""
    docs = {200: ResponseSpec(ok, description="OK")}
    for code in errors:
        body = ok if (code == 503 and ok_on_503) else ErrorBody
        docs[code] = ResponseSpec(body, description=_ERRORS[code])
    return docs


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response[bytes]:
    return Response(
        encode({"error": message, "status": status}),
        status_code=status,
        media_type=JSON,
        headers=headers,
    )


def _append(body: bytes | bytearray, chunk: bytes) -> bytes | bytearray:
    """``body + chunk``: the first chunk as it came (most bodies are one), then a buffer
    grown in place, so a large body is held once (not as chunks and their join)."""
    if not body:
        return chunk
    if isinstance(body, bytes):
        body = bytearray(body)
    body += chunk
    return body


async def _read_body(request: Request[Any, Any, Any]) -> bytes | bytearray:
    """The request's body (Litestar's size limit applies), held once: see ``_append``."""
    body: bytes | bytearray = b""
    async for chunk in request.stream():
        if chunk:
            body = _append(body, chunk)
    return body


async def _score(
    runtime: ScoringRuntime,
    body: bytes | bytearray,
    top_k: int | None,
    lifetime: RequestLifetime,
    receive: Receive,
) -> bytes:
    """A ``/score`` body's answer, encoded: cheap requests on the event loop, others in a
    worker thread that stops at its next chunk when the client leaves or the deadline
    passes (``ClientGone``, ``DeadlineExceeded``); a large body is parsed in one of the
    runtime's parse slots."""
    if len(body) <= INLINE_PARSE_BYTES:
        matrix = runtime.parse(body)
        if runtime.is_cheap(len(matrix)):  # a thread hop would cost more than the work
            return encode(runtime.respond(matrix, top_k))
    else:
        matrix = await runtime.parse_slots.run(runtime.parse, body)
    return encode(await run_in_worker(lifetime, receive, runtime.respond, matrix, top_k))


def _status_for(exc: Exception) -> int:
    if isinstance(exc, MalformedBody):
        return 400
    if isinstance(exc, BodyTooLarge):
        return 413
    return 422


def _input_error(_: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    return _error(_status_for(exc), str(exc))


def _http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    message = exc.detail
    if isinstance(exc, ValidationException) and exc.extra:
        message = f"{exc.detail}: {_problems(exc.extra)}"
    return _error(exc.status_code, str(message), headers=exc.headers)


def _problems(extra: Any) -> str:
    """Litestar's validation details as words: ``top_k: Expected `int | null`, got `str```."""
    if isinstance(extra, list) and all(isinstance(e, dict) for e in extra):
        return "; ".join(
            f"{e['key']}: {e.get('message', 'invalid')}" if e.get("key") else str(e.get("message"))
            for e in extra
        )
    return str(extra)


def _store_error(_: Request[Any, Any, Any], exc: StoreError) -> Response[bytes]:
    return _error(exc.status, str(exc))


def _not_ready(_: Request[Any, Any, Any], exc: NotReady) -> Response[bytes]:
    return _error(503, str(exc))


def _deadline_exceeded(_: Request[Any, Any, Any], exc: DeadlineExceeded) -> Response[bytes]:
    return _error(503, str(exc))


#: Status recorded for a request whose client left before its answer (nothing is sent).
CLIENT_GONE = 499


def _client_gone(_: Request[Any, Any, Any], exc: ClientGone) -> Response[bytes]:
    return Response(b"", status_code=CLIENT_GONE)


def _internal(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return _error(500, "internal error")


@dataclass
class _ScoreOperation(Operation):
    """OpenAPI operation of ``POST /score`` with the request body it really takes."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True,
            description='Rows to score: {"data": [[...]]}, records, or pandas to_json().',
            content={"application/json": OpenAPIMediaType(schema=_schema(SCORE_REQUEST_SCHEMA))},
        )


@dataclass
class _V2InferOperation(Operation):
    """OpenAPI operation of ``POST /v2/models/{name}/infer`` (its body is parsed by the
    handler, see ``decode_v2``)."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True,
            description="An Open Inference (V2) inference request.",
            content={"application/json": OpenAPIMediaType(schema=_schema(V2_INFER_REQUEST_SCHEMA))},
        )


def _schema(node: dict[str, Any]) -> Schema:
    """A litestar ``Schema`` from a JSON-schema dict (the few keywords we use)."""
    from litestar.openapi.spec import OpenAPIType

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
        one_of=[_schema(n) for n in node["oneOf"]] if "oneOf" in node else None,
        items=_schema(node["items"]) if "items" in node else None,
        properties={k: _schema(v) for k, v in node["properties"].items()}
        if "properties" in node
        else None,
        additional_properties=_schema(node["additionalProperties"])
        if "additionalProperties" in node
        else None,
    )


@dataclass
class _Middleware:
    """The optional API key (request metrics are recorded by ``_Service``, around routing)."""

    app: ASGIApp
    runtime: ScoringRuntime
    api_key: bytes = field(default=b"")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.api_key and not self._open(scope["path"]) and not self._authorized(scope):
            response = _error(
                401,
                "missing or wrong API key: send 'Authorization: Bearer <key>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
            await response.to_asgi_response(app=None, request=Request(scope))(scope, receive, send)
            return
        await self.app(scope, receive, send)

    @staticmethod
    def _open(path: str) -> bool:
        return path in OPEN_PATHS or is_dashboard_path(path)

    def _authorized(self, scope: Scope) -> bool:
        for name, value in scope["headers"]:
            if name == b"authorization":
                return _bearer_matches(value, self.api_key)
        return False


def _bearer_matches(authorization: bytes, api_key: bytes) -> bool:
    """Whether an ``Authorization`` header carries ``Bearer <api_key>`` (constant time)."""
    scheme, _, token = authorization.partition(b" ")
    return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), api_key)


#: The query strings the lean ``/score`` path takes: none, or ``top_k`` as a plain number.
_LEAN_QUERY = re.compile(rb"top_k=([1-9][0-9]{0,5})")
_DECLINED = -1


class _Disconnected(Exception):
    """The client went away before its body arrived."""


class _LeanScore:
    """``POST /score`` answered without Litestar's routing, request and response objects.

    Litestar spends more on a one-row request than the scoring does; this path keeps only
    what ``/score`` needs. It takes a request only when nothing about it needs the
    framework: the artifact is loaded, the Content-Type is ``application/json``, the API
    key is right (when one is set), the query string is empty or ``top_k=K``, and the
    Content-Length (when sent) is within the body limit. Everything else (a 401, 415,
    503, an odd query string, a body announced too large) goes on to the Litestar handler,
    which answers exactly as before. Both score through ``_score`` and answer errors with
    the same ``{"error", "status"}`` bodies; the request metrics are recorded here for the
    requests this path answers and by ``_Middleware`` for the others.
    """

    def __init__(
        self,
        runtime: ScoringRuntime,
        api_key: bytes,
        max_body_bytes: int,
        request_timeout: float = 0,
    ) -> None:
        self.runtime = runtime
        self.api_key = api_key
        self.max_body_bytes = max_body_bytes
        self.request_timeout = request_timeout

    def top_k(self, scope: Scope) -> int | None:
        """The request's ``top_k`` if this path takes the request, else ``_DECLINED``."""
        if not self.runtime.ready:
            return _DECLINED
        top_k = None
        query = scope["query_string"]
        if query:
            match = _LEAN_QUERY.fullmatch(query)
            if match is None:
                return _DECLINED
            top_k = int(match[1])
        content_type = length = authorization = None
        for name, value in scope["headers"]:  # the first of each, as Litestar reads them
            if name == b"content-type":
                content_type = value if content_type is None else content_type
            elif name == b"content-length":
                length = value if length is None else length
            elif name == b"authorization":
                authorization = value if authorization is None else authorization
        if content_type is None or (
            content_type.partition(b";")[0].strip().lower() != b"application/json"
        ):
            return _DECLINED
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            return _DECLINED
        if self.api_key and (
            authorization is None or not _bearer_matches(authorization, self.api_key)
        ):
            return _DECLINED
        return top_k

    async def _body(self, receive: Receive) -> bytes | bytearray:
        body: bytes | bytearray = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = cast(bytes, message.get("body", b""))
            if chunk:
                if len(body) + len(chunk) > self.max_body_bytes:  # chunked, no Content-Length
                    raise HTTPException(status_code=413, detail="Request Entity Too Large")
                body = _append(body, chunk)
            if not message.get("more_body", False):
                return body

    async def __call__(self, scope: Scope, receive: Receive, send: Send, top_k: int | None) -> None:
        start = time.perf_counter()
        status = 500
        lifetime = RequestLifetime(self.request_timeout)
        try:
            try:
                body = await self._body(receive)
                answer = await _score(self.runtime, body, top_k, lifetime, receive)
                status = 200
            except ScoringExplainersError as exc:
                status = _status_for(exc)
                answer = encode({"error": str(exc), "status": status})
            except HTTPException as exc:
                status = exc.status_code
                answer = encode({"error": str(exc.detail), "status": status})
            except (NotReady, DeadlineExceeded) as exc:
                status = 503
                answer = encode({"error": str(exc), "status": status})
            except ClientGone:
                status = CLIENT_GONE
                return  # nobody to answer; the work stopped at its next chunk
            except _Disconnected:
                return  # nothing to answer; counted as a 500, as Litestar's path does
            except Exception:
                log.exception("unhandled error on POST /score")
                answer = encode({"error": "internal error", "status": 500})
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(answer)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": answer, "more_body": False})
        finally:
            self.runtime.metrics.observe_request("/score", status, time.perf_counter() - start)


def endpoint_label(scope: Scope) -> str:
    """The ``endpoint`` label of a request: its route's full template (router prefixes
    included, e.g. ``/explanations/{run_id}``), or ``unmatched`` for every path no
    route takes (404s and 405s from routing), so that clients cannot add label values."""
    if scope.get("route_handler") is None:
        return UNMATCHED
    return str(scope.get("path_template") or UNMATCHED)


class _Service(Litestar):
    """The Litestar app, with ``POST /score`` tried on the lean path first."""

    lean_score: _LeanScore | None = None
    #: Records each request's endpoint label, status and duration (set by ``create_app``).
    observe_request: Callable[[str, int, float], None] | None = None

    async def __call__(
        self,
        scope: Scope | LifeSpanScope,
        receive: Receive | LifeSpanReceive,
        send: Send | LifeSpanSend,
    ) -> None:
        if self.lean_score is not None and scope["type"] == "http":
            http = cast(HTTPScope, scope)
            if http["path"] == "/score" and http["method"] == "POST":
                top_k = self.lean_score.top_k(http)
                if top_k != _DECLINED:
                    await self.lean_score(http, cast(Receive, receive), cast(Send, send), top_k)
                    return
        if scope["type"] == "http" and self.observe_request is not None:
            await self._observed(cast(HTTPScope, scope), cast(Receive, receive), cast(Send, send))
            return
        await super().__call__(scope, receive, send)

    async def _observed(self, scope: HTTPScope, receive: Receive, send: Send) -> None:
        """The request through Litestar, counted under :func:`endpoint_label` (known once
        Litestar has routed it) with the status it was answered with."""
        assert self.observe_request is not None
        status = 500  # no answer sent: an error, or the client left
        start = time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await super().__call__(scope, receive, send_status)
        finally:
            self.observe_request(
                endpoint_label(cast(Scope, scope)), status, time.perf_counter() - start
            )


def create_app(settings: Settings | None = None, runtime: ScoringRuntime | None = None) -> Litestar:
    """Build the service for one artifact.

    Parameters
    ----------
    settings : Settings, optional
        Default: :meth:`Settings.from_env`.
    runtime : ScoringRuntime, optional
        Default: a new runtime for ``settings``; the artifact is loaded at start-up.
    """
    settings = settings or Settings.from_env()
    runtime = runtime or ScoringRuntime(settings)
    model_name = settings.name
    store_config = StoreConfig(
        sqlite_path=settings.store_path,
        database_url=settings.database_url,
        max_upload_bytes=settings.store_max_bytes,
    )
    store = ExplanationStore(store_config)

    async def keep_loading() -> None:
        while not await anyio.to_thread.run_sync(runtime.try_load):
            await anyio.sleep(settings.load_retry_seconds)

    async def load_artifact(app: Litestar) -> None:
        # Never crash on a bad artifact: stay up, not ready, with the reason in the log
        # and in /readyz, and try again (the volume may be filled later).
        if not await anyio.to_thread.run_sync(runtime.try_load) and settings.load_retry_seconds:
            app.state.loader = asyncio.get_running_loop().create_task(keep_loading())

    async def open_store(app: Litestar) -> None:
        # In the background: a store that cannot be opened (an unwritable directory, a
        # database that is down) is a warning in the log and a 503 on /explanations; it
        # neither delays nor stops scoring. Requests try to open it again.
        app.state.store_opener = asyncio.get_running_loop().create_task(
            anyio.to_thread.run_sync(store.try_open)
        )

    def _json_body(request: Request[Any, Any, Any]) -> None:
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/json":
            raise HTTPException(
                status_code=415,
                detail=f"Content-Type must be application/json, got {media_type or 'none'!r}",
            )

    @post(
        "/score",
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
        tags=["scoring"],
    )
    async def score(
        request: Request[Any, Any, Any], top_k: FromQuery[int | None] = None
    ) -> Response[bytes]:
        """Score rows. ``?top_k=K`` adds each row's K most important features."""
        _json_body(request)
        lifetime = RequestLifetime(settings.request_timeout_seconds)
        body = await _read_body(request)
        answer = await _score(runtime, body, top_k, lifetime, request.receive)
        return Response(answer, media_type=JSON)

    @get("/healthz", tags=["probes"], summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "alive"}

    @get(
        "/readyz",
        tags=["probes"],
        summary="Readiness: the artifact is loaded",
        responses=_docs(StatusBody, 503),
    )
    async def readyz() -> Response[bytes]:
        if runtime.ready:
            return Response(encode({"status": "ready"}), media_type=JSON)
        return _error(503, runtime.not_ready_reason)

    @get("/metrics", media_type=CONTENT_TYPE_LATEST, tags=["probes"], summary="Prometheus metrics")
    async def metrics() -> Response[bytes]:
        return Response(runtime.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    # -- V2 / Open Inference Protocol ---------------------------------------------------
    def _check_model(name: str) -> None:
        if name != model_name:
            raise HTTPException(
                status_code=404, detail=f"unknown model {name!r}; this server has {model_name!r}"
            )

    @get("/v2", tags=["v2"], summary="Server metadata")
    async def v2_server() -> dict[str, Any]:
        return {
            "name": "scoring-explainers",
            "version": __version__,
            "extensions": [],
            "models": [model_name],
        }

    @get("/v2/health/live", tags=["v2"], summary="Server live")
    async def v2_live() -> dict[str, bool]:
        return {"live": True}

    @get(
        "/v2/health/ready",
        tags=["v2"],
        summary="Server ready",
        responses=_docs(ReadyBody, 503, ok_on_503=True),
    )
    async def v2_ready() -> Response[bytes]:
        status = 200 if runtime.ready else 503
        return Response(encode({"ready": runtime.ready}), status_code=status, media_type=JSON)

    @get(
        "/v2/models/{name:str}/ready",
        tags=["v2"],
        summary="Model ready",
        responses=_docs(ModelReadyBody, 400, 401, 404, 503, ok_on_503=True),
    )
    async def v2_model_ready(name: FromPath[str]) -> Response[bytes]:
        _check_model(name)
        status = 200 if runtime.ready else 503
        return Response(
            encode({"name": name, "ready": runtime.ready}), status_code=status, media_type=JSON
        )

    @get(
        "/v2/models/{name:str}",
        tags=["v2"],
        summary="Model metadata",
        responses=_docs(V2ModelMetadata, 400, 401, 404, 503),
    )
    async def v2_model(name: FromPath[str]) -> Response[bytes]:
        _check_model(name)
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
        body = {
            "name": model_name,
            "platform": "scoring-explainers",
            "versions": ["1"],
            "inputs": [
                {"name": "input-0", "datatype": "FP64", "shape": [-1, explainer.n_features]}
            ],
            "outputs": outputs,
            "parameters": {
                "features": explainer.features,
                "classes": explainer.classes,
                "kind": explainer.kind,
                "output_space": explainer.output_space,
            },
        }
        return Response(encode(body), media_type=JSON)

    def parse_v2(body: bytes | bytearray) -> tuple[InferenceRequest, Any]:
        """A V2 body (checked for size before it is parsed) and its rows; the request is
        returned without its inputs' data."""
        explainer = runtime.explainer
        check_size(body, explainer.n_features, settings.max_rows)
        request = decode_v2(body)
        matrix = rows_from_v2(request, explainer.features, max_rows=settings.max_rows)
        request.inputs = []  # the data's Python objects can go now
        return request, matrix

    @post(
        "/v2/models/{name:str}/infer",
        status_code=200,
        tags=["v2"],
        summary="Inference with local importances",
        operation_class=_V2InferOperation,
        responses=_docs(V2InferenceResponse, 400, 401, 404, 413, 422, 503),
    )
    async def v2_infer(name: FromPath[str], request: Request[Any, Any, Any]) -> Response[bytes]:
        _check_model(name)
        body = await _read_body(request)
        if len(body) <= INLINE_PARSE_BYTES:
            data, matrix = parse_v2(body)
        else:
            data, matrix = await runtime.parse_slots.run(parse_v2, body)
        del body
        top_k = (data.parameters or {}).get("top_k")
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int)):
            raise InputError("parameters.top_k must be an integer")

        def work(cancel: RequestLifetime) -> dict[str, Any]:
            result = runtime.score_matrix(matrix, cancel)
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
        return Response(encode(answer), media_type=JSON)

    api_key = settings.api_key.encode()
    app = _Service(
        route_handlers=[
            score,
            healthz,
            readyz,
            metrics,
            v2_server,
            v2_live,
            v2_ready,
            v2_model_ready,
            v2_model,
            v2_infer,
            create_store_router(store_config),
            create_dashboard_router(),
        ],
        on_startup=[load_artifact, open_store],
        on_shutdown=[lambda: store.close()],
        exception_handlers={
            StoreError: _store_error,
            ScoringExplainersError: _input_error,
            InputError: _input_error,
            NotReady: _not_ready,
            DeadlineExceeded: _deadline_exceeded,
            ClientGone: _client_gone,
            HTTPException: _http_error,
            Exception: _internal,
        },
        middleware=[lambda app: _Middleware(app, runtime, api_key)],
        openapi_config=OpenAPIConfig(
            title="scoring-explainers",
            version=__version__,
            description="Predictions with local feature importances (SHAP values).",
            components=Components(),
        ),
        request_max_body_size=settings.max_body_bytes,
        state=State({"runtime": runtime, "settings": settings, "store": store}),
        debug=False,
    )
    app.lean_score = _LeanScore(
        runtime, api_key, settings.max_body_bytes, settings.request_timeout_seconds
    )
    app.observe_request = runtime.metrics.observe_request
    app.state.parse_slots = runtime.parse_slots  # explanation uploads share the bound
    return app
