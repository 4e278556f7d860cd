"""Artifact: bit-exact round trips and one clear error for every kind of damage."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

from scoring_explainers import ArtifactError
from scoring_explainers.scoring import (
    KernelScoringExplainer,
    LinearScoringExplainer,
    load,
    save,
)


@pytest.fixture(scope="module")
def kernel(small_mlp, small_classification):
    X, _ = small_classification
    return KernelScoringExplainer.from_model(
        small_mlp, X[:200], nclusters=4, nsamples=100, classes=["a", "b", "c"]
    )


@pytest.fixture(scope="module")
def linear(small_regression):
    from sklearn.linear_model import Ridge

    X, y = small_regression
    return LinearScoringExplainer.from_model(Ridge().fit(X, y), X)


@pytest.fixture
def saved(kernel, tmp_path) -> Path:
    return save(kernel, tmp_path / "artifact")


def _rehash(root: Path) -> None:
    manifest = json.loads((root / "manifest.json").read_text())
    for name in manifest["files"]:
        manifest["files"][name] = hashlib.sha256((root / name).read_bytes()).hexdigest()
    (root / "manifest.json").write_text(json.dumps(manifest))


def _edit_manifest(root: Path, **changes) -> None:
    manifest = json.loads((root / "manifest.json").read_text())
    manifest.update(changes)
    (root / "manifest.json").write_text(json.dumps(manifest))


def test_round_trip_is_bit_exact(kernel, linear, small_classification, small_regression, tmp_path):
    X, _ = small_classification
    restored = load(save(kernel, tmp_path / "k"))
    assert isinstance(restored, KernelScoringExplainer)
    np.testing.assert_array_equal(restored.explain(X[200:230]), kernel.explain(X[200:230]))
    a, b = restored.score(X[:5]), kernel.score(X[:5])
    assert a.to_dict() == b.to_dict()
    assert restored.classes == ["a", "b", "c"]
    Xr, _ = small_regression
    restored_linear = load(save(linear, tmp_path / "l"))
    np.testing.assert_array_equal(restored_linear.explain(Xr), linear.explain(Xr))


def test_layout_and_manifest(saved, kernel):
    assert sorted(p.name for p in saved.iterdir()) == ["arrays.npz", "manifest.json", "model.onnx"]
    manifest = json.loads((saved / "manifest.json").read_text())
    assert manifest["format_version"] == 2
    assert manifest["raw_schema"] == kernel.schema.to_json()
    assert manifest["kind"] == "kernel"
    assert manifest["task"] == "classification"
    assert manifest["output_space"] == "probability"
    assert manifest["features"] == kernel.features
    assert manifest["expected_values"] == kernel.expected_values.tolist()
    assert set(manifest["written_by"]) >= {"numpy", "onnxruntime", "scoring_explainers"}
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((saved / name).read_bytes()).hexdigest() == digest
    # nothing in the artifact needs pickle
    with np.load(saved / "arrays.npz", allow_pickle=False) as arrays:
        assert all(arrays[k].dtype != object for k in arrays.files)


def test_refuses_to_overwrite(saved, kernel):
    with pytest.raises(ArtifactError, match="already exists"):
        save(kernel, saved)
    save(kernel, saved, exist_ok=True)
    load(saved)


@pytest.mark.parametrize("name", ["manifest.json", "model.onnx", "arrays.npz"])
def test_missing_file(saved, name):
    (saved / name).unlink()
    with pytest.raises(ArtifactError, match=f"^{name}: missing"):
        load(saved)


@pytest.mark.parametrize("name", ["model.onnx", "arrays.npz"])
def test_tampering_is_detected(saved, name):
    data = bytearray((saved / name).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (saved / name).write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match=f"^{name}: SHA-256 mismatch"):
        load(saved)


def test_unknown_format_version(saved):
    _edit_manifest(saved, format_version=99)
    with pytest.raises(ArtifactError, match="manifest.json: unknown format version 99"):
        load(saved)


def test_unknown_kind(saved):
    _edit_manifest(saved, kind="deep")
    with pytest.raises(ArtifactError, match="manifest.json: unknown explainer kind 'deep'"):
        load(saved)


def test_manifest_not_json(saved):
    (saved / "manifest.json").write_text("{not json")
    with pytest.raises(ArtifactError, match="manifest.json: not valid JSON"):
        load(saved)


def _rewrite_arrays(root: Path, **replace) -> None:
    with np.load(root / "arrays.npz", allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    arrays.update(replace)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    (root / "arrays.npz").write_bytes(buffer.getvalue())
    _rehash(root)


def test_object_arrays_are_refused(saved):
    # a re-hashed manifest passes the hash check; the object array must still be refused
    _rewrite_arrays(saved, masks=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(ArtifactError, match="arrays.npz: member 'masks' is an object array"):
        load(saved)


def test_shapes_must_fit_the_manifest(saved, kernel):
    _rewrite_arrays(saved, background=np.zeros((4, kernel.n_features + 1)))
    with pytest.raises(ArtifactError, match="arrays.npz: member 'background' has shape"):
        load(saved)


def test_unexpected_members_are_refused(saved):
    _rewrite_arrays(saved, surprise=np.zeros(3))
    with pytest.raises(ArtifactError, match="arrays.npz: members .* do not match"):
        load(saved)


def test_expected_values_must_fit_the_classes(saved):
    _edit_manifest(saved, expected_values=[0.5])
    _rehash(saved)
    with pytest.raises(ArtifactError, match="manifest.json: expected_values must be 3"):
        load(saved)


def test_not_a_directory(tmp_path):
    with pytest.raises(ArtifactError, match="no such artifact directory"):
        load(tmp_path / "nothing")


def test_compressed_members_are_refused(saved):
    with np.load(saved / "arrays.npz", allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    (saved / "arrays.npz").write_bytes(buffer.getvalue())
    _rehash(saved)
    with pytest.raises(ArtifactError, match="arrays.npz: compressed members"):
        load(saved)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"exact": "false"}, "settings.exact"),
        ({"max_synthetic_rows": 10**12}, "max_synthetic_rows"),
        ({"max_features": "5"}, "max_features"),
    ],
)
def test_kernel_settings_are_checked(saved, settings, message):
    manifest = json.loads((saved / "manifest.json").read_text())
    manifest["settings"].update(settings)
    (saved / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match=message):
        load(saved)


def test_empty_background_is_refused(saved, kernel):
    _rewrite_arrays(
        saved, background=np.zeros((0, kernel.n_features)), background_weights=np.zeros(0)
    )
    with pytest.raises(ArtifactError, match="empty"):
        load(saved)
