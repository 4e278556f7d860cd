"""Reliability: 32 clients at once, a soak, a hostile input corpus, a burst at SIGTERM."""

from __future__ import annotations

import json
import signal
import threading
import time

import httpx
import numpy as np
import pytest

from scoring_explainers.scoring import load
from tests.service.conftest import InFlight, start_server

HEADERS = {"content-type": "application/json"}


def _rss_kib(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.fixture(scope="module")
def linear_server(artifacts, tmp_path_factory):
    server = start_server(artifacts["ridge"], tmp_path_factory.mktemp("linear"))
    yield server
    server.stop()


def test_32_clients_match_serial_results(server, artifacts, seed_data):
    _, x_test, *_ = seed_data
    rows = x_test[:32]
    explainer = load(artifacts["svc"])
    expected = [explainer.score(rows[i : i + 1]).local_importance_values for i in range(32)]
    failures: list[str] = []
    counts = [0] * 32
    stop_at = time.monotonic() + 4.0  # bounded in time

    def client(i: int) -> None:
        body = json.dumps({"data": [rows[i].tolist()]})
        with httpx.Client(base_url=server.url, timeout=30, headers=HEADERS) as c:
            while counts[i] == 0 or time.monotonic() < stop_at:  # one at least
                try:
                    response = c.post("/score", content=body)
                except httpx.TransportError as exc:
                    failures.append(f"client {i}: {exc!r}")
                    return
                if response.status_code != 200:
                    failures.append(f"client {i}: HTTP {response.status_code}")
                    return
                got = np.array(response.json()["local_importance_values"])
                if not np.array_equal(got, expected[i]):
                    failures.append(f"client {i}: values differ from the serial result")
                    return
                counts[i] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert failures == []
    assert min(counts) >= 1


def test_soak_memory_does_not_grow(linear_server, small_regression):
    X, _ = small_regression
    bodies = [json.dumps({"data": X[i : i + 1 + i % 8].tolist()}) for i in range(50)]
    pid = linear_server.process.pid
    with httpx.Client(base_url=linear_server.url, timeout=30, headers=HEADERS) as c:
        for i in range(500):  # warm-up: allocator pools, caches, metrics series
            assert c.post("/score", content=bodies[i % 50]).status_code == 200
        before = _rss_kib(pid)
        for i in range(4000):
            c.post("/score", content=bodies[i % 50], params={"top_k": 1 + i % 3})
            if i % 500 == 0:
                c.post("/score", content=b"{broken")
        after = _rss_kib(pid)
    assert after < before * 1.05, f"RSS {before} KiB -> {after} KiB"


CORPUS = {
    "truncated": (b'{"data": [[1.0, 2.0', 400),
    "deeply nested": (b"[" * 100_000 + b"]" * 100_000, 400),
    "nested objects": (b'{"a":' * 5_000 + b"1" + b"}" * 5_000, 400),
    "huge number": (b'{"data": [[1e999999]]}', 400),
    "huge integer": (b'{"data": [[' + b"9" * 5_000 + b"]]}", 400),
    "NaN literal": (b'{"data": [[NaN]]}', 400),
    "Infinity literal": (b'{"data": [[-Infinity]]}', 400),
    "strings for numbers": (json.dumps({"data": [["x"] * 6]}).encode(), 422),
    "booleans for numbers": (json.dumps([{f"feature_{i}": True for i in range(6)}]).encode(), 422),
    "nested rows": (json.dumps({"data": [[[1.0] * 6]]}).encode(), 422),
    "ragged rows": (json.dumps({"data": [[1.0] * 6, [1.0] * 5]}).encode(), 422),
    "unicode feature names": (json.dumps([{"f\u00e9ature_\u2603": 1.0}]).encode(), 422),
    "duplicate keys": (b'{"data": [[1,2,3,4,5,6]], "data": [[6,5,4,3,2,1]]}', 400),
    "duplicate record keys": (
        b'[{"feature_0": 1, "feature_0": 2, "feature_1": 1, "feature_2": 1, "feature_3": 1,'
        b' "feature_4": 1, "feature_5": 1}]',
        400,
    ),
    "10^6 rows": (b'{"data": [' + b",".join([b"[1,2,3,4,5,6]"] * 1_000_000) + b"]}", 413),
    "not UTF-8": (b'{"data": [[\xff\xfe]]}', 400),
    "null body": (b"null", 422),
}


@pytest.mark.parametrize("name", list(CORPUS))
def test_hostile_input_is_a_4xx(linear_server, name):
    content, status = CORPUS[name]
    with httpx.Client(base_url=linear_server.url, timeout=30) as c:
        response = c.post("/score", content=content, headers=HEADERS)
        assert response.status_code == status, (name, response.text[:300])
        assert "error" in response.json()
        assert c.get("/healthz").status_code == 200


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""],
)
def test_wrong_content_types(linear_server, content_type):
    headers = {"content-type": content_type} if content_type else {}
    response = httpx.post(
        linear_server.url + "/score", content=b'{"data": [[1,2,3,4,5,6]]}', headers=headers
    )
    assert response.status_code == 415
    assert "application/json" in response.json()["error"]


def test_body_over_the_size_limit(server):
    body = b'{"data": [' + b",".join([b"[" + b"1," * 29 + b"1]"] * 5000) + b"]}"
    assert len(body) > 200_000
    response = httpx.post(server.url + "/score", content=body, headers=HEADERS)
    assert response.status_code == 413
    assert httpx.get(server.url + "/healthz").status_code == 200


def test_sigterm_during_a_burst_finishes_every_request(artifacts, tmp_path, seed_data):
    _, x_test, *_ = seed_data
    server = start_server(artifacts["svc"], tmp_path)
    body = json.dumps({"data": x_test[:40].tolist()}).encode()
    requests = [InFlight(server.url, "/score", body, HEADERS) for _ in range(12)]
    server.process.send_signal(signal.SIGTERM)
    results = [request.response()[0] for request in requests]
    server.process.wait(60)
    assert results == [200] * 12
