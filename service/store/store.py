"""The store as the service holds it: opened at start-up, reopened on demand after a
failure (a database that is down at start-up does not keep the service from scoring)."""

from __future__ import annotations

import logging
import threading
from typing import Any

from .config import StoreConfig
from .errors import StoreUnavailable
from .records import NewRecord
from .repository import Repository, open_repository

__all__ = ["ExplanationStore"]

log = logging.getLogger("service.store")


class ExplanationStore:
    """Thread-safe access to the configured repository; every method is synchronous and
    meant for a worker thread."""

    def __init__(self, config: StoreConfig) -> None:
        self.config = config
        self._repository: Repository | None = None
        self._lock = threading.Lock()
        self.error: str | None = None

    def open(self) -> Repository:
        """The repository, opening it first if needed (:class:`StoreUnavailable` if not)."""
        repository = self._repository
        if repository is not None:
            return repository
        with self._lock:
            if self._repository is None:
                try:
                    self._repository = open_repository(self.config)
                except StoreUnavailable as exc:
                    if str(exc) != self.error:  # once per distinct reason, not per request
                        switched_off = self.config.backend == "off"
                        log.log(
                            logging.INFO if switched_off else logging.WARNING,
                            "explanation store unavailable (scoring is not affected; "
                            "/explanations answers 503): %s",
                            exc,
                        )
                    self.error = str(exc)
                    raise
                self.error = None
                log.info("explanation store: %s", self.config.backend)
            return self._repository

    def try_open(self) -> bool:
        """Open at start-up; a failure is logged (a warning) and retried on the next
        request, so a store that cannot be opened never keeps the service from scoring."""
        try:
            self.open()
        except StoreUnavailable:
            return False
        return True

    def close(self) -> None:
        with self._lock:
            if self._repository is not None:
                self._repository.close()
                self._repository = None

    def _call(self, operation: str, name: str, *args: Any, **kwargs: Any) -> Any:
        """The repository's method ``name``; a failure of the database (a 503 or 507: a full
        disk, a read-only file system, a lock held too long, ...) is logged as a warning
        before it is answered. (A store that cannot be opened is logged by :meth:`open`,
        once per reason.)"""
        method = getattr(self.open(), name)
        try:
            return method(*args, **kwargs)
        except StoreUnavailable as exc:
            log.warning("explanation store: %s failed (%d): %s", operation, exc.status, exc)
            raise

    def add(self, record: NewRecord) -> dict[str, Any]:
        what = f"upload of {record.id!r} to run {record.run_id!r}"
        result: dict[str, Any] = self._call(what, "add", record)
        return result

    def runs(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("listing the runs", "runs")
        return result

    def list(self, run_id: str, **filters: Any) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call(
            f"listing run {run_id!r}", "list", run_id, **filters
        )
        return result

    def find(self, run_id: str, **filters: Any) -> tuple[dict[str, Any], bytes, bytes | None]:
        result: tuple[dict[str, Any], bytes, bytes | None] = self._call(
            f"download from run {run_id!r}", "find", run_id, **filters
        )
        return result

    def delete(self, run_id: str, explanation_id: str | None = None) -> int:
        what = f"{explanation_id!r} of run {run_id!r}" if explanation_id else f"run {run_id!r}"
        return int(self._call(f"deleting {what}", "delete", run_id, explanation_id))
