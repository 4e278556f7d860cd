"""``ExplanationDashboard``: the same pages from a notebook, without the service."""

from __future__ import annotations

import json
import urllib.request

import numpy as np
import pytest

from scoring_explainers import InputError
from scoring_explainers.dashboard import ExplanationDashboard
from scoring_explainers.explanation import LocalExplanation
from scoring_explainers.scoring import load

from .conftest import ROWS


@pytest.fixture(scope="module")
def explainer(artifacts):
    return load(artifacts["svc"])


def bare(explanation) -> LocalExplanation:
    """The explanation without its data and predictions (given to the dashboard apart)."""
    data = explanation.to_dict()
    data.update(eval_data=None, eval_y_predicted=None, eval_y_predicted_proba=None)
    return LocalExplanation.from_dict(data)


def test_local_dashboard_with_a_scoring_explainer(chromium, explainer, seed_explanation,
                                                  seed_data, screenshots, capsys):  # fmt: skip
    y_true = seed_data[3][:ROWS]
    with ExplanationDashboard(
        bare(seed_explanation), explainer, datasetX=seed_explanation.eval_data, true_y=y_true
    ) as dashboard:
        assert dashboard.url.startswith("http://127.0.0.1:") and dashboard.url in (
            capsys.readouterr().out
        )
        page = chromium.new_page(viewport={"width": 1500, "height": 1100})
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        page.goto(dashboard.url)
        page.wait_for_selector("body[data-ready=true]")
        marks = page.locator("#global-svg g.mark")
        assert [marks.nth(i).get_attribute("data-feature") for i in range(10)] == (
            seed_explanation.get_ranked_global_names(10)
        )
        assert page.locator("#data-canvas").get_attribute("data-marks") == str(ROWS)
        # predictions made by the model given: equal to the uploaded explanation's
        state = page.evaluate("window.dashboard.state.exp")
        assert state["eval_y_predicted"] == seed_explanation.eval_y_predicted
        assert state["eval_y_predicted_proba"] == seed_explanation.eval_y_predicted_proba
        assert page.evaluate("window.dashboard.state.trueYs") == y_true.tolist()
        # what-if through the local /score: the explainer's own answer
        page.wait_for_selector("#whatif-prediction[data-probability]")
        row = np.asarray(seed_explanation.eval_data[0])
        expected = explainer.score(row[None, :])
        shown = page.locator("#whatif-prediction")
        assert float(shown.get_attribute("data-probability")) == expected.probabilities[0, 1]
        page.wait_for_selector("#ice-svg[data-marks='20']")
        assert page.locator("#ice-svg circle.ice-point").count() == 20
        page.screenshot(path=screenshots / "local-dashboard.png", full_page=True)
        page.close()
        assert all(url.startswith(f"http://127.0.0.1:{dashboard.port}/") for url in requests)
    with pytest.raises(OSError):  # stopped
        urllib.request.urlopen(dashboard.url, timeout=2)


def test_local_dashboard_without_a_model(chromium, seed_explanation):
    with ExplanationDashboard(seed_explanation) as dashboard:
        page = chromium.new_page()
        page.goto(dashboard.url)
        page.wait_for_selector("body[data-ready=true]")
        page.wait_for_selector("#whatif-prediction.error")
        assert "pass model=" in page.locator("#whatif-prediction").inner_text()
        assert page.locator("#local-svg g.mark").count() == 10  # local views still work
        page.close()
        latest = dashboard.url.replace("/dashboard?run=local", "/explanations/local/latest")
        with urllib.request.urlopen(latest) as answer:
            body = json.loads(answer.read())
        assert LocalExplanation.from_dict(body["explanation"]) == seed_explanation


def test_local_dashboard_with_a_plain_model(seed_svc, seed_explanation):
    with ExplanationDashboard(bare(seed_explanation), seed_svc,
                              datasetX=seed_explanation.eval_data) as dashboard:  # fmt: skip
        rows = [dict(zip(seed_explanation.features, r, strict=True))
                for r in seed_explanation.eval_data[:3]]  # fmt: skip
        request = urllib.request.Request(
            dashboard.url.split("/dashboard")[0] + "/score", data=json.dumps(rows).encode()
        )
        with urllib.request.urlopen(request) as answer:
            body = json.loads(answer.read())
    x = np.asarray(seed_explanation.eval_data[:3])
    assert body["predictions"] == seed_svc.predict(x).tolist()
    assert body["probabilities"] == seed_svc.predict_proba(x).tolist()
    assert "local_importance_values" not in body


def test_bad_arguments(seed_explanation):
    with pytest.raises(InputError, match="datasetX"):
        ExplanationDashboard(seed_explanation, datasetX=np.zeros((3, 2)))
    with pytest.raises(InputError, match="true_y has 2 labels"):
        ExplanationDashboard(seed_explanation, true_y=[0, 1])
    with pytest.raises(TypeError):
        ExplanationDashboard({"not": "an explanation"})  # type: ignore[arg-type]
