"""A request's work ends with its client or its deadline, and never blocks the event loop;
against a real ``python -m service`` with Kernel artifacts, the server's CPU time read from
``/proc``."""

from __future__ import annotations

import json
import os
import socket
import time

import httpx
import numpy as np
import pytest

from tests.service.conftest import start_server


def serve(artifact, tmp, env: dict[str, str] | None = None):
    """``python -m service`` with its store in ``tmp``: nothing is written into the checkout."""
    return start_server(
        artifact, tmp, env={"SCORING_STORE_PATH": str(tmp / "store.sqlite3"), **(env or {})}
    )


TICK = os.sysconf("SC_CLK_TCK")
ROWS = 1000
DEADLINE_503 = (
    "the request's deadline of 1 s passed before its explanation finished; it was stopped "
    "(send fewer rows per request)"
)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (every thread)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def _connect(server) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)))


def raw_request(path: str, body: dict) -> bytes:
    payload = json.dumps(body).encode()
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Connection: close\r\nContent-Length: {len(payload)}\r\n\r\n"
    ).encode() + payload


def bodies(rows: np.ndarray) -> dict[str, tuple[str, dict]]:
    """The same rows for the fast /score path, the Litestar handler and V2 infer."""
    data = {"data": rows.tolist()}
    v2 = {
        "inputs": [
            {"name": "x", "shape": list(rows.shape), "datatype": "FP64", "data": rows.tolist()}
        ]
    }
    # with a tolerance no row reaches: every checkpoint of every row is evaluated
    v2_tolerance = {**v2, "parameters": {"tolerance": 1e-12}}
    return {
        "score": ("/score", data),
        "score-litestar": ("/score?unused=1", data),  # another query string: not the fast path
        "v2": ("/v2/models/svc/infer", v2),
        "score-tolerance": ("/score?tolerance=1e-12", data),
        "score-uncertainty-litestar": ("/score?uncertainty=True", data),  # Litestar parses it
        "v2-tolerance": ("/v2/models/svc/infer", v2_tolerance),
    }


PATHS = ["score", "score-litestar", "v2", "score-tolerance", "score-uncertainty-litestar",
         "v2-tolerance"]  # fmt: skip


@pytest.fixture(scope="module")
def many_rows(seed_data):
    x_train = seed_data[0]
    return np.tile(x_train, (3, 1))[:ROWS]


@pytest.fixture(scope="module")
def kernel_server(artifacts, tmp_path_factory):
    srv = serve(
        artifacts["svc"],
        tmp_path_factory.mktemp("kernel"),
        env={"SCORING_MAX_ROWS": str(ROWS), "SCORING_MAX_BODY_BYTES": str(2**24)},
    )
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def full_cost(kernel_server, many_rows):
    """CPU seconds the server spends on all ROWS rows, from the cost of 100 of them."""
    pid = kernel_server.process.pid
    before = cpu_seconds(pid)
    response = httpx.post(
        kernel_server.url + "/score", json={"data": many_rows[:100].tolist()}, timeout=120
    )
    assert response.status_code == 200
    return (cpu_seconds(pid) - before) * ROWS / 100


@pytest.mark.parametrize("path", PATHS)
def test_a_client_that_leaves_stops_its_explanation(kernel_server, many_rows, full_cost, path):
    pid = kernel_server.process.pid
    url, body = bodies(many_rows)[path]
    start = cpu_seconds(pid)
    with _connect(kernel_server) as sock:
        sock.sendall(raw_request(url, body))
        deadline = time.monotonic() + 30
        while cpu_seconds(pid) - start < 0.3 and time.monotonic() < deadline:
            time.sleep(0.05)  # the explanation is under way
    spent_before_leaving = cpu_seconds(pid) - start
    time.sleep(0.5)  # the current chunk ends
    window_start = cpu_seconds(pid)
    time.sleep(3.0)
    after = cpu_seconds(pid) - window_start
    assert spent_before_leaving >= 0.3
    # Still running, the explanation would use a CPU (or a share of one on a busy
    # machine) for most of the 3 s window: ~full_cost - 0.3 s of work remain.
    assert after < 0.05 * full_cost, (after, full_cost)
    health = httpx.get(kernel_server.url + "/healthz", timeout=10)
    assert health.status_code == 200
    small = httpx.post(
        kernel_server.url + "/score", json={"data": many_rows[:2].tolist()}, timeout=30
    )
    assert small.status_code == 200


@pytest.fixture(scope="module")
def deadline_server(artifacts, tmp_path_factory):
    srv = serve(
        artifacts["svc"],
        tmp_path_factory.mktemp("deadline"),
        env={
            "SCORING_MAX_ROWS": str(ROWS),
            "SCORING_MAX_BODY_BYTES": str(2**24),
            "SCORING_REQUEST_TIMEOUT_SECONDS": "1",
        },
    )
    yield srv
    srv.stop()


