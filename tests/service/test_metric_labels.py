"""``/metrics`` labels on a real server: route templates with their router prefixes, one
``unmatched`` label for every unknown path, and no label value a client can add."""

from __future__ import annotations

import random
import string
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.service.conftest import Server, start_server

KEY = "labels-key"
AUTH = {"authorization": f"Bearer {KEY}"}
JSON = {**AUTH, "content-type": "application/json"}
#: Every endpoint label the requests below may produce.
ENDPOINTS = {
    "/score",
    "/readyz",
    "/metrics",
    "/explanations",
    "/explanations/{run_id}",
    "/explanations/{run_id}/latest",
    "/explanations/{run_id}/{explanation_id}",
    "/dashboard",
    "/dashboard/static/{name}",
    "/v2/models/{name}",
    "/v2/models/{name}/ready",
    "unmatched",
}
STATUSES = {"200", "201", "204", "302", "400", "401", "404", "405", "415", "422"}


@pytest.fixture(scope="module")
def server(artifacts, tmp_path_factory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("labels")
    server = start_server(
        artifacts["ridge"],
        tmp,
        env={"SCORING_API_KEY": KEY, "SCORING_STORE_PATH": str(tmp / "explanations.sqlite3")},
    )
    yield server
    server.stop()


def _series(server: Server) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the request metrics: (name, labels) -> value."""
    text = httpx.get(server.url + "/metrics").text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        if family.name in ("scoring_requests", "scoring_request_duration_seconds")
        for sample in family.samples
    }


def _word(rng: random.Random) -> str:
    return "".join(rng.choices(string.ascii_letters + string.digits, k=rng.randint(1, 40)))


def _hostile_round(server: Server, seed: int, n: int = 200) -> int:
    """``n`` requests to random paths, run ids, ids, names and methods; returns how many
    went to paths no route takes."""
    rng = random.Random(seed)
    unknown = 0
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for i in range(n):
            a, b = _word(rng), _word(rng)
            kind = i % 10
            if kind == 0:
                client.get(f"/{a}/{b}")
                unknown += 1
            elif kind == 1:
                client.request(rng.choice(["GET", "POST", "PUT", "DELETE"]), f"/{a}")
                unknown += 1
            elif kind == 2:
                client.get(f"/explanations/{a}", headers=AUTH)
            elif kind == 3:
                client.get(f"/explanations/{a}/{b}", headers=AUTH)
            elif kind == 4:
                client.delete(f"/explanations/{a}/{b}", headers=AUTH)
            elif kind == 5:
                client.get(f"/explanations/{a}/latest")  # no key: a 401
            elif kind == 6:
                client.get(f"/dashboard/static/{a}")
            elif kind == 7:
                client.get(f"/v2/models/{a}", headers=AUTH, params={b: a})
            elif kind == 8:
                client.post("/score", content=b"[", headers=JSON, params={a: b})
            else:
                client.put("/score", content=b"{}", headers=JSON)  # a 405: no PUT route
    return unknown


def test_labels_keep_router_prefixes_and_stay_bounded(server):
    with httpx.Client(base_url=server.url, timeout=30) as client:
        client.get("/explanations", headers=AUTH)
        client.get("/dashboard")
        client.get("/dashboard/", follow_redirects=False)
        client.get("/dashboard/static/dashboard.js")
        client.get("/v2/models/ridge/ready", headers=AUTH)
        client.post("/score", json={"data": [[0.0] * 6]}, headers=AUTH)
        client.post("/explanations/r1", content=b"{}", headers=JSON)  # a 422
    before = _series(server)
    first = _hostile_round(server, seed=1)
    after_first = _series(server)
    second = _hostile_round(server, seed=2)
    after_second = _series(server)

    # 200 more requests to other random paths, run ids, names: not one new series
    assert set(after_second) == set(after_first)
    endpoints = {dict(labels)["endpoint"] for _, labels in after_second}
    statuses = {dict(labels)["status"] for _, labels in after_second if "status" in dict(labels)}
    assert endpoints <= ENDPOINTS, endpoints - ENDPOINTS
    assert statuses <= STATUSES, statuses - STATUSES
    # the prefixes of the store's controller and the dashboard's router are kept
    for kept in (
        "/explanations",
        "/explanations/{run_id}",
        "/explanations/{run_id}/{explanation_id}",
        "/explanations/{run_id}/latest",
        "/dashboard",
        "/dashboard/static/{name}",
    ):
        assert kept in endpoints
    assert "/" not in endpoints and not any(e.startswith("/{") for e in endpoints)

    def count(series, endpoint: str, status: str) -> float:
        key = ("scoring_requests_total", (("endpoint", endpoint), ("status", status)))
        return series.get(key, 0.0)

    # every request to a path no route takes is counted once, under ``unmatched``
    unmatched = sum(
        value
        for (name, labels), value in after_second.items()
        if name == "scoring_requests_total" and dict(labels)["endpoint"] == "unmatched"
    ) - sum(
        value
        for (name, labels), value in before.items()
        if name == "scoring_requests_total" and dict(labels)["endpoint"] == "unmatched"
    )
    assert unmatched == first + second + 40  # and the 40 PUT /score (405: no such route)
    assert count(after_second, "unmatched", "405") - count(before, "unmatched", "405") == 40
    # a route's own answers keep its label: 401 without the key, 404 for an unknown run
    assert count(after_second, "/explanations/{run_id}/latest", "401") == 40
    assert count(after_second, "/explanations/{run_id}/{explanation_id}", "404") == 80
    assert count(after_second, "/dashboard", "302") == 1
    # the lean /score path and Litestar's share one label
    assert count(after_second, "/score", "200") == 1
    assert count(after_second, "/score", "400") == 40
