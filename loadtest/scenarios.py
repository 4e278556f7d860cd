"""Scenarios and their payloads, built from the served artifact's own features."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["SCENARIOS", "Request", "build_requests", "sample_rows"]

SCENARIOS = ("single-row", "batch-32", "top-k", "v2", "bad-input")
#: Share of malformed requests in the bad-input scenario.
BAD_SHARE = 0.2


@dataclass
class Request:
    """One request a virtual user sends: ``expect`` is "ok" (2xx) or "4xx"."""

    name: str
    path: str
    body: str
    rows: int
    weight: float = 1.0
    expect: str = "ok"
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def sample_rows(
    features: list[str], artifact: str | None, n: int = 64, seed: int = 0
) -> np.ndarray:
    """Rows to send: the artifact's background (jittered) when given, else N(0, 1)."""
    rng = np.random.default_rng(seed)
    if artifact:
        from scoring_explainers.scoring import load

        explainer = load(artifact)
        base = getattr(explainer, "background_", None)
        if base is None:
            base = np.asarray(getattr(explainer, "mean_", np.zeros(len(features))))[None, :]
        picks = base[rng.integers(0, len(base), size=n)]
        return picks * (1 + 0.05 * rng.standard_normal(picks.shape))
    return rng.standard_normal((n, len(features)))


def _score(rows: np.ndarray, name: str = "/score", path: str = "/score") -> Request:
    return Request(name, path, json.dumps({"data": rows.tolist()}), len(rows))


def _v2(rows: np.ndarray, model: str) -> Request:
    body = {
        "inputs": [
            {
                "name": "input-0",
                "shape": list(rows.shape),
                "datatype": "FP64",
                "data": rows.reshape(-1).tolist(),
            }
        ]
    }
    return Request("/v2/infer", f"/v2/models/{model}/infer", json.dumps(body), len(rows))


def _bad(n_features: int) -> list[Request]:
    row = [1.0] * n_features
    cases = [
        ("bad: truncated JSON", '{"data": [[1.0, 2.0'),
        ("bad: wrong width", json.dumps({"data": [row[:-1] or [1.0, 2.0]]})),
        ("bad: strings", json.dumps({"data": [["x"] * n_features]})),
        ("bad: NaN literal", '{"data": [[' + ", ".join(["NaN"] * n_features) + "]]}"),
        ("bad: empty batch", json.dumps({"data": []})),
    ]
    requests = [Request(name, "/score", body, 0, expect="4xx") for name, body in cases]
    requests.append(
        Request(
            "bad: content type",
            "/score",
            json.dumps({"data": [row]}),
            0,
            expect="4xx",
            content_type="text/plain",
        )
    )
    return requests


def build_requests(scenario: str, rows: np.ndarray, model: str) -> list[Request]:
    """The weighted request mix of a scenario."""
    if scenario == "single-row":
        return [_score(rows[i : i + 1]) for i in range(min(32, len(rows)))]
    if scenario == "batch-32":
        return [_score(np.roll(rows, i, axis=0)[:32], name="/score (32 rows)") for i in range(4)]
    if scenario == "top-k":
        plain = [_score(rows[i : i + 1]) for i in range(16)]
        ranked = [
            _score(rows[i : i + 1], name="/score?top_k=3", path="/score?top_k=3")
            for i in range(16, 32)
        ]
        return plain + ranked
    if scenario == "v2":
        return [_v2(rows[i : i + 1], model) for i in range(32)]
    if scenario == "bad-input":
        good = [_score(rows[i : i + 1]) for i in range(32)]
        bad = _bad(rows.shape[1])
        for request in good:  # BAD_SHARE of all requests are malformed
            request.weight = (1 - BAD_SHARE) / len(good)
        for request in bad:
            request.weight = BAD_SHARE / len(bad)
        return good + bad
    raise ValueError(f"unknown scenario {scenario!r}; choose from {', '.join(SCENARIOS)}")


def write_config(path: Path, requests: list[Request], api_key: str | None) -> None:
    path.write_text(json.dumps({"requests": [asdict(r) for r in requests], "api_key": api_key}))


def read_config(path: str) -> tuple[list[Request], str | None]:
    config: dict[str, Any] = json.loads(Path(path).read_text())
    return [Request(**r) for r in config["requests"]], config.get("api_key")
