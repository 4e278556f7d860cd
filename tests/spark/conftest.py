"""A real local Spark (one session per test module) and small artifacts of every kind."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


def java_available() -> bool:
    home = os.environ.get("JAVA_HOME")
    return shutil.which("java") is not None or bool(home and (Path(home) / "bin/java").exists())


requires_java = pytest.mark.skipif(
    not java_available(),
    reason="no Java runtime: local Spark needs a JVM (scripts/system-deps.sh installs one)",
)


@pytest.fixture(scope="module")
def spark():
    """``local[2]`` with the library's settings; stopped when the module is done."""
    if not java_available():
        pytest.skip(
            "no Java runtime: local Spark needs a JVM (scripts/system-deps.sh installs one)"
        )
    from scoring_explainers.spark import local_session

    session = local_session(
        "local[2]",
        app_name="scoring-explainers tests",
        conf={"spark.sql.shuffle.partitions": "2", "spark.ui.showConsoleProgress": "false"},
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def spark_artifacts(artifacts, tmp_path_factory, small_classification):
    """Kernel (binary SVC, string classes), tree (3-class forest, int classes, takes NaN)
    and linear (ridge regression) artifacts on disk."""
    from sklearn.ensemble import RandomForestClassifier

    from scoring_explainers.scoring import TreeScoringExplainer, save

    X, y = small_classification
    forest = RandomForestClassifier(n_estimators=8, max_depth=4, random_state=0).fit(X, y)
    root = tmp_path_factory.mktemp("spark-artifacts")
    save(TreeScoringExplainer.from_model(forest, X), root / "forest")
    return {"kernel": artifacts["svc"], "tree": root / "forest", "linear": artifacts["ridge"]}
