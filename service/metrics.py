"""Prometheus metrics on the service's own registry."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["Metrics"]

_LATENCY = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_ATTRIBUTION = tuple(float(x) for x in np.logspace(-4, 3, 15))
#: Above this many features the per-feature attribution histogram is not kept (series
#: per feature would swamp Prometheus); the other metrics remain.
MAX_FEATURE_SERIES = 256


class Metrics:
    """Request, model and explanation metrics, plus what the artifact is.

    Labels stay bounded: ``endpoint`` is a route template, ``status`` an HTTP code,
    ``feature`` one of the artifact's features.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "scoring_requests_total",
            "HTTP requests by endpoint and status",
            ["endpoint", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "scoring_request_duration_seconds",
            "Request latency by endpoint",
            ["endpoint"],
            buckets=_LATENCY,
            registry=r,
        )
        self.rows = Counter("scoring_rows_total", "Rows scored", registry=r)
        self.model_seconds = Histogram(
            "scoring_model_duration_seconds",
            "Time in the model (predictions) per request",
            buckets=_LATENCY,
            registry=r,
        )
        self.explain_seconds = Histogram(
            "scoring_explain_duration_seconds",
            "Time in the explainer per request",
            buckets=_LATENCY,
            registry=r,
        )
        self.ready = Gauge("scoring_ready", "1 once the artifact is loaded", registry=r)
        self.artifact = Gauge(
            "scoring_artifact_info",
            "The artifact served (value 1)",
            ["kind", "task", "output_space", "format_version", "n_features"],
            registry=r,
        )
        self.attribution = Histogram(
            "scoring_feature_mean_abs_attribution",
            "Per request, mean absolute attribution of each feature (over rows and classes)",
            ["feature"],
            buckets=_ATTRIBUTION,
            registry=r,
        )
        self._features: list[str] = []

    def set_artifact(
        self,
        *,
        kind: str,
        task: str,
        output_space: str,
        format_version: int,
        features: Sequence[str],
    ) -> None:
        self.artifact.labels(kind, task, output_space, str(format_version), str(len(features))).set(
            1
        )
        self._features = list(features) if len(features) <= MAX_FEATURE_SERIES else []
        self.ready.set(1)

    def observe_score(self, n_rows: int, timings: dict[str, float], values: np.ndarray) -> None:
        self.rows.inc(n_rows)
        self.model_seconds.observe(timings.get("model", 0.0))
        self.explain_seconds.observe(timings.get("explain", 0.0))
        if self._features:
            axes = tuple(range(values.ndim - 1))
            for name, value in zip(
                self._features, np.abs(values).mean(axis=axes).tolist(), strict=True
            ):
                self.attribution.labels(name).observe(value)

    def render(self) -> bytes:
        return generate_latest(self.registry)
