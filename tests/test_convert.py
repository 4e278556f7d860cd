"""Model -> ONNX: the graph must be the model (probabilities within 1e-5, equal labels)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

from scoring_explainers import ConversionError
from scoring_explainers.convert import to_onnx
from scoring_explainers.scoring import OnnxModel


def _run(converted, X):
    model = OnnxModel(converted.onnx_bytes, task=converted.task, n_features=X.shape[1])
    return model.predict(X)


def _assert_same_classifier(model, converted, X):
    labels, probabilities = _run(converted, X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_allclose(probabilities, model.predict_proba(X), atol=1e-5)
        np.testing.assert_array_equal(labels, model.predict(X))
    assert converted.task == "classification"


def test_seed_svc(seed_svc, seed_data):
    _, x_test, *_ = seed_data
    converted = to_onnx(seed_svc, 30)
    _assert_same_classifier(seed_svc, converted, x_test)
    assert converted.classes == [0, 1]


def test_calibrated_svc_replacement(seed_data):
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import SVC

    x_train, x_test, y_train, *_ = seed_data
    model = CalibratedClassifierCV(SVC(gamma=0.001, C=100.0), ensemble=False).fit(x_train, y_train)
    _assert_same_classifier(model, to_onnx(model, 30), x_test)


def test_pipeline_with_column_transformer(small_classification):
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    X, y = small_classification
    X = X.copy()
    X[:, 6] = np.digitize(X[:, 6], [-1, 0, 1])  # integer-coded categories
    X[:, 7] = np.digitize(X[:, 7], [0])
    X[::13, 0] = np.nan
    pre = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), [0, 1, 2, 3, 4, 5]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), [6, 7]),
        ]
    )
    model = Pipeline([("pre", pre), ("clf", LogisticRegression(max_iter=1000))]).fit(X, y)
    _assert_same_classifier(model, to_onnx(model, 8), X)


def test_lightgbm_and_xgboost(small_classification):
    import lightgbm
    import xgboost

    X, y = small_classification
    for model in (
        lightgbm.LGBMClassifier(n_estimators=30, verbose=-1).fit(X, y),
        xgboost.XGBClassifier(n_estimators=30, max_depth=3).fit(X, y),
    ):
        _assert_same_classifier(model, to_onnx(model, 8), X)


def test_regressor_in_pipeline(small_regression):
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = small_regression
    model = make_pipeline(StandardScaler(), RandomForestRegressor(20, random_state=0)).fit(X, y)
    converted = to_onnx(model, 6)
    predictions, outputs = _run(converted, X)
    assert converted.task == "regression" and outputs.shape == (300, 1)
    np.testing.assert_allclose(predictions, model.predict(X), rtol=1e-5, atol=1e-4)


def test_existing_onnx_with_zipmap(seed_svc, seed_data, tmp_path):
    from skl2onnx import to_onnx as skl_to_onnx

    _, x_test, *_ = seed_data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        onx = skl_to_onnx(seed_svc, x_test[:1].astype(np.float32))  # default: ZipMap output
    path = tmp_path / "model.onnx"
    path.write_bytes(onx.SerializeToString())
    for source in (onx, onx.SerializeToString(), path, str(path)):
        converted = to_onnx(source, 30)
        assert converted.source == "onnx"
        assert converted.classes == [0, 1]  # read from the ZipMap node
        _assert_same_classifier(seed_svc, converted, x_test)


def test_unconvertible_estimator_is_named(small_classification):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    class HandMade(ClassifierMixin, BaseEstimator):
        def fit(self, X, y):
            self.classes_ = np.unique(y)
            return self

        def predict(self, X):
            return np.zeros(len(X), dtype=int)

        def predict_proba(self, X):
            return np.full((len(X), len(self.classes_)), 1 / len(self.classes_))

    X, y = small_classification
    model = make_pipeline(StandardScaler(), HandMade()).fit(X, y)
    with pytest.raises(ConversionError, match="cannot convert .*HandMade"):
        to_onnx(model, 8)


def test_garbage_onnx_bytes():
    with pytest.raises(ConversionError, match="cannot read ONNX model"):
        to_onnx(b"definitely not onnx", 3)


@pytest.mark.parametrize(
    "params",
    [
        {"kernel": "rbf", "gamma": 0.001, "C": 100.0},
        {"kernel": "linear", "C": 0.01},
        {"kernel": "poly", "degree": 2, "gamma": "scale", "coef0": 1.0},
        {"kernel": "sigmoid", "gamma": 1e-5, "coef0": 0.0},
    ],
    ids=lambda p: p["kernel"],
)
def test_dense_svm_graph_matches_libsvm(seed_data, params):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    from scoring_explainers.distill._svm_onnx import supports

    x_train, x_test, y_train, *_ = seed_data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = SVC(probability=True, random_state=0, **params).fit(x_train, y_train)
    assert supports(model)
    converted = to_onnx(model, 30)
    _assert_same_classifier(model, converted, np.vstack([x_train, x_test]))
    import onnx

    ops = {node.op_type for node in onnx.load_from_string(converted.onnx_bytes).graph.node}
    assert "SVMClassifier" not in ops and "MatMul" in ops
    if params["kernel"] == "rbf":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pipe = make_pipeline(StandardScaler(), SVC(probability=True, random_state=0))
            pipe.fit(x_train, y_train)
        _assert_same_classifier(pipe, to_onnx(pipe, 30), x_test)


def test_dense_svm_string_labels_and_svr(seed_data, small_regression):
    from sklearn.svm import SVC, SVR

    x_train, x_test, y_train, *_ = seed_data
    labels = np.array(["benign", "malignant"])[1 - y_train]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = SVC(gamma=0.001, C=10.0, probability=True, random_state=0).fit(x_train, labels)
    _assert_same_classifier(model, to_onnx(model, 30), x_test)
    X, y = small_regression
    svr = SVR(C=10.0).fit(X, y)
    converted = to_onnx(svr, 6)
    predictions, _ = _run(converted, X)
    np.testing.assert_allclose(predictions, svr.predict(X), rtol=1e-5, atol=1e-5)


def test_multiclass_svc_uses_the_dense_graph(small_classification):
    import onnx
    from sklearn.svm import SVC

    X, y = small_classification
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = SVC(probability=True, random_state=0).fit(X, y)
    converted = to_onnx(model, 8)
    _assert_same_classifier(model, converted, X)
    ops = {node.op_type for node in onnx.load_from_string(converted.onnx_bytes).graph.node}
    assert "SVMClassifier" not in ops and "Gemm" in ops
