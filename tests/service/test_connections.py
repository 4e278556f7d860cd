"""Hostile connections against a real ``python -m service``: idle and half-sent requests,
slowloris, a connection cap that keeps the probes answerable."""

from __future__ import annotations

import json
import os
import resource
import socket
import threading
import time

import httpx
import numpy as np
import pytest

from tests.service.conftest import start_server


def serve(artifact, tmp, env: dict[str, str] | None = None):
    """``python -m service`` with its store in ``tmp``: nothing is written into the checkout."""
    return start_server(
        artifact, tmp, env={"SCORING_STORE_PATH": str(tmp / "store.sqlite3"), **(env or {})}
    )


HEADERS_408 = "the request's headers did not arrive within 1 s; the connection is closed"
BODY_408 = (
    "the request's body did not arrive in time (no data for 1 s, or not all of it within "
    "3 s); the connection is closed"
)


def read_until_closed(sock: socket.socket, timeout: float = 30.0) -> tuple[bytes, float]:
    """Everything the server sends until it closes, and the seconds that took."""
    sock.settimeout(timeout)
    start = time.monotonic()
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data, time.monotonic() - start


def read_response(sock: socket.socket) -> bytes:
    """One response with a Content-Length, from a connection kept open."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(
        next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:"))[15:]
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def status_and_body(response: bytes) -> tuple[int, dict]:
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)


def open_sockets(pid: int) -> int:
    fds = f"/proc/{pid}/fd"
    return sum(1 for fd in os.listdir(fds) if os.readlink(f"{fds}/{fd}").startswith("socket:"))


@pytest.fixture(scope="module")
def timeouts_server(artifacts, tmp_path_factory):
    srv = serve(
        artifacts["ridge"],
        tmp_path_factory.mktemp("timeouts"),
        env={
            "SCORING_HEADER_TIMEOUT_SECONDS": "1",
            "SCORING_BODY_TIMEOUT_SECONDS": "1",
            "SCORING_REQUEST_TIMEOUT_SECONDS": "3",
            "SCORING_MAX_ROWS": "50000",
            "SCORING_MAX_BODY_BYTES": str(2**25),
        },
    )
    yield srv
    srv.stop()


def _connect(server) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)))


def test_a_connection_that_sends_nothing_is_closed(timeouts_server):
    with _connect(timeouts_server) as sock:
        data, seconds = read_until_closed(sock)
    assert data == b""
    assert 0.9 <= seconds < 10


def test_half_sent_headers_are_a_408_and_the_connection_closes(timeouts_server):
    with _connect(timeouts_server) as sock:
        sock.sendall(b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: applic")
        data, seconds = read_until_closed(sock)
    assert data.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert status_and_body(data) == (408, {"error": HEADERS_408, "status": 408})
    assert 0.9 <= seconds < 10


def drip(sock: socket.socket, every: float, limit: float = 10.0) -> tuple[bytes, float]:
    """Send one byte every ``every`` seconds until the server answers or closes; what it
    sent and the seconds from the first byte."""
    sock.settimeout(every)
    start = time.monotonic()
    data = b""
    while time.monotonic() - start < limit:
        try:
            data = sock.recv(65536)
            break
        except TimeoutError:
            try:
                sock.sendall(b" ")
            except OSError:
                break
        except OSError:
            break
    rest, _ = read_until_closed(sock)
    return data + rest, time.monotonic() - start


def test_headers_sent_a_byte_at_a_time_are_timed_from_the_first(timeouts_server):
    """Slowloris: a byte every 0.2 s is never 1 s without data, but the headers are late."""
    with _connect(timeouts_server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: a")
        data, seconds = drip(sock, 0.2)
    assert status_and_body(data) == (408, {"error": HEADERS_408, "status": 408})
    assert 0.9 <= seconds < 10


def test_a_short_body_is_a_408_and_the_connection_closes(timeouts_server):
    with _connect(timeouts_server) as sock:
        sock.sendall(
            b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"data": [['
        )
        data, seconds = read_until_closed(sock)
    assert status_and_body(data) == (408, {"error": BODY_408, "status": 408})
    assert 0.9 <= seconds < 10


def test_a_body_dripped_slower_than_the_request_timeout_is_a_408(timeouts_server):
    """One byte every 0.3 s stays under the 1 s between chunks, but not under 3 s in all."""
    with _connect(timeouts_server) as sock:
        sock.sendall(
            b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n "
        )
        data, seconds = drip(sock, 0.3)
    assert status_and_body(data) == (408, {"error": BODY_408, "status": 408})
    assert 2.5 <= seconds < 10


def test_keep_alive_connections_are_reused_after_idling_past_the_header_timeout(
    timeouts_server,
):
    """The header timeout counts from a request's first byte, not from the last answer."""
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    with _connect(timeouts_server) as sock:
        sock.settimeout(10)
        for _ in range(3):
            sock.sendall(request)
            response = read_response(sock)
            assert response.startswith(b"HTTP/1.1 200 OK\r\n")
            assert response.endswith(b'{"status":"alive"}')
            time.sleep(1.5)  # idle longer than the header timeout, shorter than keep-alive


