"""TabularExplainer: the dispatch, values against shap and exact Shapley values, raw
features, distillation (same values at scoring time, after save/load)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import shap
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import LinearSVC

from scoring_explainers import ConversionError, InputError, UnsupportedModelError
from scoring_explainers.explainers import TabularExplainer, scoring_explainer_for
from scoring_explainers.scoring import (
    KernelScoringExplainer,
    LinearScoringExplainer,
    TreeScoringExplainer,
    load,
    save,
)
from tests.conftest import brute_force_shapley


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=400, n_features=6, n_informative=4, n_redundant=0, random_state=0
    )
    return X[:300], X[300:], y[:300], y[300:]


@pytest.fixture(scope="module")
def mixed():
    """Raw data with a numeric and two categorical (numeric-coded) columns."""
    rng = np.random.default_rng(0)
    n = 500
    raw = pd.DataFrame(
        {
            "age": rng.normal(40, 10, n),
            "income": rng.normal(50, 15, n),
            "region": rng.integers(0, 4, n).astype(float),
            "plan": rng.integers(0, 3, n).astype(float),
        }
    )
    y = (
        (raw.age - 40) / 10 + (raw.region == 2) - 0.5 * (raw.plan == 1) + rng.normal(0, 0.5, n) > 0
    ).astype(int)
    ct = ColumnTransformer(
        [
            ("num", StandardScaler(), ["age", "income"]),
            ("cat", OneHotEncoder(drop="first", handle_unknown="ignore"), ["region", "plan"]),
        ]
    ).fit(raw)
    return raw, y.to_numpy(), ct


def test_dispatch_records_the_choice_and_why(data):
    X, _, y, _ = data
    cases = {
        "shap.tree": RandomForestClassifier(20, max_depth=4, random_state=0),
        "shap.linear": LogisticRegression(),
        "shap.kernel": KNeighborsClassifier(),
    }
    for method, model in cases.items():
        explainer = TabularExplainer(model.fit(X, y), X, nsamples=100)
        assert explainer.method == method
        assert type(model).__name__ in explainer.method_reason


def test_tree_values_equal_shap(data):
    X, X_test, y, _ = data
    model = RandomForestClassifier(30, max_depth=5, random_state=0).fit(X, y)
    explanation = TabularExplainer(model, X).explain_local(X_test)
    expected = shap.TreeExplainer(model).shap_values(X_test)  # (rows, features, classes)
    np.testing.assert_allclose(
        explanation.local_importance_array, expected.transpose(2, 0, 1), atol=1e-9
    )
    np.testing.assert_allclose(
        explanation.expected_values, shap.TreeExplainer(model).expected_value, atol=1e-9
    )


def test_linear_values_equal_shap(data):
    X, X_test, y, _ = data
    model = LogisticRegression().fit(X, y)
    explanation = TabularExplainer(model, X).explain_local(X_test)
    masker = shap.maskers.Independent(X, max_samples=len(X))
    expected = shap.LinearExplainer(model, masker).shap_values(X_test)
    values = explanation.local_importance_array
    np.testing.assert_allclose(values[1], expected, atol=1e-9)
    np.testing.assert_allclose(values[0], -expected, atol=1e-9)


def test_kernel_values_are_exact_shapley_and_equal_shap(data):
    X, X_test, y, _ = data
    model = MLPClassifier((16,), max_iter=500, random_state=0).fit(X, y)
    background = X[:12]
    explainer = TabularExplainer(model, background, nclusters=None)
    assert explainer.engine_.exact_  # 6 features: every coalition enumerated
    values = explainer.explain_local(X_test[:4]).local_importance_array
    weights = np.full(len(background), 1 / len(background))
    for r in range(4):
        exact = brute_force_shapley(model.predict_proba, X_test[r], background, weights)
        np.testing.assert_allclose(values[:, r, :], exact.T, atol=2e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = shap.KernelExplainer(model.predict_proba, background).shap_values(
            X_test[:4], nsamples=1000, silent=True
        )
    np.testing.assert_allclose(values, np.transpose(theirs, (2, 0, 1)), atol=2e-6)


def test_additivity_against_the_model(data):
    X, X_test, y, _ = data
    for model in (
        RandomForestClassifier(20, max_depth=4, random_state=0),
        MLPClassifier((8,), max_iter=300, random_state=0),
    ):
        model.fit(X, y)
        explanation = TabularExplainer(model, X, nsamples=200).explain_local(X_test)
        total = (
            explanation.local_importance_array.sum(-1)
            + np.array(explanation.expected_values)[:, None]
        )
        np.testing.assert_allclose(total.T, model.predict_proba(X_test), atol=1e-5)


def test_global_is_the_one_definition_and_json_native(data):
    X, X_test, y, _ = data
    model = RandomForestClassifier(20, max_depth=4, random_state=0).fit(X, y)
    explanation = TabularExplainer(model, X).explain_global(X_test)
    local = explanation.local_importance_array
    np.testing.assert_allclose(
        explanation.global_importance_values, np.abs(local).mean(axis=1).mean(axis=0)
    )
    json.dumps(explanation.get_feature_importance_dict())
    json.dumps(explanation.get_ranked_local_values(2))
    assert not explanation.is_raw
    without = TabularExplainer(model, X).explain_global(X_test, include_local=False)
    assert not without.has_local
    assert without.global_importance_values == explanation.global_importance_values


def test_numpy_pandas_and_sparse_inputs_agree(data):
    X, X_test, y, _ = data
    model = LogisticRegression().fit(X, y)
    names = [f"f{i}" for i in range(X.shape[1])]
    dense_values = TabularExplainer(model, X, features=names).explain_local(X_test)
    frame = TabularExplainer(model, pd.DataFrame(X, columns=names)).explain_local(
        pd.DataFrame(X_test, columns=names)
    )
    sparse = TabularExplainer(model, sp.csr_matrix(X), features=names).explain_local(
        sp.csr_matrix(X_test)
    )
    assert frame.features == names
    np.testing.assert_array_equal(dense_values.local_importance_array, frame.local_importance_array)
    np.testing.assert_array_equal(
        dense_values.local_importance_array, sparse.local_importance_array
    )


def test_raw_features_through_transformations_keep_additivity(mixed):
    raw, y, ct = mixed
    model = RandomForestClassifier(30, max_depth=5, random_state=0).fit(ct.transform(raw), y)
    explainer = TabularExplainer(model, raw, transformations=ct)
    assert explainer.method == "shap.tree"
    explanation = explainer.explain_local(raw.head(50))
    assert explanation.is_raw and explanation.features == list(raw.columns)
    engineered = explainer.engine_.explain(ct.transform(raw.head(50)))
    assert engineered.shape[-1] == 2 + 3 + 2  # drop="first": 3 + 2 one-hot columns
    raw_values = explanation.local_importance_array
    np.testing.assert_allclose(raw_values.sum(-1), engineered.sum(-1), atol=1e-12)
    # region's value is the sum of its one-hot columns' values
    region = [i for i, n in enumerate(explainer.explained_.model_features) if "region" in n]
    np.testing.assert_allclose(raw_values[..., 2], engineered[..., region].sum(-1), atol=1e-12)


def test_pipeline_ending_in_a_tree_is_explained_exactly_for_its_inputs(mixed):
    raw, y, ct = mixed
    pipeline = make_pipeline(ct, RandomForestClassifier(20, max_depth=4, random_state=0))
    pipeline.fit(raw, y)
    explainer = TabularExplainer(pipeline, raw)
    assert explainer.method == "shap.tree"
    explanation = explainer.explain_local(raw.head(20))
    assert explanation.features == list(raw.columns)
    total = (
        explanation.local_importance_array.sum(-1) + np.array(explanation.expected_values)[:, None]
    )
    np.testing.assert_allclose(total.T, pipeline.predict_proba(raw.head(20)), atol=1e-9)


@pytest.mark.parametrize("kind", ["tree", "linear", "kernel"])
def test_distilled_explainer_gives_the_same_values_on_raw_rows(mixed, kind, tmp_path):
    raw, y, ct = mixed
    engineered = ct.transform(raw)
    model = {
        "tree": RandomForestClassifier(20, max_depth=4, random_state=0),
        "linear": LogisticRegression(),
        "kernel": MLPClassifier((8,), max_iter=300, random_state=0),
    }[kind].fit(engineered, y)
    explainer = TabularExplainer(model, raw, transformations=ct, nsamples=200)
    assert explainer.kind == kind
    rows = raw.sample(30, random_state=1)
    full = explainer.explain_local(rows).local_importance_array
    scoring = scoring_explainer_for(explainer)
    assert scoring.kind == kind and scoring.features == list(raw.columns)
    save(scoring, tmp_path / kind)
    loaded = load(tmp_path / kind)
    result = loaded.score(rows)
    # the preprocessing runs as float32 ONNX: agreement to float32 precision
    np.testing.assert_allclose(result.local_importance_values, full, atol=1e-5)
    np.testing.assert_array_equal(result.predictions, model.predict(ct.transform(rows)))
    if kind == "kernel":  # the raw features are the players: no engineered values
        with pytest.raises(InputError, match="players are the raw features"):
            loaded.explain(rows, get_raw=False)
        return
    engineered_values = loaded.explain(rows, get_raw=False)
    np.testing.assert_allclose(
        engineered_values.sum(-1), result.local_importance_values.sum(-1), atol=1e-9
    )


def test_scoring_explainer_constructors_take_an_explainer(data):
    X, X_test, y, _ = data
    model = RandomForestClassifier(20, max_depth=4, random_state=0).fit(X, y)
    explainer = TabularExplainer(model, X)
    tree = TreeScoringExplainer.from_explainer(explainer)
    np.testing.assert_array_equal(
        tree.explain(X_test), explainer.explain_local(X_test).local_importance_array
    )
    # a Kernel explainer can be distilled from a tree explainer too (needs the init data)
    kernel = KernelScoringExplainer.from_explainer(explainer)
    assert kernel.kind == "kernel"
    direct = KernelScoringExplainer.from_model(model, X)  # same defaults, same design
    np.testing.assert_array_equal(kernel.explain(X_test[:2]), direct.explain(X_test[:2]))
    with pytest.raises(UnsupportedModelError, match="coef_"):
        LinearScoringExplainer.from_explainer(explainer)


def test_real_causes_are_raised(data):
    X, _, y, _ = data
    with pytest.raises(UnsupportedModelError, match="predict_proba"):
        TabularExplainer(LinearSVC().fit(X, y), X)

    class Custom:
        """A model no converter knows: explained in-process, cannot be distilled."""

        classes_ = np.array([0, 1])

        def fit(self, X, y):
            return self

        def predict(self, X):
            return (np.asarray(X)[:, 0] > 0).astype(int)

        def predict_proba(self, X):
            p = 1 / (1 + np.exp(-np.asarray(X)[:, 0]))
            return np.column_stack([1 - p, p])

    explainer = TabularExplainer(Custom(), X[:50], nsamples=100)
    assert explainer.method == "shap.kernel"
    values = explainer.explain_local(X[:3]).local_importance_array
    assert np.abs(values[1, :, 1:]).max() < 1e-7  # only feature 0 matters
    with pytest.raises(ConversionError, match="cannot be converted"):
        scoring_explainer_for(explainer)


def test_regression_and_subset(data):
    X, y = make_regression(n_samples=200, n_features=5, random_state=0)
    model = GradientBoostingRegressor(n_estimators=30, random_state=0).fit(X, y)
    explainer = TabularExplainer(model, X, explain_subset=[0, 3])
    explanation = explainer.explain_global(X[:20])
    assert explanation.model_task == "regression"
    assert explanation.features == ["feature_0", "feature_3"]
    full = TabularExplainer(model, X).explain_local(X[:20]).local_importance_array
    np.testing.assert_array_equal(explanation.local_importance_array, full[:, [0, 3]])
    ridge = TabularExplainer(Ridge().fit(X, y), X)
    assert ridge.method == "shap.linear" and isinstance(ridge.expected_values, float)


def test_string_categories_subsets_and_names(mixed):
    from sklearn.svm import SVC

    raw, y, _ = mixed
    strings = raw.assign(region=raw.region.map({0.0: "n", 1.0: "e", 2.0: "s", 3.0: "w"}))
    ct = ColumnTransformer(
        [("num", StandardScaler(), ["age", "income"]), ("cat", OneHotEncoder(), ["region"])]
    )
    pipeline = make_pipeline(ct, SVC(probability=True, random_state=0)).fit(strings, y)
    explainer = TabularExplainer(pipeline, strings, nsamples=100)
    assert explainer.method == "shap.kernel"
    explanation = explainer.explain_local(strings.head(5))
    assert explanation.is_raw and explanation.features == ["age", "income", "region", "plan"]
    scoring = scoring_explainer_for(explainer)  # string categories distil (raw players)
    np.testing.assert_allclose(
        scoring.score(strings.head(5)).local_importance_values,
        explanation.local_importance_values,
        atol=1e-6,
    )
    # subsets index the reported (raw) features
    tree = make_pipeline(ct, RandomForestClassifier(10, max_depth=3, random_state=0))
    tree.fit(strings, y)
    with pytest.raises(InputError, match="reported features"):
        TabularExplainer(tree, strings, explain_subset=[5])
    subset = TabularExplainer(tree, strings, explain_subset=[2])
    assert subset.explain_local(strings.head(3)).features == ["region"]
    # transformations fitted on a DataFrame, rows given as numpy: the names are the fitted ones
    numeric_ct = ColumnTransformer([("num", StandardScaler(), ["age", "income"])]).fit(raw)
    model = LogisticRegression().fit(numeric_ct.transform(raw), y)
    from_numpy = TabularExplainer(model, raw.to_numpy(), transformations=numeric_ct)
    assert from_numpy.features == list(raw.columns)


def test_sparse_rows_and_positional_examples(data):
    X, X_test, y, _ = data
    model = LogisticRegression().fit(X, y)
    explainer = TabularExplainer(model, X)
    scoring = scoring_explainer_for(explainer)
    np.testing.assert_array_equal(scoring.explain(sp.csr_matrix(X_test)), scoring.explain(X_test))
    kernel = KernelScoringExplainer.from_explainer(explainer, X[:50])
    assert kernel.kind == "kernel"
    direct = KernelScoringExplainer.from_model(model, X[:50])  # the given background
    np.testing.assert_array_equal(kernel.explain(X_test[:3]), direct.explain(X_test[:3]))


def test_an_imputer_dropping_a_column_is_a_clear_conversion_error(mixed):
    from sklearn.impute import SimpleImputer

    raw, y, _ = mixed
    frame = raw.assign(empty=np.nan)
    ct = ColumnTransformer([("imp", SimpleImputer(), ["age", "empty", "income"])]).fit(frame)
    model = LogisticRegression().fit(ct.transform(frame), y)
    explainer = TabularExplainer(model, frame, transformations=ct)
    assert explainer.explain_local(frame.head(3)).features == list(frame.columns)
    with pytest.raises(ConversionError, match="keep_empty_features"):
        scoring_explainer_for(explainer)
