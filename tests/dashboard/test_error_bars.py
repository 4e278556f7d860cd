"""Standard errors in the local view: an explanation uploaded with them (``score(X,
uncertainty=True)``) draws an error bar on each local bar - a thick line over the value
± 1 se, a thin capped one over ± 2 se - at the positions the bar's own scale gives; one
without them draws none. In the service's dashboard and the notebook dashboard alike."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from scoring_explainers.client import ExplanationClient
from scoring_explainers.dashboard import ExplanationDashboard
from scoring_explainers.explanation import GlobalExplanation, global_from_local
from scoring_explainers.scoring import load
from tests.service.conftest import Server, start_server

from .conftest import KEY

RUN = "se-run"
ROWS = 12
#: The local view's SVG: its width and the x range of its bars (see ``bars`` in dashboard.js).
WIDTH, LEFT, RIGHT = 420, 150, 420 - 60

#: Per bar of the local view: its value, rectangle and error bar's lines, as numbers.
BARS = """() => [...document.querySelectorAll('#local-svg g.mark')].map(g => {
  const rect = g.querySelector('rect');
  const bar = g.querySelector('g.error-bar');
  const line = (sel) => {
    const l = bar.querySelector(sel);
    return ['x1', 'x2', 'y1', 'y2'].map(a => +l.getAttribute(a));
  };
  return {
    feature: g.dataset.feature, value: +g.dataset.value,
    y: +rect.getAttribute('y'), height: +rect.getAttribute('height'),
    se: bar ? +bar.dataset.se : null,
    se1: bar ? line('line.se1') : null, se2: bar ? line('line.se2') : null,
    caps: bar ? [...bar.querySelectorAll('line.se2-cap')].map(
      l => ['x1', 'x2', 'y1', 'y2'].map(a => +l.getAttribute(a))) : null,
  };
})"""


def with_standard_errors(artifact, x: np.ndarray) -> GlobalExplanation:
    """The seed SVC's Kernel explanation of ``x`` with its standard errors."""
    result = load(artifact).score(x, uncertainty=True)
    assert result.standard_errors is not None and result.standard_errors.max() > 0
    return global_from_local(
        result.local_importance_values,
        standard_errors=result.standard_errors,
        model_task="classification",
        features=result.features,
        classes=result.classes,
        expected_values=result.expected_values,
        method="shap.kernel",
        eval_data=x,
        eval_y_predicted=result.predictions,
        eval_y_predicted_proba=result.probabilities,
    )


@pytest.fixture(scope="module")
def explanations(artifacts, seed_data) -> tuple[GlobalExplanation, GlobalExplanation]:
    """The same rows explained with and without standard errors."""
    x = seed_data[1][:ROWS]
    with_se = with_standard_errors(artifacts["svc"], x)
    data = with_se.to_dict()
    del data["standard_errors"]
    data["id"] = "no-se"
    without = GlobalExplanation.from_dict(data)
    assert isinstance(without, GlobalExplanation)
    return with_se, without


