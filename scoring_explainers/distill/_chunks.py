"""Chunk size tuning for the Kernel engines (``max_synthetic_rows="auto"``)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..runtime._kernel import DEFAULT_MAX_SYNTHETIC_ROWS

__all__ = ["CHUNK_CANDIDATES", "TUNING_BUDGET", "fastest_chunk"]

#: Chunk sizes tried by ``max_synthetic_rows="auto"``.
CHUNK_CANDIDATES = (1_024, 2_048, 4_096, 8_192, 16_384, 32_768)
#: Seconds of distill time the chunk tuning may take at most.
TUNING_BUDGET = 2.0


def fastest_chunk(model: Any, synthetic: np.ndarray) -> int:
    """The chunk size with the best throughput on ``synthetic`` rows (best of 2 passes)."""
    best, best_rate = DEFAULT_MAX_SYNTHETIC_ROWS, 0.0
    began = time.perf_counter()
    for size in CHUNK_CANDIDATES:
        if size > len(synthetic):
            break
        elapsed = []
        for _ in range(2):
            start = time.perf_counter()
            for begin in range(0, len(synthetic) - size + 1, size):
                model.outputs(synthetic[begin : begin + size])
            elapsed.append(time.perf_counter() - start)
        rate = (len(synthetic) // size) * size / min(elapsed)
        if rate > best_rate:
            best, best_rate = size, rate
        if time.perf_counter() - began > TUNING_BUDGET:  # a slow model: stop tuning
            break
    return best
