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

    def add(self, record: NewRecord) -> dict[str, Any]:
        return self.open().add(record)

    def runs(self) -> list[dict[str, Any]]:
        return self.open().runs()

    def list(self, run_id: str, **filters: Any) -> list[dict[str, Any]]:
        return self.open().list(run_id, **filters)

    def find(self, run_id: str, **filters: Any) -> tuple[dict[str, Any], bytes, bytes | None]:
        return self.open().find(run_id, **filters)

    def delete(self, run_id: str, explanation_id: str | None = None) -> int:
        return self.open().delete(run_id, explanation_id)
