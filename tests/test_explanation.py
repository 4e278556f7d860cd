"""Explanation objects: the one global definition, ranked getters, JSON round trips."""

from __future__ import annotations

import json

import numpy as np
import pytest

from scoring_explainers import InputError
from scoring_explainers.explanation import (
    GlobalExplanation,
    LocalExplanation,
    global_from_local,
    load_explanation,
    save_explanation,
)

FEATURES = ["a", "b", "c", "d"]


@pytest.fixture
def local_values() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.normal(size=(3, 7, 4))


def classification(values: np.ndarray, **extra) -> GlobalExplanation:
    return global_from_local(
        values,
        model_task="classification",
        features=FEATURES,
        classes=["x", "y", "z"],
        expected_values=[0.2, 0.3, 0.5],
        method="shap.tree",
        **extra,
    )


def test_global_is_mean_abs_per_class_then_mean_over_classes(local_values):
    explanation = classification(local_values)
    per_class = np.abs(local_values).mean(axis=1)
    np.testing.assert_array_equal(explanation.per_class_values, per_class)
    np.testing.assert_array_equal(explanation.global_importance_values, per_class.mean(axis=0))
    assert explanation.num_examples == 7


def test_regression_global_is_mean_abs(local_values):
    values = local_values[0]
    explanation = global_from_local(
        values, model_task="regression", features=FEATURES, method="shap.linear"
    )
    np.testing.assert_array_equal(explanation.global_importance_values, np.abs(values).mean(0))
    with pytest.raises(InputError, match="per-class"):
        explanation.per_class_values  # noqa: B018


def test_ranked_getters_are_sorted_and_consistent(local_values):
    explanation = classification(local_values)
    values = explanation.get_ranked_global_values()
    names = explanation.get_ranked_global_names()
    assert values == sorted(values, reverse=True)
    glob = dict(zip(FEATURES, explanation.global_importance_values, strict=True))
    assert [glob[n] for n in names] == values
    assert list(explanation.get_feature_importance_dict(top_k=2)) == names[:2]
    assert explanation.get_ranked_global_names(2) == names[:2]
    local_names = explanation.get_ranked_local_names(top_k=3)
    local_ranked = explanation.get_ranked_local_values(top_k=3)
    assert np.shape(local_ranked) == (3, 7, 3)
    for c in range(3):
        for r in range(7):
            row = local_ranked[c][r]
            assert row == sorted(row, reverse=True)
            assert row == [local_values[c, r, FEATURES.index(n)] for n in local_names[c][r]]
    per_class_names = explanation.get_ranked_per_class_names()
    per_class = explanation.get_ranked_per_class_values()
    for c in range(3):
        assert per_class[c] == sorted(per_class[c], reverse=True)
        assert per_class_names[c][0] == FEATURES[int(np.argmax(explanation.per_class_values[c]))]


def test_every_value_is_json_native(local_values):
    explanation = classification(local_values)
    for value in (
        explanation.get_feature_importance_dict(),
        explanation.global_importance_values,
        explanation.get_ranked_local_values(2),
        explanation.expected_values,
        explanation.num_examples,
        explanation.global_importance_rank,
    ):
        json.dumps(value)


def test_json_round_trip_is_lossless(local_values, tmp_path):
    explanation = classification(
        local_values * 1e-7 + 1 / 3,
        eval_data=np.arange(28.0).reshape(7, 4) / 7,
        eval_y_predicted=["x"] * 7,
        metadata={"fidelity": {"r2": np.float32(0.5)}},
    )
    back = LocalExplanation.from_json(explanation.to_json())
    assert isinstance(back, GlobalExplanation)
    assert back == explanation
    np.testing.assert_array_equal(back.local_importance_array, explanation.local_importance_array)
    assert back.id == explanation.id
    path = save_explanation(explanation, tmp_path / "e.json")
    assert load_explanation(path) == explanation
    with pytest.raises(FileExistsError):
        save_explanation(explanation, path)
    local = LocalExplanation(
        local_importance_values=local_values[0],
        features=FEATURES,
        expected_values=1.5,
        method="shap.kernel",
        model_task="regression",
    )
    again = LocalExplanation.from_json(local.to_json())
    assert type(again) is LocalExplanation and again == local
    assert again.expected_values == 1.5


