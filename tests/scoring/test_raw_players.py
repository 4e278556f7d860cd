"""Kernel with raw players: a group matrix (raw players x model columns) masks all of a raw
feature's columns together; the values are the Shapley values of the grouped game.

The preprocessing is a real ONNX graph run by onnxruntime: a scaled numeric column, a
categorical column looked up in a one-hot table by its code (missing and unknown rows
included) and a numeric column expanded to (x, x**2).
"""

from __future__ import annotations

import json
import warnings
from itertools import combinations
from math import factorial

import numpy as np
import pytest

from scoring_explainers import InputError, load, save
from scoring_explainers.runtime import (
    Column,
    KernelScoringExplainer,
    OnnxModel,
    OnnxTransform,
    RawSchema,
)

RAW = ["a", "b", "c"]
ENGINEERED = ["a_scaled", "b_x", "b_y", "b_z", "c", "c_squared"]
GROUPS = np.array(
    [
        [1, 0, 0, 0, 0, 0],
        [0, 1, 1, 1, 0, 0],
        [0, 0, 0, 0, 1, 1],
    ],
    dtype=bool,
)
SCHEMA = RawSchema(
    [
        Column("a", "numeric", "number", False),
        Column("b", "categorical", "string", True, ("x", "y", "z"), "code"),
        Column("c", "numeric", "number", False),
    ]
)
#: One-hot rows for the codes 0..2, missing (3: its own pattern) and unknown (4: zeros).
TABLE = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0.5, 0.5, 0], [0, 0, 0]], dtype=np.float32)


