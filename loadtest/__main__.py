"""``python -m loadtest --host URL --scenario NAME --users U --duration 60s --slo ... --out DIR``.

Runs a scenario against a running service and prints requests/s, rows/s, p50/p95/p99 and
errors per endpoint, writes ``result.json`` (and, in locust mode, locust's HTML report with
latency over time), and exits 1 when an SLO is missed (2 for a usage error).

Modes: ``locust`` (default; FastHttpUser, all scenarios) and ``raw`` (wrk, a C load
generator, for the throughput ceiling of one request type; on 2 cores a Python load
generator mostly measures itself).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from .scenarios import SCENARIOS, Request, build_requests, sample_rows, write_config
from .slo import LATENCY_KEYS, evaluate, parse_duration, parse_slo

HERE = Path(__file__).resolve().parent


def discover(host: str, api_key: str | None) -> dict[str, Any]:
    """The served model's name and features, from the V2 metadata endpoints."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    with httpx.Client(base_url=host, headers=headers, timeout=10) as client:
        ready = client.get("/readyz")
        if ready.status_code != 200:
            raise SystemExit(f"{host} is not ready: {ready.text[:200]}")
        server = client.get("/v2").json()
        name = server["models"][0]
        meta = client.get(f"/v2/models/{name}")
        meta.raise_for_status()
        return {"name": name, **meta.json()["parameters"]}


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


def run_locust(
    args: argparse.Namespace, requests: list[Request], out: Path
) -> list[dict[str, Any]]:
    config = out / "config.json"
    write_config(config, requests, args.api_key)
    env = {
        **os.environ,
        "LOADTEST_CONFIG": str(config),
        "PYTHONPATH": f"{HERE.parent}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    duration = max(1, math.ceil(parse_duration(args.duration)))
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(HERE / "locustfile.py"),
        "--headless",
        "-u",
        str(args.users),
        "-r",
        str(args.spawn_rate or args.users),
        "-t",
        f"{duration}s",
        "--host",
        args.host,
        "--csv",
        str(out / "locust"),
        "--html",
        str(out / "report.html"),
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--stop-timeout",
        "30",
        "--exit-code-on-error",
        "0",
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=duration + 180)
    stats = out / "locust_stats.csv"
    if done.returncode != 0 or not stats.is_file():
        raise SystemExit(f"locust failed ({done.returncode}): {done.stderr[-2000:]}")
    rows_per = {r.name: r.rows for r in requests}
    endpoints = []
    with stats.open() as handle:
        for row in csv.DictReader(handle):
            if row["Name"] == "Aggregated":
                continue
            count = int(row["Request Count"])
            rps = float(row["Requests/s"])
            endpoints.append(
                {
                    "name": row["Name"],
                    "requests": count,
                    "failures": int(row["Failure Count"]),
                    "rps": rps,
                    "rows_per_s": rps * rows_per.get(row["Name"], 0),
                    "p50": float(row["50%"]),
                    "p90": float(row["90%"]),
                    "p95": float(row["95%"]),
                    "p99": float(row["99%"]),
                    "expect": next((r.expect for r in requests if r.name == row["Name"]), "ok"),
                }
            )
    return endpoints


def run_wrk(args: argparse.Namespace, requests: list[Request], out: Path) -> list[dict[str, Any]]:
    if shutil.which("wrk") is None:
        raise SystemExit("raw mode needs wrk: apt-get install wrk")
    if any(r.expect != "ok" for r in requests):
        raise SystemExit("raw mode runs one good request type; use locust for bad-input")
    request = requests[0]
    headers = {"Content-Type": request.content_type}
    if args.api_key:
        headers["Authorization"] = f"Bearer {args.api_key}"
    script = out / "request.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        + "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in headers.items())
        + f"wrk.body = [==[{request.body}]==]\n"
    )
    duration = max(1, math.ceil(parse_duration(args.duration)))
    url = args.host.rstrip("/") + request.path
    subprocess.run(
        ["wrk", "-t1", f"-c{args.users}", "-d3s", "-s", str(script), url],
        capture_output=True,
        check=True,
    )  # warm-up
    text = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{args.users}",
            f"-d{duration}s",
            "--latency",
            "--timeout",
            "30s",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (out / "wrk.txt").write_text(text)
    total = int(re.search(r"(\d+) requests in", text).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    socket = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    failures = (int(bad.group(1)) if bad else 0) + (
        sum(int(g) for g in socket.groups()) if socket else 0
    )
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))  # type: ignore[union-attr]
    latency = {
        f"p{p}": _ms(re.search(rf"\s{p}%\s+(\S+)", text).group(1))  # type: ignore[union-attr]
        for p in ("50", "90", "99")
    }
    return [
        {
            "name": request.name,
            "requests": total,
            "failures": failures,
            "rps": rps,
            "rows_per_s": rps * request.rows,
            "p95": latency["p99"],
            "expect": "ok",
            **latency,
        }
    ]


