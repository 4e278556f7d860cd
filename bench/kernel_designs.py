"""Kernel SHAP coalition designs against exact Shapley values, at equal budgets.

A game is (model, weighted 10-row ``shap.kmeans`` background, explained row). On 10-16
features every coalition value ``v(S)`` is evaluated once (full enumeration, cached in
``/tmp``), so the exact Shapley values are known and every estimator reads the *same*
cached game: ours by indexing the cache with its design, shap's ``KernelExplainer``
(``l1_reg=False``) through a model function that looks its synthetic rows up in the
cache (checked against the real model), shapiq's ``KernelSHAP`` through a game callable.
A budget counts the coalitions evaluated besides the empty and the full one (shapiq,
which counts those two, gets two more).

On 30 and 64 features (``--large``) the reference is least squares (``"paired"``) at
100,000 / 40,000 coalitions and the estimators evaluate the real model. ``bayes_fixed``
is ``"bayes"`` without its distill-time fit (the default prior).

Reported per cell (problem x budget): each estimator's MSE (over rows, seeds and
features) as a ratio to shap's, and the geometric mean of the ratios over the cells.

    python bench/kernel_designs.py [--quick] [--large | --only-large] [--json out.json]

The full run (six enumerable problems, 16 rows, 8 seeds, budgets 200/600/2000, and
``--large``) takes about 15 minutes on two cores once the games are cached.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections.abc import Callable
from math import factorial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import load_average, one_thread

warnings.simplefilter("ignore")

CACHE = Path("/tmp/kernel_designs_cache")

# ---------------------------------------------------------------------------- problems


def _classification(n_features: int, seed: int = 0):
    from sklearn.datasets import make_classification
    from sklearn.preprocessing import StandardScaler

    X, y = make_classification(
        n_samples=2000,
        n_features=n_features,
        n_informative=n_features // 2,
        n_redundant=n_features // 4,
        random_state=seed,
    )
    X = StandardScaler().fit_transform(X)
    return X[:1600], y[:1600], X[1600:]


def _model(kind: str, X, y):
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.svm import SVC

    if kind == "svc":
        np.random.seed(0)  # noqa: NPY002 - Platt scaling's CV draws from the global RNG
        return SVC(probability=True, random_state=0).fit(X, y)
    if kind == "mlp":
        return MLPClassifier((64, 64), max_iter=400, random_state=0).fit(X, y)
    if kind == "gb":
        return GradientBoostingClassifier(n_estimators=100, random_state=0).fit(X, y)
    if kind == "knn":
        return KNeighborsClassifier(15).fit(X, y)
    raise ValueError(kind)


def problem(name: str):
    """``(predict (n, M) -> (n,), x_train, x_test)`` for a named problem.

    ``<kind>16`` / ``<kind>12``: make_classification with 16 / 12 features; ``diabetes``:
    a GradientBoostingRegressor on sklearn's 10-feature diabetes data; ``cancer``: the
    seed breast-cancer SVC (30 features); ``digits``: an SVC on 8x8 digits (64 features).
    """
    if name == "diabetes":
        from sklearn.datasets import load_diabetes
        from sklearn.ensemble import GradientBoostingRegressor

        X, y = load_diabetes(return_X_y=True)
        model = GradientBoostingRegressor(random_state=0).fit(X[:350], y[:350])
        return model.predict, X[:350], X[350:]
    if name == "cancer":
        from kernel import seed_problem

        svc, x_train, x_test = seed_problem()
        return (lambda Z: svc.predict_proba(Z)[:, 1]), x_train, x_test
    if name == "digits":
        from sklearn.datasets import load_digits
        from sklearn.svm import SVC

        X, y = load_digits(return_X_y=True)
        X = X / 16.0
        np.random.seed(0)  # noqa: NPY002
        model = SVC(gamma=0.05, probability=True, random_state=0).fit(X[:1400], y[:1400] == 3)
        return (lambda Z: model.predict_proba(Z)[:, 1]), X[:1400], X[1400:]
    kind, m = name[:-2], int(name[-2:])
    x_train, y_train, x_test = _classification(m)
    model = _model(kind, x_train, y_train)
    return (lambda Z: model.predict_proba(Z)[:, 1]), x_train, x_test


def background(x_train):
    import shap

    summary = shap.kmeans(x_train, 10)
    return summary, np.asarray(summary.data), np.asarray(summary.weights)


# -------------------------------------------------------------------------- the game


def bit_masks(n_features: int) -> np.ndarray:
    """Every coalition as a bool row, row index = bit pattern, shape (2**M, M)."""
    codes = np.arange(2**n_features)
    return ((codes[:, None] >> np.arange(n_features)) & 1).astype(bool)


def codes_of(masks: np.ndarray) -> np.ndarray:
    """Bit pattern of each coalition row, shape (S,)."""
    return masks.astype(np.int64) @ (1 << np.arange(masks.shape[1], dtype=np.int64))


def enumerate_game(predict, x: np.ndarray, bg: np.ndarray, chunk: int = 1 << 12) -> np.ndarray:
    """``f(x_S, b)`` for every coalition S and background row b, shape (nb, 2**M)."""
    m = len(x)
    out = np.empty((len(bg), 2**m))
    for start in range(0, 2**m, chunk):
        masks = bit_masks(m)[start : start + chunk] if m <= 16 else None
        assert masks is not None
        rows = np.where(masks[:, None, :], x, bg[None]).reshape(-1, m)
        out[:, start : start + chunk] = predict(rows).reshape(len(masks), len(bg)).T
    return out


def cached_games(name: str, n_rows: int):
    """Per-background values (rows, nb, 2**M), weights, rows, background, predict."""
    predict, x_train, x_test = problem(name)
    summary, bg, w = background(x_train)
    rows = x_test[:n_rows]
    CACHE.mkdir(exist_ok=True)
    games = []
    for i, x in enumerate(rows):
        path = CACHE / f"{name}_{i}.npy"
        if path.exists():
            games.append(np.load(path))
            continue
        table = enumerate_game(predict, x, bg)
        np.save(path, table)
        games.append(table)
    return np.stack(games), w, rows, summary, predict


def exact_shapley(v: np.ndarray) -> np.ndarray:
    """Exact Shapley values of games given on all coalitions, v (r, 2**M) -> (r, M)."""
    m = int(np.log2(v.shape[1]))
    codes = np.arange(2**m)
    sizes = bit_masks(m).sum(1)
    weight = np.array([factorial(s) * factorial(m - s - 1) / factorial(m) for s in range(m)])
    phi = np.empty((len(v), m))
    for i in range(m):
        without = codes[(codes >> i) & 1 == 0]
        phi[:, i] = (v[:, without | (1 << i)] - v[:, without]) @ weight[sizes[without]]
    return phi


# ---------------------------------------------------------------------- the estimators

# An estimator of ours: (M, budget, seed, training-game values) -> (masks (S, M),
# P (M, S), q (M,)); the values are phi = P (v(masks) - E) + q (f(x) - E), the same map
# for every row, fixed at distill time.
Ours = Callable[[int, int, int, object], tuple[np.ndarray, np.ndarray, np.ndarray]]


def ours_estimators() -> dict[str, Ours]:
    """Our designs; ``bayes_fixed`` is ``bayes`` without the distill-time fit."""
    from scoring_explainers.distill._designs import DESIGNS, make_design

    def make(name: str, fit: bool = True) -> Ours:
        def run(m: int, budget: int, seed: int, values=None):
            rng = np.random.default_rng(seed)
            d = make_design(name, m, budget, rng, values if fit else None)  # type: ignore[arg-type]
            return d.masks, d.P, d.q

        return run

    estimators = {name: make(name) for name in DESIGNS}
    estimators["bayes_fixed"] = make("bayes", fit=False)
    return estimators


def training_values(predict, x_train, bg, w, n_rows: int = 8):
    """What a design may fit at distill time: a few *training* rows' games."""
    rows = x_train[np.random.default_rng(1).choice(len(x_train), n_rows, replace=False)]
    m = x_train.shape[1]
    E = float(predict(bg) @ w)
    full = predict(rows) - E

    def values(masks):
        synth = np.where(masks[None, :, None, :], rows[:, None, None, :], bg[None, None])
        out = predict(synth.reshape(-1, m)).reshape(len(rows), len(masks), len(bg)) @ w
        return out - E, full

    return values


