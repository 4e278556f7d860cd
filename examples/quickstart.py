"""Quickstart: explain a model, look at global and local importances, distill a scoring
explainer, save it, load it and explain new rows with it (what the service runs).

Run: python examples/quickstart.py [output directory]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import SVC

from scoring_explainers.explainers import (
    DecisionTreeExplainableModel,
    LGBMExplainableModel,
    LinearExplainableModel,
    MimicExplainer,
    PFIExplainer,
    SGDExplainableModel,
    TabularExplainer,
)
from scoring_explainers.scoring import KernelScoringExplainer, LinearScoringExplainer, load, save


def main(out: Path) -> None:
    # SVC(probability=True) fits Platt scaling with the global generator
    np.random.seed(0)  # noqa: NPY002
    data = load_breast_cancer()
    x_train, x_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=0.2, random_state=0
    )
    features = [str(f) for f in data.feature_names]
    classes = [str(c) for c in data.target_names]

    # 1. Train and explain (TabularExplainer picks Kernel SHAP for an SVC and says why).
    model = SVC(gamma=0.001, C=100.0, probability=True).fit(x_train, y_train)
    explainer = TabularExplainer(model, x_train, features=features, classes=classes)
    print(f"method: {explainer.method} ({explainer.method_reason})")
    global_explanation = explainer.explain_global(x_test)
    print("top-5 global:", global_explanation.get_feature_importance_dict(top_k=5))
    local = explainer.explain_local(x_test[0:5])
    print("row 0, class 1, top-3:", local.get_ranked_local_names(top_k=3)[1][0])

    # 2. A surrogate per explainable model, with its fidelity on held-out rows.
    for surrogate in (
        LGBMExplainableModel,
        LinearExplainableModel,
        SGDExplainableModel,
        DecisionTreeExplainableModel,
    ):
        mimic = MimicExplainer(model, x_train, surrogate, features=features, classes=classes)
        top = mimic.explain_global(x_test).get_ranked_global_names(3)
        print(f"{mimic.method}: fidelity {mimic.fidelity}, top-3 {top}")

    # 3. Permutation importance (a global view from the labels).
    pfi = PFIExplainer(model, metric="f1_score", features=features, classes=classes)
    print("PFI top-3:", pfi.explain_global(x_test, y_test).get_ranked_global_names(3))

    # 4. Raw features through a ColumnTransformer, explained exactly (linear model).
    frame = pd.DataFrame(x_train[:, :4], columns=features[:4])
    frame["size band"] = np.digitize(frame["mean area"], [500.0, 800.0]).astype(float)
    raw_test = pd.DataFrame(x_test[:, :4], columns=features[:4])
    raw_test["size band"] = np.digitize(raw_test["mean area"], [500.0, 800.0]).astype(float)
    transformations = ColumnTransformer(
        [
            ("num", StandardScaler(), features[:4]),
            ("cat", OneHotEncoder(drop="first", handle_unknown="ignore"), ["size band"]),
        ]
    ).fit(frame)
    linear = Pipeline([("classifier", LogisticRegression(max_iter=1000))])
    linear.fit(transformations.transform(frame), y_train)
    raw_explainer = TabularExplainer(
        linear, frame, classes=classes, transformations=transformations
    )
    raw_local = raw_explainer.explain_local(raw_test[:5])
    print(f"raw: {raw_explainer.method}, features {raw_local.features}")

    # 5. Distill scoring explainers, save them (no pickle), load and explain.
    scoring = KernelScoringExplainer.from_explainer(explainer)
    save(scoring, out / "kernel", exist_ok=True)
    loaded = load(out / "kernel")
    values = loaded.explain(x_test[0:5])
    assert np.allclose(values, local.local_importance_array)
    print("kernel artifact:", values.shape, "same values as the explainer")
    raw_scoring = LinearScoringExplainer.from_explainer(raw_explainer)
    save(raw_scoring, out / "linear-raw", exist_ok=True)
    result = load(out / "linear-raw").score(raw_test[:5])
    assert np.allclose(result.local_importance_values, raw_local.local_importance_array)
    print("raw linear artifact:", result.features, result.predictions.tolist())


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp())
    main(target)
