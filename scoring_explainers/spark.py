"""Batch explanations on Apache Spark: every row of a DataFrame scored and explained.

:func:`explain_dataframe` adds predictions, probabilities and local importances to a Spark
DataFrame; :func:`global_importance` aggregates them into a :class:`GlobalExplanation`
without collecting the rows. Rows travel to the Python workers as Arrow record batches
(``mapInArrow``, the Arrow form of ``mapInPandas``): the input columns are passed through
untouched (NaN and null stay distinct; ``mapInPandas`` would turn every NaN of a float
column into null) and no pandas conversion is paid for them.

On the executors only the runtime side runs (numpy + onnxruntime, the ``serve`` extra; plus
pyarrow, which Spark's Arrow exchange needs anyway): the artifact is loaded once per Python
worker, cached by path and manifest hash, with one onnxruntime thread. It reaches the
executors either by a path every executor can read (a shared or cloud file system, the
default) or, with ``distribute=True``, by Spark's file distribution
(``SparkContext.addFile``).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._errors import ArtifactError, InputError
from .runtime import MANIFEST, Column, RawSchema, ScoringExplainer

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import DataType, StructField

    from .explanation import GlobalExplanation

__all__ = [
    "ERROR",
    "IMPORTANCE",
    "PREDICTION",
    "PROBABILITY",
    "TOP_K_FEATURES",
    "TOP_K_VALUES",
    "explain_dataframe",
    "global_importance",
    "importance_columns",
    "local_session",
]

#: Output column names (see :func:`explain_dataframe`).
PREDICTION = "prediction"
PROBABILITY = "probability"
IMPORTANCE = "local_importance"
TOP_K_FEATURES = "top_k_features"
TOP_K_VALUES = "top_k_values"
ERROR = "error"
#: Key of the column metadata that describes an importance column.
METADATA_KEY = "scoring_explainers"


# -- the driver side ------------------------------------------------------------------------
def local_session(
    master: str = "local[*]",
    *,
    app_name: str = "scoring-explainers",
    conf: Mapping[str, str] | None = None,
) -> SparkSession:
    """A SparkSession on this machine, configured for explaining.

    Python workers run this interpreter (``PYSPARK_PYTHON``), numeric libraries use one
    thread per worker (Spark runs one worker per core), the web UI is off and the driver
    binds to 127.0.0.1.

    Parameters
    ----------
    master : str, default="local[*]"
    app_name : str
    conf : mapping of str to str, optional
        More Spark settings; they win over the defaults.

    Returns
    -------
    SparkSession
    """
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    settings = {
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "true",
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.sql.shuffle.partitions": "8",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.python.worker.reuse": "true",
        "spark.executorEnv.OMP_NUM_THREADS": "1",
        "spark.executorEnv.OPENBLAS_NUM_THREADS": "1",
        "spark.executorEnv.MKL_NUM_THREADS": "1",
    }
    settings.update(conf or {})
    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in settings.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


@dataclass(frozen=True)
class _Plan:
    """What a Python worker needs to explain its batches (plain values, cheap to ship)."""

    location: str  # a path, or the file name given to SparkContext.addFile
    distributed: bool
    digest: str  # SHA-256 of manifest.json: the artifact's identity
    columns: tuple[str, ...]  # the DataFrame columns holding the features, in model order
    readers: tuple[str, ...]  # how each is read (see _reader)
    task: str
    n_outputs: int
    prediction_type: str  # "string", "long", "double" or "boolean"
    top_k: int | None
    batch_rows: int
    output_names: tuple[str, ...]


def _manifest_digest(root: Path) -> str:
    try:
        return hashlib.sha256((root / MANIFEST).read_bytes()).hexdigest()
    except OSError as exc:
        raise ArtifactError(MANIFEST, f"cannot read {root / MANIFEST}: {exc}") from exc


def _prediction_type(classes: list[Any] | None) -> str:
    if classes is None:
        return "double"
    if all(isinstance(c, bool) for c in classes):
        return "boolean"
    if all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
        return "long"
    if all(isinstance(c, int | float) and not isinstance(c, bool) for c in classes):
        return "double"
    return "string"


def _spark_type(name: str) -> DataType:
    from pyspark.sql import types as T

    return {
        "string": T.StringType(),
        "long": T.LongType(),
        "double": T.DoubleType(),
        "boolean": T.BooleanType(),
    }[name]


#: How the executors read a feature column of each (schema column, Spark type) pair.
_READ_NUMBER = "number"  # any numeric (or boolean) type, cast to float64; null is NaN
_READ_NUMERIC_TEXT = "numeric-text"  # strings holding numbers, parsed per value
_READ_VALUES = "values"  # the values as they are (strings, integers, booleans)
_READ_INTEGER_TEXT = "integer-text"  # strings holding integer categories, parsed per value
_READ_AS_TEXT = "as-text"  # an integral column of string categories: its decimal text


def _reader(column: Column, dtype: DataType) -> str | None:
    """How to read a Spark column of type ``dtype`` for the schema column ``column``, or
    ``None`` when that type cannot hold its values."""
    from pyspark.sql import types as T

    string = isinstance(dtype, T.StringType)
    boolean = isinstance(dtype, T.BooleanType)
    numeric = isinstance(dtype, T.NumericType)
    integral = isinstance(dtype, T.IntegralType)
    if column.type == "boolean":
        return _READ_VALUES if boolean else None
    if column.kind == "numeric" or column.type == "number":
        if numeric or (boolean and column.kind == "numeric"):
            return _READ_NUMBER
        return _READ_NUMERIC_TEXT if string else None
    if column.type == "string":
        return _READ_VALUES if string else _READ_AS_TEXT if integral else None
    # integer categories
    if integral:
        return _READ_VALUES
    if numeric:
        return _READ_NUMBER  # integral floats are the categories, others unknown values
    return _READ_INTEGER_TEXT if string else None


def _accepted(column: Column) -> str:
    if column.type == "boolean":
        return "boolean"
    if column.kind == "numeric" or column.type == "number":
        return "numeric, boolean, or strings holding numbers"
    if column.type == "string":
        return "strings (or integers, read as their decimal text)"
    return "integers, or strings holding integers"


def _feature_columns(df: DataFrame, features: Sequence[str], schema: RawSchema) -> tuple[str, ...]:
    """Check that every feature column exists once with a type its schema column takes
    (string columns exactly for categories or numbers written as text); say how to read
    each."""
    fields: dict[str, list[StructField]] = {}
    for field in df.schema.fields:
        fields.setdefault(field.name, []).append(field)
    missing = [f for f in features if f not in fields]
    if missing:
        near = {n.lower(): n for n in fields}
        hints = [f"{m!r} (there is {near[m.lower()]!r})" for m in missing if m.lower() in near]
        raise InputError(
            f"missing columns {missing[:10]} (the model takes {len(features)} features)"
            + (f"; names are case-sensitive: {', '.join(hints[:5])}" if hints else "")
        )
    readers = []
    for name, column in zip(features, schema.columns, strict=True):
        if len(fields[name]) > 1:
            raise InputError(f"column {name!r} appears {len(fields[name])} times")
        dtype = fields[name][0].dataType
        reader = _reader(column, dtype)
        if reader is None:
            what = (
                "a number"
                if column.kind == "numeric" and column.type == "number"
                else f"a {column.kind} {column.type}"
            )
            raise InputError(
                f"column {name!r} has type {dtype.simpleString()}: the model's feature "
                f"{column.name!r} is {what}; its column must hold {_accepted(column)}"
            )
        readers.append(reader)
    return tuple(readers)


def _output_fields(explainer: ScoringExplainer, plan_top_k: int | None) -> list[StructField]:
    from pyspark.sql import types as T

    kind = type(explainer).kind
    common = {
        "features": explainer.features,
        "classes": explainer.classes,
        "task": explainer.task,
        "method": kind,
        "output_space": explainer.output_space,
        "is_raw": explainer.preprocessor is not None,
    }
    expected = explainer.expected_values.tolist()
    doubles = T.ArrayType(T.DoubleType(), containsNull=False)
    fields = [T.StructField(PREDICTION, _spark_type(_prediction_type(explainer.classes)))]
    if explainer.task == "classification":
        fields.append(T.StructField(PROBABILITY, doubles))
        for i, label in enumerate(explainer.classes or []):
            meta = {**common, "class_index": i, "class": label, "expected_value": expected[i]}
            fields.append(T.StructField(f"{IMPORTANCE}_{i}", doubles, True, {METADATA_KEY: meta}))
    else:
        meta = {**common, "class_index": None, "class": None, "expected_value": expected[0]}
        fields.append(T.StructField(IMPORTANCE, doubles, True, {METADATA_KEY: meta}))
    if plan_top_k is not None:
        fields.append(T.StructField(TOP_K_FEATURES, T.ArrayType(T.StringType(), False)))
        fields.append(T.StructField(TOP_K_VALUES, doubles))
    fields.append(T.StructField(ERROR, T.StringType()))
    return fields


def _stage_for_distribution(root: Path, digest: str) -> Path:
    """A copy of the artifact under a name unique to its content, for ``addFile``."""
    staged = Path(tempfile.gettempdir()) / "scoring-explainers-spark" / f"artifact-{digest[:20]}"
    if not staged.is_dir():
        staged.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=".staging-", dir=staged.parent))
        listed = json.loads((root / MANIFEST).read_text(encoding="utf-8")).get("files", {})
        for name in (MANIFEST, *sorted(listed)):
            shutil.copyfile(root / name, scratch / name)
        try:
            scratch.rename(staged)
        except OSError:  # staged by someone else meanwhile: theirs is the same content
            shutil.rmtree(scratch, ignore_errors=True)
    return staged


def explain_dataframe(
    df: DataFrame,
    artifact: str | os.PathLike[str],
    *,
    features: Sequence[str] | None = None,
    top_k: int | None = None,
    batch_rows: int = 1000,
    distribute: bool = False,
) -> DataFrame:
    """Add predictions and local importances to every row of ``df``.

    Lazy, like any Spark transformation: nothing runs until an action (``write``,
    ``count``...). Everything that can be checked without data is checked now, before any
    Spark job: the artifact loads and verifies on the driver, the feature columns exist with
    a usable type, the output names are free.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        Rows to explain; every column is kept. Each feature column's type must fit the
        artifact's raw schema (:attr:`ScoringExplainer.schema`): a number column is
        numeric, boolean, or strings holding numbers (parsed per value, e.g. a CSV read
        without a schema); a string-category column is strings (an integral column, as a
        CSV read with ``inferSchema`` gives for ``"1"``, ``"2"``..., is read as its decimal
        text); an integer-category column is integral, floating (integral values) or
        strings holding integers; a boolean column is boolean. A null is a missing value.
    artifact : path
        An artifact directory (:func:`scoring_explainers.scoring.save`). Without
        ``distribute`` it must be readable at this path by every executor (local mode, a
        shared or mounted file system).
    features : sequence of str, optional
        The columns of ``df`` holding the model's features, in the artifact's feature order;
        default: the artifact's feature names.
    top_k : int, optional
        Also add the ``top_k`` features with the largest absolute importance per row (of the
        predicted class for classification).
    batch_rows : int, default=1000
        Rows scored per call on an executor (an Arrow batch larger than this is split).
    distribute : bool, default=False
        Ship the artifact to the executors with ``SparkContext.addFile`` instead of reading
        it from ``artifact``'s path.

    Returns
    -------
    pyspark.sql.DataFrame
        The columns of ``df`` followed by:

        - ``prediction``: the class label (string, long, double or boolean, as the classes
          are) or the predicted value (double, regression);
        - ``probability``: ``array<double>`` of shape (n_classes,), in the order of the
          artifact's classes (classification only);
        - ``local_importance_{i}``: ``array<double>`` of shape (n_features,), the importances
          for class ``classes[i]`` (classification, one column per class, two for a binary
          model), or ``local_importance`` (regression); features in the artifact's order.
          Each column's metadata (key ``"scoring_explainers"``) holds the feature names, the
          class label, the expected value and the output space;
        - ``top_k_features`` (``array<string>``) and ``top_k_values`` (``array<double>``)
          when ``top_k`` is given;
        - ``error``: null for a scored row; for a row that cannot be scored the reason
          (its first bad value, checked by the schema exactly as ``score`` checks it: a
          missing value the preprocessing does not fill and the model does not handle, an
          unknown category of a column whose fitted encoder raises for it, text in a number
          column, an infinite or too large value), e.g. ``column 'embarked': unknown
          category 'Z'; ...``, with every result column of that row null. Unknown
          categories of other columns are scored as the fitted encoder treats them.

    Raises
    ------
    InputError
        Missing or wrongly typed feature columns, output names already taken, bad options.
    ArtifactError
        The artifact does not load.
    """
    from .runtime import load

    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise InputError(f"top_k must be a positive integer, got {top_k!r}")
    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1:
        raise InputError(f"batch_rows must be a positive integer, got {batch_rows!r}")
    root = Path(artifact).resolve()
    explainer = load(root, threads=1)
    digest = _manifest_digest(root)
    columns = list(explainer.features if features is None else features)
    if len(columns) != explainer.n_features:
        raise InputError(
            f"features names {len(columns)} columns, the model takes {explainer.n_features}"
        )
    readers = _feature_columns(df, columns, explainer.schema)
    new_fields = _output_fields(explainer, top_k)
    taken = {name.lower() for name in df.columns}
    clash = [f.name for f in new_fields if f.name.lower() in taken]
    if clash:
        raise InputError(
            f"the DataFrame already has column(s) {clash}: rename or drop them before explaining"
        )
    location = str(root)
    if distribute:
        staged = _stage_for_distribution(root, digest)
        context = df.sparkSession.sparkContext
        if staged.name not in {Path(p).name for p in context.listFiles}:
            context.addFile(str(staged), recursive=True)
        location = staged.name
    plan = _Plan(
        location=location,
        distributed=distribute,
        digest=digest,
        columns=tuple(columns),
        readers=readers,
        task=explainer.task,
        n_outputs=len(explainer.expected_values),
        prediction_type=_prediction_type(explainer.classes),
        top_k=None if top_k is None else min(top_k, explainer.n_features),
        batch_rows=batch_rows,
        output_names=tuple(f.name for f in new_fields),
    )
    from pyspark.sql import types as T

    original = list(df.columns)
    if any("." in name or "`" in name for name in original):
        # mapInArrow resolves every input column by name, which fails for these names:
        # run it on positional names and give the columns theirs back afterwards
        positional = [f"_column_{i}" for i in range(len(original))]
        renamed = dict(zip(original, positional, strict=True))
        plan = replace(plan, columns=tuple(renamed[c] for c in plan.columns))
        safe = df.toDF(*positional)
        schema = T.StructType([*safe.schema.fields, *new_fields])
        explained = safe.mapInArrow(partial(_explain_batches, plan=plan), schema)
        return explained.toDF(*original, *(f.name for f in new_fields))
    schema = T.StructType([*df.schema.fields, *new_fields])
    return df.mapInArrow(partial(_explain_batches, plan=plan), schema)


def importance_columns(df: DataFrame) -> list[tuple[str, dict[str, Any]]]:
    """The local importance columns of an explained DataFrame and their metadata, by class."""
    found = [
        (f.name, f.metadata[METADATA_KEY])
        for f in df.schema.fields
        if isinstance(f.metadata.get(METADATA_KEY), dict)
    ]
    return sorted(found, key=lambda item: item[1].get("class_index") or 0)


def global_importance(df: DataFrame) -> GlobalExplanation:
    """Global importances of an explained DataFrame, aggregated by Spark.

    The one definition (see :mod:`scoring_explainers.explanation`): the mean absolute local
    value per feature and class over the explained rows, then the mean over classes. Rows
    whose explanation failed (null importances) are left out. Only ``n_classes *
    n_features`` numbers come back to the driver; the result equals
    :func:`scoring_explainers.explanation.global_from_local` on the same rows (up to the
    order of floating-point summation).

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        An output of :func:`explain_dataframe` (or that output read back from Parquet):
        its importance columns are found by their metadata.

    Returns
    -------
    GlobalExplanation
        Without local values; ``num_examples`` is the number of explained rows.

    Raises
    ------
    InputError
        No importance columns, inconsistent metadata, or no explained rows.
    """
    from pyspark.sql import functions as F

    from .explanation import GlobalExplanation

    columns = importance_columns(df)
    if not columns:
        raise InputError(
            "no local importance columns: global_importance takes the output of "
            "explain_dataframe (or it read back from Parquet, which keeps column metadata)"
        )
    first = columns[0][1]
    features, task = list(first["features"]), first["task"]
    if any(meta["features"] != features or meta["task"] != task for _, meta in columns):
        raise InputError("importance columns disagree on the features or the task")
    n = len(features)

    def quoted(name: str) -> Any:
        return F.col("`" + name.replace("`", "``") + "`")

    aggregates = [F.avg(F.abs(quoted(name).getItem(j))) for name, _ in columns for j in range(n)]
    counted = F.count(quoted(columns[0][0])).alias("rows")
    row = df.agg(counted, *aggregates).collect()[0]
    count = int(row[0])
    if count == 0:
        raise InputError("no explained rows: every row is null or failed (see the error column)")
    magnitude = np.array(row[1:], dtype=np.float64).reshape(len(columns), n)
    per_class = magnitude if task == "classification" else None
    return GlobalExplanation(
        global_importance_values=magnitude.mean(axis=0),
        per_class_values=per_class,
        num_examples=count,
        features=features,
        classes=first["classes"] if task == "classification" else None,
        expected_values=[meta["expected_value"] for _, meta in columns],
        method=f"shap.{first['method']}",
        model_task=task,
        is_raw=bool(first.get("is_raw", False)),
        metadata={"output_space": first["output_space"], "aggregated_by": "spark"},
    )


# -- the executor side ----------------------------------------------------------------------
_LOCK = threading.Lock()
_EXPLAINERS: dict[tuple[str, str], ScoringExplainer] = {}
#: How many times each artifact was loaded in this process (tests check "once per worker").
LOADS: dict[tuple[str, str], int] = {}


def _limit_threads() -> None:
    """One thread for BLAS/OpenMP pools in this worker (Spark runs one worker per core)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # the OMP/OPENBLAS_NUM_THREADS settings of local_session still apply
        return
    threadpool_limits(1)


