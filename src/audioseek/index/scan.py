"""What to do: find the audio files under the roots and decide, against the store, what each
one needs (the plan).

Scanning is recursive, sorted, and confined to the roots: a symbolic link is followed only
when its target lies inside one of the roots (so a link to ``/`` cannot pull in the whole
disk), and directory links are never descended into (``os.walk(followlinks=False)``), which
also rules out directory cycles. What cannot be indexed is listed, never fatal: a symbolic
link loop, a file name that is not valid UTF-8 (shown with escapes), a folder or file that
cannot be read.

:func:`plan` compares the scanned files with the store: unchanged (size + mtime), touched
(same hash, new mtime), reused (a renamed or copied file whose hash is already indexed: its
vectors are copied, not re-embedded), resumed (a file whose windows were partly written when
a previous run was killed), embedded (new or changed), deleted, and files that failed to
decode before with the same size and mtime (not hashed or decoded again).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from audioseek.errors import SearchIndexError
from audioseek.index.store import FileRecord, Store, file_hash

log = logging.getLogger(__name__)


def _audio_extensions() -> frozenset[str]:
    from audioseek.audio.io import AUDIO_EXTENSIONS

    return frozenset(e.lower() for e in AUDIO_EXTENSIONS)


def _inside(path: Path, roots: Iterable[Path]) -> bool:
    return any(path == r or r in path.parents for r in roots)


def shown(path: str | os.PathLike) -> str:
    """``path`` printable: bytes that are not UTF-8 (surrogate escapes) shown as ``\\xNN``."""
    text = os.fspath(path)
    if isinstance(text, bytes):
        return text.decode("utf-8", "backslashreplace")
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def is_utf8(path: str | os.PathLike) -> bool:
    try:
        os.fspath(path).encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def resolve_roots(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Absolute, resolved roots; a missing path raises :class:`SearchIndexError` naming it."""
    roots = []
    for p in paths:
        path = Path(p).expanduser()
        try:
            exists = path.exists()
            resolved = path.resolve()
        except (OSError, RuntimeError) as e:
            raise SearchIndexError(f"cannot index {shown(p)!r}: {e}") from None
        if not exists:
            raise SearchIndexError(f"cannot index {shown(p)!r}: no such file or folder")
        roots.append(resolved)
    return roots


@dataclass
class Scan:
    """Audio files found (resolved, sorted) and what was skipped (``{"path", "reason"}``)."""

    files: list[Path] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)


def scan(paths: Iterable[str | os.PathLike], extensions: frozenset[str] | None = None) -> Scan:
    """Every audio file under ``paths`` (files or folders) and what had to be skipped."""
    exts = _audio_extensions() if extensions is None else extensions
    roots = resolve_roots(paths)
    found: set[Path] = set()
    skipped: list[dict] = []

    def skip(path, reason: str) -> None:
        skipped.append({"path": shown(path), "reason": reason})
        log.warning("skipped %r: %s", shown(path), reason)

    def on_error(e: OSError) -> None:
        skip(e.filename or "?", f"cannot read folder: {e.strerror or e}")

    for root in roots:
        if root.is_file():
            if root.suffix.lower() in exts:
                found.add(root)
            else:  # named on the command line: say why it is not indexed
                log.warning("skipped %r: %r is not an audio file extension", str(root), root.suffix)
            continue
        for dirpath, dirnames, filenames in os.walk(root, onerror=on_error, followlinks=False):
            dirnames.sort()
            for name in filenames:
                if Path(name).suffix.lower() not in exts:
                    continue
                path = Path(dirpath) / name
                if not is_utf8(path):
                    skip(path, "file name is not valid UTF-8")
                    continue
                try:
                    if path.is_symlink():
                        target = path.resolve(strict=True)
                        if not target.is_file() or not _inside(target, roots):
                            continue
                        path = target
                    elif not path.is_file():
                        continue
                except RuntimeError:  # Python < 3.13: "Symlink loop from ..."
                    skip(path, "symbolic link loop")
                    continue
                except OSError as e:
                    if e.errno == 40:  # ELOOP
                        skip(path, "symbolic link loop")
                    continue  # a dangling link: nothing to index
                found.add(path)
    return Scan(sorted(found), skipped)


