"""Slow and idle clients against the service: slowloris, half-sent requests, ``/healthz``.

Two servers on the same Linear artifact, one after the other, each with its open-file
limit set to ``--files`` (as a container's might be): ``python -m service`` (the guarded
protocol: header and body timeouts, ``SCORING_MAX_CONNECTIONS``) and plain uvicorn with
httptools on the same app (``--http httptools``, no timeouts but keep-alive, no cap). For
each, ``--slowloris`` connections send a request line and then one header byte per second;
meanwhile a new connection asks ``/healthz`` every 0.2 s (2 s timeout). Reported: the
probes answered, their latency, the sockets the server holds, the slowloris connections
it closed. Then the seconds until a request whose headers stop half-way, and one whose
body stops half-way, is closed (plain uvicorn: not within ``--wait`` seconds).

    python bench/connections.py [--slowloris 1500] [--max-connections 1000] [--files 1200]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from _common import load_average  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def linear_artifact(root: Path) -> Path:
    """Logistic regression on the breast-cancer data, as in ``bench/service.py``."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from scoring_explainers.scoring import LinearScoringExplainer, save

    data = load_breast_cancer()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(data.data, data.target)
    linear = LinearScoringExplainer.from_model(model, data.data, features=list(data.feature_names))
    return save(linear, root / "linear")


def start(kind: str, artifact: Path, port: int, env: dict[str, str], cwd: str):
    full = {k: v for k, v in os.environ.items() if not k.startswith("SCORING_")}
    full.update(env, PYTHONPATH=str(ROOT), SCORING_ARTIFACT=str(artifact), SCORING_STORE_PATH="")
    if kind == "guarded":
        cmd = [sys.executable, "-m", "service", "--port", str(port), "--log-level", "warning"]
    else:
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "service.app:create_app",
            "--port",
            str(port),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--log-level",
            "warning",
        ]
    process = subprocess.Popen(
        cmd, env=full, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if s.recv(100).startswith(b"HTTP/1.1 200"):
                    return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"{kind} server did not start")


def open_sockets(pid: int) -> int:
    return sum(
        1 for fd in os.listdir(f"/proc/{pid}/fd") if "socket" in os.readlink(f"/proc/{pid}/fd/{fd}")
    )


def probe(port: int, timeout: float = 2.0) -> float | None:
    """Seconds for one ``/healthz`` on a new connection, or None when it failed."""
    start = time.perf_counter()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := s.recv(4096):
                data += chunk
        if data.startswith(b"HTTP/1.1 200"):
            return time.perf_counter() - start
    except OSError:
        pass
    return None


def slowloris(port: int, n: int, stop: threading.Event, closed: list[int]) -> None:
    """n connections: a request line, then one header byte per connection per second."""
    sockets = []
    for _ in range(n):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        sockets.append(s)
    time.sleep(0.2)
    header = b"X-Slow: " + b"a" * 10_000
    alive = {s: 0 for s in sockets}
    first = True
    while not stop.is_set() and alive:
        for s in list(alive):
            try:
                if first:
                    s.send(b"GET /score HTTP/1.1\r\nHost: x\r\n")
                else:
                    s.send(header[alive[s] : alive[s] + 1])
                    alive[s] += 1
            except OSError:
                del alive[s]
                closed[0] += 1
                s.close()
        first = False
        stop.wait(1.0)
    for s in alive:
        s.close()


def half_sent(port: int, payload: bytes, wait: float) -> float | None:
    """Seconds until the server closes a connection that sent ``payload`` only."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        start = time.perf_counter()
        s.sendall(payload)
        s.settimeout(wait)
        try:
            while s.recv(4096):
                pass
        except TimeoutError:
            return None
        except OSError:
            pass
        return time.perf_counter() - start


def run(kind: str, artifact: Path, args: argparse.Namespace, cwd: str) -> dict:
    port = free_port()
    env = {"SCORING_MAX_CONNECTIONS": str(args.max_connections)}
    process = start(kind, artifact, port, env, cwd)
    try:
        resource.prlimit(process.pid, resource.RLIMIT_NOFILE, (args.files, args.files))
        stop, closed = threading.Event(), [0]
        loris = threading.Thread(target=slowloris, args=(port, args.slowloris, stop, closed))
        loris.start()
        time.sleep(2.0)
        latencies = []
        began = time.monotonic()
        held = 0
        while time.monotonic() - began < args.duration:
            latencies.append(probe(port))
            held = max(held, open_sockets(process.pid))
            time.sleep(0.2)
        stop.set()
        loris.join()
        ok = sorted(x for x in latencies if x is not None)
        result = {
            "probes": len(latencies),
            "answered": len(ok),
            "p50_ms": statistics.median(ok) * 1e3 if ok else None,
            "max_ms": ok[-1] * 1e3 if ok else None,
            "server_sockets_max": held,
            "slowloris_closed_by_server": closed[0],
        }
        time.sleep(1.0)
        result["headers_half_sent_closed_after_s"] = half_sent(
            port, b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Le", args.wait
        )
        result["body_half_sent_closed_after_s"] = half_sent(
            port,
            b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"data": [[',
            args.wait,
        )
        return result
    finally:
        process.kill()
        process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--slowloris", type=int, default=1500)
    parser.add_argument("--max-connections", type=int, default=1000)
    parser.add_argument("--files", type=int, default=1200, help="the server's open-file limit")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds of probing")
    parser.add_argument("--wait", type=float, default=12.0, help="longest wait for a close")
    parser.add_argument("--servers", default="guarded,plain")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < args.slowloris + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, args.slowloris + 100), hard))
    print(f"load average {load_average()}")
    with tempfile.TemporaryDirectory() as tmp:
        artifact = linear_artifact(Path(tmp))
        results = {}
        for kind in args.servers.split(","):
            results[kind] = run(kind, artifact, args, tmp)
            print(kind, json.dumps(results[kind]))
    print(f"load average {load_average()}")


if __name__ == "__main__":
    main()
