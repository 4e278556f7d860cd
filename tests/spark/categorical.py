"""A saved artifact whose raw schema has string and integer categories (hand-built: a real
ONNX preprocessing graph of one-hot lookup tables by code, a real logistic regression
converted to ONNX, and a Kernel explainer whose players are the raw columns).

Columns: ``age`` (number, missing filled by the graph), ``sex`` (string category, missing
allowed, unknown values get their own code), ``embarked`` (string category, no missing, an
unknown value is an error), ``deck`` (string categories that look like integers: ``"1"``,
``"2"``, ``"3"``) and ``pclass`` (integer categories, an unknown value gets its own code).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from scoring_explainers.runtime import (
    Column,
    KernelScoringExplainer,
    OnnxModel,
    OnnxTransform,
    RawSchema,
)

SCHEMA = RawSchema(
    [
        Column("age", "numeric", "number", True),
        Column("sex", "categorical", "string", True, ("female", "male"), "code"),
        Column("embarked", "categorical", "string", False, ("C", "Q", "S"), "error"),
        Column("deck", "categorical", "string", True, ("1", "2", "3"), "code"),
        Column("pclass", "categorical", "integer", False, (1, 2, 3), "code"),
    ]
)
RAW = SCHEMA.names
AGE_FILL = 30.0


def _table(k: int) -> np.ndarray:
    """One-hot rows for codes 0..k-1, then missing (an even share) and unknown (zeros)."""
    return np.vstack([np.eye(k), np.full((1, k), 1.0 / k), np.zeros((1, k))]).astype(np.float32)


ENGINEERED = ["age"] + [
    f"{c.name}={v}" for c in SCHEMA.columns if c.kind == "categorical" for v in c.categories or ()
]
GROUPS = np.zeros((len(RAW), len(ENGINEERED)), dtype=bool)
_start = 0
for _j, _column in enumerate(SCHEMA.columns):
    _width = 1 if _column.kind == "numeric" else _column.n_categories
    GROUPS[_j, _start : _start + _width] = True
    _start += _width


def preprocess_graph() -> bytes:
    """Codes (n, 5) -> engineered (n, 12): age imputed, every category one-hot by table."""
    from onnx import TensorProto, helper, numpy_helper

    nodes = [
        helper.make_node("Gather", ["X", "i0"], ["age_raw"], axis=1),
        helper.make_node("IsNaN", ["age_raw"], ["age_nan"]),
        helper.make_node("Where", ["age_nan", "age_fill", "age_raw"], ["age"]),
    ]
    inits = [
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
        numpy_helper.from_array(np.array([0], dtype=np.int64), "i0"),
        numpy_helper.from_array(np.array(AGE_FILL, dtype=np.float32), "age_fill"),
    ]
    blocks = ["age"]
    for j, column in enumerate(SCHEMA.columns):
        if column.kind != "categorical":
            continue
        name = column.name
        inits.append(numpy_helper.from_array(np.array([j], dtype=np.int64), f"i{j}"))
        inits.append(numpy_helper.from_array(_table(column.n_categories), f"t{j}"))
        nodes += [
            helper.make_node("Gather", ["X", f"i{j}"], [f"{name}_col"], axis=1),
            helper.make_node("Squeeze", [f"{name}_col", "axis1"], [f"{name}_flat"]),
            helper.make_node("Cast", [f"{name}_flat"], [f"{name}_code"], to=TensorProto.INT64),
            helper.make_node("Gather", [f"t{j}", f"{name}_code"], [f"{name}_onehot"], axis=0),
        ]
        blocks.append(f"{name}_onehot")
    nodes.append(helper.make_node("Concat", blocks, ["Y"], axis=1))
    graph = helper.make_graph(
        nodes,
        "preprocess",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, len(RAW)])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, len(ENGINEERED)])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def rows(n: int, seed: int) -> pd.DataFrame:
    """Known values only, with missing values where the schema allows them."""
    rng = np.random.default_rng(seed)
    pick = lambda values: [values[int(i)] for i in rng.integers(0, len(values), n)]  # noqa: E731
    age = rng.normal(35, 12, n).round(1)
    age[rng.random(n) < 0.1] = np.nan
    return pd.DataFrame(
        {
            "age": age,
            "sex": pd.Series(pick(["female", "male", "male", None]), dtype=object),
            "embarked": pd.Series(pick(["C", "Q", "S", "S"]), dtype=object),
            "deck": pd.Series(pick(["1", "2", "3", None]), dtype=object),
            "pclass": np.array(pick([1, 2, 3, 3]), dtype=np.int64),
        }
    )


def build(path: Path) -> Path:
    """Train on 300 rows, write the artifact to ``path`` and return it."""
    from sklearn.linear_model import LogisticRegression

    from scoring_explainers import save
    from scoring_explainers.convert import to_onnx
    from scoring_explainers.distill._design import coalition_design

    preprocessor = OnnxTransform(preprocess_graph(), n_inputs=len(RAW), n_outputs=len(ENGINEERED))
    train = rows(300, 0)
    engineered = preprocessor.transform(SCHEMA.encode(train))
    score = (
        0.04 * (engineered[:, 0] - 35)
        + 1.5 * engineered[:, 1]
        - engineered[:, 3]
        + engineered[:, 5]
        + 0.8 * engineered[:, 7]
        - 1.2 * engineered[:, 9]
        + engineered[:, 11]
    )
    target = (score + np.random.default_rng(1).normal(0, 0.5, len(score)) > 0.3).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = LogisticRegression(max_iter=500).fit(engineered, target)
    onnx_model = OnnxModel(
        to_onnx(model, len(ENGINEERED)).onnx_bytes,
        task="classification",
        n_features=len(ENGINEERED),
    )
    background = engineered[:6]
    weights = np.full(6, 1 / 6)
    design = coalition_design(len(RAW), 2 ** len(RAW), np.random.default_rng(0))
    explainer = KernelScoringExplainer(
        model=onnx_model,
        background=background,
        background_weights=weights,
        masks=design.masks,
        coalition_weights=design.weights,
        exact=True,
        groups=GROUPS,
        features=ENGINEERED,
        classes=["died", "survived"],
        output_space="probability",
        expected_values=weights @ onnx_model.outputs(background),
        allow_missing=False,
        preprocessor=preprocessor,
        raw_features=RAW,
        feature_map=GROUPS.astype(float),
        schema=SCHEMA,
        metadata={"model_classes": [0, 1]},
    )
    save(explainer, path)
    return path
