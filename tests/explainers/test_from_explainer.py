"""``<Kind>ScoringExplainer.from_explainer``: the typed constructor, equal to the deprecated
positional ``<Kind>ScoringExplainer(explainer)`` it replaces."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from scoring_explainers import (
    InputError,
    KernelScoringExplainer,
    LinearExplainableModel,
    LinearScoringExplainer,
    MimicExplainer,
    ScoringExplainer,
    TabularExplainer,
    TreeScoringExplainer,
    UnsupportedModelError,
    load,
    save,
    scoring_explainer_for,
)


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=300, n_features=5, n_informative=3, n_redundant=0, random_state=1
    )
    return X[:200], X[200:], y[:200]


@pytest.fixture(scope="module")
def forest(data):
    X, _, y = data
    model = RandomForestClassifier(10, max_depth=4, random_state=0).fit(X, y)
    return TabularExplainer(model, X, nsamples=100)


@pytest.fixture(scope="module")
def logistic(data):
    X, _, y = data
    return TabularExplainer(LogisticRegression().fit(X, y), X)


def _old(cls, *args, **kwargs):
    """The positional form, with the one warning it must give."""
    with pytest.warns(DeprecationWarning) as caught:
        scoring = cls(*args, **kwargs)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert message == (
        f"{cls.__name__}(explainer) is deprecated; use "
        f"{cls.__name__}.from_explainer(explainer, X=None)"
    )
    assert caught[0].filename == __file__  # points at the caller's line
    return scoring


def _same(a, b, rows):
    """Same kind, state and values. Two Kernel distillations may pick different chunk sizes
    (``max_synthetic_rows="auto"`` is timed), which can change the last bit of a sum."""
    assert type(a) is type(b)
    assert a.kind == b.kind
    arrays_a, arrays_b = a._arrays(), b._arrays()
    assert arrays_a.keys() == arrays_b.keys()
    for name in arrays_a:
        np.testing.assert_array_equal(arrays_a[name], arrays_b[name], err_msg=name)
    if a.kind == "kernel" and a is not b:
        np.testing.assert_allclose(a.explain(rows), b.explain(rows), rtol=1e-12, atol=1e-15)
    else:
        np.testing.assert_array_equal(a.explain(rows), b.explain(rows))
    np.testing.assert_array_equal(a.expected_values, b.expected_values)
    assert a.features == b.features
    assert a.classes == b.classes
    assert a.metadata == b.metadata
    settings_a, settings_b = a._settings(), b._settings()
    settings_a.pop("max_synthetic_rows", None)
    settings_b.pop("max_synthetic_rows", None)
    assert settings_a == settings_b


@pytest.mark.parametrize("cls", [TreeScoringExplainer, KernelScoringExplainer])
def test_from_explainer_equals_the_positional_form(forest, data, cls):
    _, X_test, _ = data
    new = cls.from_explainer(forest)
    assert type(new) is cls
    _same(new, _old(cls, forest), X_test)


def test_its_own_kind_is_the_explainers_engine(forest, logistic, data):
    _, X_test, _ = data
    tree = TreeScoringExplainer.from_explainer(forest)
    np.testing.assert_array_equal(
        tree.explain(X_test), forest.explain_local(X_test).local_importance_array
    )
    assert tree is forest.engine_  # no transformations: the engine itself, as before
    linear = LinearScoringExplainer.from_explainer(logistic)
    assert linear is logistic.engine_
    _same(linear, scoring_explainer_for(logistic), X_test)


def test_other_rows_positionally_or_by_keyword(logistic, data):
    X, X_test, _ = data
    new = KernelScoringExplainer.from_explainer(logistic, X[:40])
    _same(new, _old(KernelScoringExplainer, logistic, X[:40]), X_test[:3])
    _same(new, _old(KernelScoringExplainer, logistic, initialization_examples=X[:40]), X_test[:3])
    _same(new, KernelScoringExplainer.from_model(logistic.model, X[:40]), X_test[:3])


def test_with_transformations_both_forms_save_the_same_artifact(data, tmp_path):
    X, X_test, y = data
    ct = ColumnTransformer([("scale", StandardScaler(), [0, 1, 2, 3, 4])]).fit(X)
    model = LogisticRegression().fit(ct.transform(X), y)
    explainer = TabularExplainer(model, X, transformations=ct)
    new = LinearScoringExplainer.from_explainer(explainer)
    old = _old(LinearScoringExplainer, explainer)
    assert new.preprocessor is not None
    _same(new, old, X_test)
    save(new, tmp_path / "new")
    save(old, tmp_path / "old")
    np.testing.assert_array_equal(
        load(tmp_path / "new").explain(X_test), load(tmp_path / "old").explain(X_test)
    )
    for name in ("model.onnx", "arrays.npz"):  # (skl2onnx names each preprocessing graph anew)
        assert (tmp_path / "new" / name).read_bytes() == (tmp_path / "old" / name).read_bytes()
    np.testing.assert_array_equal(
        new.preprocessor.transform(X_test), old.preprocessor.transform(X_test)
    )


def test_a_binary_mimic_distils_the_same_both_ways(data):
    X, X_test, y = data
    model = RandomForestClassifier(10, max_depth=4, random_state=0).fit(X, y)
    mimic = MimicExplainer(model, X, LinearExplainableModel, augment_data=False)
    new = LinearScoringExplainer.from_explainer(mimic)
    _same(new, _old(LinearScoringExplainer, mimic), X_test)
    assert new.output_space == "log_odds"
    with pytest.raises(UnsupportedModelError, match="explained by the linear scoring explainer"):
        TreeScoringExplainer.from_explainer(mimic)


def test_wrong_calls_are_the_same_errors(forest, data):
    X, _, _ = data
    with pytest.raises(InputError, match="expected a TabularExplainer or MimicExplainer"):
        KernelScoringExplainer.from_explainer(object())
    with pytest.raises(TypeError, match="at most two positional arguments"):
        KernelScoringExplainer(forest, X, X)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="initialization_examples given twice"):
        KernelScoringExplainer(forest, X, initialization_examples=X)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="call from_explainer on KernelScoringExplainer"):
        ScoringExplainer.from_explainer(forest)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the typed form warns about nothing
        TreeScoringExplainer.from_explainer(forest)
