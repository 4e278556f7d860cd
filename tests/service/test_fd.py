"""``python -m service --fd N``: serving on a socket bound by whoever starts the process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import httpx

from tests.service.conftest import listening_socket, start_server


def test_keep_alive_requests_are_not_held_by_delayed_acks(artifacts, tmp_path, small_regression):
    # Served as a TCP socket (TCP_NODELAY), not as a pipe: a response written in two parts
    # would otherwise wait for the client's delayed ACK, 40 ms or more on every request.
    X, _ = small_regression
    server = start_server(artifacts["ridge"], tmp_path)
    try:
        body = json.dumps({"data": X[:2].tolist()})
        with httpx.Client(base_url=server.url, headers={"content-type": "application/json"}) as c:
            for _ in range(5):
                assert c.post("/score", content=body).status_code == 200
            times = []
            for _ in range(30):
                start = time.perf_counter()
                assert c.post("/score", content=body).status_code == 200
                times.append(time.perf_counter() - start)
        assert min(times) < 0.030, f"fastest of 30 keep-alive requests: {min(times):.3f} s"
    finally:
        server.stop()


def test_fd_with_several_workers_is_refused(artifacts):
    with listening_socket() as sock:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCORING_")}
        done = subprocess.run(
            [sys.executable, "-m", "service", "--artifact", str(artifacts["ridge"]),
             "--fd", str(sock.fileno()), "--workers", "2"],
            pass_fds=(sock.fileno(),), capture_output=True, text=True, env=env, timeout=60,
        )  # fmt: skip
    assert done.returncode == 2
    assert "--fd serves one process (--workers 1)" in done.stderr
