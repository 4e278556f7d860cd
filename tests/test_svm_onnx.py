"""Dense ONNX graphs of kernel SVMs against scikit-learn (libsvm) itself.

``SVC``/``NuSVC`` with ``probability=True`` (2, 3, 4 and 10 classes, every kernel),
``SVR``/``NuSVR``, Pipelines, and the unrolled coupling iteration against libsvm's loop on
the slowest pairwise probabilities.
"""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import pytest

from scoring_explainers.convert import to_onnx
from scoring_explainers.distill import _svm_onnx
from scoring_explainers.distill._svm_onnx import EXP32_TOLERANCE, MULTICLASS_SWEEPS, supports
from scoring_explainers.scoring import OnnxModel

KERNELS = {
    "rbf": {"kernel": "rbf"},
    "linear": {"kernel": "linear"},
    "poly": {"kernel": "poly", "degree": 3, "coef0": 1.0},
    "sigmoid": {"kernel": "sigmoid", "coef0": 0.0},
}
#: Largest |graph - predict_proba|: the graph computes in float64 and returns float32
#: (half an ulp of 1 is 3e-8).
TOLERANCE = 6e-8


def _tolerance(converted) -> float:
    """TOLERANCE for float64 exp; the check's 1e-6 where the conversion chose float32."""
    return EXP32_TOLERANCE if converted.notes.get("kernel_exp") == "float32" else TOLERANCE


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def _f32(X):
    """Rows as the graph sees them (its input is float32)."""
    return np.asarray(X, dtype=np.float32).astype(np.float64)


def _run(converted, X):
    model = OnnxModel(converted.onnx_bytes, task=converted.task, n_features=X.shape[1])
    return model.predict(np.asarray(X, dtype=np.float32))


def _ops(converted) -> set[str]:
    return {node.op_type for node in onnx.load_from_string(converted.onnx_bytes).graph.node}


@pytest.fixture(scope="module")
def problems():
    """name -> (x_train, y_train, rows to compare on)."""
    from sklearn.datasets import load_digits, make_classification
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    out = {}
    for k in (2, 3, 4):
        X, y = make_classification(
            n_samples=360, n_features=8, n_informative=6, n_classes=k, random_state=k
        )
        X = _f32(StandardScaler().fit_transform(X))
        out[k] = (X[:300], y[:300], X)
    X, y = load_digits(return_X_y=True)
    out[10] = (X[:700], y[:700], X[::2])
    for k, (x_train, y_train, rows) in out.items():
        # Kernel SHAP's synthetic rows: features of one row mixed with a background row
        mask = rng.random((300, rows.shape[1])) < 0.5
        a, b = rows[rng.integers(0, len(rows), 300)], rows[rng.integers(0, len(rows), 300)]
        out[k] = (x_train, y_train, np.vstack([rows, np.where(mask, a, b)]))
    return out


@pytest.fixture(scope="module")
def fitted(problems):
    """(estimator, kernel, classes) -> fitted model, fitted once per module."""
    from sklearn.svm import SVC, NuSVC

    cache: dict = {}

    def get(name: str, kernel: str, k: int):
        key = (name, kernel, k)
        if key not in cache:
            x_train, y_train, _ = problems[k]
            params = dict(KERNELS[kernel], probability=True, random_state=0)
            if kernel == "sigmoid" and k == 10:
                params["gamma"] = 1e-4  # digits (0..16): 'scale' saturates tanh
            model = SVC(**params) if name == "SVC" else NuSVC(nu=0.1, **params)
            cache[key] = _quiet(model.fit, x_train, y_train)
        return cache[key]

    return get


