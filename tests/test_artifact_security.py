"""Crafted artifacts against ``load`` and a real service: each hole reproduced, each refused
with one ArtifactError naming the file and the problem; every artifact kind the suite
builds still loads and explains as before."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import httpx
import numpy as np
import pytest

from scoring_explainers import ArtifactError
from scoring_explainers.runtime._artifact_files import ArtifactDirectory
from scoring_explainers.scoring import (
    KernelScoringExplainer,
    LinearScoringExplainer,
    TreeScoringExplainer,
    load,
    save,
)
from tests.test_artifact_onnx_audit import (
    COEF,
    N_FEATURES,
    external,
    function_model,
    if_model,
    linear_model,
    loop_model,
    tensor,
)

REPO = Path(__file__).resolve().parents[1]
SECRET = b"TOPSECRET-db-password-0123456789"


# -- helpers ---------------------------------------------------------------------------------
def _manifest(root: Path) -> dict:
    return json.loads((root / "manifest.json").read_text())


def _write_manifest(root: Path, manifest: dict) -> None:
    (root / "manifest.json").write_text(json.dumps(manifest))


def _put(root: Path, name: str, data: bytes, **settings) -> None:
    """Replace ``name`` and re-hash it in the manifest: only the audit stands in the way."""
    (root / name).write_bytes(data)
    manifest = _manifest(root)
    manifest["files"][name] = hashlib.sha256(data).hexdigest()
    manifest["settings"].update(settings)
    _write_manifest(root, manifest)


def leak_graph(n: int = len(SECRET)) -> bytes:
    """A regression graph whose prediction for row i is byte i % n of ``secret.txt`` (read
    by onnxruntime as external data from the working directory)."""
    from onnx import TensorProto, helper

    secret = external(tensor("secret", np.zeros(n, dtype=np.uint8), dtype=np.uint8))
    nodes = [
        helper.make_node("Cast", ["secret"], ["bytes"], to=TensorProto.FLOAT),
        helper.make_node("Shape", ["X"], ["shape"]),
        helper.make_node("Gather", ["shape", "zero"], ["rows"], axis=0),
        helper.make_node("Range", ["zero", "rows", "one"], ["index"]),
        helper.make_node("Mod", ["index", "n"], ["wrapped"]),
        helper.make_node("Gather", ["bytes", "wrapped"], ["picked"], axis=0),
        helper.make_node("Unsqueeze", ["picked", "axis"], ["predictions"]),
    ]
    graph = helper.make_graph(
        nodes,
        "leak",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, N_FEATURES])],
        [helper.make_tensor_value_info("predictions", TensorProto.FLOAT, [None, 1])],
        [
            secret,
            tensor("zero", 0, dtype=np.int64),
            tensor("one", 1, dtype=np.int64),
            tensor("n", n, dtype=np.int64),
            tensor("axis", [1], dtype=np.int64),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


@pytest.fixture(scope="module")
def ridge():
    from sklearn.datasets import make_regression
    from sklearn.linear_model import Ridge

    X, y = make_regression(n_samples=200, n_features=N_FEATURES, noise=1.0, random_state=3)
    model = Ridge().fit(X, y)
    return model, LinearScoringExplainer.from_model(model, X), X


@pytest.fixture
def linear_artifact(ridge, tmp_path) -> Path:
    """A Linear artifact whose predictions come from its model.onnx (link 'onnx')."""
    root = save(ridge[1], tmp_path / "linear")
    manifest = _manifest(root)
    manifest["settings"]["link"] = "onnx"
    _write_manifest(root, manifest)
    return root


@pytest.fixture
def leaking_artifact(linear_artifact, tmp_path):
    _put(linear_artifact, "model.onnx", leak_graph())
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (cwd / "secret.txt").write_bytes(SECRET)
    return linear_artifact, cwd


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Server:
    """``python -m service`` on 127.0.0.1 from ``cwd``; up once /healthz answers."""

    def __init__(self, artifact: Path, cwd: Path, env: dict[str, str] | None = None) -> None:
        self.log = cwd.parent / f"server-{cwd.name}.log"
        port = _free_port()
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("SCORING_")}
        full_env["PYTHONPATH"] = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
        full_env["SCORING_LOAD_RETRY_SECONDS"] = "1"
        full_env["SCORING_STORE_PATH"] = str(cwd.parent / "store.sqlite3")
        full_env.update(env or {})
        self.process = subprocess.Popen(
            [sys.executable, "-m", "service", "--artifact", str(artifact), "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("wb"),
            env=full_env,
            cwd=cwd,
        )
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()[-2000:]
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise AssertionError(f"server not up: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


ROW = {"data": [[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]]}


# -- ONNX external data: the leak ------------------------------------------------------------
def test_external_data_leaks_a_file_of_the_working_directory_and_is_refused(leaking_artifact):
    """onnxruntime, given the graph's bytes, reads secret.txt from the working directory
    (the hole); load refuses the artifact, and our session options alone refuse the graph."""
    artifact, cwd = leaking_artifact
    script = f"""
