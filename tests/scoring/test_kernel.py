"""KernelScoringExplainer against exact Shapley values, shap, and its own contracts."""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pandas as pd
import pytest

from scoring_explainers import InputError
from scoring_explainers.scoring import KernelScoringExplainer
from tests.conftest import brute_force_shapley


@pytest.fixture(scope="module")
def mlp_explainer(small_mlp, small_classification):
    X, _ = small_classification
    return KernelScoringExplainer.from_model(small_mlp, X[:300], nclusters=5)


@pytest.fixture(scope="module")
def svc_explainer(seed_svc, seed_data):
    x_train, *_ = seed_data
    return KernelScoringExplainer.from_model(seed_svc, x_train, features=seed_data[4])


def test_auto_budget_enumerates_small_models(mlp_explainer):
    assert mlp_explainer.exact_
    assert mlp_explainer.n_coalitions == 2**8 - 2


def test_equals_brute_force_shapley(mlp_explainer, small_classification):
    X, _ = small_classification
    rows = X[300:310]
    values = mlp_explainer.explain(rows)  # (classes, rows, features)
    assert values.shape == (3, 10, 8)
    f = mlp_explainer.model.outputs
    for i, x in enumerate(rows):
        exact = brute_force_shapley(
            f, x, mlp_explainer.background_, mlp_explainer.background_weights_
        )
        np.testing.assert_allclose(values[:, i, :], exact.T, atol=1e-6, rtol=0)


def test_regression_equals_brute_force(small_regression):
    from sklearn.ensemble import GradientBoostingRegressor

    X, y = small_regression
    model = GradientBoostingRegressor(n_estimators=30, max_depth=3, random_state=0).fit(X, y)
    explainer = KernelScoringExplainer.from_model(model, X, nclusters=8)
    assert explainer.task == "regression" and explainer.output_space == "raw"
    result = explainer.score(X[:5])
    assert result.local_importance_values.shape == (5, 6)
    for i, x in enumerate(X[:5]):
        exact = brute_force_shapley(
            explainer.model.outputs, x, explainer.background_, explainer.background_weights_
        )
        np.testing.assert_allclose(result.local_importance_values[i], exact[:, 0], atol=1e-6)
    np.testing.assert_allclose(
        result.local_importance_values.sum(1) + result.expected_values,
        result.predictions,
        atol=1e-6,
    )
    # the converted model is the model: predictions agree with scikit-learn
    np.testing.assert_allclose(result.predictions, model.predict(X[:5]), rtol=1e-5)


def test_additivity_every_row(svc_explainer, seed_data):
    _, x_test, *_ = seed_data
    result = svc_explainer.score(x_test[:20])
    total = result.local_importance_values.sum(-1) + result.expected_values[:, None]
    np.testing.assert_allclose(total, result.probabilities.T, atol=1e-6)
    assert result.output_space == "probability"
    assert result.classes == [0, 1]


@pytest.mark.slow
def test_agrees_with_shap_within_its_sampling_noise(seed_svc, seed_data):
    import shap

    x_train, x_test, *_ = seed_data
    summary = shap.kmeans(x_train, 10)
    budget = 3000
    ours = KernelScoringExplainer.from_model(
        seed_svc,
        summary.data,
        nclusters=None,
        background_weights=summary.weights,
        nsamples=budget,
    )
    rows = x_test[:4]
    mine = ours.explain(rows)[1]
    runs = []
    for seed in (1, 2):
        np.random.seed(seed)  # noqa: NPY002 - shap samples from the global RNG
        explainer = shap.KernelExplainer(seed_svc.predict_proba, summary)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            runs.append(
                explainer.shap_values(rows, nsamples=budget, l1_reg=False, silent=True)[..., 1]
            )
    noise = np.abs(runs[0] - runs[1]).mean()  # shap's own run-to-run difference
    assert noise > 0
    gap = np.abs(mine - (runs[0] + runs[1]) / 2).mean()
    assert gap < 2 * noise + 1e-5, (gap, noise)
    # expected value: the same background, the same model (up to float32)
    np.testing.assert_allclose(ours.expected_values, explainer.expected_value, atol=1e-5)


def test_same_row_same_values_whatever_the_batch(mlp_explainer, small_classification):
    X, _ = small_classification
    batch = mlp_explainer.explain(X[300:340])
    for i in (0, 17, 39):
        alone = mlp_explainer.explain(X[300 + i : 301 + i])
        np.testing.assert_array_equal(alone[:, 0], batch[:, i])


