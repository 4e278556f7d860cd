"""What the store keeps for one explanation, and the bodies it answers with.

An upload is ``{"explanation": <LocalExplanation.to_dict()>, "comment": str | null,
"true_ys": [...] | null}``. It is checked by the explanation classes themselves (layout,
finite values) plus the row counts they leave open (evaluation data, predictions, labels),
then kept as three JSON blobs: the explanation as uploaded, a *summary* (everything but the
per-row arrays, with the global values by the one definition) that answers ``top_k``
downloads without reading the rows, and the true labels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson

from scoring_explainers import InputError
from scoring_explainers.explanation import JSON_VERSION, GlobalExplanation, LocalExplanation

from ..payload import MalformedBody

__all__ = [
    "NewRecord",
    "check_id",
    "download_body",
    "parse_upload",
    "top_k_explanation",
]

#: Run and explanation ids: letters, digits and ``._:-``, at most 128 characters.
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
MAX_COMMENT = 1000
#: Deepest nesting of the free-form ``metadata`` member (the stored JSON must stay
#: encodable, and nothing in an explanation's own members nests deeper than 3).
MAX_METADATA_DEPTH = 32
#: Explanation ids that would be read as a path of their own (``/{run_id}/latest``).
RESERVED_IDS = frozenset({"latest"})
KINDS = ("local", "global")
UPLOAD_KEYS = frozenset({"explanation", "comment", "true_ys"})
#: Members of the explanation's JSON form kept per row (left out of the summary).
ROW_MEMBERS = (
    "local_importance_values",
    "standard_errors",
    "eval_data",
    "eval_y_predicted",
    "eval_y_predicted_proba",
)


def check_id(value: Any, what: str) -> str:
    """``value`` when it is a valid run or explanation id; otherwise an :class:`InputError`."""
    if not isinstance(value, str):
        raise InputError(f"{what} must be a string, got {type(value).__name__}")
    if not ID_PATTERN.fullmatch(value):
        raise InputError(
            f"{what} must be 1-128 letters, digits or '._:-' (starting with a letter or "
            f"digit), got {value[:140]!r}"
        )
    return value


def check_comment(value: Any, what: str = "comment") -> str | None:
    """``value`` when it is ``None`` or a usable comment; otherwise an :class:`InputError`.

    (NUL characters are refused: PostgreSQL text cannot hold them.)
    """
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_COMMENT:
        raise InputError(f"{what} must be a string of at most {MAX_COMMENT} characters")
    if "\x00" in value:
        raise InputError(f"{what} must not contain NUL characters")
    return value


@dataclass(frozen=True)
class NewRecord:
    """One validated upload, ready to be written in one statement."""

    run_id: str
    id: str
    comment: str | None
    kind: str
    method: str
    model_task: str
    is_raw: bool
    num_features: int
    num_examples: int | None
    num_classes: int | None
    top_k: int | None
    has_eval_data: bool
    summary: bytes
    body: bytes
    true_ys: bytes | None


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def _depth(value: Any, limit: int) -> bool:
    """Whether ``value`` nests lists and objects at most ``limit`` levels deep."""
    level: list[Any] = [value]
    for _ in range(limit + 1):
        nested = [
            child
            for node in level
            if isinstance(node, dict | list)
            for child in (node.values() if isinstance(node, dict) else node)
        ]
        if not nested:
            return True
        level = nested
    return False


def _check_members(data: dict[str, Any]) -> None:
    """Types of the members the explanation classes would silently coerce.

    ``LocalExplanation.from_dict`` turns any value into a string or a boolean (a feature
    list ``"abc"`` into three features, ``"is_raw": "false"`` into ``True``); the store
    keeps only what reads back as it was meant.
    """
    if data.get("format_version") != JSON_VERSION or data.get("kind") not in KINDS:
        return  # ``from_dict`` names the problem
    for member in ("features", "method", "model_task"):
        if member not in data:
            raise InputError(f"explanation is missing {member!r}")
    features = data.get("features")
    if not isinstance(features, list) or not features:
        raise InputError("features must be a non-empty list of feature names")
    if not all(isinstance(f, str) for f in features):
        raise InputError("features must be strings")
    if len(set(features)) != len(features):
        repeated = sorted({f for f in features if features.count(f) > 1})[:5]
        raise InputError(f"features must be unique, repeated: {repeated}")
    classes = data.get("classes")
    if classes is not None and (
        not isinstance(classes, list) or not all(_scalar(c) for c in classes)
    ):
        raise InputError("classes must be a list of labels (numbers, strings or booleans)")
    if classes is not None and len({(type(c), c) for c in classes}) != len(classes):
        raise InputError("classes must be unique")
    for name in ("method", "model_task"):
        value = data.get(name)
        if not isinstance(value, str) or not value or "\x00" in value or len(value) > 200:
            raise InputError(f"{name} must be a string of 1-200 characters")
    if not isinstance(data.get("is_raw", False), bool):
        raise InputError("is_raw must be true or false")
    if data.get("id") is not None:
        check_id(data["id"], "explanation id")
        if data["id"] in RESERVED_IDS:
            raise InputError(f"explanation id {data['id']!r} is reserved")
    predicted = data.get("eval_y_predicted")
    if predicted is not None and (
        not isinstance(predicted, list) or not all(_scalar(v) for v in predicted)
    ):
        raise InputError("eval_y_predicted must be a list of numbers, strings or booleans")
    num_examples = data.get("num_examples")
    if num_examples is not None and (
        isinstance(num_examples, bool) or not isinstance(num_examples, int) or num_examples < 1
    ):
        raise InputError(f"num_examples must be a positive integer, got {num_examples!r:.40}")
    metadata = data.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise InputError("metadata must be an object")
    if not _depth(metadata, MAX_METADATA_DEPTH):
        raise InputError(f"metadata nests deeper than {MAX_METADATA_DEPTH} levels")
    if data.get("kind") == "local" and data.get("local_importance_values") is None:
        raise InputError("a local explanation needs its local_importance_values")


def _rows(explanation: LocalExplanation) -> int | None:
    """Rows the explanation covers, from its local values, else its evaluation data."""
    if explanation.has_local:
        return explanation.num_examples
    if explanation.eval_data is not None:
        return len(explanation.eval_data)
    if isinstance(explanation, GlobalExplanation):
        try:
            return explanation.num_examples
        except InputError:
            return None
    return None


def _check_rows(explanation: LocalExplanation, true_ys: Any) -> int | None:
    """Row counts that the explanation classes do not check, checked against each other."""
    n_rows = _rows(explanation)
    n_features = explanation.num_features
    data = explanation.eval_data
    if data is not None:
        array = np.asarray(data, dtype=np.float64)
        if array.ndim != 2 or array.shape != (n_rows, n_features):
            raise InputError(
                f"eval_data must be shaped (n_rows, n_features) = ({n_rows}, {n_features}), "
                f"got {array.shape}"
            )
        if not np.all(np.isfinite(array)):
            raise InputError("eval_data holds non-finite values")
    predicted = explanation.eval_y_predicted
    if predicted is not None and (n_rows is None or len(predicted) != n_rows):
        raise InputError(f"eval_y_predicted has {len(predicted)} values for {n_rows} rows")
    proba = explanation.eval_y_predicted_proba
    if proba is not None:
        shape = np.asarray(proba, dtype=np.float64).shape
        if shape != (n_rows, explanation.num_classes):
            raise InputError(
                f"eval_y_predicted_proba must be (n_rows, n_classes) = "
                f"({n_rows}, {explanation.num_classes}), got {shape}"
            )
    if true_ys is not None:
        if not isinstance(true_ys, list):
            raise InputError("true_ys must be a list with one label per row")
        if n_rows is None or len(true_ys) != n_rows:
            raise InputError(f"true_ys has {len(true_ys)} labels for {n_rows} rows")
        if not all(isinstance(y, int | float | str | bool) for y in true_ys):
            raise InputError("true_ys must hold numbers, strings or booleans")
    return n_rows


def _summary(explanation: LocalExplanation) -> dict[str, Any]:
    """The explanation's JSON form without the per-row members, with global values."""
    data = explanation.to_dict()
    for member in ROW_MEMBERS:
        data.pop(member, None)
    if isinstance(explanation, GlobalExplanation):
        return data
    if not explanation.has_local:
        data["global_importance_values"] = None
        return data
    local = explanation.local_importance_array
    magnitude = np.abs(local).mean(axis=-2)  # the one definition (see explanation.py)
    classification = explanation.model_task == "classification"
    data.update(
        global_importance_values=(magnitude.mean(axis=0) if classification else magnitude).tolist(),
        per_class_values=magnitude.tolist() if classification else None,
        global_importance_std=None,
        num_examples=int(local.shape[-2]),
    )
    return data


