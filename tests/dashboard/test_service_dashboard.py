"""The dashboard served by the service, in headless Chromium: each view draws the uploaded
explanation's real values, and what-if / ICE show what ``/score`` answers."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from .conftest import KEY, ROWS, RUN

#: Coloured (drawn) pixels of a canvas.
INKED = """id => {
  const c = document.getElementById(id);
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
  return n;
}"""
#: The drawn row farthest from any other in a view (a click there can only mean that row).
ISOLATED = """view => {
  const s = window.dashboard.state;
  const pos = [...Array(s.rows).keys()].map(r => window.dashboard.markPosition(view, r));
  let best = 0, bestD = -1;
  pos.forEach((p, i) => {
    let d = Infinity;
    pos.forEach((q, j) => { if (i !== j) d = Math.min(d, (p.x - q.x) ** 2 + (p.y - q.y) ** 2); });
    if (d > bestD) { bestD = d; best = i; }
  });
  return {row: best, ...pos[best]};
}"""


def score(server, rows: list[list[float]]) -> dict:
    answer = httpx.post(
        server.url + "/score",
        json={"data": rows},
        headers={"authorization": f"Bearer {KEY}"},
        timeout=60,
    )
    answer.raise_for_status()
    return answer.json()


def open_dashboard(page, server):
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{server.url}/dashboard?run={RUN}")
    page.wait_for_selector("body[data-ready=true]")
    assert errors == []
    return requests


def bar_values(page, svg: str) -> tuple[list[str], list[float]]:
    marks = page.locator(f"#{svg} g.mark")
    names = [marks.nth(i).get_attribute("data-feature") for i in range(marks.count())]
    values = [float(marks.nth(i).get_attribute("data-value")) for i in range(marks.count())]
    return names, values


def test_global_views_draw_the_uploaded_explanation(page, dashboard_server, seed_explanation,
                                                    screenshots):  # fmt: skip
    requests = open_dashboard(page, dashboard_server)
    assert page.locator("#run").input_value() == RUN
    assert page.locator("#explanation").input_value() == seed_explanation.id
    # global importance: the top 10, names and values equal to the explanation's
    names, values = bar_values(page, "global-svg")
    assert names == seed_explanation.get_ranked_global_names(10)
    assert values == seed_explanation.get_ranked_global_values(10)
    # point clouds: one mark per row (per row and top-K feature for the summary), inked
    assert page.locator("#data-canvas").get_attribute("data-marks") == str(ROWS)
    assert page.locator("#explore-canvas").get_attribute("data-marks") == str(ROWS)
    assert page.locator("#summary-canvas").get_attribute("data-marks") == str(10 * ROWS)
    for canvas in ("data-canvas", "explore-canvas", "summary-canvas"):
        assert page.evaluate(INKED, canvas) > 500, canvas
    # the page holds the uploaded values, not an approximation
    local = page.evaluate("window.dashboard.state.local")
    assert local == seed_explanation.local_importance_values[1]
    # K is adjustable
    page.fill("#top-k", "4")
    page.dispatch_event("#top-k", "change")
    assert bar_values(page, "global-svg") == (
        seed_explanation.get_ranked_global_names(4),
        seed_explanation.get_ranked_global_values(4),
    )
    assert page.locator("#summary-canvas").get_attribute("data-marks") == str(4 * ROWS)
    page.screenshot(path=screenshots / "service-global.png", full_page=True)
    # everything came from the service itself: no CDN, no other origin
    assert requests and all(url.startswith(dashboard_server.url) for url in requests)
    head = httpx.get(dashboard_server.url + "/dashboard")
    assert (
        head.status_code == 200 and "default-src 'none'" in head.headers["content-security-policy"]
    )


def test_click_shows_the_local_importance(page, dashboard_server, seed_explanation,
                                          screenshots):  # fmt: skip
    open_dashboard(page, dashboard_server)
    target = page.evaluate(ISOLATED, "explore")
    page.mouse.click(target["x"], target["y"])
    page.wait_for_selector(f"#local-title[data-row='{target['row']}']")
    row = target["row"]
    local = np.asarray(seed_explanation.local_importance_values[1][row])
    order = np.argsort(-np.abs(local), kind="stable")[:10]
    names, values = bar_values(page, "local-svg")
    assert names == [seed_explanation.features[i] for i in order]
    assert values == local[order].tolist()
    predicted = seed_explanation.eval_y_predicted[row]
    assert f"prediction {predicted}" in page.locator("#local-title").inner_text()
    page.screenshot(path=screenshots / "service-local.png", full_page=True)


def test_what_if_shows_what_score_returns(page, dashboard_server, seed_explanation,
                                          screenshots):  # fmt: skip
    open_dashboard(page, dashboard_server)
    page.evaluate("window.dashboard.select(3)")
    page.wait_for_selector("#whatif-prediction[data-prediction]")
    before = float(page.locator("#whatif-prediction").get_attribute("data-probability"))
    row = list(seed_explanation.eval_data[3])
    assert before == score(dashboard_server, [row])["probabilities"][0][1]
    feature = "worst area"
    column = seed_explanation.features.index(feature)
    new_value = max(r[column] for r in seed_explanation.eval_data) * 1.5
    field = page.locator(f"#whatif-inputs input[data-feature='{feature}']")
    field.fill(str(new_value))
    field.dispatch_event("change")
    page.wait_for_function(
        "b => document.querySelector('#whatif-prediction').dataset.probability !== String(b)",
        arg=before,
    )
    row[column] = new_value
    expected = score(dashboard_server, [row])
    shown = page.locator("#whatif-prediction")
    assert shown.get_attribute("data-prediction") == str(expected["predictions"][0])
    assert float(shown.get_attribute("data-probability")) == expected["probabilities"][0][1]
    assert float(shown.get_attribute("data-probability")) != before
    names, values = bar_values(page, "whatif-svg")
    local = np.asarray(expected["local_importance_values"][1][0])
    order = np.argsort(-np.abs(local), kind="stable")[:10]
    assert names == [expected["features"][i] for i in order]
    assert values == pytest.approx(local[order].tolist(), abs=0, rel=0)
    page.screenshot(path=screenshots / "service-what-if.png", full_page=True)


def test_ice_draws_one_point_per_swept_value(page, dashboard_server, seed_explanation,
                                             screenshots):  # fmt: skip
    open_dashboard(page, dashboard_server)
    page.evaluate("window.dashboard.select(5)")
    feature = "mean texture"
    column = seed_explanation.features.index(feature)
    page.select_option("#ice-feature", label=feature)
    page.fill("#ice-steps", "15")
    page.dispatch_event("#ice-steps", "change")
    page.wait_for_selector("#ice-svg[data-marks='15']")
    points = page.locator("#ice-svg circle.ice-point")
    assert points.count() == 15 and page.locator("#ice-svg polyline").count() == 1
    xs = [float(points.nth(i).get_attribute("data-x")) for i in range(15)]
    ys = [float(points.nth(i).get_attribute("data-y")) for i in range(15)]
    data = np.asarray(seed_explanation.eval_data)
    assert xs[0] == data[:, column].min() and xs[-1] == data[:, column].max()
    assert np.all(np.diff(xs) > 0)
    rows = []
    for value in xs:
        row = data[5].tolist()
        row[column] = value
        rows.append(row)
    assert ys == [p[1] for p in score(dashboard_server, rows)["probabilities"]]
    page.screenshot(path=screenshots / "service-ice.png", full_page=True)


def test_the_page_asks_for_the_api_key(chromium, dashboard_server, seed_explanation):
    page = chromium.new_page()  # no key in the session
    try:
        page.goto(f"{dashboard_server.url}/dashboard?run={RUN}")
        page.wait_for_selector("#key-box:not([hidden])")
        assert "API key" in page.locator("#status").inner_text()
        page.fill("#api-key", KEY)
        page.click("#key-apply")
        page.wait_for_selector("body[data-ready=true]")
        assert page.locator("#global-svg g.mark").count() == 10
    finally:
        page.close()