def scan_audio(
    paths: Iterable[str | os.PathLike], extensions: frozenset[str] | None = None
) -> list[Path]:
    """Every audio file under ``paths`` (files or folders), resolved, deduplicated, sorted."""
    return scan(paths, extensions).files


def under_roots(path: str | os.PathLike, roots: Iterable[Path]) -> bool:
    """Whether ``path`` lies inside (or is) one of the resolved ``roots``."""
    return _inside(Path(path), roots)


# ---- the plan -------------------------------------------------------------------------------
@dataclass
class Job:
    path: str
    size: int
    mtime_ns: int
    hash: str
    record: FileRecord | None = None  # existing row for this path
    donor: FileRecord | None = None  # reuse: indexed file with the same content
    resume_from: int = 0  # windows already stored (resumed file)


@dataclass
class Plan:
    unchanged: int = 0
    touched: list[Job] = field(default_factory=list)
    reuse: list[Job] = field(default_factory=list)
    embed: list[Job] = field(default_factory=list)
    reuse_later: list[Job] = field(default_factory=list)  # copies of files in ``embed``
    delete: list[FileRecord] = field(default_factory=list)
    failed_before: list[dict] = field(default_factory=list)  # same size+mtime as when it failed
    forget_failed: list[str] = field(default_factory=list)  # failed files no longer there
    skipped: list[dict] = field(default_factory=list)  # could not be read


def plan(store: Store, files: list[Path], roots: list[Path], remember_failed=True) -> Plan:
    """Decide what to do with each scanned file (see the module docstring)."""
    result = Plan()
    seen, embedding = set(), set()
    for path in files:
        p = str(path)
        seen.add(p)
        try:
            st = path.stat()
        except OSError as e:
            result.skipped.append({"path": shown(p), "reason": f"cannot read: {e.strerror or e}"})
            continue
        rec = store.get_file_by_path(p)
        if rec and rec.complete and rec.size == st.st_size and rec.mtime_ns == st.st_mtime_ns:
            result.unchanged += 1
            continue
        if remember_failed and rec is None:
            reason = store.failed_reason(p, st.st_size, st.st_mtime_ns)
            if reason is not None:
                result.failed_before.append({"path": p, "reason": reason})
                continue
        try:
            digest = file_hash(path)
        except OSError as e:
            log.warning("cannot read %r: %s", p, e)
            result.skipped.append({"path": shown(p), "reason": f"cannot read: {e.strerror or e}"})
            continue
        job = Job(p, st.st_size, st.st_mtime_ns, digest, record=rec)
        if rec and rec.hash == digest and rec.complete:
            result.touched.append(job)
            continue
        donor = store.find_complete_by_hash(digest, exclude_id=rec.id if rec else None)
        if donor is not None:
            job.donor = donor
            result.reuse.append(job)
            continue
        if digest in embedding:  # a second copy of a file embedded in this run
            result.reuse_later.append(job)
            continue
        if rec and rec.hash == digest:
            job.resume_from = store.window_count(rec.id)
        embedding.add(digest)
        result.embed.append(job)
    for rec in store.files():
        if rec.path in seen:
            continue
        if under_roots(rec.path, roots) or not os.path.exists(rec.path):
            result.delete.append(rec)
    if remember_failed:
        for row in store.failed():
            path = row["path"]
            if path not in seen and (under_roots(path, roots) or not os.path.exists(path)):
                result.forget_failed.append(path)
    return result


__all__ = ["Job", "Plan", "Scan", "plan", "resolve_roots", "scan", "scan_audio", "under_roots"]
