"""Spark and the batch command on raw rows with string and integer categories: nulls,
unknown categories (scored, or the row's error when the encoder raises), CSV columns that
inference reads as numbers; every result equals in-process ``score`` on the same rows."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from scoring_explainers import InputError
from scoring_explainers.scoring import load
from scoring_explainers.spark import explain_dataframe

from . import categorical
from .conftest import requires_java
from .test_explain import _no_job_runs, assert_rows_equal, collect

pytestmark = [
    pytest.mark.filterwarnings("ignore::FutureWarning"),  # pyspark on pandas 3
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]
EMBARKED_UNKNOWN = (
    "column 'embarked': unknown category 'Z'; the fitted encoder raises for it "
    "(known: ['C', 'Q', 'S'])"
)
EMBARKED_MISSING = (
    "column 'embarked': missing value; the preprocessing does not fill it and the model "
    "does not handle missing values"
)


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    return categorical.build(tmp_path_factory.mktemp("categorical") / "artifact")


def raw_rows(n: int = 40) -> pd.DataFrame:
    """Rows with nulls, unknown categories of "code" columns, and two bad rows."""
    rows = categorical.rows(n, 7)
    rows.loc[1, "sex"] = "Z"  # unknown, own code
    rows.loc[2, "deck"] = "9"  # unknown, own code
    rows.loc[3, "pclass"] = 7  # unknown integer category, own code
    rows.loc[4, ["sex", "deck", "age"]] = [None, None, np.nan]  # missing where allowed
    rows.loc[5, "embarked"] = "Z"  # unknown, the encoder raises: this row's error
    rows.loc[6, "embarked"] = None  # missing, not allowed: this row's error
    rows.insert(0, "id", np.arange(n))
    return rows


BAD = {5: EMBARKED_UNKNOWN, 6: EMBARKED_MISSING}


def check(out: pd.DataFrame, rows: pd.DataFrame, explainer) -> None:
    """Bad rows carry their error and null results; the others equal in-process score."""
    out = out.sort_values("id").reset_index(drop=True)
    assert len(out) == len(rows)
    errors = {i: e for i, e in zip(out["id"], out["error"], strict=True) if isinstance(e, str)}
    assert errors == BAD
    assert out.loc[list(BAD), "prediction"].isna().all()
    assert out.loc[list(BAD), "local_importance_1"].isna().all()
    good = [i for i in range(len(rows)) if i not in BAD]
    expected = explainer.score(rows.loc[good, explainer.features])
    assert set(expected.predictions.tolist()) == {"died", "survived"}
    assert_rows_equal(out.loc[good].reset_index(drop=True), expected, top_k=2)


def test_string_columns_equal_in_process_scores(spark, artifact):
    explainer = load(artifact)
    rows = raw_rows()
    df = spark.createDataFrame(rows).repartition(3)
    assert dict(df.dtypes)["sex"] == "string" and dict(df.dtypes)["pclass"] == "bigint"
    explained = explain_dataframe(df, artifact, top_k=2, batch_rows=7)
    out = collect(explained)
    check(out, rows, explainer)
    kept = [v if isinstance(v, str) else None for v in out["sex"]]
    assert kept == rows["sex"].tolist()  # inputs untouched


def test_category_columns_of_other_spark_types(spark, artifact):
    """Integer-looking string categories given as integers are read as their text; integer
    categories given as text or as doubles are parsed; text in the number column too."""
    explainer = load(artifact)
    rows = raw_rows(20)
    pdf = rows.assign(
        deck=[None if v is None else int(v) for v in rows["deck"]],
        pclass=[str(v) for v in rows["pclass"]],
        age=[None if np.isnan(v) else repr(float(v)) for v in rows["age"]],
    )
    pdf["deck"] = pdf["deck"].astype("Int64")
    df = spark.createDataFrame(pdf)
    assert dict(df.dtypes)["deck"] == "bigint" and dict(df.dtypes)["pclass"] == "string"
    check(collect(explain_dataframe(df, artifact, top_k=2)), rows, explainer)
    doubles = spark.createDataFrame(rows.assign(pclass=rows["pclass"].astype(float)))
    check(collect(explain_dataframe(doubles, artifact, top_k=2)), rows, explainer)


def test_text_that_is_no_category_value_is_the_rows_error(spark, artifact):
    rows = raw_rows(8)
    rows["pclass"] = rows["pclass"].astype(str)
    rows["age"] = [None if v != v else str(v) for v in rows["age"]]
    rows.loc[0, "pclass"] = "first"
    rows.loc[2, "age"] = "old"
    out = collect(explain_dataframe(spark.createDataFrame(rows), artifact))
    errors = dict(zip(out["id"], out["error"], strict=True))
    assert errors[0] == "column 'pclass': expected an integer category, got 'first'"
    assert errors[2] == "column 'age': non-numeric value 'old' (expected a number)"
    assert errors[5] == EMBARKED_UNKNOWN
    assert out.loc[[1, 3, 4], "error"].isna().all()


def test_column_types_are_checked_by_the_schema_before_any_job(spark, artifact):
    rows = raw_rows(8)
    numbers = spark.createDataFrame(rows.assign(sex=1.5))
    message = _no_job_runs(spark, lambda: explain_dataframe(numbers, artifact))
    assert message == (
        "column 'sex' has type double: the model's feature 'sex' is a categorical string; "
        "its column must hold strings (or integers, read as their decimal text)"
    )
    flags = spark.createDataFrame(rows.assign(pclass=True))
    message = _no_job_runs(spark, lambda: explain_dataframe(flags, artifact))
    assert message.startswith("column 'pclass' has type boolean: ")
    assert message.endswith("integers, or strings holding integers")
    arrays = spark.createDataFrame(rows).drop("age").selectExpr("*", "array(double(1)) as age")
    message = _no_job_runs(spark, lambda: explain_dataframe(arrays, artifact))
    assert message.startswith("column 'age' has type array<double>: ")
    assert message.endswith("numeric, boolean, or strings holding numbers")
    with pytest.raises(InputError, match="missing columns"):
        explain_dataframe(spark.createDataFrame(rows.drop(columns="deck")), artifact)


def run_batch(*args, timeout=240):
    return subprocess.run(
        [sys.executable, "-m", "scoring_explainers.batch", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _lists(out: pd.DataFrame) -> pd.DataFrame:
    """CSV output: the JSON lists back to lists."""
    for name in out.columns:
        if name in ("probability", "top_k_values", "top_k_features") or name.startswith(
            "local_importance"
        ):
            out[name] = [None if isinstance(v, float) else json.loads(v) for v in out[name]]
    return out


@pytest.mark.slow
@requires_java
@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_batch_command_with_string_columns(artifact, tmp_path, fmt):
    explainer = load(artifact)
    rows = raw_rows(30)
    source = tmp_path / f"rows.{fmt}"
    if fmt == "parquet":
        rows.to_parquet(source)
    else:
        rows.to_csv(source, index=False)  # deck "1", "2", "3" looks like integers
        assert source.read_text().splitlines()[1].count(",") == 5
    done = run_batch(
        "--artifact", artifact, "--input", source, "--output", tmp_path / "out",
        "--format", fmt, "--master", "local[2]", "--top-k", "2",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    if fmt == "parquet":
        out = pd.read_parquet(tmp_path / "out")
    else:
        parts = sorted((tmp_path / "out").glob("part-*.csv"))
        kinds = {"deck": object, "error": object, "prediction": object}
        out = _lists(
            pd.concat(
                [pd.read_csv(p, dtype=kinds, escapechar="\\") for p in parts], ignore_index=True
            )
        )
        assert sorted(set(out["deck"].dropna())) == ["1", "2", "3", "9"]
    check(out, rows, explainer)
    assert f"explained {len(rows) - 2} of {len(rows)} rows (2 could not be scored)" in (
        done.stdout.splitlines()
    )
