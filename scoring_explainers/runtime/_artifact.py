"""Save and load scoring explainers as a safe artifact: manifest + arrays + ONNX, no pickle.

Layout of an artifact directory::

    manifest.json   format version, kind, task, names, output space, expected values,
                    kind settings, array shapes, library versions, SHA-256 of each file
    model.onnx      the prediction model, run by onnxruntime
    arrays.npz      numeric state, read with ``allow_pickle=False``
    preprocess.onnx optional: raw -> engineered columns; then ``arrays.npz`` also holds
                    ``feature_map`` (n_raw, n_engineered) and importances are reported
                    for the raw features (``raw_features`` in the manifest)

``load`` parses and audits everything before it builds anything: a missing file, a hash
mismatch, an unknown format version or kind, an object array, or a shape that does not fit
the manifest is one :class:`ArtifactError` naming the file and the problem. Files not named
in the manifest are never read.

Kinds are looked up in :data:`~scoring_explainers.runtime._registry.KINDS`, which every
scoring explainer class with a ``kind`` joins when it is defined: this module imports no
concrete explainer class.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sys
import tempfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import ArtifactError
from .._version import __version__
from ..explanation import json_native
from ._base import ScoringExplainer
from ._onnx_model import OnnxModel, OnnxTransform
from ._registry import KINDS

__all__ = ["FORMAT_VERSION", "load", "save"]

#: Integer version of the on-disk format this library writes and reads.
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MODEL = "model.onnx"
ARRAYS = "arrays.npz"
PREPROCESS = "preprocess.onnx"
FEATURE_MAP = "feature_map"

_TASKS = ("classification", "regression")
_SPACES = ("probability", "log_odds", "raw")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _versions() -> dict[str, str]:
    import onnxruntime

    versions = {
        "scoring_explainers": __version__,
        "numpy": np.__version__,
        "onnxruntime": onnxruntime.__version__,
        "python": ".".join(map(str, sys.version_info[:3])),
    }
    for name in ("sklearn", "skl2onnx", "onnx", "onnxmltools", "lightgbm", "xgboost"):
        module = sys.modules.get(name)
        if module is not None and hasattr(module, "__version__"):
            versions[name] = str(module.__version__)
    return versions


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    for name, array in arrays.items():
        if array.dtype.kind not in "biuf":
            raise ArtifactError(ARRAYS, f"refusing to write non-numeric array {name!r}")
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def save(
    explainer: ScoringExplainer, directory: str | os.PathLike[str], *, exist_ok: bool = False
) -> Path:
    """Write ``explainer`` as an artifact directory.

    Parameters
    ----------
    explainer : ScoringExplainer
    directory : path
        Created; written atomically (a temporary sibling directory renamed into place).
    exist_ok : bool, default=False
        Replace an existing directory instead of raising.

    Returns
    -------
    Path
        The artifact directory.
    """
    target = Path(directory)
    if target.exists() and not exist_ok:
        raise ArtifactError(str(target), "already exists (pass exist_ok=True to replace it)")
    if type(explainer).kind not in KINDS:
        raise ArtifactError(MANIFEST, f"unknown explainer kind {type(explainer).kind!r}")
    arrays = {k: np.ascontiguousarray(v) for k, v in explainer._arrays().items()}
    model_bytes = getattr(explainer.model, "model_bytes", None)
    if not isinstance(model_bytes, bytes):
        reason = getattr(explainer.model, "conversion_error", "it is not an ONNX graph")
        raise ArtifactError(MODEL, f"the model cannot be saved: {reason}")
    preprocessor = explainer.preprocessor
    feature_map = explainer.feature_map
    if preprocessor is not None and feature_map is not None:
        arrays[FEATURE_MAP] = np.ascontiguousarray(feature_map)
    files = {MODEL: model_bytes, ARRAYS: _npz_bytes(arrays)}
    if preprocessor is not None:
        files[PREPROCESS] = preprocessor.model_bytes
    manifest = {
        "format_version": FORMAT_VERSION,
        "kind": explainer.kind,
        "task": explainer.task,
        "features": explainer.engineered_features,
        "raw_features": explainer.features,
        "classes": explainer.classes,
        "output_space": explainer.output_space,
        "expected_values": explainer.expected_values.tolist(),
        "allow_missing": explainer.allow_missing,
        "settings": explainer._settings(),
        "metadata": explainer.metadata,
        "arrays": {k: {"shape": list(v.shape), "dtype": v.dtype.str} for k, v in arrays.items()},
        "files": {name: _sha256(data) for name, data in files.items()},
        "written_by": _versions(),
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        for name, data in files.items():
            (staging / name).write_bytes(data)
        (staging / MANIFEST).write_text(
            json.dumps(json_native(manifest), indent=2, allow_nan=False) + "\n"
        )
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


# -- load ---------------------------------------------------------------------------------
def _require(cond: bool, file: str, problem: str) -> None:
    if not cond:
        raise ArtifactError(file, problem)


def _read_manifest(root: Path) -> dict[str, Any]:
    path = root / MANIFEST
    _require(path.is_file(), MANIFEST, f"missing in {root}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(MANIFEST, f"not valid JSON: {exc}") from exc
    _require(isinstance(manifest, dict), MANIFEST, "must be a JSON object")
    version = manifest.get("format_version")
    _require(
        isinstance(version, int) and not isinstance(version, bool),
        MANIFEST,
        "format_version missing or not an integer",
    )
    _require(
        version == FORMAT_VERSION,
        MANIFEST,
        f"unknown format version {version} (this library reads version {FORMAT_VERSION})",
    )
    _require(
        manifest.get("kind") in KINDS,
        MANIFEST,
        f"unknown explainer kind {manifest.get('kind')!r} (known: {sorted(KINDS)})",
    )
    _require(manifest.get("task") in _TASKS, MANIFEST, f"task must be one of {_TASKS}")
    _require(
        manifest.get("output_space") in _SPACES, MANIFEST, f"output_space must be one of {_SPACES}"
    )
    features = manifest.get("features")
    _require(
        isinstance(features, list)
        and len(features) > 0
        and all(isinstance(f, str) for f in features),
        MANIFEST,
        "features must be a non-empty list of names",
    )
    classes = manifest.get("classes")
    if manifest["task"] == "classification":
        _require(
            isinstance(classes, list) and len(classes) >= 2,
            MANIFEST,
            "a classifier needs a list of at least two classes",
        )
    expected = manifest.get("expected_values")
    n_outputs = len(classes) if manifest["task"] == "classification" else 1
    _require(
        isinstance(expected, list)
        and len(expected) == n_outputs
        and all(isinstance(v, int | float) for v in expected),
        MANIFEST,
        f"expected_values must be {n_outputs} number(s)",
    )
    files = manifest.get("files")
    _require(
        isinstance(files, dict) and set(files) - {PREPROCESS} == {MODEL, ARRAYS},
        MANIFEST,
        f"files must list {MODEL} and {ARRAYS} (and optionally {PREPROCESS}) with their SHA-256",
    )
    raw = manifest.get("raw_features", features)
    _require(
        isinstance(raw, list) and len(raw) > 0 and all(isinstance(f, str) for f in raw),
        MANIFEST,
        "raw_features must be a non-empty list of names",
    )
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
    return manifest


def _read_verified(root: Path, name: str, digest: str) -> bytes:
    path = root / name
    _require(path.is_file(), name, f"missing in {root}")
    data = path.read_bytes()
    actual = _sha256(data)
    _require(
        actual == digest,
        name,
        f"SHA-256 mismatch: the file changed after it was written "
        f"(manifest {str(digest)[:12]}..., file {actual[:12]}...)",
    )
    return data


def _read_arrays(data: bytes, shapes: dict[str, tuple[int | None, ...]]) -> dict[str, np.ndarray]:
    try:  # members are written uncompressed; a compressed one could be a zip bomb
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            packed = [
                i.filename for i in archive.infolist() if i.compress_type != zipfile.ZIP_STORED
            ]
    except zipfile.BadZipFile as exc:
        raise ArtifactError(ARRAYS, f"not a readable .npz archive: {exc}") from exc
    _require(not packed, ARRAYS, f"compressed members {packed} are not accepted")
    try:
        archive = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise ArtifactError(ARRAYS, f"not a readable .npz archive: {exc}") from exc
    with archive:
        names = set(archive.files)
        _require(
            names == set(shapes),
            ARRAYS,
            f"members {sorted(names)} do not match the expected {sorted(shapes)}",
        )
        arrays: dict[str, np.ndarray] = {}
        for name in sorted(names):
            try:
                array = archive[name]
            except ValueError as exc:
                raise ArtifactError(
                    ARRAYS,
                    f"member {name!r} is an object array; artifacts hold numeric arrays only",
                ) from exc
            _require(
                array.dtype.kind in "biuf",
                ARRAYS,
                f"member {name!r} has non-numeric dtype {array.dtype}",
            )
            want = shapes[name]
            fits = array.ndim == len(want) and all(
                w is None or w == a for w, a in zip(want, array.shape, strict=True)
            )
            _require(
                fits,
                ARRAYS,
                f"member {name!r} has shape {array.shape}, expected "
                f"{tuple('any' if w is None else w for w in want)}",
            )
            if array.dtype.kind == "f":
                # background rows may hold missing values (NaN) for models that take them
                finite = ~np.isinf(array) if name == "background" else np.isfinite(array)
                _require(
                    bool(np.all(finite)),
                    ARRAYS,
                    f"member {name!r} holds non-finite values",
                )
            arrays[name] = array
    return arrays


def load(directory: str | os.PathLike[str], *, threads: int = 1) -> ScoringExplainer:
    """Read an artifact written by :func:`save`.

    Parameters
    ----------
    directory : path
    threads : int, default=1
        onnxruntime intra-op threads for the loaded model.

    Raises
    ------
    ArtifactError
        Naming the file and the problem; nothing is built from an artifact that fails a
        check.
    """
    root = Path(directory)
    _require(root.is_dir(), str(root), "no such artifact directory")
    manifest = _read_manifest(root)
    cls = KINDS[manifest["kind"]]
    model_bytes = _read_verified(root, MODEL, manifest["files"][MODEL])
    array_bytes = _read_verified(root, ARRAYS, manifest["files"][ARRAYS])
    n_features = len(manifest["features"])
    n_outputs = len(manifest["expected_values"])
    settings = manifest.get("settings", {})
    shapes = cls._array_shapes(settings, n_features, n_outputs)
    mapped: dict[str, Any] = {}
    if PREPROCESS in manifest["files"]:
        raw = manifest["raw_features"]
        shapes = {**shapes, FEATURE_MAP: (len(raw), n_features)}
        mapped["preprocessor"] = OnnxTransform(
            _read_verified(root, PREPROCESS, manifest["files"][PREPROCESS]),
            n_inputs=len(raw),
            n_outputs=n_features,
            threads=threads,
        )
        mapped["raw_features"] = raw
    arrays = _read_arrays(array_bytes, shapes)
    if mapped:
        mapped["feature_map"] = arrays.pop(FEATURE_MAP)
        try:
            mapped["preprocessor"].transform(np.zeros((1, len(mapped["raw_features"]))))
        except Exception as exc:
            raise ArtifactError(PREPROCESS, f"does not take the raw features: {exc}") from exc
    model = OnnxModel(model_bytes, task=manifest["task"], n_features=n_features, threads=threads)
    try:
        probe = model.outputs(np.zeros((1, n_features)))
    except Exception as exc:  # onnxruntime's own errors
        raise ArtifactError(MODEL, f"the model does not take {n_features} features: {exc}") from exc
    _require(
        probe.shape[1] == n_outputs,
        MODEL,
        f"the model gives {probe.shape[1]} outputs, the manifest expects {n_outputs}",
    )
    common = {
        "model": model,
        "features": manifest["features"],
        "classes": manifest.get("classes"),
        "output_space": manifest["output_space"],
        "expected_values": np.asarray(manifest["expected_values"], dtype=np.float64),
        "allow_missing": bool(manifest.get("allow_missing", False)),
        "metadata": manifest.get("metadata", {}),
        **mapped,
    }
    try:
        return cls._restore(arrays=arrays, settings=settings, common=common)
    except (ValueError, KeyError, TypeError) as exc:
        raise ArtifactError(ARRAYS, f"inconsistent state: {exc}") from exc
