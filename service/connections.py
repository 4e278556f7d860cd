"""HTTP connections under hostile clients: read timeouts and a cap on open connections.

uvicorn's httptools protocol times out only idle keep-alive connections: a client that
opens a connection and sends nothing, sends its headers a byte at a time (slowloris),
stops in the middle of a body or never reads its answer holds the connection for ever,
and uvicorn's ``limit_concurrency`` counts those connections too, so once they fill it
``/healthz`` is answered 503. :class:`GuardedHttpToolsProtocol` (what ``python -m service``
runs) adds, per connection:

- a header timeout: a request's headers must arrive within ``header_timeout_seconds`` of
  its first byte (of the connection opening, for a new connection);
- a body timeout: at most ``body_timeout_seconds`` between two chunks of a body, and the
  whole body within ``request_timeout_seconds`` of its headers (when that is not 0);
- a write timeout: a client that takes no part of its answer for ``body_timeout_seconds``
  (the answer is held back) is cut off;
- a cap, ``max_connections``: a new connection beyond it closes the connection that has
  waited longest without a request in progress (idle keep-alive, or headers still
  incomplete). When every open connection has a request in progress, requests beyond the
  cap are answered 503 at once, except the probes: the kubelet's probe comes on a new
  connection and is always answered.

A request that times out before any answer was sent is answered 408 with the usual
``{"error", "status"}`` body; then the connection is closed. A connection that sent
nothing, or whose answer has started, is closed silently.

Deadlines are checked by one timer per server process that sweeps the open connections
every quarter of the shorter timeout and at least every second, so a connection is closed
at most that much after its deadline; per request the protocol only records the time.
"""

from __future__ import annotations

import asyncio
import json
import math
import weakref
from dataclasses import dataclass
from typing import Any

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from .settings import Settings

__all__ = ["PROBE_PATHS", "ConnectionLimits", "GuardedHttpToolsProtocol"]

#: Paths answered even when every connection has a request in progress.
PROBE_PATHS = frozenset({b"/healthz", b"/readyz", b"/v2/health/live", b"/v2/health/ready"})

# What a connection's parser waits for.
_IDLE, _HEADERS, _BODY = 0, 1, 2


@dataclass(frozen=True)
class ConnectionLimits:
    """The limits of :class:`GuardedHttpToolsProtocol`, in seconds and connections."""

    header_timeout: float
    body_timeout: float
    request_timeout: float
    """0: no limit on a body's total time (only between chunks)."""
    max_connections: int

    @classmethod
    def from_settings(cls, settings: Settings) -> ConnectionLimits:
        return cls(
            header_timeout=float(settings.header_timeout_seconds),
            body_timeout=float(settings.body_timeout_seconds),
            request_timeout=float(settings.request_timeout_seconds),
            max_connections=int(settings.max_connections),
        )

    @property
    def sweep_interval(self) -> float:
        """Seconds between two checks of the deadlines."""
        return min(1.0, max(0.05, min(self.header_timeout, self.body_timeout) / 4))


_limits: ConnectionLimits | None = None


def process_limits() -> ConnectionLimits:
    """The limits of this process, read once from ``SCORING_*`` (``python -m service``
    hands its settings to worker processes through the environment)."""
    global _limits
    if _limits is None:
        _limits = ConnectionLimits.from_settings(Settings.from_env())
    return _limits


def _error_response(status: int, reason: bytes, message: str) -> bytes:
    """A complete HTTP/1.1 response that closes the connection, with a JSON error body."""
    body = json.dumps({"error": message, "status": status}).encode()
    return b"".join(
        [
            b"HTTP/1.1 %d %s\r\n" % (status, reason),
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
            body,
        ]
    )


