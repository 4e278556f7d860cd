"""Standard errors and tolerance of KernelScoringExplainer.

1. Calibration: on problems small enough to enumerate (10 and 12 features, an RBF SVC and
   an MLP, 8-row k-means background), the share of values with |error| <= 2 se against
   the exact Shapley values, per budget, for the delete-a-group jackknife the runtime uses
   and, for comparison, a cluster-robust sandwich estimate (one cluster per sampled pair)
   computed here from the same coalition values.
2. Cost: ``score(X, uncertainty=True)`` vs ``score(X)`` on the seed SVC (breast cancer,
   30 features, ``nsamples="auto"`` = 2,108) and a 10-feature MLP at budget 600,
   interleaved medians, one thread.
3. Tolerance: coalitions used per row and time with ``tolerance=`` vs the whole design,
   seed SVC.

    python bench/kernel_uncertainty.py [--quick]
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


def _problem(n_features: int):
    from sklearn.datasets import make_classification
    from sklearn.neural_network import MLPClassifier
    from sklearn.svm import SVC

    X, y = make_classification(
        n_samples=500, n_features=n_features, n_informative=6, n_classes=2, random_state=3
    )
    models = {
        "svc": SVC(gamma=0.1, probability=True, random_state=0).fit(X[:400], y[:400]),
        "mlp": MLPClassifier((32,), max_iter=500, random_state=0).fit(X[:400], y[:400]),
    }
    return X, models


def _with_design(base, budget: int, seed: int, **extra):
    """``base``'s model and background with a sampled design of ``budget`` coalitions."""
    from scoring_explainers.distill._design import coalition_design
    from scoring_explainers.scoring import KernelScoringExplainer

    design = coalition_design(base.masks_.shape[1], budget, np.random.default_rng(seed))
    return KernelScoringExplainer(
        model=base.model,
        background=base.background_,
        background_weights=base.background_weights_,
        masks=design.masks,
        coalition_weights=design.weights,
        exact=design.exact,
        coalition_units=design.units,
        features=base.features,
        classes=base.classes,
        output_space=base.output_space,
        expected_values=base.expected_values,
        allow_missing=False,
        **extra,
    )


def sandwich_errors(explainer, rows: np.ndarray) -> np.ndarray:
    """Cluster-robust sandwich standard errors (one cluster per sampled pair): the
    linearised estimator ``phi = P y + q delta`` is a sum of per-pair contributions
    ``P[:, pair] @ e[pair]`` of the regression residuals ``e``; their spread over the
    pairs gives the variance. Shape (n_rows, M, K)."""
    X32 = rows.astype(np.float32)
    expected = explainer.expected_values
    y = explainer._coalition_values(X32, slice(0, explainer.n_coalitions)) - expected
    delta = explainer.model.outputs(rows) - expected
    P, q = explainer.projection_, explainer.constraint_
    phi = np.matmul(P, y) + q[None, :, None] * delta[:, None, :]
    residuals = y - np.matmul(explainer.masks_.astype(np.float64), phi)  # (r, S, K)
    n_fixed = explainer.n_coalitions - 2 * explainer.n_units
    terms = P[None, :, n_fixed:, None] * residuals[:, None, n_fixed:, :]  # (r, M, 2U, K)
    per_unit = terms.reshape(*terms.shape[:2], -1, 2, terms.shape[-1]).sum(axis=3)
    u = per_unit.shape[2]
    spread = per_unit - per_unit.mean(axis=2, keepdims=True)
    return np.sqrt(u / (u - 1) * (spread * spread).sum(axis=2))


def calibration(quick: bool) -> None:
    from scoring_explainers.scoring import KernelScoringExplainer

    seeds = range(2) if quick else range(5)
    print("\n## calibration: share of |error| <= 2 se against exact values")
    print(
        f"{'model':>5} {'M':>3} {'budget':>7} {'units':>6} {'MAE':>9} {'mean se':>9} "
        f"{'jackknife':>10} {'sandwich':>9}   {'bayes MAE':>9} {'bayes se':>9} {'bayes jk':>9}"
    )
    for n_features, budgets in ((10, (64, 128, 256, 512)), (12, (100, 200, 400, 800))):
        X, models = _problem(n_features)
        rows = X[400:430] if quick else X[400:500]
        for name, model in models.items():
            exact = KernelScoringExplainer.from_model(
                model, X[:400], nclusters=8, nsamples=2**n_features
            )
            truth = exact.explain(rows)
            for budget in budgets:
                stats = []
                for seed in seeds:
                    explainer = _with_design(exact, budget, seed)
                    result = explainer.score(rows, uncertainty=True)
                    error = np.abs(result.local_importance_values - truth)
                    sandwich = sandwich_errors(explainer, rows).transpose(2, 0, 1)
                    # The default design (Bayesian map, its own stored jackknife maps) on
                    # the same background and model.
                    bayes = KernelScoringExplainer.from_model(
                        model,
                        exact.background_,
                        nclusters=None,
                        background_weights=exact.background_weights_,
                        nsamples=budget,
                        random_state=seed,
                        design="bayes",
                    ).score(rows, uncertainty=True)
                    bayes_error = np.abs(bayes.local_importance_values - truth)
                    stats.append(
                        (
                            error.mean(),
                            result.standard_errors.mean(),
                            (error <= 2 * result.standard_errors).mean(),
                            (error <= 2 * sandwich).mean(),
                            explainer.n_units,
                            bayes_error.mean(),
                            bayes.standard_errors.mean(),
                            (bayes_error <= 2 * bayes.standard_errors).mean(),
                        )
                    )
                mae, se, jack, sand, units, b_mae, b_se, b_jack = np.mean(stats, axis=0)
                print(
                    f"{name:>5} {n_features:>3} {budget:>7} {units:>6.0f} {mae:>9.2e} "
                    f"{se:>9.2e} {jack:>10.3f} {sand:>9.3f}   {b_mae:>9.2e} {b_se:>9.2e} "
                    f"{b_jack:>9.3f}",
                    flush=True,
                )


