"""``audioseek merge``: join index shards built on separate machines into one index.

All inputs must have been built the same way: the same model fingerprint (which includes
the inference precision), window and hop, sample rate and vector dimension; otherwise the
merge is refused with one line naming the two indexes and the first setting that differs,
and nothing is written.

The merge is atomic: the result is assembled in a temporary SQLite file with the online
backup API (so a source that is being read or written stays consistent) and then moved
into place with one ``os.replace``. A crash at any moment leaves the target as it was
(complete or absent). The target may itself be an existing index: its files are kept and
the sources' files are added.

Conflicts: a path present in several inputs is taken once, from the input where it was
modified last (largest mtime); equal content keeps the first. Only complete files are
merged (a shard whose run was interrupted contributes its finished files). Tables that
belong to one file (any table with a ``file_id`` column, e.g. text fields or tags) follow
their file. Derived files (the ANN index) are not copied: the next search or index run
rebuilds them from the merged vectors.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from audioseek.errors import SearchIndexError
from audioseek.index.store import DB_NAME

log = logging.getLogger(__name__)

#: settings that must agree between merged indexes (``meta`` keys)
COMPATIBLE_KEYS = ("model_fingerprint", "window", "hop", "sample_rate")
_SKIP_TABLES = {"meta", "files", "windows", "sqlite_sequence"}


@dataclass
class MergeSummary:
    into: str
    sources: list[str]
    files_added: int = 0
    files_replaced: int = 0
    files_skipped: int = 0  # same path, not newer (or same content)
    incomplete_skipped: int = 0
    windows_added: int = 0
    created: bool = False
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)


def _db_file(db: str | os.PathLike) -> Path:
    path = Path(db).expanduser() / DB_NAME
    if not path.is_file() or path.stat().st_size == 0:
        raise SearchIndexError(f"no index at {str(db)!r} (no {DB_NAME} in it)")
    return path


def _read_meta(path: Path) -> dict[str, str]:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return dict(conn.execute("SELECT key, value FROM meta").fetchall())
        finally:
            conn.close()
    except sqlite3.DatabaseError as e:
        raise SearchIndexError(f"{str(path.parent)!r} is damaged or not an index: {e}") from None


def _same(key: str, a: str | None, b: str | None) -> bool:
    if key in ("window", "hop"):
        try:
            return float(a) == float(b)
        except (TypeError, ValueError):
            return a == b
    return a == b


def check_compatible(metas: Sequence[tuple[str, dict[str, str]]]) -> None:
    """Refuse (one line) when two indexes were built differently."""
    (name0, meta0), rest = metas[0], metas[1:]
    for name, meta in rest:
        for key in COMPATIBLE_KEYS:
            if not _same(key, meta0.get(key), meta.get(key)):
                raise SearchIndexError(
                    f"cannot merge {name!r} into {name0!r}: {key} differs "
                    f"({meta.get(key)!r} vs {meta0.get(key)!r}); indexes must be built with "
                    "the same model, precision, window and hop"
                )
        dims = {int(meta0.get("dim", 0) or 0), int(meta.get("dim", 0) or 0)} - {0}
        if len(dims) > 1:
            raise SearchIndexError(
                f"cannot merge {name!r} into {name0!r}: vector dimensions differ {sorted(dims)}"
            )


def _columns(conn: sqlite3.Connection, schema: str, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f"PRAGMA {schema}.table_info({table})")]


def _file_tables(conn: sqlite3.Connection, schema: str) -> list[str]:
    names = [
        r[0]
        for r in conn.execute(
            f"SELECT name FROM {schema}.sqlite_master WHERE type='table' AND sql IS NOT NULL"
        )
    ]
    return [
        n
        for n in names
        if n not in _SKIP_TABLES
        and not n.startswith("sqlite_")
        and "file_id" in _columns(conn, schema, n)
    ]


def _merge_one(conn: sqlite3.Connection, summary: MergeSummary) -> None:
    """Merge the attached database ``src`` into ``main`` (inside the caller's transaction)."""
    main_cols = set(_columns(conn, "main", "files"))
    cols = [c for c in _columns(conn, "src", "files") if c in main_cols and c != "id"]
    col_list = ", ".join(cols)
    summary.incomplete_skipped += conn.execute(
        "SELECT count(*) FROM src.files WHERE complete = 0"
    ).fetchone()[0]
    rows = conn.execute(
        "SELECT s.id, s.path, s.hash, s.mtime_ns, m.id, m.hash, m.mtime_ns FROM src.files s "
        "LEFT JOIN main.files m ON m.path = s.path WHERE s.complete = 1 ORDER BY s.id"
    ).fetchall()
    win_cols = [c for c in _columns(conn, "src", "windows") if c not in ("id", "file_id")]
    win_list = ", ".join(win_cols)
    tables = [t for t in _file_tables(conn, "src") if t in _file_tables(conn, "main")]
    for src_id, _path, src_hash, src_mtime, main_id, main_hash, main_mtime in rows:
        if main_id is not None:
            if src_hash == main_hash or src_mtime <= main_mtime:
                summary.files_skipped += 1
                continue
            conn.execute("DELETE FROM main.windows WHERE file_id = ?", (main_id,))
            for t in tables:
                conn.execute(f"DELETE FROM main.{t} WHERE file_id = ?", (main_id,))
            conn.execute("DELETE FROM main.files WHERE id = ?", (main_id,))
            summary.files_replaced += 1
        else:
            summary.files_added += 1
        cur = conn.execute(
            f"INSERT INTO main.files ({col_list}) SELECT {col_list} FROM src.files WHERE id = ?",
            (src_id,),
        )
        new_id = cur.lastrowid
        cur = conn.execute(
            f"INSERT INTO main.windows (file_id, {win_list}) "
            f"SELECT ?, {win_list} FROM src.windows WHERE file_id = ? ORDER BY idx",
            (new_id, src_id),
        )
        summary.windows_added += cur.rowcount
        for t in tables:
            t_main = set(_columns(conn, "main", t))
            t_cols = [c for c in _columns(conn, "src", t) if c in t_main and c not in ("id",)]
            other = [c for c in t_cols if c != "file_id"]
            sel = ", ".join(["?", *other])
            conn.execute(
                f"INSERT INTO main.{t} ({', '.join(['file_id', *other])}) "
                f"SELECT {sel} FROM src.{t} WHERE file_id = ?",
                (new_id, src_id),
            )


def _backup(src: Path, dst: Path) -> None:
    """Consistent copy of the SQLite database ``src`` (WAL included) into ``dst``."""
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    target = sqlite3.connect(dst)
    try:
        source.backup(target)
        target.execute("PRAGMA journal_mode=DELETE")
    finally:
        target.close()
        source.close()


def merge_indexes(sources: Sequence[str | os.PathLike], into: str | os.PathLike) -> MergeSummary:
    """Merge the index folders ``sources`` into ``into`` (created if missing); see the
    module docstring. Returns what was added, replaced and skipped."""
    if not sources:
        raise SearchIndexError("nothing to merge: give at least one source index")
    into = Path(into).expanduser()
    into_abs = into.resolve()
    src_paths = []
    for s in sources:
        if Path(s).expanduser().resolve() == into_abs:
            raise SearchIndexError(f"{str(s)!r} is the merge target; list it only as --into")
        src_paths.append(_db_file(s))
    target_exists = (into / DB_NAME).is_file() and (into / DB_NAME).stat().st_size > 0
    inputs = ([_db_file(into)] if target_exists else []) + src_paths
    names = ([str(into)] if target_exists else []) + [str(s) for s in sources]
    metas = [(n, _read_meta(p)) for n, p in zip(names, inputs, strict=True)]
    check_compatible(metas)
    if into.exists() and not into.is_dir():
        raise SearchIndexError(f"merge target {str(into)!r} exists and is not a folder")

    summary = MergeSummary(into=str(into), sources=[str(s) for s in sources])
    summary.created = not target_exists
    staging_dir = into if into.is_dir() else into.parent
    staging_dir.mkdir(parents=True, exist_ok=True)
    tmp = staging_dir / f".{into.name}.merge-{os.getpid()}.sqlite"
    tmp.unlink(missing_ok=True)
    try:
        _backup(inputs[0], tmp)
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("BEGIN")
            roots = set(json.loads(metas[0][1].get("roots", "[]")))
            dim = int(metas[0][1].get("dim", 0) or 0)
            for (_name, meta), path in zip(metas[1:], inputs[1:], strict=True):
                conn.execute("ATTACH DATABASE ? AS src", (f"file:{path}?mode=ro",))
                _merge_one(conn, summary)
                conn.execute("COMMIT")
                conn.execute("DETACH DATABASE src")
                conn.execute("BEGIN")
                roots |= set(json.loads(meta.get("roots", "[]")))
                dim = dim or int(meta.get("dim", 0) or 0)
            gen = int(dict(conn.execute("SELECT key, value FROM meta")).get("generation", 0))
            for key, value in (
                ("roots", json.dumps(sorted(roots))),
                ("dim", str(dim)),
                ("generation", str(gen + 1)),
            ):
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES (?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (key, value),
                )
            conn.execute("COMMIT")
            check = conn.execute("PRAGMA integrity_check").fetchone()[0]
            if check != "ok":
                raise SearchIndexError(f"merged index failed its integrity check: {check}")
        finally:
            conn.close()
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        if target_exists:  # no indexer may write the target while it is replaced
            from audioseek.index.store import WriteLock

            with WriteLock(into):
                _install(tmp, into, target_exists)
        else:
            _install(tmp, into, target_exists)
    except sqlite3.OperationalError as e:
        raise SearchIndexError(f"cannot merge into {str(into)!r}: {e}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return summary


def _install(tmp: Path, into: Path, target_exists: bool) -> None:
    """Move the finished database into place with one rename."""
    if target_exists:
        # fold the target's write-ahead log into its file so no stale WAL outlives it
        conn = sqlite3.connect(into / DB_NAME)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
        for suffix in ("-wal", "-shm"):
            Path(str(into / DB_NAME) + suffix).unlink(missing_ok=True)
    else:
        into.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, into / DB_NAME)
    from audioseek.index.ann import remove_ann_files

    remove_ann_files(into)  # built from the old database: the next search or run rebuilds it
    dir_fd = os.open(into, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
