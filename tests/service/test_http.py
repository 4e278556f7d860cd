"""The service over real HTTP on 127.0.0.1: same numbers as the library, clear 4xx."""

from __future__ import annotations

import json
import threading

import httpx
import numpy as np
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from scoring_explainers.scoring import load


@pytest.fixture(scope="module")
def reference(artifacts, seed_data):
    _, x_test, *_, names = seed_data
    explainer = load(artifacts["svc"])
    return explainer, x_test[:5], names


def _assert_same(body: dict, explainer, rows) -> None:
    want = explainer.score(rows)
    assert body["predictions"] == want.predictions.tolist()
    np.testing.assert_array_equal(
        np.array(body["local_importance_values"]), want.local_importance_values
    )
    np.testing.assert_array_equal(np.array(body["probabilities"]), want.probabilities)
    np.testing.assert_array_equal(np.array(body["expected_values"]), want.expected_values)
    assert body["features"] == want.features
    assert body["classes"] == ["malignant", "benign"]
    assert body["output_space"] == "probability"


def test_every_input_shape_gives_the_library_numbers(client, reference):
    explainer, rows, names = reference
    frame = pd.DataFrame(rows, columns=names)
    bodies = {
        "data lists": json.dumps({"data": rows.tolist()}),
        "data records": json.dumps({"data": frame.to_dict(orient="records")}),
        "records": frame.to_json(orient="records"),
        "pandas to_json()": frame.to_json(),
        "pandas split": frame.to_json(orient="split"),
        "pandas index": frame.to_json(orient="index"),
        "columns reordered": frame[names[::-1]].to_json(),
    }
    for label, body in bodies.items():
        response = client.post("/score", content=body)
        assert response.status_code == 200, (label, response.text)
        _assert_same(response.json(), explainer, rows)


