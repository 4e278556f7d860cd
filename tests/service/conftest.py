"""Real servers on 127.0.0.1 (``python -m service``), on real artifacts."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    stderr: Path

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                return self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                return self.process.wait()
        return int(self.process.returncode)


def start_server(
    artifact: Path,
    tmp: Path,
    *,
    extra_args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    python_flags: tuple[str, ...] = (),
) -> Server:
    port = free_port()
    stderr = tmp / f"server-{port}.log"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SCORING_")}
    full_env.update(env or {})
    process = subprocess.Popen(
        [
            sys.executable,
            *python_flags,
            "-m",
            "service",
            "--artifact",
            str(artifact),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *extra_args,
        ],
        stdout=subprocess.DEVNULL,
        stderr=stderr.open("wb"),
        env=full_env,
        cwd=tmp,  # the store's default file (data/explanations.sqlite3) lands in tmp
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {stderr.read_text()[-2000:]}")
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return Server(url, process, stderr)
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"server not ready: {stderr.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def server(artifacts, tmp_path_factory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("server")
    srv = start_server(
        artifacts["svc"],
        tmp,
        python_flags=("-X", "importtime"),
        env={"SCORING_MAX_ROWS": "200", "SCORING_MAX_BODY_BYTES": "200000"},
    )
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def client(server) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server.url, timeout=30, headers={"content-type": "application/json"}
    ) as c:
        yield c