async def _too_many_connections(scope: Any, receive: Any, send: Any) -> None:
    """The ASGI answer to a request beyond the connection cap: 503, connection closed."""
    body = json.dumps(
        {
            "error": "too many open connections; try again shortly",
            "status": 503,
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", b"1"),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


class _Server:
    """What the protocol keeps per server: the connections without a request in progress,
    oldest first (the ones to close when over the cap), those being closed, and the
    sweep of the deadlines."""

    def __init__(
        self, connections: set[Any], limits: ConnectionLimits, loop: asyncio.AbstractEventLoop
    ) -> None:
        self.connections = connections
        self.limits = limits
        self.loop = loop
        self.waiting: dict[GuardedHttpToolsProtocol, None] = {}
        self.closing: set[GuardedHttpToolsProtocol] = set()
        loop.call_later(limits.sweep_interval, self.sweep)

    def open(self) -> int:
        """Open connections, not counting those already being closed."""
        return len(self.connections) - len(self.closing)

    def make_room(self, newcomer: GuardedHttpToolsProtocol) -> None:
        """Close the connection that has waited longest without a request in progress."""
        for connection in self.waiting:
            if connection is not newcomer:
                connection.close_connection()
                return

    def sweep(self) -> None:
        now = self.loop.time()
        for connection in list(self.connections):
            if isinstance(connection, GuardedHttpToolsProtocol):
                connection.check_deadlines(now)
        self.loop.call_later(self.limits.sweep_interval, self.sweep)


_servers: weakref.WeakKeyDictionary[ServerState, _Server] = weakref.WeakKeyDictionary()


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with read and write timeouts and a connection cap
    (see the module's docstring); the limits come from :func:`process_limits`."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = process_limits()
        server = _servers.get(server_state)
        if server is None:
            server = _servers[server_state] = _Server(
                server_state.connections, self.limits, self.loop
            )
        self._server = server
        self._reading = _IDLE
        self.read_deadline = math.inf
        self.write_deadline = math.inf
        self._body_until = math.inf

    # -- connection --------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.read_deadline = self.loop.time() + self.limits.header_timeout
        server = self._server
        server.waiting[self] = None
        if server.open() > self.limits.max_connections:
            server.make_room(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._server.waiting.pop(self, None)
        self._server.closing.discard(self)
        super().connection_lost(exc)

    def close_connection(self, *, abort: bool = False) -> None:
        """Close; ``abort`` (or anything not yet taken by the client) drops what is unsent:
        flushing to a client that reads nothing would never end. A request in progress
        reads ``http.disconnect`` and what it sends is dropped."""
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True
            cycle.message_event.set()
        self._server.waiting.pop(self, None)
        self._server.closing.add(self)
        if abort or self.transport.get_write_buffer_size():
            self.transport.abort()
        else:
            self.transport.close()

    def pause_writing(self) -> None:
        super().pause_writing()
        self.write_deadline = self.loop.time() + self.limits.body_timeout

    def resume_writing(self) -> None:
        super().resume_writing()
        self.write_deadline = math.inf

    # -- parser callbacks ----------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading = _HEADERS
        if self.read_deadline == math.inf:
            self.read_deadline = self.loop.time() + self.limits.header_timeout

    def on_headers_complete(self) -> None:
        now = self.loop.time()
        self._reading = _BODY
        self._server.waiting.pop(self, None)
        timeout = self.limits.request_timeout
        self._body_until = now + timeout if timeout else math.inf
        self.read_deadline = min(now + self.limits.body_timeout, self._body_until)
        if (
            self._server.open() > self.limits.max_connections
            and httptools.parse_url(self.url).path not in PROBE_PATHS
        ):
            app, self.app = self.app, _too_many_connections
            try:
                super().on_headers_complete()
            finally:
                self.app = app
        else:
            super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        self.read_deadline = min(self.loop.time() + self.limits.body_timeout, self._body_until)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._reading = _IDLE
        cycle = self.cycle
        if cycle is not None and cycle.response_complete:
            # the rest of a body whose request was answered before it was read (a 413):
            # uvicorn's keep-alive timer is off, so the idle connection is timed here
            self.read_deadline = self.loop.time() + self.limits.header_timeout
        else:
            self.read_deadline = math.inf

    def on_response_complete(self) -> None:
        pipelined = bool(self.pipeline)
        super().on_response_complete()
        if self.transport.is_closing():
            return
        if pipelined:  # a pipelined request starts: its body may follow now
            if self._reading == _BODY:
                now = self.loop.time()
                timeout = self.limits.request_timeout
                self._body_until = now + timeout if timeout else math.inf
                self.read_deadline = min(now + self.limits.body_timeout, self._body_until)
        else:
            # Idle, reading the next request's headers, or reading (and dropping, as
            # uvicorn does) the rest of a body answered before it was read (a 413): the
            # newest connection without a request in progress.
            self._server.waiting.pop(self, None)
            self._server.waiting[self] = None

    # -- deadlines -------------------------------------------------------------------------
    def check_deadlines(self, now: float) -> None:
        """Called by the sweep: time out what the client owes for too long."""
        if self.transport.is_closing():
            return
        if self.write_deadline <= now:
            self.close_connection(abort=True)  # it takes nothing: flushing would never end
            return
        if self.read_deadline > now:
            return
        if self.flow.read_paused:  # paused by the server (a pipelined request waits)
            timeout = self.limits.body_timeout if self._reading == _BODY else 0.0
            self.read_deadline = max(self.read_deadline, now + timeout)
            return
        cycle = self.cycle
        in_request = cycle is not None and not cycle.response_complete
        message = None
        if self._reading == _HEADERS and not in_request:
            message = (
                f"the request's headers did not arrive within "
                f"{self.limits.header_timeout:g} s; the connection is closed"
            )
        elif self._reading == _BODY and in_request and not cycle.response_started:
            total = self.limits.request_timeout
            message = (
                f"the request's body did not arrive in time (no data for "
                f"{self.limits.body_timeout:g} s"
                + (f", or not all of it within {total:g} s" if total else "")
                + "); the connection is closed"
            )
        if message is not None:
            self.transport.write(_error_response(408, b"Request Timeout", message))
        self.close_connection()
