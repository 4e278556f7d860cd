"""Explanations to store, and a real PostgreSQL server on a free local port."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from scoring_explainers.explanation import GlobalExplanation, LocalExplanation, global_from_local
from tests.service.conftest import free_port

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


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throw-away PostgreSQL cluster (initdb into a temporary directory, ``postgres`` on
    127.0.0.1 at a free port, trust auth). Run as ``nobody`` when the tests run as root,
    since PostgreSQL refuses to run as root."""
    psycopg = pytest.importorskip("psycopg")
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
    port = free_port()
    log = (root / "postgres.log").open("wb")
    server = subprocess.Popen(
        [str(bin_dir / "postgres"), "-D", str(data), "-p", str(port), "-h", "127.0.0.1",
         "-k", str(root), "-F"],
        stdout=log, stderr=subprocess.STDOUT, cwd=root, **as_user,
    )  # fmt: skip
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    deadline = time.monotonic() + 60
    while True:
        try:
            psycopg.connect(url, connect_timeout=2).close()
            break
        except psycopg.OperationalError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise RuntimeError((root / "postgres.log").read_text()[-2000:]) from None
            time.sleep(0.1)
    try:
        yield url
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def empty_postgres(postgres_url: str) -> str:
    """The PostgreSQL URL with no explanations table (each test starts empty)."""
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS explanations")
    return postgres_url
