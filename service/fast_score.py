"""The fast ``POST /score`` path: an ASGI callable composed around the application.

Litestar spends more on a one-row request than the scoring does; :class:`FastScore` answers
``POST /score`` without Litestar's routing, request and response objects, through the same
policy (:mod:`service.policy`: API key, content type, body limits, error bodies, metrics) and
the same scoring (:func:`service._score.score_answer`) as :class:`service._score.ScoreController`,
so that both answer a request with the same status, headers and body. It takes every
``POST /score`` whose query string is empty or holds each of ``top_k=K`` (a plain number),
``uncertainty=true|false|1|0`` and ``tolerance=T`` (a plain decimal number, finite) at most
once, and whose Content-Length, when sent, is a plain number; anything else (``?top_k=x``,
``?uncertainty=yes``, other or repeated parameters, an odd length) goes on to the
application, whose handler answers it.

``create_app`` installs it as the Litestar application's ``asgi_handler`` (what
``Litestar.__call__`` calls for HTTP, below the lifespan and ``app.state``), wrapping the
handler Litestar built, so the app stays a ``Litestar`` for servers and tests.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPScope, Receive, Scope, Send

from ._score import score_answer
from .lifetime import ClientGone, RequestLifetime
from .policy import (
    CLIENT_GONE,
    UNAUTHORIZED,
    ApiKey,
    check_json,
    check_length,
    error_body,
    error_of,
    read_body,
    send_json,
    unexpected,
)
from .runtime import ScoringRuntime

__all__ = ["FastScore"]

log = logging.getLogger("service")

#: The query parameters the fast path takes, each as a plain value (anything else, e.g.
#: ``top_k=x`` or ``uncertainty=True``, is Litestar's to parse or refuse).
_PARAMETERS = {
    b"top_k": re.compile(rb"[1-9][0-9]{0,5}"),
    b"uncertainty": re.compile(rb"true|false|1|0"),
    b"tolerance": re.compile(rb"(0|[1-9][0-9]{0,19})(\.[0-9]{1,20})?([eE]-?[0-9]{1,3})?"),
}


@dataclass(frozen=True)
class _Query:
    """A ``/score`` query string the fast path takes."""

    top_k: int | None = None
    uncertainty: bool = False
    tolerance: float | None = None


def _query(query: bytes) -> _Query | None:
    """The parameters of a query string this path takes, or ``None`` (declined): each
    known parameter at most once, each value plain (see ``_PARAMETERS``)."""
    if not query:
        return _Query()
    values: dict[bytes, bytes] = {}
    for part in query.split(b"&"):
        name, equals, value = part.partition(b"=")
        pattern = _PARAMETERS.get(name)
        if not equals or pattern is None or name in values or not pattern.fullmatch(value):
            return None
        values[name] = value
    tolerance = None
    if b"tolerance" in values:
        tolerance = float(values[b"tolerance"])
        if not math.isfinite(tolerance):  # beyond float64: Litestar's 400
            return None
    return _Query(
        top_k=int(values[b"top_k"]) if b"top_k" in values else None,
        uncertainty=values.get(b"uncertainty") in (b"true", b"1"),
        tolerance=tolerance,
    )


class FastScore:
    """``POST /score`` answered directly; every other request goes to ``app``.

    Parameters
    ----------
    app : ASGI application
        What answers everything else (and the ``/score`` requests declined here).
    runtime : ScoringRuntime
    api_key : ApiKey
    max_body_bytes : int
        The body limit (``SCORING_MAX_BODY_BYTES``).
    request_timeout : float
        Seconds a request's work may run (0: no deadline).
    observe : callable
        Records a request's endpoint label, status and seconds (the metrics).
    """

    def __init__(
        self,
        app: ASGIApp,
        runtime: ScoringRuntime,
        *,
        api_key: ApiKey,
        max_body_bytes: int,
        request_timeout: float,
        observe: Callable[[str, int, float], None],
    ) -> None:
        self.app = app
        self.runtime = runtime
        self.api_key = api_key
        self.max_body_bytes = max_body_bytes
        self.request_timeout = request_timeout
        self.observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == ScopeType.HTTP
            and scope["path"] == "/score"
            and scope["method"] == "POST"
        ):
            query = self.query(scope)
            if query is not None:
                await self.score(scope, receive, send, query)
                return
        await self.app(scope, receive, send)

    def query(self, scope: HTTPScope) -> _Query | None:
        """The request's parameters if this path takes the request, else ``None``."""
        query = _query(scope["query_string"])
        if query is None:
            return None
        for name, value in scope["headers"]:
            if name == b"content-length":  # the first one, as Litestar reads it
                return query if value.isdigit() else None
        return query

    async def score(self, scope: HTTPScope, receive: Receive, send: Send, query: _Query) -> None:
        """Answer one request as the Litestar handler would, in the same order: the API
        key (401), the content type (415), the length announced and received (413), then
        the body's answer."""
        start = time.perf_counter()
        status = 500
        content_type = authorization = length = None
        for name, value in scope["headers"]:  # the first of each, as Litestar reads them
            if name == b"content-type":
                content_type = value if content_type is None else content_type
            elif name == b"content-length":
                length = value if length is None else length
            elif name == b"authorization":
                authorization = value if authorization is None else authorization
        try:
            if not self.api_key.authorized(authorization):
                status, message, challenge = UNAUTHORIZED
                await send_json(send, status, error_body(status, message), challenge)
                return
            lifetime = RequestLifetime(self.request_timeout)
            try:
                check_json(content_type)
                check_length(length, self.max_body_bytes)
                body = await read_body(receive, self.max_body_bytes)
                answer = await score_answer(
                    self.runtime,
                    body,
                    query.top_k,
                    lifetime,
                    receive,
                    uncertainty=query.uncertainty,
                    tolerance=query.tolerance,
                )
                headers: dict[str, str] | None = None
                status = 200
            except ClientGone:
                status = CLIENT_GONE
                return  # nobody to answer; the work stopped at its next chunk
            except Exception as exc:
                status, message, headers = error_of(exc)
                if unexpected(exc):
                    log.exception("unhandled error on POST /score")
                answer = error_body(status, message)
            await send_json(send, status, answer, headers)
        finally:
            self.observe("/score", status, time.perf_counter() - start)
