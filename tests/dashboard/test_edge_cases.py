"""The dashboard in headless Chromium on explanations unlike the seed one: regression with
one feature, global only (permutation importance: no local values), no evaluation data,
feature names that are HTML or unicode; and the page at ``/dashboard/``."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from scoring_explainers.client import ExplanationClient
from scoring_explainers.explanation import GlobalExplanation, LocalExplanation, global_from_local

from .conftest import KEY
from .test_service_dashboard import ISOLATED, bar_values

NO_LOCAL = "No local importances in this explanation (global only)."
HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(2)>",
    "a&b\"c'",
    "ünïcødé 特征",
    "x" * 60,
]
RNG = np.random.default_rng(7)
EXPLANATIONS = {
    "one-feature": LocalExplanation(
        local_importance_values=RNG.normal(size=(12, 1)),
        features=["only"],
        expected_values=1.0,
        method="shap.linear",
        model_task="regression",
        eval_data=RNG.normal(size=(12, 1)),
        eval_y_predicted=RNG.normal(size=12),
    ),
    "pfi": GlobalExplanation(
        global_importance_values=[0.3, 0.1, 0.5],
        global_importance_std=[0.01, 0.02, 0.03],
        features=["x", "y", "z"],
        method="pfi",
        model_task="regression",
        num_examples=10,
        eval_data=RNG.normal(size=(10, 3)),
        eval_y_predicted=RNG.normal(size=10),
    ),
    "no-data": LocalExplanation(
        local_importance_values=RNG.normal(size=(2, 15, 3)),
        features=["p", "q", "r"],
        classes=["a", "b"],
        expected_values=[0.5, 0.5],
        method="shap.kernel",
        model_task="classification",
        eval_y_predicted=RNG.uniform(size=15),
    ),
    "hostile": global_from_local(
        RNG.normal(size=(20, 5)),
        model_task="regression",
        features=HOSTILE,
        expected_values=0.0,
        method="<i>shap</i>",
        eval_data=RNG.normal(size=(20, 5)),
        eval_y_predicted=RNG.normal(size=20),
    ),
}


@pytest.fixture(scope="module")
def server(dashboard_server) -> Iterator:
    for run, explanation in EXPLANATIONS.items():
        client = ExplanationClient(dashboard_server.url, run, api_key=KEY)
        client.upload_model_explanation(explanation, comment="<b>comment</b>")
    yield dashboard_server


def open_run(page, server, run: str, path: str = "/dashboard") -> list[str]:
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("dialog", lambda dialog: (problems.append(dialog.message), dialog.dismiss()))
    page.goto(f"{server.url}{path}?run={run}")
    page.wait_for_selector("body[data-ready=true]")
    return problems


def canvas(page, name: str) -> dict:
    return page.evaluate("id => ({...document.getElementById(id).dataset})", f"{name}-canvas")


def test_one_feature_regression(page, server):
    exp = EXPLANATIONS["one-feature"]
    assert open_run(page, server, "one-feature") == []
    mean_abs = float(np.abs(exp.local_importance_array).mean())
    names, values = bar_values(page, "global-svg")
    assert names == ["only"] and values == pytest.approx([mean_abs], rel=1e-12)
    assert page.locator("#top-k").input_value() == "1"
    for name in ("data", "explore", "summary"):
        assert canvas(page, name)["marks"] == "12", name
    names, values = bar_values(page, "local-svg")
    assert names == ["only"] and values == [exp.local_importance_values[0][0]]


def test_global_only_explanation_says_it_has_no_local_values(page, server, screenshots):
    exp = EXPLANATIONS["pfi"]
    assert open_run(page, server, "pfi") == []
    assert bar_values(page, "global-svg") == (
        exp.get_ranked_global_names(),
        exp.get_ranked_global_values(),
    )
    assert canvas(page, "data")["marks"] == "10"  # the rows are there to look at
    for name in ("explore", "summary"):
        assert canvas(page, name) == {"marks": "0", "message": NO_LOCAL}, name
    assert page.locator("#local-svg").text_content() == NO_LOCAL
    page.screenshot(path=screenshots / "edge-global-only.png", full_page=True)


def test_without_eval_data_every_row_can_still_be_clicked(page, server):
    exp = EXPLANATIONS["no-data"]
    assert open_run(page, server, "no-data") == []
    assert canvas(page, "data")["marks"] == "15"
    assert "no evaluation data" in page.locator("#data-legend").inner_text()
    assert canvas(page, "explore")["message"] == "This explanation carries no evaluation data."
    target = page.evaluate(ISOLATED, "data")
    page.mouse.click(target["x"], target["y"])
    page.wait_for_selector(f"#local-title[data-row='{target['row']}']")
    local = np.asarray(exp.local_importance_values[1][target["row"]])  # the last class
    order = np.argsort(-np.abs(local), kind="stable")
    assert bar_values(page, "local-svg") == (
        [exp.features[i] for i in order],
        local[order].tolist(),
    )


def test_html_and_unicode_names_are_text_never_markup(page, server, screenshots):
    exp = EXPLANATIONS["hostile"]
    assert open_run(page, server, "hostile") == []  # no alert, no error
    names, values = bar_values(page, "global-svg")
    assert names == exp.get_ranked_global_names(5) and values == exp.get_ranked_global_values(5)
    injected = page.evaluate(
        "() => [document.scripts.length, document.images.length,"
        " document.querySelectorAll('b, i').length]"
    )
    assert injected == [1, 0, 0]  # only the dashboard's own script
    labels = page.locator("#global-svg g.mark title")
    assert sorted(labels.nth(i).text_content() for i in range(5)) == sorted(HOSTILE)
    options = page.locator("#explore-feature option")
    assert sorted(options.nth(i).text_content() for i in range(5)) == sorted(HOSTILE)
    assert "<b>comment</b>" in page.locator("#explanation option").first.text_content()
    # long names neither widen the page nor push a bar's value out of its chart
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"]
    clipped = page.evaluate(
        """() => [...document.querySelectorAll('#global-svg text.value')].filter(t =>
             t.getBoundingClientRect().right >
             document.getElementById('global-svg').getBoundingClientRect().right + 0.5).length"""
    )
    assert clipped == 0
    page.screenshot(path=screenshots / "edge-hostile-names.png", full_page=True)


def test_the_page_with_a_trailing_slash(page, server):
    assert open_run(page, server, "pfi", path="/dashboard/") == []
    assert page.url.startswith(f"{server.url}/dashboard?run=pfi")
    assert page.locator("#global-svg g.mark").count() == 3


class FailingModel:
    """A model whose predict fails the way a real one can (not an input error)."""

    def predict(self, x):
        raise RuntimeError("onnxruntime session closed")


def test_local_dashboard_reports_a_failing_model_and_odd_requests():
    import http.client
    import json

    from scoring_explainers.dashboard import ExplanationDashboard

    with ExplanationDashboard(EXPLANATIONS["pfi"], FailingModel()) as dashboard:
        conn = http.client.HTTPConnection("127.0.0.1", dashboard.port, timeout=10)
        conn.request("POST", "/score", body=json.dumps({"data": [[1.0, 2.0, 3.0]]}))
        answer = conn.getresponse()
        assert answer.status == 500
        assert "RuntimeError: onnxruntime session closed" in json.loads(answer.read())["error"]
        conn.close()
        conn = http.client.HTTPConnection("127.0.0.1", dashboard.port, timeout=10)
        conn.request("POST", "/score", body=b"{}", headers={"Content-Length": "many"})
        answer = conn.getresponse()
        assert answer.status == 413 and b"Content-Length" in answer.read()
        conn.close()
        conn = http.client.HTTPConnection("127.0.0.1", dashboard.port, timeout=10)
        conn.request("GET", "/dashboard/?run=local")
        answer = conn.getresponse()
        assert answer.status == 302 and answer.getheader("Location") == "/dashboard?run=local"
        conn.close()
