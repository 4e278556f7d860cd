"""The runtime: load an artifact and score rows with numpy and onnxruntime only.

The scoring explainers' evaluation (Kernel, Tree, Linear), the artifact reader and writer,
input validation and :class:`ScoreResult`. Nothing here imports the distill side, the full
explainers, scikit-learn, shap, pandas or onnx, not even in a function (``lint-imports``
checks it): ``from_model`` and ``from_explainer`` are delegates whose bodies the distill
package registers, imported by name on first use (see
:mod:`scoring_explainers.runtime._registry`).
"""

from ._artifact import FORMAT_VERSION, load, save
from ._artifact_manifest import MANIFEST
from ._base import (
    FLOAT32_MAX,
    CancelToken,
    ExplanationCancelled,
    OutputSpace,
    ScoreResult,
    ScoringExplainer,
    as_matrix,
    check_names,
    check_tolerance,
)
from ._kernel import KernelScoringExplainer
from ._linear import LinearScoringExplainer
from ._onnx_model import OnnxModel, OnnxTransform, Task
from ._registry import register_builder
from ._schema import Column, RawSchema
from ._tree import TreeScoringExplainer

__all__ = [
    "FLOAT32_MAX",
    "FORMAT_VERSION",
    "MANIFEST",
    "CancelToken",
    "Column",
    "ExplanationCancelled",
    "KernelScoringExplainer",
    "LinearScoringExplainer",
    "OnnxModel",
    "OnnxTransform",
    "OutputSpace",
    "RawSchema",
    "ScoreResult",
    "ScoringExplainer",
    "Task",
    "TreeScoringExplainer",
    "as_matrix",
    "check_names",
    "check_tolerance",
    "load",
    "register_builder",
    "save",
]
