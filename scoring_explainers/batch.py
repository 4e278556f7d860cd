"""Explain a file of rows on Spark: predictions and local importances for every row.

    python -m scoring_explainers.batch --artifact DIR --input PATH --output PATH \\
        [--format parquet|csv] [--master local[*]] [--top-k K]

The input is Parquet or CSV (by its extension, or ``--input-format``; a directory of part
files too). Feature columns follow the artifact's raw schema (see
:func:`scoring_explainers.spark.explain_dataframe`); in CSV a column of the artifact's
string categories is read as text, not inferred (``"1"`` and ``"01"`` stay as written),
and an empty field is a missing value. The output keeps every input column and adds the
columns described there; in CSV the array columns are written as JSON lists. A small
input (one file is one task) is spread over every core first, so the output rows are not
in the input's order. Spark's console progress bar shows the work; at the end the command
prints how many rows were explained (and how many could not be, with the first reasons)
and the global importances (mean absolute local importance per feature).

Exit status: 0 on success, 2 for a usage error, 1 when the artifact or the input cannot be
used (the message says why).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._errors import ScoringExplainersError

__all__ = ["main"]

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from .runtime import RawSchema

FORMATS = ("parquet", "csv")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m scoring_explainers.batch",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--artifact", required=True, type=Path, help="artifact directory")
    parser.add_argument("--input", required=True, type=Path, help="rows to explain")
    parser.add_argument("--output", required=True, type=Path, help="where to write results")
    parser.add_argument("--format", choices=FORMATS, default="parquet", help="output format")
    parser.add_argument(
        "--input-format", choices=FORMATS, default=None, help="default: from the extension"
    )
    parser.add_argument("--master", default="local[*]", help="Spark master (default local[*])")
    parser.add_argument("--top-k", type=int, default=None, help="add the top K features per row")
    parser.add_argument("--batch-rows", type=int, default=1000, help="rows per scoring call")
    parser.add_argument(
        "--distribute",
        action="store_true",
        help="ship the artifact with SparkContext.addFile (when executors cannot read its path)",
    )
    parser.add_argument(
        "--partitions",
        type=int,
        default=None,
        help="spread the rows over at least this many tasks (default: the cores Spark has)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    parser.add_argument("--show", type=int, default=10, help="global importances to print")
    return parser


def _input_format(args: argparse.Namespace, parser: argparse.ArgumentParser) -> str:
    if args.input_format:
        return str(args.input_format)
    suffix: str = args.input.suffix.lower().lstrip(".")
    if suffix in FORMATS:
        return suffix
    if args.input.is_dir():
        kinds = {p.suffix.lower().lstrip(".") for p in args.input.iterdir() if p.is_file()}
        found = [f for f in FORMATS if f in kinds]
        if len(found) == 1:
            return found[0]
    parser.error(f"cannot tell the format of {args.input}: pass --input-format parquet|csv")
    raise AssertionError  # parser.error exits


def _read(spark: SparkSession, path: Path, fmt: str, schema: RawSchema) -> DataFrame:
    """The input rows. A CSV file's column types are inferred, except that a column the
    artifact's schema holds as string categories is read as text (inference would make
    ``"1"``, ``"2"``... integers, or ``"01"`` the number 1): its values stay exactly as
    written. An empty field is null (a missing value)."""
    if fmt != "csv":
        return spark.read.parquet(str(path))
    from pyspark.sql import types as T

    inferred = spark.read.csv(str(path), header=True, inferSchema=True)
    text = {c.name for c in schema.columns if c.kind == "categorical" and c.type == "string"}
    fields = [
        T.StructField(f.name, T.StringType(), True)
        if f.name in text and not isinstance(f.dataType, T.StringType)
        else f
        for f in inferred.schema.fields
    ]
    if fields == inferred.schema.fields:
        return inferred
    return spark.read.csv(str(path), header=True, schema=T.StructType(fields))


def _for_csv(df: DataFrame) -> DataFrame:
    """Array columns as JSON lists (CSV has no arrays)."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    columns = []
    for field in df.schema.fields:
        column = F.col("`" + field.name.replace("`", "``") + "`")
        if isinstance(field.dataType, T.ArrayType):
            column = F.to_json(column).alias(field.name)
        columns.append(column)
    return df.select(*columns)


def _report(explanation: Any, total: int, failed: int, show: int) -> None:
    print(f"explained {total - failed} of {total} rows ({failed} could not be scored)")
    names = explanation.get_ranked_global_names(show)
    values = explanation.get_ranked_global_values(show)
    width = max((len(n) for n in names), default=0)
    print(f"global importance (mean |local importance|, {explanation.num_examples} rows):")
    for name, value in zip(names, values, strict=True):
        print(f"  {name:<{width}}  {value:.6g}")


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Explain ``args.input`` into ``args.output``; return the exit status."""
    from . import spark as se_spark
    from .runtime import load

    if not args.input.exists():
        parser.error(f"input {args.input} does not exist")
    if args.output.exists() and not args.overwrite:
        parser.error(f"output {args.output} exists (pass --overwrite to replace it)")
    if args.top_k is not None and args.top_k < 1:
        parser.error("--top-k must be a positive integer")
    if args.partitions is not None and args.partitions < 1:
        parser.error("--partitions must be a positive integer")
    if args.batch_rows < 1:
        parser.error("--batch-rows must be a positive integer")
    input_format = _input_format(args, parser)
    explainer = load(args.artifact)  # fail fast, before starting a JVM
    spark = se_spark.local_session(args.master, app_name="scoring-explainers batch")
    spark.sparkContext.setLogLevel("ERROR")
    try:
        start = time.perf_counter()
        rows = _read(spark, args.input, input_format, explainer.schema)
        wanted = args.partitions or spark.sparkContext.defaultParallelism
        if rows.rdd.getNumPartitions() < wanted:  # one file is one task: spread the work
            rows = rows.repartition(wanted)
        explained = se_spark.explain_dataframe(
            rows,
            args.artifact,
            top_k=args.top_k,
            batch_rows=args.batch_rows,
            distribute=args.distribute,
        )
        mode = "overwrite" if args.overwrite else "errorifexists"
        if args.format == "parquet":
            explained.write.mode(mode).parquet(str(args.output))
            result = spark.read.parquet(str(args.output))  # no second scoring pass
        else:
            explained = explained.persist()
            _for_csv(explained).write.mode(mode).csv(str(args.output), header=True)
            result = explained
        seconds = time.perf_counter() - start
        error = se_spark.ERROR
        stats = result.selectExpr("count(*)", f"count({error})").collect()[0]
        total, failed = int(stats[0]), int(stats[1])
        print(f"wrote {args.output} ({args.format}) in {seconds:.1f} s")
        if failed:
            reasons = result.where(f"{error} is not null").select(error).limit(3).collect()
            for reason in reasons:
                print(f"  e.g. {reason[0]}")
        if total > failed:
            _report(se_spark.global_importance(result), total, failed, args.show)
        else:
            print(f"explained 0 of {total} rows: no global importance")
        return 0
    finally:
        spark.stop()


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return run(args, parser)
    except ScoringExplainersError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        from pyspark.errors import PySparkException

        if not isinstance(exc, PySparkException):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"error: the Spark job failed: {first}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