def test_a_client_that_takes_nothing_of_its_answer_is_cut_off(timeouts_server, small_regression):
    """A megabytes answer to a client that reads none of it: cut off after the body
    timeout (1 s) instead of holding the connection and the answer for ever."""
    rows = np.tile(small_regression[0], (170, 1))[:50_000]
    body = json.dumps({"data": rows.tolist()}).encode()
    pid = timeouts_server.process.pid
    before = open_sockets(pid)
    host, port = timeouts_server.url.removeprefix("http://").split(":")
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect((host, int(port)))
        sock.sendall(
            b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body) + body
        )
        deadline = time.monotonic() + 30
        while open_sockets(pid) > before and time.monotonic() < deadline:
            time.sleep(0.2)
        dropped = open_sockets(pid) <= before
        data, _ = read_until_closed(sock)
    head, _, answer = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    length = int(next(h for h in head.split(b"\r\n") if h.startswith(b"content-length:"))[15:])
    assert dropped
    assert length > 5_000_000
    assert len(answer) < length
    assert httpx.get(timeouts_server.url + "/healthz", timeout=5).status_code == 200


@pytest.fixture(scope="module")
def capped_server(artifacts, tmp_path_factory):
    """At most 20 connections, and 128 open files: below what 200 slowloris connections
    need, so without the cap ``accept`` fails and no probe gets through."""
    srv = serve(
        artifacts["ridge"],
        tmp_path_factory.mktemp("capped"),
        env={"SCORING_MAX_CONNECTIONS": "20"},
    )
    resource.prlimit(srv.process.pid, resource.RLIMIT_NOFILE, (128, 128))
    yield srv
    srv.stop()


class Slowloris:
    """n connections that send a request line, then one header byte per second each."""

    def __init__(self, server, n: int) -> None:
        self.sockets = []
        for _ in range(n):
            sock = _connect(server)
            sock.setblocking(False)
            self.sockets.append(sock)
        self.closed_by_server = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)
        self._thread.start()

    def _run(self) -> None:
        alive = set(self.sockets)
        payload = b"GET /score HTTP/1.1\r\nHost: x\r\nX-Slow: "
        while True:
            for sock in list(alive):
                try:
                    sock.send(payload)
                except OSError:
                    alive.discard(sock)
                    self.closed_by_server += 1
            payload = b"a"
            if self._stop.wait(1.0):
                return

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        for sock in self.sockets:
            sock.close()


def probe(url: str) -> tuple[int, float]:
    start = time.monotonic()
    response = httpx.get(url + "/healthz", timeout=5)
    return response.status_code, time.monotonic() - start


def test_slowloris_does_not_starve_healthz(capped_server):
    loris = Slowloris(capped_server, 200)
    try:
        time.sleep(1.5)
        results = []
        for _ in range(20):
            results.append(probe(capped_server.url))
            time.sleep(0.1)
        held = open_sockets(capped_server.process.pid)
    finally:
        loris.close()
    assert [status for status, _ in results] == [200] * 20
    assert max(seconds for _, seconds in results) < 2.0, results
    assert held <= 20 + 2  # the cap, the listening socket, a probe
    assert loris.closed_by_server >= 180  # the oldest waiting ones made room for the new


def test_at_the_cap_probes_are_answered_and_other_requests_get_a_503(capped_server):
    """20 connections each in the middle of a body (a request in progress, nothing to
    close): a new request is a 503 at once, a new probe is answered."""
    time.sleep(0.5)  # connections of earlier tests are gone
    busy = []
    stop = threading.Event()

    def drip() -> None:
        while not stop.wait(0.3):
            for sock in busy:
                try:
                    sock.send(b" ")
                except OSError:
                    pass

    for _ in range(20):
        sock = _connect(capped_server)
        sock.sendall(
            b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100000\r\n\r\n"
        )
        busy.append(sock)
    dripper = threading.Thread(target=drip)
    dripper.start()
    try:
        time.sleep(0.5)
        health = httpx.get(capped_server.url + "/healthz", timeout=5)
        ready = httpx.get(capped_server.url + "/readyz", timeout=5)
        refused = httpx.post(capped_server.url + "/score", json={"data": [[0.0] * 6]}, timeout=5)
    finally:
        stop.set()
        dripper.join()
        for sock in busy:
            sock.close()
    assert (health.status_code, health.json()) == (200, {"status": "alive"})
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
    assert refused.status_code == 503
    assert refused.json() == {
        "error": "too many open connections; try again shortly",
        "status": 503,
    }
    assert refused.headers["connection"] == "close"
    time.sleep(0.5)
    ok = httpx.post(capped_server.url + "/score", json={"data": [[0.0] * 6]}, timeout=5)
    assert ok.status_code == 200
