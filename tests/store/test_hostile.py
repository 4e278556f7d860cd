"""Hostile and odd input against a real server: always a 4xx that names the problem (never a
500), nothing half written; a store that cannot be opened is a 503 while scoring goes on;
the client's errors for answers that are not the service's."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from scoring_explainers.client import ClientError, ExplanationClient, ServiceConnectionError
from tests.service.conftest import Server, start_server

from .conftest import classification_explanation, regression_explanation

KEY = "hostile-key"
AUTH = {"authorization": f"Bearer {KEY}"}
JSON = {**AUTH, "content-type": "application/json"}


@pytest.fixture(scope="module")
def server(artifacts, tmp_path_factory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("hostile-server")
    server = start_server(
        artifacts["svc"],
        tmp,
        env={"SCORING_API_KEY": KEY, "SCORING_STORE_PATH": str(tmp / "explanations.sqlite3")},
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def api(server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers=JSON, timeout=30) as client:
        yield client


def _with(**changes) -> bytes:
    data = classification_explanation(n_rows=5, n_features=3).to_dict()
    data.update({"id": str(uuid.uuid4()), **changes})
    return json.dumps({"explanation": data}).encode()


def _deep(levels: int) -> bytes:
    body = _with().decode()
    return body.replace(
        '"metadata": {', '"metadata": {"x": ' + "[" * levels + "]" * levels + ", ", 1
    ).encode()


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (_with(id=5), "explanation id must be a string"),
        (_with(id="latest"), "reserved"),
        (_with(eval_y_predicted=5), "eval_y_predicted must be a list"),
        (_with(eval_y_predicted=[[1]] * 5), "eval_y_predicted must be a list"),
        (_with(eval_y_predicted="abcde"), "eval_y_predicted must be a list"),
        (_with(features="abc"), "features must be a non-empty list"),
        (_with(features=[1, 2, 3]), "features must be strings"),
        (_with(features=["a", "a", "b"]), "features must be unique"),
        (_with(is_raw="false"), "is_raw must be true or false"),
        (_with(method={"a": 1}), "method must be a string"),
        (_with(method="shap\u0000"), "method must be a string"),
        (_with(classes=[[0], [1]]), "classes must be a list of labels"),
        (_with(classes=["no", "no"]), "classes must be unique"),
        (_with(num_examples=-5), "num_examples must be a positive integer"),
        (_with(num_examples=True), "num_examples must be a positive integer"),
        (_deep(300), "metadata nests deeper than 32 levels"),
    ],
)
def test_coerced_or_unencodable_members_are_a_422(api, body, match):
    answer = api.post("/explanations/hostile", content=body)
    assert answer.status_code == 422, answer.text
    assert match in answer.json()["error"]


def test_nothing_was_stored_by_the_refused_uploads(api):
    answer = api.get("/explanations/hostile")
    assert answer.status_code == 200 and answer.json() == []


def test_huge_top_k_keeps_every_feature(api):
    exp = regression_explanation()
    body = json.dumps({"explanation": exp.to_dict()})
    answer = api.post("/explanations/topk?top_k=" + "9" * 30, content=body)
    assert answer.status_code == 201, answer.text
    assert answer.json()["top_k"] == exp.num_features == answer.json()["num_features"]
    download = api.get("/explanations/topk/latest?top_k=" + "9" * 30)
    assert download.status_code == 200, download.text
    assert download.json()["record"]["top_k"] == exp.num_features


def test_comment_filters_and_comments_with_nul_are_a_422(api):
    for path in ("/explanations/any?comment=%00", "/explanations/any/latest?comment=a%00b"):
        answer = api.get(path)
        assert answer.status_code == 422 and "NUL" in answer.json()["error"]
    upload = json.dumps({"explanation": regression_explanation().to_dict(), "comment": "a\u0000"})
    answer = api.post("/explanations/any", content=upload)
    assert answer.status_code == 422 and "NUL" in answer.json()["error"]


def test_query_validation_names_the_parameter(api):
    answer = api.get("/explanations/any/latest?top_k=1.5")
    assert answer.status_code == 400
    assert "top_k: Expected `int | null`, got `str`" in answer.json()["error"]
    assert "ParamType" not in answer.json()["error"]


def test_sql_is_bound_not_spliced(api):
    exp = regression_explanation()
    comment = "x'); DROP TABLE explanations; --"
    body = json.dumps({"explanation": exp.to_dict(), "comment": comment})
    assert api.post("/explanations/sql", content=body).status_code == 201
    listed = api.get("/explanations/sql", params={"comment": comment}).json()
    assert [r["comment"] for r in listed] == [comment]
    assert api.get("/explanations/sql", params={"comment": "' OR '1'='1"}).json() == []


def test_concurrent_uploads_of_one_id_store_it_once(server):
    body = json.dumps({"explanation": regression_explanation().to_dict()})

    def upload(_: int) -> int:
        return httpx.post(
            server.url + "/explanations/race", content=body, headers=JSON, timeout=30
        ).status_code

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        statuses = sorted(pool.map(upload, range(8)))
    assert statuses == [201] + [409] * 7
    assert len(httpx.get(server.url + "/explanations/race", headers=AUTH).json()) == 1


def test_dashboard_with_a_trailing_slash_redirects_to_the_page(server):
    answer = httpx.get(server.url + "/dashboard/?run=r1", follow_redirects=True)
    assert answer.status_code == 200 and str(answer.url) == server.url + "/dashboard?run=r1"
    assert b"dashboard/static/dashboard.js" in answer.content


def test_an_unwritable_store_is_a_503_and_scoring_goes_on(artifacts, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")  # a directory that can never be created (also as root)
    server = start_server(
        artifacts["svc"],
        tmp_path,
        env={"SCORING_STORE_PATH": str(blocker / "explanations.sqlite3")},
    )
    try:
        deadline = time.monotonic() + 10
        while "explanation store unavailable" not in server.stderr.read_text():
            assert time.monotonic() < deadline, server.stderr.read_text()
            time.sleep(0.05)  # warned at start-up, before any request
        log = server.stderr.read_text()
        assert "WARNING" in log and "SCORING_STORE_PATH" in log and "scoring is not affected" in log
        for call in (
            lambda: httpx.get(server.url + "/explanations"),
            lambda: httpx.get(server.url + "/explanations/run/latest"),
            lambda: httpx.post(server.url + "/explanations/run", content=b"{}", headers=JSON),
        ):
            answer = call()
            assert answer.status_code == 503, answer.text
            assert "cannot open the SQLite store" in answer.json()["error"]
            assert str(blocker) in answer.json()["error"]
        from scoring_explainers.scoring import load

        features = load(artifacts["svc"]).features
        scored = httpx.post(server.url + "/score", json={"data": [[1.0] * len(features)]})
        assert scored.status_code == 200 and len(scored.json()["predictions"]) == 1
        assert httpx.get(server.url + "/readyz").status_code == 200
        assert server.stderr.read_text().count("explanation store unavailable") == 1
    finally:
        server.stop()


# -- the client's errors ------------------------------------------------------------------
def test_client_timeout_is_a_connection_error_that_says_so():
    with socket.socket() as silent:  # accepts, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        client = ExplanationClient(f"http://127.0.0.1:{silent.getsockname()[1]}", "r", timeout=0.3)
        with pytest.raises(ServiceConnectionError, match=r"did not answer GET within 0.3 s"):
            client.list_model_explanations()


def test_client_on_a_server_that_does_not_speak_http():
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen(1)

        def answer() -> None:
            conn, _ = other.accept()
            conn.recv(4096)
            conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
            conn.close()

        threading.Thread(target=answer, daemon=True).start()
        client = ExplanationClient(f"http://127.0.0.1:{other.getsockname()[1]}", "r", timeout=5)
        with pytest.raises(ServiceConnectionError, match="BadStatusLine: SSH-2.0"):
            client.list_model_explanations()


@pytest.fixture
def proxy() -> Iterator[str]:
    """A server answering like a proxy in front of the service: HTML errors, non-JSON."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            failing = "/bad" in self.path
            body = b"<html><h1>502 Bad Gateway</h1></html>" if failing else b"maintenance"
            self.send_response(502 if failing else 200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_client_errors_carry_non_json_bodies(proxy):
    with pytest.raises(ClientError, match=r"502 Bad Gateway: '<html><h1>502") as info:
        ExplanationClient(proxy, "bad").list_model_explanations()
    assert info.value.status == 502
    with pytest.raises(ClientError, match="with 200 but not JSON: 'maintenance'") as info:
        ExplanationClient(proxy, "good").list_model_explanations()
    assert info.value.status == 200


def test_client_checks_ids_before_sending():
    with pytest.raises(ValueError, match="run_id must be"):
        ExplanationClient("http://127.0.0.1:1", "a/b")
    client = ExplanationClient("http://127.0.0.1:1", "run")
    with pytest.raises(ValueError, match="explanation_id must be"):
        client.download_model_explanation(explanation_id="../x")
    with pytest.raises(ValueError, match="explanation_id must be"):
        client.delete_model_explanation("a/b")


def test_client_sends_numpy_scalars_in_true_ys(server):
    import numpy as np

    client = ExplanationClient(server.url, "numpy-labels", api_key=KEY)
    exp = regression_explanation()
    labels = [np.int64(v) for v in range(exp.num_examples)]  # not JSON-serialisable as is
    client.upload_model_explanation(exp, true_ys=labels)
    assert client.download_true_ys() == list(range(exp.num_examples))
