"""Scoring explainers: the runtime side (numpy + onnxruntime only).

Nothing here imports shap or scikit-learn; distilling (``from_model``) does, lazily.
"""

from ..artifact import load, save
from ._base import ScoreResult, ScoringExplainer
from ._onnx_model import OnnxModel
from .kernel import KernelScoringExplainer
from .linear import LinearScoringExplainer

__all__ = [
    "KernelScoringExplainer",
    "LinearScoringExplainer",
    "OnnxModel",
    "ScoreResult",
    "ScoringExplainer",
    "load",
    "save",
]
