"""scoring-explainers: fast, deterministic, pickle-free SHAP explanations at inference time."""

from ._errors import (
    ArtifactError,
    ConversionError,
    InputError,
    ScoringExplainersError,
    UnsupportedModelError,
)
from ._version import __version__

__all__ = [
    "ArtifactError",
    "ConversionError",
    "InputError",
    "ScoringExplainersError",
    "UnsupportedModelError",
    "__version__",
]
