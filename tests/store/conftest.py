"""Explanations to store, and a real PostgreSQL server on a free local port."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from scoring_explainers.explanation import GlobalExplanation, LocalExplanation, global_from_local

PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def classification_explanation(
    n_rows: int = 40, n_features: int = 6, *, seed: int = 0, is_raw: bool = False
) -> GlobalExplanation:
    """A global explanation with its local values, data, predictions and probabilities."""
    rng = np.random.default_rng(seed)
    local = rng.normal(size=(2, n_rows, n_features)) * np.linspace(2, 0.1, n_features)
    proba = rng.uniform(size=n_rows)
    return global_from_local(
        local,
        model_task="classification",
        features=[f"f{i}" for i in range(n_features)],
        classes=["no", "yes"],
        expected_values=[0.4, 0.6],
        method="shap.kernel",
        is_raw=is_raw,
        eval_data=rng.normal(size=(n_rows, n_features)),
        eval_y_predicted=(proba > 0.5).astype(int),
        eval_y_predicted_proba=np.column_stack([1 - proba, proba]),
        metadata={"fidelity": {"r2": 0.97}},
    )


def regression_explanation(n_rows: int = 25, seed: int = 1) -> LocalExplanation:
    rng = np.random.default_rng(seed)
    return LocalExplanation(
        local_importance_values=rng.normal(size=(n_rows, 4)),
        features=["a", "b", "c", "d"],
        expected_values=3.5,
        method="shap.linear",
        model_task="regression",
        is_raw=True,
        eval_data=rng.normal(size=(n_rows, 4)),
    )


def _find_pg_bin() -> Path | None:
    for directory in PG_BIN_DIRS:
        if (directory / "initdb").exists() and (directory / "postgres").exists():
            return directory
    found = shutil.which("initdb")
    return Path(found).parent if found and shutil.which("postgres") else None


READY_LINE = "database system is ready to accept connections"


def _copy_log(
    server: subprocess.Popen[bytes], log: Path, ready: threading.Event, seen: bytearray
) -> None:
    """Copy the server's output to ``log`` to its end (it never blocks on a full pipe); set
    ``ready`` at the ready line, or when the server exits before it."""
    assert server.stdout is not None
    with log.open("ab") as out:
        for line in server.stdout:
            out.write(line)
            out.flush()
            seen.extend(line)
            if READY_LINE.encode() in line:
                ready.set()
    ready.set()


def _start_postgres(
    bin_dir: Path, data: Path, root: Path, as_user: dict[str, str], attempts: int = 3
) -> tuple[subprocess.Popen[bytes], str]:
    """``postgres`` on 127.0.0.1 at a free port, returned once it logs that it is ready to
    accept connections. PostgreSQL binds its own port (it takes no inherited socket): if
    another process took the port meanwhile, it exits and the next port is tried."""
    log = root / "postgres.log"
    for _ in range(attempts):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = subprocess.Popen(
            [str(bin_dir / "postgres"), "-D", str(data), "-p", str(port), "-h", "127.0.0.1",
             "-k", str(root), "-F"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=root, **as_user,
        )  # fmt: skip
        ready, seen = threading.Event(), bytearray()
        threading.Thread(target=_copy_log, args=(server, log, ready, seen), daemon=True).start()
        ready.wait(60)
        if READY_LINE.encode() in seen and server.poll() is None:
            return server, f"postgresql://postgres@127.0.0.1:{port}/postgres"
        server.kill()
        server.wait()
        if b"could not bind" not in seen:
            break
    raise RuntimeError(log.read_text()[-2000:])


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throw-away PostgreSQL cluster (initdb into a temporary directory, ``postgres`` on
    127.0.0.1 at a free port, trust auth). Run as ``nobody`` when the tests run as root,
    since PostgreSQL refuses to run as root."""
    pytest.importorskip("psycopg")
    bin_dir = _find_pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries (initdb, postgres) are not installed")
    root = Path(tempfile.mkdtemp(prefix="scoring-pg-"))
    as_user: dict[str, str] = {}
    if os.geteuid() == 0:
        shutil.chown(root, user="nobody")
        as_user = {"user": "nobody", "group": "nogroup"}
    data = root / "data"
    subprocess.run(
        [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
         "--no-sync", "-E", "UTF8", "--locale=C"],
        check=True, capture_output=True, cwd=root, **as_user,
    )  # fmt: skip
    server, url = _start_postgres(bin_dir, data, root, as_user)
    try:
        yield url
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def empty_postgres(postgres_url: str) -> str:
    """The PostgreSQL URL with no explanations table (each test starts empty)."""
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS explanations")
    return postgres_url