def test_seed_workflow_client_unchanged(server, reference):
    import requests

    explainer, rows, names = reference
    frame = pd.DataFrame(rows, columns=names)
    response = requests.post(
        server.url + "/score",
        frame.to_json(),
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 200
    _assert_same(response.json(), explainer, rows)


def test_top_k(client, reference):
    explainer, rows, _ = reference
    body = client.post(
        "/score", params={"top_k": 3}, content=json.dumps({"data": rows.tolist()})
    ).json()
    names, values = explainer.score(rows).top_features(3)
    assert body["top_k"]["features"] == names
    np.testing.assert_array_equal(np.array(body["top_k"]["values"]), values)
    values = np.array(body["local_importance_values"])
    predicted = [body["classes"].index(p) for p in body["predictions"]]
    for i, k in enumerate(predicted):
        top = np.argsort(-np.abs(values[k, i]))[:3]
        assert [body["features"][j] for j in top] == body["top_k"]["features"][i]


ROW = [1.0] * 30


@pytest.mark.parametrize(
    ("content", "headers", "status", "message"),
    [
        (b"{not json", None, 400, "not valid JSON"),
        (b"", None, 400, "empty body"),
        (b'{"data": [[NaN, 1]]}', None, 400, "not valid JSON"),
        (b'{"data": [[Infinity]]}', None, 400, "not valid JSON"),
        (json.dumps({"data": [[1.0] * 29]}).encode(), None, 422, "expected 30 features"),
        (json.dumps({"data": []}).encode(), None, 422, "empty batch"),
        (json.dumps({"data": [["a"] * 30]}).encode(), None, 422, "numbers"),
        (json.dumps({"data": [[None] * 30]}).encode(), None, 422, "missing value"),
        (b'{"data": [[' + b"1e400, " * 29 + b"1]]}", None, 400, "infinity"),
        (json.dumps({"data": [[1e39] * 30]}).encode(), None, 422, "float32 range"),
        (json.dumps([{"mean radius": 1.0}]).encode(), None, 422, "missing features"),
        (
            json.dumps(
                {"data": [dict(zip([f"f{i}" for i in range(30)], ROW, strict=True))]}
            ).encode(),
            None,
            422,
            "unknown features",
        ),
        (json.dumps({"data": [ROW] * 201}).encode(), None, 413, "limit is 200"),
        (json.dumps({"data": [ROW] * 900}).encode(), None, 413, ""),
        (
            json.dumps({"data": [ROW]}).encode(),
            {"content-type": "text/plain"},
            415,
            "application/json",
        ),
        (json.dumps(42).encode(), None, 422, "body must be a JSON object"),
        (json.dumps({"rows": [ROW]}).encode(), None, 422, "unrecognised body"),
    ],
    ids=[
        "malformed",
        "empty",
        "nan-literal",
        "infinity-literal",
        "width",
        "empty-batch",
        "strings",
        "nulls",
        "huge-number",
        "float32-range",
        "missing-names",
        "unknown-names",
        "too-many-rows",
        "body-too-large",
        "content-type",
        "scalar",
        "unknown-shape",
    ],
)
def test_bad_input_is_a_4xx_with_a_message(client, content, headers, status, message):
    response = client.post("/score", content=content, headers=headers)
    assert response.status_code == status, response.text
    body = response.json()
    assert message in body["error"]
    assert body["status"] == status
    assert client.get("/healthz").status_code == 200


def test_bad_top_k(client):
    response = client.post("/score", params={"top_k": 0}, content=json.dumps({"data": [ROW]}))
    assert response.status_code == 422 and "top_k" in response.json()["error"]
    response = client.post("/score", params={"top_k": "x"}, content=json.dumps({"data": [ROW]}))
    assert response.status_code == 400 and "top_k" in response.json()["error"]


def test_probes_and_unknown_routes(client):
    assert client.get("/healthz").json() == {"status": "alive"}
    assert client.get("/readyz").json() == {"status": "ready"}
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    missing = client.get("/nothing-here")
    assert missing.status_code == 404 and "error" in missing.json()
    wrong = client.get("/score")
    assert wrong.status_code == 405 and "error" in wrong.json()


def test_v2_round_trip(client, reference):
    explainer, rows, names = reference
    meta = client.get("/v2/models/svc").json()
    assert meta["name"] == "svc" and meta["inputs"][0]["shape"] == [-1, 30]
    assert meta["outputs"][0] == {"name": "predictions", "datatype": "BYTES", "shape": [-1]}
    assert client.get("/v2/models/svc/ready").json()["ready"] is True
    request = {
        "id": "r1",
        "inputs": [
            {
                "name": "input-0",
                "shape": [5, 30],
                "datatype": "FP64",
                "data": rows.reshape(-1).tolist(),
            }
        ],
        "parameters": {"top_k": 2},
    }
    body = client.post("/v2/models/svc/infer", content=json.dumps(request)).json()
    want = explainer.score(rows)
    outputs = {o["name"]: o for o in body["outputs"]}
    assert body["id"] == "r1" and body["model_name"] == "svc"
    assert outputs["predictions"]["datatype"] == "BYTES"
    assert outputs["predictions"]["data"] == want.predictions.tolist()
    values = outputs["local_importance_values"]
    assert values["shape"] == [2, 5, 30]
    np.testing.assert_array_equal(
        np.array(values["data"]).reshape(values["shape"]), want.local_importance_values
    )
    np.testing.assert_array_equal(
        np.array(outputs["probabilities"]["data"]).reshape(5, 2), want.probabilities
    )
    assert body["parameters"]["top_k"]["features"] == want.top_features(2)[0]
    # one tensor per feature, asking for one output
    per_feature = {
        "inputs": [
            {"name": n, "shape": [5], "datatype": "FP32", "data": rows[:, j].tolist()}
            for j, n in enumerate(names)
        ],
        "outputs": [{"name": "probabilities"}],
    }
    body = client.post("/v2/models/svc/infer", content=json.dumps(per_feature)).json()
    assert [o["name"] for o in body["outputs"]] == ["probabilities"]
    np.testing.assert_allclose(
        np.array(body["outputs"][0]["data"]).reshape(5, 2), want.probabilities, atol=1e-6
    )


@pytest.mark.parametrize(
    ("path", "request_body", "status", "message"),
    [
        ("/v2/models/other/infer", {"inputs": []}, 404, "unknown model"),
        (
            "/v2/models/svc/infer",
            {"inputs": [{"name": "x", "shape": [1, 30], "datatype": "BYTES", "data": ["a"] * 30}]},
            422,
            "not numeric",
        ),
        (
            "/v2/models/svc/infer",
            {"inputs": [{"name": "x", "shape": [2, 30], "datatype": "FP64", "data": ROW}]},
            422,
            "needs 60 values",
        ),
        ("/v2/models/svc/infer", {"nope": 1}, 400, ""),
        (
            "/v2/models/svc/infer",
            {
                "inputs": [
                    {"name": f"f{i}", "shape": [2, 20], "datatype": "FP64", "data": [1.0] * 40}
                    for i in range(30)
                ]
            },
            422,
            "",
        ),
        (
            "/v2/models/svc/infer",
            {"inputs": [{"name": "x", "shape": [1, 2**62, 4], "datatype": "FP64", "data": []}]},
            422,
            "",
        ),
        (
            "/v2/models/svc/infer",
            {
                "inputs": [
                    {"name": "x", "shape": [1, 30], "datatype": "FP64", "data": [10**400, *ROW[1:]]}
                ]
            },
            422,
            "numbers",
        ),
        (
            "/v2/models/svc/infer",
            {
                "inputs": [
                    {"name": "x", "shape": [1, 30], "datatype": "FP64", "data": ["15", *ROW[1:]]}
                ]
            },
            422,
            "numbers",
        ),
        (
            "/v2/models/svc/infer",
            {"inputs": [{"name": "x", "shape": [201, 30], "datatype": "FP64", "data": ROW * 201}]},
            413,
            "limit is 200",
        ),
        (
            "/v2/models/svc/infer",
            {
                "inputs": [{"name": "x", "shape": [1, 30], "datatype": "FP64", "data": ROW}],
                "parameters": {"top_k": True},
            },
            422,
            "top_k",
        ),
        (
            "/v2/models/svc/infer",
            {
                "inputs": [{"name": "x", "shape": [1, 30], "datatype": "FP64", "data": ROW}],
                "outputs": [{"name": "z"}],
            },
            422,
            "unknown outputs",
        ),
    ],
)
def test_v2_errors(client, path, request_body, status, message):
    response = client.post(path, content=json.dumps(request_body))
    assert response.status_code == status, response.text
    assert message in response.json()["error"]


def _samples(client) -> dict:
    text = client.get("/metrics").text
    out: dict = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_metrics_count_what_was_sent(client):
    before = _samples(client)
    key = ("scoring_requests_total", (("endpoint", "/score"), ("status", "200")))
    rows_key = ("scoring_rows_total", ())
    for n in (1, 3, 4):
        assert client.post("/score", content=json.dumps({"data": [ROW] * n})).status_code == 200
    client.post("/score", content=b"{bad")
    after = _samples(client)
    assert after[key] - before.get(key, 0) == 3
    assert after[rows_key] - before.get(rows_key, 0) == 8
    bad = ("scoring_requests_total", (("endpoint", "/score"), ("status", "400")))
    assert after[bad] - before.get(bad, 0) == 1
    assert (
        after[
            (
                "scoring_artifact_info",
                (
                    ("format_version", "2"),
                    ("kind", "kernel"),
                    ("n_features", "30"),
                    ("output_space", "probability"),
                    ("task", "classification"),
                ),
            )
        ]
        == 1
    )
    count = ("scoring_explain_duration_seconds_count", ())
    assert after[count] - before.get(count, 0) == 3
    assert after[("scoring_model_duration_seconds_count", ())] >= 3
    feature = ("scoring_feature_mean_abs_attribution_count", (("feature", "worst area"),))
    assert after[feature] - before.get(feature, 0) == 3


def test_openapi_describes_the_bodies(client):
    schema = client.get("/schema/openapi.json").json()
    score = schema["paths"]["/score"]["post"]
    assert len(score["requestBody"]["content"]["application/json"]["schema"]["oneOf"]) == 3
    assert score["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "ScoreResponse"
    )
    assert "/v2/models/{name}/infer" in schema["paths"]
    props = schema["components"]["schemas"]["ScoreResponse"]["properties"]
    assert {"predictions", "local_importance_values", "expected_values"} <= set(props)


def test_concurrent_requests_match_serial(client, reference, server):
    _, base, _ = reference
    rows = base[np.arange(16) % 5] * (1 + 0.01 * np.arange(16))[:, None]
    serial = [
        client.post("/score", content=json.dumps({"data": [r.tolist()]})).json() for r in rows
    ]
    results: list = [None] * len(rows)
    barrier = threading.Barrier(len(rows))

    def work(i: int) -> None:
        with httpx.Client(base_url=server.url, timeout=60) as c:
            barrier.wait()
            results[i] = c.post(
                "/score",
                content=json.dumps({"data": [rows[i].tolist()]}),
                headers={"content-type": "application/json"},
            )

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(rows))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, want in zip(results, serial, strict=True):
        assert got.status_code == 200
        assert got.json() == want


def test_the_service_never_imports_shap_or_sklearn(client, server):
    client.post("/score", content=json.dumps({"data": [ROW]}))
    client.post(
        "/v2/models/svc/infer",
        content=json.dumps(
            {"inputs": [{"name": "x", "shape": [1, 30], "datatype": "FP64", "data": ROW}]}
        ),
    )
    log = server.stderr.read_text()
    imported = {
        line.split("|")[-1].strip().split(".")[0]
        for line in log.splitlines()
        if line.startswith("import time:")
    }
    assert "onnxruntime" in imported and "litestar" in imported  # the check sees imports
    assert not imported & {"shap", "sklearn", "pandas", "scipy", "lightgbm", "xgboost"}


def test_score_py_contract(artifacts, reference):
    from service import score

    explainer, rows, _ = reference
    score.init(str(artifacts["svc"]))
    out = score.run(json.dumps({"data": rows.tolist()}))
    _assert_same(out, explainer, rows)
    assert "error" in score.run("{broken")
