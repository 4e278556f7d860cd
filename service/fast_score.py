"""The fast ``POST /score`` path: an ASGI callable composed around the application.

Litestar spends more on a one-row request than the scoring does; :class:`FastScore` answers
``POST /score`` without Litestar's routing, request and response objects, through the same
policy (:mod:`service.policy`: API key, content type, body limits, error bodies, metrics) and
the same scoring (:func:`service._score.score_answer`) as :class:`service._score.ScoreController`,
so that both answer a request with the same status, headers and body. It takes every
``POST /score`` whose query string is empty or ``top_k=K`` (a plain number) and whose
Content-Length, when sent, is a plain number; anything else (``?top_k=x``, other
parameters, an odd length) goes on to the application, whose handler answers it.

``create_app`` installs it as the Litestar application's ``asgi_handler`` (what
``Litestar.__call__`` calls for HTTP, below the lifespan and ``app.state``), wrapping the
handler Litestar built, so the app stays a ``Litestar`` for servers and tests.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

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

#: The query strings the fast path takes: none, or ``top_k`` as a plain number.
_QUERY = re.compile(rb"top_k=([1-9][0-9]{0,5})")
_DECLINED = -1


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
            top_k = self.top_k(scope)
            if top_k != _DECLINED:
                await self.score(scope, receive, send, top_k)
                return
        await self.app(scope, receive, send)

    def top_k(self, scope: HTTPScope) -> int | None:
        """The request's ``top_k`` if this path takes the request, else ``_DECLINED``."""
        top_k = None
        query = scope["query_string"]
        if query:
            match = _QUERY.fullmatch(query)
            if match is None:
                return _DECLINED
            top_k = int(match[1])
        for name, value in scope["headers"]:
            if name == b"content-length":  # the first one, as Litestar reads it
                return top_k if value.isdigit() else _DECLINED
        return top_k

    async def score(
        self, scope: HTTPScope, receive: Receive, send: Send, top_k: int | None
    ) -> None:
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
                answer = await score_answer(self.runtime, body, top_k, lifetime, receive)
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
