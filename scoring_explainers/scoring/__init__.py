"""Scoring explainers (an older import path of :mod:`scoring_explainers.runtime`, kept).

``from scoring_explainers.scoring import KernelScoringExplainer, load, save`` keeps
working; new code can import the same names from :mod:`scoring_explainers`.
"""

from ..runtime import (
    CancelToken,
    ExplanationCancelled,
    KernelScoringExplainer,
    LinearScoringExplainer,
    OnnxModel,
    ScoreResult,
    ScoringExplainer,
    TreeScoringExplainer,
    load,
    save,
)

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