def _artifact_path(plan: _Plan) -> Path:
    if plan.distributed:
        from pyspark import SparkFiles

        return Path(SparkFiles.get(plan.location))
    return Path(plan.location)


def _explainer(plan: _Plan) -> ScoringExplainer:
    """The plan's artifact, loaded at most once per Python worker process."""
    key = (plan.location, plan.digest)
    with _LOCK:
        cached = _EXPLAINERS.get(key)
        if cached is not None:
            return cached
        from .runtime import load

        path = _artifact_path(plan)
        if _manifest_digest(path) != plan.digest:
            raise ArtifactError(
                MANIFEST,
                f"the artifact at {path} on this executor is not the one given to "
                "explain_dataframe (its manifest differs); use a path every executor reads "
                "identically, or distribute=True",
            )
        if not _EXPLAINERS:
            _limit_threads()
        explainer = load(path, threads=1)
        _EXPLAINERS[key] = explainer
        LOADS[key] = LOADS.get(key, 0) + 1
        return explainer


def _explain_batches(batches: Iterator[pa.RecordBatch], plan: _Plan) -> Iterator[pa.RecordBatch]:
    explainer: ScoringExplainer | None = None
    for batch in batches:
        for start in range(0, batch.num_rows, plan.batch_rows):
            part = batch.slice(start, plan.batch_rows)
            if explainer is None:
                explainer = _explainer(plan)
            yield _explain_batch(explainer, part, plan)


