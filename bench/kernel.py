"""KernelScoringExplainer vs shap.KernelExplainer, side by side in one process.

Seed example: breast cancer (455 train / 114 test rows, 30 features),
``SVC(gamma=0.001, C=100., probability=True)``; both explainers get the same weighted
10-row ``shap.kmeans`` background and the same budget, one thread each. Also a
10-feature ``MLPClassifier(32, 32)`` (where shap's own overhead dominates), the
onnxruntime floor, accuracy against a large-budget reference, and peak memory for
10,000 rows at once. The digits section: a 10-class ``SVC(probability=True)`` on 64
features at ``nsamples=2000`` (the dense multiclass graph against skl2onnx's
``SVMClassifier`` operator graph).

    python bench/kernel.py [--quick] [--digits-only | --seed-only | --floors-only]

The seed SVC and digits sections also run our graph with the kernel's exp forced to
float64 (``to_onnx(..., svm_exp="float64")``, what every SVM got before the per-model
choice), interleaved with the rest.

The coalition designs against exact values (ours by design, shap ``l1_reg=False``,
shapiq) are in ``bench/kernel_designs.py``; the standard errors' coverage, their cost and
the coalitions a tolerance uses in ``bench/kernel_uncertainty.py`` (``make bench`` runs
all three).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import interleaved, load_average, one_thread

warnings.simplefilter("ignore")


def seed_problem():
    from sklearn import svm
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    X, y = load_breast_cancer(return_X_y=True)
    x_train, x_test, y_train, _ = train_test_split(X, y, test_size=0.2, random_state=0)
    np.random.seed(0)  # noqa: NPY002 - SVC's Platt-scaling CV draws from the global RNG
    model = svm.SVC(gamma=0.001, C=100.0, probability=True).fit(x_train, y_train)
    return model, x_train, x_test


def mlp_problem():
    from sklearn.datasets import make_classification
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    X, y = make_classification(n_samples=1200, n_features=10, n_informative=6, random_state=0)
    X = StandardScaler().fit_transform(X)
    model = MLPClassifier((32, 32), max_iter=500, random_state=0).fit(X[:1000], y[:1000])
    return model, X[:1000], X[1000:1114]


def digits_problem():
    """scikit-learn's digits: 10 classes, 64 features, 1437 train / 360 test rows."""
    from sklearn import svm
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, _ = train_test_split(X, y, test_size=0.2, random_state=0)
    model = svm.SVC(probability=True, random_state=0).fit(x_train, y_train)
    return model, x_train, x_test


def digits(repeats, n_rows):
    import shap

    model, x_train, x_test = digits_problem()
    n_sv = len(model.support_vectors_)
    return speed(
        f"digits SVC, 10 classes, {n_sv} support vectors",
        model,
        shap.kmeans(x_train, 10),
        x_test[:n_rows],
        [2000],
        repeats,
        operator_graph=skl2onnx_graph(model, x_train.shape[1]),
        compare_exp=True,
    )


def seed_speed(repeats, rows_quick):
    """The seed SVC's speed section (shap, ours, the floors, float64 exp before)."""
    import shap

    model, x_train, x_test = seed_problem()
    return speed(
        "seed SVC",
        model,
        shap.kmeans(x_train, 10),
        x_test[:30] if rows_quick else x_test,
        [2108, 200],
        repeats,
        operator_graph=skl2onnx_graph(model, x_train.shape[1]),
        compare_exp=True,
    )