def top_k_explanation(summary: dict[str, Any], top_k: int) -> GlobalExplanation:
    """Only the ``top_k`` features by global importance, in rank order.

    A :class:`GlobalExplanation` whose ``features`` are the top ``top_k`` names (per-class
    values and standard deviations kept for those features), without per-row members: its
    ``get_ranked_global_values()`` equals the full explanation's
    ``get_ranked_global_values(top_k)``.
    """
    if top_k < 1:
        raise InputError(f"top_k must be a positive integer, got {top_k}")
    values = summary.get("global_importance_values")
    if values is None:
        raise InputError("this explanation has no importances to rank (no local values)")
    glob = np.asarray(values, dtype=np.float64)
    order = np.argsort(-glob, kind="stable")[:top_k]
    per_class = summary.get("per_class_values")
    std = summary.get("global_importance_std")
    return GlobalExplanation(
        global_importance_values=glob[order],
        per_class_values=None if per_class is None else np.asarray(per_class)[:, order],
        global_importance_std=None if std is None else np.asarray(std)[order],
        num_examples=summary.get("num_examples"),
        features=[summary["features"][i] for i in order],
        classes=summary.get("classes"),
        expected_values=summary.get("expected_values"),
        method=summary["method"],
        model_task=summary["model_task"],
        is_raw=bool(summary.get("is_raw")),
        metadata=summary.get("metadata"),
        id=summary["id"],
    )