def _preprocess_graph() -> bytes:
    from onnx import TensorProto, helper, numpy_helper

    nodes = [
        helper.make_node("Gather", ["X", "i0"], ["a"], axis=1),
        helper.make_node("Mul", ["a", "half"], ["a_scaled"]),
        helper.make_node("Gather", ["X", "i1"], ["b"], axis=1),
        helper.make_node("Squeeze", ["b", "axis1"], ["b_flat"]),
        helper.make_node("Cast", ["b_flat"], ["b_code"], to=TensorProto.INT64),
        helper.make_node("Gather", ["table", "b_code"], ["b_onehot"], axis=0),
        helper.make_node("Gather", ["X", "i2"], ["c"], axis=1),
        helper.make_node("Mul", ["c", "c"], ["c_squared"]),
        helper.make_node("Concat", ["a_scaled", "b_onehot", "c", "c_squared"], ["Y"], axis=1),
    ]
    inits = [
        numpy_helper.from_array(np.array([0], dtype=np.int64), "i0"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "i1"),
        numpy_helper.from_array(np.array([2], dtype=np.int64), "i2"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
        numpy_helper.from_array(np.array(0.5, dtype=np.float32), "half"),
        numpy_helper.from_array(TABLE, "table"),
    ]
    graph = helper.make_graph(
        nodes,
        "preprocess",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 3])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 6])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def _raw_frame(n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [
        {
            "a": float(rng.normal()),
            "b": [None, "x", "y", "z", "z", "w"][int(rng.integers(0, 6))],
            "c": float(rng.normal()),
        }
        for _ in range(n)
    ]


@pytest.fixture(scope="module")
def parts():
    from sklearn.neural_network import MLPClassifier

    from scoring_explainers.convert import to_onnx

    preprocessor = OnnxTransform(_preprocess_graph(), n_inputs=3, n_outputs=6)
    train = _raw_frame(300, 0)
    engineered = preprocessor.transform(SCHEMA.encode(train))
    target = (
        engineered[:, 0] + engineered[:, 2] - engineered[:, 3] + engineered[:, 5] > 0.3
    ).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # not converged: any smooth model will do
        mlp = MLPClassifier((8,), max_iter=400, random_state=0).fit(engineered, target)
    model = OnnxModel(to_onnx(mlp, 6).onnx_bytes, task="classification", n_features=6)
    background = engineered[:5]
    weights = np.array([0.1, 0.2, 0.3, 0.25, 0.15])
    return preprocessor, model, background, weights


def _design(m: int) -> tuple[np.ndarray, np.ndarray]:
    """Every coalition but the empty and the full one (an exact design)."""
    from scoring_explainers.distill._design import coalition_design

    design = coalition_design(m, 2**m, np.random.default_rng(0))
    assert design.exact
    return design.masks, design.weights


def _explainer(parts, *, groups, **extra) -> KernelScoringExplainer:
    preprocessor, model, background, weights = parts
    masks, coalition_weights = _design(3 if groups is not None else 6)
    expected = weights @ model.outputs(background)
    return KernelScoringExplainer(
        model=model,
        background=background,
        background_weights=weights,
        masks=masks,
        coalition_weights=coalition_weights,
        exact=True,
        groups=groups,
        features=ENGINEERED,
        classes=[0, 1],
        output_space="probability",
        expected_values=expected,
        allow_missing=False,
        preprocessor=preprocessor,
        raw_features=RAW,
        feature_map=GROUPS.astype(float),
        schema=SCHEMA,
        **extra,
    )


def _brute_force(parts, rows) -> np.ndarray:
    """Shapley values of the grouped game, every coalition enumerated: (n, 3 players, K)."""
    preprocessor, model, background, weights = parts
    x = preprocessor.transform(SCHEMA.encode(rows)).astype(np.float32)
    bg = background.astype(np.float32)
    players = range(len(RAW))
    n_players = len(RAW)

    def value(i: int, coalition: tuple[int, ...]) -> np.ndarray:
        columns = GROUPS[list(coalition)].any(axis=0) if coalition else np.zeros(6, bool)
        synthetic = np.where(columns[None, :], x[i][None, :], bg)
        return weights @ model.outputs(synthetic)

    out = np.zeros((len(rows), n_players, 2))
    for i in range(len(rows)):
        for p in players:
            others = [q for q in players if q != p]
            for size in range(n_players):
                for coalition in combinations(others, size):
                    share = factorial(size) * factorial(n_players - size - 1) / factorial(n_players)
                    with_p = tuple(sorted((*coalition, p)))
                    out[i, p] += share * (value(i, with_p) - value(i, coalition))
    return out


def test_raw_players_equal_brute_force_shapley_of_the_grouped_game(parts):
    explainer = _explainer(parts, groups=GROUPS)
    rows = _raw_frame(6, 1)  # includes a missing and an unknown category ("w")
    rows[0]["b"], rows[1]["b"] = None, "w"
    values = explainer.explain(rows)  # (2 classes, rows, 3 raw features)
    assert values.shape == (2, 6, 3)
    truth = _brute_force(parts, rows)
    np.testing.assert_allclose(values.transpose(1, 2, 0), truth, atol=2e-6)
    # additive: values + expected value == the model's probability
    result = explainer.score(rows)
    assert result.features == RAW
    np.testing.assert_allclose(
        result.local_importance_values.sum(axis=2).T + result.expected_values,
        result.probabilities,
        atol=1e-6,
    )


def test_engineered_players_differ_from_the_grouped_game(parts):
    """The same coalitions over model columns, summed per raw feature, are a different
    game (off-manifold rows: two or no one-hot bits) - the reason for raw players."""
    rows = _raw_frame(6, 1)
    summed = _explainer(parts, groups=None).explain(rows)
    raw = _explainer(parts, groups=GROUPS).explain(rows)
    assert np.abs(summed - raw).max() > 1e-3


def test_the_where_path_equals_the_gather_path(parts, monkeypatch):
    rows = _raw_frame(4, 2)
    gathered = _explainer(parts, groups=GROUPS)
    assert gathered._gather is not None
    monkeypatch.setattr(KernelScoringExplainer, "MAX_GATHER_ENTRIES", 0)
    built = _explainer(parts, groups=GROUPS)
    assert built._gather is None
    np.testing.assert_array_equal(built.explain(rows), gathered.explain(rows))


def test_identity_groups_are_bit_for_bit_todays_engine(parts):
    """Without a preprocessor, one player per model column through the group matrix gives
    exactly the values of ``groups=None`` (the expanded masks are the masks)."""
    _, model, background, weights = parts
    masks, coalition_weights = _design(6)
    common = dict(
        model=model,
        background=background,
        background_weights=weights,
        masks=masks,
        coalition_weights=coalition_weights,
        exact=True,
        features=ENGINEERED,
        classes=[0, 1],
        output_space="probability",
        expected_values=weights @ model.outputs(background),
        allow_missing=False,
    )
    plain = KernelScoringExplainer(**common)
    grouped = KernelScoringExplainer(**common, groups=np.eye(6, dtype=bool))
    assert plain.players == "model" and grouped.players == "raw"
    rows = np.random.default_rng(3).normal(size=(5, 6))
    np.testing.assert_array_equal(grouped.explain(rows), plain.explain(rows))
    np.testing.assert_array_equal(
        grouped.score(rows).probabilities, plain.score(rows).probabilities
    )


def test_raw_players_save_and_load_bit_exact(parts, tmp_path):
    explainer = _explainer(parts, groups=GROUPS)
    root = save(explainer, tmp_path / "raw-players")
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["format_version"] == 2
    assert manifest["settings"]["players"] == "raw"
    assert manifest["arrays"]["groups"]["shape"] == [3, 6]
    assert manifest["arrays"]["masks"]["shape"][1] == 3
    assert manifest["raw_schema"] == SCHEMA.to_json()
    restored = load(root)
    assert isinstance(restored, KernelScoringExplainer)
    assert restored.players == "raw"
    assert restored.schema == SCHEMA
    np.testing.assert_array_equal(restored.groups_, GROUPS)
    rows = _raw_frame(5, 4)
    np.testing.assert_array_equal(restored.explain(rows), explainer.explain(rows))


def test_raw_players_have_no_engineered_values(parts):
    explainer = _explainer(parts, groups=GROUPS)
    with pytest.raises(InputError, match="players are the raw features"):
        explainer.explain(_raw_frame(2, 0), get_raw=False)


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        (GROUPS[:, :5], r"groups must be \(n_features, n_model_columns\) = \(3, 6\)"),
        (np.vstack([GROUPS[0], np.zeros(6, bool), GROUPS[2]]), "column 'b_x' belongs to 0"),
        (GROUPS | GROUPS[[1, 0, 2]], "column 'a_scaled' belongs to 2"),
        (GROUPS * 2, "only 0/1"),
    ],
)
def test_bad_group_matrices_are_refused(parts, groups, message):
    with pytest.raises(ValueError, match=message):
        _explainer(parts, groups=groups)


def test_max_features_is_bounded_by_the_players(parts):
    with pytest.raises(ValueError, match=r"max_features must be in \[1, 3\]"):
        _explainer(parts, groups=GROUPS, max_features=4)