@pytest.fixture(scope="module")
def server(artifacts, explanations, tmp_path_factory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("error-bars")
    srv = start_server(
        artifacts["svc"],
        tmp,
        env={"SCORING_API_KEY": KEY, "SCORING_STORE_PATH": str(tmp / "explanations.sqlite3")},
    )
    client = ExplanationClient(srv.url, RUN, api_key=KEY)
    for explanation in explanations:
        client.upload_model_explanation(explanation)
    yield srv
    srv.stop()


def expected_bars(values: list[float], errors: list[float]) -> dict[str, np.ndarray]:
    """Where dashboard.js draws the error bars: the scale spans 0, every value and every
    value ± 2 se, onto [LEFT, RIGHT]."""
    v, se = np.asarray(values), np.asarray(errors)
    lo = min(0.0, (v - 2 * se).min())
    hi = max(0.0, (v + 2 * se).max())

    def x(t: np.ndarray) -> np.ndarray:
        return LEFT + (t - lo) / (hi - lo) * (RIGHT - LEFT)

    return {
        "se1": np.stack([x(v - se), x(v + se)], 1),
        "se2": np.stack([x(v - 2 * se), x(v + 2 * se)], 1),
    }


def check_error_bars(page, explanation: GlobalExplanation, row: int) -> None:
    """The local view of ``row`` (class index 1, top 10): one error bar per bar, with the
    uploaded standard errors, drawn where the scale puts value ± 1 se and ± 2 se."""
    bars = page.evaluate(BARS)
    assert len(bars) == 10
    index = {f: i for i, f in enumerate(explanation.features)}
    se = np.asarray(explanation.standard_errors)[1, row]
    local = np.asarray(explanation.local_importance_values)[1, row]
    assert [b["value"] for b in bars] == [local[index[b["feature"]]] for b in bars]
    assert [b["se"] for b in bars] == [se[index[b["feature"]]] for b in bars]  # exact
    want = expected_bars([b["value"] for b in bars], [b["se"] for b in bars])
    got_se1 = np.array([b["se1"][:2] for b in bars])
    got_se2 = np.array([b["se2"][:2] for b in bars])
    np.testing.assert_allclose(got_se1, want["se1"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(got_se2, want["se2"], rtol=0, atol=1e-9)
    assert all(RIGHT + 1e-9 >= x >= LEFT - 1e-9 for x in got_se2.ravel())  # inside the plot
    for b, ends in zip(bars, want["se2"], strict=True):
        middle = b["y"] + b["height"] / 2  # each line across the middle of its bar
        assert b["se1"][2] == b["se1"][3] == b["se2"][2] == b["se2"][3] == pytest.approx(middle)
        assert [c[0] for c in b["caps"]] == pytest.approx(list(ends), abs=1e-9)
        assert all(c[0] == c[1] and c[2] < middle < c[3] for c in b["caps"])
    assert page.locator("#local-svg").get_attribute("data-error-bars") == "10"
    assert "± 1 standard error" in page.locator("#local-legend").inner_text()


def test_the_local_view_draws_error_bars_only_with_standard_errors(
    page, server, explanations, screenshots
):
    with_se, without = explanations
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{server.url}/dashboard?run={RUN}&explanation={with_se.id}")
    page.wait_for_selector("body[data-ready=true]")
    assert page.locator("#explanation").input_value() == with_se.id
    check_error_bars(page, with_se, 0)
    page.screenshot(path=screenshots / "error-bars.png", full_page=True)
    page.evaluate("window.dashboard.select(7)")
    check_error_bars(page, with_se, 7)
    # the same rows without standard errors: bars, no error bars, no legend
    page.select_option("#explanation", without.id)
    page.wait_for_selector(f"body[data-explanation='{without.id}']")
    assert page.locator("#local-svg g.mark").count() == 10
    assert page.locator("#local-svg g.error-bar").count() == 0
    assert page.locator("#local-svg line").count() == 1  # the axis only
    assert page.locator("#local-svg").get_attribute("data-error-bars") == "0"
    assert page.locator("#local-legend").inner_text() == ""
    assert errors == []


def test_the_notebook_dashboard_draws_them_too(chromium, explanations):
    with_se, without = explanations
    with ExplanationDashboard(with_se) as dashboard:
        page = chromium.new_page(viewport={"width": 1500, "height": 1100})
        page.goto(dashboard.url)
        page.wait_for_selector("body[data-ready=true]")
        check_error_bars(page, with_se, 0)
        page.close()
    with ExplanationDashboard(without) as dashboard:
        page = chromium.new_page(viewport={"width": 1500, "height": 1100})
        page.goto(dashboard.url)
        page.wait_for_selector("body[data-ready=true]")
        assert page.locator("#local-svg g.mark").count() == 10
        assert page.locator("#local-svg g.error-bar").count() == 0
        page.close()
