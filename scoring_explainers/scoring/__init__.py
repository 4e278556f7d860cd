"""Scoring explainers: the runtime side (numpy + onnxruntime only).

Nothing here imports shap or scikit-learn; distilling (``from_model``) does, lazily.
"""

from __future__ import annotations

import os
from pathlib import Path

from ._base import CancelToken, ExplanationCancelled, ScoreResult, ScoringExplainer
from ._onnx_model import OnnxModel
from .kernel import KernelScoringExplainer
from .linear import LinearScoringExplainer
from .tree import TreeScoringExplainer

__all__ = [
    "CancelToken",
    "ExplanationCancelled",
    "KernelScoringExplainer",
    "LinearScoringExplainer",
    "OnnxModel",
    "ScoreResult",
    "ScoringExplainer",
    "TreeScoringExplainer",
    "load",
    "save",
]


def save(
    explainer: ScoringExplainer, directory: str | os.PathLike[str], *, exist_ok: bool = False
) -> Path:
    """Write an artifact; see :func:`scoring_explainers.artifact.save`."""
    from ..artifact import save as _save

    return _save(explainer, directory, exist_ok=exist_ok)


def load(directory: str | os.PathLike[str], *, threads: int = 1) -> ScoringExplainer:
    """Read an artifact; see :func:`scoring_explainers.artifact.load`."""
    from ..artifact import load as _load

    return _load(directory, threads=threads)
