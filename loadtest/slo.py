"""Service-level objectives: ``p99=500ms,error_rate=0,rps=50`` and their verdict."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["SLO", "evaluate", "parse_duration", "parse_slo"]

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}
LATENCY_KEYS = ("p50", "p90", "p95", "p99")


def parse_duration(text: str) -> float:
    """``"60s"``, ``"2m"``, ``"500ms"`` or a number of seconds -> seconds."""
    match = re.fullmatch(r"\s*([\d.]+)\s*(us|ms|s|m|h)?\s*", text)
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. 60s, 2m, 500ms)")
    value, unit = float(match.group(1)), match.group(2) or "s"
    return value * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}[unit]


@dataclass(frozen=True)
class SLO:
    """One objective: a latency percentile (ms, upper bound), ``error_rate`` (fraction,
    upper bound) or ``rps`` (requests per second, lower bound)."""

    key: str
    limit: float

    def check(self, measured: float) -> bool:
        return measured >= self.limit if self.key == "rps" else measured <= self.limit

    def describe(self) -> str:
        if self.key in LATENCY_KEYS:
            return f"{self.key} <= {self.limit:g} ms"
        if self.key == "rps":
            return f"rps >= {self.limit:g}"
        return f"error_rate <= {self.limit:g}"


def parse_slo(text: str) -> list[SLO]:
    """Parse ``"p99=500ms,error_rate=0"``; latency units us/ms/s (default ms)."""
    objectives = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        key = key.strip().lower()
        if not sep:
            raise ValueError(f"SLO {part!r} needs key=value")
        if key in LATENCY_KEYS:
            match = re.fullmatch(r"\s*([\d.]+)\s*(us|ms|s|m)?\s*", value)
            if not match:
                raise ValueError(f"SLO {part!r}: latency like 500ms or 0.5s")
            limit = float(match.group(1)) * _UNITS[match.group(2) or "ms"]
        elif key in ("error_rate", "rps"):
            limit = float(value.rstrip("%")) / (100 if value.strip().endswith("%") else 1)
        else:
            raise ValueError(
                f"unknown SLO key {key!r}: use {', '.join(LATENCY_KEYS)}, error_rate, rps"
            )
        objectives.append(SLO(key, limit))
    return objectives


def evaluate(objectives: list[SLO], summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Each objective with its measured value and whether it holds.

    ``summary`` has ``p50``..``p99`` in ms (of the requests that must succeed),
    ``error_rate`` and ``rps``.
    """
    out = []
    for slo in objectives:
        measured = float(summary[slo.key])
        out.append(
            {
                "objective": slo.describe(),
                "key": slo.key,
                "limit": slo.limit,
                "measured": measured,
                "ok": slo.check(measured),
            }
        )
    return out
