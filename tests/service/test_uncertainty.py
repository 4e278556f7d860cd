"""Standard errors and a tolerance over real HTTP on 127.0.0.1: ``/score?uncertainty=`` and
``?tolerance=``, the V2 outputs and parameters, the metrics, ``run()``; the served numbers
are the library's for the same artifact and rows, bit for bit."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import numpy as np
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from scoring_explainers.scoring import load
from service import score
from service.runtime import encode

from .conftest import Server, start_server

ROWS = 6


@pytest.fixture(scope="module")
def kernel(artifacts):
    return load(artifacts["svc"])


@pytest.fixture(scope="module")
def server(artifacts, tmp_path_factory) -> Iterator[Server]:
    srv = start_server(artifacts["svc"], tmp_path_factory.mktemp("uncertainty"))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def client(server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=120) as c:
        yield c


@pytest.fixture(scope="module")
def rows(seed_data) -> np.ndarray:
    return seed_data[1][:ROWS]


def post(client: httpx.Client, rows: np.ndarray, query: str = "") -> httpx.Response:
    return client.post(
        "/score" + query, content=orjson.dumps({"data": rows.tolist()}),
        headers={"content-type": "application/json"},
    )  # fmt: skip


def test_uncertainty_serves_the_librarys_standard_errors(client, kernel, rows):
    plain = post(client, rows)
    assert plain.status_code == 200
    # without the parameters: the body as before, byte for byte
    assert plain.content == encode(kernel.score(rows).to_body(arrays=True))
    assert "standard_errors" not in plain.json()
    want = kernel.score(rows, uncertainty=True)
    for query in ("?uncertainty=true", "?uncertainty=1", "?uncertainty=True"):
        answer = post(client, rows, query)
        assert answer.status_code == 200, answer.text
        assert answer.content == encode(want.to_body(arrays=True))
        body = answer.json()
        se = np.asarray(body["standard_errors"])
        assert se.shape == (2, ROWS, 30) == np.shape(body["local_importance_values"])
        np.testing.assert_array_equal(se, want.standard_errors)  # exact
        assert se.min() >= 0 and se.max() > 0  # a sampled design: not exact
        # the values themselves do not change when their errors are asked for
        assert body["local_importance_values"] == plain.json()["local_importance_values"]
        np.testing.assert_array_equal(body["coalitions_used"], want.coalitions_used)
    assert post(client, rows, "?uncertainty=false").content == plain.content


def test_a_tolerance_stops_early_for_an_easy_row(client, kernel, seed_data):
    """Rows whose errors fall fast stop at a checkpoint; the served values, errors and
    coalitions are the library's for the same tolerance, and no row goes past the
    budget."""
    x = seed_data[1][:40]
    full = kernel.score(x, uncertainty=True)
    budget = int(full.coalitions_used.max())
    worst = full.standard_errors.max(axis=(0, 2))  # per row, at the full budget
    tolerance = float(np.quantile(worst, 0.5))
    want = kernel.score(x, tolerance=tolerance)
    answer = post(client, x, f"?tolerance={tolerance!r}")
    assert answer.status_code == 200, answer.text
    assert answer.content == encode(want.to_body(arrays=True))
    body = answer.json()
    used = np.asarray(body["coalitions_used"])
    np.testing.assert_array_equal(used, want.coalitions_used)
    np.testing.assert_array_equal(body["standard_errors"], want.standard_errors)
    assert used.max() <= budget
    easy = int(np.argmin(used))
    assert used[easy] < budget  # stopped early ...
    assert np.max(np.asarray(body["standard_errors"])[:, easy]) <= tolerance  # ... below it
    assert used.max() > used[easy]  # harder rows went on
    # a row alone gets what it got in the batch
    alone = post(client, x[easy : easy + 1], f"?tolerance={tolerance!r}").json()
    assert alone["coalitions_used"] == [used[easy]]
    assert (
        alone["local_importance_values"]
        == np.asarray(body["local_importance_values"])[:, easy : easy + 1].tolist()
    )


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("?uncertainty=yes", 400, "uncertainty: Expected `bool | null`, got `str`"),
        ("?uncertainty=", 400, "uncertainty: Expected `bool | null`, got `str`"),
        ("?tolerance=abc", 400, "tolerance: Expected `float | null`, got `str`"),
        ("?tolerance=1e999", 400, "tolerance: Number out of range"),
        ("?tolerance=0", 422, "tolerance must be a positive finite number, got 0.0"),
        ("?tolerance=-0.5", 422, "tolerance must be a positive finite number, got -0.5"),
        ("?tolerance=nan", 422, "tolerance must be a positive finite number, got nan"),
        ("?tolerance=inf", 422, "tolerance must be a positive finite number, got inf"),
    ],
)
def test_bad_parameters_are_4xx_with_a_message(client, rows, query, status, message):
    answer = post(client, rows[:1], query)
    assert answer.status_code == status
    body = answer.json()
    assert body["status"] == status and body["error"].endswith(message), body


def v2(client: httpx.Client, rows: np.ndarray, model: str = "svc", **extra) -> httpx.Response:
    request = {
        "inputs": [
            {"name": "x", "shape": list(rows.shape), "datatype": "FP64",
             "data": rows.ravel().tolist()}
        ],
        **extra,
    }  # fmt: skip
    return client.post(f"/v2/models/{model}/infer", json=request)


def outputs(answer: httpx.Response) -> dict[str, np.ndarray]:
    assert answer.status_code == 200, answer.text
    return {o["name"]: np.asarray(o["data"]).reshape(o["shape"]) for o in answer.json()["outputs"]}


def test_v2_standard_errors_output(client, kernel, rows):
    want = kernel.score(rows, uncertainty=True)
    plain = outputs(v2(client, rows))
    assert list(plain) == [
        "predictions",
        "probabilities",
        "local_importance_values",
        "expected_values",
    ]
    asked = outputs(v2(client, rows, parameters={"uncertainty": True}))
    assert list(asked) == [*plain, "standard_errors", "coalitions_used"]
    np.testing.assert_array_equal(asked["standard_errors"], want.standard_errors)
    np.testing.assert_array_equal(asked["coalitions_used"], want.coalitions_used)
    np.testing.assert_array_equal(
        asked["local_importance_values"], plain["local_importance_values"]
    )
    # asked for by name: that output alone, computed
    by_name = outputs(v2(client, rows, outputs=[{"name": "standard_errors"}]))
    assert list(by_name) == ["standard_errors"]
    np.testing.assert_array_equal(by_name["standard_errors"], want.standard_errors)
    answer = v2(client, rows, outputs=[{"name": "coalitions_used"}])
    assert answer.json()["outputs"][0]["datatype"] == "INT64"


def test_v2_tolerance(client, kernel, seed_data):
    x = seed_data[1][:10]
    want = kernel.score(x, tolerance=0.01)
    got = outputs(v2(client, x, parameters={"tolerance": 0.01}))
    np.testing.assert_array_equal(got["coalitions_used"], want.coalitions_used)
    np.testing.assert_array_equal(got["standard_errors"], want.standard_errors)
    np.testing.assert_array_equal(got["local_importance_values"], want.local_importance_values)


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"uncertainty": "yes"}, "parameters.uncertainty must be true or false, got 'yes'"),
        ({"uncertainty": 1}, "parameters.uncertainty must be true or false, got 1"),
        ({"tolerance": "0.1"}, "parameters.tolerance must be a number, got '0.1'"),
        ({"tolerance": True}, "parameters.tolerance must be a number, got True"),
        ({"tolerance": 0}, "tolerance must be a positive finite number, got 0"),
        ({"tolerance": -1.5}, "tolerance must be a positive finite number, got -1.5"),
    ],
)
def test_v2_bad_parameters_are_422(client, rows, parameters, message):
    answer = v2(client, rows[:1], parameters=parameters)
    assert answer.status_code == 422
    assert answer.json()["error"] == message


def test_v2_tolerance_beyond_float64_is_a_400(client, rows):
    request = {
        "inputs": [{"name": "x", "shape": [1, 30], "datatype": "FP64", "data": rows[0].tolist()}],
        "parameters": {"tolerance": 12345.0},
    }
    body = orjson.dumps(request).replace(b"12345.0", b"1e999")
    answer = client.post("/v2/models/svc/infer", content=body)
    assert answer.status_code == 400
    assert answer.json()["error"].startswith("not an inference request: Number out of range")


def test_v2_metadata_lists_the_outputs(client):
    meta = client.get("/v2/models/svc").json()
    listed = {o["name"]: o for o in meta["outputs"]}
    assert listed["standard_errors"] == {
        "name": "standard_errors",
        "datatype": "FP64",
        "shape": [2, -1, 30],
    }
    assert listed["coalitions_used"] == {
        "name": "coalitions_used",
        "datatype": "INT64",
        "shape": [-1],
    }


def coalition_counts(client: httpx.Client) -> tuple[float, float]:
    text = client.get("/metrics").text
    samples = {
        s.name: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.startswith("scoring_coalitions_used")
    }
    return samples["scoring_coalitions_used_count"], samples["scoring_coalitions_used_sum"]


def test_metrics_count_the_coalitions_of_tolerance_requests(client, kernel, rows):
    before = coalition_counts(client)
    assert post(client, rows, "?uncertainty=true").status_code == 200  # no tolerance: none
    assert coalition_counts(client) == before
    answer = post(client, rows, "?tolerance=0.02")
    assert answer.status_code == 200
    count, total = coalition_counts(client)
    assert count - before[0] == ROWS
    assert total - before[1] == sum(answer.json()["coalitions_used"])


def test_run_passes_the_parameters_through(artifacts, kernel, rows):
    score.init(str(artifacts["svc"]))
    body = orjson.dumps({"data": rows.tolist()})
    got = score.run(body, uncertainty=True)
    assert got == kernel.score(rows, uncertainty=True).to_body()
    got = score.run(body, tolerance=0.05, top_k=2)
    assert got == kernel.score(rows, tolerance=0.05).to_body(top_k=2)
    assert score.run(body, tolerance=-1) == {
        "error": "tolerance must be a positive finite number, got -1"
    }


def test_exact_explainers_serve_zero_errors(artifacts, small_regression, tmp_path):
    x = small_regression[0][:4]
    srv = start_server(artifacts["ridge"], tmp_path)
    try:
        with httpx.Client(base_url=srv.url, timeout=60) as c:
            body = post(c, x, "?uncertainty=true&tolerance=0.5").json()
    finally:
        srv.stop()
    assert np.shape(body["standard_errors"]) == (4, 6)
    assert not np.any(body["standard_errors"])
    assert body["coalitions_used"] == [0, 0, 0, 0]


def test_openapi_documents_the_parameters_and_fields(client):
    doc = client.get("/schema/openapi.json").json()
    parameters = {p["name"]: p for p in doc["paths"]["/score"]["post"]["parameters"]}
    kinds = {
        name: [s["type"] for s in parameters[name]["schema"]["oneOf"]]
        for name in ("top_k", "uncertainty", "tolerance")
    }
    assert kinds == {
        "top_k": ["integer", "null"],
        "uncertainty": ["boolean", "null"],
        "tolerance": ["number", "null"],
    }
    assert all(parameters[n]["in"] == "query" for n in kinds)
    assert "standard error" in parameters["uncertainty"]["description"]
    assert "standard error" in parameters["tolerance"]["description"]
    fields = doc["components"]["schemas"]["ScoreResponse"]["properties"]
    assert fields["coalitions_used"]["oneOf"][0]["items"]["type"] == "integer"
    assert fields["standard_errors"]["oneOf"][0]["type"] == "array"


def legacy_artifact(kernel, folder):
    """The seed SVC's sampled design saved as before designs kept their sampling units."""
    from scoring_explainers.scoring import KernelScoringExplainer, save

    legacy = KernelScoringExplainer(
        model=kernel.model,
        background=kernel.background_,
        background_weights=kernel.background_weights_,
        masks=kernel.masks_,
        coalition_weights=kernel.coalition_weights_,
        exact=False,
        features=kernel.features,
        classes=kernel.classes,
        output_space=kernel.output_space,
        expected_values=kernel.expected_values,
        allow_missing=False,
    )
    assert legacy.units_ is None
    save(legacy, folder)
    assert "units" not in orjson.loads((folder / "manifest.json").read_bytes())["settings"]
    return folder


