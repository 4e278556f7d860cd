"""Dashboard first render for an explanation of 5,000 rows x 30 features, in Chromium.

A logistic regression on 5,000 x 30 synthetic rows is distilled into a Linear scoring
explainer; its explanation of all 5,000 rows (local values for both classes, the rows,
predictions and probabilities) is uploaded to a real service (``python -m service``, SQLite
store). Headless Chromium (Debian's, via Playwright) then opens ``/dashboard?run=...`` in a
fresh browser context each time (no cache), and the page reports when every view is drawn:

- ``first render``: navigation start -> all views drawn (page, scripts, listing, download,
  JSON parse and drawing), the target being under 1 s;
- ``download``: fetching and parsing the explanation; ``draw``: building every view.

    python bench/dashboard.py [--repeats 7] [--rows 5000] [--features 30]

Medians over the repeats; the target verdict is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))
from _common import load_average  # noqa: E402

warnings.simplefilter("ignore")

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
]
TARGET_SECONDS = 1.0


def build(folder: Path, rows: int, features: int):
    """A Linear artifact and its explanation of ``rows`` rows."""
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from scoring_explainers.explanation import global_from_local
    from scoring_explainers.scoring import LinearScoringExplainer, save

    X, y = make_classification(
        n_samples=rows, n_features=features, n_informative=10, random_state=0
    )
    names = [f"feature_{i:02d}" for i in range(features)]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
    explainer = LinearScoringExplainer.from_model(model, X, features=names, classes=["no", "yes"])
    save(explainer, folder)
    result = explainer.score(X)
    explanation = global_from_local(
        result.local_importance_values,
        model_task="classification",
        features=names,
        classes=["no", "yes"],
        expected_values=result.expected_values,
        method="shap.linear",
        eval_data=X,
        eval_y_predicted=result.predictions,
        eval_y_predicted_proba=result.probabilities,
    )
    return explanation, y


def start(artifact: Path, tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCORING_")}
    env.update(
        SCORING_STORE_PATH=str(tmp / "explanations.sqlite3"),
        SCORING_STORE_MAX_BYTES=str(256 * 2**20),
        SCORING_LOG_LEVEL="warning",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "service", "--artifact", str(artifact), "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("the service did not start")


def measure(url: str, run: str, repeats: int) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    times: dict[str, list[float]] = {"first_render": [], "download": [], "draw": [], "wall": []}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        for i in range(repeats + 1):  # the first one warms the browser process up
            context = browser.new_context(viewport={"width": 1500, "height": 1100})
            page = context.new_page()
            start = time.perf_counter()
            page.goto(f"{url}/dashboard?run={run}")
            page.wait_for_selector("body[data-ready=true]", timeout=60_000)
            wall = time.perf_counter() - start
            timings = page.evaluate("window.dashboard.timings")
            marks = page.locator("#summary-canvas").get_attribute("data-marks")
            context.close()
            if i == 0:
                continue
            times["first_render"].append(timings["firstRender"] / 1000)
            times["download"].append(timings["download"] / 1000)
            times["draw"].append(timings["render"] / 1000)
            times["wall"].append(wall)
        browser.close()
    times["summary_marks"] = [float(marks or 0)]
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--features", type=int, default=30)
    args = parser.parse_args()

    from scoring_explainers.client import ExplanationClient

    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as folder:
        tmp = Path(folder)
        explanation, y = build(tmp / "artifact", args.rows, args.features)
        process, url = start(tmp / "artifact", tmp)
        try:
            client = ExplanationClient(url, "bench")
            body_bytes = len(explanation.to_json())
            t0 = time.perf_counter()
            client.upload_model_explanation(explanation, true_ys=y, comment="bench")
            upload = time.perf_counter() - t0
            t0 = time.perf_counter()
            assert client.download_model_explanation() == explanation
            download = time.perf_counter() - t0
            times = measure(url, "bench", args.repeats)
        finally:
            process.terminate()
            process.wait(30)

    median = {k: statistics.median(v) for k, v in times.items()}
    verdict = "meets" if median["first_render"] < TARGET_SECONDS else "MISSES"
    lines = [
        f"Dashboard first render, {args.rows} rows x {args.features} features "
        f"(classification, 2 classes), Chromium headless; median of {args.repeats}",
        f"  explanation JSON            {body_bytes / 2**20:8.1f} MB",
        f"  upload (client -> store)    {upload:8.3f} s   download + check {download:.3f} s",
        f"  first render                {median['first_render']:8.3f} s   "
        f"(navigation start -> every view drawn; target < {TARGET_SECONDS:.0f} s: {verdict})",
        f"    of which download+parse   {median['download']:8.3f} s",
        f"    of which drawing          {median['draw']:8.3f} s   "
        f"({int(median['summary_marks'])} summary points)",
        f"  goto -> ready (Python side) {median['wall']:8.3f} s",
        f"  min / max first render      {min(times['first_render']):.3f} / "
        f"{max(times['first_render']):.3f} s",
        f"  load average                {load_average()}",
    ]
    print("\n".join(lines))
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "dashboard.txt").write_text("\n".join(lines) + "\n")
    (results / "dashboard.json").write_text(json.dumps({**times, "upload_s": upload}, indent=1))


if __name__ == "__main__":
    main()