def summarise(endpoints: list[dict[str, Any]]) -> dict[str, Any]:
    """Totals; latency percentiles are the worst over the endpoints that must succeed."""
    good = [e for e in endpoints if e["expect"] == "ok" and e["requests"]]
    requests = sum(e["requests"] for e in endpoints)
    failures = sum(e["failures"] for e in endpoints)
    summary = {
        "requests": requests,
        "failures": failures,
        "error_rate": failures / requests if requests else 1.0,
        "rps": sum(e["rps"] for e in endpoints),
        "rows_per_s": sum(e["rows_per_s"] for e in good),
    }
    for key in LATENCY_KEYS:
        summary[key] = max((e[key] for e in good), default=math.inf)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", required=True, help="service URL, e.g. http://127.0.0.1:8000")
    parser.add_argument("--scenario", choices=SCENARIOS, default="single-row")
    parser.add_argument("--users", type=int, default=8, help="concurrent users / connections")
    parser.add_argument("--spawn-rate", type=float, help="users started per second")
    parser.add_argument("--duration", default="60s", help="e.g. 60s, 2m")
    parser.add_argument(
        "--slo", default="error_rate=0", help="objectives, e.g. p99=500ms,error_rate=0,rps=50"
    )
    parser.add_argument("--out", type=Path, help="result directory (default: a new temp dir)")
    parser.add_argument("--mode", choices=("locust", "raw"), default="locust")
    parser.add_argument("--api-key", default=os.environ.get("SCORING_API_KEY") or None)
    parser.add_argument("--artifact", help="artifact directory to take sample rows from")
    args = parser.parse_args(argv)
    try:
        objectives = parse_slo(args.slo)
        parse_duration(args.duration)
    except ValueError as exc:
        parser.error(str(exc))
    if not args.host.startswith(("http://127.", "http://localhost", "http://[::1]")):
        parser.error("load tests target this machine only (http://127.0.0.1:PORT)")
    out = args.out or Path(tempfile.mkdtemp(prefix="loadtest-"))
    out.mkdir(parents=True, exist_ok=True)
    model = discover(args.host, args.api_key)
    rows = sample_rows(model["features"], args.artifact)
    requests = build_requests(args.scenario, rows, model["name"])
    started = time.time()
    endpoints = (run_locust if args.mode == "locust" else run_wrk)(args, requests, out)
    summary = summarise(endpoints)
    verdict = evaluate(objectives, summary)
    passed = all(v["ok"] for v in verdict)
    print(
        f"{args.scenario} against {args.host} ({model['name']}, {model['kind']}), "
        f"{args.users} users, {args.duration}, mode {args.mode}"
    )
    print(
        f"{'endpoint':28} {'requests':>9} {'errors':>7} {'req/s':>8} {'rows/s':>8} "
        f"{'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}"
    )
    for e in [*endpoints, {"name": "total", **summary}]:
        print(
            f"{e['name'][:28]:28} {e['requests']:>9} {e['failures']:>7} {e['rps']:8.1f} "
            f"{e['rows_per_s']:8.1f} {e['p50']:8.1f} {e['p95']:8.1f} {e['p99']:8.1f}"
        )
    for v in verdict:
        print(
            f"SLO {v['objective']}: measured {v['measured']:.4g} -> {'ok' if v['ok'] else 'MISSED'}"
        )
    print(f"verdict: {'PASS' if passed else 'FAIL'} (results in {out})")
    (out / "result.json").write_text(
        json.dumps(
            {
                "scenario": args.scenario,
                "host": args.host,
                "mode": args.mode,
                "users": args.users,
                "duration": args.duration,
                "started": started,
                "model": model["name"],
                "endpoints": endpoints,
                "summary": summary,
                "slo": verdict,
                "passed": passed,
            },
            indent=2,
            default=str,
        )
    )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
