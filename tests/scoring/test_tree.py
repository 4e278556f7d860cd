"""TreeScoringExplainer against shap's TreeExplainer, native contributions and additivity."""

from __future__ import annotations

import warnings

import lightgbm
import numpy as np
import pytest
import xgboost
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import (
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
)
from sklearn.tree import DecisionTreeClassifier

from scoring_explainers.scoring import TreeScoringExplainer, load, save


def _data(kind: str, nan: bool = False):
    if kind == "regression":
        X, y = make_regression(n_samples=600, n_features=8, noise=5.0, random_state=3)
    else:
        X, y = make_classification(
            n_samples=600,
            n_features=8,
            n_informative=5,
            n_classes=3 if kind == "multiclass" else 2,
            random_state=3,
        )
    if nan:
        X = X.copy()
        X[::7, 2] = np.nan
        X[::11, 5] = np.nan
    return X, y


def _shap_layout(values, n_classes):
    values = np.asarray(values)
    if values.ndim == 3:  # shap >= 0.45: (rows, features, classes)
        return values.transpose(2, 0, 1)
    return values


CASES = {
    "rf-binary": (lambda: RandomForestClassifier(40, max_depth=6, random_state=0), "binary", False),
    "dt-multiclass": (
        lambda: DecisionTreeClassifier(max_depth=7, random_state=0),
        "multiclass",
        False,
    ),
    "et-regression": (
        lambda: ExtraTreesRegressor(30, max_depth=6, random_state=0),
        "regression",
        False,
    ),
    "gb-binary": (
        lambda: GradientBoostingClassifier(n_estimators=40, max_depth=3, random_state=0),
        "binary",
        False,
    ),
    "gb-multiclass": (
        lambda: GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=0),
        "multiclass",
        False,
    ),
    "gb-regression": (
        lambda: GradientBoostingRegressor(n_estimators=40, max_depth=4, random_state=0),
        "regression",
        False,
    ),
    "xgb-binary-nan": (lambda: xgboost.XGBClassifier(n_estimators=40, max_depth=4), "binary", True),
    "xgb-multiclass": (
        lambda: xgboost.XGBClassifier(n_estimators=20, max_depth=4),
        "multiclass",
        False,
    ),
    "xgb-regression-nan": (
        lambda: xgboost.XGBRegressor(n_estimators=40, max_depth=5),
        "regression",
        True,
    ),
    "lgbm-binary-nan": (
        lambda: lightgbm.LGBMClassifier(n_estimators=40, num_leaves=15, verbose=-1),
        "binary",
        True,
    ),
    "lgbm-multiclass": (
        lambda: lightgbm.LGBMClassifier(n_estimators=20, num_leaves=15, verbose=-1),
        "multiclass",
        False,
    ),
    "lgbm-regression": (
        lambda: lightgbm.LGBMRegressor(n_estimators=40, num_leaves=31, verbose=-1),
        "regression",
        False,
    ),
}


