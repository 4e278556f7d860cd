"""The explanation table on SQLite (stdlib ``sqlite3``) or PostgreSQL (psycopg 3).

Both backends run the same statements (written with ``?`` placeholders); only the table
definition, the connection and the error types differ. Every call is synchronous: the
controller runs it in a worker thread. An upload is one ``INSERT`` in its own transaction,
so it is either stored whole or not at all.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, closing, contextmanager
from pathlib import Path
from typing import Any, TypeVar

from .config import StoreConfig
from .errors import Conflict, NotFound, StoreFull, StoreUnavailable
from .records import NewRecord, iso_time

__all__ = ["PostgresRepository", "Repository", "SQLiteRepository", "open_repository"]

log = logging.getLogger("service.store")
T = TypeVar("T")

#: Bytes the SQLite store keeps allocated next to its file, released for a DELETE on a
#: full disk (deleting 20 explanations of ~280 kB writes 33 kB of log).
RESERVE_BYTES = 4 * 2**20
_RESERVE_STEP = 64 * 2**10
#: Bytes an upload must leave free on the SQLite store's disk (else a 507).
HEADROOM_BYTES = 8 * 2**20
#: SQLite's primary result codes (https://sqlite.org/rescode.html).
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY, _SQLITE_IOERR = 5, 6, 8, 10
_SQLITE_FULL, _SQLITE_CANTOPEN = 13, 14

#: Columns answered by listings, in this order (the blobs are read only on download).
RECORD_COLUMNS = (
    "id",
    "run_id",
    "comment",
    "upload_time",
    "kind",
    "method",
    "model_task",
    "is_raw",
    "num_features",
    "num_examples",
    "num_classes",
    "top_k",
    "has_eval_data",
    "has_true_ys",
)
_SELECT = ", ".join(RECORD_COLUMNS)
_INSERT = (
    "INSERT INTO explanations (id, run_id, comment, upload_time, kind, method, model_task, "
    "is_raw, num_features, num_examples, num_classes, top_k, has_eval_data, has_true_ys, "
    "summary, body, true_ys) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_COLUMNS_DDL = """
    run_id TEXT NOT NULL,
    id TEXT NOT NULL,
    comment TEXT,
    upload_time {real} NOT NULL,
    kind TEXT NOT NULL,
    method TEXT NOT NULL,
    model_task TEXT NOT NULL,
    is_raw INTEGER NOT NULL,
    num_features INTEGER NOT NULL,
    num_examples INTEGER,
    num_classes INTEGER,
    top_k INTEGER,
    has_eval_data INTEGER NOT NULL,
    has_true_ys INTEGER NOT NULL,
    summary {blob} NOT NULL,
    body {blob} NOT NULL,
    true_ys {blob},
    UNIQUE (run_id, id)
