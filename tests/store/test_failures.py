"""The store switched off, and a store that cannot write, against a real server.

A full disk is a genuinely full file system: a small tmpfs mounted for the test (root
only; skipped with the reason when mounting is not permitted), filled by the store's own
uploads and then by a file that takes every byte left. A read-only store is the same tmpfs
remounted read-only. Each failure is a 503 or 507 with a message and a warning in the
server's log, never a 500; a DELETE still works on the full disk. SQLite's own "database or
disk is full" is also produced without a full disk, with ``PRAGMA max_page_count`` (a
simulated full database), and a lock held too long with a second connection.
"""

from __future__ import annotations

import errno
import json
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.store import SQLiteRepository, StoreFull, StoreUnavailable
from service.store.records import parse_upload
from tests.service.conftest import Server, start_server

from .conftest import classification_explanation

DISK_BYTES = 24 * 2**20
JSON = {"content-type": "application/json"}
RESERVE = 4 * 2**20  # service.store.repository.RESERVE_BYTES


def _upload_body(seed: int, rows: int = 1500) -> bytes:
    explanation = classification_explanation(n_rows=rows, seed=seed)
    return json.dumps({"explanation": explanation.to_dict()}).encode()


def _wait_for(server: Server, text: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while text not in (log := server.stderr.read_text()):
        assert time.monotonic() < deadline, log[-3000:]
        time.sleep(0.05)
    return log


# -- switched off -------------------------------------------------------------------------
def test_an_empty_store_path_switches_the_store_off(artifacts, tmp_path):
    server = start_server(artifacts["svc"], tmp_path, env={"SCORING_STORE_PATH": ""})
    try:
        log = _wait_for(server, "explanation store unavailable")
        assert "the explanation store is off (SCORING_STORE_PATH is empty)" in log
        assert "WARNING" not in log  # switched off on purpose: an INFO line, not a warning
        for method, path, body in (
            ("GET", "/explanations", None),
            ("GET", "/explanations/run-1", None),
            ("GET", "/explanations/run-1/latest", None),
            ("POST", "/explanations/run-1", _upload_body(0, rows=5)),
            ("DELETE", "/explanations/run-1", None),
            ("DELETE", "/explanations/run-1/some-id", None),
        ):
            answer = httpx.request(method, server.url + path, content=body, headers=JSON)
            assert answer.status_code == 503, (method, path, answer.text)
            assert answer.json() == {
                "error": "the explanation store is off (SCORING_STORE_PATH is empty): this "
                "service keeps no explanations; set SCORING_STORE_PATH to a SQLite file or "
                "SCORING_DATABASE_URL to a PostgreSQL database to switch it on",
                "status": 503,
            }
        # the dashboard's page still loads, and shows the error /explanations answers
        page = httpx.get(server.url + "/dashboard")
        assert page.status_code == 200 and b"dashboard.js" in page.content
        # empty is not unset: the default file (data/explanations.sqlite3 in the working
        # directory) was never created
        assert not (tmp_path / "data").exists()
        assert "WARNING" not in server.stderr.read_text()
    finally:
        server.stop()


def test_an_unset_store_path_keeps_the_default_file(artifacts, tmp_path):
    server = start_server(artifacts["svc"], tmp_path)  # run from tmp_path
    try:
        answer = httpx.post(
            server.url + "/explanations/run-1", content=_upload_body(0, rows=5), headers=JSON
        )
        assert answer.status_code == 201, answer.text
        assert (tmp_path / "data" / "explanations.sqlite3").is_file()
    finally:
        server.stop()


# -- a genuinely full disk, a read-only disk ----------------------------------------------
@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    """A 24 MiB tmpfs mounted for this test (unmounted after it)."""
    if not shutil.which("mount"):
        pytest.skip("no mount command: a small file system cannot be made")
    disk = tmp_path / "disk"
    disk.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES},mode=0777", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        pytest.skip(f"mounting a tmpfs is not permitted here: {done.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def _fill(disk: Path) -> Path:
    """A file that takes every byte left on ``disk``."""
    filler = disk / "filler"
    chunk = b"\0" * 65536
    with filler.open("wb", buffering=0) as handle:
        try:
            while True:
                handle.write(chunk)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        try:  # what is left is smaller than a chunk
            while True:
                handle.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    assert shutil.disk_usage(disk).free == 0
    return filler


@pytest.fixture
def full_disk_server(artifacts, small_disk, tmp_path) -> Iterator[tuple[Server, Path]]:
    server = start_server(
        artifacts["svc"],
        tmp_path,
        env={"SCORING_STORE_PATH": str(small_disk / "explanations.sqlite3")},
    )
    yield server, small_disk
    server.stop()


def _upload_until_full(server: Server) -> tuple[list[str], httpx.Response]:
    stored = []
    for seed in range(100):
        body = _upload_body(seed)
        answer = httpx.post(server.url + "/explanations/full", content=body, headers=JSON)
        if answer.status_code != 201:
            return stored, answer
        stored.append(answer.json()["id"])
    raise AssertionError("a 24 MiB disk took 100 uploads of 600 kB")


def test_uploads_stop_before_the_disk_is_full_and_deletes_still_work(full_disk_server):
    server, disk = full_disk_server
    stored, refused = _upload_until_full(server)
    assert len(stored) >= 5
    assert refused.status_code == 507, refused.text
    message = refused.json()["error"]
    assert message.startswith("the explanation store is full: its disk has ")
    assert message.endswith(
        f"(with {8 * 2**20} kept free for deletions): delete explanations or give the store "
        "more space"
    )
    log = _wait_for(server, "failed (507)")
    assert "WARNING" in log and "explanation store: upload of '" in log
    assert (disk / "explanations.sqlite3-reserve").stat().st_size == RESERVE
    # what is stored is still read and deleted
    assert len(httpx.get(server.url + "/explanations/full").json()) == len(stored)
    gone = httpx.delete(server.url + f"/explanations/full/{stored[0]}")
    assert gone.status_code == 204, gone.text
    assert [r["id"] for r in httpx.get(server.url + "/explanations/full").json()] == stored[1:]


def test_a_delete_works_on_a_genuinely_full_disk(full_disk_server):
    server, disk = full_disk_server
    stored, _ = _upload_until_full(server)
    filler = _fill(disk)  # something else takes the rest of the disk
    # an upload is refused with a 507 (the disk has 0 bytes free), never a 500
    refused = httpx.post(
        server.url + "/explanations/full", content=_upload_body(1000), headers=JSON
    )
    assert refused.status_code == 507, refused.text
    assert refused.json()["error"].startswith("the explanation store is full: its disk has 0 ")
    # reading gets through (opening the database needs a little room: the store releases
    # its reserve for it, and makes it again, as far as there is room, once through)
    listed = httpx.get(server.url + "/explanations/full")
    assert listed.status_code == 200 and len(listed.json()) == len(stored)
    log = _wait_for(server, "released its reserve")
    assert "WARNING" in log
    reserve = disk / "explanations.sqlite3-reserve"
    assert RESERVE - 2**17 <= reserve.stat().st_size <= RESERVE
    assert shutil.disk_usage(disk).free < 2**16
    # and so does a DELETE, again and again on the still full disk
    for _ in range(2):
        gone = httpx.delete(server.url + f"/explanations/full/{stored.pop()}")
        assert gone.status_code == 204, gone.text
        assert RESERVE - 2**17 <= reserve.stat().st_size <= RESERVE
        assert shutil.disk_usage(disk).free < 2**16
    gone = httpx.delete(server.url + "/explanations/full")  # the whole run
    assert gone.status_code == 204, gone.text
    assert httpx.get(server.url + "/explanations/full").json() == []
    assert "Traceback" not in server.stderr.read_text()
    # with the filler gone, the freed pages take new uploads again
    filler.unlink()
    again = httpx.post(server.url + "/explanations/full", content=_upload_body(2000), headers=JSON)
    assert again.status_code == 201, again.text


def test_a_read_only_store_is_a_503_with_the_reason(full_disk_server):
    server, disk = full_disk_server
    first = httpx.post(server.url + "/explanations/ro", content=_upload_body(1), headers=JSON)
    assert first.status_code == 201, first.text
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
    try:
        # (SQLite opens a database in WAL mode only where it can write its index: on a
        # read-only file system reading fails too)
        for method, path, body in (
            ("POST", "/explanations/ro", _upload_body(2)),
            ("DELETE", f"/explanations/ro/{first.json()['id']}", None),
            ("GET", "/explanations/ro", None),
        ):
            answer = httpx.request(method, server.url + path, content=body, headers=JSON)
            assert answer.status_code == 503, answer.text
            assert answer.json()["error"].startswith(
                f"the explanation store is read-only (cannot open the SQLite store "
                f"{disk / 'explanations.sqlite3'}: unable to open database file)"
            )
        log = _wait_for(server, "failed (503)")
        assert "WARNING" in log and "explanation store: upload of" in log
        assert "Traceback" not in log
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(disk)], check=True)
    # writable again: nothing was lost
    listed = httpx.get(server.url + "/explanations/ro")
    assert listed.status_code == 200 and len(listed.json()) == 1


