"""``/dashboard``: the explanation dashboard's page and files, served by the service itself.

The files come from :mod:`scoring_explainers.dashboard` (shared with the notebook
dashboard); they are read once, when the app is built. The page reads ``/explanations``
and ``/score`` from the same origin and asks for the API key when the service has one, so
the page and its files are open like the probes (:func:`service.policy.is_open`).
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, Router, get
from litestar.params import FromPath
from litestar.response import Redirect

from scoring_explainers._dashboard_assets import ASSETS, CONTENT_SECURITY_POLICY, asset

from .policy import DASHBOARD, error_response

__all__ = ["DashboardController"]

_HEADERS = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "Cache-Control": "no-cache"}


def _load() -> dict[str, bytes]:
    files = {}
    for name in ASSETS:
        try:
            files[name] = asset(name)
        except FileNotFoundError:  # a wheel built without the package data
            pass
    return files


class DashboardController(Controller):
    """The page at ``/dashboard`` and its files at ``/dashboard/static/<name>``."""

    path = DASHBOARD
    include_in_schema = False

    def __init__(self, owner: Router) -> None:
        super().__init__(owner)
        self.files = _load()

    def _answer(self, name: str) -> Response[bytes]:
        if name not in self.files:
            return error_response(404, "dashboard file not found (or not installed)")
        return Response(self.files[name], media_type=ASSETS[name], headers=_HEADERS)

    @get("/")
    async def page(self, request: Request[Any, Any, Any]) -> Response[bytes] | Redirect:
        """The dashboard (``?run=RUN_ID`` opens the latest explanation of that run).

        ``/dashboard/`` redirects to ``/dashboard``: the page's URLs are relative (so that
        it works behind a proxy's path prefix), and from ``/dashboard/`` they would miss.
        """
        raw_path = bytes(request.scope.get("raw_path") or b"").split(b"?", 1)[0]
        if raw_path.endswith(b"/"):  # Litestar's own ``path`` has the slash stripped
            query = request.scope.get("query_string", b"").decode("latin-1")
            return Redirect(path="../dashboard" + (f"?{query}" if query else ""))
        return self._answer("index.html")

    @get("/static/{name:str}")
    async def static(self, name: FromPath[str]) -> Response[bytes]:
        return self._answer(name if name != "index.html" else "")
