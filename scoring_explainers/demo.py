"""The bundled demo: distill a scoring explainer from the seed model and explain rows.

    python -m scoring_explainers.demo --out artifacts/demo

The seed model is scikit-learn's breast-cancer data (shipped with scikit-learn, no
download), split 455/114 with ``random_state=0``, and
``SVC(gamma=0.001, C=100., probability=True)``.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np


def build(out: Path) -> Path:
    """Train the seed model, distill a Kernel scoring explainer, save it to ``out``."""
    from sklearn import svm
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    from .scoring import KernelScoringExplainer, save

    data = load_breast_cancer()
    x_train, _, y_train, _ = train_test_split(data.data, data.target, test_size=0.2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        model = svm.SVC(gamma=0.001, C=100.0, probability=True).fit(x_train, y_train)
    explainer = KernelScoringExplainer.from_model(
        model, x_train, features=list(data.feature_names), classes=list(data.target_names)
    )
    return save(explainer, out, exist_ok=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("artifacts/demo"))
    parser.add_argument("--rows", type=int, default=3, help="test rows to explain")
    parser.add_argument("--top-k", type=int, default=5)
    args = parser.parse_args(argv)

    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    from .scoring import load

    path = build(args.out)
    explainer = load(path)
    data = load_breast_cancer()
    _, x_test, _, _ = train_test_split(data.data, data.target, test_size=0.2, random_state=0)
    start = time.perf_counter()
    result = explainer.score(x_test[: args.rows])
    elapsed = time.perf_counter() - start
    manifest = json.loads((path / "manifest.json").read_text())
    print(
        f"artifact: {path} (kind={manifest['kind']}, task={manifest['task']}, "
        f"output_space={manifest['output_space']}, "
        f"{manifest['metadata']['nsamples']} coalitions x "
        f"{manifest['arrays']['background']['shape'][0]} background rows)"
    )
    print(f"explained {args.rows} rows in {elapsed * 1000:.0f} ms")
    values = result.local_importance_values
    probabilities = result.probabilities
    assert probabilities is not None  # the demo model is a classifier
    for i, label in enumerate(result.predictions.tolist()):
        k = list(result.classes or []).index(label)
        order = np.abs(values[k, i]).argsort()[::-1][: args.top_k]
        top = ", ".join(f"{result.features[j]} {values[k, i, j]:+.3f}" for j in order)
        print(
            f"row {i}: {label} (p={probabilities[i, k]:.3f}; "
            f"E={result.expected_values[k]:.3f}) top: {top}"
        )


if __name__ == "__main__":
    main()