def test_global_only_explanation_refuses_local_getters():
    explanation = GlobalExplanation(
        global_importance_values=[0.1, 0.4, 0.0, 0.2],
        global_importance_std=[0.01, 0.02, 0.0, 0.01],
        num_examples=10,
        features=FEATURES,
        method="pfi",
        model_task="regression",
    )
    assert explanation.get_ranked_global_names() == ["b", "d", "a", "c"]
    assert not explanation.has_local
    with pytest.raises(InputError, match="no local values"):
        explanation.local_importance_values  # noqa: B018
    assert LocalExplanation.from_json(explanation.to_json()) == explanation


@pytest.mark.parametrize(
    "bad",
    [
        "not json",
        "[]",
        '{"format_version": 99}',
        '{"format_version": 1, "kind": "local"}',
    ],
)
def test_malformed_json_is_a_clear_error(bad):
    with pytest.raises(InputError):
        LocalExplanation.from_json(bad)


def test_shapes_and_values_are_validated(local_values):
    with pytest.raises(InputError, match="shaped"):
        classification(local_values[0])
    bad = local_values.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(InputError, match="non-finite"):
        classification(bad)
    with pytest.raises(InputError, match="top_k"):
        classification(local_values).get_ranked_global_names(0)


def test_missing_values_in_the_data_round_trip_as_null(local_values):
    data = np.arange(28.0).reshape(7, 4)
    data[2, 1] = np.nan
    explanation = classification(local_values, eval_data=data)
    text = explanation.to_json()
    assert "null" in text and "NaN" not in text
    back = LocalExplanation.from_json(text)
    np.testing.assert_array_equal(np.array(back.eval_data, dtype=float), data)
    assert back == explanation


RAW_SCHEMA = [
    {"name": "age", "kind": "numeric", "type": "number", "missing": True},
    {
        "name": "sex",
        "kind": "categorical",
        "type": "string",
        "missing": True,
        "categories": ["female", "male"],
        "unknown": "code",
    },
    {
        "name": "pclass",
        "kind": "categorical",
        "type": "integer",
        "missing": False,
        "categories": [1, 2, 3],
        "unknown": "error",
    },
    {"name": "member", "kind": "numeric", "type": "boolean", "missing": False},
]


def mixed(eval_data, **extra) -> LocalExplanation:
    rng = np.random.default_rng(1)
    return LocalExplanation(
        local_importance_values=rng.normal(size=(2, 3, 4)),
        features=["age", "sex", "pclass", "member"],
        classes=[0, 1],
        expected_values=[0.4, 0.6],
        method="shap.kernel",
        model_task="classification",
        is_raw=True,
        eval_data=eval_data,
        eval_y_predicted=[0, 1, 1],
        **extra,
    )


def test_raw_rows_with_strings_and_missing_values_round_trip_through_json(tmp_path):
    import pandas as pd

    from scoring_explainers.runtime import RawSchema

    frame = pd.DataFrame(
        {
            "age": [22.5, np.nan, 40.0],
            "sex": pd.Series(["male", None, "female"], dtype="str"),  # pandas: None is NaN
            "pclass": np.array([3, 1, 2], dtype=np.int64),
            "member": [True, False, True],
        }
    )
    want = [[22.5, "male", 3, True], [None, None, 1, False], [40.0, "female", 2, True]]
    schema = RawSchema.from_json(RAW_SCHEMA)
    explanation = mixed(frame, metadata={"raw_schema": schema})
    assert explanation.eval_data == want
    assert [type(v) for v in explanation.eval_data[0]] == [float, str, int, bool]
    assert explanation.metadata["raw_schema"] == RAW_SCHEMA  # kept as JSON
    assert explanation.raw_schema == schema

    text = explanation.to_json()
    assert json.loads(text)["eval_data"] == want
    back = LocalExplanation.from_json(text)
    assert back == explanation and back.eval_data == want and back.raw_schema == schema
    loaded = load_explanation(save_explanation(explanation, tmp_path / "e.json"))
    assert loaded == explanation and loaded.eval_data == want

    # the same rows as an object array, and as lists with a NaN: the same values
    objects = np.array([[22.5, "male", 3, True], [np.nan, None, 1, False]], dtype=object)
    assert mixed_rows(objects) == want[:2]


