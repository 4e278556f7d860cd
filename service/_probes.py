"""Probes and metrics: ``/healthz``, ``/readyz``, ``/metrics`` (open without the API key)."""

from __future__ import annotations

from litestar import Controller, MediaType, Response, get
from litestar.di import NamedDependency
from prometheus_client import CONTENT_TYPE_LATEST

from ._openapi import error_docs
from .policy import error_response
from .runtime import ScoringRuntime, encode
from .schemas import StatusBody

__all__ = ["ProbesController"]


class ProbesController(Controller):
    """Liveness, readiness (the artifact is loaded) and the Prometheus metrics."""

    tags = ["probes"]  # noqa: RUF012 - Litestar's layer attribute

    @get("/healthz", summary="Liveness")
    async def healthz(self) -> dict[str, str]:
        return {"status": "alive"}

    @get(
        "/readyz",
        summary="Readiness: the artifact is loaded",
        responses=error_docs(StatusBody, 503),
    )
    async def readyz(self, runtime: NamedDependency[ScoringRuntime]) -> Response[bytes]:
        if runtime.ready:
            return Response(encode({"status": "ready"}), media_type=MediaType.JSON)
        return error_response(503, runtime.not_ready_reason)

    @get("/metrics", media_type=CONTENT_TYPE_LATEST, summary="Prometheus metrics")
    async def metrics(self, runtime: NamedDependency[ScoringRuntime]) -> Response[bytes]:
        return Response(runtime.metrics.render(), media_type=CONTENT_TYPE_LATEST)