def shap_estimate(summary, tables, w, rows, budget, seed, check=None):
    """shap.KernelExplainer(l1_reg=False) reading the cached game, (r, M)."""
    import shap

    m = rows.shape[1]
    bits = 1 << np.arange(m)
    out = np.empty(rows.shape)
    for r, (x, table) in enumerate(zip(rows, tables, strict=True)):

        def f(Z, x=x, table=table):
            codes = (Z == x).astype(np.int64) @ bits
            return table[np.arange(len(Z)) % len(w), codes]

        if check is not None and r == 0:
            keep = np.random.default_rng(0).random((50, m)) < 0.5
            probe = np.where(keep, x, summary.data[np.arange(50) % len(w)])
            assert np.allclose(f(probe), check(probe)), "cache lookup disagrees with the model"
        explainer = shap.KernelExplainer(f, summary)
        np.random.seed(seed)  # noqa: NPY002 - shap samples from the global RNG
        out[r] = explainer.shap_values(x[None], nsamples=budget, silent=True, l1_reg=False)[0]
    return out


def shapiq_estimate(v, budget, seed, pairing):
    """shapiq's KernelSHAP on the cached game (its budget counts the empty and full set)."""
    from shapiq.approximator import KernelSHAP

    m = int(np.log2(v.shape[1]))
    bits = 1 << np.arange(m)
    out = np.empty((len(v), m))
    for r, game in enumerate(v):
        approx = KernelSHAP(m, pairing_trick=pairing, random_state=seed)
        values = approx.approximate(budget + 2, lambda C, g=game: g[C.astype(np.int64) @ bits])
        out[r] = [values[(i,)] for i in range(m)]
    return out


