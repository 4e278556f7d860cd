"""Where explanations are kept: SQLite by default, PostgreSQL when a URL is given."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["StoreConfig"]


@dataclass(frozen=True)
class StoreConfig:
    """How the explanation store runs (from the service settings)."""

    sqlite_path: str = "data/explanations.sqlite3"
    """SQLite file (its directory is created); empty switches the store off unless
    ``database_url`` is set. One file serves one replica: use PostgreSQL for several."""

    database_url: str = ""
    """``postgresql://user:password@host:port/db``; when set the store uses PostgreSQL
    (through psycopg 3) instead of the SQLite file."""

    max_upload_bytes: int = 64 * 2**20
    """Largest upload body in bytes; more is a 413."""

    @property
    def backend(self) -> Literal["postgresql", "sqlite", "off"]:
        """Which database the store uses."""
        if self.database_url:
            return "postgresql"
        return "sqlite" if self.sqlite_path else "off"