@pytest.mark.parametrize("k", [2, 3, 4, 10], ids=lambda k: f"{k}classes")
@pytest.mark.parametrize("kernel", list(KERNELS))
@pytest.mark.parametrize("name", ["SVC", "NuSVC"])
def test_multiclass_probabilities_and_labels(problems, fitted, name, kernel, k):
    model = fitted(name, kernel, k)
    rows = problems[k][2]
    assert supports(model)
    expected = _quiet(model.predict_proba, rows)
    for exp in ("auto", "float64"):
        converted = to_onnx(model, rows.shape[1], svm_exp=exp)
        ops = _ops(converted)
        assert "SVMClassifier" not in ops and "MatMul" in ops
        labels, probabilities = _run(converted, rows)
        assert probabilities.shape == (len(rows), k)
        assert np.max(np.abs(probabilities - expected)) <= _tolerance(converted)
        np.testing.assert_array_equal(labels, _quiet(model.predict, rows))
        assert converted.classes == list(range(k))
        if exp == "float64" and kernel in ("rbf", "sigmoid"):
            assert converted.notes["kernel_exp"] == "float64"


def test_labels_follow_the_vote_not_the_probabilities(problems, fitted):
    """SVC.predict votes over the pairs' decision values (ties: the first class); on rows
    where the largest probability is another class, the graph's label is still predict's."""
    model = fitted("SVC", "rbf", 4)
    rng = np.random.default_rng(1)
    rows = _f32(rng.normal(scale=2.0, size=(20_000, 8)))
    predicted = _quiet(model.predict, rows)
    by_probability = model.classes_[np.argmax(_quiet(model.predict_proba, rows), axis=1)]
    differ = predicted != by_probability
    decision = _quiet(model.decision_function, rows[:, :])  # ovr: votes + confidence
    ovo = model.set_params(decision_function_shape="ovo")
    dec = _quiet(ovo.decision_function, rows)
    model.set_params(decision_function_shape="ovr")
    votes = np.zeros((len(rows), 4))
    for p, (i, j) in enumerate(_svm_onnx._pairs(4)):
        votes[:, i] += dec[:, p] > 0
        votes[:, j] += dec[:, p] <= 0
    tied = np.sum(votes == votes.max(axis=1, keepdims=True), axis=1) > 1
    assert decision.shape == (len(rows), 4)
    assert differ.sum() >= 20 and tied.sum() >= 20
    labels, _ = _run(to_onnx(model, 8), rows)
    np.testing.assert_array_equal(labels, predicted)


def test_break_ties_and_string_labels(problems, fitted):
    from sklearn.svm import SVC

    x_train, y_train, rows = problems[4]
    names = np.array(["ant", "bee", "cat", "dog"])
    model = _quiet(
        SVC(probability=True, break_ties=True, random_state=0).fit, x_train, names[y_train]
    )
    rows = _f32(np.vstack([rows, np.random.default_rng(2).normal(scale=2.0, size=(5_000, 8))]))
    converted = to_onnx(model, 8)
    labels, probabilities = _run(converted, rows)
    np.testing.assert_array_equal(labels, _quiet(model.predict, rows))
    gap = np.max(np.abs(probabilities - _quiet(model.predict_proba, rows)))
    assert gap <= _tolerance(converted)
    assert converted.classes == ["ant", "bee", "cat", "dog"]
    # break_ties changes some labels: the graph follows it
    plain = _quiet(SVC(probability=True, random_state=0).fit, x_train, names[y_train])
    assert np.any(_quiet(plain.predict, rows) != labels)


def test_far_rows_reach_the_clipped_probabilities(fitted, problems):
    """Rows far from the data give pairwise probabilities clipped to 1e-7 / 1 - 1e-7."""
    rng = np.random.default_rng(3)
    for kernel in ("linear", "poly"):
        model = fitted("SVC", kernel, 4)
        rows = _f32(rng.normal(scale=30.0, size=(2_000, 8)))
        labels, probabilities = _run(to_onnx(model, 8), rows)
        expected = _quiet(model.predict_proba, rows)
        assert np.min(expected) < 1e-6  # the clipped corner is reached
        assert np.max(np.abs(probabilities - expected)) <= 6e-8
        np.testing.assert_array_equal(labels, _quiet(model.predict, rows))


