"""Real servers on 127.0.0.1 (``python -m service``), on real artifacts."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import h11
import httpx
import pytest


def listening_socket() -> socket.socket:
    """A TCP socket bound to a free port on 127.0.0.1 and listening: hand it to the server
    (``--fd``) instead of a port number, so no other process can take the port in between."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


@contextmanager
def refused_address() -> Iterator[str]:
    """``http://127.0.0.1:PORT`` where a connection is refused for as long as the block runs
    (the port is bound, never listened on)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def free_port() -> int:
    """Racy: the port is free only until another process binds it. Prefer
    :func:`listening_socket` (servers) or :func:`refused_address` (nothing listening)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    stderr: Path

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                return self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                return self.process.wait()
        return int(self.process.returncode)

    def wait_until(self, path: str = "/readyz", status: int = 200, timeout: float = 60) -> None:
        """Poll ``GET path`` until it answers ``status``; raise with the server's log if the
        process exits or the deadline passes. The socket listens from before the process
        starts, so a request made during start-up waits for the server instead of failing."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"{path} never answered {status}: {self.log()}")
            try:
                if httpx.get(self.url + path, timeout=left).status_code == status:
                    return
            except httpx.TransportError:
                pass
            try:  # wait for the process to exit, a little, between polls
                self.process.wait(min(0.05, max(left, 0)))
            except subprocess.TimeoutExpired:
                continue
            raise RuntimeError(f"server exited ({self.process.returncode}): {self.log()}")

    def log(self) -> str:
        return self.stderr.read_text()[-2000:]


def start_server(
    artifact: Path,
    tmp: Path,
    *,
    extra_args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    python_flags: tuple[str, ...] = (),
    ready_path: str = "/readyz",
) -> Server:
    """``python -m service`` on a socket bound here and passed as ``--fd``; returns once
    ``ready_path`` answers 200 (``/healthz`` for a server that is up but not ready)."""
    sock = listening_socket()
    port = sock.getsockname()[1]
    stderr = tmp / f"server-{port}.log"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SCORING_")}
    full_env.update(env or {})
    process = subprocess.Popen(
        [
            sys.executable,
            *python_flags,
            "-m",
            "service",
            "--artifact",
            str(artifact),
            "--fd",
            str(sock.fileno()),
            *extra_args,
        ],
        pass_fds=(sock.fileno(),),
        stdout=subprocess.DEVNULL,
        stderr=stderr.open("wb"),
        env=full_env,
        cwd=tmp,  # the store's default file (data/explanations.sqlite3) lands in tmp
    )
    sock.close()
    # our copy is closed: once the server exits, connections are refused, not left waiting
    server = Server(f"http://127.0.0.1:{port}", process, stderr)
    try:
        server.wait_until(ready_path)
    except BaseException:
        server.stop(signal.SIGKILL)
        raise
    return server


class InFlight:
    """A ``POST`` the server is certainly handling: sent with ``Expect: 100-continue``, whose
    ``100 Continue`` the server writes only once the application asks for the body; the body
    follows at once. Signal the server after the constructor returns, then read
    :meth:`response`."""

    def __init__(self, url: str, path: str, body: bytes, headers: dict[str, str]) -> None:
        host, port = httpx.URL(url).host, httpx.URL(url).port
        self._conn = h11.Connection(h11.CLIENT)
        self._sock = socket.create_connection((host, port), timeout=60)
        request = h11.Request(
            method="POST",
            target=path,
            headers=[
                ("host", f"{host}:{port}"),
                ("content-length", str(len(body))),
                ("expect", "100-continue"),
                *headers.items(),
            ],
        )
        self._sock.sendall(self._conn.send(request))
        event = self._next_event()
        assert isinstance(event, h11.InformationalResponse) and event.status_code == 100, event
        self._sock.sendall(self._conn.send(h11.Data(data=body)))
        self._sock.sendall(self._conn.send(h11.EndOfMessage()))

    def _next_event(self) -> object:
        while True:
            event = self._conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            self._conn.receive_data(self._sock.recv(65536))

    def response(self) -> tuple[int, bytes]:
        """The final status and body (the connection is closed afterwards)."""
        with self._sock:
            event = self._next_event()
            assert isinstance(event, h11.Response), event
            body = b""
            while not isinstance(chunk := self._next_event(), h11.EndOfMessage):
                assert isinstance(chunk, h11.Data), chunk
                body += chunk.data
            return event.status_code, body


@pytest.fixture(scope="session")
def server(artifacts, tmp_path_factory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("server")
    srv = start_server(
        artifacts["svc"],
        tmp,
        python_flags=("-X", "importtime"),
        env={"SCORING_MAX_ROWS": "200", "SCORING_MAX_BODY_BYTES": "200000"},
    )
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def client(server) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server.url, timeout=30, headers={"content-type": "application/json"}
    ) as c:
        yield c
