"""MimicExplainer (fidelity, every surrogate on the scoring path) and PFIExplainer."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression
from sklearn.metrics import f1_score, mean_squared_error
from sklearn.neural_network import MLPClassifier

from scoring_explainers import InputError
from scoring_explainers.explainers import (
    DecisionTreeExplainableModel,
    LGBMExplainableModel,
    LinearExplainableModel,
    MimicExplainer,
    PFIExplainer,
    SGDExplainableModel,
    scoring_explainer_for,
)
from scoring_explainers.explanation import LocalExplanation
from scoring_explainers.scoring import load, save

SURROGATES = [
    LGBMExplainableModel,
    LinearExplainableModel,
    SGDExplainableModel,
    DecisionTreeExplainableModel,
]


@pytest.fixture(scope="module")
def binary():
    X, y = make_classification(
        n_samples=800, n_features=6, n_informative=4, n_redundant=0, random_state=1
    )
    model = MLPClassifier((16,), max_iter=600, random_state=0).fit(X[:600], y[:600])
    return model, X[:600], X[600:], y[600:]


@pytest.mark.parametrize("surrogate", SURROGATES)
def test_binary_fidelity_is_a_real_measure(binary, surrogate):
    model, X, X_test, _ = binary
    mimic = MimicExplainer(model, X, surrogate)
    fidelity = mimic.fidelity
    assert 0.0 <= fidelity["label_agreement"] <= 1.0
    assert fidelity["r2"] <= 1.0 and fidelity["n_rows"] == 120
    assert fidelity["label_agreement"] > 0.7  # every surrogate learns this teacher
    measure = mimic.get_surrogate_model_replication_measure(X_test)
    assert 0.7 < measure <= 1.0
    explanation = mimic.explain_global(X_test)
    assert explanation.metadata["fidelity"] == fidelity
    assert explanation.method == surrogate.method
    local = explanation.local_importance_array
    assert local.shape == (2, len(X_test), 6)
    np.testing.assert_array_equal(local[0], -local[1])
    # the explanation's predictions are the teacher's
    assert explanation.eval_y_predicted == model.predict(X_test).tolist()


def test_weak_surrogate_has_lower_fidelity(binary):
    model, X, X_test, _ = binary
    strong = MimicExplainer(model, X, LGBMExplainableModel)
    weak = MimicExplainer(
        model, X, DecisionTreeExplainableModel, explainable_model_args={"max_depth": 1}
    )
    assert weak.fidelity["r2"] < strong.fidelity["r2"] - 0.2
    assert weak.fidelity["label_agreement"] < strong.fidelity["label_agreement"]
    assert weak.get_surrogate_model_replication_measure(
        X_test
    ) < strong.get_surrogate_model_replication_measure(X_test)


@pytest.mark.parametrize("surrogate", SURROGATES)
def test_every_surrogate_distils_with_the_same_values(binary, surrogate, tmp_path):
    model, X, X_test, _ = binary
    mimic = MimicExplainer(model, X, surrogate)
    local = mimic.explain_local(X_test[:25]).local_importance_array
    scoring = scoring_explainer_for(mimic)
    save(scoring, tmp_path / "a")
    values = load(tmp_path / "a").explain(X_test[:25])
    # a binary surrogate regresses the class-1 log-odds; its artifact is a two-class
    # explainer in log-odds with the teacher's labels, like the full explanation
    np.testing.assert_allclose(values, local, atol=1e-9)
    result = load(tmp_path / "a").score(X_test[:25])
    assert result.classes == [0, 1] and result.output_space == "log_odds"
    margin = local[1].sum(-1) + mimic.explain_local(X_test[:25]).expected_values[1]
    np.testing.assert_allclose(result.probabilities[:, 1], 1 / (1 + np.exp(-margin)), atol=1e-5)
    np.testing.assert_array_equal(result.predictions, (margin > 0).astype(int))


def test_multiclass_and_regression_mimic():
    X, y = make_classification(
        n_samples=600, n_features=5, n_informative=4, n_redundant=0, n_classes=3, random_state=0
    )
    teacher = RandomForestClassifier(50, random_state=0).fit(X, y)
    mimic = MimicExplainer(teacher, X, LGBMExplainableModel, classes=["a", "b", "c"])
    explanation = mimic.explain_local(X[:10])
    assert explanation.classes == ["a", "b", "c"]
    assert explanation.local_importance_array.shape == (3, 10, 5)
    assert mimic.fidelity["label_agreement"] > 0.8
    Xr, yr = make_regression(n_samples=300, n_features=4, random_state=0)
    regression = MimicExplainer(LinearRegression().fit(Xr, yr), Xr, LinearExplainableModel)
    assert regression.fidelity["r2"] > 0.99 and regression.fidelity["label_agreement"] is None
    assert regression.explain_global().num_examples == 300  # the one definition, init rows


def test_pfi_string_metric_equals_the_callable(binary):
    model, _, X_test, y_test = binary
    by_name = PFIExplainer(model, metric="f1_score").explain_global(X_test, y_test)

    def f1_micro(y_true, y_pred):
        return f1_score(y_true, y_pred, average="micro")

    by_callable = PFIExplainer(model, metric=f1_micro).explain_global(X_test, y_test)
    assert by_name.global_importance_values == by_callable.global_importance_values
    assert by_name.global_importance_std == by_callable.global_importance_std
    assert by_name.method == "pfi" and not by_name.has_local
    assert len(by_name.global_importance_std) == 6


def test_pfi_on_a_scaled_linear_model_matches_the_closed_form():
    """For y = X @ coef with standardised independent columns, shuffling column j raises
    the mean squared error by 2 * coef_j**2 (in expectation)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20_000, 4))
    coef = np.array([3.0, -2.0, 1.0, 0.0])
    y = X @ coef
    model = LinearRegression().fit(X, y)
    pfi = PFIExplainer(model, metric="mean_squared_error", n_repeats=3)
    importances = np.array(pfi.explain_global(X, y).global_importance_values)
    np.testing.assert_allclose(importances, 2 * coef**2, rtol=0.05, atol=0.01)
    callable_pfi = PFIExplainer(model, metric=mean_squared_error, is_error_metric=True, n_repeats=3)
    np.testing.assert_allclose(
        callable_pfi.explain_global(X, y).global_importance_values, importances
    )


