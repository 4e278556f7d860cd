"""The dashboard's page and files (shared by the notebook dashboard and the service, which
must not import the notebook side's optional pandas use)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["ASSETS", "CONTENT_SECURITY_POLICY", "STATIC_DIR", "asset"]

STATIC_DIR = Path(__file__).resolve().parent / "dashboard_static"
#: The dashboard's files and their media types (``index.html`` is the page itself).
ASSETS = {
    "index.html": "text/html; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}
#: Everything the page loads or calls comes from its own origin.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)


def asset(name: str) -> bytes:
    """The bytes of one dashboard file (``FileNotFoundError`` if not installed)."""
    if name not in ASSETS:
        raise FileNotFoundError(name)
    return (STATIC_DIR / name).read_bytes()
