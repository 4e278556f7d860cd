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

from .runtime import MANIFEST

__all__ = ["build", "curl_example", "main"]


def build(out: Path) -> Path:
    """Train the seed model, distill a Kernel scoring explainer, save it to ``out``."""
    from sklearn import svm
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    from .runtime import KernelScoringExplainer, save

    data = load_breast_cancer()
    x_train, _, y_train, _ = train_test_split(data.data, data.target, test_size=0.2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        model = svm.SVC(gamma=0.001, C=100.0, probability=True).fit(x_train, y_train)
    explainer = KernelScoringExplainer.from_model(
        model, x_train, features=list(data.feature_names), classes=list(data.target_names)
    )
    return save(explainer, out, exist_ok=True)


def _test_rows() -> np.ndarray:
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    data = load_breast_cancer()
    _, x_test, _, _ = train_test_split(data.data, data.target, test_size=0.2, random_state=0)
    return np.asarray(x_test)


def curl_example(url: str, request_file: Path) -> str:
    return (
        f"curl -s -X POST '{url}/score?top_k=3' -H 'Content-Type: application/json' "
        f"-d @{request_file}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("artifacts/demo"))
    parser.add_argument(
        "--if-missing",
        action="store_true",
        help="keep an existing artifact instead of distilling again",
    )
    parser.add_argument("--rows", type=int, default=3, help="test rows to explain and print")
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument(
        "--url",
        default="http://127.0.0.1:8000",
        help="service address used in the printed curl example",
    )
    args = parser.parse_args(argv)

    from .runtime import load

    if args.if_missing and (args.out / MANIFEST).is_file():
        path = args.out
        print(f"artifact: {path} (existing; delete it to distill again)")
    else:
        start = time.perf_counter()
        path = build(args.out)
        print(f"artifact: {path} (distilled in {time.perf_counter() - start:.1f} s)")
    explainer = load(path)
    x_test = _test_rows()
    request_file = path.parent / f"{path.name}-request.json"
    request_file.write_text(json.dumps({"data": x_test[:2].tolist()}) + "\n")
    if args.rows > 0:
        start = time.perf_counter()
        result = explainer.score(x_test[: args.rows])
        elapsed = time.perf_counter() - start
        manifest = json.loads((path / MANIFEST).read_text())
        print(
            f"kind={manifest['kind']}, task={manifest['task']}, "
            f"output_space={manifest['output_space']}; explained {args.rows} rows in "
            f"{elapsed * 1000:.0f} ms"
        )
        names, values = result.top_features(args.top_k)
        probabilities = result.probabilities
        assert probabilities is not None  # the demo model is a classifier
        for i, label in enumerate(result.predictions.tolist()):
            k = list(result.classes or []).index(label)
            top = ", ".join(f"{n} {v:+.3f}" for n, v in zip(names[i], values[i], strict=True))
            print(
                f"row {i}: {label} (p={probabilities[i, k]:.3f}; "
                f"E={result.expected_values[k]:.3f}) top: {top}"
            )
    print(f"try: {curl_example(args.url, request_file)}")


if __name__ == "__main__":
    main()