"""
_INDEX_DDL = "CREATE INDEX IF NOT EXISTS explanations_by_run ON explanations (run_id, seq)"


def _record(row: Sequence[Any]) -> dict[str, Any]:
    """A listing entry (JSON-native) from a row of ``RECORD_COLUMNS``."""
    record = dict(zip(RECORD_COLUMNS, row, strict=True))
    record["upload_time"] = iso_time(record["upload_time"])
    for flag in ("is_raw", "has_eval_data", "has_true_ys"):
        record[flag] = bool(record[flag])
    record["is_engineered"] = not record["is_raw"]
    return record


def _filters(
    run_id: str,
    explanation_id: str | None,
    comment: str | None,
    is_raw: bool | None,
) -> tuple[str, list[Any]]:
    clauses: list[str] = ["run_id = ?"]
    params: list[Any] = [run_id]
    if explanation_id is not None:
        clauses.append("id = ?")
        params.append(explanation_id)
    if comment is not None:
        clauses.append("comment = ?")
        params.append(comment)
    if is_raw is not None:
        clauses.append("is_raw = ?")
        params.append(int(is_raw))
    return " AND ".join(clauses), params


class Repository(ABC):
    """Explanations keyed by ``(run_id, id)``; uploads ordered by arrival."""

    @abstractmethod
    def _transaction(self, *, write: bool = False) -> AbstractContextManager[Any]:
        """A cursor-like object with ``execute(sql, params)`` in one transaction."""

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._transaction() as tx:
            return list(tx.execute(sql, params).fetchall())

    def add(self, record: NewRecord) -> dict[str, Any]:
        """Store an upload; :class:`Conflict` when its id is already under the run."""
        now = time.time()
        params = (
            record.id,
            record.run_id,
            record.comment,
            now,
            record.kind,
            record.method,
            record.model_task,
            int(record.is_raw),
            record.num_features,
            record.num_examples,
            record.num_classes,
            record.top_k,
            int(record.has_eval_data),
            int(record.true_ys is not None),
            record.summary,
            record.body,
            record.true_ys,
        )
        try:
            with self._transaction(write=True) as tx:
                tx.execute(_INSERT, params)
        except self._integrity_errors as exc:
            raise Conflict(
                f"explanation {record.id!r} is already stored under run {record.run_id!r}"
            ) from exc
        return _record(params[: len(RECORD_COLUMNS)])

    def runs(self) -> list[dict[str, Any]]:
        """Runs with their number of explanations and latest upload, by latest upload."""
        rows = self._query(
            "SELECT run_id, COUNT(*), MAX(upload_time) FROM explanations "
            "GROUP BY run_id ORDER BY MAX(upload_time)"
        )
        return [
            {"run_id": run, "count": int(count), "latest_upload_time": iso_time(latest)}
            for run, count, latest in rows
        ]

    def list(
        self, run_id: str, *, comment: str | None = None, is_raw: bool | None = None
    ) -> list[dict[str, Any]]:
        """Explanations of a run matching the filters, oldest upload first."""
        where, params = _filters(run_id, None, comment, is_raw)
        rows = self._query(f"SELECT {_SELECT} FROM explanations WHERE {where} ORDER BY seq", params)
        return [_record(row) for row in rows]

    def find(
        self,
        run_id: str,
        *,
        explanation_id: str | None = None,
        comment: str | None = None,
        is_raw: bool | None = None,
        summary_only: bool = False,
    ) -> tuple[dict[str, Any], bytes, bytes | None]:
        """The newest match: its listing entry, its explanation (or summary) JSON and its
        true labels' JSON. :class:`NotFound` when nothing matches."""
        where, params = _filters(run_id, explanation_id, comment, is_raw)
        blob = "summary" if summary_only else "body"
        rows = self._query(
            f"SELECT {_SELECT}, {blob}, true_ys FROM explanations WHERE {where} "
            "ORDER BY seq DESC LIMIT 1",
            params,
        )
        if not rows:
            what = f"no explanation {explanation_id!r}" if explanation_id else "no explanation"
            filtered = " matching the filters" if comment is not None or is_raw is not None else ""
            raise NotFound(f"{what} under run {run_id!r}{filtered}")
        row = rows[0]
        n = len(RECORD_COLUMNS)
        true_ys = None if row[n + 1] is None else bytes(row[n + 1])
        return _record(row[:n]), bytes(row[n]), true_ys

    def delete(self, run_id: str, explanation_id: str | None = None) -> int:
        """Delete one explanation (or every explanation of the run); returns how many."""
        where, params = _filters(run_id, explanation_id, None, None)
        with self._transaction(write=True) as tx:
            count = int(tx.execute(f"DELETE FROM explanations WHERE {where}", params).rowcount)
        if not count:
            what = f"no explanation {explanation_id!r}" if explanation_id else "no explanation"
            raise NotFound(f"{what} under run {run_id!r}")
        return count

    _integrity_errors: tuple[type[BaseException], ...] = ()

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to release for SQLite
        """Release connections (nothing to do for SQLite)."""


