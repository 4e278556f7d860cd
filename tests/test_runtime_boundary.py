"""The runtime side (scoring + artifact loader) must not import shap or scikit-learn."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from scoring_explainers.scoring import KernelScoringExplainer, LinearScoringExplainer, save


def test_load_and_explain_without_shap_or_sklearn(small_mlp, small_classification, tmp_path):
    from sklearn.linear_model import LogisticRegression

    X, y = small_classification
    kernel = KernelScoringExplainer.from_model(small_mlp, X[:100], nclusters=3, nsamples=50)
    linear = LinearScoringExplainer.from_model(LogisticRegression(max_iter=500).fit(X, y), X)
    from sklearn.ensemble import RandomForestClassifier

    from scoring_explainers.scoring import TreeScoringExplainer

    forest = RandomForestClassifier(10, max_depth=4, random_state=0).fit(X, y)
    tree = TreeScoringExplainer.from_model(forest, X)
    save(kernel, tmp_path / "kernel")
    save(linear, tmp_path / "linear")
    save(tree, tmp_path / "tree")
    np.save(tmp_path / "rows.npy", X[:4])
    script = f"""
import json, sys
import numpy as np
from scoring_explainers.scoring import load
rows = np.load({str(tmp_path / "rows.npy")!r})
out = {{}}
for name in ("kernel", "linear", "tree"):
    out[name] = load({str(tmp_path)!r} + "/" + name).explain(rows).tolist()
heavy = sorted(m for m in ("shap", "sklearn", "lightgbm", "xgboost", "skl2onnx", "pandas")
               if m in sys.modules)
print(json.dumps({{"values": out, "heavy": heavy}}))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    report = json.loads(done.stdout)
    assert report["heavy"] == []
    np.testing.assert_array_equal(np.array(report["values"]["kernel"]), kernel.explain(X[:4]))
    np.testing.assert_array_equal(np.array(report["values"]["linear"]), linear.explain(X[:4]))
    np.testing.assert_array_equal(np.array(report["values"]["tree"]), tree.explain(X[:4]))
