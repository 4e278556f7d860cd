"""The service's one policy: who may call what, which bodies are taken, how errors are
answered and how requests are counted.

Both the Litestar application (its middleware, handlers and exception handlers) and the
fast ``POST /score`` path (:class:`service.fast_score.FastScore`) call these functions, so
that a request gets the same answer, byte for byte, whichever of them answers it:

- authorization: the optional API key (``Authorization: Bearer <key>``), compared in
  constant time; the probes, ``/metrics`` and the dashboard's page and files are open
  (:func:`is_open`);
- content type: ``application/json`` (parameters and case aside) or a 415
  (:func:`check_json`);
- body limits: the Content-Length announced, then the bytes received (:func:`read_body`,
  held in one buffer);
- errors: every 4xx/5xx is ``{"error": message, "status": code}`` (:func:`error_of` maps an
  exception to its status, message and headers; :func:`error_response` and
  :func:`send_error` answer it);
- metrics: each request counted once under its route's template (:func:`endpoint_label`,
  :class:`RequestMetrics`).

Imports: the runtime's errors, the service's runtime and lifetime, Litestar's exception
types; never a controller or the store (whose errors are :class:`StatusError`).
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast

import orjson
from litestar import MediaType, Request, Response
from litestar.enums import ScopeType
from litestar.exceptions import (
    ClientException,
    HTTPException,
    InternalServerException,
    ValidationException,
)
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.types import ASGIApp, ExceptionHandlersMap, Message, Receive, Scope, Send

from scoring_explainers import ScoringExplainersError

from .lifetime import ClientGone, DeadlineExceeded
from .payload import BodyTooLarge, MalformedBody
from .runtime import NotReady

__all__ = [
    "CLIENT_GONE",
    "ERROR_HANDLERS",
    "OPEN_PATHS",
    "UNMATCHED",
    "ApiKey",
    "RequestMetrics",
    "StatusError",
    "check_json",
    "check_length",
    "endpoint_label",
    "error_body",
    "error_of",
    "error_response",
    "is_json",
    "is_open",
    "read_body",
    "send_error",
    "send_json",
    "unexpected",
]

log = logging.getLogger("service")

#: Paths that never need the API key (probes and metrics; the dashboard's page and files
#: too, see :func:`is_open`: the page asks for the key before it reads data).
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/v2/health/live", "/v2/health/ready"})
#: The dashboard's page; its files are below ``/dashboard/``.
DASHBOARD = "/dashboard"
#: The ``endpoint`` label of requests no route takes.
UNMATCHED = "unmatched"
#: Status recorded for a request whose client left before its answer (nothing is sent).
CLIENT_GONE = 499
_JSON_HEADER = (b"content-type", b"application/json")


class StatusError(Exception):
    """An error that carries the HTTP status it is answered with (the explanation store's
    errors, :class:`service.store.StoreError`, are these)."""

    status = 500


# -- authorization -----------------------------------------------------------------------------
def is_open(path: str) -> bool:
    """Whether ``path`` is answered without the API key: a probe, ``/metrics``, or the
    dashboard's page or one of its files."""
    return path in OPEN_PATHS or path == DASHBOARD or path.startswith(DASHBOARD + "/")


def _bearer_matches(authorization: bytes, api_key: bytes) -> bool:
    """Whether an ``Authorization`` header carries ``Bearer <api_key>`` (constant time)."""
    scheme, _, token = authorization.partition(b" ")
    return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), api_key)


@dataclass(frozen=True)
class ApiKey:
    """The service's API key (empty: none; every request is authorized)."""

    key: bytes

    def authorized(self, authorization: bytes | None) -> bool:
        """Whether a request with this ``Authorization`` header (the first one sent;
        ``None``: none) may be answered."""
        if not self.key:
            return True
        return authorization is not None and _bearer_matches(authorization, self.key)

    def middleware(self, app: ASGIApp) -> ASGIApp:
        """Litestar middleware: a 401 for a request without the key, except on open paths
        (it runs after routing, so an unknown path is a 404 whatever the key)."""

        async def guard(scope: Scope, receive: Receive, send: Send) -> None:
            if (
                scope["type"] == ScopeType.HTTP
                and not is_open(scope["path"])
                and not self.authorized(_first_header(scope["headers"], b"authorization"))
            ):
                await send_error(send, *UNAUTHORIZED)
                return
            await app(scope, receive, send)

        return guard


