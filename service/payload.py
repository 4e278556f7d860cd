"""Request bodies: the parsing lives in the runtime (:mod:`scoring_explainers.runtime._payload`,
shared with the notebook dashboard and ``run(raw_data)``) and is re-exported here; what is the
service's own is :class:`ParseSlots`, the bound on the large bodies parsed at once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

import anyio

from scoring_explainers.runtime._payload import (
    MAX_DEPTH,
    BodyTooLarge,
    MalformedBody,
    Structure,
    check_size,
    check_unique_keys,
    decode,
    first_non_number,
    not_a_number,
    parse_rows,
    rows_from_payload,
    scan,
    value_budget,
)

__all__ = [
    "MAX_DEPTH",
    "BodyTooLarge",
    "MalformedBody",
    "ParseSlots",
    "Structure",
    "check_size",
    "check_unique_keys",
    "decode",
    "first_non_number",
    "not_a_number",
    "parse_rows",
    "rows_from_payload",
    "scan",
    "value_budget",
]

T = TypeVar("T")


class ParseSlots:
    """At most ``size`` bodies parsed at once, each in a worker thread.

    A request waiting for a slot holds only its body's bytes; the parse (several times
    the body in Python objects) happens once it has one.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._loop: asyncio.AbstractEventLoop | None = None
        self._semaphore: anyio.Semaphore | None = None

    def _slots(self) -> anyio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._semaphore is None or self._loop is not loop:  # one per event loop
            self._loop, self._semaphore = loop, anyio.Semaphore(self.size)
        return self._semaphore

    async def run(self, parse: Callable[..., T], *args: Any) -> T:
        """``parse(*args)`` in a worker thread once a slot is free."""
        async with self._slots():
            return await anyio.to_thread.run_sync(parse, *args)
