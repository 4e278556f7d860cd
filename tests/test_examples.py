"""The examples run as users run them (a fresh process each)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_quickstart(tmp_path):
    run = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout
    assert "method: shap.kernel" in out
    assert "top-5 global: {'worst area'" in out
    for method in ("mimic.lightgbm", "mimic.linear", "mimic.sgd", "mimic.decision_tree"):
        assert method in out
    assert "same values as the explainer" in out
    assert (tmp_path / "kernel" / "manifest.json").is_file()
    assert (tmp_path / "linear-raw" / "preprocess.onnx").is_file()
