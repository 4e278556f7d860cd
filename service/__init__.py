"""The scoring service: one artifact, predictions with local importances over HTTP."""

from .app import create_app
from .runtime import ScoringRuntime
from .settings import Settings

__all__ = ["ScoringRuntime", "Settings", "create_app"]
