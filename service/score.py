"""The familiar entry-script contract: ``init()`` then ``run(raw_data)``.

    from service import score
    score.init()                      # loads $SCORING_ARTIFACT (or $AZUREML_MODEL_DIR)
    score.run('{"data": [[...]]}')    # {"predictions": [...], "local_importance_values": ...}

``run`` goes through the same runtime as ``POST /score``; the result is JSON-native.
"""

from __future__ import annotations

import os
from typing import Any

import orjson

from scoring_explainers import ScoringExplainersError

from .runtime import ScoringRuntime, encode
from .settings import Settings

__all__ = ["init", "run"]

_runtime: ScoringRuntime | None = None


def init(artifact: str | None = None) -> None:
    """Load the artifact: ``artifact``, else ``$SCORING_ARTIFACT``, else
    ``$AZUREML_MODEL_DIR``."""
    global _runtime
    path = artifact or os.environ.get("SCORING_ARTIFACT") or os.environ.get("AZUREML_MODEL_DIR")
    settings = Settings.from_env(artifact=path)
    runtime = ScoringRuntime(settings)
    runtime.load()
    _runtime = runtime


def run(
    raw_data: str | bytes,
    top_k: int | None = None,
    *,
    uncertainty: bool = False,
    tolerance: float | None = None,
) -> dict[str, Any]:
    """Score a JSON body; bad input gives ``{"error": "..."}`` instead of raising.

    ``top_k``, ``uncertainty`` and ``tolerance`` as the query parameters of
    ``POST /score`` (``standard_errors`` and ``coalitions_used`` in the answer)."""
    if _runtime is None:
        raise RuntimeError("call init() before run()")
    try:
        result = _runtime.score_body(raw_data, top_k, uncertainty=uncertainty, tolerance=tolerance)
    except ScoringExplainersError as exc:
        return {"error": str(exc)}
    decoded: dict[str, Any] = orjson.loads(encode(result))
    return decoded
