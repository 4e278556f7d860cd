"""API key, graceful shutdown, a linear artifact, start-up failures."""

from __future__ import annotations

import json
import signal

import httpx
import numpy as np

from scoring_explainers.scoring import load
from tests.service.conftest import InFlight, start_server

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
    rows = np.tile(x_test, (4, 1))[:400]
    body = json.dumps({"data": rows.tolist()}).encode()
    request = InFlight(server.url, "/score", body, {"content-type": "application/json"})
    server.process.send_signal(signal.SIGTERM)
    status, answer = request.response()
    code = server.process.wait(60)
    assert status == 200
    assert len(json.loads(answer)["predictions"]) == 400
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


def test_bad_artifact_means_not_ready_with_the_reason(tmp_path, artifacts):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(artifacts["svc"], broken)
    good = (broken / "arrays.npz").read_bytes()
    (broken / "arrays.npz").write_bytes(b"tampered")
    server = start_server(
        broken, tmp_path, env={"SCORING_LOAD_RETRY_SECONDS": "1"}, ready_path="/healthz"
    )
    url = server.url
    try:
        ready = httpx.get(url + "/readyz")
        assert ready.status_code == 503
        assert "arrays.npz: SHA-256 mismatch" in ready.json()["error"]
        score = httpx.post(
            url + "/score",
            content=json.dumps({"data": [ROW]}),
            headers={"content-type": "application/json"},
        )
        assert score.status_code == 503  # never numbers from a bad artifact
        assert "arrays.npz: SHA-256 mismatch" in server.stderr.read_text()
        # the artifact is repaired (e.g. the volume is filled): the service becomes ready
        (broken / "arrays.npz").write_bytes(good)
        server.wait_until("/readyz", timeout=15)
        assert (
            httpx.post(
                url + "/score",
                content=json.dumps({"data": [ROW]}),
                headers={"content-type": "application/json"},
            ).status_code
            == 200
        )
    finally:
        server.stop()


def test_api_key_from_a_file_secret_is_stripped():
    from service import Settings

    assert Settings.from_env({"SCORING_API_KEY": "s3cret\n"}).api_key == "s3cret"
    import pytest

    with pytest.raises(ValueError, match="only whitespace"):
        Settings.from_env({"SCORING_API_KEY": " \n"})


def test_tree_artifact(tmp_path, small_classification):
    import lightgbm

    from scoring_explainers.scoring import TreeScoringExplainer, save

    X, y = small_classification
    model = lightgbm.LGBMClassifier(n_estimators=20, num_leaves=7, verbose=-1).fit(X, y)
    save(TreeScoringExplainer.from_model(model, X), tmp_path / "lgbm")
    server = start_server(tmp_path / "lgbm", tmp_path)
    try:
        rows = X[:3].copy()
        rows[0, 1] = np.nan  # LightGBM learned where missing values go
        body = [[None if np.isnan(v) else v for v in row] for row in rows.tolist()]
        response = httpx.post(
            server.url + "/score",
            content=json.dumps({"data": body}),
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 200, response.text
        want = load(tmp_path / "lgbm").score(rows)
        np.testing.assert_array_equal(
            np.array(response.json()["local_importance_values"]), want.local_importance_values
        )
        assert response.json()["method"] == "tree"
        assert response.json()["output_space"] == "log_odds"
    finally:
        server.stop()
