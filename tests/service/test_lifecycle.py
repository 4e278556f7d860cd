"""API key, graceful shutdown, a linear artifact, start-up failures."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time

import httpx
import numpy as np

from scoring_explainers.scoring import load
from tests.service.conftest import start_server

ROW = [1.0] * 30


def test_api_key(artifacts, tmp_path):
    server = start_server(artifacts["svc"], tmp_path, env={"SCORING_API_KEY": "s3cret"})
    try:
        body = json.dumps({"data": [ROW]})
        headers = {"content-type": "application/json"}
        url = server.url
        assert httpx.post(url + "/score", content=body, headers=headers).status_code == 401
        wrong = httpx.post(
            url + "/score", content=body, headers={**headers, "authorization": "Bearer nope"}
        )
        assert wrong.status_code == 401 and "API key" in wrong.json()["error"]
        assert wrong.headers["www-authenticate"] == "Bearer"
        ok = httpx.post(
            url + "/score", content=body, headers={**headers, "authorization": "Bearer s3cret"}
        )
        assert ok.status_code == 200
        for open_path in ("/healthz", "/readyz", "/metrics", "/v2/health/live", "/v2/health/ready"):
            assert httpx.get(url + open_path).status_code == 200, open_path
        assert httpx.get(url + "/schema/openapi.json").status_code == 401
        assert httpx.get(url + "/v2/models/svc").status_code == 401
    finally:
        server.stop()


def test_sigterm_finishes_requests_in_flight(artifacts, tmp_path, seed_data):
    _, x_test, *_ = seed_data
    server = start_server(artifacts["svc"], tmp_path)
    rows = np.tile(x_test, (4, 1))[:400]  # long enough to be in flight at SIGTERM
    result: dict = {}

    def slow() -> None:
        result["response"] = httpx.post(
            server.url + "/score",
            content=json.dumps({"data": rows.tolist()}),
            headers={"content-type": "application/json"},
            timeout=120,
        )

    worker = threading.Thread(target=slow)
    worker.start()
    time.sleep(0.5)
    server.process.send_signal(signal.SIGTERM)
    worker.join(120)
    code = server.process.wait(60)
    response = result["response"]
    assert response.status_code == 200
    assert len(response.json()["predictions"]) == 400
    assert code in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after shutting down


def test_linear_artifact(artifacts, tmp_path, small_regression):
    X, _ = small_regression
    server = start_server(artifacts["ridge"], tmp_path)
    try:
        response = httpx.post(
            server.url + "/score",
            content=json.dumps({"data": X[:4].tolist()}),
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        want = load(artifacts["ridge"]).score(X[:4])
        np.testing.assert_array_equal(
            np.array(body["local_importance_values"]), want.local_importance_values
        )
        assert body["expected_values"] == float(want.expected_values)
        assert "probabilities" not in body and body["output_space"] == "raw"
    finally:
        server.stop()


def test_bad_artifact_fails_fast_with_the_reason(tmp_path, artifacts):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(artifacts["svc"], broken)
    (broken / "arrays.npz").write_bytes(b"tampered")
    done = subprocess.run(
        [sys.executable, "-m", "service", "--artifact", str(broken), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "arrays.npz: SHA-256 mismatch" in done.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "service", "--artifact", str(tmp_path / "none")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2 and "does not exist" in missing.stderr
