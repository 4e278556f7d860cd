"""The load-test harness against a real server: verdicts that can fail."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from loadtest.slo import SLO, evaluate, parse_duration, parse_slo
from tests.service.conftest import start_server


def test_parse_slo():
    assert parse_slo("p99=500ms,error_rate=0") == [SLO("p99", 500.0), SLO("error_rate", 0.0)]
    assert parse_slo("p95=0.2s, rps=50, error_rate=1%") == [
        SLO("p95", 200.0),
        SLO("rps", 50.0),
        SLO("error_rate", 0.01),
    ]
    for bad in ("p98=1ms", "p99", "p99=fast"):
        with pytest.raises(ValueError):
            parse_slo(bad)
    assert parse_duration("2m") == 120 and parse_duration("500ms") == 0.5
    verdict = evaluate(parse_slo("p99=10ms,rps=100"), {"p99": 12.0, "rps": 150.0})
    assert [v["ok"] for v in verdict] == [False, True]


@pytest.fixture(scope="module")
def linear_url(artifacts, tmp_path_factory):
    server = start_server(artifacts["ridge"], tmp_path_factory.mktemp("lt"))
    yield server.url
    server.stop()


def _run(url: str, out, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "loadtest",
            "--host",
            url,
            "--out",
            str(out),
            "--users",
            "4",
            "--duration",
            "3s",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_bad_input_scenario_passes_its_slo(linear_url, tmp_path):
    done = _run(linear_url, tmp_path, "--scenario", "bad-input", "--slo", "p99=2s,error_rate=0")
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads((tmp_path / "result.json").read_text())
    names = {e["name"] for e in result["endpoints"]}
    assert "/score" in names and any(n.startswith("bad:") for n in names)
    bad = sum(e["requests"] for e in result["endpoints"] if e["expect"] == "4xx")
    assert 0.1 < bad / result["summary"]["requests"] < 0.3  # about a fifth malformed
    assert result["summary"]["failures"] == 0 and result["passed"] is True
    assert (tmp_path / "report.html").stat().st_size > 10_000
    assert "verdict: PASS" in done.stdout


def test_missed_slo_exits_non_zero(linear_url, tmp_path):
    # an SLO no server meets (locust rounds latencies under 100 ms to whole ms, so a fast
    # server can show p50 0: the throughput part is what cannot be met)
    done = _run(
        linear_url, tmp_path, "--scenario", "batch-32", "--slo", "p50=0.001ms,rps=1000000000"
    )
    assert done.returncode == 1
    assert "MISSED" in done.stdout and "verdict: FAIL" in done.stdout
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["passed"] is False
    assert result["endpoints"][0]["rows_per_s"] == pytest.approx(32 * result["endpoints"][0]["rps"])


def test_refuses_other_hosts(tmp_path):
    done = _run("http://10.1.2.3:8000", tmp_path)
    assert done.returncode == 2 and "this machine only" in done.stderr
