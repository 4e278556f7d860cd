"""The application factory: the controllers (score, probes, V2, store, dashboard) with the
runtime, settings, store and parse slots injected, the one policy (:mod:`service.policy`),
a lifespan that runs the loader and store-opener tasks, and the fast ``/score`` path
(:class:`service.fast_score.FastScore`) composed around Litestar's handler."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import anyio
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components

from scoring_explainers._version import __version__

from ._openapi import describe_artifact
from ._probes import ProbesController
from ._score import ScoreController
from ._v2_api import V2Controller
from .dashboard import DashboardController
from .fast_score import FastScore
from .policy import ERROR_HANDLERS, ApiKey, RequestMetrics
from .runtime import ScoringRuntime
from .settings import Settings
from .store import ExplanationStore, StoreConfig, create_store_router

__all__ = ["create_app"]

log = logging.getLogger("service")


def _background(
    settings: Settings, runtime: ScoringRuntime, store: ExplanationStore
) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """The app's lifespan: load the artifact, open the store; cancel both on shutdown.

    The first load runs before the app takes requests. A bad artifact never crashes the
    service: it stays up, not ready, with the reason in the log and in ``/readyz``, and
    tries again every ``load_retry_seconds`` (the volume may be filled later). The store
    opens in the background: one that cannot be opened (an unwritable directory, a
    database that is down) is a warning in the log and a 503 on ``/explanations``; it
    neither delays nor stops scoring, and requests try to open it again.
    """

    async def keep_loading() -> None:
        while not await anyio.to_thread.run_sync(runtime.try_load):
            await anyio.sleep(settings.load_retry_seconds)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        tasks: list[asyncio.Task[Any]] = [
            loop.create_task(anyio.to_thread.run_sync(store.try_open))
        ]
        if not await anyio.to_thread.run_sync(runtime.try_load) and settings.load_retry_seconds:
            tasks.append(loop.create_task(keep_loading()))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            store.close()

    return lifespan


def create_app(settings: Settings | None = None, runtime: ScoringRuntime | None = None) -> Litestar:
    """Build the service for one artifact.

    Parameters
    ----------
    settings : Settings, optional
        Default: :meth:`Settings.from_env`.
    runtime : ScoringRuntime, optional
        Default: a new runtime for ``settings``; the artifact is loaded at start-up.

    Returns
    -------
    Litestar
        The application; its ``asgi_handler`` is the fast ``/score`` path wrapped around
        the request metrics and Litestar's own handler. ``app.state`` holds the
        ``runtime``, ``settings``, ``store`` and ``parse_slots`` its handlers are given.
    """
    settings = settings or Settings.from_env()
    runtime = runtime or ScoringRuntime(settings)
    store_config = StoreConfig(
        sqlite_path=settings.store_path,
        database_url=settings.database_url,
        max_upload_bytes=settings.store_max_bytes,
    )
    store = ExplanationStore(store_config)
    api_key = ApiKey(settings.api_key.encode())
    state = State(
        {
            "runtime": runtime,
            "settings": settings,
            "store": store,
            "parse_slots": runtime.parse_slots,  # explanation uploads share the bound
        }
    )
    app = Litestar(
        route_handlers=[
            ScoreController,
            ProbesController,
            V2Controller,
            create_store_router(store_config),
            DashboardController,
        ],
        dependencies={
            name: Provide(_from_state(name), sync_to_thread=False, use_cache=True)
            for name in ("runtime", "settings", "store", "parse_slots")
        },
        lifespan=[_background(settings, runtime, store)],
        exception_handlers={**ERROR_HANDLERS},
        middleware=[api_key.middleware],
        openapi_config=describe_artifact(
            OpenAPIConfig(
                title="scoring-explainers",
                version=__version__,
                description="Predictions with local feature importances (SHAP values).",
                components=Components(),
            ),
            lambda _: runtime.explainer.schema if runtime.ready else None,
        ),
        request_max_body_size=settings.max_body_bytes,
        state=state,
        debug=False,
    )
    app.asgi_handler = FastScore(
        RequestMetrics(app.asgi_handler, runtime.metrics.observe_request),
        runtime,
        api_key=api_key,
        max_body_bytes=settings.max_body_bytes,
        request_timeout=settings.request_timeout_seconds,
        observe=runtime.metrics.observe_request,
    )
    return app


def _from_state(name: str) -> Callable[[State], object]:
    """A dependency provider: ``app.state[name]``."""

    def provide(state: State) -> object:
        return state[name]

    return provide
