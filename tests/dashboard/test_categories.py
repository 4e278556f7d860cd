"""The dashboard with categorical features, in headless Chromium: what-if offers a feature's
categories in a list, ICE scores one row per category, the exploration views draw a band
per category. The notebook ``ExplanationDashboard`` takes a DataFrame holding strings."""

from __future__ import annotations

import json
import urllib.request

import numpy as np
import pandas as pd
import pytest

from scoring_explainers.dashboard import ExplanationDashboard
from scoring_explainers.explanation import LocalExplanation, global_from_local
from scoring_explainers.scoring import load

from ..spark import categorical

N = 40


@pytest.fixture(scope="module")
def explainer(tmp_path_factory):
    return load(categorical.build(tmp_path_factory.mktemp("categorical") / "artifact"))


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    frame = categorical.rows(N, 5)
    frame["sex"] = frame["sex"].astype("str")  # pandas' string dtype: a missing value is NaN
    frame.loc[3, "sex"] = np.nan
    frame.loc[0, ["age", "sex", "embarked", "deck", "pclass"]] = [41.5, "male", "S", "2", 3]
    return frame


def explanation_of(explainer, rows: pd.DataFrame) -> LocalExplanation:
    """Local values only: rows and predictions are given to the dashboard apart."""
    result = explainer.score(rows)
    return global_from_local(
        result.local_importance_values,
        model_task="classification",
        features=result.features,
        classes=result.classes,
        expected_values=result.expected_values,
        method="shap.kernel",
        is_raw=True,
    )


@pytest.fixture
def dashboard(explainer, rows):
    with ExplanationDashboard(explanation_of(explainer, rows), explainer, datasetX=rows) as d:
        yield d


def open_page(chromium, dashboard):
    page = chromium.new_page(viewport={"width": 1500, "height": 1100})
    page.goto(dashboard.url)
    page.wait_for_selector("body[data-ready=true]")
    page.wait_for_selector("#whatif-prediction[data-probability]")
    return page


def wait_until(page, expression: str, timeout: float = 15.0) -> None:
    """Poll ``expression`` in the page (the page's CSP forbids wait_for_function's eval)."""
    import time

    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        time.sleep(0.05)


def probability(explainer, row: dict) -> float:
    return float(explainer.score([row]).probabilities[0, 1])


def test_the_dashboard_carries_the_rows_and_the_schema(dashboard, explainer, rows):
    latest = dashboard.url.replace("/dashboard?run=local", "/explanations/local/latest")
    with urllib.request.urlopen(latest) as answer:
        body = json.loads(answer.read())["explanation"]
    assert body["metadata"]["raw_schema"] == explainer.schema.to_json()
    assert body["eval_data"][0] == [41.5, "male", "S", "2", 3]
    assert body["eval_data"][3][1] is None  # NaN in a string column
    assert body["eval_y_predicted"] == explainer.score(rows).predictions.tolist()
    np.testing.assert_allclose(
        body["eval_y_predicted_proba"], explainer.score(rows).probabilities, rtol=1e-12
    )
    # /score takes records with categories; a bad category is a 422 naming column and value
    base = dashboard.url.split("/dashboard")[0] + "/score"
    record = {"age": 30.0, "sex": "female", "embarked": "Q", "deck": None, "pclass": 2}
    request = urllib.request.Request(base, data=json.dumps([record]).encode())
    with urllib.request.urlopen(request) as answer:
        scored = json.loads(answer.read())
    assert scored["probabilities"][0][1] == probability(explainer, record)
    bad = urllib.request.Request(base, data=json.dumps([{**record, "embarked": "Z"}]).encode())
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(bad)
    assert info.value.code == 422
    assert "column 'embarked': unknown category 'Z'" in json.loads(info.value.read())["error"]


def test_what_if_offers_the_categories_and_rescores(chromium, dashboard, explainer, rows,
                                                     screenshots):  # fmt: skip
    page = open_page(chromium, dashboard)
    inputs = page.locator("#whatif-inputs")
    assert inputs.locator("input[data-feature=age]").count() == 1  # numbers stay numbers
    embarked = inputs.locator("select[data-feature=embarked]")
    assert embarked.locator("option").all_inner_texts() == ["C", "Q", "S"]  # no missing
    sex = inputs.locator("select[data-feature=sex]")
    assert sex.locator("option").all_inner_texts() == ["female", "male", "(missing)"]
    assert inputs.locator("select[data-feature=pclass] option").all_inner_texts() == [
        "1", "2", "3"
    ]  # fmt: skip
    assert sex.evaluate("s => s.options[s.selectedIndex].text") == "male"
    row = {k: (v.item() if hasattr(v, "item") else v) for k, v in rows.iloc[0].items()}
    shown = page.locator("#whatif-prediction")
    assert float(shown.get_attribute("data-probability")) == probability(explainer, row)

    before = shown.get_attribute("data-probability")
    sex.select_option(label="female")
    wait_until(
        page, f"document.querySelector('#whatif-prediction').dataset.probability !== '{before}'"
    )
    changed = float(shown.get_attribute("data-probability"))
    assert changed == probability(explainer, {**row, "sex": "female"})
    assert changed != float(before)
    before = shown.get_attribute("data-probability")
    inputs.locator("select[data-feature=pclass]").select_option(label="1")  # an integer
    wait_until(
        page, f"document.querySelector('#whatif-prediction').dataset.probability !== '{before}'"
    )
    assert float(shown.get_attribute("data-probability")) == probability(
        explainer, {**row, "sex": "female", "pclass": 1}
    )
    sex.select_option(label="(missing)")
    wait_until(page, "window.dashboard.state.whatIf[1] === null")
    page.screenshot(path=screenshots / "categories-what-if.png", full_page=True)
    page.close()