def _seed_svc():
    from sklearn import svm
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    X, y = load_breast_cancer(return_X_y=True)
    x_train, x_test, y_train, _ = train_test_split(X, y, test_size=0.2, random_state=0)
    np.random.seed(0)  # noqa: NPY002 - SVC's Platt-scaling CV draws from the global RNG
    model = svm.SVC(gamma=0.001, C=100.0, probability=True).fit(x_train, y_train)
    return model, x_train, x_test


def cost(quick: bool) -> None:
    from scoring_explainers.scoring import KernelScoringExplainer

    repeats = 3 if quick else 7
    model, x_train, x_test = _seed_svc()
    svc = KernelScoringExplainer.from_model(model, x_train)
    X, models = _problem(10)
    mlp = KernelScoringExplainer.from_model(models["mlp"], X[:400], nsamples=600)
    print("\n## cost of uncertainty=True (median of interleaved runs, one thread)")
    print(f"{'problem':>22} {'rows':>5} {'plain s':>9} {'with se s':>10} {'ratio':>6}")
    for label, explainer, rows in (
        ("seed SVC, 2108 coal.", svc, x_test[:10] if quick else x_test[:40]),
        ("MLP 10 feat., 600", mlp, X[400:500]),
    ):
        explainer.score(rows[:1], uncertainty=True)  # prefix maps made once
        times = interleaved(
            {
                "plain": lambda e=explainer, r=rows: e.score(r),
                "se": lambda e=explainer, r=rows: e.score(r, uncertainty=True),
            },
            repeats,
        )
        print(
            f"{label:>22} {len(rows):>5} {times['plain']:>9.3f} {times['se']:>10.3f} "
            f"{times['se'] / times['plain']:>6.2f}"
        )


def tolerance(quick: bool) -> None:
    from scoring_explainers.scoring import KernelScoringExplainer

    model, x_train, x_test = _seed_svc()
    explainer = KernelScoringExplainer.from_model(model, x_train)
    rows = x_test[:10] if quick else x_test[:40]
    full = explainer.score(rows, uncertainty=True)
    print(
        f"\n## tolerance: seed SVC, design of {explainer.n_coalitions} coalitions "
        f"({explainer.n_units} units, checkpoints {explainer.unit_checkpoints()}), "
        f"{len(rows)} rows"
    )
    largest = full.standard_errors.max(axis=(0, 2))
    print(f"whole design: largest se per row, median {np.median(largest):.2e}")
    print(f"{'tolerance':>10} {'mean coal.':>11} {'at first':>9} {'at budget':>10} {'time s':>7}")
    first = explainer.n_coalitions - 2 * (explainer.n_units - explainer.unit_checkpoints()[0])
    for tol in (0.02, 0.01, 0.005, 0.002):
        explainer.score(rows[:1], tolerance=tol)
        start = time.perf_counter()
        result = explainer.score(rows, tolerance=tol)
        elapsed = time.perf_counter() - start
        used = result.coalitions_used
        print(
            f"{tol:>10g} {used.mean():>11.0f} {(used == first).mean():>9.0%} "
            f"{(used == explainer.n_coalitions).mean():>10.0%} {elapsed:>7.3f}"
        )
    start = time.perf_counter()
    explainer.score(rows)
    print(
        f"{'none':>10} {explainer.n_coalitions:>11} {'':>9} {'100%':>10} "
        f"{time.perf_counter() - start:>7.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rows, seeds and repeats")
    args = parser.parse_args()
    print(f"load average {load_average()}")
    with one_thread():
        calibration(args.quick)
        cost(args.quick)
        tolerance(args.quick)
    print(f"\nload average {load_average()}")


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - t0:.0f} s")