def _number_or_text(value: Any) -> Any:
    """A number written as text, as a float; text that is no number stays text (the schema
    then says what is wrong with it)."""
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return value


def _integer_or_text(value: Any) -> Any:
    """An integer category written as text, as an int (``"3.0"`` as 3.0); else the text."""
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        return value


def _column_values(column: pa.Array | pa.ChunkedArray, reader: str) -> np.ndarray:
    """One feature column as a float64 array (numbers) or an object array (values)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if reader == _READ_NUMBER:
        return np.asarray(pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False))
    if reader == _READ_AS_TEXT:
        column = pc.cast(column, pa.string())
    if reader in (_READ_NUMERIC_TEXT, _READ_INTEGER_TEXT):
        parse = _number_or_text if reader == _READ_NUMERIC_TEXT else _integer_or_text
        out = np.empty(len(column), dtype=object)
        out[:] = [parse(v) for v in column.to_pylist()]
        return out
    values = np.asarray(column.to_numpy(zero_copy_only=False))
    if values.dtype.kind not in "biufO":
        values = values.astype(object)
    return values


def _feature_matrix(
    batch: pa.RecordBatch, plan: _Plan, schema: RawSchema
) -> tuple[np.ndarray, list[str | None]]:
    """The batch's rows encoded by the artifact's schema (n_rows, n_features), and the
    reason each bad row cannot be scored (``None`` for a good row).

    Every value is checked once, by :meth:`RawSchema.encode` (as in-process ``score`` and
    the service check it): missing values where the column takes none, unknown categories
    of a column whose encoder raises for them, text in a number column, infinite values
    and values beyond float32.
    """
    n = batch.num_rows
    columns = [
        _column_values(batch.column(batch.schema.get_field_index(name)), reader)
        for name, reader in zip(plan.columns, plan.readers, strict=True)
    ]
    if all(values.dtype == np.float64 for values in columns):
        matrix = np.column_stack(columns) if columns else np.zeros((n, 0))
    else:
        matrix = np.empty((n, len(columns)), dtype=object)
        for j, values in enumerate(columns):
            matrix[:, j] = values
    codes, problems = schema.encode(matrix, errors="collect")
    errors: list[str | None] = [None] * n
    for row, text in problems:
        prefix = f"row {row}, "  # the row is the one this error column belongs to
        errors[row] = text[len(prefix) :] if text.startswith(prefix) else text
    return codes, errors


@dataclass
class _Scored:
    """Results of the scored rows of one batch (``rows`` are their positions)."""

    rows: np.ndarray
    predictions: list[Any]
    probabilities: np.ndarray | None
    importances: np.ndarray  # (n_outputs, n_rows, n_features)
    top_names: list[list[str]] | None
    top_values: np.ndarray | None


def _score(
    explainer: ScoringExplainer, matrix: np.ndarray, rows: np.ndarray, plan: _Plan
) -> _Scored:
    result = explainer.score_codes(matrix)
    values = result.local_importance_values
    names, top = (None, None) if plan.top_k is None else result.top_features(plan.top_k)
    return _Scored(
        rows=rows,
        predictions=result.predictions.tolist(),
        probabilities=result.probabilities,
        importances=values if values.ndim == 3 else values[None],
        top_names=names,
        top_values=top,
    )


def _score_rows(
    explainer: ScoringExplainer, matrix: np.ndarray, errors: list[str | None], plan: _Plan
) -> list[_Scored]:
    """Score the good rows in one call; if that fails on a value, row by row."""
    good = np.array([e is None for e in errors], dtype=bool)
    rows = np.flatnonzero(good)
    if len(rows) == 0:
        return []
    try:
        return [_score(explainer, matrix[rows], rows, plan)]
    except InputError:
        pass
    scored = []
    for i in rows.tolist():
        try:
            scored.append(_score(explainer, matrix[i : i + 1], np.array([i]), plan))
        except InputError as exc:
            errors[i] = str(exc)
    return scored


def _arrow_types() -> dict[str, Any]:
    import pyarrow as pa

    return {"string": pa.string, "long": pa.int64, "double": pa.float64, "boolean": pa.bool_}


def _lists(values: np.ndarray, rows: np.ndarray, n: int, value_type: pa.DataType) -> pa.Array:
    """List array: ``values[k]`` (a row of numbers) at position ``rows[k]``, null elsewhere."""
    import pyarrow as pa

    width = values.shape[1] if values.ndim == 2 else 0
    lengths = np.zeros(n, dtype=np.int32)
    lengths[rows] = width
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    order = np.argsort(rows, kind="stable")
    flat = pa.array(np.ascontiguousarray(values[order]).reshape(-1), type=value_type)
    mask = np.ones(n, dtype=bool)
    mask[rows] = False
    return pa.ListArray.from_arrays(pa.array(offsets), flat, mask=pa.array(mask))


def _explain_batch(
    explainer: ScoringExplainer, batch: pa.RecordBatch, plan: _Plan
) -> pa.RecordBatch:
    """The batch with the result columns appended (null results and an error for bad rows)."""
    import pyarrow as pa

    n = batch.num_rows
    if n:
        matrix, errors = _feature_matrix(batch, plan, explainer.schema)
        scored = _score_rows(explainer, matrix, errors, plan)
    else:
        errors, scored = [], []
    rows = np.concatenate([s.rows for s in scored]) if scored else np.zeros(0, dtype=np.int64)
    m, k = len(plan.columns), plan.n_outputs
    predictions: list[Any] = [None] * n
    for s in scored:
        for i, p in zip(s.rows.tolist(), s.predictions, strict=True):
            predictions[i] = p
    if plan.prediction_type == "double":
        predictions = [None if p is None or math.isnan(p) else float(p) for p in predictions]
    elif plan.prediction_type == "string":
        predictions = [None if p is None else str(p) for p in predictions]
    arrays: list[pa.Array] = [pa.array(predictions, type=_arrow_types()[plan.prediction_type]())]
    if plan.task == "classification":
        proba = [s.probabilities for s in scored if s.probabilities is not None]
        stacked = np.concatenate(proba) if proba else np.zeros((0, k))
        arrays.append(_lists(stacked, rows, n, pa.float64()))
    outputs = k if plan.task == "classification" else 1
    importances = (
        np.concatenate([s.importances for s in scored], axis=1)
        if scored
        else np.zeros((outputs, 0, m))
    )
    for values in importances:
        arrays.append(_lists(values, rows, n, pa.float64()))
    if plan.top_k is not None:
        names = [row for s in scored for row in (s.top_names or [])]
        top = [s.top_values for s in scored if s.top_values is not None]
        name_matrix = np.empty((len(rows), plan.top_k), dtype=object)
        name_matrix[:] = names if names else name_matrix
        arrays.append(_lists(name_matrix, rows, n, pa.string()))
        top_matrix = np.concatenate(top) if top else np.zeros((0, plan.top_k))
        arrays.append(_lists(top_matrix, rows, n, pa.float64()))
    arrays.append(pa.array(errors, type=pa.string()))
    return pa.RecordBatch.from_arrays(
        [*batch.columns, *arrays], names=[*batch.schema.names, *plan.output_names]
    )
