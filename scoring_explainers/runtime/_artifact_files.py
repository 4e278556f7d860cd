"""Reading an artifact's files: regular files in its directory, never through a link.

The directory is opened once (it may itself be a symbolic link, e.g. to a mounted volume:
it is resolved that one time); every file is then opened relative to that open directory
with ``O_NOFOLLOW``, so a file that is a symbolic link is refused even when it is swapped
in between a check and the read, and checked with ``fstat`` on the open descriptor, so a
FIFO, a directory or a device in place of a file is refused without reading from it
(``O_NONBLOCK``: opening a FIFO does not wait for a writer).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from types import TracebackType

from .._errors import ArtifactError

__all__ = ["ArtifactDirectory"]

_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)
_CHUNK = 1 << 20


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISLNK, "a symbolic link"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _open_by_path(path: Path) -> int:  # pragma: no cover - platforms without dir_fd
    """Open ``path`` when ``dir_fd``/``O_NOFOLLOW`` are missing: check, open, compare."""
    before = os.lstat(path)
    if stat.S_ISLNK(before.st_mode):
        raise OSError(errno.ELOOP, "is a symbolic link")
    fd = os.open(path, _FLAGS)
    after = os.fstat(fd)
    if (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino):
        os.close(fd)
        raise OSError(errno.ELOOP, "was replaced while it was being opened")
    return fd


class ArtifactDirectory:
    """An artifact directory opened once; :meth:`read` reads one of its regular files.

    Parameters
    ----------
    directory : path

    Raises
    ------
    ArtifactError
        When ``directory`` is not a directory that can be opened.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.path = Path(directory)
        self._dir_fd: int | None = None
        self._by_fd = os.open in os.supports_dir_fd and hasattr(os, "O_NOFOLLOW")
        try:
            if self._by_fd:
                self._dir_fd = os.open(
                    self.path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | os.O_CLOEXEC
                )
            elif not self.path.is_dir():  # pragma: no cover - platforms without dir_fd
                raise NotADirectoryError(errno.ENOTDIR, "not a directory")
        except OSError as exc:
            raise ArtifactError(str(self.path), "no such artifact directory") from exc

    def close(self) -> None:
        if self._dir_fd is not None:
            os.close(self._dir_fd)
            self._dir_fd = None

    def __enter__(self) -> ArtifactDirectory:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _open(self, name: str) -> int:
        if self._by_fd:
            return os.open(name, _FLAGS, dir_fd=self._dir_fd)
        return _open_by_path(self.path / name)  # pragma: no cover - no dir_fd (Windows)

    def read(self, name: str, *, max_bytes: int | None = None) -> bytes:
        """The bytes of the regular file ``name`` of the directory.

        Parameters
        ----------
        name : str
            A plain file name (no directory part).
        max_bytes : int, optional
            Refuse a larger file (checked before reading, and while reading).

        Raises
        ------
        ArtifactError
            Missing, a symbolic link, not a regular file, larger than ``max_bytes``, or
            unreadable; the message names the file.
        """
        if os.sep in name or (os.altsep and os.altsep in name) or name in (".", ".."):
            raise ArtifactError(name, "is not a plain file name")
        try:
            fd = self._open(name)
        except FileNotFoundError as exc:
            raise ArtifactError(name, f"missing in {self.path}") from exc
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise ArtifactError(
                    name, "is a symbolic link; artifact files must be regular files"
                ) from exc
            raise ArtifactError(name, f"cannot be opened: {exc.strerror}") from exc
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise ArtifactError(
                    name, f"is {_kind(info.st_mode)}; artifact files must be regular files"
                )
            limit = info.st_size if max_bytes is None else max_bytes
            if info.st_size > limit:
                raise ArtifactError(name, f"is larger than {limit} bytes")
            chunks, total = [], 0
            while True:  # read to the end, never more than the limit (the file may grow)
                chunk = os.read(fd, min(_CHUNK, limit + 1 - total))
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
                if total > limit:
                    raise ArtifactError(name, "grew while it was being read")
            return b"".join(chunks)
        except OSError as exc:
            raise ArtifactError(name, f"cannot be read: {exc.strerror}") from exc
        finally:
            os.close(fd)
