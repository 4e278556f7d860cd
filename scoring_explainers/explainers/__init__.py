"""Full explainers with the familiar API (distill side: needs the ``distill`` extra).

``TabularExplainer`` picks exact TreeSHAP, exact linear SHAP or Kernel SHAP by the model's
type; ``MimicExplainer`` explains a surrogate; ``PFIExplainer`` gives permutation
importance. Scoring explainers are distilled from them with
``KernelScoringExplainer.from_explainer(explainer)`` (and the tree and linear ones) or
:func:`scoring_explainer_for`.

May import the distill side and the runtime (never the reverse).
"""

from ..distill import scoring_explainer_for
from ..surrogates import (
    DecisionTreeExplainableModel,
    LGBMExplainableModel,
    LinearExplainableModel,
    SGDExplainableModel,
)
from ._mimic import MimicExplainer
from ._pfi import PFIExplainer
from ._tabular import TabularExplainer

__all__ = [
    "DecisionTreeExplainableModel",
    "LGBMExplainableModel",
    "LinearExplainableModel",
    "MimicExplainer",
    "PFIExplainer",
    "SGDExplainableModel",
    "TabularExplainer",
    "scoring_explainer_for",
]
