"""One writer per folder: an exclusive ``fcntl.flock`` on a lock file inside it."""

from __future__ import annotations

import os
from pathlib import Path


class FolderLock:
    """An exclusive, non-blocking ``fcntl.flock`` on ``folder / name``, holding the
    holder's pid. A second holder fails at once with ``error(busy)`` naming that pid; the
    kernel releases the lock when the process dies (``kill -9`` included), so a crash never
    leaves a stale lock. ``busy`` and ``cannot`` are messages with ``{folder}`` (the
    folder's repr) and ``{pid}`` / ``{reason}`` fields."""

    def __init__(
        self,
        folder: str | os.PathLike,
        name: str,
        *,
        busy: str,
        cannot: str,
        error: type[Exception],
    ):
        self.folder = Path(folder)
        self.path = self.folder / name
        self._busy, self._cannot, self._error = busy, cannot, error
        self._fd: int | None = None

    def acquire(self):
        import fcntl

        where = repr(str(self.folder))
        try:
            # never through a symlink: a lock file swapped for a link to another file
            # would have that file truncated
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as e:
            raise self._error(self._cannot.format(folder=where, reason=e.strerror or e)) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            pid = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            raise self._error(self._busy.format(folder=where, pid=pid)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            import fcntl

            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