@pytest.fixture(scope="module", params=list(CASES))
def case(request):
    make, kind, nan = CASES[request.param]
    X, y = _data(kind, nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = make().fit(X[:500], y[:500])
        explainer = TreeScoringExplainer.from_model(model, X[:500])
    return request.param, model, explainer, X[500:]


def test_matches_shap_tree_explainer(case):
    import shap

    _name, model, explainer, rows = case
    values = explainer.explain(rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            reference = shap.TreeExplainer(model)
        except shap.utils._exceptions.InvalidModelError as exc:  # e.g. multiclass GBC
            pytest.skip(f"shap cannot explain it: {exc}")
        expected = _shap_layout(reference.shap_values(rows), 0)
    scale = max(1.0, float(np.abs(values).max()))
    if values.ndim == 3 and expected.ndim == 2:  # binary margin models: shap gives class 1
        np.testing.assert_allclose(values[1], expected, atol=1e-6 * scale)
        np.testing.assert_allclose(values[0], -expected, atol=1e-6 * scale)
    else:
        np.testing.assert_allclose(values, expected, atol=1e-6 * scale)
    np.testing.assert_allclose(
        np.atleast_1d(explainer.expected_values)[-1],
        np.atleast_1d(reference.expected_value)[-1],
        atol=1e-6 * scale,
    )


def test_matches_native_contributions(case):
    name, model, explainer, rows = case
    if name.startswith("lgbm"):
        native = model.predict(rows, pred_contrib=True)
    elif name.startswith("xgb"):
        native = model.get_booster().predict(xgboost.DMatrix(rows), pred_contribs=True)
    else:
        pytest.skip("no native contributions")
    values = explainer.explain(rows)
    m = rows.shape[1]
    native = np.asarray(native)
    if native.ndim == 3:  # xgboost multiclass: (rows, classes, features + 1)
        native = native.transpose(1, 0, 2)
    elif native.shape[1] > m + 1:  # lightgbm multiclass: (rows, classes * (features + 1))
        native = native.reshape(len(rows), -1, m + 1).transpose(1, 0, 2)
    ours = values[1] if values.ndim == 3 and native.ndim == 2 else values
    # the libraries compute in float32
    np.testing.assert_allclose(ours, native[..., :m], atol=2e-6 * max(1.0, np.abs(ours).max()))


def test_additive_against_the_margin(case):
    name, model, explainer, rows = case
    result = explainer.score(rows)
    values = result.local_importance_values
    total = values.sum(-1) + np.reshape(result.expected_values, (-1, 1) if values.ndim == 3 else ())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if explainer.output_space == "probability":
            truth = model.predict_proba(rows).T
        elif name.startswith("xgb"):
            truth = model.get_booster().predict(xgboost.DMatrix(rows), output_margin=True)
        elif name.startswith("lgbm"):
            truth = model.predict(rows, raw_score=True)
        elif hasattr(model, "decision_function"):
            truth = model.decision_function(rows)
        else:
            truth = model.predict(rows)
    truth = np.asarray(truth, dtype=float)
    if values.ndim == 3:
        if truth.ndim == 1:  # binary margin
            truth = np.stack([-truth, truth])
        elif truth.shape[0] == len(rows):
            truth = truth.T
    np.testing.assert_allclose(total, truth, atol=1e-5 * max(1.0, np.abs(truth).max()))


def test_round_trip_bit_exact(case, tmp_path):
    _, _, explainer, rows = case
    restored = load(save(explainer, tmp_path / "tree"))
    np.testing.assert_array_equal(restored.explain(rows), explainer.explain(rows))


def test_quadrature_path_equals_tables(case):
    _, _, explainer, rows = case
    slow = TreeScoringExplainer(
        model=explainer.model,
        arrays=explainer.arrays_,
        decision=explainer.decision,
        dtype=explainer.dtype,
        binary_margin=explainer.binary_margin,
        features=explainer.features,
        classes=explainer.classes,
        output_space=explainer.output_space,
        expected_values=explainer.expected_values,
        allow_missing=True,
    )
    slow.uses_tables_ = False
    slow._t, slow._w = np.polynomial.legendre.leggauss(8)
    slow._t, slow._w = (slow._t + 1) / 2, slow._w / 2
    np.testing.assert_allclose(slow.explain(rows), explainer.explain(rows), atol=1e-10)


def test_unsupported_model_is_named():
    from sklearn.linear_model import LogisticRegression

    from scoring_explainers import UnsupportedModelError

    X, y = _data("binary")
    with pytest.raises(UnsupportedModelError, match="LogisticRegression is not a supported tree"):
        TreeScoringExplainer.from_model(LogisticRegression().fit(X, y), X)


@pytest.mark.parametrize(
    "name", ["rf-binary", "gb-binary", "xgb-binary-nan", "lgbm-regression", "xgb-multiclass"]
)
def test_interventional_matches_shap(name, tmp_path):
    import shap

    make, kind, nan = CASES[name]
    X, y = _data(kind, nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = make().fit(X[:500], y[:500])
        background = X[:40]
        explainer = TreeScoringExplainer.from_model(
            model, background, feature_perturbation="interventional"
        )
        reference = shap.TreeExplainer(model, background, feature_perturbation="interventional")
        rows = X[500:530]
        expected = _shap_layout(reference.shap_values(rows), 0)
    result = explainer.score(rows)
    values = result.local_importance_values
    scale = max(1.0, float(np.abs(values).max()))
    ours = values[1] if values.ndim == 3 and expected.ndim == 2 else values
    np.testing.assert_allclose(ours, expected, atol=1e-6 * scale)
    # additive: values + expected value = the output, the trees' own margin
    shape = (-1, 1) if values.ndim == 3 else ()
    path = TreeScoringExplainer.from_model(model, background)
    margin = path.explain(rows).sum(-1) + np.reshape(path.expected_values, shape)
    total = values.sum(-1) + np.reshape(result.expected_values, shape)
    np.testing.assert_allclose(total, margin, atol=1e-9 * scale)
    restored = load(save(explainer, tmp_path / "interventional"))
    np.testing.assert_array_equal(restored.explain(rows), explainer.explain(rows))


def test_single_rows_equal_the_batch(case):
    _, _, explainer, rows = case
    batch = explainer.explain(rows[:6])
    for i in range(6):
        alone = explainer.explain(rows[i : i + 1])
        np.testing.assert_allclose(alone[..., 0, :], batch[..., i, :], atol=1e-12, rtol=1e-12)


def test_scatter_path_equals_the_dense_product(case, tmp_path):
    _, _, explainer, rows = case
    large = load(save(explainer, tmp_path / "copy"))
    large._to_features = None  # as for an ensemble too large for the dense matrix
    np.testing.assert_allclose(large.explain(rows), explainer.explain(rows), atol=1e-12, rtol=1e-12)
