"""The app's structure: the lifespan's tasks, the runtime injected, one ``/score`` body, one
payload parser (with orjson and without)."""

from __future__ import annotations

import asyncio
import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

import numpy as np
import orjson
import pytest

from scoring_explainers.dashboard import _Scorer
from scoring_explainers.runtime import _payload
from scoring_explainers.scoring import load
from service import ScoringRuntime, Settings, create_app, score
from service.runtime import encode


def _in_thread(coroutine: Any) -> Any:
    with ThreadPoolExecutor(1) as pool:  # a thread of its own: no event loop running there
        return pool.submit(asyncio.run, coroutine).result()


def test_the_lifespan_retries_loading_then_cancels_its_tasks(artifacts, tmp_path):
    """A missing artifact: the loader keeps trying until the app shuts down, then its task is
    cancelled (``on_startup`` tasks were never cancelled); once the artifact is there, the
    next try loads it."""
    folder = tmp_path / "later"
    settings = Settings(
        artifact=str(folder), store_path=str(tmp_path / "s.sqlite3"), load_retry_seconds=0.05
    )
    runtime = ScoringRuntime(settings)
    app = create_app(settings, runtime)

    async def run() -> tuple[bool, bool, list[bool]]:
        async with app.lifespan():
            await asyncio.sleep(0.2)
            ready_before = runtime.ready
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            assert others, "the loader runs in the background"
            shutil.copytree(artifacts["ridge"], folder)
            for _ in range(200):
                if runtime.ready:
                    break
                await asyncio.sleep(0.05)
            ready_after = runtime.ready
        return ready_before, ready_after, [t.done() for t in others]

    ready_before, ready_after, done = _in_thread(run())
    assert (ready_before, ready_after) == (False, True)
    assert all(done)


def test_shutdown_cancels_a_loader_still_retrying(tmp_path):
    settings = Settings(
        artifact=str(tmp_path / "never"),
        store_path=str(tmp_path / "s.sqlite3"),
        load_retry_seconds=0.05,
    )
    runtime = ScoringRuntime(settings)
    app = create_app(settings, runtime)

    async def run() -> list[asyncio.Task[Any]]:
        async with app.lifespan():
            await asyncio.sleep(0.2)
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        return tasks

    tasks = _in_thread(run())
    assert tasks and all(t.done() for t in tasks)
    assert any(t.cancelled() for t in tasks)  # the retry loop, cancelled at shutdown
    assert not runtime.ready and "not loaded" in runtime.not_ready_reason


def test_handlers_are_given_the_runtime_passed_to_create_app(artifacts, tmp_path):
    """Two apps in one process, each with its own runtime (no module state): each answers
    for its own artifact."""
    from litestar.testing import TestClient

    answers = {}
    for name in ("ridge", "svc"):
        settings = Settings(
            artifact=str(artifacts[name]), store_path=str(tmp_path / f"{name}.sqlite3")
        )
        runtime = ScoringRuntime(settings)
        app = create_app(settings, runtime)
        assert app.state.runtime is runtime and app.state.settings is settings
        with TestClient(app) as client:
            answers[name] = client.get(f"/v2/models/{name}").json()["parameters"]["kind"]
            assert client.get("/readyz").json() == {"status": "ready"}
    assert answers == {"ridge": "linear", "svc": "kernel"}


@pytest.mark.parametrize("name", ["ridge", "svc"])
def test_one_score_body(artifacts, seed_data, name, small_regression):
    """``to_body()`` (JSON-native) and ``to_body(arrays=True)`` written by orjson are the same
    JSON, which is what ``run()`` returns and the notebook dashboard's ``/score`` answers."""
    explainer = load(artifacts[name])
    rows = seed_data[1][:3] if name == "svc" else small_regression[0][:3]
    result = explainer.score(rows)
    native = result.to_body(top_k=2)
    assert orjson.loads(encode(result.to_body(top_k=2, arrays=True))) == native
    assert json.loads(json.dumps(native)) == native  # JSON-native: no numpy left
    assert list(native)[:6] == [
        "predictions",
        "local_importance_values",
        "expected_values",
        "features",
        "output_space",
        "method",
    ]
    np.testing.assert_array_equal(native["local_importance_values"], result.local_importance_values)
    score.init(str(artifacts[name]))
    body = json.dumps({"data": rows.tolist()})
    assert score.run(body, top_k=2) == native
    # the dashboard reads only features and classes of the explanation
    explanation = SimpleNamespace(features=explainer.features, classes=explainer.classes)
    scorer = _Scorer(explainer, explanation)  # type: ignore[arg-type]
    assert scorer(body.encode()) == result.to_body()


@pytest.mark.parametrize(
    "body",
    [
        b'{"data": [[1, 2]]}',
        b'[{"a": 1, "b": null}]',
        b'{"a": {"0": 1}, "b": {"0": 2}}',
        b'{"columns": ["b", "a"], "data": [[2, 1]]}',
    ],
)
def test_the_parser_without_orjson_reads_as_with_it(monkeypatch, body):
    with_orjson = _payload.parse_rows(body, ["a", "b"], max_rows=10)
    monkeypatch.setattr(_payload, "orjson", None)
    np.testing.assert_array_equal(_payload.parse_rows(body, ["a", "b"], max_rows=10), with_orjson)


@pytest.mark.parametrize(
    "body",
    [b"", b"{bad", b'{"data": [[NaN, 1]]}', b'{"data": [[1, 2]], "data": [[2, 1]]}', b"[" * 5000],
)
def test_the_parser_without_orjson_refuses_as_with_it(monkeypatch, body):
    with pytest.raises(_payload.MalformedBody):
        _payload.decode(body)
    monkeypatch.setattr(_payload, "orjson", None)
    with pytest.raises(_payload.MalformedBody):
        _payload.decode(body)
