"""Save and load scoring explainers as a safe artifact: manifest + arrays + ONNX, no pickle.

Layout of an artifact directory::

    manifest.json   format version, kind, task, names, output space, expected values,
                    kind settings, array shapes, library versions, SHA-256 of each file
    model.onnx      the prediction model, run by onnxruntime
    arrays.npz      numeric state, read with ``allow_pickle=False``
    preprocess.onnx optional: raw -> engineered columns; then ``arrays.npz`` also holds
                    ``feature_map`` (n_raw, n_engineered) and importances are reported
                    for the raw features (``raw_features`` in the manifest)

    manifest.json.sig optional: an Ed25519 signature of manifest.json (see ``_signing``)

``load`` parses and audits everything before it builds anything: a missing file, a file that
is a symbolic link or not a regular file, a hash mismatch, a bad or missing signature (when
trusted keys are given), an unknown format version or kind, a manifest that is not strict
JSON, non-finite expected values, repeated names, an ONNX graph that could read files or run
code other than onnxruntime's built-in operators (``_onnx_audit``), an array member whose
header does not fit its bytes or the manifest (``_artifact_arrays``) is one
:class:`ArtifactError` naming the file and the problem. Files not named in the manifest are
never read.

``python -m scoring_explainers.artifact keygen|sign|verify`` manages signatures (see
``_artifact_cli``).

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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import ArtifactError
from .._version import __version__
from ._artifact_arrays import ARRAYS, read_arrays
from ._artifact_files import ArtifactDirectory
from ._artifact_manifest import FORMAT_VERSION, MANIFEST, MODEL, PREPROCESS, parse_manifest
from ._base import ScoringExplainer
from ._json import json_native
from ._onnx_audit import audit_onnx
from ._onnx_model import OnnxModel, OnnxTransform
from ._registry import KINDS
from ._schema import RawSchema
from ._signing import SIGNATURE, TrustedKey

__all__ = ["FORMAT_VERSION", "VerifiedArtifact", "load", "read_verified", "save"]

FEATURE_MAP = "feature_map"
#: Largest manifest accepted.
MAX_MANIFEST_BYTES = 64 * 2**20
#: Largest ONNX file accepted (protobuf cannot hold more in one message).
MAX_ONNX_BYTES = 2**31 - 1


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
    for name in (MODEL, PREPROCESS):  # never write what load would refuse (Loop aside)
        if name in files:
            audit_onnx(files[name], file=name, allow_loop=True)
    manifest = {
        "format_version": FORMAT_VERSION,
        "kind": explainer.kind,
        "task": explainer.task,
        "features": explainer.engineered_features,
        "raw_features": explainer.features,
        "raw_schema": explainer.schema.to_json(),
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


def _check_digest(name: str, data: bytes, digest: str) -> bytes:
    actual = _sha256(data)
    _require(
        actual == digest,
        name,
        f"SHA-256 mismatch: the file changed after it was written "
        f"(manifest {str(digest)[:12]}..., file {actual[:12]}...)",
    )
    return data


@dataclass(frozen=True)
class VerifiedArtifact:
    """An artifact's files as read once by :func:`read_verified`, every check passed."""

    manifest_bytes: bytes
    """The exact bytes of ``manifest.json`` (what a signature covers)."""
    manifest: dict[str, Any]
    """The parsed, checked manifest."""
    files: dict[str, bytes]
    """Every other file the manifest names, its SHA-256 checked."""
    signed_by: str | None
    """The id of the trusted key that signed the manifest (``None`` without keys)."""
    schema: RawSchema
    """The raw columns, as the manifest's format version describes them."""


