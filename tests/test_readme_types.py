"""The README's Python examples type-check against the package (mypy, the project's config).

Each ```python block is checked as a module of its own; names a block uses without
defining (``model``, ``df``, ...) are declared ``Any`` at its top, so every call into the
library is checked against its real signature.
"""

from __future__ import annotations

import ast
import builtins
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MYPY = shutil.which("mypy", path=str(Path(sys.executable).parent)) or shutil.which("mypy")


def readme_modules(readme: str) -> list[str]:
    """The README's python blocks, each a module with its free names declared ``Any``."""
    blocks = re.findall(r"^```python\n(.*?)^```", readme, flags=re.S | re.M)
    assert blocks, "the README has no python example"
    return [_with_free_names(block) for block in blocks]


def _with_free_names(code: str) -> str:
    bound: set[str] = set()
    used: set[str] = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Name):
            (used if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    free = sorted(used - bound - set(dir(builtins)))
    header = ["from typing import Any", *(f"{name}: Any" for name in free)]
    return "\n".join(header) + "\n\n" + code


def run_mypy(modules: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    paths = []
    for i, source in enumerate(modules, start=1):
        path = tmp_path / f"readme_example_{i}.py"
        path.write_text(source)
        paths.append(str(path))
    env = {**os.environ, "MYPYPATH": str(ROOT)}
    return subprocess.run(
        [
            MYPY or "mypy",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--no-incremental",
            *paths,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=600,
    )


@pytest.fixture(scope="module")
def readme() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.skipif(MYPY is None, reason="mypy is not installed")
def test_the_readme_examples_type_check(readme, tmp_path):
    modules = readme_modules(readme)
    assert len(modules) >= 4  # quickstart, full explainers, Spark, client
    done = run_mypy(modules, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Success: no issues found in {len(modules)} source files" in done.stdout


@pytest.mark.skipif(MYPY is None, reason="mypy is not installed")
def test_a_call_that_does_not_type_check_fails(readme, tmp_path):
    """The same check on README text with wrong calls: a missing argument, a wrong type."""
    broken = readme.replace(
        'save(explainer, "artifacts/svc")', 'save(explainer, "artifacts/svc", exists_ok=True)'
    ).replace("scorer.score(x_test[:5])", "scorer.score(x_test[:5], timings=3)")
    assert broken != readme
    done = run_mypy(readme_modules(broken), tmp_path)
    assert done.returncode == 1
    assert 'Unexpected keyword argument "exists_ok" for "save"' in done.stdout
    assert 'Argument "timings" to "score" of "ScoringExplainer" has incompatible type' in (
        done.stdout
    )
