"""The curated top-level API, its lazy half, the older import paths and the kind registry."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import numpy as np
import pytest

import scoring_explainers
from scoring_explainers import runtime

HEAVY = ("sklearn", "shap", "pandas", "onnx", "skl2onnx", "onnxmltools", "lightgbm", "xgboost")

EAGER = {
    "load": "scoring_explainers.runtime._artifact",
    "save": "scoring_explainers.runtime._artifact",
    "ScoreResult": "scoring_explainers.runtime._base",
    "ScoringExplainer": "scoring_explainers.runtime._base",
    "KernelScoringExplainer": "scoring_explainers.runtime._kernel",
    "TreeScoringExplainer": "scoring_explainers.runtime._tree",
    "LinearScoringExplainer": "scoring_explainers.runtime._linear",
    "GlobalExplanation": "scoring_explainers.explanation",
    "LocalExplanation": "scoring_explainers.explanation",
    "load_explanation": "scoring_explainers.explanation",
    "save_explanation": "scoring_explainers.explanation",
    "ArtifactError": "scoring_explainers._errors",
    "ClientError": "scoring_explainers._errors",
    "ConversionError": "scoring_explainers._errors",
    "InputError": "scoring_explainers._errors",
    "ScoringExplainersError": "scoring_explainers._errors",
    "ServiceConnectionError": "scoring_explainers._errors",
    "UnsupportedModelError": "scoring_explainers._errors",
}
LAZY = {
    "TabularExplainer": "scoring_explainers.explainers._tabular",
    "MimicExplainer": "scoring_explainers.explainers._mimic",
    "PFIExplainer": "scoring_explainers.explainers._pfi",
    "scoring_explainer_for": "scoring_explainers.distill._explainers",
    "LGBMExplainableModel": "scoring_explainers.surrogates",
    "LinearExplainableModel": "scoring_explainers.surrogates",
    "SGDExplainableModel": "scoring_explainers.surrogates",
    "DecisionTreeExplainableModel": "scoring_explainers.surrogates",
}


def _fresh(script: str) -> dict:
    """Run ``script`` in a new interpreter; it prints one JSON object."""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_top_level_gives_the_curated_names():
    assert sorted(scoring_explainers.__all__) == sorted([*EAGER, *LAZY, "__version__"])
    for name, module in {**EAGER, **LAZY}.items():
        value = getattr(scoring_explainers, name)
        assert value.__module__ == module, name
        assert value is getattr(importlib.import_module(module), name)
    assert set(scoring_explainers.__all__) <= set(dir(scoring_explainers))
    assert issubclass(scoring_explainers.InputError, ValueError)


def test_an_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'TabularExplainr'"):
        scoring_explainers.TabularExplainr  # noqa: B018
    assert not hasattr(scoring_explainers, "register_kind")


def test_import_scoring_explainers_imports_only_numpy_and_onnxruntime():
    report = _fresh(
        "import json, sys\n"
        "import scoring_explainers\n"
        "before = sorted(sys.modules)\n"
        "cls = scoring_explainers.TabularExplainer\n"
        "print(json.dumps({'before': before, 'after': sorted(sys.modules),\n"
        "                  'cls': cls.__module__ + '.' + cls.__qualname__}))\n"
    )
    before = set(report["before"])
    assert {"numpy", "onnxruntime", "scoring_explainers.runtime"} <= before
    assert sorted(m for m in before if m.split(".")[0] in HEAVY) == []
    ours = {m for m in before if m.startswith("scoring_explainers.")}
    assert not any(
        m.startswith(("scoring_explainers.distill", "scoring_explainers.explainers")) for m in ours
    )
    assert report["cls"] == "scoring_explainers.explainers._tabular.TabularExplainer"
    assert "scoring_explainers.distill" in report["after"]


def test_the_distill_side_is_imported_by_name_on_the_first_from_model():
    """The runtime's plugin point: nothing of the distill side until a builder is needed."""
    report = _fresh(
        "import json, sys\n"
        "import numpy as np\n"
        "from sklearn.linear_model import Ridge\n"
        "from scoring_explainers.runtime import LinearScoringExplainer\n"
        "before = 'scoring_explainers.distill' in sys.modules\n"
        "X = np.arange(40.0).reshape(20, 2); y = X @ [1.0, -2.0]\n"
        "e = LinearScoringExplainer.from_model(Ridge().fit(X, y), X)\n"
        "print(json.dumps({'before': before, 'after': 'scoring_explainers.distill' in sys.modules,"
        " 'values': e.explain(X[:2]).tolist()}))\n"
    )
    assert report["before"] is False
    assert report["after"] is True
    assert np.array(report["values"]).shape == (2, 2)


