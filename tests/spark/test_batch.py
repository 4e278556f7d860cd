"""The batch command end to end: a Parquet file in, explained Parquet out, importances shown."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from scoring_explainers.explanation import global_from_local
from scoring_explainers.scoring import load

from .conftest import requires_java


def run(*args, timeout=180):
    return subprocess.run(
        [sys.executable, "-m", "scoring_explainers.batch", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.slow
@requires_java
def test_explains_a_parquet_file(spark_artifacts, small_classification, tmp_path):
    path = spark_artifacts["tree"]
    explainer = load(path)
    X = small_classification[0][:50]
    rows = pd.DataFrame(X, columns=explainer.features).assign(id=np.arange(len(X)))
    rows.loc[7, explainer.features[0]] = np.inf  # one row cannot be scored
    rows.to_parquet(tmp_path / "rows.parquet")
    done = run(
        "--artifact", path, "--input", tmp_path / "rows.parquet", "--output", tmp_path / "out",
        "--master", "local[2]", "--top-k", "2", "--show", "3",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = pd.read_parquet(tmp_path / "out").sort_values("id").reset_index(drop=True)
    assert len(out) == len(X)
    assert out.loc[7, "error"] == f"column {explainer.features[0]!r}: infinite value inf"
    good = [i for i in range(len(X)) if i != 7]
    expected = explainer.score(X[good])
    kept = out.loc[good].reset_index(drop=True)
    assert kept["error"].isna().all()
    assert kept["prediction"].tolist() == expected.predictions.tolist()
    for i in range(len(explainer.classes or [])):
        got = np.array([np.asarray(v) for v in kept[f"local_importance_{i}"]])
        np.testing.assert_allclose(got, expected.local_importance_values[i], rtol=1e-10)
    names, _ = expected.top_features(2)
    assert [list(v) for v in kept["top_k_features"]] == names

    want = global_from_local(
        expected.local_importance_values,
        model_task="classification",
        features=explainer.features,
        classes=explainer.classes,
        method="shap.tree",
    )
    lines = done.stdout.splitlines()
    assert f"explained {len(good)} of {len(X)} rows (1 could not be scored)" in lines
    shown = lines[lines.index(f"global importance (mean |local importance|, {len(good)} rows):") :]
    printed = [line.split() for line in shown[1:4]]
    assert [p[0] for p in printed] == want.get_ranked_global_names(3)
    np.testing.assert_allclose(
        [float(p[1]) for p in printed], want.get_ranked_global_values(3), rtol=1e-5
    )


def test_usage_errors_exit_2(spark_artifacts, tmp_path):
    (tmp_path / "rows.txt").write_text("1,2\n")
    cases = [
        ("--artifact", spark_artifacts["linear"], "--input", tmp_path / "missing.parquet"),
        ("--artifact", spark_artifacts["linear"], "--input", tmp_path / "rows.txt"),
        ("--artifact", spark_artifacts["linear"], "--input", tmp_path, "--format", "json"),
    ]
    for args in cases:
        done = run(*args, "--output", tmp_path / "out")
        assert done.returncode == 2, done.stderr
        assert "error:" in done.stderr
    assert "does not exist" in run(*cases[0], "--output", tmp_path / "o").stderr
    assert "--input-format" in run(*cases[1], "--output", tmp_path / "o").stderr


@pytest.mark.parametrize("broken", ["missing", "tampered"])
def test_bad_artifact_exits_1_with_a_message(spark_artifacts, tmp_path, broken):
    import shutil

    artifact = tmp_path / "artifact"
    if broken == "tampered":
        shutil.copytree(spark_artifacts["linear"], artifact)
        with open(artifact / "arrays.npz", "ab") as handle:
            handle.write(b"\0")
    pd.DataFrame({"a": [1.0]}).to_parquet(tmp_path / "rows.parquet")
    done = run(
        "--artifact", artifact, "--input", tmp_path / "rows.parquet", "--output", tmp_path / "o"
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: ")
    assert ("no such artifact directory" if broken == "missing" else "arrays.npz") in done.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
@requires_java
def test_rows_without_the_model_columns_exit_1(spark_artifacts, tmp_path):
    pd.DataFrame({"a": [1.0]}).to_parquet(tmp_path / "rows.parquet")
    done = run(
        "--artifact", spark_artifacts["linear"], "--input", tmp_path / "rows.parquet",
        "--output", tmp_path / "o", "--master", "local[1]",
    )  # fmt: skip
    assert done.returncode == 1
    assert "error: missing columns" in done.stderr
    assert not (tmp_path / "o").exists()