# ------------------------------------------------------------------------ comparisons


def enumerable(names, budgets, seeds, n_rows, estimators, with_shapiq=True):
    cells: dict[str, dict[str, float]] = {}
    for name in names:
        tables, w, rows, summary, predict = cached_games(name, n_rows)
        v = np.einsum("b,rbs->rs", w, tables)
        exact = exact_shapley(v)
        m = rows.shape[1]
        E, fx = v[:, 0], v[:, -1]
        _, x_train, _ = problem(name)
        fit = training_values(predict, x_train, summary.data, w)
        for budget in budgets:
            if budget >= 2**m - 2:
                continue  # every coalition: all estimators are exact
            sq: dict[str, list[float]] = {}
            for seed in seeds:
                for key, est in estimators.items():
                    masks, P, q = est(m, budget, seed, fit)
                    assert len(masks) <= budget, (key, len(masks), budget)
                    y = v[:, codes_of(masks)] - E[:, None]
                    phi = y @ P.T + (fx - E)[:, None] * q
                    sq.setdefault(key, []).append(float(((phi - exact) ** 2).mean()))
                phi = shap_estimate(summary, tables, w, rows, budget, seed, check=predict)
                sq.setdefault("shap", []).append(float(((phi - exact) ** 2).mean()))
                if with_shapiq:
                    for pairing in (False, True):
                        key = "shapiq_paired" if pairing else "shapiq"
                        phi = shapiq_estimate(v, budget, seed, pairing)
                        sq.setdefault(key, []).append(float(((phi - exact) ** 2).mean()))
            mse = {k: float(np.mean(x)) for k, x in sq.items()}
            cells[f"{name}@{budget}"] = mse
            report(f"{name}@{budget}", mse)
    return cells


def report(cell: str, mse: dict[str, float]) -> None:
    base = mse["shap"]
    parts = " ".join(f"{k}={mse[k] / base:.3f}" for k in mse if k != "shap")
    print(f"{cell:>14} shapMSE={base:.3g} {parts}", flush=True)


def geomean_table(cells: dict[str, dict[str, float]]) -> dict[str, float]:
    keys = [k for k in next(iter(cells.values())) if k != "shap"]
    return {
        k: float(np.exp(np.mean([np.log(c[k] / c["shap"]) for c in cells.values()]))) for k in keys
    }


