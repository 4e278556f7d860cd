"""TreeScoringExplainer vs shap's TreeExplainer and native contributions, one thread.

``make_classification(n_samples=20000, n_features=20, random_state=0)``;
RandomForest(100, max_depth=8), LightGBM(200 trees, 31 leaves), XGBoost(200, depth 6),
HistGradientBoosting(200 iterations, 31 leaves; no native contributions).
Rows/s for 1, 100 and 10,000 rows (interleaved, medians), single-row p50/p99 over 200
calls. Interventional (100 and 1,000 background rows; 100 with ``--quick``): ms per row
over 20 rows and for one row, ours and shap's interleaved, with our distill and load times.

    python bench/tree.py [--quick] [--interventional]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import interleaved, load_average, one_thread

warnings.simplefilter("ignore")


def models(X, y):
    import lightgbm
    import xgboost
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

    return {
        "RF": RandomForestClassifier(100, max_depth=8, random_state=0, n_jobs=1).fit(X, y),
        "LightGBM": lightgbm.LGBMClassifier(
            n_estimators=200, num_leaves=31, n_jobs=1, verbose=-1
        ).fit(X, y),
        "XGBoost": xgboost.XGBClassifier(
            n_estimators=200, max_depth=6, n_jobs=1, tree_method="hist"
        ).fit(X, y),
        "HistGradientBoosting": HistGradientBoostingClassifier(
            max_iter=200, max_leaf_nodes=31, early_stopping=False, random_state=0
        ).fit(X, y),
    }


def native(name, model):
    import xgboost

    if name == "LightGBM":
        return lambda rows: model.predict(rows, pred_contrib=True, num_threads=1)
    if name == "XGBoost":
        booster = model.get_booster()
        booster.set_param({"nthread": 1})
        return lambda rows: booster.predict(xgboost.DMatrix(rows, nthread=1), pred_contribs=True)
    return None


def latency(fn, row, n=200):
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn(row)
        times.append(time.perf_counter() - start)
    times.sort()
    return statistics.median(times) * 1e3, times[int(0.99 * (n - 1))] * 1e3


def interventional(model, X, n_background: int) -> None:
    """Ours vs shap's interventional TreeExplainer, per-row ms (20 rows and one row),
    interleaved in this process, and our distill and load times for that background."""
    import tempfile

    import shap

    from scoring_explainers.scoring import TreeScoringExplainer, load, save

    background = X[1000 : 1000 + n_background]
    start = time.perf_counter()
    ours = TreeScoringExplainer.from_model(model, background, feature_perturbation="interventional")
    distill = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as folder:
        save(ours, Path(folder) / "tree")
        start = time.perf_counter()
        load(Path(folder) / "tree")
        loaded = time.perf_counter() - start
    # shap's Independent masker samples a background of more than 100 rows down to 100
    # unless told otherwise: give it every row, as ours uses every row
    masker = shap.maskers.Independent(background, max_samples=len(background))
    reference = shap.TreeExplainer(model, masker, feature_perturbation="interventional")
    rows, row = X[:20], X[:1]
    tasks = {
        "ours": lambda: ours.explain(rows),
        "shap": lambda: reference.shap_values(rows),
        "ours 1": lambda: ours.explain(row),
        "shap 1": lambda: reference.shap_values(row),
    }
    times = {name: t * 1e3 for name, t in interleaved(tasks, 5).items()}
    ours_values, shap_values = ours.explain(rows), np.asarray(reference.shap_values(rows))
    if shap_values.ndim == 3:  # (rows, features, classes)
        shap_values = shap_values.transpose(2, 0, 1)
    if ours_values.ndim == 3 and shap_values.ndim == 2:  # binary margin: shap gives class 1
        ours_values = ours_values[1]
    gap = float(np.abs(ours_values - shap_values).max())
    print(
        f"interventional, {n_background} background rows (distill {distill:.2f} s, "
        f"load {loaded:.2f} s, {'tables' if ours.uses_tables_ else 'pairs'}): "
        f"ours {times['ours'] / 20:.3f} ms/row, shap {times['shap'] / 20:.3f} ms/row, "
        f"shap/ours {times['shap'] / times['ours']:.1f}x; one row: ours {times['ours 1']:.3f} "
        f"ms, shap {times['shap 1']:.3f} ms; max |ours - shap| {gap:.1e}"
    )


def path_dependent(name, model, X, sizes) -> None:
    """Ours vs shap's TreeExplainer (and native contributions): rows/s, single-row latency."""
    import shap

    from scoring_explainers.scoring import TreeScoringExplainer

    start = time.perf_counter()
    ours = TreeScoringExplainer.from_model(model, X[:1000])
    distill = time.perf_counter() - start
    reference = shap.TreeExplainer(model)
    contenders = {"ours": ours.explain, "shap": reference.shap_values}
    if native(name, model) is not None:
        contenders["native"] = native(name, model)
    tables = "tables" if ours.uses_tables_ else "quadrature"
    print(f"{name} (distill {distill:.2f} s, {tables}, {len(ours.arrays_['leaf_len'])} leaves)")
    print(
        f"{'rows':>6} "
        + " ".join(f"{c + ' rows/s':>14}" for c in contenders)
        + f" {'ours/shap':>10}"
        + (f" {'ours/native':>12}" if "native" in contenders else "")
    )
    for n in sizes:
        rows = X[:n]
        repeats = 3 if n < 5000 else 1
        times = interleaved(
            {c: (lambda f=f, rows=rows: f(rows)) for c, f in contenders.items()}, repeats
        )
        rates = {c: n / t for c, t in times.items()}
        line = f"{n:>6} " + " ".join(f"{rates[c]:14.0f}" for c in contenders)
        line += f" {rates['ours'] / rates['shap']:9.2f}x"
        if "native" in rates:
            line += f" {rates['ours'] / rates['native']:11.2f}x"
        print(line)
    row = X[:1]
    for c, f in contenders.items():
        p50, p99 = latency(f, row)
        print(f"single row {c:7}: p50 {p50:.3f} ms, p99 {p99:.3f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--interventional", action="store_true", help="only the interventional comparison"
    )
    args = parser.parse_args()
    from sklearn.datasets import make_classification

    print(f"load average {load_average()}")
    X, y = make_classification(n_samples=20000, n_features=20, random_state=0)
    sizes = (1, 100, 1000) if args.quick else (1, 100, 10_000)
    with one_thread():
        for name, model in models(X, y).items():
            print(f"\n## {name}")
            if not args.interventional:
                path_dependent(name, model, X, sizes)
            if name == "HistGradientBoosting":  # shap's interventional values are wrong here
                continue
            for n_background in (100,) if args.quick else (100, 1000):
                interventional(model, X, n_background)
    print(f"\nload average {load_average()}")


if __name__ == "__main__":
    main()