@pytest.mark.parametrize(
    ("path", "names"),
    [
        (
            "scoring_explainers.scoring",
            [
                "KernelScoringExplainer",
                "TreeScoringExplainer",
                "LinearScoringExplainer",
                "ScoringExplainer",
                "ScoreResult",
                "OnnxModel",
                "load",
                "save",
            ],
        ),
        ("scoring_explainers.convert", ["to_onnx", "ConvertedModel", "check_agreement"]),
        (
            "scoring_explainers.explainers",
            [
                "TabularExplainer",
                "MimicExplainer",
                "PFIExplainer",
                "LGBMExplainableModel",
                "scoring_explainer_for",
            ],
        ),
        (
            "scoring_explainers.explanation",
            ["GlobalExplanation", "LocalExplanation", "global_from_local", "load_explanation"],
        ),
        ("scoring_explainers.transformations", ["feature_map", "FeatureMap"]),
        ("scoring_explainers.surrogates", ["LGBMExplainableModel", "ExplainableModel"]),
        ("scoring_explainers.spark", ["explain_dataframe", "global_importance"]),
        ("scoring_explainers.client", ["ExplanationClient"]),
        ("scoring_explainers.dashboard", ["ExplanationDashboard"]),
        ("scoring_explainers.batch", ["main"]),
        ("scoring_explainers.demo", ["main"]),
    ],
)
def test_the_documented_import_paths_keep_working(path, names):
    module = importlib.import_module(path)
    for name in names:
        assert hasattr(module, name), f"{path}.{name}"
        assert name in module.__all__, f"{path}.{name}"
    if path == "scoring_explainers.scoring":
        assert module.KernelScoringExplainer is scoring_explainers.KernelScoringExplainer
        assert module.load is scoring_explainers.load


def test_kinds_register_themselves():
    from scoring_explainers.runtime._registry import KINDS

    assert KINDS == {
        "kernel": runtime.KernelScoringExplainer,
        "tree": runtime.TreeScoringExplainer,
        "linear": runtime.LinearScoringExplainer,
    }
    with pytest.raises(TypeError, match="kind 'kernel' is already KernelScoringExplainer's"):

        class Impostor(runtime.KernelScoringExplainer):
            kind = "kernel"

    class Subclass(runtime.KernelScoringExplainer):  # inherits the kind: not a new one
        pass

    assert KINDS["kernel"] is runtime.KernelScoringExplainer


def test_a_new_kind_is_known_to_save_and_load_by_name(tmp_path):
    """The artifact module finds a kind through the registry, not a list of classes."""
    from sklearn.linear_model import Ridge

    from scoring_explainers.runtime._registry import KINDS

    X = np.random.default_rng(0).normal(size=(50, 3))
    linear = runtime.LinearScoringExplainer.from_model(Ridge().fit(X, X @ [1.0, 2.0, 3.0]), X)

    class Renamed(runtime.LinearScoringExplainer):
        kind = "renamed-linear"

    try:
        assert KINDS["renamed-linear"] is Renamed
        renamed = Renamed(
            model=linear.model,
            coef=linear.coef_,
            intercept=linear.intercept_,
            mean=linear.mean_,
            link=linear.link,
            features=linear.features,
            classes=None,
            output_space=linear.output_space,
            expected_values=linear.expected_values,
            allow_missing=False,
        )
        runtime.save(renamed, tmp_path / "a")
        manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
        assert manifest["kind"] == "renamed-linear"
        loaded = runtime.load(tmp_path / "a")
        assert type(loaded) is Renamed
        np.testing.assert_array_equal(loaded.explain(X[:5]), linear.explain(X[:5]))
    finally:
        del KINDS["renamed-linear"]
    with pytest.raises(scoring_explainers.ArtifactError, match="unknown explainer kind"):
        runtime.load(tmp_path / "a")
