"""An artifact with a preprocessor served over HTTP: requests carry raw features and the
answer reports importances for them, equal to the library's."""

from __future__ import annotations

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from scoring_explainers.explainers import TabularExplainer, scoring_explainer_for
from scoring_explainers.scoring import load, save
from tests.service.conftest import start_server


@pytest.fixture(scope="module")
def raw_server(tmp_path_factory):
    rng = np.random.default_rng(0)
    n = 400
    raw = pd.DataFrame(
        {
            "age": rng.normal(40, 10, n),
            "income": rng.normal(50, 15, n),
            "region": rng.integers(0, 4, n).astype(float),
        }
    )
    y = ((raw.age > 40) ^ (raw.region == 1)).astype(int)
    pipeline = make_pipeline(
        ColumnTransformer(
            [
                ("num", StandardScaler(), ["age", "income"]),
                ("cat", OneHotEncoder(drop="first", handle_unknown="ignore"), ["region"]),
            ]
        ),
        RandomForestClassifier(20, max_depth=4, random_state=0),
    ).fit(raw, y)
    tmp = tmp_path_factory.mktemp("raw")
    save(scoring_explainer_for(TabularExplainer(pipeline, raw)), tmp / "artifact")
    server = start_server(tmp / "artifact", tmp)
    yield server, load(tmp / "artifact"), raw
    server.stop()


def test_raw_records_get_raw_importances(raw_server):
    server, library, raw = raw_server
    rows = raw.head(5)
    body = httpx.post(server.url + "/score", json=rows.to_dict(orient="records"), timeout=10).json()
    want = library.score(rows)
    assert body["features"] == ["age", "income", "region"]
    np.testing.assert_allclose(body["local_importance_values"], want.local_importance_values)
    assert body["predictions"] == want.predictions.tolist()
    missing = httpx.post(server.url + "/score", json=[{"age": 1.0, "income": 2.0}], timeout=10)
    assert missing.status_code in (400, 422) and "region" in missing.json()["error"]
