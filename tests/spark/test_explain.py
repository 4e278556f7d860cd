"""explain_dataframe and global_importance on a real local Spark, against in-process scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scoring_explainers import InputError
from scoring_explainers.explanation import global_from_local
from scoring_explainers.scoring import load
from scoring_explainers.spark import explain_dataframe, global_importance

pytestmark = [
    pytest.mark.filterwarnings("ignore::FutureWarning"),  # pyspark on pandas 3
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]


@pytest.fixture(scope="module")
def rows(seed_data, small_classification, small_regression):
    """Rows to explain for each artifact kind."""
    return {
        "kernel": seed_data[1][:40],
        "tree": small_classification[0][:60],
        "linear": small_regression[0][:60],
    }


def frame(spark, X, features, partitions=3, **extra):
    pdf = pd.DataFrame(np.asarray(X, dtype=np.float64), columns=features)
    pdf.insert(0, "id", np.arange(len(pdf)))
    for name, values in extra.items():
        pdf[name] = values
    return spark.createDataFrame(pdf).repartition(partitions)


def collect(df):
    return df.orderBy("id").toPandas()


def stacked(column):
    return np.array([np.asarray(v, dtype=np.float64) for v in column])


def assert_rows_equal(out: pd.DataFrame, expected, top_k: int | None = None):
    """Every result column equals the in-process ScoreResult, row by row."""
    assert out["error"].isna().all()
    assert out["prediction"].tolist() == expected.predictions.tolist()
    values = expected.local_importance_values
    if values.ndim == 3:
        np.testing.assert_allclose(
            stacked(out["probability"]), expected.probabilities, rtol=1e-12, atol=1e-15
        )
        for i in range(values.shape[0]):
            np.testing.assert_allclose(
                stacked(out[f"local_importance_{i}"]), values[i], rtol=1e-10, atol=1e-13
            )
    else:
        assert "probability" not in out
        np.testing.assert_allclose(stacked(out["local_importance"]), values, rtol=1e-10, atol=1e-13)
    if top_k is not None:
        names, top = expected.top_features(top_k)
        assert [list(v) for v in out["top_k_features"]] == names
        np.testing.assert_allclose(stacked(out["top_k_values"]), top, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("kind", [pytest.param("kernel", marks=pytest.mark.slow), "tree", "linear"])
def test_results_equal_in_process_scores(spark, spark_artifacts, rows, kind):
    path = spark_artifacts[kind]
    explainer = load(path)
    X = rows[kind]
    df = frame(spark, X, explainer.features, note=[f"row {i}" for i in range(len(X))])
    out = collect(explain_dataframe(df, path, top_k=3, batch_rows=7))
    assert list(out.columns[: len(df.columns)]) == ["id", *explainer.features, "note"]
    assert out["note"].tolist() == [f"row {i}" for i in range(len(X))]  # inputs kept
    np.testing.assert_array_equal(out[explainer.features].to_numpy(), X)
    assert_rows_equal(out, explainer.score(X), top_k=3)


def test_artifact_shipped_with_add_file(spark, spark_artifacts, rows):
    path = spark_artifacts["linear"]
    explainer = load(path)
    df = frame(spark, rows["linear"], explainer.features)
    out = collect(explain_dataframe(df, path, distribute=True))
    assert_rows_equal(out, explainer.score(rows["linear"]))


def test_feature_columns_by_other_names_and_types(spark, spark_artifacts, rows):
    """``features`` maps other column names; int, float and numeric-string columns work."""
    path = spark_artifacts["linear"]
    explainer = load(path)
    X = np.round(rows["linear"][:20], 2)
    X[:, 0] = np.round(X[:, 0])
    names = [f"c{j}" for j in range(X.shape[1])]
    pdf = pd.DataFrame(X, columns=names)
    pdf.insert(0, "id", np.arange(len(pdf)))
    pdf["c0"] = pdf["c0"].astype("int64")
    pdf["c1"] = pdf["c1"].astype("float32")
    pdf["c2"] = [repr(float(v)) for v in X[:, 2]]
    df = spark.createDataFrame(pdf)
    out = collect(explain_dataframe(df, path, features=names))
    expected = X.copy()
    expected[:, 1] = X[:, 1].astype(np.float32)
    assert_rows_equal(out, explainer.score(expected))


def _no_job_runs(spark, call):
    tracker = spark.sparkContext.statusTracker()
    spark.sparkContext.setJobGroup("checks", "explain_dataframe checks")
    try:
        with pytest.raises(InputError) as info:
            call()
    finally:
        spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)
    assert tracker.getJobIdsForGroup("checks") == []
    return str(info.value)


def test_wrong_or_missing_columns_fail_before_any_job(spark, spark_artifacts, rows):
    path = spark_artifacts["linear"]
    features = load(path).features
    df = frame(spark, rows["linear"][:5], features)
    dropped = df.drop(features[1])
    message = _no_job_runs(spark, lambda: explain_dataframe(dropped, path))
    assert "missing columns" in message and repr(features[1]) in message

    renamed = df.withColumnRenamed(features[0], features[0].upper())
    message = _no_job_runs(spark, lambda: explain_dataframe(renamed, path))
    assert "case-sensitive" in message

    arrays = df.selectExpr(
        "id", *[f"`{f}`" for f in features[1:]], f"array(double(1)) as `{features[0]}`"
    )
    message = _no_job_runs(spark, lambda: explain_dataframe(arrays, path))
    assert f"column {features[0]!r} has type array<double>" in message

    taken = df.selectExpr("*", "1 as prediction")
    message = _no_job_runs(spark, lambda: explain_dataframe(taken, path))
    assert "already has column(s) ['prediction']" in message

    message = _no_job_runs(spark, lambda: explain_dataframe(df, path, features=features[:2]))
    assert "the model takes" in message
    _no_job_runs(spark, lambda: explain_dataframe(df, path, top_k=0))
    _no_job_runs(spark, lambda: explain_dataframe(df, path, batch_rows=0))


def test_bad_rows_get_null_results_and_an_error(spark, spark_artifacts, rows):
    path = spark_artifacts["kernel"]
    explainer = load(path)
    features = explainer.features
    X = rows["kernel"][:12].copy()
    pdf = pd.DataFrame(X, columns=features)
    pdf.insert(0, "id", np.arange(len(pdf)))
    pdf[features[3]] = [repr(float(v)) for v in X[:, 3]]  # a string column
    pdf.loc[1, features[3]] = "twelve"
    pdf.loc[4, features[3]] = None  # null
    df = spark.createDataFrame(pdf).selectExpr(
        "*",
        # NaN (not null), infinity and a float32 overflow in other rows
        f"case when id = 6 then double('NaN') when id = 8 then double('Infinity') "
        f"when id = 10 then 1e300 else `{features[0]}` end as `_f0`",
    )
    df = df.drop(features[0]).withColumnRenamed("_f0", features[0])
    explained = explain_dataframe(df, path, top_k=2, batch_rows=5)
    out = collect(explained)
    errors = dict(zip(out["id"], out["error"], strict=True))
    missing = (
        "missing value; the preprocessing does not fill it and the model does not handle "
        "missing values"
    )
    assert errors[1] == f"column {features[3]!r}: non-numeric value 'twelve' (expected a number)"
    assert errors[4] == f"column {features[3]!r}: {missing}"  # null
    assert errors[6] == f"column {features[0]!r}: {missing}"  # NaN
    assert errors[8] == f"column {features[0]!r}: infinite value inf"
    assert errors[10] == (
        f"column {features[0]!r}: value 1e+300 is beyond the float32 range the model computes in"
    )
    bad = [1, 4, 6, 8, 10]
    result_columns = [c for c in out.columns if c not in ["id", *features, "error"]]
    assert out.loc[bad, result_columns].isna().all().all()
    good = [i for i in range(len(X)) if i not in bad]
    assert_rows_equal(out.loc[good].reset_index(drop=True), explainer.score(X[good]), top_k=2)
    passed = explained.where("id in (4, 6)").orderBy("id").collect()  # inputs untouched
    assert passed[0][features[3]] is None and np.isnan(passed[1][features[0]])


def test_missing_values_are_scored_when_the_model_takes_them(spark, spark_artifacts, rows):
    path = spark_artifacts["tree"]
    explainer = load(path)
    assert explainer.allow_missing
    X = rows["tree"][:10].copy()
    X[2, 1] = np.nan
    df = spark.createDataFrame(
        pd.DataFrame(X, columns=explainer.features).assign(id=np.arange(10))
    ).selectExpr("*", f"case when id = 5 then null else `{explainer.features[4]}` end as _n")
    df = df.drop(explainer.features[4]).withColumnRenamed("_n", explainer.features[4])
    out = collect(explain_dataframe(df, path))
    X[5, 4] = np.nan  # null is a missing value, as in the service
    assert_rows_equal(out, explainer.score(X))


def test_artifact_loaded_once_per_worker_on_the_runtime_side(spark, spark_artifacts, rows):
    path = spark_artifacts["tree"]
    explainer = load(path)
    df = frame(spark, rows["tree"], explainer.features, partitions=4)
    explain_dataframe(df, path, batch_rows=5).write.format("noop").mode("overwrite").save()

    def report(batches):  # pickled by value: runs in the same (reused) Python workers
        import os
        import sys

        import pyarrow as pa

        from scoring_explainers import spark as module

        heavy = sorted(m for m in ("shap", "sklearn", "lightgbm", "xgboost") if m in sys.modules)
        for batch in batches:
            n = batch.num_rows
            yield pa.RecordBatch.from_pydict(
                {
                    "pid": [os.getpid()] * n,
                    "loads": [max(module.LOADS.values(), default=0)] * n,
                    "heavy": [",".join(heavy)] * n,
                }
            )

    probe = spark.range(0, 64, 1, 16).mapInArrow(report, "pid long, loads long, heavy string")
    seen = probe.distinct().collect()
    # 4 partitions of 60 rows in batches of 5: several batches per worker, one load each
    assert {r.loads for r in seen} <= {0, 1} and 1 in {r.loads for r in seen}
    assert {r.heavy for r in seen} == {""}


@pytest.mark.parametrize("kind", [pytest.param("kernel", marks=pytest.mark.slow), "tree", "linear"])
def test_global_importance_equals_in_process(spark, spark_artifacts, rows, kind, tmp_path):
    path = spark_artifacts[kind]
    explainer = load(path)
    X = rows[kind]
    df = frame(spark, X, explainer.features)
    if kind == "kernel":  # a failing row is left out
        df = df.selectExpr(
            "*", f"case when id = 3 then null else `{explainer.features[0]}` end as _x"
        )
        df = df.drop(explainer.features[0]).withColumnRenamed("_x", explainer.features[0])
    explain_dataframe(df, path).write.parquet(str(tmp_path / "out"))
    explained = spark.read.parquet(str(tmp_path / "out"))  # metadata survives Parquet
    got = global_importance(explained)
    kept = [i for i in range(len(X)) if not (kind == "kernel" and i == 3)]
    result = explainer.score(X[kept])
    want = global_from_local(
        result.local_importance_values,
        model_task=explainer.task,
        include_local=False,
        features=explainer.features,
        classes=explainer.classes,
        expected_values=explainer.expected_values,
        method=f"shap.{kind}",
    )
    assert got.num_examples == len(kept)
    assert got.features == want.features and got.classes == want.classes
    assert got.model_task == want.model_task and got.method == want.method
    np.testing.assert_allclose(got.expected_values, want.expected_values, rtol=0, atol=0)
    np.testing.assert_allclose(
        got.global_importance_values, want.global_importance_values, rtol=1e-12, atol=0
    )
    if kind != "linear":
        np.testing.assert_allclose(got.per_class_values, want.per_class_values, rtol=1e-12)
    assert got.get_ranked_global_names() == want.get_ranked_global_names()


def test_global_importance_needs_explained_rows(spark):
    with pytest.raises(InputError, match="no local importance columns"):
        global_importance(spark.range(3))
