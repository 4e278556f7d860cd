"""The store over HTTP on a real server, through ``ExplanationClient``."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from scoring_explainers.client import ClientError, ExplanationClient, ServiceConnectionError
from scoring_explainers.explanation import GlobalExplanation
from tests.service.conftest import refused_address, start_server

from .conftest import classification_explanation, regression_explanation

KEY = "store-secret"


@pytest.fixture(scope="module")
def store_server(artifacts, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("store-server")
    server = start_server(
        artifacts["svc"],
        tmp,
        env={
            "SCORING_API_KEY": KEY,
            "SCORING_STORE_PATH": str(tmp / "data" / "explanations.sqlite3"),
            "SCORING_STORE_MAX_BYTES": "300000",
        },
    )
    yield server
    server.stop()


@pytest.fixture
def client(store_server, request) -> ExplanationClient:
    return ExplanationClient(store_server.url, f"run-{request.node.name[:60]}", api_key=KEY)


def test_client_round_trip(client):
    exp = classification_explanation()
    labels = list(range(40))
    record = client.upload_model_explanation(exp, comment="holdout", true_ys=np.array(labels))
    assert record["id"] == exp.id and record["run_id"] == client.run_id
    assert client.download_model_explanation() == exp
    assert client.download_model_explanation(explanation_id=exp.id) == exp
    assert client.download_true_ys(explanation_id=exp.id) == labels
    [listed] = client.list_model_explanations()
    assert listed == record


def test_filters_and_latest(client):
    engineered = classification_explanation(seed=1)
    raw = classification_explanation(seed=2, is_raw=True)
    newest = classification_explanation(seed=3)
    client.upload_model_explanation(engineered, comment="a")
    client.upload_model_explanation(raw, comment="b")
    client.upload_model_explanation(newest, comment="a")
    listed = client.list_model_explanations()
    assert isinstance(listed, list) and [r["id"] for r in listed] == [
        engineered.id,
        raw.id,
        newest.id,
    ]
    assert [r["id"] for r in client.list_model_explanations(comment="a")] == [
        engineered.id,
        newest.id,
    ]
    assert [r["id"] for r in client.list_model_explanations(raw=True)] == [raw.id]
    assert [r["id"] for r in client.list_model_explanations(engineered=True)] == [
        engineered.id,
        newest.id,
    ]
    assert client.download_model_explanation() == newest
    assert client.download_model_explanation(raw=True) == raw
    assert client.download_model_explanation(comment="a", engineered=True) == newest
    with pytest.raises(ClientError) as info:
        client.download_model_explanation(explanation_id=raw.id, engineered=True)
    assert info.value.status == 404


def test_top_k_on_download_and_upload(client):
    exp = classification_explanation(n_features=8)
    client.upload_model_explanation(exp)
    top = client.download_model_explanation(top_k=3)
    assert isinstance(top, GlobalExplanation)
    assert top.get_ranked_global_names() == exp.get_ranked_global_names(3)
    assert top.get_ranked_global_values() == exp.get_ranked_global_values(3)
    assert top.get_feature_importance_dict() == exp.get_feature_importance_dict(3)
    local = regression_explanation()
    record = client.upload_model_explanation(local, top_k=2, comment="cut")
    assert record["top_k"] == 2
    stored = client.download_model_explanation(comment="cut")
    mean_abs = np.abs(local.local_importance_array).mean(axis=0)
    assert stored.get_ranked_global_values() == np.sort(mean_abs)[::-1][:2].tolist()


def test_delete(client):
    exp = classification_explanation()
    client.upload_model_explanation(exp)
    client.delete_model_explanation(exp.id)
    assert client.list_model_explanations() == []
    with pytest.raises(ClientError) as info:
        client.delete_model_explanation(exp.id)
    assert info.value.status == 404 and "no explanation" in str(info.value)


def test_server_errors_become_client_errors(client, store_server):
    exp = classification_explanation()
    client.upload_model_explanation(exp)
    with pytest.raises(ClientError, match="already stored") as info:
        client.upload_model_explanation(exp)
    assert info.value.status == 409
    with pytest.raises(ClientError, match="top_k must be a positive integer") as info:
        client.download_model_explanation(top_k=0)
    assert info.value.status == 422
    with pytest.raises(ClientError, match="no explanation") as info:
        ExplanationClient(store_server.url, "empty", api_key=KEY).download_model_explanation()
    assert info.value.status == 404
    with pytest.raises(ClientError, match="API key") as info:
        ExplanationClient(store_server.url, "run").list_model_explanations()
    assert info.value.status == 401
    big = classification_explanation(n_rows=600, n_features=10)
    assert 300_000 < len(big.to_json()) < 4 * 300_000  # over the limit, drained by the server
    with pytest.raises(ClientError, match="over the store's limit of 300000 bytes") as info:
        client.upload_model_explanation(big)
    assert info.value.status == 413
    assert client.list_model_explanations() == [client.list_model_explanations()[0]]


def test_unreachable_service():
    with refused_address() as url:
        client = ExplanationClient(url, "run", timeout=5)
        with pytest.raises(ServiceConnectionError, match="cannot reach"):
            client.list_model_explanations()


def test_from_run_reads_the_environment(monkeypatch, store_server):
    monkeypatch.setenv("SCORING_EXPLANATIONS_URL", store_server.url)
    monkeypatch.setenv("SCORING_API_KEY", KEY)
    client = ExplanationClient.from_run("env-run")
    assert client.url == store_server.url and client.list_model_explanations() == []
    monkeypatch.delenv("SCORING_EXPLANATIONS_URL")
    with pytest.raises(ValueError, match="SCORING_EXPLANATIONS_URL"):
        ExplanationClient.from_run("env-run")


def test_http_details(store_server):
    auth = {"authorization": f"Bearer {KEY}"}
    with httpx.Client(base_url=store_server.url, timeout=30) as http:
        assert http.get("/healthz").status_code == 200  # probes need no key
        assert http.get("/explanations").status_code == 401
        bad = http.post("/explanations/run", content=b"{}", headers=auth)
        assert bad.status_code == 415 and bad.json()["status"] == 415
        bad = http.post(
            "/explanations/run", content=b"{", headers={**auth, "content-type": "application/json"}
        )
        assert bad.status_code == 400 and "not valid JSON" in bad.json()["error"]
        bad = http.get("/explanations/bad%20run", headers=auth)
        assert bad.status_code == 422 and "run id" in bad.json()["error"]
        bad = http.get("/explanations/run/latest?raw=maybe", headers=auth)
        assert bad.status_code == 400
        schema = http.get("/schema/openapi.json", headers=auth).json()
    paths = schema["paths"]
    assert set(paths["/explanations/{run_id}"]) == {"get", "post", "delete"}
    assert set(paths["/explanations/{run_id}/{explanation_id}"]) == {"get", "delete"}
    assert "/explanations/{run_id}/latest" in paths and "/explanations" in paths
    upload = paths["/explanations/{run_id}"]["post"]
    assert (
        "explanation"
        in upload["requestBody"]["content"]["application/json"]["schema"]["properties"]
    )
    assert {"201", "409", "413", "422"} <= set(upload["responses"])


def test_postgres_backed_service(artifacts, tmp_path, empty_postgres):
    server = start_server(artifacts["svc"], tmp_path, env={"SCORING_DATABASE_URL": empty_postgres})
    try:
        client = ExplanationClient(server.url, "pg-run")
        exp = classification_explanation()
        client.upload_model_explanation(exp, comment="on postgres", true_ys=[1] * 40)
        assert client.download_model_explanation(comment="on postgres") == exp
        assert client.download_true_ys() == [1] * 40
        assert client.download_model_explanation(top_k=2).features == (
            exp.get_ranked_global_names(2)
        )
        import psycopg

        with psycopg.connect(empty_postgres) as conn:  # the rows are in PostgreSQL
            rows = conn.execute("SELECT run_id, id, comment FROM explanations").fetchall()
        assert rows == [("pg-run", exp.id, "on postgres")]
    finally:
        server.stop()
