"""Feature maps read from fitted transformers: structure and additivity for every row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from scoring_explainers import UnsupportedModelError
from scoring_explainers.transformations import feature_map


@pytest.fixture
def raw() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 200
    frame = pd.DataFrame(
        {
            "age": rng.normal(40, 10, n),
            "income": rng.normal(5e4, 1e4, n),
            "colour": rng.choice(["red", "green", "blue"], n),
            "size": rng.choice([1.0, 2.0, 3.0, 4.0], n),
            "ignored": rng.normal(size=n),
        }
    )
    frame.loc[::7, "income"] = np.nan
    return frame


def _column_of(weights: np.ndarray, raw: list[str]) -> list[str]:
    return [raw[i] for i in np.argmax(weights, axis=0)]


def test_column_transformer_with_drop_first_and_unknown(raw):
    ct = ColumnTransformer(
        [
            (
                "num",
                make_pipeline(SimpleImputer(add_indicator=True), StandardScaler()),
                ["age", "income"],
            ),
            ("cat", OneHotEncoder(drop="first", handle_unknown="ignore"), ["colour", "size"]),
        ],
        remainder="drop",
    ).fit(raw)
    fmap = feature_map(ct, list(raw.columns))
    engineered = ct.transform(raw)
    assert fmap.weights.shape == (5, engineered.shape[1])
    assert fmap.engineered_features == list(ct.get_feature_names_out())
    # every engineered column comes from the raw column its name says
    owners = _column_of(fmap.weights, fmap.raw_features)
    for name, owner in zip(fmap.engineered_features, owners, strict=True):
        stem = name.split("__", 1)[1]
        assert stem.startswith(owner) or stem == f"missingindicator_{owner}", (name, owner)
    assert owners.count("colour") == 2 and owners.count("size") == 3
    assert np.allclose(fmap.weights.sum(axis=0), 1.0)
    assert not fmap.weights[fmap.raw_features.index("ignored")].any()
    # additivity: raw sums equal engineered sums for every row (values of any sign)
    rng = np.random.default_rng(1)
    values = rng.normal(size=(3, len(raw), engineered.shape[1]))
    mapped = fmap.to_raw(values)
    np.testing.assert_allclose(mapped.sum(-1), values.sum(-1), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(fmap.transform(raw), engineered)
    # an unseen category is all zeros but maps the same way
    unseen = raw.head(3).assign(colour="purple")
    assert fmap.transform(unseen).shape == (3, engineered.shape[1])


def test_tuple_list_form(raw):
    numeric = raw[["age", "size"]].to_numpy()
    pairs = [
        (["age"], StandardScaler().fit(numeric[:, :1])),
        ("size", OneHotEncoder(sparse_output=False).fit(numeric[:, 1:])),
        (["age", "size"], None),
    ]
    fmap = feature_map(pairs, ["age", "size"])
    assert _column_of(fmap.weights, fmap.raw_features) == ["age"] + ["size"] * 4 + [
        "age",
        "size",
    ]
    engineered = fmap.transform(raw[["age", "size"]])
    assert engineered.shape == (len(raw), 7)
    np.testing.assert_allclose(engineered[:, 5], raw["age"])


def test_many_to_many_is_refused_unless_opted_in(raw):
    ct = ColumnTransformer([("pca", PCA(1), ["age", "income"])]).fit(raw.fillna(0))
    with pytest.raises(UnsupportedModelError, match="allow_all_transformations"):
        feature_map(ct, list(raw.columns))
    fmap = feature_map(ct, list(raw.columns), allow_all_transformations=True)
    np.testing.assert_allclose(fmap.weights[:2, 0], [0.5, 0.5])
    mixing = FunctionTransformer(lambda x: x[:, :1] + x[:, 1:]).fit(raw[["age", "size"]])
    with pytest.raises(UnsupportedModelError):
        feature_map([(["age", "size"], mixing)], ["age", "size"])
    log = FunctionTransformer(np.log1p, feature_names_out="one-to-one").fit(raw[["age"]])
    assert feature_map([(["age"], log)], ["age"]).weights.tolist() == [[1.0]]