def _first_header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for key, value in headers:
        if key == name:
            return value
    return None


#: The answer to a request without the right API key.
UNAUTHORIZED = (
    401,
    "missing or wrong API key: send 'Authorization: Bearer <key>'",
    {"WWW-Authenticate": "Bearer"},
)


# -- bodies ------------------------------------------------------------------------------------
def _media_type(content_type: str | bytes | None) -> str:
    if isinstance(content_type, bytes):
        content_type = content_type.decode("latin-1")
    return (content_type or "").split(";")[0].strip().lower()


def is_json(content_type: str | bytes | None) -> bool:
    """Whether a Content-Type header says ``application/json`` (parameters and case aside)."""
    return _media_type(content_type) == "application/json"


def check_json(content_type: str | bytes | None) -> None:
    """A 415 (``HTTPException``) unless the Content-Type is ``application/json``."""
    media_type = _media_type(content_type)
    if media_type != "application/json":
        raise HTTPException(
            status_code=415,
            detail=f"Content-Type must be application/json, got {media_type or 'none'!r}",
        )


def check_length(content_length: bytes | str | None, limit: int) -> None:
    """Refuse a body by its Content-Length header (the first one; ``None``: not sent), as
    Litestar's ``Request.stream`` does: a 400 when it is not an integer, a 413 when it
    announces more than ``limit`` bytes, before anything is read."""
    if content_length is None:
        return
    if isinstance(content_length, bytes):
        content_length = content_length.decode("latin-1")
    try:
        length = int(content_length)
    except ValueError:
        raise ClientException(f"Invalid content-length: {content_length!r}") from None
    if length > limit:
        raise RequestEntityTooLarge


def _append(body: bytes | bytearray, chunk: bytes) -> bytes | bytearray:
    """``body + chunk``: the first chunk as it came (most bodies are one), then a buffer
    grown in place, so a large body is held once (not as chunks and their join)."""
    if not body:
        return chunk
    if isinstance(body, bytes):
        body = bytearray(body)
    body += chunk
    return body


async def read_body(receive: Receive, limit: int) -> bytes | bytearray:
    """A request's body, held once (see ``_append``), at most ``limit`` bytes.

    Raises
    ------
    RequestEntityTooLarge
        More than ``limit`` bytes arrived (Litestar's own 413, as for an announced length).
    InternalServerException
        The client disconnected before the body's end (as Litestar's ``stream``).
    """
    body: bytes | bytearray = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise InternalServerException("client disconnected prematurely")
        chunk = cast(bytes, message.get("body", b""))
        if chunk:
            if len(body) + len(chunk) > limit:
                raise RequestEntityTooLarge
            body = _append(body, chunk)
        if not message.get("more_body", False):
            return body


# -- errors ------------------------------------------------------------------------------------
def error_body(status: int, message: str) -> bytes:
    """The body of every error answer."""
    return orjson.dumps({"error": message, "status": status})


def _problems(extra: Any) -> str:
    """Litestar's validation details as words: ``top_k: Expected `int | null`, got `str```."""
    if isinstance(extra, list) and all(isinstance(e, dict) for e in extra):
        return "; ".join(
            f"{e['key']}: {e.get('message', 'invalid')}" if e.get("key") else str(e.get("message"))
            for e in extra
        )
    return str(extra)


