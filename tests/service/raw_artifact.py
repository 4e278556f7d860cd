"""A served artifact over a passenger-like table with string, integer and boolean columns.

Built by hand (as the runtime's tests build theirs): a real ONNX preprocessing graph on the
code matrix (numeric columns imputed and scaled, each categorical column looked up in a
one-hot table by its code, missing and unknown rows included), a logistic regression fitted
on its output, and a linear scoring explainer over the raw columns. :func:`build` saves it
twice: with its categorical schema (clients send strings) and with an all-numeric schema
over the same codes (the workaround: clients send the codes themselves).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scoring_explainers.runtime import (
    Column,
    LinearScoringExplainer,
    OnnxTransform,
    RawSchema,
    save,
)
from tests.frames import passenger

RAW = ["age", "fare", "sex", "embarked", "cabin", "pclass", "alone"]
SCHEMA = RawSchema(
    [
        Column("age", "numeric", "number", True),
        Column("fare", "numeric", "number", True),
        Column("sex", "categorical", "string", False, ("female", "male"), "error"),
        Column("embarked", "categorical", "string", True, ("C", "Q", "S", "X"), "code"),
        Column("cabin", "categorical", "string", True, tuple("ABCDEFGT"), "code"),
        Column("pclass", "categorical", "integer", False, (1, 2, 3), "error"),
        Column("alone", "numeric", "boolean", False),
    ]
)
#: The same columns, all numeric: the client sends codes (missing category = K).
CODES_SCHEMA = RawSchema.numeric(RAW, missing=True)


def _one_hot(k: int, missing: list[float] | None = None) -> np.ndarray:
    """Rows for codes 0..k-1 (one-hot), k (missing) and k+1 (unknown: zeros)."""
    width = k if missing is None else len(missing)
    table = np.zeros((k + 2, width), np.float32)
    table[np.arange(k), np.arange(k)] = 1
    if missing is not None:
        table[k] = missing
    return table


#: Per categorical column: its one-hot table (K + 2 rows).
TABLES = {
    "sex": _one_hot(2),
    "embarked": _one_hot(4, [0, 0, 1, 0]),  # missing: imputed as "S"
    "cabin": np.hstack([_one_hot(8), np.eye(10, 1, -8, dtype=np.float32)]),  # + "missing"
    "pclass": _one_hot(3),
}
ENGINEERED = [
    "age",
    "fare",
    *(f"sex_{c}" for c in ("female", "male")),
    *(f"embarked_{c}" for c in "CQSX"),
    *(f"cabin_{c}" for c in "ABCDEFGT"),
    "cabin_missing",
    *(f"pclass_{c}" for c in (1, 2, 3)),
    "alone",
]
WIDTHS = [1, 1, 2, 4, 9, 3, 1]


def _graph() -> bytes:
    from onnx import TensorProto, helper, numpy_helper

    nodes: list[Any] = []
    inits = [
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
        numpy_helper.from_array(np.array([30, 30], dtype=np.float32), "centre"),
        numpy_helper.from_array(np.array([1 / 12, 1 / 50], dtype=np.float32), "scale"),
        numpy_helper.from_array(np.array([0, 1], dtype=np.int64), "numeric"),
        numpy_helper.from_array(np.array([6], dtype=np.int64), "i6"),
    ]
    nodes += [
        helper.make_node("Gather", ["X", "numeric"], ["num"], axis=1),
        helper.make_node("IsNaN", ["num"], ["num_nan"]),
        helper.make_node("Where", ["num_nan", "centre", "num"], ["num_filled"]),
        helper.make_node("Sub", ["num_filled", "centre"], ["num_centred"]),
        helper.make_node("Mul", ["num_centred", "scale"], ["num_scaled"]),
        helper.make_node("Gather", ["X", "i6"], ["alone"], axis=1),
    ]
    blocks = ["num_scaled"]
    for j, name in enumerate(RAW[2:6], start=2):
        inits += [
            numpy_helper.from_array(np.array([j], dtype=np.int64), f"i{j}"),
            numpy_helper.from_array(TABLES[name], f"table_{name}"),
        ]
        nodes += [
            helper.make_node("Gather", ["X", f"i{j}"], [f"{name}_col"], axis=1),
            helper.make_node("Squeeze", [f"{name}_col", "axis1"], [f"{name}_flat"]),
            helper.make_node("Cast", [f"{name}_flat"], [f"{name}_code"], to=TensorProto.INT64),
            helper.make_node("Gather", [f"table_{name}", f"{name}_code"], [name], axis=0),
        ]
        blocks.append(name)
    nodes.append(helper.make_node("Concat", [*blocks, "alone"], ["Y"], axis=1))
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


def frame(n: int = 600, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """:func:`tests.frames.passenger` with a boolean column ``alone``."""
    data, y = passenger(n, seed)
    data["alone"] = np.random.default_rng(seed + 1).random(n) < 0.4
    return data, y


def explainers() -> tuple[LinearScoringExplainer, LinearScoringExplainer]:
    """The explainer with the categorical schema, and the same one over codes."""
    from sklearn.linear_model import LogisticRegression

    data, y = frame()
    preprocessor = OnnxTransform(_graph(), n_inputs=len(RAW), n_outputs=len(ENGINEERED))
    engineered = preprocessor.transform(SCHEMA.encode(data))
    model = LogisticRegression(max_iter=1000).fit(engineered, y)
    linear = LinearScoringExplainer.from_model(model, engineered, features=ENGINEERED)
    groups = np.repeat(np.eye(len(RAW)), WIDTHS, axis=1)

    def with_schema(schema: RawSchema) -> LinearScoringExplainer:
        return LinearScoringExplainer(
            model=linear._model,
            coef=linear.coef_,
            intercept=linear.intercept_,
            mean=linear.mean_,
            link=linear.link,
            features=ENGINEERED,
            classes=linear.classes,
            output_space=linear.output_space,
            expected_values=linear.expected_values,
            allow_missing=False,
            metadata=linear.metadata,
            preprocessor=preprocessor,
            raw_features=RAW,
            feature_map=groups,
            schema=schema,
        )

    return with_schema(SCHEMA), with_schema(CODES_SCHEMA)


def build(root: Path) -> tuple[Path, Path]:
    """Save both artifacts under ``root``: ``(strings, codes)``."""
    strings, codes = explainers()
    return save(strings, root / "strings"), save(codes, root / "codes")


def rows(n: int = 8, seed: int = 5) -> pd.DataFrame:
    """Rows to score: the frame's own, with a missing age, missing categories and an
    unknown category on a column that codes it."""
    data = frame(max(n, 8), seed)[0].reset_index(drop=True)
    data.loc[0, "age"] = np.nan
    data.loc[1, "embarked"] = "Z"  # unknown: code K + 1
    data.loc[2, "embarked"] = None
    data.loc[3, "cabin"] = None
    data.loc[4, "cabin"] = "Zeta"
    return data.head(n)
