"""Errors of the explanation store; each carries the HTTP status it answers with."""

from __future__ import annotations

from ..policy import StatusError

__all__ = ["Conflict", "NotFound", "StoreError", "StoreFull", "StoreUnavailable"]


class StoreError(StatusError):
    """Base class: ``status`` is the HTTP status, the message says what went wrong."""

    status = 500


class NotFound(StoreError):
    """No explanation (or run) matches the request."""

    status = 404


class Conflict(StoreError):
    """An explanation with this id is already stored under the run."""

    status = 409


class StoreUnavailable(StoreError):
    """The store is switched off, or its database cannot be reached or written."""

    status = 503


class StoreFull(StoreUnavailable):
    """The store's disk (or database) has no room for the write: 507 Insufficient Storage."""

    status = 507