def test_far_rows_under_rbf_cost_what_near_rows_cost(fitted, problems):
    """Rows whose kernel values all fall below 1e-307 (float64 exp's subnormal range, where
    it takes a 3-5x slower path) give libsvm's probabilities at the CPU time of near
    rows."""
    import time

    model = fitted("SVC", "rbf", 10)
    near = _f32(problems[10][2])
    near = np.vstack([near] * (20_000 // len(near) + 1))[:20_000]
    # pixel 0 is 0 in every digit: moving along it adds t^2 to every squared distance
    assert np.all(model.support_vectors_[:, 0] == 0)
    t = np.sqrt(np.random.default_rng(4).uniform(712, 735, len(near)) / model._gamma)
    far = near.copy()
    far[:, 0] = t
    exponents = model._gamma * ((far[:50, None, :] - model.support_vectors_[None]) ** 2).sum(-1)
    assert np.all((exponents > 708) & (exponents < 745))
    converted = to_onnx(model, 64, svm_exp="float64")  # float32 exp has no slow path
    _, probabilities = _run(converted, far[:500])
    assert np.max(np.abs(probabilities - _quiet(model.predict_proba, far[:500]))) <= TOLERANCE
    runtime = OnnxModel(converted.onnx_bytes, task=converted.task, n_features=64, threads=1)
    cpu = {}
    for name, rows in (("near", near.astype(np.float32)), ("far", far.astype(np.float32))):
        runtime.outputs(rows[:100])
        spent = []
        for _ in range(3):
            start = time.process_time()
            runtime.outputs(rows)
            spent.append(time.process_time() - start)
        cpu[name] = min(spent)
    assert cpu["far"] < 1.5 * cpu["near"], cpu


@pytest.mark.parametrize("kernel", list(KERNELS))
@pytest.mark.parametrize("name", ["SVR", "NuSVR"])
def test_regressors(small_regression, name, kernel):
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVR, NuSVR

    X, y = small_regression
    X = _f32(StandardScaler().fit_transform(X))
    params = dict(KERNELS[kernel], C=10.0)
    model = (SVR if name == "SVR" else NuSVR)(**params).fit(X, y)
    assert supports(model)
    converted = to_onnx(model, 6)
    assert "SVMRegressor" not in _ops(converted)
    predictions, _ = _run(converted, X)
    expected = model.predict(X)
    scale = np.max(np.abs(expected))
    assert np.max(np.abs(predictions - expected)) <= 1e-6 * scale


def test_pipelines(problems):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC, NuSVR

    x_train, y_train, rows = problems[10]
    pipe = _quiet(
        make_pipeline(StandardScaler(), SVC(probability=True, random_state=0)).fit,
        x_train,
        y_train,
    )
    converted = to_onnx(pipe, 64)
    assert {"MatMul", "Scaler"} <= _ops(converted)
    labels, probabilities = _run(converted, rows)
    # the Scaler runs in float32 (skl2onnx), the SVM in float64
    assert np.max(np.abs(probabilities - _quiet(pipe.predict_proba, rows))) <= 1e-5
    assert np.mean(labels == pipe.predict(rows)) >= 0.999
    regressor = make_pipeline(StandardScaler(), NuSVR(C=10.0)).fit(x_train, y_train)
    predictions, _ = _run(to_onnx(regressor, 64), rows)
    np.testing.assert_allclose(predictions, regressor.predict(rows), rtol=0, atol=1e-4)


def _libsvm_coupling(r: np.ndarray, k: int) -> tuple[np.ndarray, int]:
    """libsvm's ``multiclass_probability`` for one row of pair probabilities (its pair
    order), as in svm.cpp; returns (p, sweeps done)."""
    R = np.zeros((k, k))
    for q, (i, j) in enumerate(_svm_onnx._pairs(k)):
        R[i, j], R[j, i] = r[q], 1 - r[q]
    Q = -R.T * R
    np.fill_diagonal(Q, (R**2).sum(axis=0))
    p = np.full(k, 1 / k)
    for sweep in range(max(100, k)):
        Qp = Q @ p
        pQp = p @ Qp
        if np.max(np.abs(Qp - pQp)) < 0.005 / k:
            return p, sweep
        for t in range(k):
            diff = (-Qp[t] + pQp) / Q[t, t]
            p[t] += diff
            pQp = (pQp + diff * (diff * Q[t, t] + 2 * Qp[t])) / (1 + diff) / (1 + diff)
            Qp = (Qp + diff * Q[t]) / (1 + diff)
            p /= 1 + diff
    return p, max(100, k)


def _coupling_graph(k: int) -> bytes:
    from onnx import TensorProto, helper

    g = _svm_onnx._Graph()
    pairs_first = g.op("Transpose", "r", perm=[1, 0])
    p = _svm_onnx._couple_multiclass(g, pairs_first, k, MULTICLASS_SWEEPS)
    g.op("Identity", p, out="p")
    n_pairs = k * (k - 1) // 2
    graph = helper.make_graph(
        g.nodes,
        "coupling",
        [helper.make_tensor_value_info("r", TensorProto.DOUBLE, [None, n_pairs])],
        [helper.make_tensor_value_info("p", TensorProto.DOUBLE, [None, k])],
        g.initializers,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]).SerializeToString()


def _hard_pair_probabilities(k: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform, clipped-extreme and mixed pair probabilities, as libsvm clips them."""
    n_pairs = k * (k - 1) // 2
    uniform = rng.random((n, n_pairs))
    extreme = np.where(rng.random((n, n_pairs)) < 0.5, 1e-7, 1 - 1e-7)
    logs = 10 ** rng.uniform(-7, 0, (n, n_pairs))
    spread = np.where(rng.random((n, n_pairs)) < 0.5, logs, 1 - logs)
    pick = rng.integers(0, 3, (n, n_pairs))
    mixed = np.choose(pick, [uniform, extreme, np.full((n, n_pairs), 0.5)])
    r = np.vstack([uniform, extreme, spread, mixed])
    return np.clip(r, 1e-7, 1 - 1e-7)


def test_libsvm_coupling_port_is_libsvm(fitted, problems):
    """The port used below reproduces predict_proba from the pairs' decision values."""
    model = fitted("NuSVC", "rbf", 10)
    rows = problems[10][2][:200]
    ovo = model.set_params(decision_function_shape="ovo")
    dec = _quiet(ovo.decision_function, rows)
    model.set_params(decision_function_shape="ovr")
    f = dec * model.probA_ + model.probB_
    r = np.clip(1 / (1 + np.exp(f)), 1e-7, 1 - 1e-7)
    ported = np.array([_libsvm_coupling(row, 10)[0] for row in r])
    assert np.max(np.abs(ported - _quiet(model.predict_proba, rows))) < 1e-12


@pytest.mark.parametrize("k", [3, 4, 6, 10])
def test_unrolled_coupling_returns_libsvms_iterate(k):
    """On 4 x 500 rows of hard pair probabilities, libsvm stops after at most 5 sweeps
    (the graph unrolls 6; rows are frozen once libsvm's test passes) and the graph's
    probabilities are libsvm's to 1e-12."""
    import onnxruntime as ort

    r = _hard_pair_probabilities(k, 500, np.random.default_rng(k))
    expected, sweeps = zip(*(_libsvm_coupling(row, k) for row in r), strict=True)
    assert max(sweeps) <= 5 < MULTICLASS_SWEEPS
    session = ort.InferenceSession(_coupling_graph(k), providers=["CPUExecutionProvider"])
    (p,) = session.run(None, {"r": r})
    assert np.max(np.abs(p - np.array(expected))) < 1e-12


def test_kernel_explainer_same_values_as_with_the_operator_graph(problems, fitted):
    """KernelScoringExplainer.from_model on the 10-class digits SVC: the dense graph and
    skl2onnx's SVMClassifier graph give the same attributions."""
    from skl2onnx import to_onnx as skl2onnx_to_onnx

    from scoring_explainers.scoring import KernelScoringExplainer

    model = fitted("SVC", "rbf", 10)
    x_train, _, rows = problems[10]
    background = x_train[::35]  # 20 rows
    operator = skl2onnx_to_onnx(
        model, x_train[:1].astype(np.float32), options={"zipmap": False}
    ).SerializeToString()
    assert "SVMClassifier" in {n.op_type for n in onnx.load_from_string(operator).graph.node}
    values = []
    for source in (model, operator):
        explainer = KernelScoringExplainer.from_model(
            source, background, nclusters=None, nsamples=300, threads=1
        )
        phi = explainer.explain(rows[:5])
        values.append((np.asarray(explainer.expected_values), phi))
    (dense_expected, dense_phi), (operator_expected, operator_phi) = values
    assert dense_phi.shape == (10, 5, 64)
    assert np.max(np.abs(dense_phi - operator_phi)) <= 5e-7  # measured 7.9e-8
    assert np.max(np.abs(dense_expected - operator_expected)) <= 1e-6


def _calibrated_cases():
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import SVC, NuSVC

    return {
        "binary": (CalibratedClassifierCV(SVC(gamma=0.001, C=100.0), ensemble=False), 2),
        "binary ensemble NuSVC poly": (
            CalibratedClassifierCV(NuSVC(nu=0.2, kernel="poly", coef0=1.0)),
            2,
        ),
        "4 classes": (CalibratedClassifierCV(SVC(), ensemble=False), 4),
        "4 classes ensemble linear": (CalibratedClassifierCV(SVC(kernel="linear")), 4),
        "3 classes sigmoid kernel": (
            CalibratedClassifierCV(SVC(kernel="sigmoid"), ensemble=False),
            3,
        ),
    }


@pytest.mark.parametrize("case", list(_calibrated_cases()))
def test_sigmoid_calibrated_svms(problems, case):
    """CalibratedClassifierCV(SVC), the replacement for probability=True: a dense graph
    too, with scikit-learn's ovr decision function for several classes."""
    from scoring_explainers.distill._svm_onnx import supports_calibrated

    model, k = _calibrated_cases()[case]
    x_train, y_train, rows = problems[k]
    _quiet(model.fit, x_train, y_train)
    assert supports_calibrated(model)
    converted = to_onnx(model, rows.shape[1])
    assert "SVMClassifier" not in _ops(converted)
    labels, probabilities = _run(converted, rows)
    assert np.max(np.abs(probabilities - model.predict_proba(rows))) <= _tolerance(converted)
    np.testing.assert_array_equal(labels, model.predict(rows))


def test_calibrated_fold_without_a_class_and_pipeline(problems):
    """A cross-validation fold whose SVM never saw a class (its calibrated probability is 0
    there), and a calibrated SVM ending a Pipeline; isotonic calibration stays with
    skl2onnx."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.model_selection import KFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    from scoring_explainers.distill._svm_onnx import supports_calibrated

    x_train, y_train, rows = problems[3]
    y = y_train.copy()
    y[:3] = 3  # all in the first of three unshuffled folds
    model = _quiet(CalibratedClassifierCV(SVC(), cv=KFold(3)).fit, x_train, y)
    assert [len(c.estimator.classes_) for c in model.calibrated_classifiers_] == [3, 4, 4]
    converted = to_onnx(model, 8)
    labels, probabilities = _run(converted, rows)
    assert np.max(np.abs(probabilities - model.predict_proba(rows))) <= _tolerance(converted)
    np.testing.assert_array_equal(labels, model.predict(rows))
    pipe = make_pipeline(StandardScaler(), CalibratedClassifierCV(SVC(), ensemble=False))
    _quiet(pipe.fit, x_train * 10 + 3, y_train)
    labels, probabilities = _run(to_onnx(pipe, 8), rows * 10 + 3)
    assert np.max(np.abs(probabilities - pipe.predict_proba(rows * 10 + 3))) <= 1e-6
    assert np.mean(labels == pipe.predict(rows * 10 + 3)) >= 0.999
    isotonic = _quiet(
        CalibratedClassifierCV(SVC(), method="isotonic", ensemble=False).fit, x_train, y_train
    )
    assert not supports_calibrated(isotonic)
    assert "SVMClassifier" in _ops(to_onnx(isotonic, 8))


def _seed_svc():
    """bench/kernel.py's seed model: SVC(gamma=0.001, C=100) on unscaled breast cancer."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split
    from sklearn.svm import SVC

    X, y = load_breast_cancer(return_X_y=True)
    x_train, x_test, y_train, _ = train_test_split(X, y, test_size=0.2, random_state=0)
    model = SVC(gamma=0.001, C=100.0, probability=True, random_state=0).fit(x_train, y_train)
    return model, x_train, x_test


def _coalition_rows(rows, background, n, seed):
    """Kernel SHAP's synthetic rows: each feature from a row or a background row."""
    rng = np.random.default_rng(seed)
    a = rows[rng.integers(0, len(rows), n)]
    b = background[rng.integers(0, len(background), n)]
    return _f32(np.where(rng.random(a.shape) < 0.5, a, b))


def _exp_types(converted) -> set[int]:
    """The element types of the graph's Exp/Tanh inputs (1: float32, 11: float64)."""
    graph = onnx.load_from_string(converted.onnx_bytes).graph
    casts = {n.output[0]: n for n in graph.node if n.op_type == "Cast"}
    types = set()
    for node in graph.node:
        if node.op_type in ("Exp", "Tanh") and node.input[0] in casts:
            types.add(casts[node.input[0]].attribute[0].i)
        elif node.op_type in ("Exp", "Tanh"):
            types.add(onnx.TensorProto.DOUBLE)
    return types


def test_seed_svc_keeps_float32_exp():
    """The seed SVC passes the check: float32 exp, within 1e-6 of predict_proba on test
    rows and Kernel SHAP rows, predict's labels; svm_exp='float64' forces float64."""
    model, x_train, x_test = _seed_svc()
    rows = np.vstack([_f32(x_test), _coalition_rows(x_test, x_train, 5_000, 5)])
    expected = _quiet(model.predict_proba, rows)
    converted = to_onnx(model, 30)
    assert converted.notes["kernel_exp"] == "float32"
    check = converted.notes["kernel_exp_check"]
    assert check["max_abs_diff"] <= 1e-6 and check["labels_equal"] is True
    assert check["tolerance"] == 1e-6 and check["rows"] == len(model.support_vectors_) + 3000
    assert onnx.TensorProto.FLOAT in _exp_types(converted)
    labels, probabilities = _run(converted, rows)
    assert 1e-7 < np.max(np.abs(probabilities - expected)) <= 1e-6
    np.testing.assert_array_equal(labels, _quiet(model.predict, rows))
    forced = to_onnx(model, 30, svm_exp="float64")
    assert forced.notes == {
        "kernel_exp": "float64",
        "kernel_exp_check": "skipped: float64 asked for",
    }
    assert _exp_types(forced) == {onnx.TensorProto.DOUBLE}
    labels, probabilities = _run(forced, rows)
    assert np.max(np.abs(probabilities - expected)) <= TOLERANCE
    np.testing.assert_array_equal(labels, _quiet(model.predict, rows))
    # distilled and saved: the choice is in the explainer's (the manifest's) metadata
    from scoring_explainers.scoring import KernelScoringExplainer

    explainer = _quiet(KernelScoringExplainer.from_model, model, x_train[:20], nsamples=100)
    assert explainer.metadata["conversion_notes"] == converted.notes


def test_large_dual_coefficients_get_float64_exp():
    """C=1000 on noisy labels: dual coefficients of 1000 multiply float32 exp's error of
    1e-7 per kernel value; the check measures 3.7e-5 and keeps float64 (within 1e-7)."""
    from sklearn.datasets import make_classification
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    X, y = make_classification(
        n_samples=300, n_features=8, n_informative=4, flip_y=0.2, random_state=0
    )
    X = _f32(StandardScaler().fit_transform(X))
    model = _quiet(SVC(C=1000.0, gamma=0.05, probability=True, random_state=0).fit, X, y)
    assert np.max(np.abs(model.dual_coef_)) == 1000.0
    converted = to_onnx(model, 8)
    check = converted.notes["kernel_exp_check"]
    assert converted.notes["kernel_exp"] == "float64"
    assert 1e-5 < check["max_abs_diff"] < 1e-4 and check["labels_equal"] is True
    assert _exp_types(converted) == {onnx.TensorProto.DOUBLE}
    rows = np.vstack([X, _coalition_rows(X, X, 5_000, 6)])
    labels, probabilities = _run(converted, rows)
    assert np.max(np.abs(probabilities - _quiet(model.predict_proba, rows))) <= 1e-7
    np.testing.assert_array_equal(labels, _quiet(model.predict, rows))
    # the float32 graph the check refused is that far off on these rows too
    fast = _svm_onnx.dense_svm_graph(model, 8, exp="float32")
    gap, scale, _ = _svm_onnx.exp32_gap(model, fast, rows)
    assert gap > 1e-5 and scale == 1.0
    # ending a Pipeline: the SVM's own rows are checked, the choice is the same
    pipe = _quiet(
        make_pipeline(
            StandardScaler(), SVC(C=1000.0, gamma=0.05, probability=True, random_state=0)
        ).fit,
        X,
        y,
    )
    assert to_onnx(pipe, 8).notes["kernel_exp"] == "float64"


def test_exp_precision_of_regressors_and_linear_kernels(small_regression):
    """Regressors are checked relative to their largest prediction: C=10 keeps float32,
    C=10,000 (dual coefficients up to 7,000) gets float64; linear and poly kernels have no
    exp and no notes; a wrong svm_exp is refused."""
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVR

    from scoring_explainers import ConversionError

    X, y = small_regression
    X = _f32(StandardScaler().fit_transform(X))
    rows = np.vstack([X, _coalition_rows(X, X, 3_000, 7)])
    for C, chosen in ((10.0, "float32"), (10_000.0, "float64")):
        model = SVR(C=C).fit(X, y)
        converted = to_onnx(model, 6)
        check = converted.notes["kernel_exp_check"]
        scale = np.max(np.abs(model.predict(_f32(_svm_onnx.check_rows(model)))))
        assert check["tolerance"] == pytest.approx(1e-6 * scale, rel=1e-6)
        assert converted.notes["kernel_exp"] == chosen
        assert (check["max_abs_diff"] <= check["tolerance"]) == (chosen == "float32")
        predictions, _ = _run(converted, rows)
        expected = model.predict(rows)
        assert np.max(np.abs(predictions - expected)) <= 1e-6 * np.max(np.abs(expected))
    assert to_onnx(SVR(kernel="linear").fit(X, y), 6).notes == {}
    assert to_onnx(SVR(kernel="poly").fit(X, y), 6, svm_exp="float64").notes == {}
    with pytest.raises(ConversionError, match="svm_exp must be 'auto' or 'float64', not 'half'"):
        to_onnx(model, 6, svm_exp="half")