def parse_upload(raw: bytes, run_id: str, *, top_k: int | None = None) -> NewRecord:
    """Validate an upload body. Malformed JSON is a 400, an unusable explanation a 422.

    With ``top_k`` only the top-k ranked global values are kept (see
    :func:`top_k_explanation`); a ``top_k`` over the number of features keeps them all
    (and is recorded as that number).
    """
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedBody(f"body is not valid JSON: {exc}") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("explanation"), dict):
        raise MalformedBody('body must be {"explanation": {...}, "comment": ..., "true_ys": ...}')
    unknown = sorted(set(payload) - UPLOAD_KEYS)
    if unknown:
        raise MalformedBody(f"unknown members in the body: {unknown}")
    comment = check_comment(payload.get("comment"))
    _check_members(payload["explanation"])
    explanation = LocalExplanation.from_dict(payload["explanation"])
    check_id(explanation.id, "explanation id")
    true_ys = payload.get("true_ys")
    n_rows = _check_rows(explanation, true_ys)
    summary = _summary(explanation)
    if top_k is not None:
        top_k = min(top_k, explanation.num_features)  # more than there are keeps them all
        explanation = top_k_explanation(summary, top_k)
        summary = _summary(explanation)
        true_ys = None  # the rows are gone
        n_rows = summary.get("num_examples")
    return NewRecord(
        run_id=run_id,
        id=explanation.id,
        comment=comment,
        kind=explanation.kind,
        method=explanation.method,
        model_task=explanation.model_task,
        is_raw=explanation.is_raw,
        num_features=explanation.num_features,
        num_examples=n_rows,
        num_classes=explanation.num_classes,
        top_k=top_k,
        has_eval_data=explanation.eval_data is not None,
        summary=orjson.dumps(summary),
        body=orjson.dumps(explanation.to_dict()),
        true_ys=None if true_ys is None else orjson.dumps(true_ys),
    )


def iso_time(seconds: float) -> str:
    """Upload time as ISO 8601 in UTC, to the microsecond."""
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat(timespec="microseconds")


def download_body(record: dict[str, Any], explanation: bytes, true_ys: bytes | None) -> bytes:
    """``{"record": ..., "true_ys": ..., "explanation": ...}`` spliced from stored JSON
    (the explanation is sent as stored, never parsed again)."""
    return b"".join(
        (
            b'{"record":',
            orjson.dumps(record),
            b',"true_ys":',
            true_ys if true_ys is not None else b"null",
            b',"explanation":',
            explanation,
            b"}",
        )
    )
