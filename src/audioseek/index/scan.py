"""Find audio files under the roots given to ``audioseek index``.

Recursive, sorted, and confined to the roots: a symbolic link is followed only when its
target lies inside one of the roots (so a link to ``/`` cannot pull in the whole disk), and
directory links are never descended into (``os.walk(followlinks=False)``), which also rules
out link cycles.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

from audioseek.errors import SearchIndexError

log = logging.getLogger(__name__)


def _audio_extensions() -> frozenset[str]:
    from audioseek.audio.io import AUDIO_EXTENSIONS

    return frozenset(e.lower() for e in AUDIO_EXTENSIONS)


def _inside(path: Path, roots: Iterable[Path]) -> bool:
    return any(path == r or r in path.parents for r in roots)


def resolve_roots(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Absolute, resolved roots; a missing path raises :class:`SearchIndexError` naming it."""
    roots = []
    for p in paths:
        path = Path(p).expanduser()
        if not path.exists():
            raise SearchIndexError(f"cannot index {str(p)!r}: no such file or folder")
        roots.append(path.resolve())
    return roots


def scan_audio(
    paths: Iterable[str | os.PathLike], extensions: frozenset[str] | None = None
) -> list[Path]:
    """Every audio file under ``paths`` (files or folders), resolved, deduplicated, sorted."""
    exts = _audio_extensions() if extensions is None else extensions
    roots = resolve_roots(paths)
    found: set[Path] = set()
    for root in roots:
        if root.is_file():
            if root.suffix.lower() in exts:
                found.add(root)
            else:  # named on the command line: say why it is not indexed
                log.warning("skipped %r: %r is not an audio file extension", str(root), root.suffix)
            continue
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            dirnames.sort()
            for name in filenames:
                if Path(name).suffix.lower() not in exts:
                    continue
                path = Path(dirpath) / name
                if path.is_symlink():
                    target = path.resolve()
                    if not target.is_file() or not _inside(target, roots):
                        continue
                    path = target
                elif not path.is_file():
                    continue
                found.add(path)
    return sorted(found)


def under_roots(path: str | os.PathLike, roots: Iterable[Path]) -> bool:
    """Whether ``path`` lies inside (or is) one of the resolved ``roots``."""
    return _inside(Path(path), roots)
