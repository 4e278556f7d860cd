"""Fuzz the API from its own OpenAPI schema (in process): no 5xx, responses fit the schema."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings


def _app():
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from scoring_explainers.scoring import LinearScoringExplainer, save
    from service import ScoringRuntime, Settings, create_app

    data = load_breast_cancer()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(data.data, data.target)
    folder = Path(tempfile.mkdtemp(prefix="fuzz-")) / "lr"
    save(
        LinearScoringExplainer.from_model(model, data.data, features=list(data.feature_names)),
        folder,
    )
    logging.getLogger("service").setLevel(logging.WARNING)
    service_settings = Settings(
        artifact=str(folder), max_rows=50, store_path=str(folder.parent / "store.sqlite3")
    )
    runtime = ScoringRuntime(service_settings)
    runtime.load()  # the app is driven without its lifespan here
    return create_app(service_settings, runtime)


schema = schemathesis.openapi.from_asgi("/schema/openapi.json", _app())


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_responses_match_the_schema(case):
    response = case.call()
    assert response.status_code < 500, response.text
    # Every other check: status codes documented, bodies match their schema, ... Valid-
    # looking rows may still be refused (the schema cannot say the row width of an
    # artifact), so "positive data acceptance" does not apply.
    case.validate_response(response, excluded_checks=[schemathesis.checks.positive_data_acceptance])
