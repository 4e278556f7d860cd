"""Dense ONNX graphs of KNeighborsClassifier (GEMM + TopK) against scikit-learn."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from scoring_explainers.convert import to_onnx
from scoring_explainers.distill._knn_onnx import supports
from scoring_explainers.scoring import OnnxModel


def _f32(X):
    return np.asarray(X, dtype=np.float32).astype(np.float64)


def _run(converted, X):
    model = OnnxModel(converted.onnx_bytes, task=converted.task, n_features=X.shape[1])
    return model.predict(np.asarray(X, dtype=np.float32))


def _ops(converted) -> set[str]:
    return {node.op_type for node in onnx.load_from_string(converted.onnx_bytes).graph.node}


@pytest.fixture(scope="module")
def cancer():
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    return _f32(X[:400]), y[:400], _f32(X[400:])


@pytest.mark.parametrize("weights", ["uniform", "distance"])
@pytest.mark.parametrize("scaled", [False, True], ids=["raw", "pipeline"])
def test_probabilities_and_labels(cancer, weights, scaled):
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x_train, y_train, rows = cancer
    model = KNeighborsClassifier(weights=weights)
    if scaled:
        model = make_pipeline(StandardScaler(), model)
    model.fit(x_train, y_train)
    converted = to_onnx(model, 30)
    ops = _ops(converted)
    assert "TopK" in ops and "Scan" not in ops
    labels, probabilities = _run(converted, rows)
    expected = model.predict_proba(rows)
    # float32 output; the Scaler of a pipeline runs in float32 (skl2onnx)
    assert np.max(np.abs(probabilities - expected)) <= (1e-6 if scaled else 6e-8)
    np.testing.assert_array_equal(labels, model.predict(rows))


def test_string_labels_and_three_classes():
    from sklearn.datasets import make_classification
    from sklearn.neighbors import KNeighborsClassifier

    X, y = make_classification(
        n_samples=600, n_features=6, n_informative=4, n_classes=3, random_state=0
    )
    X = _f32(X)
    names = np.array(["low", "mid", "high"])[y]
    model = KNeighborsClassifier(n_neighbors=7, weights="distance").fit(X[:500], names[:500])
    converted = to_onnx(model, 6)
    labels, probabilities = _run(converted, X[500:])
    assert converted.classes == ["high", "low", "mid"]
    assert np.max(np.abs(probabilities - model.predict_proba(X[500:]))) <= 6e-8
    np.testing.assert_array_equal(labels, model.predict(X[500:]))


def test_a_training_row_is_at_distance_zero(cancer):
    """With distance weights a training row takes its own class with probability 1;
    scikit-learn's brute-force distances (|x|^2 - 2 x.t + |t|^2) leave up to ~1e-4 there,
    so its probabilities miss 1 by up to ~1e-5 on some of these rows."""
    from sklearn.neighbors import KNeighborsClassifier

    x_train, y_train, _ = cancer
    model = KNeighborsClassifier(weights="distance").fit(x_train, y_train)
    _, probabilities = _run(to_onnx(model, 30), x_train)
    np.testing.assert_array_equal(probabilities[np.arange(400), y_train], 1.0)
    expected = model.predict_proba(x_train)
    assert np.max(np.abs(probabilities - expected)) <= 1e-5


def test_ties_at_the_kth_neighbour_only(cancer):
    """Integer pixels (digits) give equal distances; rows whose probabilities differ from
    scikit-learn's are exactly those with a tie between the k-th and (k+1)-th neighbour."""
    from sklearn.datasets import load_digits
    from sklearn.neighbors import KNeighborsClassifier

    X, y = load_digits(return_X_y=True)
    model = KNeighborsClassifier().fit(X[:400], y[:400])
    _, probabilities = _run(to_onnx(model, 64), X)
    differ = np.max(np.abs(probabilities - model.predict_proba(X)), axis=1) > 1e-6
    distances, _ = model.kneighbors(X, n_neighbors=6)
    tied = distances[:, 4] == distances[:, 5]
    assert differ.sum() >= 1
    assert np.all(tied[differ])


def test_other_metrics_use_skl2onnx(cancer):
    from sklearn.neighbors import KNeighborsClassifier

    x_train, y_train, rows = cancer
    model = KNeighborsClassifier(metric="manhattan").fit(x_train, y_train)
    assert not supports(model)
    converted = to_onnx(model, 30)
    labels, _ = _run(converted, rows)
    np.testing.assert_array_equal(labels, model.predict(rows))


def test_kernel_explainer_and_artifact(cancer, tmp_path):
    """Kernel attributions through the dense graph equal those through skl2onnx's graph
    (uniform weights), and survive the artifact (its audit accepts the graph)."""
    from skl2onnx import to_onnx as skl2onnx_to_onnx
    from sklearn.neighbors import KNeighborsClassifier

    from scoring_explainers.artifact import load, save

    x_train, y_train, rows = cancer
    model = KNeighborsClassifier().fit(x_train, y_train)
    operator = skl2onnx_to_onnx(
        model, x_train[:1].astype(np.float32), options={"zipmap": False}
    ).SerializeToString()
    background = x_train[::20]
    dense = _explainer(model, background)
    values = dense.explain(rows[:5])
    assert np.max(np.abs(values - _explainer(operator, background).explain(rows[:5]))) <= 1e-6
    restored = load(save(dense, tmp_path / "knn"))
    np.testing.assert_allclose(restored.explain(rows[:5]), values, rtol=0, atol=1e-12)


def test_distance_weights_on_kernel_synthetic_rows(cancer):
    """On a Kernel explanation's synthetic rows (background rows from the training data,
    partly replaced by the explained row's features) the dense graph is scikit-learn's;
    skl2onnx's graph is more than 0.1 off on 5% of them."""
    from skl2onnx import to_onnx as skl2onnx_to_onnx
    from sklearn.neighbors import KNeighborsClassifier

    x_train, y_train, rows = cancer
    model = KNeighborsClassifier(weights="distance").fit(x_train, y_train)
    explainer = _explainer(model, x_train[::20])
    block, coalitions = next(iter(explainer.chunk_plan(5)))
    synthetic = explainer.synthetic_rows(rows[block].astype(np.float32), coalitions)
    expected = model.predict_proba(synthetic.astype(np.float64))
    _, dense = _run(to_onnx(model, 30), synthetic)
    assert len(synthetic) >= 1000
    assert np.max(np.abs(dense - expected)) <= 1e-7
    operator = skl2onnx_to_onnx(
        model, x_train[:1].astype(np.float32), options={"zipmap": False}
    ).SerializeToString()
    _, theirs = OnnxModel(operator, task="classification", n_features=30).predict(synthetic)
    off = np.max(np.abs(theirs - expected), axis=1) > 0.1
    assert off.sum() >= 25


def _explainer(model, background):
    from scoring_explainers.scoring import KernelScoringExplainer

    return KernelScoringExplainer.from_model(
        model, background, nclusters=None, nsamples=300, threads=1
    )
