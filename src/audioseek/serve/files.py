"""Serving indexed audio files: open once, check what was opened, stream from it.

A file is opened by the path the index recorded, with ``O_NOFOLLOW`` (the last component
may not be a symlink) and ``O_NONBLOCK`` (a FIFO swapped in cannot hang the server). The
*opened descriptor* is then checked: its real path (``/proc/self/fd/N``, or ``realpath`` of
the name plus a device/inode comparison with the descriptor where ``/proc`` is missing) must
be the recorded path itself (so no folder on the way was a symlink) and lie inside the
library roots; it must be a regular file. Bytes are read from that descriptor only, so a
file swapped for a symlink after the check can never be served: what is streamed is what
was checked.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import stat
from collections.abc import Iterable

import anyio
from starlette.exceptions import HTTPException
from starlette.responses import Response

CHUNK = 64 * 1024
_RANGE_RE = re.compile(r"^\s*(\d*)\s*-\s*(\d*)\s*$")


class RangeNotSatisfiable(HTTPException):
    """416 with ``Content-Range: bytes */size``, as RFC 9110 asks."""

    def __init__(self, header: str, size: int):
        super().__init__(
            status_code=416,
            detail=f"range {header!r} cannot be satisfied for a file of {size} bytes",
            headers={"Content-Range": f"bytes */{size}", "Accept-Ranges": "bytes"},
        )


def parse_range(header: str, size: int) -> list[tuple[int, int]]:
    """``bytes=a-b[, ...]`` -> [(start, end_inclusive)]; raises 416 when unsatisfiable."""
    unit, sep, spec = header.partition("=")
    if not sep or unit.strip().lower() != "bytes" or not spec.strip():
        raise RangeNotSatisfiable(header, size)
    ranges = []
    for part in spec.split(","):
        m = _RANGE_RE.match(part)
        if not m or (not m.group(1) and not m.group(2)):
            raise RangeNotSatisfiable(header, size)
        first, last = m.group(1), m.group(2)
        if first:
            start = int(first)
            end = min(int(last), size - 1) if last else size - 1
            if last and int(last) < start:
                raise RangeNotSatisfiable(header, size)
        else:  # suffix: the last N bytes
            n = int(last)
            if n == 0:
                raise RangeNotSatisfiable(header, size)
            start, end = max(size - n, 0), size - 1
        if start >= size:
            raise RangeNotSatisfiable(header, size)
        ranges.append((start, end))
    return ranges


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _descriptor_path(fd: int, name: str, st: os.stat_result) -> str | None:
    """The real path of the open file ``fd`` (opened as ``name``), or None if unknowable."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        pass
    real = os.path.realpath(name)
    try:
        named = os.stat(real)
    except OSError:
        return None
    if (named.st_dev, named.st_ino) != (st.st_dev, st.st_ino):
        return None  # the name now leads elsewhere than what was opened
    return real


def _outside(listed: str) -> HTTPException:
    return HTTPException(
        status_code=403, detail=f"indexed file {listed!r} resolves outside the indexed library"
    )


def open_indexed(listed: str, roots: Iterable[str] | None) -> tuple[int, os.stat_result]:
    """Open the indexed file recorded as ``listed`` for serving: ``(fd, fstat)``.

    403 when the recorded path is relative, its last component is a symlink, the opened
    file's real path differs from the recorded one or lies outside every root (``roots``
    None or empty: an index from before roots were recorded, checked against its own
    path only), or it is not a regular file; 404 when it no longer exists.
    """
    if not os.path.isabs(listed):
        raise HTTPException(status_code=403, detail=f"indexed path {listed!r} is not absolute")
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    flags |= getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(listed, flags)
    except FileNotFoundError:
        raise HTTPException(
            status_code=404, detail=f"indexed file {listed!r} no longer exists"
        ) from None
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.EMLINK, errno.ENOTDIR):  # a symlink where the file was
            raise _outside(listed) from None
        raise HTTPException(
            status_code=403, detail=f"indexed file {listed!r} cannot be opened: {e.strerror}"
        ) from None
    try:
        st = os.fstat(fd)
        real = _descriptor_path(fd, listed, st)
        roots = [os.path.realpath(r) for r in roots or ()]
        if real != os.path.normpath(listed) or (roots and not any(_inside(real, r) for r in roots)):
            raise _outside(listed)
        if not stat.S_ISREG(st.st_mode):
            raise HTTPException(status_code=403, detail=f"indexed path {listed!r} is not a file")
        return fd, st
    except BaseException:
        os.close(fd)
        raise


