"""One answer to "which estimator, is it a classifier, what are its features" for the distill
side and the full explainers."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.mixture import GaussianMixture
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from scoring_explainers import InputError
from scoring_explainers.distill import (
    final_estimator,
    gives_probabilities,
    is_classifier,
    resolve_features,
)
from scoring_explainers.explainers import PFIExplainer


class BlackBox:
    """Not a scikit-learn estimator: a classifier because it has predict_proba."""

    classes_ = np.array([0, 1])

    def fit(self, X, y):
        return self

    def predict(self, X):
        return (np.asarray(X)[:, 0] > 0).astype(int)

    def predict_proba(self, X):
        p = 1 / (1 + np.exp(-np.asarray(X)[:, 0]))
        return np.column_stack([1 - p, p])


class BlackBoxRegressor:
    def fit(self, X, y):
        return self

    def predict(self, X):
        return np.asarray(X)[:, 0]


@pytest.fixture(scope="module")
def data():
    return make_classification(n_samples=200, n_features=4, random_state=0)


def test_final_estimator():
    svc = SVC()
    assert final_estimator(svc) is svc
    assert final_estimator(make_pipeline(StandardScaler(), svc)) is svc
    onnx_bytes = b"\x08\x07"
    assert final_estimator(onnx_bytes) is onnx_bytes


def test_is_classifier_truth_table(data):
    X, y = data
    cases = {
        "LogisticRegression": (LogisticRegression().fit(X, y), True, True),
        "Pipeline(scaler, LogisticRegression)": (
            make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y),
            True,
            True,
        ),
        "SVC(probability=False)": (SVC().fit(X, y), True, False),
        "LinearRegression": (LinearRegression().fit(X, y), False, False),
        # scikit-learn types it (a density estimator): its predict_proba is not classes
        "GaussianMixture": (GaussianMixture(2, random_state=0).fit(X), False, False),
        "black box with predict_proba": (BlackBox(), True, True),
        "Pipeline(scaler, black box)": (make_pipeline(StandardScaler(), BlackBox()), True, True),
        "black box regressor": (BlackBoxRegressor(), False, False),
        "ONNX bytes": (b"\x08\x07", False, False),
        "scaler": (StandardScaler().fit(X), False, False),
    }
    got = {name: (is_classifier(m), gives_probabilities(m)) for name, (m, *_) in cases.items()}
    assert got == {name: (c, p) for name, (_, c, p) in cases.items()}


def test_the_explainers_use_the_same_answer(data):
    X, y = data
    assert PFIExplainer(BlackBox()).model_task == "classification"
    assert PFIExplainer(GaussianMixture(2, random_state=0).fit(X)).model_task == "regression"
    assert PFIExplainer(LogisticRegression().fit(X, y), model_task="regression").model_task == (
        "regression"
    )


def test_resolve_features(data):
    import pandas as pd

    X, y = data
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    fitted = LogisticRegression().fit(frame, y)
    assert resolve_features(X, None, ["w", "x", "y", "z"]) == ["w", "x", "y", "z"]
    assert resolve_features(frame, None, None) == ["a", "b", "c", "d"]
    assert resolve_features(X, fitted, None) == ["a", "b", "c", "d"]
    assert resolve_features(X, LogisticRegression().fit(X, y), None) == [
        "feature_0",
        "feature_1",
        "feature_2",
        "feature_3",
    ]
    # the full explainers also check the count against the rows
    with pytest.raises(InputError, match="3 feature names for 4 columns"):
        PFIExplainer(fitted, features=["a", "b", "c"]).explain_global(X, y)
