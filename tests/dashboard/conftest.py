"""Headless Chromium (Debian's, driven by Playwright; never a downloaded browser), a real
service with a real explanation in its store, and where screenshots go."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from scoring_explainers.client import ExplanationClient
from scoring_explainers.explanation import GlobalExplanation, global_from_local
from tests.service.conftest import Server, start_server

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
KEY = "dashboard-key"
RUN = "seed-run"
ROWS = 60
#: Screenshots of every view (kept after the run, outside the checkout).
ARTIFACTS = Path(
    os.environ.get(
        "TEST_ARTIFACTS", Path(tempfile.gettempdir()) / "scoring-explainers-test-artifacts"
    )
)


@pytest.fixture(scope="session")
def screenshots() -> Path:
    folder = ARTIFACTS / "dashboard"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def chromium() -> Iterator:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not shutil.which(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (Debian package chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport={"width": 1500, "height": 1100})
    context.add_init_script(f"sessionStorage.setItem('scoring-api-key', '{KEY}')")
    page = context.new_page()
    yield page
    context.close()


def explain_seed(artifact: Path, x: np.ndarray) -> GlobalExplanation:
    """The seed SVC's Kernel explanation of ``x``, with predictions and probabilities."""
    from scoring_explainers.scoring import load

    explainer = load(artifact)
    result = explainer.score(x)
    return global_from_local(
        result.local_importance_values,
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
def seed_explanation(artifacts, seed_data) -> GlobalExplanation:
    _, x_test, _, _, _ = seed_data
    return explain_seed(artifacts["svc"], x_test[:ROWS])


@pytest.fixture(scope="module")
def dashboard_server(artifacts, seed_data, seed_explanation, tmp_path_factory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("dashboard-server")
    server = start_server(
        artifacts["svc"],
        tmp,
        env={"SCORING_API_KEY": KEY, "SCORING_STORE_PATH": str(tmp / "explanations.sqlite3")},
    )
    client = ExplanationClient(server.url, RUN, api_key=KEY)
    client.upload_model_explanation(
        seed_explanation, comment="seed", true_ys=seed_data[3][:ROWS].tolist()
    )
    yield server
    server.stop()