def test_a_legacy_kernel_artifact_refuses_with_the_librarys_message(kernel, rows, tmp_path):
    folder = legacy_artifact(kernel, tmp_path / "legacy")
    message = (
        "this explainer's coalition design has no sampling units (it was distilled before "
        "standard errors existed): re-distill it for uncertainty or tolerance"
    )
    with pytest.raises(ValueError, match=r"re-distill it for uncertainty or tolerance"):
        load(folder).score(rows[:1], uncertainty=True)
    srv = start_server(folder, tmp_path)
    try:
        with httpx.Client(base_url=srv.url, timeout=60) as c:
            plain = post(c, rows[:2])
            assert plain.status_code == 200 and "standard_errors" not in plain.json()
            for query in ("?uncertainty=true", "?tolerance=0.01"):
                answer = post(c, rows[:2], query)
                assert (answer.status_code, answer.json()) == (
                    422,
                    {"error": message, "status": 422},
                )
            answer = v2(c, rows[:1], "legacy", parameters={"uncertainty": True})
            assert (answer.status_code, answer.json()["error"]) == (422, message)
            assert c.get("/readyz").status_code == 200  # nothing broke
            listed = [o["name"] for o in c.get("/v2/models/legacy").json()["outputs"]]
            assert listed == [
                "predictions",
                "probabilities",
                "local_importance_values",
                "expected_values",
            ]
    finally:
        srv.stop()


def test_the_store_keeps_uploaded_standard_errors(server, kernel, rows):
    from scoring_explainers.client import ExplanationClient
    from scoring_explainers.explanation import LocalExplanation

    result = kernel.score(rows, uncertainty=True)
    explanation = LocalExplanation(
        local_importance_values=result.local_importance_values,
        standard_errors=result.standard_errors,
        features=result.features,
        classes=result.classes,
        expected_values=result.expected_values,
        method="shap.kernel",
        model_task="classification",
    )
    client = ExplanationClient(server.url, "with-errors")
    client.upload_model_explanation(explanation)
    back = client.download_model_explanation()
    assert back == explanation
    np.testing.assert_array_equal(back.standard_errors, result.standard_errors)  # bit-exact
    top = client.download_model_explanation(top_k=3)  # global values only: no rows, no errors
    assert top.standard_errors is None and not top.has_local
