"""Full explainers on the seed workflow vs shap, side by side in one process, one thread.

- TabularExplainer (Kernel path, breast-cancer SVC) vs ``shap.KernelExplainer`` with the
  same 10-row weighted k-means background and ``nsamples="auto"``: explain_global rows/s.
- TabularExplainer (tree path, RandomForest) vs ``shap.TreeExplainer``: rows/s.
- MimicExplainer(LGBMExplainableModel): construction time (teacher labels, surrogate fit,
  fidelity) and explain rows/s vs ``shap.TreeExplainer`` on the same surrogate.

    python bench/explainers.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import interleaved, load_average, one_thread

warnings.simplefilter("ignore")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rows and repeats")
    args = parser.parse_args()
    import shap
    from kernel import seed_problem
    from sklearn.ensemble import RandomForestClassifier

    from scoring_explainers.explainers import LGBMExplainableModel, MimicExplainer, TabularExplainer

    one_thread()
    print(f"load average at start: {load_average()}")
    model, x_train, x_test = seed_problem()
    n_shap = 4 if args.quick else 12
    repeats = 2 if args.quick else 3

    ours = TabularExplainer(model, x_train)
    summary = shap.kmeans(x_train, 10)
    theirs = shap.KernelExplainer(model.predict_proba, summary)
    kernel = interleaved(
        {
            "ours": lambda: ours.explain_global(x_test),
            "shap": lambda: theirs.shap_values(x_test[:n_shap], silent=True),
        },
        repeats,
    )
    ours_rate, shap_rate = len(x_test) / kernel["ours"], n_shap / kernel["shap"]
    print(
        f"Tabular kernel (SVC, 30 features): ours {ours_rate:,.1f} rows/s, "
        f"shap {shap_rate:,.1f} rows/s -> {ours_rate / shap_rate:.1f}x"
    )

    y = model.predict(x_train)
    forest = RandomForestClassifier(100, max_depth=8, random_state=0).fit(x_train, y)
    tree_ours = TabularExplainer(forest, x_train)
    tree_shap = shap.TreeExplainer(forest)
    tree = interleaved(
        {
            "ours": lambda: tree_ours.explain_global(x_test),
            "shap": lambda: tree_shap.shap_values(x_test),
        },
        repeats * 3,
    )
    print(
        f"Tabular tree (RF 100 x depth 8): ours {len(x_test) / tree['ours']:,.0f} rows/s, "
        f"shap {len(x_test) / tree['shap']:,.0f} rows/s -> "
        f"{tree['shap'] / tree['ours']:.1f}x"
    )

    start = time.perf_counter()
    mimic = MimicExplainer(model, x_train, LGBMExplainableModel)
    built = time.perf_counter() - start
    surrogate_shap = shap.TreeExplainer(mimic.surrogate_.model_)
    big = np.tile(x_test, (10, 1))
    mimic_times = interleaved(
        {
            "ours": lambda: mimic.explain_local(big),
            "shap": lambda: surrogate_shap.shap_values(big),
        },
        repeats,
    )
    print(
        f"Mimic LGBM: built in {built:.2f} s (fidelity {mimic.fidelity}); explain "
        f"ours {len(big) / mimic_times['ours']:,.0f} rows/s (incl. the teacher's "
        f"predictions), shap on the surrogate {len(big) / mimic_times['shap']:,.0f} rows/s"
    )
    print(f"load average at end: {load_average()}")


if __name__ == "__main__":
    main()
