"""JSON-native copies of numpy values (manifests, explanations, response bodies)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["json_native"]


def json_native(value: Any) -> Any:
    """Plain Python (JSON-native) copy of numpy values, arrays and containers."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): json_native(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_native(v) for v in value]
    return value
