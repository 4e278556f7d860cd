"""The per-feature attribution histogram, folded in batches, equals one observation per request."""

from __future__ import annotations

import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from service.metrics import FeatureHistogram, Metrics


def _expected(observations: list[np.ndarray], bounds: np.ndarray, width: int):
    counts = np.zeros((width, len(bounds) + 1), dtype=np.int64)
    sums = np.zeros(width)
    for values in observations:
        mean = np.abs(values).mean(axis=tuple(range(values.ndim - 1)))
        if np.all(np.isfinite(mean)):
            counts[np.arange(width), np.searchsorted(bounds, mean, side="left")] += 1
            sums += mean
    return np.cumsum(counts, axis=1), sums


def _read(histogram: FeatureHistogram, features: list[str]):
    family = next(iter(histogram.collect()))
    buckets = np.array(
        [
            [
                s.value
                for s in family.samples
                if s.name.endswith("_bucket") and s.labels["feature"] == f
            ]
            for f in features
        ]
    )
    sums = np.array(
        [
            s.value
            for f in features
            for s in family.samples
            if s.name.endswith("_sum") and s.labels["feature"] == f
        ]
    )
    return buckets, sums


def test_batched_folds_equal_per_request_observations():
    rng = np.random.default_rng(0)
    features = ["a", "b", "c"]
    histogram = FeatureHistogram("x", "doc", [0.01, 0.1, 1.0, 10.0])
    histogram.set_features(features)
    observations = []
    for i in range(3 * FeatureHistogram.FOLD_EVERY + 17):  # several folds and a remainder
        shape = [(4, 3), (2, 5, 3), (1, 3)][i % 3]
        values = rng.normal(size=shape) * 10 ** rng.uniform(-3, 2)
        if i % 97 == 0:
            values[0, 0] = np.nan  # a request with a non-finite value is skipped
        if i % 101 == 0:
            values = values[..., :2]  # a width that is not the artifact's: ignored
        histogram.observe(values)
        observations.append(values)
        if i in (5, 300):  # reading in between folds what is pending
            _read(histogram, features)
    want_buckets, want_sums = _expected(
        [o for o in observations if o.shape[-1] == 3], histogram.bounds, 3
    )
    buckets, sums = _read(histogram, features)
    np.testing.assert_array_equal(buckets, want_buckets)
    np.testing.assert_allclose(sums, want_sums, rtol=1e-12)


def test_no_series_above_the_feature_limit():
    metrics = Metrics()
    metrics.set_artifact(
        kind="linear",
        task="regression",
        output_space="raw",
        format_version=1,
        features=[f"f{i}" for i in range(300)],
    )
    metrics.observe_score(1, {"model": 0.001, "explain": 0.001}, np.ones((1, 300)))
    names = {
        sample.name
        for family in text_string_to_metric_families(metrics.render().decode())
        for sample in family.samples
    }
    assert "scoring_rows_total" in names
    assert not any(n.startswith("scoring_feature_mean_abs_attribution") for n in names)