@pytest.mark.slow
def test_distilling_twice_gives_the_same_explainer(seed_svc, seed_data):
    x_train, x_test, *_ = seed_data
    a = KernelScoringExplainer.from_model(seed_svc, x_train, nsamples=300, random_state=4)
    b = KernelScoringExplainer.from_model(seed_svc, x_train, nsamples=300, random_state=4)
    np.testing.assert_array_equal(a.masks_, b.masks_)
    np.testing.assert_array_equal(a.explain(x_test[:3]), b.explain(x_test[:3]))
    c = KernelScoringExplainer.from_model(seed_svc, x_train, nsamples=300, random_state=5)
    assert not np.array_equal(a.masks_, c.masks_)


def test_chunking_does_not_change_values(mlp_explainer, small_classification):
    X, _ = small_classification
    rows = X[300:306]
    small = KernelScoringExplainer(
        model=mlp_explainer.model,
        background=mlp_explainer.background_,
        background_weights=mlp_explainer.background_weights_,
        masks=mlp_explainer.masks_,
        coalition_weights=mlp_explainer.coalition_weights_,
        exact=True,
        max_synthetic_rows=37,  # forces chunks inside one row
        features=mlp_explainer.features,
        classes=mlp_explainer.classes,
        output_space="probability",
        expected_values=mlp_explainer.expected_values,
        allow_missing=False,
    )
    np.testing.assert_allclose(small.explain(rows), mlp_explainer.explain(rows), atol=1e-12, rtol=0)


def test_thread_safe(svc_explainer, seed_data):
    _, x_test, *_ = seed_data
    rows = [x_test[i : i + 2] for i in range(0, 16, 2)]
    serial = [svc_explainer.explain(r) for r in rows]
    results: list[np.ndarray | None] = [None] * len(rows)
    barrier = threading.Barrier(len(rows))

    def work(i: int) -> None:
        barrier.wait()
        results[i] = svc_explainer.explain(rows[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(rows))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, want in zip(results, serial, strict=True):
        np.testing.assert_array_equal(got, want)


def test_dataframe_equals_ndarray(svc_explainer, seed_data):
    _, x_test, *_, names = seed_data
    frame = pd.DataFrame(x_test[:3], columns=names)
    np.testing.assert_array_equal(svc_explainer.explain(frame), svc_explainer.explain(x_test[:3]))
    shuffled = frame[names[::-1]]
    np.testing.assert_array_equal(
        svc_explainer.explain(shuffled), svc_explainer.explain(x_test[:3])
    )


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (np.zeros((2, 29)), "expected 30 features per row, got 29"),
        (np.zeros((0, 30)), "empty batch"),
        ([["a"] * 30], "row 0, column 'mean radius': non-numeric value 'a'"),
        (np.full((1, 30), np.inf), "infinite value"),
        (np.full((1, 30), np.nan), "missing value"),
        (np.zeros((2, 3, 30)), "2-D array"),
    ],
)
def test_bad_input_is_a_clear_error(svc_explainer, rows, message):
    with pytest.raises(InputError, match=message):
        svc_explainer.explain(rows)


def test_bad_dataframe_columns(svc_explainer, seed_data):
    _, x_test, *_, names = seed_data
    frame = pd.DataFrame(x_test[:2], columns=names)
    with pytest.raises(InputError, match="missing columns \\['mean radius'\\]"):
        svc_explainer.explain(frame.drop(columns=["mean radius"]))
    with pytest.raises(InputError, match="unknown columns \\['extra'\\]"):
        svc_explainer.explain(frame.assign(extra=1.0))
    with pytest.raises(InputError, match="row 0, column 'mean area': non-numeric value 'x'"):
        svc_explainer.explain(frame.assign(**{"mean area": ["x", "y"]}))


def test_missing_values_allowed_when_the_model_imputes(small_regression):
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline

    X, y = small_regression
    model = make_pipeline(SimpleImputer(), Ridge()).fit(X, y)
    explainer = KernelScoringExplainer.from_model(model, X, nclusters=5)
    assert explainer.allow_missing
    row = X[:1].copy()
    row[0, 2] = np.nan
    result = explainer.score(row)
    np.testing.assert_allclose(result.predictions, model.predict(row), rtol=1e-5)
    np.testing.assert_allclose(
        result.local_importance_values.sum() + result.expected_values,
        result.predictions[0],
        atol=1e-6,
    )


def test_class_names_replace_labels(small_mlp, small_classification):
    X, _ = small_classification
    explainer = KernelScoringExplainer.from_model(
        small_mlp, X[:100], nclusters=3, classes=["a", "b", "c"], nsamples=60
    )
    result = explainer.score(X[:20])
    assert result.classes == ["a", "b", "c"]
    np.testing.assert_array_equal(
        result.predictions, np.array(["a", "b", "c"])[small_mlp.predict(X[:20])]
    )