import json, numpy as np, onnxruntime as ort
from scoring_explainers import ArtifactError
from scoring_explainers.scoring import load
from scoring_explainers.runtime._onnx_model import OnnxModel
data = open({str(artifact / "model.onnx")!r}, "rb").read()
session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
(out,) = session.run(None, {{"X": np.zeros(({len(SECRET)}, 6), np.float32)}})
report = {{"leaked": bytes(out.ravel().astype(np.uint8)).decode()}}
for name, call in (("load", lambda: load({str(artifact)!r})),
                   ("session", lambda: OnnxModel(data, task="regression", n_features=6))):
    try:
        call()
        report[name] = "loaded"
    except ArtifactError as exc:
        report[name] = str(exc)
print(json.dumps(report))
"""
    path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=120, check=True,
    )  # fmt: skip
    report = json.loads(done.stdout)
    assert report["leaked"] == SECRET.decode()  # the attack works on a bare session
    assert report["load"] == (
        "model.onnx: tensor 'secret' (graph, initializer) uses ONNX external data at "
        "'secret.txt': refused, an artifact's graphs must hold every tensor in the file"
    )
    assert report["session"].startswith("model.onnx: onnxruntime cannot load the model")
    assert "External data path" in report["session"]


def test_the_service_stays_up_not_ready_and_never_answers_the_secret(leaking_artifact):
    artifact, cwd = leaking_artifact
    server = _Server(artifact, cwd)
    try:
        ready = httpx.get(server.url + "/readyz", timeout=10)
        assert ready.status_code == 503
        assert (
            "model.onnx: tensor 'secret' (graph, initializer) uses ONNX external data at "
            "'secret.txt'" in ready.json()["error"]
        )
        score = httpx.post(server.url + "/score", json=ROW, timeout=10)
        assert score.status_code == 503
        assert SECRET.decode() not in score.text and "TOPSECRET" not in ready.text
        assert httpx.get(server.url + "/healthz", timeout=10).status_code == 200
        assert "uses ONNX external data at 'secret.txt'" in server.log.read_text()
    finally:
        server.stop()


# -- files: symlinks, FIFOs, directories -------------------------------------------------------
@pytest.mark.parametrize("name", ["manifest.json", "model.onnx", "arrays.npz"])
def test_a_symlinked_file_is_refused_even_with_the_right_bytes(linear_artifact, tmp_path, name):
    target = tmp_path / f"elsewhere-{name}"
    shutil.move(linear_artifact / name, target)
    (linear_artifact / name).symlink_to(target)  # same bytes: the hash would match
    with pytest.raises(ArtifactError, match=f"^{name}: is a symbolic link"):
        load(linear_artifact)


def test_the_artifact_directory_itself_may_be_a_symlink(linear_artifact, ridge, tmp_path):
    link = tmp_path / "mounted"
    link.symlink_to(linear_artifact, target_is_directory=True)
    X = ridge[2]
    np.testing.assert_array_equal(load(link).explain(X[:5]), ridge[1].explain(X[:5]))


def test_files_are_read_from_the_directory_as_resolved_once(linear_artifact, tmp_path):
    """A swap after the directory is opened changes nothing: the directory is resolved once,
    and a file replaced by a link between open and read is refused."""
    other = tmp_path / "other"
    other.mkdir()
    (other / "manifest.json").write_text("{}")
    link = tmp_path / "current"
    link.symlink_to(linear_artifact, target_is_directory=True)
    with ArtifactDirectory(link) as root:
        link.unlink()
        link.symlink_to(other, target_is_directory=True)  # the volume is swapped
        assert root.read("manifest.json") == (linear_artifact / "manifest.json").read_bytes()
        (linear_artifact / "model.onnx").rename(tmp_path / "model.onnx")
        (linear_artifact / "model.onnx").symlink_to(tmp_path / "model.onnx")
        with pytest.raises(ArtifactError, match="^model.onnx: is a symbolic link"):
            root.read("model.onnx")


def _load_in_thread(root: Path) -> BaseException | None:
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            load(root)
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(60)
    assert outcome, "load blocked"
    return outcome[0]


def test_a_fifo_is_refused_without_waiting_for_a_writer(linear_artifact):
    (linear_artifact / "model.onnx").unlink()
    os.mkfifo(linear_artifact / "model.onnx")
    error = _load_in_thread(linear_artifact)
    assert isinstance(error, ArtifactError)
    assert str(error) == "model.onnx: is a FIFO; artifact files must be regular files"


def test_a_directory_in_place_of_a_file_is_refused(linear_artifact):
    (linear_artifact / "arrays.npz").unlink()
    (linear_artifact / "arrays.npz").mkdir()
    with pytest.raises(
        ArtifactError, match="^arrays.npz: is a directory; artifact files must be regular files"
    ):
        load(linear_artifact)


# -- graphs in real artifacts ----------------------------------------------------------------
def test_loop_is_refused_by_default_and_runs_when_allowed(linear_artifact, ridge):
    model, explainer, X = ridge
    graph = loop_model(explainer.coef_[0], float(explainer.intercept_[0]))
    _put(linear_artifact, "model.onnx", graph.SerializeToString())
    with pytest.raises(ArtifactError, match=r"^model.onnx: graph, node 1 \(Loop\) is a Loop"):
        load(linear_artifact)
    loaded = load(linear_artifact, allow_loop=True)
    result = loaded.score(X[:20])
    np.testing.assert_allclose(result.predictions, model.predict(X[:20]), rtol=1e-4, atol=1e-3)
    np.testing.assert_array_equal(result.local_importance_values, explainer.explain(X[:20]))


def test_the_service_allows_loop_only_with_its_setting(linear_artifact, ridge, tmp_path):
    model, explainer, X = ridge
    graph = loop_model(explainer.coef_[0], float(explainer.intercept_[0]))
    _put(linear_artifact, "model.onnx", graph.SerializeToString())
    for allow, cwd in (("", tmp_path / "a"), ("true", tmp_path / "b")):
        cwd.mkdir()
        server = _Server(linear_artifact, cwd, {"SCORING_ALLOW_LOOP": allow} if allow else {})
        try:
            ready = httpx.get(server.url + "/readyz", timeout=10)
            score = httpx.post(server.url + "/score", json={"data": X[:3].tolist()}, timeout=10)
        finally:
            server.stop()
        if not allow:
            assert ready.status_code == 503 and score.status_code == 503
            assert "(Loop) is a Loop, whose number of iterations" in ready.json()["error"]
        else:
            assert ready.status_code == 200 and score.status_code == 200
            np.testing.assert_allclose(
                score.json()["predictions"], model.predict(X[:3]), rtol=1e-4, atol=1e-3
            )


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: if_model(external(tensor("then_value", [1.0]))),
            "tensor 'then_value' (graph, node 2 (If), attribute 'then_branch' subgraph 0, "
            "node 0 (Constant), attribute 'value') uses ONNX external data at 'secret.txt'",
        ),
        (function_model, "defines model-local functions ['local.Affine']"),
        (
            lambda: _custom_op_model(),
            "imports operator domains ['ai.onnx.contrib']; only ['', 'ai.onnx', 'ai.onnx.ml']",
        ),
    ],
    ids=["Constant with external data in an If branch", "model-local function", "custom op"],
)
def test_crafted_graphs_in_an_artifact_are_refused(linear_artifact, build, message):
    _put(linear_artifact, "model.onnx", build().SerializeToString())
    with pytest.raises(ArtifactError) as error:
        load(linear_artifact, allow_loop=True)
    assert str(error.value).startswith(f"model.onnx: {message}")


def _custom_op_model():
    from onnx import helper

    node = helper.make_node("StringRegexReplace", ["X"], ["offset"], domain="ai.onnx.contrib")
    return linear_model(
        COEF, 0.0, extra_nodes=[node], offset="offset",
        opsets=(("", 17), ("ai.onnx.contrib", 1)),
    )  # fmt: skip


def test_preprocess_onnx_is_audited_too(kinds, tmp_path):
    root = save(kinds["pipeline (preprocess.onnx)"][0], tmp_path / "pipeline")
    graph = linear_model(COEF, 0.0, extra_initializers=[external(tensor("leak", [0.0]))])
    _put(root, "preprocess.onnx", graph.SerializeToString())
    with pytest.raises(
        ArtifactError, match=r"^preprocess.onnx: tensor 'leak' \(graph, initializer\) uses ONNX"
    ):
        load(root)


# -- arrays.npz ------------------------------------------------------------------------------
def _npy(array: np.ndarray, shape: tuple[int, ...] | None = None) -> bytes:
    """A .npy member; ``shape`` replaces the shape its header declares (the data stays)."""
    out = io.BytesIO()
    header = np.lib.format.header_data_from_array_1_0(array)
    if shape is not None:
        header["shape"] = shape
    np.lib.format.write_array_header_1_0(out, header)
    out.write(np.ascontiguousarray(array).tobytes())
    return out.getvalue()


def _npz(members: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for name, data in members:
            archive.writestr(f"{name}.npy", data)
    return out.getvalue()


@pytest.fixture
def kernel_artifact(kinds, tmp_path) -> Path:
    return save(kinds["kernel MLP"][0], tmp_path / "kernel")


def _members(root: Path) -> dict[str, np.ndarray]:
    with np.load(root / "arrays.npz", allow_pickle=False) as archive:
        return {k: archive[k] for k in archive.files}


def test_a_header_declaring_a_huge_shape_is_refused_before_any_allocation(kernel_artifact):
    arrays = _members(kernel_artifact)
    background = arrays["background"]
    huge = (10**12, background.shape[1])
    forged = [(k, _npy(v, huge if k == "background" else None)) for k, v in arrays.items()]
    data = _npz(forged)
    with pytest.raises(MemoryError):  # what numpy alone does with such a member
        np.load(io.BytesIO(data), allow_pickle=False)["background"]
    _put(kernel_artifact, "arrays.npz", data)
    with pytest.raises(ArtifactError) as error:
        load(kernel_artifact)
    header = len(_npy(background, huge)) - background.nbytes
    assert str(error.value) == (
        f"arrays.npz: member 'background' declares shape {huge} of {background.dtype} "
        f"({header + background.itemsize * 10**12 * huge[1]} bytes with its header) but "
        f"holds {header + background.nbytes} bytes"
    )


def test_a_header_declaring_fewer_elements_than_stored_is_refused(kernel_artifact):
    arrays = _members(kernel_artifact)
    short = (1, arrays["background"].shape[1])
    forged = [(k, _npy(v, short if k == "background" else None)) for k, v in arrays.items()]
    _put(kernel_artifact, "arrays.npz", _npz(forged))
    with pytest.raises(ArtifactError, match="member 'background' declares shape"):
        load(kernel_artifact)


def test_a_member_given_twice_is_refused(kernel_artifact):
    arrays = _members(kernel_artifact)
    members = [(k, _npy(v)) for k, v in arrays.items()]
    members.append(("background", _npy(arrays["background"][:1])))
    with pytest.warns(UserWarning, match="Duplicate name"):
        data = _npz(members)
    _put(kernel_artifact, "arrays.npz", data)
    with pytest.raises(ArtifactError, match="are not one .npy file per name"):
        load(kernel_artifact)


# -- the manifest ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("literal", "message"),
    [
        ("NaN", "NaN is not a JSON number"),
        ("Infinity", "Infinity is not a JSON number"),
        ("-Infinity", "-Infinity is not a JSON number"),
        ("1e999", "1e999 is beyond the range of a float"),
    ],
)
def test_non_finite_expected_values_are_refused_when_parsed(linear_artifact, literal, message):
    manifest = _manifest(linear_artifact)
    manifest["expected_values"] = ["PLACEHOLDER"]
    text = json.dumps(manifest).replace('"PLACEHOLDER"', literal)
    (linear_artifact / "manifest.json").write_text(text)
    with pytest.raises(ArtifactError, match=f"^manifest.json: not valid JSON: {message}"):
        load(linear_artifact)


def test_repeated_keys_in_the_manifest_are_refused(linear_artifact):
    text = (linear_artifact / "manifest.json").read_text()
    (linear_artifact / "manifest.json").write_text(text[:-1] + ', "kind": "linear"}')
    with pytest.raises(ArtifactError, match=r"not valid JSON: repeated keys \['kind'\]"):
        load(linear_artifact)


def test_duplicate_feature_names_are_refused(linear_artifact, kinds, tmp_path):
    manifest = _manifest(linear_artifact)
    first = manifest["features"][0]
    manifest["features"][1] = first
    manifest["raw_features"] = manifest["features"]
    _write_manifest(linear_artifact, manifest)
    with pytest.raises(
        ArtifactError, match=rf"^manifest.json: features names \['{first}'\] more than once"
    ):
        load(linear_artifact)
    root = save(kinds["pipeline (preprocess.onnx)"][0], tmp_path / "pipeline")
    manifest = _manifest(root)
    assert manifest["raw_features"] == ["age", "region"]
    manifest["raw_features"] = ["age", "age"]
    _write_manifest(root, manifest)
    with pytest.raises(
        ArtifactError, match=r"^manifest.json: raw_features names \['age'\] more than once"
    ):
        load(root)


def test_duplicate_class_names_are_refused(kernel_artifact):
    manifest = _manifest(kernel_artifact)
    manifest["classes"] = ["a", "b", "a"]
    _write_manifest(kernel_artifact, manifest)
    with pytest.raises(ArtifactError, match=r"^manifest.json: classes names \['a'\] more than"):
        load(kernel_artifact)


# -- every artifact kind the suite builds still loads -------------------------------------------
@pytest.fixture(scope="module")
def kinds():
    """One explainer of each kind and model family the suite distills, with rows to explain."""
    import warnings

    import lightgbm
    import pandas as pd
    import xgboost
    from sklearn.compose import ColumnTransformer
    from sklearn.datasets import make_classification
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    from sklearn.svm import SVC

    from scoring_explainers.explainers import TabularExplainer, scoring_explainer_for

    X, y = make_classification(300, 5, n_informative=3, random_state=0)
    X3, y3 = make_classification(300, 5, n_informative=3, n_classes=3, random_state=1)
    small = {"nclusters": 3, "nsamples": 40}
    rng = np.random.default_rng(0)
    raw = pd.DataFrame(
        {"age": rng.normal(40, 10, 300), "region": rng.integers(0, 3, 300).astype(float)}
    )
    ry = ((raw.age > 40) ^ (raw.region == 1)).astype(int)
    pipeline = make_pipeline(
        ColumnTransformer(
            [("num", StandardScaler(), ["age"]), ("cat", OneHotEncoder(), ["region"])]
        ),
        RandomForestClassifier(10, max_depth=3, random_state=0),
    ).fit(raw, ry)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        built = {
            "kernel SVC (dense graph)": (
                KernelScoringExplainer.from_model(
                    SVC(probability=True, random_state=0).fit(X, y), X, **small
                ),
                X[:5],
            ),
            "kernel KNN (Scan)": (
                KernelScoringExplainer.from_model(KNeighborsClassifier().fit(X3, y3), X3, **small),
                X3[:5],
            ),
            "kernel MLP": (
                KernelScoringExplainer.from_model(
                    MLPClassifier((8,), max_iter=50, random_state=0).fit(X3, y3), X3, **small
                ),
                X3[:5],
            ),
            "pipeline (preprocess.onnx)": (
                scoring_explainer_for(TabularExplainer(pipeline, raw)),
                raw.head(5),
            ),
            "tree RandomForest": (
                TreeScoringExplainer.from_model(
                    RandomForestClassifier(10, max_depth=4, random_state=0).fit(X, y), X
                ),
                X[:5],
            ),
            "tree LightGBM": (
                TreeScoringExplainer.from_model(
                    lightgbm.LGBMClassifier(n_estimators=10, verbose=-1).fit(X3, y3), X3
                ),
                X3[:5],
            ),
            "tree XGBoost": (
                TreeScoringExplainer.from_model(
                    xgboost.XGBClassifier(n_estimators=10, max_depth=3).fit(X, y), X
                ),
                X[:5],
            ),
            "tree HistGradientBoosting": (
                TreeScoringExplainer.from_model(
                    HistGradientBoostingClassifier(max_iter=10).fit(X, y), X
                ),
                X[:5],
            ),
            "linear LogisticRegression": (
                LinearScoringExplainer.from_model(LogisticRegression().fit(X3, y3), X3),
                X3[:5],
            ),
        }
    return built


def test_every_artifact_kind_still_loads_and_explains_the_same(kinds, artifacts, tmp_path):
    for name, (explainer, rows) in kinds.items():
        restored = load(save(explainer, tmp_path / name.replace(" ", "_")))
        assert type(restored) is type(explainer), name
        np.testing.assert_array_equal(restored.explain(rows), explainer.explain(rows), name)
        assert restored.score(rows).to_dict() == explainer.score(rows).to_dict(), name
    assert kinds["pipeline (preprocess.onnx)"][0].preprocessor is not None
    for name in ("svc", "ridge"):  # the suite's shared artifacts (seed SVC, ridge)
        load(artifacts[name])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kind": ["linear"]}, "unknown explainer kind ['linear']"),
        ({"expected_values": [10**400]}, "expected_values must be finite float64 numbers"),
        ({"expected_values": [True]}, "expected_values must be 1 number(s)"),
    ],
    ids=["unhashable kind", "integer beyond float64", "boolean"],
)
def test_odd_manifest_values_are_artifact_errors(linear_artifact, changes, message):
    manifest = _manifest(linear_artifact)
    manifest.update(changes)
    _write_manifest(linear_artifact, manifest)
    with pytest.raises(ArtifactError) as error:
        load(linear_artifact)
    assert str(error.value).startswith(f"manifest.json: {message}")