def test_pfi_errors_are_clear(binary):
    model, _, X_test, y_test = binary
    with pytest.raises(InputError, match="unknown metric"):
        PFIExplainer(model, metric="f2")
    with pytest.raises(InputError, match="true_labels"):
        PFIExplainer(model).explain_global(X_test, y_test[:5])
    proba = PFIExplainer(model, metric="roc_auc_score").explain_global(X_test, y_test)
    round_trip = LocalExplanation.from_json(proba.to_json())
    assert round_trip == proba


def test_classifiers_without_probabilities_and_probability_metrics():
    from sklearn.linear_model import LogisticRegression, RidgeClassifier

    X, y = make_classification(
        n_samples=300, n_features=4, n_informative=3, n_redundant=0, n_classes=3, random_state=0
    )
    labels = np.array(["a", "b", "c"])[y]
    ridge = RidgeClassifier().fit(X, labels)
    explanation = PFIExplainer(ridge).explain_global(X, labels)  # f1 on labels
    assert explanation.model_task == "classification" and explanation.classes == ["a", "b", "c"]
    with pytest.raises(InputError, match="predict_proba"):
        PFIExplainer(ridge, metric="roc_auc_score")
    with pytest.raises(InputError, match="predict_proba"):
        MimicExplainer(ridge, X, LGBMExplainableModel)
    logistic = LogisticRegression(max_iter=1000).fit(X, labels)
    auc = PFIExplainer(logistic, metric="roc_auc_score").explain_global(X, labels)
    assert max(auc.global_importance_values) > 0.01
    binary = labels != "a"
    two = LogisticRegression().fit(X, np.where(binary, "yes", "no"))
    for metric in ("average_precision_score", "brier_score_loss", "log_loss"):
        values = PFIExplainer(two, metric=metric).explain_global(X, np.where(binary, "yes", "no"))
        assert np.isfinite(values.global_importance_values).all()
    with pytest.raises(InputError, match="class names"):
        PFIExplainer(logistic, classes=["x", "y"]).explain_global(X, labels)