def read_verified(
    directory: str | os.PathLike[str], *, trusted_keys: Sequence[TrustedKey] | None = None
) -> VerifiedArtifact:
    """Read an artifact's manifest and files, each checked, each read once.

    Parameters
    ----------
    directory : path
        The artifact directory (it may be a symbolic link; its files may not).
    trusted_keys : sequence of path, bytes or public key, optional
        When given, ``manifest.json.sig`` must be a signature of the manifest's exact bytes
        by one of these Ed25519 public keys; those same bytes are then parsed.

    Returns
    -------
    VerifiedArtifact

    Raises
    ------
    ArtifactError
        Naming the file and the problem.
    """
    keys = None
    if trusted_keys is not None:
        from ._signing import trusted_keys_from

        if isinstance(trusted_keys, str | bytes | os.PathLike):  # one key, not a list
            trusted_keys = [trusted_keys]
        keys = trusted_keys_from(trusted_keys)  # a key that cannot be read fails first
    signed_by = None
    with ArtifactDirectory(directory) as root:
        manifest_bytes = root.read(MANIFEST, max_bytes=MAX_MANIFEST_BYTES)
        if keys is not None:
            from ._signing import MAX_SIGNATURE_BYTES, verify_manifest

            try:
                signature = root.read(SIGNATURE, max_bytes=MAX_SIGNATURE_BYTES)
            except ArtifactError as exc:
                if exc.problem.startswith("missing"):
                    raise ArtifactError(
                        SIGNATURE, "missing: the artifact is not signed, and trusted keys are set"
                    ) from exc
                raise
            signed_by = verify_manifest(manifest_bytes, signature, keys)
        manifest, schema = parse_manifest(manifest_bytes)
        files = {
            name: _check_digest(
                name,
                root.read(name, max_bytes=None if name == ARRAYS else MAX_ONNX_BYTES),
                digest,
            )
            for name, digest in manifest["files"].items()
        }
    return VerifiedArtifact(manifest_bytes, manifest, files, signed_by, schema)


def load(
    directory: str | os.PathLike[str],
    *,
    threads: int = 1,
    trusted_keys: Sequence[TrustedKey] | None = None,
    allow_loop: bool = False,
) -> ScoringExplainer:
    """Read an artifact written by :func:`save`.

    Parameters
    ----------
    directory : path
    threads : int, default=1
        onnxruntime intra-op threads for the loaded model.
    trusted_keys : sequence of path, bytes or public key, optional
        Ed25519 public keys (PEM files, PEM/DER bytes or ``cryptography`` key objects).
        When given, the artifact must carry ``manifest.json.sig``, a signature of its
        manifest by one of them; unsigned, wrongly signed or changed artifacts are refused.
        Needs the ``cryptography`` package.
    allow_loop : bool, default=False
        Accept ONNX ``Loop`` operators, whose number of iterations can come from the
        request (refused by default).

    Raises
    ------
    ArtifactError
        Naming the file and the problem; nothing is built from an artifact that fails a
        check, and no ONNX graph reaches onnxruntime before it passed the audit.
    """
    verified = read_verified(directory, trusted_keys=trusted_keys)
    manifest, files = verified.manifest, verified.files
    for name in (MODEL, PREPROCESS):
        if name in files:
            audit_onnx(files[name], file=name, allow_loop=allow_loop)
    cls = KINDS[manifest["kind"]]
    n_features = len(manifest["features"])
    n_outputs = len(manifest["expected_values"])
    settings = manifest.get("settings", {})
    schema = verified.schema
    raw = schema.names
    shapes = cls._array_shapes(settings, n_features, n_outputs, n_raw=len(raw))
    mapped: dict[str, Any] = {}
    if PREPROCESS in files:
        shapes = {**shapes, FEATURE_MAP: (len(raw), n_features)}
        mapped["preprocessor"] = OnnxTransform(
            files[PREPROCESS], n_inputs=len(raw), n_outputs=n_features, threads=threads
        )
        mapped["raw_features"] = raw
    arrays = read_arrays(files[ARRAYS], shapes)
    if mapped:
        mapped["feature_map"] = arrays.pop(FEATURE_MAP)
        try:
            mapped["preprocessor"].transform(schema.example_codes(1))
        except Exception as exc:
            raise ArtifactError(PREPROCESS, f"does not take the raw features: {exc}") from exc
    model = OnnxModel(files[MODEL], task=manifest["task"], n_features=n_features, threads=threads)
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
        "schema": schema,
        **mapped,
    }
    try:
        return cls._restore(arrays=arrays, settings=settings, common=common)
    except (ValueError, KeyError, TypeError) as exc:
        raise ArtifactError(ARRAYS, f"inconsistent state: {exc}") from exc