class SQLiteRepository(Repository):
    """One SQLite file in WAL mode; a connection per call (cheap, and safe across threads
    and worker processes).

    A full disk must not lock explanations in. On a full disk even opening the database
    fails (the first connection makes its shared-memory index anew), and a ``DELETE``
    writes a few pages to the write-ahead log. So the store keeps ``reserve_bytes``
    allocated in a file next to the database (``<file>-reserve``): when reading or
    deleting fails for want of space, the reserve is released, the call tried once more,
    and the reserve made again as far as there is room (once the call is through, its
    space is free again). A ``DELETE`` overwrites only the pages it changes anyway
    (``secure_delete=FAST``: deleting 20 explanations of ~280 kB writes 33 kB of log, where
    SQLite's default on Debian, ``ON``, writes 5.7 MB); the freed pages keep their old
    bytes until they are reused. An upload is refused (:class:`StoreFull`) when it would
    leave less than ``headroom_bytes`` free on the disk, so that uploads alone never fill
    it.
    """

    _integrity_errors = (sqlite3.IntegrityError,)

    def __init__(
        self,
        path: str | Path,
        *,
        reserve_bytes: int = RESERVE_BYTES,
        headroom_bytes: int = HEADROOM_BYTES,
        busy_timeout: float = 30.0,
    ) -> None:
        self.path = Path(path)
        self.reserve = self.path.with_name(self.path.name + "-reserve")
        self.reserve_bytes = reserve_bytes
        self.headroom_bytes = headroom_bytes
        self.busy_timeout = busy_timeout
        self._reserve_short = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with closing(self._connect()) as conn:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS explanations (\n"
                    "    seq INTEGER PRIMARY KEY AUTOINCREMENT,"
                    + _COLUMNS_DDL.format(real="REAL", blob="BLOB")
                    + ")"
                )
                conn.execute(_INDEX_DDL)
        except (OSError, sqlite3.Error) as exc:
            raise StoreUnavailable(
                f"cannot open the SQLite store {self.path.absolute()}: {exc} (set "
                "SCORING_STORE_PATH to a file in a writable directory, SCORING_DATABASE_URL "
                "for PostgreSQL, or SCORING_STORE_PATH='' to switch the store off)"
            ) from exc
        self._make_reserve()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
        conn.execute("PRAGMA synchronous=NORMAL")  # WAL: durable at checkpoints, never corrupt
        conn.execute("PRAGMA secure_delete=FAST")  # a DELETE writes only the pages it changes
        return conn

    @contextmanager
    def _transaction(self, *, write: bool = False) -> Iterator[Any]:
        try:
            conn = self._connect()
        except sqlite3.Error as exc:
            raise self._unavailable(exc, "cannot open the SQLite store") from exc
        try:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            yield conn
            conn.execute("COMMIT")
        except sqlite3.IntegrityError:
            raise  # a duplicate id: the caller's Conflict
        except sqlite3.DatabaseError as exc:  # locked, read-only, disk full, not a database
            raise self._unavailable(exc, "SQLite store") from exc
        finally:
            try:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            except sqlite3.Error:
                log.warning("rollback failed on the SQLite store %s", self.path)
            conn.close()

    def _unavailable(self, exc: sqlite3.Error, what: str) -> StoreUnavailable:
        """The store error for a SQLite error: full (507), read-only, busy or other (503)."""
        code = getattr(exc, "sqlite_errorcode", 0) & 0xFF  # the primary result code
        where = f"{what} {self.path}: {exc}"
        if code == _SQLITE_FULL or (code == _SQLITE_IOERR and self._free_bytes() == 0):
            return StoreFull(
                f"the explanation store is full ({where}): delete explanations or give "
                "the store more space"
            )
        if code == _SQLITE_READONLY or (
            code in (_SQLITE_CANTOPEN, _SQLITE_IOERR) and self._read_only()
        ):
            return StoreUnavailable(f"the explanation store is read-only ({where})")
        if code in (_SQLITE_BUSY, _SQLITE_LOCKED):
            return StoreUnavailable(
                f"the explanation store is busy ({where} after {self.busy_timeout:g} s): try again"
            )
        return StoreUnavailable(where)

    def _read_only(self) -> bool:
        """Whether the store's file system is mounted read-only."""
        try:
            return bool(os.statvfs(self.path.parent).f_flag & os.ST_RDONLY)
        except OSError:
            return False

    def _free_bytes(self) -> int:
        """Bytes free for this process on the store's file system (-1 if unknown)."""
        try:
            return shutil.disk_usage(self.path.parent).free
        except OSError:
            return -1

    def add(self, record: NewRecord) -> dict[str, Any]:
        """Store an upload; :class:`StoreFull` when it would leave the disk too full."""
        size = len(record.summary) + len(record.body) + len(record.true_ys or b"")
        free = self._free_bytes()
        if free >= 0:
            # The upload goes to the write-ahead log, then into the database, which grows
            # by what its free pages cannot hold.
            needed = 2 * size + self.headroom_bytes
            if size + self.headroom_bytes <= free < needed:
                spare = int(
                    self._query(
                        "SELECT freelist_count * page_size FROM pragma_freelist_count, "
                        "pragma_page_size"
                    )[0][0]
                )
                needed -= min(size, spare)
            if free < needed:
                raise StoreFull(
                    f"the explanation store is full: its disk has {free} bytes free, and "
                    f"this upload of {size} bytes needs {needed} (with "
                    f"{self.headroom_bytes} kept free for deletions): delete explanations "
                    "or give the store more space"
                )
        return super().add(record)

    # Reading and deleting never need much room, but on a full disk even opening the
    # database fails (its shared-memory index is made anew by the first connection): they
    # are tried once more with the reserve released.
    def runs(self) -> list[dict[str, Any]]:
        return self._with_reserve(super().runs)

    def list(self, run_id: str, **filters: Any) -> list[dict[str, Any]]:
        return self._with_reserve(super().list, run_id, **filters)

    def find(self, run_id: str, **filters: Any) -> tuple[dict[str, Any], bytes, bytes | None]:
        return self._with_reserve(super().find, run_id, **filters)

    def delete(self, run_id: str, explanation_id: str | None = None) -> int:
        return self._with_reserve(super().delete, run_id, explanation_id)

    def _with_reserve(self, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``call``, and on a full disk ``call`` again with the reserve released; the
        reserve is made again afterwards, as far as there is room."""
        try:
            return call(*args, **kwargs)
        except StoreFull:
            if not self._release_reserve():
                raise
            log.warning(
                "the explanation store's disk is full: released its reserve %s to read "
                "or delete explanations",
                self.reserve,
            )
            return call(*args, **kwargs)
        finally:
            self._make_reserve()

    def _release_reserve(self) -> bool:
        try:
            if not self.reserve.stat().st_size:
                return False
            self.reserve.unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            log.warning("cannot release the store's reserve %s: %s", self.reserve, exc)
            return False
        return True

    def _make_reserve(self) -> None:
        """Allocate the reserve file up to ``reserve_bytes``, as far as there is room (a
        warning when it cannot be made whole; it is tried again after each call)."""
        try:
            size = self.reserve.stat().st_size
        except FileNotFoundError:
            size = 0
        except OSError:
            return
        if size >= self.reserve_bytes:
            self._reserve_short = False
            return
        try:
            fd = os.open(self.reserve, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                while size < self.reserve_bytes:  # in steps: what fits is kept
                    step = min(_RESERVE_STEP, self.reserve_bytes - size)
                    os.posix_fallocate(fd, size, step)
                    size += step
            finally:
                os.close(fd)
            self._reserve_short = False
        except OSError as exc:
            if not self._reserve_short:
                log.warning(
                    "the explanation store's reserve %s has %d of %d bytes (%s); a DELETE "
                    "on a full disk may fail until there is room",
                    self.reserve,
                    size,
                    self.reserve_bytes,
                    exc,
                )
            self._reserve_short = True


class _PgCursor:
    """``execute`` with ``?`` placeholders over a psycopg connection."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._conn.execute(sql.replace("?", "%s"), params)


class PostgresRepository(Repository):
    """PostgreSQL through psycopg 3, with a few idle connections kept for reuse."""

    def __init__(self, url: str, *, idle: int = 4) -> None:
        try:
            import psycopg
        except ImportError as exc:  # pragma: no cover - depends on the installed extras
            raise StoreUnavailable(
                "SCORING_DATABASE_URL is set but psycopg is not installed "
                "(pip install 'scoring-explainers[store]')"
            ) from exc
        self._psycopg = psycopg
        self._integrity_errors = (psycopg.IntegrityError,)
        self._url = url
        self._idle: list[Any] = []
        self._idle_max = idle
        self._lock = threading.Lock()
        ddl = (
            "CREATE TABLE IF NOT EXISTS explanations (\n"
            "    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
            + _COLUMNS_DDL.format(real="DOUBLE PRECISION", blob="BYTEA")
            + ")"
        )
        with self._transaction(write=True) as tx:
            # replicas starting together must not race on CREATE TABLE
            tx.execute("SELECT pg_advisory_xact_lock(7231)")
            tx.execute(ddl)
            tx.execute(_INDEX_DDL)

    def _connect(self) -> Any:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        try:
            return self._psycopg.connect(self._url, connect_timeout=10, autocommit=True)
        except self._psycopg.Error as exc:
            raise StoreUnavailable(f"cannot connect to the PostgreSQL store: {exc}") from exc

    def _release(self, conn: Any) -> None:
        with self._lock:
            if len(self._idle) < self._idle_max and not conn.closed:
                self._idle.append(conn)
                return
        conn.close()

    @contextmanager
    def _transaction(self, *, write: bool = False) -> Iterator[Any]:
        conn = self._connect()
        broken = False
        try:
            with conn.transaction():
                yield _PgCursor(conn)
        except self._psycopg.IntegrityError:
            raise  # a duplicate id: the caller's Conflict
        except self._psycopg.errors.DiskFull as exc:
            raise StoreFull(
                f"the explanation store is full (PostgreSQL: {exc}): delete explanations or "
                "give the database more space"
            ) from exc
        except self._psycopg.OperationalError as exc:
            broken = True
            raise StoreUnavailable(f"PostgreSQL store: {exc}") from exc
        except self._psycopg.Error as exc:  # e.g. no privilege on the table, read-only
            raise StoreUnavailable(f"PostgreSQL store: {exc}") from exc
        finally:
            if broken or conn.broken:
                conn.close()
            else:
                self._release(conn)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def open_repository(config: StoreConfig) -> Repository:
    """The repository ``config`` names; :class:`StoreUnavailable` when it is off or cannot
    be opened."""
    if config.backend == "postgresql":
        return PostgresRepository(config.database_url)
    if config.backend == "sqlite":
        return SQLiteRepository(config.sqlite_path)
    raise StoreUnavailable(
        "the explanation store is off (SCORING_STORE_PATH is empty): this service keeps "
        "no explanations; set SCORING_STORE_PATH to a SQLite file or SCORING_DATABASE_URL "
        "to a PostgreSQL database to switch it on"
    )