class DescriptorResponse(Response):
    """Stream an open file descriptor (closed afterwards): the whole file (200), one byte
    range (206) or several (206 ``multipart/byteranges``). ``size`` is the size when the
    descriptor was checked; a file that shrinks while streaming aborts the response rather
    than sending anything else."""

    def __init__(
        self,
        fd: int,
        size: int,
        media_type: str,
        ranges: list[tuple[int, int]] | None = None,
        headers: dict[str, str] | None = None,
    ):
        self.fd, self.size, self.media_type, self.ranges = fd, size, media_type, ranges
        self.extra = dict(headers or {})
        self.boundary = secrets.token_hex(12)
        self.background = None
        self.status_code, head = self._head()
        self.raw_headers = [(k.encode(), v.encode()) for k, v in head.items()]

    def _parts(self) -> list[tuple[bytes, int, int]]:
        """(part header, start, end inclusive) of each range of a multipart answer."""
        return [
            (
                (
                    f"--{self.boundary}\r\nContent-Type: {self.media_type}\r\n"
                    f"Content-Range: bytes {a}-{b}/{self.size}\r\n\r\n"
                ).encode(),
                a,
                b,
            )
            for a, b in self.ranges or ()
        ]

    def _head(self) -> tuple[int, dict[str, str]]:
        headers = {"accept-ranges": "bytes", **{k.lower(): v for k, v in self.extra.items()}}
        if not self.ranges:
            return 200, {
                **headers,
                "content-type": self.media_type,
                "content-length": str(self.size),
            }
        if len(self.ranges) == 1:
            a, b = self.ranges[0]
            return 206, {
                **headers,
                "content-type": self.media_type,
                "content-range": f"bytes {a}-{b}/{self.size}",
                "content-length": str(b - a + 1),
            }
        tail = f"--{self.boundary}--\r\n".encode()
        length = sum(len(h) + (b - a + 1) + 2 for h, a, b in self._parts()) + len(tail)
        return 206, {
            **headers,
            "content-type": f"multipart/byteranges; boundary={self.boundary}",
            "content-length": str(length),
        }

    async def _send_bytes(self, send, start: int, end: int) -> None:
        pos = start
        while pos <= end:
            n = min(CHUNK, end - pos + 1)
            data = await anyio.to_thread.run_sync(os.pread, self.fd, n, pos)
            if not data:
                raise RuntimeError("the file shrank while it was being served")
            await send({"type": "http.response.body", "body": data, "more_body": True})
            pos += len(data)

    async def __call__(self, scope, receive, send) -> None:
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            if scope.get("method") != "HEAD":
                if not self.ranges:
                    await self._send_bytes(send, 0, self.size - 1)
                elif len(self.ranges) == 1:
                    await self._send_bytes(send, *self.ranges[0])
                else:
                    for head, a, b in self._parts():
                        await send({"type": "http.response.body", "body": head, "more_body": True})
                        await self._send_bytes(send, a, b)
                        await send(
                            {"type": "http.response.body", "body": b"\r\n", "more_body": True}
                        )
                    tail = f"--{self.boundary}--\r\n".encode()
                    await send({"type": "http.response.body", "body": tail, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            os.close(self.fd)
        if self.background is not None:
            await self.background()
