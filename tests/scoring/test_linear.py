"""LinearScoringExplainer: closed form against shap, brute force and the model's margin."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import (
    ElasticNet,
    Lasso,
    LinearRegression,
    LogisticRegression,
    Ridge,
    SGDClassifier,
    SGDRegressor,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from scoring_explainers import UnsupportedModelError
from scoring_explainers.scoring import LinearScoringExplainer
from tests.conftest import brute_force_shapley


@pytest.fixture(scope="module")
def scaled_seed(seed_data):
    x_train, x_test, y_train, y_test, _ = seed_data
    scaler = StandardScaler().fit(x_train)
    return scaler.transform(x_train), scaler.transform(x_test), y_train, y_test


def test_binary_logistic_matches_shap(scaled_seed):
    import shap

    x_train, x_test, y_train, _ = scaled_seed
    model = LogisticRegression(max_iter=1000).fit(x_train, y_train)
    ours = LinearScoringExplainer.from_model(model, x_train)
    reference = shap.LinearExplainer(
        model, shap.maskers.Independent(x_train, max_samples=len(x_train))
    )
    expected = reference.shap_values(x_test)
    values = ours.explain(x_test)
    assert values.shape == (2, 114, 30)
    np.testing.assert_allclose(values[1], expected, atol=1e-10)
    np.testing.assert_allclose(values[0], -expected, atol=1e-10)
    assert ours.output_space == "log_odds"
    np.testing.assert_allclose(ours.expected_values[1], reference.expected_value, atol=1e-10)


def test_additive_in_margin_space(scaled_seed):
    x_train, x_test, y_train, _ = scaled_seed
    model = LogisticRegression(max_iter=1000).fit(x_train, y_train)
    result = LinearScoringExplainer.from_model(model, x_train).score(x_test)
    margin = model.decision_function(x_test)
    np.testing.assert_allclose(
        result.local_importance_values[1].sum(1) + result.expected_values[1], margin, atol=1e-6
    )
    np.testing.assert_allclose(
        result.local_importance_values[0].sum(1) + result.expected_values[0], -margin, atol=1e-6
    )
    np.testing.assert_array_equal(result.predictions, model.predict(x_test))
    np.testing.assert_allclose(result.probabilities, model.predict_proba(x_test), atol=1e-5)


def test_multiclass_matches_brute_force(small_classification):
    X, y = small_classification
    model = LogisticRegression(max_iter=2000).fit(X, y)
    explainer = LinearScoringExplainer.from_model(model, X)
    values = explainer.explain(X[:3])
    assert values.shape == (3, 3, 8)
    mean = X.mean(0, keepdims=True)
    for i, x in enumerate(X[:3]):
        exact = brute_force_shapley(model.decision_function, x, mean, np.ones(1))
        np.testing.assert_allclose(values[:, i, :], exact.T, atol=1e-9)


@pytest.mark.parametrize(
    "estimator",
    [
        LinearRegression(),
        Ridge(alpha=2.0),
        Lasso(alpha=0.5),
        ElasticNet(alpha=0.5),
        SGDRegressor(random_state=0),
    ],
    ids=lambda e: type(e).__name__,
)
def test_regressors_exact_and_additive(small_regression, estimator):
    X, y = small_regression
    model = make_pipeline(StandardScaler(), estimator).fit(X, y)
    explainer = LinearScoringExplainer.from_model(model, X)
    result = explainer.score(X[:10])
    np.testing.assert_allclose(
        result.local_importance_values.sum(1) + result.expected_values,
        model.predict(X[:10]),
        rtol=1e-6,
        atol=1e-6,
    )
    exact = brute_force_shapley(model.predict, X[0], X.mean(0, keepdims=True), np.ones(1))
    np.testing.assert_allclose(result.local_importance_values[0], exact[:, 0], atol=1e-8)
    assert result.output_space == "raw"


def test_sgd_classifier_and_min_max_pipeline(small_classification):
    X, y = small_classification
    model = make_pipeline(MinMaxScaler(), SGDClassifier(loss="log_loss", random_state=0))
    model.fit(X, y)
    explainer = LinearScoringExplainer.from_model(model, X)
    assert explainer.output_space == "log_odds"
    values = explainer.explain(X[:5])
    np.testing.assert_allclose(
        values.sum(-1).T + explainer.expected_values, model.decision_function(X[:5]), atol=1e-8
    )


def test_not_a_linear_model(seed_svc, seed_data):
    with pytest.raises(UnsupportedModelError, match="SVC is not a linear model"):
        LinearScoringExplainer.from_model(seed_svc, seed_data[0])


def test_pipeline_step_that_does_not_fold(small_regression):
    from sklearn.preprocessing import PolynomialFeatures

    X, y = small_regression
    model = make_pipeline(PolynomialFeatures(2), Ridge()).fit(X, y)
    with pytest.raises(UnsupportedModelError, match="PolynomialFeatures"):
        LinearScoringExplainer.from_model(model, X)


def test_predictions_from_the_closed_form_match_the_model(
    scaled_seed, small_classification, small_regression
):
    x_train, x_test, y_train, _ = scaled_seed
    binary = LogisticRegression(max_iter=1000).fit(x_train, y_train)
    X, y = small_classification
    multi = LogisticRegression(max_iter=2000).fit(X, y)
    Xr, yr = small_regression
    ridge = Ridge().fit(Xr, yr)
    sgd = SGDClassifier(loss="log_loss", random_state=0).fit(X, y)
    cases = [
        (binary, x_train, x_test, "logistic"),
        (multi, X, X[:50], "softmax"),
        (ridge, Xr, Xr[:50], "identity"),
        (sgd, X, X[:50], "onnx"),  # one-vs-rest probabilities: left to the model's graph
    ]
    for model, background, rows, link in cases:
        explainer = LinearScoringExplainer.from_model(model, background)
        assert explainer.link == link
        result = explainer.score(rows)
        np.testing.assert_array_equal(result.predictions, model.predict(rows))
        if link in ("logistic", "softmax"):
            np.testing.assert_allclose(result.probabilities, model.predict_proba(rows), atol=1e-12)
        if link == "identity":
            np.testing.assert_allclose(result.predictions, model.predict(rows), atol=1e-9)


def test_clipping_scaler_is_refused(small_regression):
    X, y = small_regression
    model = make_pipeline(MinMaxScaler(clip=True), Ridge()).fit(X, y)
    with pytest.raises(UnsupportedModelError, match="clip=True"):
        LinearScoringExplainer.from_model(model, X)