def test_ice_draws_one_point_per_category(chromium, dashboard, explainer, rows):
    page = open_page(chromium, dashboard)
    page.locator("#ice-feature").select_option(label="deck")
    page.wait_for_selector("#ice-svg[data-bands]")
    svg = page.locator("#ice-svg")
    assert json.loads(svg.get_attribute("data-bands")) == ["1", "2", "3"]
    assert svg.get_attribute("data-marks") == "3"
    points = svg.locator("circle.ice-point")
    assert points.count() == 3
    row = {k: (v.item() if hasattr(v, "item") else v) for k, v in rows.iloc[0].items()}
    for i, deck in enumerate(["1", "2", "3"]):
        assert points.nth(i).get_attribute("data-x") == deck
        assert float(points.nth(i).get_attribute("data-y")) == probability(
            explainer, {**row, "deck": deck}
        )
    assert page.locator("#ice-steps").is_disabled()
    page.locator("#ice-feature").select_option(label="age")  # numeric: a line of 20 steps
    page.wait_for_selector("#ice-svg[data-marks='20']:not([data-bands])")
    assert svg.locator("polyline.ice-line").count() == 1
    page.close()


def test_exploration_draws_a_band_per_category(chromium, dashboard, rows, screenshots):
    page = open_page(chromium, dashboard)
    canvas = page.locator("#explore-canvas")
    page.locator("#explore-feature").select_option(label="sex")
    wait_until(page, "document.querySelector('#explore-canvas').dataset.xBands.includes('female')")
    assert json.loads(canvas.get_attribute("data-x-bands")) == ["female", "male", "(missing)"]
    assert canvas.get_attribute("data-marks") == str(N)
    # each point sits inside its category's band
    xs = page.evaluate("Array.from(window.dashboard.markPositions('explore'))")
    band = {"female": 0, "male": 1}
    order = [band.get(v, 2) if isinstance(v, str) else 2 for v in rows["sex"]]
    width = page.evaluate("document.querySelector('#explore-canvas').width")
    left, right = 48, width - 12
    step = (right - left) / 3
    assert [int((x - left) // step) for x in xs] == order
    page.locator("#explore-feature").select_option(label="pclass")
    wait_until(
        page, 'document.querySelector(\'#explore-canvas\').dataset.xBands === \'["1","2","3"]\''
    )
    page.locator("#explore-feature").select_option(label="age")  # numeric: no bands
    wait_until(page, "document.querySelector('#explore-canvas').dataset.xBands === ''")
    # data exploration with a categorical x axis
    page.locator("#data-x").select_option(label="embarked")
    assert json.loads(page.locator("#data-canvas").get_attribute("data-x-bands")) == [
        "C", "Q", "S"
    ]  # fmt: skip
    page.screenshot(path=screenshots / "categories-bands.png", full_page=True)
    page.close()


def test_a_plain_pipeline_gets_a_dataframe(rows):
    """A scikit-learn Pipeline on raw columns answers what-if from a DataFrame."""
    from sklearn.compose import make_column_transformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    categories = ["sex", "embarked", "deck"]
    pipeline = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), categories),
            (SimpleImputer(), ["age"]),
            remainder="passthrough",
        ),
        LogisticRegression(max_iter=500),
    )
    frame = rows.astype({"sex": object})
    frame["sex"] = frame["sex"].where(frame["sex"].notna(), "none")
    frame["deck"] = frame["deck"].where(frame["deck"].notna(), "none")
    y = (frame["sex"] == "male").astype(int).to_numpy()
    pipeline.fit(frame, y)
    explanation = global_from_local(
        np.zeros((2, N, 5)),
        model_task="classification",
        features=list(frame.columns),
        classes=[0, 1],
        method="shap.kernel",
        is_raw=True,
    )
    with ExplanationDashboard(explanation, pipeline, datasetX=frame) as dashboard:
        assert dashboard.explanation.eval_y_predicted == pipeline.predict(frame).tolist()
        record = {"age": 30.0, "sex": "female", "embarked": "Q", "deck": "1", "pclass": 2}
        request = urllib.request.Request(
            dashboard.url.split("/dashboard")[0] + "/score", data=json.dumps([record]).encode()
        )
        with urllib.request.urlopen(request) as answer:
            body = json.loads(answer.read())
    want = pipeline.predict_proba(pd.DataFrame([record]))
    assert body["probabilities"] == want.tolist()