@pytest.mark.parametrize("path", PATHS)
def test_the_deadline_stops_a_slow_request_with_a_503(deadline_server, many_rows, path):
    pid = deadline_server.process.pid
    url, body = bodies(many_rows)[path]
    start = time.monotonic()
    response = httpx.post(
        deadline_server.url + url,
        content=json.dumps(body),
        headers={"content-type": "application/json"},
        timeout=120,
    )
    seconds = time.monotonic() - start
    window_start = cpu_seconds(pid)
    time.sleep(2.0)
    after = cpu_seconds(pid) - window_start
    assert response.status_code == 503
    assert response.json() == {"error": DEADLINE_503, "status": 503}
    assert seconds < 30  # the whole explanation is several CPU seconds
    assert after < 0.2, after  # and it stopped
    small = httpx.post(
        deadline_server.url + url,
        content=json.dumps(bodies(many_rows[:2])[path][1]),
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert small.status_code == 200
    assert httpx.get(deadline_server.url + "/healthz", timeout=10).status_code == 200


def _slow_graph() -> bytes:
    """A regression graph whose cost the data decides: predictions = x0 + x1, plus 0 times
    the sum of a k x k matrix product, k = |x[0, 0]|. Rows of zeros (the warm-up) cost
    nothing; a row with x0 = 3500 costs seconds."""
    import onnx
    from onnx import TensorProto, helper

    def constant(name: str, values: list, dtype: int = TensorProto.INT64) -> onnx.NodeProto:
        tensor = helper.make_tensor(name, dtype, [len(values)], values)
        return helper.make_node("Constant", [], [name], value=tensor)

    one = helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])
    nodes = [
        constant("axis1", [1]),
        constant("starts", [0, 0]),
        constant("ends", [1, 1]),
        constant("axes", [0, 1]),
        constant("flat", [1]),
        constant("zero", [0.0], TensorProto.FLOAT),
        helper.make_node("ReduceSum", ["X", "axis1"], ["base"], keepdims=1),
        helper.make_node("Slice", ["X", "starts", "ends", "axes"], ["x00"]),
        helper.make_node("Abs", ["x00"], ["size"]),
        helper.make_node("Cast", ["size"], ["k2"], to=TensorProto.INT64),
        helper.make_node("Reshape", ["k2", "flat"], ["k"]),
        helper.make_node("Concat", ["k", "k"], ["kk"], axis=0),
        helper.make_node("ConstantOfShape", ["kk"], ["A"], value=one),
        helper.make_node("MatMul", ["A", "A"], ["B"]),
        helper.make_node("ReduceSum", ["B"], ["total"], keepdims=0),
        helper.make_node("Mul", ["total", "zero"], ["nothing"]),
        helper.make_node("Add", ["base", "nothing"], ["predictions"]),
    ]
    graph = helper.make_graph(
        nodes,
        "data_decides_the_cost",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("predictions", TensorProto.FLOAT, [None, 1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


@pytest.fixture(scope="module")
def slow_graph_server(tmp_path_factory):
    from scoring_explainers.scoring import KernelScoringExplainer, save

    tmp = tmp_path_factory.mktemp("slow_graph")
    explainer = KernelScoringExplainer.from_model(
        _slow_graph(), np.zeros((1, 2)), nclusters=None, allow_missing=False, features=["a", "b"]
    )
    save(explainer, tmp / "artifact")
    srv = serve(tmp / "artifact", tmp)
    yield srv
    srv.stop()


def test_a_graph_cheap_at_load_time_does_not_block_healthz(slow_graph_server):
    """The warm-up (rows of zeros) says a one-row request costs microseconds; this row
    costs seconds. Kernel requests never run on the event loop: /healthz is answered while
    the request is still being scored."""
    pid = slow_graph_server.process.pid
    start = cpu_seconds(pid)
    with _connect(slow_graph_server) as sock:
        sock.sendall(raw_request("/score", {"data": [[3500.0, 1.0]]}))
        deadline = time.monotonic() + 30
        while cpu_seconds(pid) - start < 0.2 and time.monotonic() < deadline:
            time.sleep(0.02)  # the model is running
        health = httpx.get(slow_graph_server.url + "/healthz", timeout=10)
        sock.settimeout(0)
        try:
            answered = sock.recv(1) != b""
        except BlockingIOError:
            answered = False
    assert health.status_code == 200
    assert health.elapsed.total_seconds() < 1.0
    assert not answered, "the request finished before the probe: nothing was measured"


def test_only_artifacts_that_run_no_graph_are_scored_on_the_event_loop(
    artifacts, seed_data, tmp_path
):
    """Linear with a numpy link and no preprocessing: inline while measured under 0.5 ms;
    a Kernel artifact (and a linear one that runs its graph) never, however cheap."""
    from sklearn.linear_model import SGDClassifier

    from scoring_explainers.scoring import LinearScoringExplainer, save
    from service import Settings
    from service.runtime import ScoringRuntime

    x_train, _, y_train, _, names = seed_data
    sgd = SGDClassifier(loss="log_loss", random_state=0).fit(x_train, y_train)
    graph_linear = LinearScoringExplainer.from_model(sgd, x_train, features=names)
    assert graph_linear.link == "onnx"
    save(graph_linear, tmp_path / "sgd")

    def runtime(path) -> ScoringRuntime:
        rt = ScoringRuntime(Settings(artifact=str(path), store_path=""))
        rt.load()
        return rt

    ridge = runtime(artifacts["ridge"])
    assert ridge.is_cheap(1)
    assert not ridge.is_cheap(10**6)
    assert not runtime(artifacts["svc"]).is_cheap(1)
    assert not runtime(tmp_path / "sgd").is_cheap(1)
