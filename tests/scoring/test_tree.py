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
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
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
    "hgb-binary-nan": (
        lambda: HistGradientBoostingClassifier(max_iter=40, max_leaf_nodes=15, random_state=0),
        "binary",
        True,
    ),
    "hgb-multiclass-nan": (
        lambda: HistGradientBoostingClassifier(max_iter=15, max_leaf_nodes=15, random_state=0),
        "multiclass",
        True,
    ),
    "hgb-regression-nan": (
        lambda: HistGradientBoostingRegressor(max_iter=40, random_state=0),
        "regression",
        True,
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


def test_leaf_patterns_equal_the_per_element_reduction(case):
    _, _, explainer, rows = case
    _assert_patterns(explainer, rows)


def _assert_patterns(explainer, rows):
    """The packed per-leaf patterns equal sum_p on[p] * 2**p over each leaf's elements."""
    a = explainer.arrays_
    on = explainer._on(rows)  # (n, elements)
    position = np.arange(on.shape[1]) - np.repeat(a["leaf_start"], a["leaf_len"])
    expected = np.add.reduceat(on * 2**position, a["leaf_start"], axis=1)
    patterns = explainer._slots.patterns(explainer._go(rows))
    np.testing.assert_array_equal(patterns, expected)


def test_paths_with_more_than_eight_features_match_shap():
    """Leaves with 9-14 features on their path (16-bit patterns) against shap."""
    import shap
    from sklearn.tree import DecisionTreeRegressor

    X, y = make_regression(n_samples=3000, n_features=16, noise=1.0, random_state=0)
    model = DecisionTreeRegressor(max_depth=14, random_state=0).fit(X[:2500], y[:2500])
    explainer = TreeScoringExplainer.from_model(model, X[:100])
    depth = int(explainer.arrays_["leaf_len"].max())
    assert explainer.uses_tables_ and 8 < depth <= 14 and explainer._slots.width == 16
    rows = X[2500:2600]
    values = explainer.explain(rows)
    expected = shap.TreeExplainer(model).shap_values(rows)
    np.testing.assert_allclose(values, expected, atol=1e-6 * max(1.0, np.abs(values).max()))
    np.testing.assert_allclose(values.sum(1) + explainer.expected_values[0], model.predict(rows))
    _assert_patterns(explainer, rows)


def test_chunks_equal_the_whole_batch(case, monkeypatch):
    from scoring_explainers.runtime import _tree as tree

    _, _, explainer, rows = case
    whole = explainer.explain(rows)
    monkeypatch.setattr(tree, "ROW_CHUNK", 7)
    np.testing.assert_allclose(explainer.explain(rows), whole, atol=1e-12, rtol=1e-12)


# -- HistGradientBoosting: the graph built from the trees ----------------------------------


def _hgb(kind: str, nan: bool = True):
    make, _, _ = CASES[f"hgb-{kind}-nan"]
    X, y = _data(kind, nan)
    return make().fit(X[:500], y[:500]), X


def _margin(model, rows):
    """The model's own raw margin, (n_outputs, n_rows)."""
    if hasattr(model, "decision_function"):
        margin = np.asarray(model.decision_function(rows), dtype=float)
        return margin.T if margin.ndim == 2 else np.stack([-margin, margin])
    return np.asarray(model.predict(rows), dtype=float)[None, :]


@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression"])
def test_hgb_graph_agrees_with_the_model_and_the_values_add_up(kind):
    """ORT's predictions equal the model's; the link of (values + expected) equals ORT's
    probabilities (or prediction); NaN rows included."""
    model, X = _hgb(kind)
    explainer = TreeScoringExplainer.from_model(model, X[:500])
    rows = X[500:]
    assert np.isnan(rows).any()
    check = explainer.metadata["conversion_check"]
    assert check["max_abs_diff"] <= 1e-6 * max(1.0, check["output_scale"])
    assert explainer.metadata["model_type"].endswith(type(model).__name__)
    result = explainer.score(rows)
    values = result.local_importance_values
    if kind == "regression":
        np.testing.assert_array_equal(result.predictions, explainer.model.predict(rows)[0])
        np.testing.assert_allclose(result.predictions, model.predict(rows), rtol=1e-6)
        total = values.sum(-1) + result.expected_values
        np.testing.assert_allclose(total, result.predictions, rtol=1e-6)
        assert explainer.output_space == "raw"
        return
    assert explainer.output_space == "log_odds"
    np.testing.assert_array_equal(result.predictions, model.predict(rows))
    np.testing.assert_allclose(result.probabilities, model.predict_proba(rows), atol=1e-6)
    margin = values.sum(-1) + np.reshape(result.expected_values, (-1, 1))  # (K, rows)
    np.testing.assert_allclose(margin, _margin(model, rows), atol=1e-9)
    if kind == "binary":  # the two margins are -m, m: probabilities sigmoid(-m), sigmoid(m)
        linked = 1.0 / (1.0 + np.exp(-margin.T))
    else:
        shifted = np.exp(margin.T - margin.T.max(axis=1, keepdims=True))
        linked = shifted / shifted.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(linked, result.probabilities, atol=1e-6)


def _exact_interventional(model, rows, background):
    """Shapley values of E_b[f(x_S, b_notS)] by enumerating every coalition,
    (n_outputs, n_rows, n_features)."""
    from itertools import product
    from math import factorial

    m = rows.shape[1]
    coalitions = np.array(list(product((False, True), repeat=m)))  # (2**m, m)
    hybrid = np.where(
        coalitions[None, :, None, :], rows[:, None, None, :], background[None, None, :, :]
    )  # (rows, 2**m, B, m)
    value = _margin(model, hybrid.reshape(-1, m))
    value = value.reshape(len(value), len(rows), len(coalitions), len(background)).mean(-1)
    size = coalitions.sum(axis=1)
    phi = np.zeros((len(value), len(rows), m))
    for i in range(m):
        inside = coalitions[:, i]
        s = np.where(inside, size - 1, size)
        weight = np.array([factorial(k) * factorial(m - k - 1) / factorial(m) for k in s])
        weight = np.where(inside, weight, -weight)
        phi[:, :, i] = value @ weight
    return phi


@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression"])
def test_hgb_interventional_equals_exact_enumeration(kind, tmp_path):
    """Against exact Shapley values by enumeration (NaN in rows and background).

    shap 0.51's interventional TreeExplainer is not the reference here: on
    HistGradientBoosting ensembles of more than one tree it fails its own additivity check
    (it matches for a single tree).
    """
    model, X = _hgb(kind)
    background, rows = X[490:496], X[500:506]
    assert np.isnan(background).any() and np.isnan(rows).any()
    explainer = TreeScoringExplainer.from_model(
        model, background, feature_perturbation="interventional"
    )
    values = explainer.explain(rows)
    exact = _exact_interventional(model, rows, background)
    ours = values if values.ndim == 3 else values[None]
    np.testing.assert_allclose(ours, exact, atol=1e-9 * max(1.0, np.abs(exact).max()))
    expected = _margin(model, background).mean(axis=1)
    np.testing.assert_allclose(np.atleast_1d(explainer.expected_values), expected, atol=1e-9)
    restored = load(save(explainer, tmp_path / "hgb"))
    np.testing.assert_array_equal(restored.explain(rows), values)


def test_hgb_single_tree_interventional_matches_shap():
    import shap

    X, y = _data("regression", nan=True)
    model = HistGradientBoostingRegressor(max_iter=1, max_leaf_nodes=8).fit(X[:500], y[:500])
    explainer = TreeScoringExplainer.from_model(
        model, X[:40], feature_perturbation="interventional"
    )
    reference = shap.TreeExplainer(model, X[:40], feature_perturbation="interventional")
    rows = X[500:530]
    expected = reference.shap_values(rows)
    np.testing.assert_allclose(explainer.explain(rows), expected, atol=1e-6)


def test_hgb_refuses_categorical_splits_and_log_links():
    from scoring_explainers import UnsupportedModelError

    X, y = _data("binary")
    X = X.copy()
    X[:, 0] = np.round(np.abs(X[:, 0]) * 3) % 5
    categorical = HistGradientBoostingClassifier(max_iter=5, categorical_features=[0]).fit(X, y)
    with pytest.raises(UnsupportedModelError, match="categorical"):
        TreeScoringExplainer.from_model(categorical, X)
    Xr, yr = _data("regression")
    poisson = HistGradientBoostingRegressor(max_iter=5, loss="poisson").fit(Xr, np.abs(yr) + 1.0)
    with pytest.raises(UnsupportedModelError, match="poisson"):
        TreeScoringExplainer.from_model(poisson, Xr)


def test_hgb_class_names_and_dataframe_input():
    import pandas as pd

    X, y = _data("multiclass")
    names = [f"f{i}" for i in range(X.shape[1])]
    frame = pd.DataFrame(X, columns=names)
    labels = np.array(["ant", "bee", "cat"])[y]
    model = HistGradientBoostingClassifier(max_iter=10, random_state=0).fit(
        frame[:500], labels[:500]
    )
    explainer = TreeScoringExplainer.from_model(model, frame[:500])
    assert explainer.features == names
    assert explainer.classes == ["ant", "bee", "cat"]
    result = explainer.score(frame[500:])
    np.testing.assert_array_equal(result.predictions, model.predict(frame[500:]))
    renamed = TreeScoringExplainer.from_model(model, frame[:500], classes=["A", "B", "C"])
    expected = np.array(["A", "B", "C"])[
        np.searchsorted(model.classes_, model.predict(frame[500:]))
    ]
    np.testing.assert_array_equal(renamed.score(frame[500:]).predictions, expected)
    np.testing.assert_array_equal(renamed.explain(X[500:]), explainer.explain(X[500:]))


@pytest.mark.parametrize("name", ["rf-binary", "gb-multiclass", "xgb-binary-nan", "et-regression"])
def test_graph_from_the_trees_equals_the_model(name):
    """The graph built from the extracted trees (the fallback when skl2onnx fails)
    predicts as the model: float32 ensembles split float32 inputs as the library does."""
    from scoring_explainers.distill._tree_onnx import ensemble_to_onnx
    from scoring_explainers.distill._trees import extract
    from scoring_explainers.runtime import OnnxModel

    make, kind, nan = CASES[name]
    X, y = _data(kind, nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = make().fit(X[:500], y[:500])
    ensemble = extract(model)
    classes = list(model.classes_) if hasattr(model, "classes_") else None
    graph = OnnxModel(
        ensemble_to_onnx(ensemble, classes), task=ensemble.task, n_features=X.shape[1]
    )
    labels, outputs = graph.predict(X)
    if ensemble.task == "classification":
        np.testing.assert_allclose(outputs, model.predict_proba(X), atol=1e-6)
        np.testing.assert_array_equal(labels, model.predict(X))
    else:
        np.testing.assert_allclose(outputs[:, 0], model.predict(X), rtol=1e-5, atol=1e-5)


def test_falls_back_to_the_graph_from_the_trees(monkeypatch):
    from scoring_explainers import ConversionError
    from scoring_explainers.distill import _prepare

    real = _prepare.prepare

    def failing(model, *args, **kwargs):
        if not isinstance(model, bytes):
            raise ConversionError("skl2onnx cannot convert it")
        return real(model, *args, **kwargs)

    monkeypatch.setattr(_prepare, "prepare", failing)
    X, y = _data("binary")
    model = GradientBoostingClassifier(n_estimators=20, random_state=0).fit(X[:500], y[:500])
    explainer = TreeScoringExplainer.from_model(model, X[:500])
    result = explainer.score(X[500:])
    np.testing.assert_allclose(result.probabilities, model.predict_proba(X[500:]), atol=1e-6)
    assert explainer.metadata["conversion_check"]["max_abs_diff"] < 1e-6


@pytest.mark.slow
def test_hgb_artifact_runs_without_sklearn_or_shap(tmp_path):
    """Loaded and scored in a fresh interpreter: no shap/sklearn/boosting library imported,
    the same numbers bit for bit."""
    import json
    import subprocess
    import sys

    artifacts = {}
    for kind in ("binary", "multiclass", "regression"):
        model, X = _hgb(kind)
        artifacts[kind] = TreeScoringExplainer.from_model(model, X[:500])
        save(artifacts[kind], tmp_path / kind)
    rows = X[500:520]
    np.save(tmp_path / "rows.npy", rows)
    script = f"""
import json, sys
import numpy as np
from scoring_explainers.scoring import load
rows = np.load({str(tmp_path / "rows.npy")!r})
out = {{}}
for kind in ("binary", "multiclass", "regression"):
    result = load({str(tmp_path)!r} + "/" + kind).score(rows)
    out[kind] = {{
        "values": result.local_importance_values.tolist(),
        "outputs": (result.probabilities if result.probabilities is not None
                    else result.predictions).tolist(),
    }}
heavy = sorted(m for m in ("shap", "sklearn", "lightgbm", "xgboost", "skl2onnx", "onnx")
               if m in sys.modules)
print(json.dumps({{"out": out, "heavy": heavy}}))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    report = json.loads(done.stdout)
    assert report["heavy"] == []
    for kind, explainer in artifacts.items():
        result = explainer.score(rows)
        outputs = result.probabilities if result.probabilities is not None else result.predictions
        np.testing.assert_array_equal(report["out"][kind]["values"], result.local_importance_values)
        np.testing.assert_array_equal(report["out"][kind]["outputs"], outputs)


# -- interventional: tables over the background, pairs for deep paths --------------------


def _interventional(model, background):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return TreeScoringExplainer.from_model(
            model, background, feature_perturbation="interventional"
        )


def test_interventional_tables_equal_pairwise_weights():
    """Each table entry equals the mean over background rows of the pairwise closed form:
    +(a-1)! c! / (a+c)! where only x follows, -a! (c-1)! / (a+c)! where only b follows, 0
    when some feature is followed by neither (a, c: features only x / only b follows)."""
    from math import factorial

    from scoring_explainers.runtime._tree import _interventional_tables

    rng = np.random.default_rng(0)
    leaf_len = np.array([1, 3, 2, 5, 3, 6, 4])
    background = np.stack(
        [rng.integers(0, 2**d, size=13) for d in leaf_len], axis=1
    )  # (13 rows, 7 leaves)
    flat, start = _interventional_tables(background, leaf_len)
    for leaf, d in enumerate(leaf_len):
        full = 2**d - 1
        table = flat[start[leaf] : start[leaf] + 2**d * d].reshape(2**d, d)
        for px in range(2**d):
            expected = np.zeros(d)
            for pb in background[:, leaf]:
                if px | pb != full:
                    continue
                a, c = bin(px & ~pb).count("1"), bin(~px & pb & full).count("1")
                for p in range(d):
                    if px >> p & 1 and not pb >> p & 1:
                        expected[p] += factorial(a - 1) * factorial(c) / factorial(a + c)
                    elif pb >> p & 1 and not px >> p & 1:
                        expected[p] -= factorial(a) * factorial(c - 1) / factorial(a + c)
            np.testing.assert_allclose(table[px], expected / len(background), atol=1e-15)


def _outputs(model, rows):
    """The explained output, (n_outputs, n_rows): probabilities for forests of
    classifiers, the raw margin for boosting (binary: -m, m), the prediction otherwise."""
    if isinstance(model, (RandomForestClassifier, DecisionTreeClassifier)):
        return np.asarray(model.predict_proba(rows), dtype=float).T
    if isinstance(model, (xgboost.XGBClassifier, xgboost.XGBRegressor)):
        margin = model.get_booster().predict(xgboost.DMatrix(rows), output_margin=True)
    elif isinstance(model, (lightgbm.LGBMClassifier, lightgbm.LGBMRegressor)):
        margin = model.predict(rows, raw_score=True)
    else:
        return _margin(model, rows)
    margin = np.asarray(margin, dtype=float)
    if margin.ndim == 2:
        return margin.T
    return np.stack([-margin, margin]) if hasattr(model, "classes_") else margin[None, :]


@pytest.mark.parametrize(
    "name",
    [
        "rf-binary",
        "dt-multiclass",
        "xgb-multiclass",
        pytest.param("lgbm-multiclass", marks=pytest.mark.slow),
        "lgbm-regression",
    ],
)
def test_interventional_equals_exact_enumeration_with_nan(name, monkeypatch):
    """Tables and pairs both equal exact Shapley values of E_b[f(x_S, b_notS)] computed
    by enumerating every coalition, NaN in rows and background."""
    from scoring_explainers.runtime import _tree as tree

    make, kind, _ = CASES[name]
    X, y = _data(kind, nan=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = make().fit(X[:500], y[:500])
        background, rows = X[483:490], X[500:506]
        assert np.isnan(background).any() and np.isnan(rows).any()
        exact = _exact_interventional_outputs(model, rows, background)
    tables = _interventional(model, background)
    monkeypatch.setattr(tree, "MAX_TABLE_DEPTH", 0)
    pairs = _interventional(model, background)
    assert tables.uses_tables_ and not pairs.uses_tables_
    scale = max(1.0, np.abs(exact).max())
    tolerance = 2e-6 if name.startswith("xgb") else 1e-9  # XGBoost sums its margin in float32
    for explainer in (tables, pairs):
        values = explainer.explain(rows)
        ours = values if values.ndim == 3 else values[None]
        np.testing.assert_allclose(ours, exact, atol=tolerance * scale)
        truth = _outputs(model, background).mean(axis=1)
        np.testing.assert_allclose(np.atleast_1d(explainer.expected_values), truth, atol=1e-6)


def _exact_interventional_outputs(model, rows, background):
    """As :func:`_exact_interventional`, for the output :func:`_outputs` explains."""
    from itertools import product
    from math import factorial

    m = rows.shape[1]
    coalitions = np.array(list(product((False, True), repeat=m)))
    hybrid = np.where(
        coalitions[None, :, None, :], rows[:, None, None, :], background[None, None, :, :]
    )
    value = _outputs(model, hybrid.reshape(-1, m))
    value = value.reshape(len(value), len(rows), len(coalitions), len(background)).mean(-1)
    size = coalitions.sum(axis=1)
    phi = np.zeros((len(value), len(rows), m))
    for i in range(m):
        inside = coalitions[:, i]
        s = np.where(inside, size - 1, size)
        weight = np.array([factorial(k) * factorial(m - k - 1) / factorial(m) for k in s])
        phi[:, :, i] = value @ np.where(inside, weight, -weight)
    return phi


@pytest.mark.parametrize(
    "name",
    [
        "rf-binary",
        "dt-multiclass",
        "et-regression",
        "gb-multiclass",
        "xgb-regression-nan",
        "lgbm-binary-nan",
        "hgb-multiclass-nan",
    ],
)
def test_interventional_tables_equal_pairs(name, monkeypatch):
    """The tabulated background average equals the per-(row, background row) evaluation."""
    from scoring_explainers.runtime import _tree as tree

    make, kind, nan = CASES[name]
    X, y = _data(kind, nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = make().fit(X[:500], y[:500])
    background, rows = X[:60], X[500:]
    tables = _interventional(model, background)
    values = tables.explain(rows)
    monkeypatch.setattr(tree, "MAX_TABLE_DEPTH", 0)
    pairs = _interventional(model, background)
    assert tables.uses_tables_ and not pairs.uses_tables_
    np.testing.assert_allclose(values, pairs.explain(rows), atol=1e-12)
    np.testing.assert_array_equal(pairs.expected_values, tables.expected_values)


def test_interventional_chunks_equal_the_whole(monkeypatch):
    """Background patterns in passes of 8 rows (the same tables), rows in passes of 7."""
    from scoring_explainers.runtime import _tree as tree

    make, kind, nan = CASES["xgb-multiclass"]
    X, y = _data(kind, nan)
    model = make().fit(X[:500], y[:500])
    whole = _interventional(model, X[:50])
    values = whole.explain(X[500:])
    monkeypatch.setattr(tree, "ROW_CHUNK", 1)
    passes = _interventional(model, X[:50])
    np.testing.assert_array_equal(passes._table, whole._table)
    monkeypatch.setattr(tree, "ROW_CHUNK", 7)
    np.testing.assert_allclose(whole.explain(X[500:]), values, atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize(("max_depth", "n_features"), [(12, 24), (22, 40)])
def test_interventional_deep_trees_match_shap(max_depth, n_features):
    """Paths of 9-14 features (16-bit tables) and of more than 14 (pairs, no tables)."""
    import shap
    from sklearn.tree import DecisionTreeRegressor

    X, y = make_regression(n_samples=4000, n_features=n_features, noise=1.0, random_state=0)
    model = DecisionTreeRegressor(max_depth=max_depth, random_state=0).fit(X[:3500], y[:3500])
    background, rows = X[3500:3530], X[3600:3640]
    explainer = _interventional(model, background)
    depth = int(explainer.arrays_["leaf_len"].max())
    if max_depth == 12:
        assert explainer.uses_tables_ and 8 < depth <= 14 and explainer._slots.width == 16
    else:
        assert not explainer.uses_tables_ and depth > 14
    values = explainer.explain(rows)
    reference = shap.TreeExplainer(model, background, feature_perturbation="interventional")
    expected = reference.shap_values(rows)
    np.testing.assert_allclose(values, expected, atol=1e-6 * max(1.0, np.abs(values).max()))
    total = values.sum(1) + explainer.expected_values[0]
    np.testing.assert_allclose(total, model.predict(rows), rtol=1e-9, atol=1e-9)


def test_interventional_one_leaf_tree():
    """A tree without splits: no attributions, the expected value is its constant."""
    from sklearn.tree import DecisionTreeRegressor

    X, _ = _data("regression")
    model = DecisionTreeRegressor().fit(X, np.full(len(X), 2.5))
    explainer = _interventional(model, X[:20])
    np.testing.assert_array_equal(explainer.explain(X[:5]), np.zeros((5, X.shape[1])))
    np.testing.assert_allclose(explainer.expected_values, [2.5])


def test_interventional_refuses_an_empty_background():
    make, kind, nan = CASES["gb-binary"]
    X, y = _data(kind, nan)
    explainer = _interventional(make().fit(X[:500], y[:500]), X[:20])
    common = {
        "model": explainer.model,
        "features": explainer.features,
        "classes": explainer.classes,
        "output_space": explainer.output_space,
        "expected_values": explainer.expected_values,
        "allow_missing": True,
    }
    arrays = {**explainer._arrays(), "background": np.zeros((0, X.shape[1]))}
    with pytest.raises(ValueError, match="background has no rows"):
        TreeScoringExplainer._restore(arrays=arrays, settings=explainer._settings(), common=common)
