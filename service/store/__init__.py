"""The explanation store: explanations kept under a run id (SQLite or PostgreSQL)."""

from .config import StoreConfig
from .controller import create_store_router
from .errors import Conflict, NotFound, StoreError, StoreFull, StoreUnavailable
from .repository import PostgresRepository, Repository, SQLiteRepository, open_repository
from .store import ExplanationStore

__all__ = [
    "Conflict",
    "ExplanationStore",
    "NotFound",
    "PostgresRepository",
    "Repository",
    "SQLiteRepository",
    "StoreConfig",
    "StoreError",
    "StoreFull",
    "StoreUnavailable",
    "create_store_router",
    "open_repository",
]
