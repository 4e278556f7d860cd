"""How long a request's work may run: until its client leaves, or until its deadline.

The explanation runs in a worker thread; while it runs, the request's task waits for
whichever comes first: the work's end, an ``http.disconnect`` on ``receive`` (the client
closed the connection), or the deadline (``SCORING_REQUEST_TIMEOUT_SECONDS`` after the
request was taken). The request's :class:`RequestLifetime` is the work's ``cancel`` token:
the explainer checks it before each chunk of model evaluations, so work nobody will read
stops at the next chunk instead of running to its end.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import anyio
from litestar.types import Receive

__all__ = ["ClientGone", "DeadlineExceeded", "RequestLifetime", "run_in_worker"]

T = TypeVar("T")


class ClientGone(Exception):
    """The client disconnected before its answer was ready; nothing is sent."""


class DeadlineExceeded(Exception):
    """The request's work ran past its deadline and was stopped (answered 503)."""

    def __init__(self, timeout: float) -> None:
        super().__init__(
            f"the request's deadline of {timeout:g} s passed before its explanation "
            "finished; it was stopped (send fewer rows per request)"
        )


class RequestLifetime:
    """The cancellation token of one request: set once its client has gone or its deadline
    (``timeout`` seconds from now; 0: none) has passed. ``is_set`` is what the explainer
    calls from its worker thread before each chunk."""

    __slots__ = ("client_gone", "deadline", "timeout")

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout if timeout > 0 else math.inf
        self.client_gone = False

    def is_set(self) -> bool:
        return self.client_gone or time.monotonic() >= self.deadline

    def remaining(self) -> float | None:
        """Seconds left before the deadline (``None``: no deadline)."""
        if self.deadline == math.inf:
            return None
        return max(0.0, self.deadline - time.monotonic())


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _retrieve(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()  # the work was stopped on purpose: nobody waits for its error


async def run_in_worker(
    lifetime: RequestLifetime, receive: Receive, func: Callable[..., T], *args: Any
) -> T:
    """``func(*args, cancel=lifetime)`` in a worker thread, watched.

    ``receive`` must have delivered the whole body already: what it gives next is the
    client's disconnect.

    Raises
    ------
    ClientGone
        The client disconnected first; the work stops at its next chunk.
    DeadlineExceeded
        The deadline passed first; the work stops at its next chunk.
    """
    loop = asyncio.get_running_loop()
    work = loop.create_task(anyio.to_thread.run_sync(partial(func, *args, cancel=lifetime)))
    watch = loop.create_task(_until_disconnect(receive))
    watch.add_done_callback(_retrieve)
    try:
        done, _ = await asyncio.wait(
            (work, watch), timeout=lifetime.remaining(), return_when=asyncio.FIRST_COMPLETED
        )
    except asyncio.CancelledError:
        lifetime.client_gone = True  # the request itself is cancelled: stop the work too
        watch.cancel()
        work.add_done_callback(_retrieve)
        raise
    watch.cancel()
    if work in done:
        return work.result()
    # The worker sees the token set at its next chunk; its thread finishes then, on its
    # own. The answer (or the silence) does not wait for it.
    work.add_done_callback(_retrieve)
    if watch in done:
        lifetime.client_gone = True
        raise ClientGone
    lifetime.deadline = min(lifetime.deadline, time.monotonic())  # set, whatever the clocks
    raise DeadlineExceeded(lifetime.timeout)