# -- the repository: a full database, a lock held too long --------------------------------
class _CappedRepository(SQLiteRepository):
    """The SQLite store with ``PRAGMA max_page_count`` on each connection: a simulated full
    *database* (SQLite's own SQLITE_FULL on a disk that has room)."""

    max_pages = 0

    def _connect(self) -> sqlite3.Connection:
        conn = super()._connect()
        if self.max_pages:
            conn.execute(f"PRAGMA max_page_count={self.max_pages}")
        return conn


def _record(seed: int, rows: int = 200):
    return parse_upload(_upload_body(seed, rows=rows), "run-1", top_k=None)


def test_a_full_database_is_store_full(tmp_path):
    path = tmp_path / "explanations.sqlite3"
    repository = _CappedRepository(path)
    first = repository.add(_record(0))
    pages = sqlite3.connect(path).execute("PRAGMA page_count").fetchone()[0]
    repository.max_pages = pages + 5  # room for a few pages, not for an upload
    with pytest.raises(StoreFull) as info:
        repository.add(_record(1))
    assert info.value.status == 507
    assert str(info.value) == (
        f"the explanation store is full (SQLite store {path}: database or disk is full): "
        "delete explanations or give the store more space"
    )
    # nothing half written, and a DELETE (which frees pages) still works
    assert [r["id"] for r in repository.list("run-1")] == [first["id"]]
    assert repository.delete("run-1", first["id"]) == 1
    assert repository.list("run-1") == []