def large(names, budgets, seeds, n_rows, estimators, reference_budgets):
    """Against paired WLS at a large budget on 30 / 64 features (real model)."""
    import shap

    cells: dict[str, dict[str, float]] = {}
    for name in names:
        predict, x_train, x_test = problem(name)
        summary, bg, w = background(x_train)
        rows = x_test[:n_rows]
        m = rows.shape[1]
        E = float(predict(bg) @ w)
        fx = predict(rows)

        def explain(masks, P, q, rows=rows, fx=fx, E=E, predict=predict, bg=bg, w=w):
            synth = np.where(masks[None, :, None, :], rows[:, None, None, :], bg[None, None])
            v = predict(synth.reshape(-1, rows.shape[1])).reshape(len(rows), len(masks), -1) @ w
            return (v - E) @ P.T + (fx - E)[:, None] * q

        fit = training_values(predict, x_train, bg, w)
        budget = reference_budgets[name]
        reference = np.concatenate(
            [
                explain(
                    *ours_estimators()["paired"](m, budget, 12345),
                    rows=rows[i : i + 1],
                    fx=fx[i : i + 1],
                )
                for i in range(len(rows))
            ]
        )
        for budget in budgets:
            sq: dict[str, list[float]] = {}
            for seed in seeds:
                for key, est in estimators.items():
                    phi = explain(*est(m, budget, seed, fit))
                    sq.setdefault(key, []).append(float(((phi - reference) ** 2).mean()))
                explainer = shap.KernelExplainer(predict, summary)
                np.random.seed(seed)  # noqa: NPY002
                phi = explainer.shap_values(rows, nsamples=budget, silent=True, l1_reg=False)
                sq.setdefault("shap", []).append(float(((phi - reference) ** 2).mean()))
            mse = {k: float(np.mean(x)) for k, x in sq.items()}
            cells[f"{name}@{budget}"] = mse
            report(f"{name}@{budget}", mse)
    return cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rows and seeds")
    parser.add_argument("--large", action="store_true", help="also 30 and 64 features")
    parser.add_argument("--only-large", action="store_true", help="only 30 and 64 features")
    parser.add_argument("--problems", default="svc16,mlp16,gb16,knn16,svc12,diabetes")
    parser.add_argument("--budgets", default="200,600,1000")
    parser.add_argument("--designs", default=None, help="comma-separated subset of ours")
    parser.add_argument("--no-shapiq", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    print(f"load average {load_average()}")
    estimators = ours_estimators()
    if args.designs:
        estimators = {k: estimators[k] for k in args.designs.split(",")}
    seeds = range(3) if args.quick else range(8)
    n_rows = 6 if args.quick else 16
    results: dict[str, object] = {}
    with one_thread():
        cells = (
            {}
            if args.only_large
            else enumerable(
                args.problems.split(","),
                [int(b) for b in args.budgets.split(",")],
                seeds,
                n_rows,
                estimators,
                with_shapiq=not args.no_shapiq,
            )
        )
        results["enumerable"] = cells
        if cells:
            geo = geomean_table(cells)
            print("geometric mean of MSE / shap's MSE over the cells:")
            print("  " + " ".join(f"{k}={x:.3f}" for k, x in geo.items()))
            results["geomean"] = geo
        sixteen = {k: c for k, c in cells.items() if k.split("@")[0].endswith("16")}
        sixteen = {k: c for k, c in sixteen.items() if k.split("@")[1] in ("200", "600")}
        if sixteen:
            geo16 = geomean_table(sixteen)
            print("16 features at 200 and 600:")
            print("  " + " ".join(f"{k}={x:.3f}" for k, x in geo16.items()))
            results["geomean_16"] = geo16
        if args.large or args.only_large:
            big = large(
                ["cancer", "digits"],
                [200, 600, 2000],
                range(2) if args.quick else range(4),
                4 if args.quick else 8,
                estimators,
                reference_budgets={"cancer": 100_000, "digits": 40_000},
            )
            results["large"] = big
            geo = geomean_table(big)
            print("30/64 features, geometric mean:")
            print("  " + " ".join(f"{k}={x:.3f}" for k, x in geo.items()))
    print(f"load average {load_average()}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - t0:.0f} s")