def floor_models():
    """Other models people explain with Kernel, on the seed data (30 features)."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    return {
        "KNeighbors(5), scaled": make_pipeline(StandardScaler(), KNeighborsClassifier()),
        "MLP(32, 32), scaled": make_pipeline(
            StandardScaler(), MLPClassifier((32, 32), max_iter=500, random_state=0)
        ),
        "GradientBoosting(100)": GradientBoostingClassifier(random_state=0),
        "CalibratedCV(SVC), sigmoid": CalibratedClassifierCV(
            SVC(gamma=0.001, C=100.0), ensemble=False
        ),
    }


def floors(repeats, n_rows):
    """shap vs ours vs the onnxruntime floor, and the model's own predict_proba, per
    synthetic row: a floor far above predict_proba means the graph can be faster."""
    import shap

    _, x_train, x_test = seed_problem()
    _, y_train = _seed_labels()
    summary = shap.kmeans(x_train, 10)
    rows = x_test[:n_rows]
    budget = 2 * x_train.shape[1] + 2048
    print(
        f"\n## other models: seed data, {n_rows} rows, 30 features, background 10, "
        f"nsamples={budget}, 1 thread; us per synthetic row"
    )
    print(
        f"{'model':>28} {'shap rows/s':>12} {'ours rows/s':>12} {'ratio':>7} {'ours/floor':>11} "
        f"{'floor us':>9} {'sklearn us':>11}"
    )
    out = {}
    for name, model in floor_models().items():
        model.fit(x_train, y_train)
        ours = ours_for(model, summary, budget)
        ours.explain(rows[:1])
        explainer = shap.KernelExplainer(model.predict_proba, summary)
        times = interleaved(
            {
                "shap": lambda e=explainer: e.shap_values(rows, nsamples=budget, silent=True),
                "ours": lambda ours=ours: ours.explain(rows),
                "floor": floor_task(ours, rows),
            },
            repeats,
        )
        synthetic = len(rows) * ours.n_coalitions * len(summary.data)
        fake = np.random.default_rng(0).normal(size=(synthetic, x_train.shape[1]))
        fake = fake * x_train.std(axis=0) + x_train.mean(axis=0)
        native = interleaved({"native": lambda m=model, z=fake: m.predict_proba(z)}, repeats)
        row = {
            "shap_rows_s": len(rows) / times["shap"],
            "ours_rows_s": len(rows) / times["ours"],
            "ratio": times["shap"] / times["ours"],
            "vs_floor": times["ours"] / times["floor"],
            "floor_us": times["floor"] / synthetic * 1e6,
            "predict_proba_us": native["native"] / synthetic * 1e6,
        }
        print(
            f"{name:>28} {row['shap_rows_s']:12.2f} {row['ours_rows_s']:12.2f} "
            f"{row['ratio']:6.2f}x {row['vs_floor']:10.2f}x {row['floor_us']:9.2f} "
            f"{row['predict_proba_us']:11.2f}"
        )
        out[name] = row
    return out


def _seed_labels():
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    X, y = load_breast_cancer(return_X_y=True)
    _, _, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
    return y_test, y_train


def ours_for(model, summary, budget, **kw):
    from scoring_explainers.scoring import KernelScoringExplainer

    return KernelScoringExplainer.from_model(
        model,
        summary.data,
        nclusters=None,
        background_weights=summary.weights,
        nsamples=budget,
        threads=1,
        **kw,
    )


def skl2onnx_graph(model, n_features):
    """The model as skl2onnx converts it (onnxruntime's SVMClassifier operator)."""
    from skl2onnx import to_onnx

    return to_onnx(
        model, np.zeros((1, n_features), dtype=np.float32), options={"zipmap": False}
    ).SerializeToString()


def shap_values(model, summary, rows, budget, **kw):
    import shap

    explainer = shap.KernelExplainer(model.predict_proba, summary)
    return explainer.shap_values(rows, nsamples=budget, silent=True, **kw)[..., 1]


def floor_task(explainer, rows):
    """onnxruntime alone on the same synthetic rows, in the explainer's own chunks."""
    X32 = rows.astype(np.float32)
    chunks = [
        explainer.synthetic_rows(X32[block], coalitions)
        for block, coalitions in explainer.chunk_plan(len(rows))
    ]

    def run():
        explainer.model.outputs(rows)  # f(x), which explain() also evaluates
        for chunk in chunks:
            explainer.model.outputs(chunk)

    return run


def float64_graph(model, n_features):
    """Our dense graph with the kernel's exp forced to float64 (before the per-model
    choice), and the choice ``to_onnx`` makes by default."""
    from scoring_explainers.convert import to_onnx

    chosen = to_onnx(model, n_features).notes
    return to_onnx(model, n_features, svm_exp="float64").onnx_bytes, chosen


def speed(name, model, summary, rows, budgets, repeats, operator_graph=None, compare_exp=False):
    print(
        f"\n## {name}: {len(rows)} rows, {rows.shape[1]} features, background "
        f"{len(summary.data)} rows, 1 thread"
    )
    print(
        f"{'budget':>8} {'shap rows/s':>12} {'ours rows/s':>12} {'ratio':>7} {'ours/ORT floor':>15}"
    )
    out = {}
    for budget in budgets:
        ours = ours_for(model, summary, budget)
        ours.explain(rows[:2])
        tasks = {
            "shap": lambda budget=budget: shap_values(model, summary, rows, budget),
            "ours": lambda ours=ours: ours.explain(rows),
            "floor": floor_task(ours, rows),  # interleaved too: the same load for both
        }
        if operator_graph is not None:
            plain = ours_for(operator_graph, summary, budget)
            tasks["ours_operator"] = lambda plain=plain: plain.explain(rows)
        if compare_exp:
            graph, chosen = float64_graph(model, rows.shape[1])
            before = ours_for(graph, summary, budget)
            before.explain(rows[:2])
            tasks["ours_f64"] = lambda before=before: before.explain(rows)
            tasks["floor_f64"] = floor_task(before, rows)
        times = interleaved(tasks, repeats)
        floor = times["floor"]
        label = "auto" if budget == 2 * rows.shape[1] + 2048 else str(budget)
        shap_rate, ours_rate = len(rows) / times["shap"], len(rows) / times["ours"]
        print(
            f"{label:>8} {shap_rate:12.1f} {ours_rate:12.1f} {ours_rate / shap_rate:6.2f}x "
            f"{times['ours'] / floor:14.3f}x"
        )
        out[label] = {
            "shap_rows_s": shap_rate,
            "ours_rows_s": ours_rate,
            "ratio": ours_rate / shap_rate,
            "vs_floor": times["ours"] / floor,
        }
        if "ours_operator" in times:
            rate = len(rows) / times["ours_operator"]
            print(
                f"{'':>8} {'':>12} {rate:12.1f} {rate / shap_rate:6.2f}x   "
                "(ours with skl2onnx's SVMClassifier operator graph)"
            )
            out[label]["ours_operator_rows_s"] = rate
        if "ours_f64" in times:
            rate = len(rows) / times["ours_f64"]
            vs_floor = times["ours_f64"] / times["floor_f64"]
            print(
                f"{'':>8} {'':>12} {rate:12.1f} {rate / shap_rate:6.2f}x {vs_floor:14.3f}x"
                "   (ours with float64 exp, before the per-model choice)"
            )
            check = chosen.get("kernel_exp_check", {})
            print(
                f"{'':>8} exp chosen: {chosen.get('kernel_exp')} (float32 check max diff "
                f"{check.get('max_abs_diff', float('nan')):.2g}); floor "
                f"{times['floor'] / synthetic_rows(ours, rows, summary) * 1e6:.2f} us per "
                f"synthetic row, float64 exp "
                f"{times['floor_f64'] / synthetic_rows(ours, rows, summary) * 1e6:.2f} us"
            )
            out[label].update(
                {
                    "f64_rows_s": rate,
                    "f64_ratio": rate / shap_rate,
                    "f64_vs_floor": vs_floor,
                    "exp_chosen": chosen.get("kernel_exp"),
                    "exp_check_max_diff": check.get("max_abs_diff"),
                    "floor_us": times["floor"] / synthetic_rows(ours, rows, summary) * 1e6,
                    "f64_floor_us": times["floor_f64"] / synthetic_rows(ours, rows, summary) * 1e6,
                }
            )
    return out


def synthetic_rows(explainer, rows, summary):
    """Synthetic rows the explainer evaluates for ``rows``."""
    return len(rows) * explainer.n_coalitions * len(summary.data)


def accuracy(model, summary, rows, repeats, budgets, reference_budget):
    """Mean absolute error against a large-budget reference, and speed at equal error."""
    m = rows.shape[1]
    auto = 2 * m + 2048
    reference = ours_for(model, summary, reference_budget).explain(rows)[1]
    shap_auto = shap_values(model, summary, rows, auto)
    shap_nol1 = shap_values(model, summary, rows, auto, l1_reg=False)
    err_shap = float(np.abs(shap_auto - reference).mean())
    err_shap_nol1 = float(np.abs(shap_nol1 - reference).mean())
    scale = float(np.abs(reference).mean())
    print(
        f"\n## accuracy on {len(rows)} rows vs a {reference_budget:,}-coalition reference "
        f"(mean |phi| {scale:.4g})"
    )
    print(
        f"shap auto, default l1_reg='num_features(10)': MAE {err_shap:.3g}; "
        f"shap auto, l1_reg=False: MAE {err_shap_nol1:.3g}"
    )
    print(
        f"{'nsamples':>9} {'ours':>9} {'top-10':>9} {'top-5':>9}   (ours: MAE, "
        "max_features=None / 10 / 5)"
    )
    errors: dict[str, dict[int, float]] = {"all": {}, "top10": {}, "top5": {}}
    for budget in budgets:
        for key, k in (("all", None), ("top10", 10), ("top5", 5)):
            values = ours_for(model, summary, budget, max_features=k).explain(rows)[1]
            errors[key][budget] = float(np.abs(values - reference).mean())
        print(
            f"{budget:>9} {errors['all'][budget]:9.3g} {errors['top10'][budget]:9.3g} "
            f"{errors['top5'][budget]:9.3g}"
        )
    result: dict[str, object] = {
        "mae_shap_auto": err_shap,
        "mae_shap_auto_no_l1": err_shap_nol1,
        "mae_ours": errors,
        "mean_abs_phi": scale,
    }
    for key, k in (("all", None), ("top10", 10), ("top5", 5)):
        matching = min((b for b, e in errors[key].items() if e <= err_shap), default=None)
        result[f"budget_matching_shap_auto_{key}"] = matching
        if matching is None:
            print(f"max_features={k}: no budget up to {max(budgets)} matches shap auto's error")
            continue
        ours = ours_for(model, summary, matching, max_features=k)
        ours.explain(rows[:2])
        times = interleaved(
            {
                "shap": lambda: shap_values(model, summary, rows, auto),
                "ours": lambda ours=ours: ours.explain(rows),
            },
            repeats,
        )
        ratio = times["shap"] / times["ours"]
        print(
            f"equal error, max_features={k}: ours at nsamples={matching} "
            f"(MAE {errors[key][matching]:.3g}) is {ratio:.1f}x shap auto's rows/s"
        )
        result[f"equal_error_speed_ratio_{key}"] = ratio
    return result


MEMORY_SCRIPT = """
import sys, warnings
warnings.simplefilter("ignore")
import numpy as np
sys.path.insert(0, {bench!r})
from kernel import mlp_problem
from scoring_explainers.scoring import KernelScoringExplainer
model, x_train, x_test = mlp_problem()
explainer = KernelScoringExplainer.from_model(model, x_train, nsamples=200)
rows = np.random.default_rng(0).normal(size=(10_000, x_train.shape[1]))
def peak_mib():  # VmHWM: this process's peak RSS (ru_maxrss would include the parent's)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
before = peak_mib()
values = explainer.explain(rows)
print(before, peak_mib(), values.shape[1], explainer.n_coalitions)
"""


def memory():
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT.format(bench=str(Path(__file__).parent))],
        capture_output=True,
        text=True,
        check=True,
    )
    before, after, n, s = done.stdout.split()
    unchunked = int(n) * int(s) * 10 * 10 * 4 / 2**20
    print(
        f"\n## memory: 10,000 rows at once (MLP, nsamples=200, background 10): peak RSS "
        f"{float(after):.0f} MiB (before explaining {float(before):.0f} MiB; one unchunked "
        f"synthetic tensor would be {unchunked:.0f} MiB)"
    )
    return {"peak_rss_mib": float(after), "before_mib": float(before)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats and rows")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--digits-only", action="store_true", help="only the digits section")
    parser.add_argument("--floors-only", action="store_true", help="only the other models' floors")
    parser.add_argument(
        "--seed-only", action="store_true", help="only the seed SVC's speed and the digits"
    )
    args = parser.parse_args()
    import shap

    repeats = 1 if args.quick else 3
    results: dict[str, object] = {"load_average_start": load_average()}
    print(f"load average {load_average()}")
    with one_thread():
        if not args.floors_only:
            results["digits"] = digits(repeats, 2 if args.quick else 4)
        if args.seed_only:
            results["svc"] = seed_speed(repeats, args.quick)
        elif not args.digits_only:
            results["floors"] = floors(repeats, 2 if args.quick else 3)
    if args.digits_only or args.floors_only or args.seed_only:
        results["load_average_end"] = load_average()
        print(f"\nload average {load_average()}")
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
        return
    with one_thread():
        model, x_train, x_test = seed_problem()
        summary = shap.kmeans(x_train, 10)
        results["svc"] = seed_speed(repeats, args.quick)
        results["svc_accuracy"] = accuracy(
            model,
            summary,
            x_test[:10] if args.quick else x_test[:20],
            repeats,
            [100, 150, 200, 300, 400, 600, 800, 1200, 2108, 4000, 8000],
            reference_budget=60_000 if args.quick else 300_000,
        )
        mlp, mlp_train, mlp_test = mlp_problem()
        results["mlp"] = speed(
            "MLP (32, 32), 10 features",
            mlp,
            shap.kmeans(mlp_train, 10),
            mlp_test,
            [2 * 10 + 2048, 200],
            repeats,
        )
    results["memory"] = memory()
    results["load_average_end"] = load_average()
    print(f"\nload average {load_average()}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - t0:.0f} s")
