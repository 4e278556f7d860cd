"""Batch explanations on Spark vs one process without Spark, side by side in one run.

For the demo kernel artifact (breast-cancer SVC, ``artifacts/demo``), a tree artifact
(random forest, 100 trees of depth 6) and a linear artifact (logistic regression), all on
the 30 breast-cancer features: rows/s of

- ``single``: one Python process, ``load(artifact, threads=1).score`` in batches of
  ``--batch-rows`` rows (reading the same Parquet file with pyarrow, one thread);
- ``local[1]`` and ``local[2]``: ``explain_dataframe`` on a local Spark reading the same
  Parquet file (4 parts), results written to Spark's ``noop`` sink.

Steady state: each Spark session runs a warm-up job first (JVM, Python workers, one artifact
load per worker); session start and the cold first job are reported apart. Rounds are
interleaved (single, local[1], local[2], repeated) and the medians compared.

    python bench/spark.py [--quick] [--json bench/results/spark.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import load_average, one_thread

warnings.simplefilter("ignore")
ROOT = Path(__file__).resolve().parent.parent


def build_artifacts(out: Path) -> dict[str, Path]:
    """The demo kernel artifact (made if missing) and a tree and a linear one in ``out``."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from scoring_explainers.scoring import LinearScoringExplainer, TreeScoringExplainer, save

    demo = ROOT / "artifacts" / "demo"
    command = ["-m", "scoring_explainers.demo", "--out", str(demo), "--if-missing", "--rows", "0"]
    subprocess.run(
        [sys.executable, *command],
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    data = load_breast_cancer()
    X, y, names = data.data, data.target, list(data.feature_names)
    forest = RandomForestClassifier(100, max_depth=6, random_state=0).fit(X, y)
    save(TreeScoringExplainer.from_model(forest, X, features=names), out / "tree")
    logistic = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
    save(LinearScoringExplainer.from_model(logistic, X, features=names), out / "linear")
    return {"kernel": demo, "tree": out / "tree", "linear": out / "linear"}


def write_rows(out: Path, n: int, features: list[str]) -> Path:
    """``n`` breast-cancer rows (tiled, slightly jittered) as a Parquet file of 4 parts."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from sklearn.datasets import load_breast_cancer

    X = load_breast_cancer().data
    rng = np.random.default_rng(0)
    rows = np.tile(X, (n // len(X) + 1, 1))[:n] * rng.uniform(0.95, 1.05, size=(n, X.shape[1]))
    path = out / f"rows-{n}"
    path.mkdir()
    for i, part in enumerate(np.array_split(rows, 4)):
        table = pa.table({name: part[:, j] for j, name in enumerate(features)})
        pq.write_table(table, path / f"part-{i}.parquet")
    return path


def single_process(artifact: Path, rows: Path, features: list[str], batch_rows: int) -> float:
    """Seconds to read the rows and score them all in one process, one thread."""
    import pyarrow.parquet as pq

    from scoring_explainers.scoring import load

    explainer = load(artifact, threads=1)
    start = time.perf_counter()
    table = pq.read_table(rows, use_threads=False)
    X = np.column_stack([table.column(f).to_numpy() for f in features])
    for lo in range(0, len(X), batch_rows):
        explainer.score(X[lo : lo + batch_rows])
    return time.perf_counter() - start


def spark_round(master: str, jobs: dict[str, tuple[Path, Path]], batch_rows: int) -> dict:
    """Start a session, warm it up, time one job per artifact, stop it."""
    from scoring_explainers.spark import explain_dataframe, local_session

    start = time.perf_counter()
    spark = local_session(master, conf={"spark.ui.showConsoleProgress": "false"})
    spark.sparkContext.setLogLevel("ERROR")
    started = time.perf_counter() - start
    out: dict[str, float] = {"session_start_s": started}
    try:
        for name, (artifact, rows) in jobs.items():

            def job(artifact=artifact, rows=rows) -> float:
                t0 = time.perf_counter()
                df = spark.read.parquet(str(rows))
                explained = explain_dataframe(df, artifact, batch_rows=batch_rows)
                explained.write.format("noop").mode("overwrite").save()
                return time.perf_counter() - t0

            out[f"{name}_cold_s"] = job(rows=jobs[name][1].parent / "warm")
            out[name] = job()
    finally:
        spark.stop()
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rows and rounds")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--batch-rows", type=int, default=1000)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    rounds = args.rounds or (1 if args.quick else 3)
    sizes = (
        {"kernel": 200, "tree": 20_000, "linear": 100_000}
        if args.quick
        else {"kernel": 1_000, "tree": 100_000, "linear": 1_000_000}
    )
    from scoring_explainers.scoring import load

    results: dict[str, object] = {"load_average_start": load_average(), "rows": sizes}
    with tempfile.TemporaryDirectory() as tmp, one_thread():
        root = Path(tmp)
        artifacts = build_artifacts(root / "artifacts")
        jobs: dict[str, tuple[Path, Path]] = {}
        for name, path in artifacts.items():
            features = load(path).features
            (root / name).mkdir(parents=True)
            rows = write_rows(root / name, sizes[name], features)
            (root / name / "warm").symlink_to(write_rows(root / name, 40, features))
            jobs[name] = (path, rows)
        times: dict[str, dict[str, list[float]]] = {n: {} for n in jobs}
        extra: dict[str, list[float]] = {}
        for r in range(rounds):
            for name, (path, rows) in jobs.items():
                features = load(path).features
                seconds = single_process(path, rows, features, args.batch_rows)
                times[name].setdefault("single", []).append(seconds)
            for master in ("local[1]", "local[2]"):
                done = spark_round(master, jobs, args.batch_rows)
                for key, value in done.items():
                    if key in jobs:
                        times[key].setdefault(master, []).append(value)
                    else:
                        extra.setdefault(f"{master} {key}", []).append(value)
            print(f"round {r + 1}/{rounds} done", file=sys.stderr)
    print(f"\n## Spark batch explanations, batch_rows={args.batch_rows}, medians of {rounds}")
    print(
        f"{'artifact':>8} {'rows':>9} {'single rows/s':>14} {'local[1] rows/s':>16} "
        f"{'local[2] rows/s':>16} {'l[1]/single':>12} {'l[2]/single':>12}"
    )
    table: dict[str, dict[str, float]] = {}
    for name, by_mode in times.items():
        n = sizes[name]
        rate = {mode: n / statistics.median(values) for mode, values in by_mode.items()}
        table[name] = {
            "single_rows_s": rate["single"],
            "local1_rows_s": rate["local[1]"],
            "local2_rows_s": rate["local[2]"],
            "local1_vs_single": rate["local[1]"] / rate["single"],
            "local2_vs_single": rate["local[2]"] / rate["single"],
        }
        print(
            f"{name:>8} {n:>9} {rate['single']:14.1f} {rate['local[1]']:16.1f} "
            f"{rate['local[2]']:16.1f} {rate['local[1]'] / rate['single']:11.2f}x "
            f"{rate['local[2]'] / rate['single']:11.2f}x"
        )
    overhead = 1 - table["kernel"]["local1_vs_single"]
    verdict = "met" if overhead <= 0.30 else "NOT met"
    print(
        f"\nkernel: Spark local[1] overhead {overhead:.1%} of the single-process rows/s "
        f"(target <= 30%: {verdict})"
    )
    medians = {key: statistics.median(values) for key, values in extra.items()}
    for key, value in sorted(medians.items()):
        print(f"{key}: {value:.2f} s")
    results.update(throughput=table, kernel_local1_overhead=overhead, seconds=medians)
    results["load_average_end"] = load_average()
    print(f"load average: start {results['load_average_start']}, end {results['load_average_end']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
