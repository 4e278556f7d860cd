"""Spark with an artifact that has a preprocessor (raw features, imputation in the graph),
shipped to the executors, and column names Spark cannot resolve by name."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from scoring_explainers.explainers import TabularExplainer, scoring_explainer_for
from scoring_explainers.explanation import global_from_local
from scoring_explainers.scoring import load, save
from scoring_explainers.spark import explain_dataframe, global_importance


@pytest.fixture(scope="module")
def raw_artifact(tmp_path_factory):
    rng = np.random.default_rng(0)
    n = 300
    frame = pd.DataFrame(
        {
            "a.x": rng.normal(size=n),
            "c": rng.integers(0, 4, n).astype(float),
            "b": rng.normal(size=n),
        }
    )
    frame.loc[::10, "a.x"] = np.nan
    y = ((frame["a.x"].fillna(0) > 0) ^ (frame.c == 0)).astype(int)
    pipeline = make_pipeline(
        ColumnTransformer(
            [
                ("oh", OneHotEncoder(handle_unknown="ignore"), ["c"]),
                ("sc", make_pipeline(SimpleImputer(), StandardScaler()), ["a.x", "b"]),
            ]
        ),
        LogisticRegression(),
    ).fit(frame, y)
    path = tmp_path_factory.mktemp("raw") / "artifact"
    save(scoring_explainer_for(TabularExplainer(pipeline, frame)), path)
    return path, frame


@pytest.mark.slow
def test_imputed_rows_dotted_names_and_shipping(spark, raw_artifact):
    path, frame = raw_artifact
    rows = frame.iloc[:40]
    explained = explain_dataframe(spark.createDataFrame(rows), str(path), distribute=True)
    out = explained.toPandas()
    assert list(out.columns[:3]) == ["a.x", "c", "b"]
    assert out["error"].isna().all()  # NaN in "a.x" is imputed by the artifact's graph
    want = load(path).score(rows)
    got = np.stack([np.stack(out[f"local_importance_{i}"]) for i in range(2)])
    np.testing.assert_allclose(got, want.local_importance_values, rtol=1e-12, atol=1e-12)
    explanation = global_importance(explained)
    assert explanation.is_raw and explanation.features == ["a.x", "c", "b"]
    reference = global_from_local(
        want.local_importance_values,
        model_task="classification",
        features=want.features,
        classes=want.classes,
        method="shap.linear",
    )
    np.testing.assert_allclose(
        explanation.global_importance_values, reference.global_importance_values, rtol=1e-12
    )
