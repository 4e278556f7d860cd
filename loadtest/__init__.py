"""Load-test harness for the scoring service: locust scenarios, a wrk ceiling, SLO verdicts."""

from .slo import SLO, parse_slo

__all__ = ["SLO", "parse_slo"]
