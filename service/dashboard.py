"""``/dashboard``: the explanation dashboard's page and files, served by the service itself.

The files come from :mod:`scoring_explainers.dashboard` (shared with the notebook
dashboard); they are read once, when the app is built. The page reads ``/explanations``
and ``/score`` from the same origin and asks for the API key when the service has one, so
the page and its files are open like the probes.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router, get
from litestar.params import FromPath
from litestar.response import Redirect

from scoring_explainers.dashboard import ASSETS, CONTENT_SECURITY_POLICY, asset

__all__ = ["create_dashboard_router", "is_dashboard_path"]


def is_dashboard_path(path: str) -> bool:
    """Whether ``path`` is the dashboard's page or one of its files (no API key needed)."""
    return path == "/dashboard" or path.startswith("/dashboard/")


def _load() -> dict[str, bytes]:
    files = {}
    for name in ASSETS:
        try:
            files[name] = asset(name)
        except FileNotFoundError:  # a wheel built without the package data
            pass
    return files


def create_dashboard_router() -> Router:
    """The page at ``/dashboard`` and its files at ``/dashboard/static/<name>``."""
    files = _load()
    headers = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "Cache-Control": "no-cache"}

    def answer(name: str) -> Response[bytes]:
        if name not in files:
            return Response(
                b'{"error": "dashboard file not found (or not installed)", "status": 404}',
                status_code=404,
                media_type="application/json",
            )
        return Response(files[name], media_type=ASSETS[name], headers=headers)

    @get("/", include_in_schema=False)
    async def page(request: Request[Any, Any, Any]) -> Response[bytes] | Redirect:
        """The dashboard (``?run=RUN_ID`` opens the latest explanation of that run).

        ``/dashboard/`` redirects to ``/dashboard``: the page's URLs are relative (so that
        it works behind a proxy's path prefix), and from ``/dashboard/`` they would miss.
        """
        raw_path = bytes(request.scope.get("raw_path") or b"").split(b"?", 1)[0]
        if raw_path.endswith(b"/"):  # Litestar's own ``path`` has the slash stripped
            query = request.scope.get("query_string", b"").decode("latin-1")
            return Redirect(path="../dashboard" + (f"?{query}" if query else ""))
        return answer("index.html")

    @get("/static/{name:str}", include_in_schema=False)
    async def static(name: FromPath[str]) -> Response[bytes]:
        return answer(name if name != "index.html" else "")

    return Router(path="/dashboard", route_handlers=[page, static])
