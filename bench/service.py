"""The service under load, next to a bare Litestar endpoint (the framework ceiling).

For the demo Kernel artifact (breast-cancer SVC) and a Linear artifact (logistic regression
on the same data), and a bare endpoint returning a fixed body, under uvicorn (uvloop +
httptools) and granian, one worker each: wrk on 127.0.0.1, one connection (latency
p50/p99) and 32 connections (requests/s), 1-row and 32-row bodies. Also the in-process
``score()`` latency (to get the service's own overhead) and the cold start (process start
to ``/readyz`` 200).

    python bench/service.py [--duration 8] [--servers uvicorn,granian]
    python bench/service.py --ratio [--rounds 5] [--duration 8] [--baseline DIR]

``--ratio`` measures only what the service issue tracks: the bare endpoint against
``/score`` with the Linear artifact, one row, uvicorn; both servers run side by side and
the wrk runs alternate between them, round by round; medians are reported.

    python bench/service.py --strings [--rounds 5] [--duration 2]

``--strings`` serves a passenger-like artifact with string, integer and boolean columns
(``tests/service/raw_artifact.py``) twice, side by side under uvicorn: with its raw schema
(the client sends strings) and with an all-numeric schema over the same codes (the
workaround: the client sends the codes). One-row ``/score`` p50 (wrk, one connection),
the runs alternating between the two servers round by round; medians. Also the parse alone
(``ScoringRuntime.parse``) of both bodies in process.

Needs wrk (``apt-get install wrk``; ``make bench`` installs it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from _common import load_average  # noqa: E402

warnings.simplefilter("ignore")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def artifacts(root: Path) -> dict[str, Path]:
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from scoring_explainers.demo import build
    from scoring_explainers.scoring import LinearScoringExplainer, save

    demo = ROOT / "artifacts" / "demo"
    if not (demo / "manifest.json").is_file():
        build(demo)
    data = load_breast_cancer()
    x_train, _, y_train, _ = train_test_split(data.data, data.target, test_size=0.2, random_state=0)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(x_train, y_train)
    linear = LinearScoringExplainer.from_model(model, x_train, features=list(data.feature_names))
    save(linear, root / "linear", exist_ok=True)
    return {"kernel": demo, "linear": root / "linear"}


def command(
    server: str, target: str, artifact: Path | None, port: int, code: Path = ROOT
) -> tuple[list[str], dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCORING_")}
    env["PYTHONPATH"] = f"{code}:{ROOT / 'bench'}"
    factory = "_bare_app:create_app" if target == "bare" else "service.app:create_app"
    if artifact is not None:
        env["SCORING_ARTIFACT"] = str(artifact)
        env["SCORING_MAX_ROWS"] = "100000"
    if server == "uvicorn":
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            factory,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--log-level",
            "warning",
        ], env
    return [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "asgi",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--no-ws",
        "--log-level",
        "warning",
        factory,
    ], env


def start(
    server: str, target: str, artifact: Path | None, code: Path = ROOT
) -> tuple[subprocess.Popen, str, float]:
    port = free_port()
    cmd, env = command(server, target, artifact, port, code)
    t0 = time.perf_counter()
    process = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=code
    )
    url = f"http://127.0.0.1:{port}"
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{server} {target} exited with {process.returncode}")
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return process, url, time.perf_counter() - t0
        except httpx.TransportError:
            time.sleep(0.01)


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


def wrk(url: str, body: str, connections: int, duration: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
            f"wrk.body = [==[{body}]==]\n"
        )
    subprocess.run(
        ["wrk", "-t1", f"-c{connections}", "-d2s", "-s", script.name, url + "/score"],
        capture_output=True,
        check=True,
    )  # warm-up
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            "-s",
            script.name,
            url + "/score",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(script.name)
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}  # type: ignore[union-attr]
    for pct in ("50", "99"):
        result[f"p{pct}_ms"] = _ms(re.search(rf"\s{pct}%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    result["non_2xx"] = float(bad.group(1)) if bad else 0.0
    result["socket_errors"] = 1.0 if errors else 0.0
    return result


def in_process(artifact: Path, rows: np.ndarray, n: int = 200) -> float:
    from scoring_explainers.scoring import load

    explainer = load(artifact)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        explainer.score(rows)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def ratio(rounds: int, duration: int, baselines: list[Path] | None = None) -> dict:
    """Bare vs Linear 1-row ``/score`` under uvicorn, interleaved rounds, medians.

    ``baselines``: other copies of the project (e.g. ``git archive`` of an earlier commit)
    whose services are measured in the same rounds, as ``linear@<directory name>``.
    """
    from sklearn.datasets import load_breast_cancer

    body = json.dumps({"data": load_breast_cancer().data[:1].tolist()})
    runs: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        linear = artifacts(Path(tmp))["linear"]
        servers = {
            "bare": start("uvicorn", "bare", None),
            "linear": start("uvicorn", "linear", linear),
        }
        for baseline in baselines or []:
            servers[f"linear@{baseline.name}"] = start(
                "uvicorn", "linear", linear, baseline.resolve()
            )
        try:
            for _ in range(rounds):
                for name, (_, url, _) in servers.items():
                    many = wrk(url, body, 32, duration)
                    one = wrk(url, body, 1, duration)
                    run = runs.setdefault(name, {"rps": [], "p50_ms": [], "p99_ms": []})
                    run["rps"].append(many["rps"])
                    run["p50_ms"].append(one["p50_ms"])
                    run["p99_ms"].append(one["p99_ms"])
                    if many["non_2xx"] or one["non_2xx"]:
                        raise RuntimeError(f"{name}: non-2xx responses")
        finally:
            for process, _, _ in servers.values():
                stop(process)
    medians = {n: {k: statistics.median(v) for k, v in r.items()} for n, r in runs.items()}
    bare = medians["bare"]["rps"]
    for name, m in medians.items():
        print(
            f"{name:18} req/s @32 {m['rps']:8.0f} ({m['rps'] / bare:4.0%} of bare)  "
            f"p50 @1 {m['p50_ms']:.3f} ms  p99 @1 {m['p99_ms']:.3f} ms  "
            f"rounds {[round(x) for x in runs[name]['rps']]}"
        )
    return {"rounds": runs, "medians": medians}


def strings(rounds: int, duration: int) -> dict:
    """One-row /score p50: a string body against the numeric-codes workaround."""
    sys.path.insert(0, str(ROOT))
    from service.runtime import ScoringRuntime
    from service.settings import Settings
    from tests.service import raw_artifact

    frame = raw_artifact.rows(1)
    codes = raw_artifact.SCHEMA.encode(frame)
    bodies = {
        "strings": json.dumps({"data": json.loads(frame.to_json(orient="values"))}),
        "codes": json.dumps({"data": [[None if v != v else v for v in codes[0].tolist()]]}),
    }
    print(f"string body: {bodies['strings']}\ncodes body:  {bodies['codes']}")
    out: dict = {"bodies": bodies}
    with tempfile.TemporaryDirectory() as tmp:
        paths = dict(zip(("strings", "codes"), raw_artifact.build(Path(tmp)), strict=True))
        parse_us: dict[str, list[float]] = {k: [] for k in paths}
        runtimes = {}
        for name, path in paths.items():
            runtimes[name] = ScoringRuntime(Settings(artifact=str(path)))
            runtimes[name].load()
        for _ in range(rounds):
            for name, runtime in runtimes.items():
                body = bodies[name].encode()
                n = 3000
                t0 = time.perf_counter()
                for _ in range(n):
                    runtime.parse(body)
                parse_us[name].append((time.perf_counter() - t0) / n * 1e6)
        out["parse_us"] = {k: statistics.median(v) for k, v in parse_us.items()}
        print(
            "in-process parse (decode + encode) of the one-row body, median: "
            + ", ".join(f"{k} {v:.2f} us" for k, v in out["parse_us"].items())
        )
        servers = {name: start("uvicorn", "raw", path) for name, path in paths.items()}
        try:
            for name, (_, url, _) in servers.items():
                response = httpx.post(
                    url + "/score",
                    content=bodies[name],
                    headers={"content-type": "application/json"},
                )
                assert response.status_code == 200, response.text
            p50: dict[str, list[float]] = {k: [] for k in servers}
            for _ in range(rounds):
                for name, (_, url, _) in servers.items():
                    p50[name].append(wrk(url, bodies[name], 1, duration)["p50_ms"] * 1000)
        finally:
            for process, _, _ in servers.values():
                stop(process)
    out["p50_us"] = {k: statistics.median(v) for k, v in p50.items()}
    out["p50_us_rounds"] = p50
    print(
        f"one-row /score p50 (uvicorn, wrk 1 connection, median of {rounds} interleaved rounds "
        f"of {duration} s): "
        + ", ".join(f"{k} {v:.0f} us" for k, v in out["p50_us"].items())
        + f"; strings - codes {out['p50_us']['strings'] - out['p50_us']['codes']:+.0f} us"
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--servers", default="uvicorn,granian")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--ratio", action="store_true", help="bare vs linear 1 row only")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--strings", action="store_true", help="string body vs numeric codes, 1 row"
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        action="append",
        help="with --ratio: also serve /score from this project copy (repeatable)",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: apt-get install wrk (make bench does)")
    if args.strings:
        print(f"load average {load_average()}")
        out = strings(args.rounds, min(args.duration, 2))
        print(f"load average {load_average()}")
        if args.json:
            args.json.write_text(json.dumps(out, indent=2))
        return
    if args.ratio:
        print(f"load average {load_average()}")
        out = ratio(args.rounds, args.duration, args.baseline)
        print(f"load average {load_average()}")
        if args.json:
            args.json.write_text(json.dumps(out, indent=2))
        return
    from sklearn.datasets import load_breast_cancer

    rows = load_breast_cancer().data[:32]
    bodies = {1: json.dumps({"data": rows[:1].tolist()}), 32: json.dumps({"data": rows.tolist()})}
    results: dict = {"load_average_start": load_average()}
    with tempfile.TemporaryDirectory() as tmp:
        paths = artifacts(Path(tmp))
        print(f"load average {load_average()}")
        direct = {
            (t, n): in_process(paths[t], rows[:n], 50 if t == "kernel" and n == 32 else 200)
            for t in ("kernel", "linear")
            for n in (1, 32)
        }
        results["score_ms_p50"] = {f"{t}/{n}": v for (t, n), v in direct.items()}
        print(
            "in-process score() p50: "
            + ", ".join(f"{t} {n} row(s) {v:.2f} ms" for (t, n), v in direct.items())
        )
        cold = []
        for _ in range(5):
            process, _, seconds = start("uvicorn", "kernel", paths["kernel"])
            stop(process)
            cold.append(seconds)
        results["cold_start_s"] = statistics.median(cold)
        print(
            f"cold start (uvicorn, demo kernel artifact, process start -> ready): median "
            f"{statistics.median(cold):.2f} s of {[round(c, 2) for c in cold]}"
        )
        print(
            f"\n{'server':8} {'target':7} {'rows':>4} {'p50 ms':>8} {'p99 ms':>8} "
            f"{'rps @1':>8} {'rps @32':>8} {'vs bare':>8} {'non-2xx':>7}"
        )
        table = {}
        for server in args.servers.split(","):
            for target in ("bare", "kernel", "linear"):
                process, url, _ = start(server, target, paths.get(target))
                try:
                    for n, body in bodies.items():
                        one = wrk(url, body, 1, args.duration)
                        many = wrk(url, body, 32, args.duration)
                        table[(server, target, n)] = {"c1": one, "c32": many}
                finally:
                    stop(process)
                for n in bodies:
                    one, many = table[(server, target, n)]["c1"], table[(server, target, n)]["c32"]
                    bare = table[(server, "bare", n)]["c32"]["rps"]
                    print(
                        f"{server:8} {target:7} {n:>4} {one['p50_ms']:8.2f} {one['p99_ms']:8.2f} "
                        f"{one['rps']:8.0f} {many['rps']:8.0f} {many['rps'] / bare:7.0%} "
                        f"{int(one['non_2xx'] + many['non_2xx']):>7}"
                    )
        results["wrk"] = {"/".join(map(str, k)): v for k, v in table.items()}
        for server in args.servers.split(","):
            for target in ("kernel", "linear"):
                overhead = table[(server, target, 1)]["c1"]["p50_ms"] - direct[(target, 1)]
                results[f"overhead_ms_{server}_{target}"] = overhead
                print(
                    f"{server}: service overhead on one {target} row (HTTP p50 - score() p50) "
                    f"{overhead:.2f} ms"
                )
    results["load_average_end"] = load_average()
    print(f"load average {load_average()}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