def mixed_rows(rows):
    return LocalExplanation(
        local_importance_values=np.zeros((len(rows), 4)),
        features=["age", "sex", "pclass", "member"],
        method="shap.kernel",
        model_task="regression",
        eval_data=rows,
    ).eval_data


def test_numeric_eval_data_is_unchanged_and_bad_raw_rows_are_refused():
    assert mixed_rows([[1, None, 2.5, 3]]) == [[1.0, None, 2.5, 3.0]]  # floats, as before
    with pytest.raises(InputError, match=r"eval_data must be \(n_rows, 4\) rows of values"):
        mixed_rows([["a", 1, 2]])
    with pytest.raises(InputError, match="eval_data holds a dict value"):
        mixed_rows([["a", 1, 2, {"x": 1}]])
    with pytest.raises(InputError, match="metadata raw_schema names the columns"):
        mixed([[1.0, "male", 3, True]] * 3, metadata={"raw_schema": RAW_SCHEMA[::-1]})
    with pytest.raises(InputError, match="metadata raw_schema: raw_schema must be a non-empty"):
        mixed([[1.0, "male", 3, True]] * 3, metadata={"raw_schema": {"age": "number"}})


def test_standard_errors_round_trip_and_are_absent_unless_given(local_values, tmp_path):
    """Standard errors (``score(X, uncertainty=True)``) kept with the local values: JSON round
    trip bit-exact, a global explanation keeps them, an explanation without them writes the
    same JSON as before (no key)."""
    se = np.abs(local_values) * 0.1 + np.arange(4) * 1e-3
    plain = classification(local_values)
    assert plain.standard_errors is None and "standard_errors" not in plain.to_dict()
    with_se = classification(local_values, standard_errors=se)
    assert with_se.standard_errors == se.tolist()
    data = with_se.to_dict()
    assert data.pop("standard_errors") == se.tolist()
    assert data == plain.to_dict() | {"id": with_se.id}
    back = load_explanation(save_explanation(with_se, tmp_path / "e.json"))
    assert isinstance(back, GlobalExplanation) and back == with_se
    np.testing.assert_array_equal(np.asarray(back.standard_errors), se)
    # without the local values they belong to, none are kept
    assert (
        classification(local_values, standard_errors=se, include_local=False).standard_errors
        is None
    )


@pytest.mark.parametrize(
    ("se", "message"),
    [
        (
            np.zeros((3, 7, 3)),
            r"standard_errors must be shaped as local_importance_values \(3, 7, 4\), "
            r"got \(3, 7, 3\)",
        ),
        (np.full((3, 7, 4), -1e-9), "standard_errors must not be negative"),
        (np.full((3, 7, 4), np.nan), "standard_errors holds non-finite values"),
    ],
)
def test_bad_standard_errors_are_refused(local_values, se, message):
    with pytest.raises(InputError, match=message):
        classification(local_values, standard_errors=se)


def test_standard_errors_need_local_values():
    with pytest.raises(InputError, match="standard_errors need the local_importance_values"):
        GlobalExplanation(
            global_importance_values=[1.0, 2.0, 3.0, 4.0],
            standard_errors=[[0.1] * 4],
            features=FEATURES,
            method="pfi",
            model_task="regression",
        )