def error_of(exc: BaseException) -> tuple[int, str, dict[str, str] | None]:
    """The status, message and extra headers an exception is answered with.

    400 a body that is not JSON, 413 too many rows or bytes, 422 other bad input, the
    store's own status for its errors, 503 an artifact not loaded or a deadline passed,
    ``CLIENT_GONE`` a client that left (nothing is sent), an ``HTTPException``'s status
    (Litestar's validation details in words), else 500.
    """
    if isinstance(exc, ScoringExplainersError):
        if isinstance(exc, MalformedBody):
            return 400, str(exc), None
        return (413 if isinstance(exc, BodyTooLarge) else 422), str(exc), None
    if isinstance(exc, StatusError):
        return exc.status, str(exc), None
    if isinstance(exc, NotReady | DeadlineExceeded):
        return 503, str(exc), None
    if isinstance(exc, ClientGone):
        return CLIENT_GONE, "", None
    if isinstance(exc, HTTPException):
        message = exc.detail
        if isinstance(exc, ValidationException) and exc.extra:
            message = f"{exc.detail}: {_problems(exc.extra)}"
        return exc.status_code, str(message), exc.headers
    return 500, "internal error", None


_ANSWERED = (
    ScoringExplainersError,
    StatusError,
    NotReady,
    DeadlineExceeded,
    ClientGone,
    HTTPException,
)


def unexpected(exc: BaseException) -> bool:
    """Whether ``exc`` is a failure of the service itself (a 500 whose traceback is logged),
    not an answer :func:`error_of` knows."""
    return not isinstance(exc, _ANSWERED)


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None
) -> Response[bytes]:
    """An error as a Litestar response (``CLIENT_GONE``: an empty one nobody reads)."""
    if status == CLIENT_GONE:
        return Response(b"", status_code=CLIENT_GONE)
    return Response(
        error_body(status, message), status_code=status, media_type=MediaType.JSON, headers=headers
    )


def _handle(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    status, message, headers = error_of(exc)
    if unexpected(exc):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(status, message, headers)


#: Litestar's exception handlers: every exception answered through :func:`error_of`.
ERROR_HANDLERS: ExceptionHandlersMap = {
    exc: _handle
    for exc in (
        StatusError,
        ScoringExplainersError,
        NotReady,
        DeadlineExceeded,
        ClientGone,
        HTTPException,
        Exception,
    )
}


def _headers(length: int, extra: dict[str, str] | None = None) -> list[tuple[bytes, bytes]]:
    """The headers of a JSON answer, in the order Litestar sends them."""
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (extra or {}).items()]
    return [*headers, _JSON_HEADER, (b"content-length", str(length).encode())]


async def send_json(
    send: Send, status: int, body: bytes, headers: dict[str, str] | None = None
) -> None:
    """Answer a JSON body on plain ASGI, with the headers Litestar's ``Response`` sends."""
    start = _headers(len(body), headers)
    await send({"type": "http.response.start", "status": status, "headers": start})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def send_error(
    send: Send, status: int, message: str, headers: dict[str, str] | None = None
) -> None:
    """Answer an error on plain ASGI, as :func:`error_response` does through Litestar."""
    await send_json(send, status, error_body(status, message), headers)


# -- metrics -----------------------------------------------------------------------------------
def endpoint_label(scope: Scope) -> str:
    """The ``endpoint`` label of a request: its route's full template (router prefixes
    included, e.g. ``/explanations/{run_id}``), or ``unmatched`` for every path no
    route takes (404s and 405s from routing), so that clients cannot add label values."""
    if scope.get("route_handler") is None:
        return UNMATCHED
    return str(scope.get("path_template") or UNMATCHED)


@dataclass
class RequestMetrics:
    """ASGI wrapper counting each HTTP request under :func:`endpoint_label` (known once
    Litestar has routed it) with the status it was answered with (500 when none was sent:
    an error, or the client left) and its duration."""

    app: ASGIApp
    observe: Callable[[str, int, float], None]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        status = 500
        start = time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self.observe(endpoint_label(scope), status, time.perf_counter() - start)
