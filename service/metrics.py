"""Prometheus metrics on the service's own registry."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector

__all__ = ["Metrics"]

_LATENCY = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_ATTRIBUTION = tuple(float(x) for x in np.logspace(-4, 3, 15))
#: Coalitions a row used under a tolerance: powers of two (designs hold up to a few
#: thousand coalitions).
_COALITIONS = tuple(float(2**k) for k in range(3, 15))
#: Above this many features the per-feature attribution histogram is not kept (series
#: per feature would swamp Prometheus); the other metrics remain.
MAX_FEATURE_SERIES = 256


class FeatureHistogram(Collector):
    """One histogram per feature, observed for all features at once with numpy.

    prometheus-client's labelled histograms cost a lock and a lookup per observation;
    with tens of features per request that is most of a cheap request's time. Even one
    numpy bucketing per request costs more than scoring a row with a linear artifact, so
    a request only adds its per-feature sums to a short list, and the list is bucketed
    in one pass when it is full (``FOLD_EVERY``) or when the metrics are read.
    """

    FOLD_EVERY = 256

    def __init__(self, name: str, documentation: str, buckets: Sequence[float]) -> None:
        self.name, self.documentation = name, documentation
        self.bounds = np.asarray(buckets, dtype=np.float64)
        self._features: list[str] = []
        self._counts = np.zeros((0, len(self.bounds) + 1), dtype=np.int64)
        self._sums = np.zeros(0)
        self._pending: list[tuple[np.ndarray, int]] = []
        self._lock = threading.Lock()

    def set_features(self, features: Sequence[str]) -> None:
        with self._lock:
            self._features = list(features)
            self._counts = np.zeros((len(features), len(self.bounds) + 1), dtype=np.int64)
            self._sums = np.zeros(len(features))
            self._pending = []

    def observe(self, values: np.ndarray) -> None:
        """One observation per feature: the mean absolute value over the leading axes.

        ``values`` has shape (..., n_features), e.g. (n_rows, n_features) or
        (n_classes, n_rows, n_features); a request with a non-finite value is skipped.
        """
        if not self._features or values.size == 0:
            return
        width = values.shape[-1]
        sums = np.abs(values.reshape(-1, width)).sum(axis=0)
        with self._lock:
            self._pending.append((sums, values.size // width))
            if len(self._pending) >= self.FOLD_EVERY:
                self._fold()

    def _fold(self) -> None:
        """Bucket the pending observations (the lock is held)."""
        pending, self._pending = self._pending, []
        width = len(self._features)
        pending = [(sums, n) for sums, n in pending if len(sums) == width]
        if not pending:
            return
        means = np.stack([sums for sums, _ in pending]) / np.array([n for _, n in pending])[:, None]
        means = means[np.isfinite(means).all(axis=1)]
        bucket = np.searchsorted(self.bounds, means, side="left")
        n_buckets = len(self.bounds) + 1
        index = (np.arange(width) * n_buckets + bucket).ravel()
        self._counts += np.bincount(index, minlength=width * n_buckets).reshape(width, n_buckets)
        self._sums += means.sum(axis=0)

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=["feature"])
        with self._lock:
            self._fold()
            counts, sums = self._counts.copy(), self._sums.copy()
            features = list(self._features)
        edges = [*(f"{b:g}" for b in self.bounds), "+Inf"]
        for i, name in enumerate(features):
            cumulative = np.cumsum(counts[i]).tolist()
            family.add_metric([name], list(zip(edges, cumulative, strict=True)), float(sums[i]))
        yield family


class Metrics:
    """Request, model and explanation metrics, plus what the artifact is.

    Labels stay bounded whatever clients send: ``endpoint`` is the full template of a
    route (``/explanations/{run_id}``, ``/dashboard/static/{name}``) or ``unmatched`` for
    any path no route takes, ``status`` an HTTP code the service answers with, ``feature``
    one of the artifact's features (none above ``MAX_FEATURE_SERIES``).
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
        self.attribution = FeatureHistogram(
            "scoring_feature_mean_abs_attribution",
            "Per request, mean absolute attribution of each feature (over rows and classes)",
            _ATTRIBUTION,
        )
        r.register(self.attribution)
        self.coalitions = Histogram(
            "scoring_coalitions_used",
            "Per row scored with a tolerance, the coalitions evaluated before every standard "
            "error was below it (or the artifact's budget ran out)",
            buckets=_COALITIONS,
            registry=r,
        )
        self._children: dict[tuple[str, str], tuple[Any, Any]] = {}

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
        self.attribution.set_features(features if len(features) <= MAX_FEATURE_SERIES else [])
        self.ready.set(1)

    def observe_request(self, endpoint: str, status: int, seconds: float) -> None:
        key = (endpoint, str(status))
        children = self._children.get(key)
        if children is None:
            children = (self.requests.labels(*key), self.latency.labels(endpoint))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def observe_score(self, n_rows: int, timings: dict[str, float], values: np.ndarray) -> None:
        self.rows.inc(n_rows)
        self.model_seconds.observe(timings.get("model", 0.0))
        self.explain_seconds.observe(timings.get("explain", 0.0))
        self.attribution.observe(values)

    def observe_coalitions(self, coalitions_used: np.ndarray) -> None:
        """One observation per row: the coalitions it used under a tolerance."""
        for count in np.asarray(coalitions_used).reshape(-1).tolist():
            self.coalitions.observe(count)

    def render(self) -> bytes:
        return generate_latest(self.registry)
