"""scoring-explainers: fast, deterministic, pickle-free SHAP explanations at inference time.

``import scoring_explainers`` gives the run-time surface: :func:`load` / :func:`save`,
:class:`ScoreResult`, the three scoring explainers, the explanation classes and their
files, and the errors; it imports numpy and onnxruntime only. The full explainers
(``TabularExplainer``, ``MimicExplainer``, ``PFIExplainer``), the surrogate models and
:func:`scoring_explainer_for` are attributes too, imported on first use (they need the
``distill`` extra: scikit-learn, shap, ...).

The older module paths (``scoring_explainers.scoring``, ``.explainers``, ``.explanation``,
``.convert``, ...) keep working.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._errors import (
    ArtifactError,
    ClientError,
    ConversionError,
    InputError,
    ScoringExplainersError,
    ServiceConnectionError,
    UnsupportedModelError,
)
from ._version import __version__
from .explanation import GlobalExplanation, LocalExplanation, load_explanation, save_explanation
from .runtime import (
    KernelScoringExplainer,
    LinearScoringExplainer,
    ScoreResult,
    ScoringExplainer,
    TreeScoringExplainer,
    load,
    save,
)

if TYPE_CHECKING:
    from .explainers import MimicExplainer, PFIExplainer, TabularExplainer, scoring_explainer_for
    from .surrogates import (
        DecisionTreeExplainableModel,
        LGBMExplainableModel,
        LinearExplainableModel,
        SGDExplainableModel,
    )

#: Attributes imported on first use (the distill side), by the module that defines them.
_LAZY: dict[str, str] = {
    "DecisionTreeExplainableModel": "scoring_explainers.surrogates",
    "LGBMExplainableModel": "scoring_explainers.surrogates",
    "LinearExplainableModel": "scoring_explainers.surrogates",
    "MimicExplainer": "scoring_explainers.explainers",
    "PFIExplainer": "scoring_explainers.explainers",
    "SGDExplainableModel": "scoring_explainers.surrogates",
    "TabularExplainer": "scoring_explainers.explainers",
    "scoring_explainer_for": "scoring_explainers.explainers",
}

__all__ = [
    "ArtifactError",
    "ClientError",
    "ConversionError",
    "DecisionTreeExplainableModel",
    "GlobalExplanation",
    "InputError",
    "KernelScoringExplainer",
    "LGBMExplainableModel",
    "LinearExplainableModel",
    "LinearScoringExplainer",
    "LocalExplanation",
    "MimicExplainer",
    "PFIExplainer",
    "SGDExplainableModel",
    "ScoreResult",
    "ScoringExplainer",
    "ScoringExplainersError",
    "ServiceConnectionError",
    "TabularExplainer",
    "TreeScoringExplainer",
    "UnsupportedModelError",
    "__version__",
    "load",
    "load_explanation",
    "save",
    "save_explanation",
    "scoring_explainer_for",
]


def __getattr__(name: str) -> Any:
    """The distill-side names of ``__all__``, imported when first asked for."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
