"""A request's work ends with its client or its deadline, and never blocks the event loop;
against a real ``python -m service`` with Kernel artifacts, the server's CPU time read from
``/proc``."""

from __future__ import annotations

import json
import os
import socket
import time

import httpx
import numpy as np
import pytest

from tests.service.conftest import start_server

TICK = os.sysconf("SC_CLK_TCK")
ROWS = 1000
DEADLINE_503 = (
    "the request's deadline of 1 s passed before its explanation finished; it was stopped "
    "(send fewer rows per request)"
)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (every thread)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def _connect(server) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)))


def raw_request(path: str, body: dict) -> bytes:
    payload = json.dumps(body).encode()
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Connection: close\r\nContent-Length: {len(payload)}\r\n\r\n"
    ).encode() + payload


def bodies(rows: np.ndarray) -> dict[str, tuple[str, dict]]:
    """The same rows for the fast /score path, the Litestar handler and V2 infer."""
    data = {"data": rows.tolist()}
    v2 = {
        "inputs": [
            {"name": "x", "shape": list(rows.shape), "datatype": "FP64", "data": rows.tolist()}
        ]
    }
    return {
        "score": ("/score", data),
        "score-litestar": ("/score?unused=1", data),  # another query string: not the fast path
        "v2": ("/v2/models/svc/infer", v2),
    }


@pytest.fixture(scope="module")
def many_rows(seed_data):
    x_train = seed_data[0]
    return np.tile(x_train, (3, 1))[:ROWS]


@pytest.fixture(scope="module")
def kernel_server(artifacts, tmp_path_factory):
    srv = start_server(
        artifacts["svc"],
        tmp_path_factory.mktemp("kernel"),
        env={"SCORING_MAX_ROWS": str(ROWS), "SCORING_MAX_BODY_BYTES": str(2**24)},
    )
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def full_cost(kernel_server, many_rows):
    """CPU seconds the server spends on all ROWS rows, from the cost of 100 of them."""
    pid = kernel_server.process.pid
    before = cpu_seconds(pid)
    response = httpx.post(
        kernel_server.url + "/score", json={"data": many_rows[:100].tolist()}, timeout=120
    )
    assert response.status_code == 200
    return (cpu_seconds(pid) - before) * ROWS / 100


@pytest.mark.parametrize("path", ["score", "score-litestar", "v2"])
def test_a_client_that_leaves_stops_its_explanation(kernel_server, many_rows, full_cost, path):
    pid = kernel_server.process.pid
    url, body = bodies(many_rows)[path]
    start = cpu_seconds(pid)
    with _connect(kernel_server) as sock:
        sock.sendall(raw_request(url, body))
        deadline = time.monotonic() + 30
        while cpu_seconds(pid) - start < 0.3 and time.monotonic() < deadline:
            time.sleep(0.05)  # the explanation is under way
    spent_before_leaving = cpu_seconds(pid) - start
    time.sleep(0.5)  # the current chunk ends
    window_start = cpu_seconds(pid)
    time.sleep(3.0)
    after = cpu_seconds(pid) - window_start
    assert spent_before_leaving >= 0.3
    # Still running, the explanation would use a CPU (or a share of one on a busy
    # machine) for most of the 3 s window: ~full_cost - 0.3 s of work remain.
    assert after < 0.05 * full_cost, (after, full_cost)
    health = httpx.get(kernel_server.url + "/healthz", timeout=10)
    assert health.status_code == 200
    small = httpx.post(
        kernel_server.url + "/score", json={"data": many_rows[:2].tolist()}, timeout=30
    )
    assert small.status_code == 200


@pytest.fixture(scope="module")
def deadline_server(artifacts, tmp_path_factory):
    srv = start_server(
        artifacts["svc"],
        tmp_path_factory.mktemp("deadline"),
        env={
            "SCORING_MAX_ROWS": str(ROWS),
            "SCORING_MAX_BODY_BYTES": str(2**24),
            "SCORING_REQUEST_TIMEOUT_SECONDS": "1",
        },
    )
    yield srv
    srv.stop()


@pytest.mark.parametrize("path", ["score", "score-litestar", "v2"])
def test_the_deadline_stops_a_slow_request_with_a_503(deadline_server, many_rows, path):
    pid = deadline_server.process.pid
    url, body = bodies(many_rows)[path]
    start = time.monotonic()
    response = httpx.post(
        deadline_server.url + url,
        content=json.dumps(body),
        headers={"content-type": "application/json"},
        timeout=120,
    )
    seconds = time.monotonic() - start
    window_start = cpu_seconds(pid)
    time.sleep(2.0)
    after = cpu_seconds(pid) - window_start
    assert response.status_code == 503
    assert response.json() == {"error": DEADLINE_503, "status": 503}
    assert seconds < 30  # the whole explanation is several CPU seconds
    assert after < 0.2, after  # and it stopped
    small = httpx.post(
        deadline_server.url + url,
        content=json.dumps(bodies(many_rows[:2])[path][1]),
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert small.status_code == 200
    assert httpx.get(deadline_server.url + "/healthz", timeout=10).status_code == 200
