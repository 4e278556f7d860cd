"""The manifest of an artifact: strict parsing, the checks every version shares, and one
reader per format version.

``READERS`` maps each format version this library reads to its reader; each takes the parsed
manifest (already through the common checks) and returns the in-memory :class:`RawSchema`,
so everything after the manifest works the same whatever version wrote it:

- version 1 (no raw schema): every raw column numeric; NaN accepted where the model handles
  missing values (``allow_missing``) or a ``preprocess.onnx`` may fill it (the model input
  is still checked after the preprocessing, as version 1 did);
- version 2 (written now): ``raw_schema`` names each raw column's kind, value type,
  categories, whether missing values are allowed and the unknown-category policy.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable
from typing import Any, cast

from .._errors import ArtifactError
from ._artifact_arrays import ARRAYS
from ._registry import KINDS
from ._schema import RawSchema

__all__ = [
    "FORMAT_VERSION",
    "MANIFEST",
    "MODEL",
    "PREPROCESS",
    "READERS",
    "parse_manifest",
    "read_v1",
    "read_v2",
]

#: Integer version of the on-disk format this library writes.
FORMAT_VERSION = 2
MANIFEST = "manifest.json"
MODEL = "model.onnx"
PREPROCESS = "preprocess.onnx"

_TASKS = ("classification", "regression")
_SPACES = ("probability", "log_odds", "raw")


def _require(cond: bool, file: str, problem: str) -> None:
    if not cond:
        raise ArtifactError(file, problem)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is beyond the range of a float")
    return value


def _finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer beyond float64
        return False


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        counts = Counter(k for k, _ in pairs)
        raise ValueError(f"repeated keys {sorted(k for k, n in counts.items() if n > 1)}")
    return result


def _parse_json(data: bytes) -> Any:
    """Strict JSON: no NaN/Infinity literals, no overflowing numbers, no repeated keys."""
    try:
        return json.loads(
            data.decode("utf-8"),
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
            object_pairs_hook=_no_duplicate_keys,
        )
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ArtifactError(MANIFEST, f"not valid JSON: {exc}") from exc


def _repeated(values: list[Any], at_most: int = 10) -> list[Any]:
    """The first ``at_most`` values that occur more than once (JSON equality)."""
    seen: set[str] = set()
    repeated: dict[str, Any] = {}
    for value in values:
        key = json.dumps(value, sort_keys=True)
        if key in seen and len(repeated) < at_most:
            repeated.setdefault(key, value)
        seen.add(key)
    return list(repeated.values())


def _names(manifest: dict[str, Any], key: str, default: Any = None) -> list[str]:
    names = manifest.get(key, default)
    _require(
        isinstance(names, list) and len(names) > 0 and all(isinstance(f, str) for f in names),
        MANIFEST,
        f"{key} must be a non-empty list of names",
    )
    repeated = _repeated(names)
    _require(not repeated, MANIFEST, f"{key} names {repeated} more than once")
    return cast("list[str]", names)


def _check_common(manifest: Any) -> None:
    """The checks every format version shares: kind, task, names, classes, expected
    values, files, settings."""
    _require(
        isinstance(manifest.get("kind"), str) and manifest["kind"] in KINDS,
        MANIFEST,
        f"unknown explainer kind {manifest.get('kind')!r} (known: {sorted(KINDS)})",
    )
    _require(manifest.get("task") in _TASKS, MANIFEST, f"task must be one of {_TASKS}")
    _require(
        manifest.get("output_space") in _SPACES, MANIFEST, f"output_space must be one of {_SPACES}"
    )
    features = _names(manifest, "features")
    classes = manifest.get("classes")
    if manifest["task"] == "classification":
        _require(
            isinstance(classes, list) and len(classes) >= 2,
            MANIFEST,
            "a classifier needs a list of at least two classes",
        )
        repeated = _repeated(classes)
        _require(not repeated, MANIFEST, f"classes names {repeated} more than once")
    expected = manifest.get("expected_values")
    n_outputs = len(classes) if manifest["task"] == "classification" else 1
    _require(
        isinstance(expected, list)
        and len(expected) == n_outputs
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in expected),
        MANIFEST,
        f"expected_values must be {n_outputs} number(s)",
    )
    _require(
        all(_finite(v) for v in expected),
        MANIFEST,
        f"expected_values must be finite float64 numbers, not {expected}",
    )
    files = manifest.get("files")
    _require(
        isinstance(files, dict)
        and set(files) - {PREPROCESS} == {MODEL, ARRAYS}
        and all(isinstance(d, str) for d in files.values()),
        MANIFEST,
        f"files must list {MODEL} and {ARRAYS} (and optionally {PREPROCESS}) with their SHA-256",
    )
    raw = _names(manifest, "raw_features", features)
    _require(
        PREPROCESS in files or raw == features,
        MANIFEST,
        f"raw_features differ from features without a {PREPROCESS}",
    )
    for key in ("settings", "metadata", "arrays"):
        _require(isinstance(manifest.get(key, {}), dict), MANIFEST, f"{key} must be an object")
    model_classes = manifest.get("metadata", {}).get("model_classes")
    if model_classes is not None:
        _require(
            isinstance(model_classes, list)
            and isinstance(classes, list)
            and len(model_classes) == len(classes),
            MANIFEST,
            "metadata.model_classes must list one model label per class",
        )


def read_v1(manifest: dict[str, Any]) -> RawSchema:
    """Version 1: the raw columns are all numeric (``raw_features``, else ``features``)."""
    _require(
        "raw_schema" not in manifest,
        MANIFEST,
        "raw_schema is not part of format version 1 (a version-2 manifest says so)",
    )
    names = manifest.get("raw_features", manifest["features"])
    missing = bool(manifest.get("allow_missing", False)) or PREPROCESS in manifest["files"]
    return RawSchema.numeric(names, missing=missing)


def read_v2(manifest: dict[str, Any]) -> RawSchema:
    """Version 2: ``raw_schema`` describes every raw column, in ``raw_features`` order."""
    _require("raw_schema" in manifest, MANIFEST, "raw_schema missing (format version 2)")
    try:
        schema = RawSchema.from_json(manifest["raw_schema"])
    except ValueError as exc:
        raise ArtifactError(MANIFEST, f"raw_schema: {exc}") from exc
    raw = manifest.get("raw_features", manifest["features"])
    _require(
        schema.names == raw,
        MANIFEST,
        f"raw_schema names {schema.names[:10]} differ from raw_features {raw[:10]}",
    )
    _require(
        PREPROCESS in manifest["files"] or schema.numeric_only or len(schema) == len(raw),
        MANIFEST,
        "raw_schema does not fit the model's features",
    )
    return schema


#: The reader of each format version this library reads.
READERS: dict[int, Callable[[dict[str, Any]], RawSchema]] = {1: read_v1, 2: read_v2}


def parse_manifest(data: bytes) -> tuple[dict[str, Any], RawSchema]:
    """Parse and check ``manifest.json``; return it with the artifact's raw schema.

    Raises
    ------
    ArtifactError
        Naming ``manifest.json`` and the problem.
    """
    manifest = _parse_json(data)
    _require(isinstance(manifest, dict), MANIFEST, "must be a JSON object")
    version = manifest.get("format_version")
    _require(
        isinstance(version, int) and not isinstance(version, bool),
        MANIFEST,
        "format_version missing or not an integer",
    )
    reader = READERS.get(version)
    _require(
        reader is not None,
        MANIFEST,
        f"unknown format version {version} (this library reads versions "
        f"{', '.join(map(str, sorted(READERS)))})",
    )
    assert reader is not None
    _check_common(manifest)
    return manifest, reader(manifest)