def test_a_lock_held_too_long_is_a_503_that_says_busy(tmp_path):
    path = tmp_path / "explanations.sqlite3"
    repository = SQLiteRepository(path, busy_timeout=0.2)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process writing, for too long
    try:
        with pytest.raises(StoreUnavailable) as info:
            repository.add(_record(0))
        assert type(info.value) is StoreUnavailable and info.value.status == 503
        assert str(info.value) == (
            f"the explanation store is busy (SQLite store {path}: database is locked after "
            "0.2 s): try again"
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert repository.add(_record(0))["run_id"] == "run-1"


def test_a_delete_writes_only_a_few_pages_of_log(tmp_path):
    """What lets the reserve cover a DELETE: with ``secure_delete=FAST`` the freed pages
    of large explanations are not rewritten into the write-ahead log."""
    path = tmp_path / "explanations.sqlite3"
    repository = SQLiteRepository(path)
    for seed in range(20):
        repository.add(_record(seed, rows=700))
    assert path.stat().st_size > 20 * 250_000
    holder = sqlite3.connect(path, isolation_level=None)  # keeps the log file between calls
    try:
        holder.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert Path(f"{path}-wal").stat().st_size == 0
        assert repository.delete("run-1") == 20
        log_bytes = Path(f"{path}-wal").stat().st_size
    finally:
        holder.close()
    assert 0 < log_bytes < 100_000  # 20 explanations of ~300 kB: a few pages of log
