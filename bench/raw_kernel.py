"""Kernel SHAP with raw players vs engineered players, same budget, on mixed data.

The adult-census-like frame of ``tests/frames.py`` (3,000 rows: 4 numeric columns with
NaN, 7 string categoricals with None and rare values, an integer category; 12 raw columns,
about 120 engineered ones after the ColumnTransformer of ``adult_transformer``), an
``MLPClassifier(32)`` (and ``SVC(probability=True)`` with ``--svc``). Both explainers get the
same 10-row background of real rows (k-means in standardised engineered space, the member
nearest each centre) and the same budget of coalitions:

- raw players: ``raw_kernel`` (a raw column's engineered columns masked together);
- engineered players (the Kernel path before raw players): one player per engineered
  column, the values summed per raw column.

Error is measured against the exact Shapley values of the raw game (every one of the
2**12 - 2 coalitions enumerated) on 20 explained rows, class 1; speed is explained rows per
second, median of interleaved rounds, one onnxruntime thread.

    python bench/raw_kernel.py [--svc] [--rounds 3]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT.parent))
from _common import interleaved, load_average, one_thread  # noqa: E402

warnings.simplefilter("ignore")


def _engineered_engine(raw_engine, budget: int, seed: int):
    """Kernel over the engineered columns with the raw engine's background and model."""
    from scoring_explainers.distill._design import coalition_design
    from scoring_explainers.runtime import KernelScoringExplainer

    m = raw_engine.background_.shape[1]
    design = coalition_design(m, budget, np.random.default_rng(seed))
    return KernelScoringExplainer(
        model=raw_engine.model,
        background=raw_engine.background_,
        background_weights=raw_engine.background_weights_,
        masks=design.masks,
        coalition_weights=design.weights,
        exact=design.exact,
        features=raw_engine.engineered_features,
        classes=raw_engine.classes,
        output_space="probability",
        expected_values=raw_engine.expected_values,
        allow_missing=True,
    )


def run(model_name: str, rounds: int) -> list[tuple[str, ...]]:
    from sklearn.neural_network import MLPClassifier
    from sklearn.svm import SVC

    from scoring_explainers.distill._design import auto_nsamples
    from scoring_explainers.distill._raw_kernel import raw_kernel
    from scoring_explainers.transformations import feature_map
    from tests.frames import adult, adult_transformer

    frame, y = adult(3000, 0)
    ct = adult_transformer().fit(frame)
    fmap = feature_map(ct, list(frame.columns))
    engineered = ct.transform(frame)
    if model_name == "svc":
        model = SVC(probability=True, random_state=0).fit(engineered[:1500], y[:1500])
    else:
        model = MLPClassifier((32,), max_iter=300, random_state=0).fit(engineered, y)
    m_raw, m_eng = fmap.weights.shape
    rows = frame.sample(20, random_state=5)

    def raw_engine(budget):
        return raw_kernel(
            model,
            frame,
            fmap,
            classes=None,
            nclusters=10,
            nsamples=budget,
            random_state=0,
            require_onnx=True,
            max_synthetic_rows=8192,
        )

    exact = raw_engine(2**m_raw)
    assert exact.exact_
    start = time.perf_counter()
    reference = exact.score(rows).local_importance_values[1]
    exact_rate = len(rows) / (time.perf_counter() - start)
    codes = exact.schema.encode(rows)
    results = []
    for budget in (auto_nsamples(m_eng), 600):
        raw = raw_engine(budget)
        eng = _engineered_engine(raw, budget, 0)
        engineered_rows = raw.preprocessor.transform(codes)

        def raw_values(raw=raw):
            return raw.score(rows).local_importance_values[1]

        def eng_values(eng=eng, x=engineered_rows):
            return fmap.to_raw(eng.score(x).local_importance_values[1])

        times = interleaved({"raw": raw_values, "engineered": eng_values}, rounds)
        for name, fn, engine in (("raw", raw_values, raw), ("engineered", eng_values, eng)):
            values = fn()
            error = np.linalg.norm(values - reference) / np.linalg.norm(reference)
            results.append(
                (
                    model_name,
                    str(budget),
                    name,
                    str(len(engine.masks_)),
                    f"{len(rows) / times[name]:.1f}",
                    f"{error:.3f}",
                    f"{np.abs(values - reference).max():.3f}",
                )
            )
    results.append(
        (
            model_name,
            str(2**m_raw),
            "raw (exact)",
            str(len(exact.masks_)),
            f"{exact_rate:.1f}",
            "0",
            "0",
        )
    )
    print(f"# {model_name}: {m_raw} raw columns, {m_eng} engineered", file=sys.stderr)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--svc", action="store_true", help="also SVC(probability=True)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with one_thread():
        rows = run("mlp", args.rounds)
        if args.svc:
            rows += run("svc", args.rounds)
    header = ("model", "budget", "players", "coalitions", "rows/s", "rel. L2 error", "max abs")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        print("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)))
    print(f"load average: {load_average()}")


if __name__ == "__main__":
    main()
