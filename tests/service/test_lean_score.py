"""``POST /score`` on the fast path answers exactly as the Litestar handler does.

Each request is sent twice in process: to the app (the fast path, ``FastScore``, takes what
it can) and to Litestar's own handler (the app with ``FastScore`` taken out of its
``asgi_handler``); status, headers and body must be the same, and so must the metrics.
"""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs

import numpy as np
import pandas as pd
import pytest
from litestar import Litestar
from prometheus_client.parser import text_string_to_metric_families

from service import ScoringRuntime, Settings, create_app
from service.fast_score import FastScore

JSON = (b"content-type", b"application/json")


class _Spy:
    """Counts the requests the fast path passes on to Litestar (those it declines)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.declined = 0
        self.calls = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.declined += 1
        await self.app(scope, receive, send)

    @property
    def taken(self) -> int:
        return self.calls - self.declined


def _app(artifact, tmp_path, *, load: bool = True, **overrides: Any) -> tuple[Litestar, _Spy]:
    options: dict[str, Any] = {"max_rows": 50, "max_body_bytes": 20_000, **overrides}
    settings = Settings(
        artifact=str(artifact), store_path=str(tmp_path / "store.sqlite3"), **options
    )
    runtime = ScoringRuntime(settings)
    if load:
        runtime.load()
    app = create_app(settings, runtime)
    fast = app.asgi_handler
    assert isinstance(fast, FastScore)
    spy = _Spy(fast.app)
    fast.app = spy
    return app, spy


def _call(
    app: Litestar,
    chunks: list[bytes],
    *,
    query: bytes = b"",
    headers: tuple[tuple[bytes, bytes], ...] = (JSON,),
    litestar: bool = False,
    length: bool = True,
    disconnect: bool = False,
) -> tuple[int, bytes | None, Any]:
    body = b"".join(chunks)
    all_headers = [(b"host", b"test"), *headers]
    if length:
        all_headers.append((b"content-length", str(len(body)).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/score",
        "raw_path": b"/score",
        "query_string": query,
        "root_path": "",
        "headers": all_headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]
    if disconnect:  # the client leaves before the body's end
        messages[-1] = {"type": "http.disconnect"}
    sent: list[dict[str, Any]] = []
    answered = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await answered.wait()  # as a server does: the client stays until it has its answer
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            answered.set()

    async def run() -> None:
        fast = app.asgi_handler
        assert isinstance(fast, FastScore)
        spy = fast.app
        if litestar:  # Litestar's handler only: FastScore taken out
            app.asgi_handler = spy.app
        else:
            spy.calls += 1
        try:
            await app(scope, receive, send)  # type: ignore[arg-type]
        finally:
            app.asgi_handler = fast

    with ThreadPoolExecutor(1) as pool:  # a thread of its own: no event loop running there
        pool.submit(asyncio.run, run()).result()
    start = sent[0]
    content = b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], sorted(start["headers"]), json.loads(content), content


def _both(app: Litestar, spy: _Spy, chunks: list[bytes], **kwargs: Any) -> tuple[int, bool, Any]:
    """Send to both paths; status, headers and body bytes must be the same, and so must
    the requests counted. Returns status, whether the fast path took it, body."""
    before = spy.taken
    counted = _requests(app)
    fast = _call(app, chunks, **kwargs)
    taken = spy.taken > before
    after_fast = _requests(app)
    reference = _call(app, chunks, litestar=True, **kwargs)
    assert spy.taken == before + taken  # Litestar's handler never reaches the fast path
    assert fast[:2] == reference[:2]
    assert fast[3] == reference[3]  # the same bytes
    assert _added(counted, after_fast) == _added(after_fast, _requests(app))
    return fast[0], taken, fast[2]


def _added(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


RIDGE_ROW = [0.5, -1.0, 2.0, 0.0, 1.5, -0.25]


def _ridge_cases() -> dict[str, tuple[list[bytes], dict[str, Any], int, bool]]:
    names = [f"feature_{i}" for i in range(6)]
    frame = pd.DataFrame([RIDGE_ROW, RIDGE_ROW[::-1]], columns=names)
    rows = json.dumps({"data": [RIDGE_ROW]}).encode()
    return {
        "one row": ([rows], {}, 200, True),
        "flat row": ([json.dumps({"data": RIDGE_ROW}).encode()], {}, 200, True),
        "records": ([frame.to_json(orient="records").encode()], {}, 200, True),
        "data records": (
            [json.dumps({"data": frame.to_dict(orient="records")}).encode()],
            {},
            200,
            True,
        ),
        "pandas columns": ([frame.to_json().encode()], {}, 200, True),
        "pandas split": ([frame.to_json(orient="split").encode()], {}, 200, True),
        "pandas index": ([frame.to_json(orient="index").encode()], {}, 200, True),
        "escaped key": ([b'{"d\\u0061ta": [[1, 2, 3, 4, 5, 6]]}'], {}, 200, True),
        "chunked body": ([rows[:10], rows[10:20], rows[20:]], {}, 200, True),
        "top_k": ([rows], {"query": b"top_k=2"}, 200, True),
        "top_k over the features": ([rows], {"query": b"top_k=9"}, 200, True),
        "top_k 0": ([rows], {"query": b"top_k=0"}, 422, False),
        "top_k too large": ([rows], {"query": b"top_k=101"}, 422, True),
        "top_k huge": ([rows], {"query": b"top_k=999999"}, 422, True),
        "top_k not a number": ([rows], {"query": b"top_k=x"}, 400, False),
        "top_k leading zero": ([rows], {"query": b"top_k=02"}, 400, False),
        "top_k empty": ([rows], {"query": b"top_k="}, 400, False),
        "other query": ([rows], {"query": b"top_k=2&x=1"}, 200, False),
        "uncertainty": ([rows], {"query": b"uncertainty=true"}, 200, True),
        "uncertainty 1": ([rows], {"query": b"uncertainty=1"}, 200, True),
        "uncertainty false": ([rows], {"query": b"uncertainty=false"}, 200, True),
        "uncertainty 0": ([rows], {"query": b"uncertainty=0"}, 200, True),
        "uncertainty True": ([rows], {"query": b"uncertainty=True"}, 200, False),
        "uncertainty yes": ([rows], {"query": b"uncertainty=yes"}, 400, False),
        "uncertainty empty": ([rows], {"query": b"uncertainty="}, 400, False),
        "uncertainty twice": ([rows], {"query": b"uncertainty=1&uncertainty=0"}, 200, False),
        "tolerance": ([rows], {"query": b"tolerance=0.01"}, 200, True),
        "tolerance exponent": ([rows], {"query": b"tolerance=5e-3"}, 200, True),
        "all parameters": (
            [rows],
            {"query": b"tolerance=1e-3&top_k=2&uncertainty=true"},
            200,
            True,
        ),
        "tolerance 0": ([rows], {"query": b"tolerance=0"}, 422, True),
        "tolerance underflow": ([rows], {"query": b"tolerance=1e-400"}, 422, True),
        "tolerance negative": ([rows], {"query": b"tolerance=-1"}, 422, False),
        "tolerance nan": ([rows], {"query": b"tolerance=nan"}, 422, False),
        "tolerance inf": ([rows], {"query": b"tolerance=inf"}, 422, False),
        "tolerance overflow": ([rows], {"query": b"tolerance=1e999"}, 400, False),
        "tolerance not a number": ([rows], {"query": b"tolerance=x"}, 400, False),
        "tolerance leading zero": ([rows], {"query": b"tolerance=007"}, 400, False),
        "tolerance empty": ([rows], {"query": b"tolerance="}, 400, False),
        "tolerance with a bad body": ([b"{bad"], {"query": b"tolerance=0.1"}, 400, True),
        "charset": (
            [rows],
            {"headers": ((b"content-type", b"application/json; charset=utf-8"),)},
            200,
            True,
        ),
        "upper-case type": (
            [rows],
            {"headers": ((b"content-type", b"Application/JSON"),)},
            200,
            True,
        ),
        "text/plain": ([rows], {"headers": ((b"content-type", b"text/plain"),)}, 415, True),
        "no content type": ([rows], {"headers": ()}, 415, True),
        "two content types": (
            [rows],
            {"headers": ((b"content-type", b"text/plain"), JSON)},
            415,
            True,
        ),
        "length not a number": (
            [rows],
            {"headers": (JSON, (b"content-length", b"12x")), "length": False},
            400,
            False,
        ),
        "abandoned body": ([rows[:10], rows[10:]], {"disconnect": True}, 500, True),
        "malformed": ([b"{not json"], {}, 400, True),
        "empty": ([b""], {}, 400, True),
        "NaN literal": ([b'{"data": [[NaN, 1, 2, 3, 4, 5]]}'], {}, 400, True),
        "duplicate keys": (
            [b'{"data": [[1, 2, 3, 4, 5, 6]], "data": [[6, 5, 4, 3, 2, 1]]}'],
            {},
            400,
            True,
        ),
        "duplicate record keys": (
            [
                b'[{"feature_0": 1, "feature_0": 2, "feature_1": 1, "feature_2": 1,'
                b' "feature_3": 1, "feature_4": 1, "feature_5": 1}]'
            ],
            {},
            400,
            True,
        ),
        "width": ([json.dumps({"data": [[1.0] * 5]}).encode()], {}, 422, True),
        "strings": ([json.dumps({"data": [["a"] * 6]}).encode()], {}, 422, True),
        "scalar": ([b"42"], {}, 422, True),
        "null": ([b"null"], {}, 422, True),
        "too many rows": ([json.dumps({"data": [RIDGE_ROW] * 51}).encode()], {}, 413, True),
        "announced too large": ([b"[" + b" " * 20_000 + b"]"], {}, 413, True),
        "streamed too large": (
            [b"[" + b" " * 10_000, b" " * 10_000 + b"]"],
            {"length": False},
            413,
            True,
        ),
    }


CASES = _ridge_cases()


@pytest.mark.parametrize("name", list(CASES))
def test_lean_path_answers_as_litestar(artifacts, tmp_path, name):
    app, spy = _app(artifacts["ridge"], tmp_path)
    chunks, kwargs, status, lean = CASES[name]
    got, taken, body = _both(app, spy, chunks, **kwargs)
    assert got == status, body
    assert taken == lean
    if status != 200:
        assert body["status"] == status and body["error"]
    else:
        values = np.asarray(body["local_importance_values"])
        assert values.shape[-1] == 6
        query = parse_qs(kwargs.get("query", b"").decode())  # the last value counts
        if "tolerance" in query or query.get("uncertainty", ["0"])[-1].lower() in ("true", "1"):
            assert np.asarray(body["standard_errors"]).shape == values.shape
            assert not np.any(body["standard_errors"])  # linear: exact
            assert body["coalitions_used"] == [0]  # linear: no coalitions
        else:
            assert "standard_errors" not in body and "coalitions_used" not in body


BAD_PARAMETERS = {
    b"tolerance=0": "tolerance must be a positive finite number, got 0.0",
    b"tolerance=nan": "tolerance must be a positive finite number, got nan",
    b"tolerance=-1": "tolerance must be a positive finite number, got -1.0",
    b"uncertainty=yes": "uncertainty: Expected `bool | null`, got `str`",
    b"tolerance=x": "tolerance: Expected `float | null`, got `str`",
    b"tolerance=1e999": "tolerance: Number out of range",
}


@pytest.mark.parametrize("query", list(BAD_PARAMETERS))
def test_bad_parameters_say_what_is_wrong(artifacts, tmp_path, query):
    app, spy = _app(artifacts["ridge"], tmp_path)
    _, _, body = _both(app, spy, [json.dumps({"data": [RIDGE_ROW]}).encode()], query=query)
    assert body["error"].endswith(BAD_PARAMETERS[query]), body


def test_large_and_expensive_bodies_score_in_a_worker_thread(artifacts, tmp_path, seed_data):
    _, x_test, *_ = seed_data
    app, spy = _app(artifacts["svc"], tmp_path, max_body_bytes=10**6)
    small = json.dumps({"data": x_test[:2].tolist()}).encode()  # Kernel: never inline
    large = json.dumps({"data": x_test[:3].tolist()}, indent=2000).encode()
    assert len(large) > 64 * 1024  # parsed in the worker thread too
    for body in (small, large):
        status, taken, answer = _both(app, spy, [body], query=b"top_k=3")
        assert (status, taken) == (200, True)
        assert len(answer["top_k"]["features"]) == len(answer["predictions"])
    # standard errors and a tolerance: the same bytes from both paths (deterministic)
    for query in (b"uncertainty=true", b"tolerance=0.01&top_k=2"):
        status, taken, answer = _both(app, spy, [small], query=query)
        assert (status, taken) == (200, True)
        assert np.asarray(answer["standard_errors"]).shape == (2, 2, 30)
        assert np.asarray(answer["standard_errors"]).max() > 0


def test_api_key(artifacts, tmp_path):
    app, spy = _app(artifacts["ridge"], tmp_path, api_key="s3cret")
    rows = [json.dumps({"data": [RIDGE_ROW]}).encode()]
    right = ((b"authorization", b"Bearer s3cret"), JSON)
    assert _both(app, spy, rows, headers=right)[:2] == (200, True)
    for headers in (
        (JSON,),
        ((b"authorization", b"Bearer nope"), JSON),
        ((b"authorization", b"Basic s3cret"), JSON),
        ((b"authorization", b"s3cret"), JSON),
    ):
        status, taken, body = _both(app, spy, rows, headers=headers)
        assert (status, taken) == (401, True) and "API key" in body["error"]


def test_not_ready_is_a_503(artifacts, tmp_path):
    app, spy = _app(artifacts["ridge"], tmp_path, load=False)
    status, taken, body = _both(app, spy, [json.dumps({"data": [RIDGE_ROW]}).encode()])
    assert (status, taken) == (503, True) and "not loaded" in body["error"]


def _requests(app: Litestar) -> dict[str, float]:
    text = app.state.runtime.metrics.render().decode()
    return {
        sample.labels["status"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "scoring_requests_total" and sample.labels["endpoint"] == "/score"
    }


def test_every_request_is_counted_once(artifacts, tmp_path):
    app, spy = _app(artifacts["ridge"], tmp_path)
    rows = [json.dumps({"data": [RIDGE_ROW]}).encode()]
    _call(app, rows)
    _call(app, rows, query=b"top_k=x")  # declined: Litestar answers and counts it
    _call(app, [b"{bad"])
    _call(app, rows, headers=((b"content-type", b"text/plain"),))
    assert spy.taken == 3
    assert _requests(app) == {"200": 1, "400": 2, "415": 1}


def test_deadline_is_a_503_on_both_paths(artifacts, tmp_path, seed_data):
    _, x_test, *_ = seed_data
    # a deadline already passed when the worker thread starts: the Kernel work is stopped
    app, spy = _app(artifacts["svc"], tmp_path, request_timeout_seconds=1e-9)
    body = json.dumps({"data": x_test[:2].tolist()}).encode()
    for query in (b"", b"tolerance=0.001", b"uncertainty=true"):
        status, taken, answer = _both(app, spy, [body], query=query)
        assert (status, taken) == (503, True)
        assert answer["error"].startswith("the request's deadline of 1e-09 s passed")
