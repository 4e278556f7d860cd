"""Artifact format versions: frozen version-1 artifacts still load and score to the outputs
stored with them; version 2 (raw schema) round-trips for every kind."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from scoring_explainers import ArtifactError, InputError, load
from scoring_explainers.runtime import RawSchema

V1 = Path(__file__).resolve().parent / "fixtures" / "artifacts" / "v1"
V1_NAMES = [
    "kernel",
    "kernel_preprocess",
    "tree",
    "tree_preprocess",
    "linear",
    "linear_preprocess",
]


def _expected(name: str) -> dict:
    return json.loads((V1 / name / "expected.json").read_text())


def _rows(expected: dict) -> np.ndarray:
    return np.array([[np.nan if v is None else v for v in row] for row in expected["rows"]])


def test_every_v1_fixture_is_there_and_small():
    for name in V1_NAMES:
        manifest = json.loads((V1 / name / "manifest.json").read_text())
        assert manifest["format_version"] == 1
        assert "raw_schema" not in manifest
        size = sum(f.stat().st_size for f in (V1 / name).iterdir())
        assert size < 64 * 1024, (name, size)


@pytest.mark.parametrize("name", V1_NAMES)
def test_v1_artifacts_load_and_score_as_when_written(name):
    expected = _expected(name)
    scorer = load(V1 / name)
    manifest = json.loads((V1 / name / "manifest.json").read_text())
    assert scorer.kind == manifest["kind"]
    assert scorer.features == expected["features"]
    # version 1 maps to an all-numeric raw schema; missing values are accepted where the
    # model handles them or a preprocessing graph may fill them (checked after it)
    assert scorer.schema == RawSchema.numeric(
        expected["features"],
        missing=manifest["allow_missing"] or "preprocess.onnx" in manifest["files"],
    )
    rows = _rows(expected)
    result = scorer.score(rows).to_dict()
    want = expected["score"]
    assert result["predictions"] == want["predictions"]
    assert result["features"] == want["features"]
    assert result["output_space"] == want["output_space"]
    assert result["method"] == want["method"]
    assert result.get("classes") == want.get("classes")
    for key in ("local_importance_values", "expected_values", "probabilities"):
        if key in want:
            np.testing.assert_allclose(result[key], want[key], rtol=1e-6, atol=1e-9)
    if "engineered" in expected:
        np.testing.assert_allclose(
            scorer.explain(rows, get_raw=False), expected["engineered"], rtol=1e-6, atol=1e-9
        )


@pytest.mark.parametrize("name", ["kernel", "tree_preprocess"])
def test_v1_artifacts_take_frames_and_records(name):
    pd = pytest.importorskip("pandas")
    expected = _expected(name)
    scorer = load(V1 / name)
    rows = _rows(expected)
    frame = pd.DataFrame(rows, columns=expected["features"])
    want = scorer.explain(rows)
    np.testing.assert_array_equal(scorer.explain(frame), want)
    records = [
        {f: (None if np.isnan(v) else v) for f, v in zip(expected["features"], row, strict=True)}
        for row in rows
    ]
    np.testing.assert_array_equal(scorer.explain(records), want)


def test_v1_manifest_with_a_raw_schema_is_refused(tmp_path):
    root = shutil.copytree(V1 / "linear", tmp_path / "linear")
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["raw_schema"] = RawSchema.numeric(manifest["raw_features"], missing=True).to_json()
    (root / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(
        ArtifactError, match=r"^manifest.json: raw_schema is not part of format version 1"
    ):
        load(root)


# -- version 2 ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", V1_NAMES)
def test_v2_round_trip_for_every_kind(name, tmp_path):
    from scoring_explainers import save

    old = load(V1 / name)
    root = save(old, tmp_path / name)
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["format_version"] == 2
    assert manifest["raw_schema"] == old.schema.to_json()
    assert [c["name"] for c in manifest["raw_schema"]] == manifest["raw_features"]
    new = load(root)
    assert type(new) is type(old)
    assert new.schema == old.schema
    rows = _rows(_expected(name))
    np.testing.assert_array_equal(new.explain(rows), old.explain(rows))
    assert new.score(rows).to_dict() == old.score(rows).to_dict()


def _v2(tmp_path: Path, name: str = "tree") -> Path:
    from scoring_explainers import save

    return save(load(V1 / name), tmp_path / f"v2-{name}")


def _edit(root: Path, **changes) -> None:
    manifest = json.loads((root / "manifest.json").read_text())
    for key, value in changes.items():
        if value is None:
            manifest.pop(key, None)
        else:
            manifest[key] = value
    (root / "manifest.json").write_text(json.dumps(manifest))


def test_v2_categorical_schema_is_read_and_encodes_rows(tmp_path):
    root = _v2(tmp_path)
    schema = json.loads((root / "manifest.json").read_text())["raw_schema"]
    schema[2] = {
        "name": schema[2]["name"],
        "kind": "categorical",
        "type": "integer",
        "missing": False,
        "categories": [10, 20, 30],
        "unknown": "error",
    }
    _edit(root, raw_schema=schema)
    scorer = load(root)
    assert scorer.schema.columns[2].categories == (10, 20, 30)
    plain = load(V1 / "tree")
    np.testing.assert_array_equal(
        scorer.explain([[0.5, -0.2, 20]]), plain.explain([[0.5, -0.2, 1.0]])
    )
    with pytest.raises(InputError, match="^row 0, column 'feature_2': unknown category 40"):
        scorer.explain([[0.5, -0.2, 40]])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"raw_schema": None}, r"raw_schema missing \(format version 2\)"),
        ({"raw_schema": {"a": 1}}, "raw_schema: raw_schema must be a non-empty list"),
        (
            {"raw_schema": [{"name": "feature_0", "kind": "numeric"}]},
            r"raw_schema: a column needs the keys \['missing', 'type'\]",
        ),
        (
            {
                "raw_schema": [
                    {"name": n, "kind": "numeric", "type": "number", "missing": True}
                    for n in ("x", "y", "z")
                ]
            },
            r"raw_schema names \['x', 'y', 'z'\] differ from raw_features",
        ),
        ({"format_version": 3}, r"unknown format version 3 \(this library reads versions 1, 2\)"),
    ],
)
def test_bad_v2_manifests_are_refused(tmp_path, change, message):
    root = _v2(tmp_path)
    _edit(root, **change)
    with pytest.raises(ArtifactError, match="^manifest.json: " + message):
        load(root)