def test_to_dict_is_json_native(svc_explainer, seed_data):
    import json

    _, x_test, *_ = seed_data
    body = svc_explainer.score(x_test[:2]).to_dict()
    text = json.dumps(body)
    assert json.loads(text)["predictions"] == body["predictions"]
    assert len(body["local_importance_values"]) == 2
    assert set(body) >= {
        "predictions",
        "probabilities",
        "local_importance_values",
        "expected_values",
        "features",
        "classes",
        "output_space",
    }


def test_nclusters_none_keeps_every_row(small_mlp, small_classification):
    X, _ = small_classification
    explainer = KernelScoringExplainer.from_model(small_mlp, X[:7], nclusters=None, nsamples=40)
    np.testing.assert_array_equal(explainer.background_, X[:7])
    np.testing.assert_allclose(explainer.background_weights_, 1 / 7)


def _restricted_wls(masks, weights, y, delta, keep):
    """Constrained WLS on the kept features, solved as a KKT system."""
    Z = masks[:, keep].astype(float)
    t = len(keep)
    kkt = np.zeros((t + 1, t + 1))
    kkt[:t, :t] = Z.T @ (weights[:, None] * Z)
    kkt[:t, t] = kkt[t, :t] = 1.0
    rhs = np.concatenate([Z.T @ (weights * y), [delta]])
    return np.linalg.solve(kkt, rhs)[:t]


@pytest.mark.slow
def test_max_features_refits_on_the_top_features(seed_svc, seed_data):
    x_train, x_test, *_ = seed_data
    full = KernelScoringExplainer.from_model(seed_svc, x_train, nsamples=400)
    top = KernelScoringExplainer.from_model(seed_svc, x_train, nsamples=400, max_features=6)
    rows = x_test[:5]
    result = top.score(rows)
    values = result.local_importance_values
    assert ((values[1] != 0).sum(axis=1) == 6).all()
    np.testing.assert_allclose(
        values.sum(-1) + result.expected_values[:, None], result.probabilities.T, atol=1e-9
    )
    np.testing.assert_allclose(values[0], -values[1], atol=1e-7)  # p0 + p1 = 1 in float32
    reference = full.explain(rows)[1]
    v = top._coalition_values(rows.astype(np.float32), slice(0, top.n_coalitions))[:, :, 1]
    expected = top.expected_values[1]
    for i in range(len(rows)):
        keep = np.sort(np.argsort(-np.abs(reference[i]))[:6])
        np.testing.assert_array_equal(np.flatnonzero(values[1, i]), keep)
        want = _restricted_wls(
            top.masks_,
            top.coalition_weights_,
            v[i] - expected,
            result.probabilities[i, 1] - expected,
            keep,
        )
        np.testing.assert_allclose(values[1, i, keep], want, atol=1e-9)


def test_max_features_is_ignored_when_values_are_exact(small_mlp, small_classification):
    X, _ = small_classification
    explainer = KernelScoringExplainer.from_model(small_mlp, X[:100], nclusters=3, max_features=2)
    assert explainer.exact_ and explainer.max_features is None


def test_svc_batch_independence(svc_explainer, seed_data):
    _, x_test, *_ = seed_data
    batch = svc_explainer.explain(x_test[:6])
    for i in range(6):
        np.testing.assert_array_equal(svc_explainer.explain(x_test[i : i + 1])[:, 0], batch[:, i])


def test_memory_stays_bounded_for_large_batches(small_mlp, small_classification):
    import tracemalloc

    X, _ = small_classification
    explainer = KernelScoringExplainer.from_model(
        small_mlp, X[:300], nsamples=200, max_synthetic_rows=8192
    )
    rows = np.random.default_rng(0).normal(size=(10_000, 8))
    unchunked = len(rows) * explainer.n_coalitions * len(explainer.background_) * 8 * 4
    tracemalloc.start()
    values = explainer.explain(rows)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert values.shape == (3, 10_000, 8)
    assert unchunked > 200 * 2**20
    assert peak < 64 * 2**20, f"peak {peak / 2**20:.0f} MiB"


def test_classifier_without_probabilities_is_a_clear_error(small_classification):
    from sklearn.svm import LinearSVC

    from scoring_explainers import UnsupportedModelError

    X, y = small_classification
    model = LinearSVC().fit(X, y)
    with pytest.raises(UnsupportedModelError, match="LinearSVC is a classifier without"):
        KernelScoringExplainer.from_model(model, X[:50], nclusters=3, nsamples=40)


def test_values_beyond_float32_are_refused(svc_explainer):
    with pytest.raises(InputError, match="beyond the float32 range"):
        svc_explainer.explain(np.full((1, 30), 1e39))
