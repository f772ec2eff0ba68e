"""The on-disk index: one SQLite database (plus an optional ANN file) in the ``--db`` folder.

Why SQLite and not LanceDB or a vector server:

* no server and no extra dependency: :mod:`sqlite3` is in the standard library;
* atomic, crash-safe transactions (WAL journal): ``kill -9`` during indexing loses at most
  the batch whose transaction was open; a re-run continues from the last committed window;
* one file to back up or copy (``index.sqlite``; ``ann.faiss`` is derived and rebuilt);
* many concurrent readers (the HTTP server) alongside one writer.

Vectors are stored per window as float16 blobs (L2-normalised, so a dot product is the
cosine similarity); search reads them into one matrix (exact search) or, past
:data:`audioseek.index.ann.ANN_THRESHOLD` windows, uses a faiss index built from them
(:mod:`audioseek.index.ann`).

Schema: ``meta`` (model spec, model fingerprint, dimension, window/hop, generation),
``files`` (one row per audio file: path, content hash, size, mtime, duration, sample rate,
format, tags, window count, complete flag) and ``windows`` (file id, window index, start and
end in seconds, vector). ``generation`` increases with every committed write so readers
know when their cached matrix or ANN index is stale.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from audioseek.errors import SearchIndexError
from audioseek.utils.locks import FolderLock

DB_NAME = "index.sqlite"
_UNFINISHED_FILES = "SELECT id FROM files WHERE complete = 0"  # files still being indexed
SCHEMA_VERSION = "1"
HASH_CHUNK = 1 << 20

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    hash TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    duration REAL,
    sample_rate INTEGER,
    channels INTEGER,
    format TEXT,
    title TEXT,
    artist TEXT,
    album TEXT,
    genre TEXT,
    n_windows INTEGER NOT NULL,
    complete INTEGER NOT NULL DEFAULT 0,
    indexed_at REAL
);
CREATE INDEX IF NOT EXISTS files_hash ON files (hash);
CREATE TABLE IF NOT EXISTS windows (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    file_id INTEGER NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    start_s REAL NOT NULL,
    end_s REAL NOT NULL,
    vector BLOB NOT NULL,
    UNIQUE (file_id, idx)
);
CREATE VIRTUAL TABLE IF NOT EXISTS file_text USING fts5(
    name, folders, meta, tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE TABLE IF NOT EXISTS tags (
    file_id INTEGER NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    rank INTEGER NOT NULL,
    label TEXT NOT NULL,
    grp TEXT,
    score REAL NOT NULL,
    PRIMARY KEY (file_id, rank)
);
CREATE INDEX IF NOT EXISTS tags_label ON tags (label);
CREATE TABLE IF NOT EXISTS peaks (
    file_id INTEGER PRIMARY KEY REFERENCES files (id) ON DELETE CASCADE,
    points BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS failed (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    reason TEXT NOT NULL
);
"""

FILE_COLUMNS = (
    "id",
    "path",
    "hash",
    "size",
    "mtime_ns",
    "duration",
    "sample_rate",
    "channels",
    "format",
    "title",
    "artist",
    "album",
    "genre",
    "n_windows",
    "complete",
)


@dataclass
class FileRecord:
    """One indexed audio file."""

    id: int
    path: str
    hash: str
    size: int
    mtime_ns: int
    duration: float | None
    sample_rate: int | None
    channels: int | None
    format: str | None
    title: str | None
    artist: str | None
    album: str | None
    genre: str | None
    n_windows: int
    complete: bool

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class WindowTable:
    """All windows of an index in (file id, window index) order.

    ``vectors`` is ``(n, dim)`` float16 or ``None`` when only the metadata was loaded;
    ``offsets`` are the first row of each file in ``file_ids_unique`` order.
    """

    window_ids: np.ndarray  # (n,) int64
    file_ids: np.ndarray  # (n,) int64
    starts: np.ndarray  # (n,) float32
    ends: np.ndarray  # (n,) float32
    vectors: np.ndarray | None  # (n, dim) float16

    def __len__(self) -> int:
        return len(self.window_ids)

    def file_slices(self) -> tuple[np.ndarray, np.ndarray]:
        """``(unique_file_ids, offsets)``: rows ``offsets[i]:offsets[i+1]`` belong to file i."""
        if len(self.file_ids) == 0:
            return np.zeros(0, np.int64), np.zeros(1, np.int64)
        change = np.flatnonzero(np.diff(self.file_ids)) + 1
        starts = np.concatenate([[0], change]).astype(np.int64)
        return self.file_ids[starts], np.concatenate([starts, [len(self.file_ids)]])


def file_hash(path: str | os.PathLike) -> str:
    """blake2b (128-bit) of the whole file, streamed in 1 MiB chunks."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while chunk := f.read(HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def encode_vector(vec: np.ndarray) -> bytes:
    return np.ascontiguousarray(vec, dtype=np.float16).tobytes()


def decode_vectors(blobs: Sequence[bytes], dim: int) -> np.ndarray:
    if not blobs:
        return np.zeros((0, dim), np.float16)
    return np.frombuffer(b"".join(blobs), dtype=np.float16).reshape(len(blobs), dim)


def index_error(e: sqlite3.Error, path: str | os.PathLike) -> SearchIndexError:
    """One line for an SQLite failure on the index at ``path``."""
    msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    low = msg.lower()
    if "full" in low:
        return SearchIndexError(
            f"disk full while writing index {str(path)!r} ({msg}); "
            "the index is as it was before this write"
        )
    if "readonly" in low or "read-only" in low:
        return SearchIndexError(f"index {str(path)!r} is read-only ({msg})")
    if "locked" in low or "busy" in low:
        return SearchIndexError(f"index {str(path)!r} is busy ({msg}); try again")
    if isinstance(e, sqlite3.DatabaseError) and not isinstance(e, sqlite3.OperationalError):
        return SearchIndexError(
            f"index {str(path)!r} is damaged ({msg}); rebuild it into a new folder"
        )
    return SearchIndexError(f"index {str(path)!r}: {msg}")


def make_index_dir(db_dir: Path) -> None:
    """Create the index folder (one :class:`SearchIndexError` line when it cannot be)."""
    if db_dir.exists() and not db_dir.is_dir():
        raise SearchIndexError(f"index path {str(db_dir)!r} exists and is not a folder")
    try:
        db_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SearchIndexError(
            f"cannot create index folder {str(db_dir)!r}: {e.strerror or e}"
        ) from None


class Store:
    """SQLite-backed index folder. Thread-safe: one connection guarded by a lock.

    Use :meth:`open` for an existing index (raises :class:`SearchIndexError` if missing) and
    :meth:`create` for a new one. Writes go through :meth:`transaction`. An index whose file
    or folder cannot be written (permissions, read-only mount) opens read-only
    (:attr:`read_only`) and can be searched. SQLite failures surface as one-line
    :class:`SearchIndexError` s naming the database: damaged pages, a full disk (the
    transaction is rolled back: the index stays as it was before it), a read-only index.
    """

    def __init__(self, db_dir: str | os.PathLike, conn: sqlite3.Connection, read_only=False):
        self.db_dir = Path(db_dir)
        self.path = self.db_dir / DB_NAME
        self.read_only = bool(read_only)
        self._conn = conn
        self._lock = threading.RLock()

    # ---- opening -----------------------------------------------------------------
    @staticmethod
    def _connect(path: Path, configure: bool = True) -> sqlite3.Connection:
        conn = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
        if configure:
            Store._configure(conn)
        return conn

    @staticmethod
    def _connect_read_only(path: Path) -> sqlite3.Connection:
        """A read-only connection: ``mode=ro``, or ``immutable=1`` when even that needs a
        write (a WAL database in a folder that cannot hold its ``-shm`` file)."""
        uri = Path(os.path.abspath(path)).as_uri()
        for query in ("mode=ro", "mode=ro&immutable=1"):
            conn = sqlite3.connect(
                f"{uri}?{query}", uri=True, isolation_level=None, check_same_thread=False
            )
            try:
                conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
                return conn
            except sqlite3.OperationalError:
                conn.close()
                if query.endswith("immutable=1"):
                    raise
        raise AssertionError("unreachable")

    @staticmethod
    def _configure(conn: sqlite3.Connection) -> sqlite3.Connection:
        """WAL journal and pragmas; writes to the file, so only once it is known an index."""
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    @classmethod
    def exists(cls, db_dir: str | os.PathLike) -> bool:
        return (Path(db_dir) / DB_NAME).is_file()

    @staticmethod
    def writable(db_dir: str | os.PathLike) -> bool:
        """Whether this process may write the index folder and its database file."""
        db_dir = Path(db_dir)
        path = db_dir / DB_NAME
        if not os.access(db_dir, os.W_OK | os.X_OK):
            return False
        if path.exists() and not os.access(path, os.W_OK):
            return False
        try:
            return not (os.statvfs(db_dir).f_flag & os.ST_RDONLY)
        except OSError:
            return True

    @classmethod
    def unfinished(cls, db_dir: str | os.PathLike) -> bool:
        """Whether ``db_dir`` holds what an interrupted creation leaves: an ``index.sqlite``
        that is empty (0 bytes) or an SQLite database without a single table. Anything else
        (a foreign database, garbage) is not ours to remove."""
        path = Path(db_dir) / DB_NAME
        try:
            if path.stat().st_size == 0:
                return True
            with open(path, "rb") as f:
                if f.read(16) != b"SQLite format 3\x00":
                    return False
            conn = cls._connect_read_only(path)
            try:
                return conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0] == 0
            finally:
                conn.close()
        except (OSError, sqlite3.Error):
            return False

    @classmethod
    def remove_unfinished(cls, db_dir: str | os.PathLike) -> None:
        """Delete an unfinished creation's files (see :meth:`unfinished`)."""
        db_dir = Path(db_dir)
        for p in [db_dir / DB_NAME, *db_dir.glob(DB_NAME + "-*"), *db_dir.glob(DB_NAME + ".tmp*")]:
            p.unlink(missing_ok=True)

    @staticmethod
    def remove_temporary(db_dir: str | os.PathLike) -> None:
        """Delete databases a killed :meth:`create` left under their temporary names (call
        with the write lock held)."""
        for p in Path(db_dir).glob(DB_NAME + ".tmp*"):
            p.unlink(missing_ok=True)

    @classmethod
    def open(cls, db_dir: str | os.PathLike, read_only: bool | None = None) -> Store:
        """Open an existing index; read-only when ``read_only`` or it cannot be written."""
        path = Path(db_dir) / DB_NAME
        if not path.is_file():
            raise SearchIndexError(
                f"no index at {str(db_dir)!r} (run 'audioseek index ... --db DIR')"
            )
        if cls.unfinished(db_dir):
            raise SearchIndexError(
                f"index {str(path)!r} is an unfinished creation (a run was interrupted); "
                "index again to rebuild it"
            )
        if read_only is None:
            read_only = not cls.writable(db_dir)
        conn = None
        try:  # read first: a file that is not an index is left exactly as it was
            if read_only:
                conn = cls._connect_read_only(path)
            else:
                conn = cls._connect(path, configure=False)
            rows = conn.execute("SELECT value FROM meta WHERE key='schema'").fetchall()
            version = rows[0] if rows else None
            if version is not None and version[0] == SCHEMA_VERSION and not read_only:
                cls._configure(conn)
        except sqlite3.DatabaseError as e:
            if conn is not None:
                conn.close()
            raise SearchIndexError(f"index {str(path)!r} is damaged or not an index: {e}") from None
        if version is None or version[0] != SCHEMA_VERSION:
            conn.close()
            raise SearchIndexError(f"index {str(path)!r} has an unknown schema version {version!r}")
        return cls(db_dir, conn, read_only=read_only)

    @classmethod
    def create(cls, db_dir: str | os.PathLike, meta: dict[str, str]) -> Store:
        """Create a new index folder recording ``meta`` (model spec, fingerprint, window...).

        The database is written under a temporary name and renamed into place once its
        schema and meta are committed, so a crash never leaves a half-created index.
        """
        db_dir = Path(db_dir)
        make_index_dir(db_dir)
        path = db_dir / DB_NAME
        if path.exists():
            raise SearchIndexError(f"an index already exists at {str(db_dir)!r}")
        tmp = db_dir / f"{DB_NAME}.tmp{os.getpid()}"
        tmp.unlink(missing_ok=True)
        try:
            conn = sqlite3.connect(tmp, isolation_level=None)
            try:
                conn.execute("BEGIN IMMEDIATE")
                cls._write_schema(conn, meta)
                conn.execute("COMMIT")
            finally:
                conn.close()
            os.replace(tmp, path)
        except sqlite3.Error as e:
            tmp.unlink(missing_ok=True)
            raise index_error(e, path) from None
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return cls.open(db_dir, read_only=False)

    @staticmethod
    def _write_schema(c: sqlite3.Connection, meta: dict[str, str]) -> None:
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                c.execute(statement)
        rows = {"schema": SCHEMA_VERSION, "generation": "0", "created": str(time.time())}
        rows.update({k: str(v) for k, v in meta.items()})
        c.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", rows.items())

    def ensure_schema(self) -> None:
        """Add tables that newer versions use (``CREATE TABLE IF NOT EXISTS``; writers only)."""
        with self.transaction() as c:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    c.execute(statement)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- health --------------------------------------------------------------------
    def journal_mode(self) -> str:
        """SQLite's journal mode (``"wal"`` for an index opened for writing)."""
        return str(self._query("PRAGMA journal_mode")[0][0])

    def quick_check(self) -> None:
        """``PRAGMA quick_check``: raise one :class:`SearchIndexError` line if pages are
        damaged."""
        rows = self._query("PRAGMA quick_check")
        if [r[0] for r in rows] != ["ok"]:
            raise SearchIndexError(
                f"index {str(self.path)!r} is damaged ({rows[0][0]}); rebuild it into a new folder"
            )

    # ---- transactions --------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (rollback on error); bumps ``generation``.

        SQLite errors become one-line :class:`SearchIndexError` s (see the class docstring);
        whatever failed, the transaction leaves nothing behind.
        """
        if self.read_only:
            raise SearchIndexError(f"index {str(self.path)!r} is read-only; cannot write to it")
        with self._lock:
            c = self._conn
            try:
                c.execute("BEGIN IMMEDIATE")
                try:
                    yield c
                    c.execute(
                        "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key='generation'"
                    )
                    c.execute("COMMIT")
                except BaseException:
                    if c.in_transaction:  # SQLite may have rolled back already (disk full)
                        c.execute("ROLLBACK")
                    raise
            except sqlite3.Error as e:
                raise index_error(e, self.path) from None

    def _query(self, sql: str, params: Iterable = ()) -> list[tuple]:
        with self._lock:
            try:
                return self._conn.execute(sql, tuple(params)).fetchall()
            except sqlite3.Error as e:
                raise index_error(e, self.path) from None

    # ---- meta ----------------------------------------------------------------------
    def meta(self) -> dict[str, str]:
        return dict(self._query("SELECT key, value FROM meta"))

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self._query("SELECT value FROM meta WHERE key=?", (key,))
        return row[0][0] if row else default

    def set_meta(self, c: sqlite3.Connection, key: str, value) -> None:
        c.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, str(value)))

    @property
    def generation(self) -> int:
        return int(self.get_meta("generation", "0"))

    @property
    def dim(self) -> int:
        return int(self.get_meta("dim", "0"))

    def roots(self) -> list[str]:
        """The resolved paths given to ``audioseek index`` over the index's life."""
        return json.loads(self.get_meta("roots", "[]"))

    def add_roots(self, c: sqlite3.Connection, roots: Iterable[str | os.PathLike]) -> None:
        have = set(self.roots())
        self.set_meta(c, "roots", json.dumps(sorted(have | {str(r) for r in roots})))

    def check_model(self, spec: str | None, fingerprint: str) -> None:
        """Raise :class:`SearchIndexError` naming both models unless ``fingerprint`` matches."""
        have = self.get_meta("model_fingerprint")
        if have is not None and have != fingerprint:
            theirs = self.get_meta("model_spec") or self.get_meta("model_id")
            raise SearchIndexError(
                f"index {str(self.db_dir)!r} was built with model {theirs!r} "
                f"(fingerprint {have[:12]}), not {spec!r} (fingerprint {fingerprint[:12]}); "
                "use the same model or a new --db"
            )

    # ---- files -----------------------------------------------------------------------
    def _record(self, row: tuple) -> FileRecord:
        d = dict(zip(FILE_COLUMNS, row, strict=True))
        d["complete"] = bool(d["complete"])
        return FileRecord(**d)

    def files(self, complete_only: bool = False) -> list[FileRecord]:
        sql = f"SELECT {', '.join(FILE_COLUMNS)} FROM files"
        if complete_only:
            sql += " WHERE complete=1"
        return [self._record(r) for r in self._query(sql + " ORDER BY id")]

    def get_file(self, file_id: int) -> FileRecord | None:
        rows = self._query(f"SELECT {', '.join(FILE_COLUMNS)} FROM files WHERE id=?", (file_id,))
        return self._record(rows[0]) if rows else None

    def get_file_by_path(self, path: str | os.PathLike) -> FileRecord | None:
        rows = self._query(
            f"SELECT {', '.join(FILE_COLUMNS)} FROM files WHERE path=?", (str(path),)
        )
        return self._record(rows[0]) if rows else None

    def find_complete_by_hash(
        self, digest: str, exclude_id: int | None = None
    ) -> FileRecord | None:
        rows = self._query(
            f"SELECT {', '.join(FILE_COLUMNS)} FROM files WHERE hash=? AND complete=1 "
            "AND id IS NOT ? ORDER BY id LIMIT 1",
            (digest, exclude_id),
        )
        return self._record(rows[0]) if rows else None

    def path_allowed(self, path: str | os.PathLike) -> bool:
        """Whether ``path`` is an indexed file (the server serves only these)."""
        try:
            resolved = str(Path(path).resolve())
        except (OSError, RuntimeError):
            return False
        return bool(self._query("SELECT 1 FROM files WHERE path=?", (resolved,)))

    def window_count(self, file_id: int) -> int:
        return self._query("SELECT COUNT(*) FROM windows WHERE file_id=?", (file_id,))[0][0]

    def counts(self) -> dict[str, float]:
        n_files, n_complete, seconds = self._query(
            "SELECT COUNT(*), COALESCE(SUM(complete), 0), COALESCE(SUM(duration), 0) FROM files"
        )[0]
        n_windows = self._query("SELECT COUNT(*) FROM windows")[0][0]
        return {
            "files": n_files,
            "complete_files": n_complete,
            "windows": n_windows,
            "audio_seconds": float(seconds),
        }

    def size_on_disk(self) -> int:
        return sum(p.stat().st_size for p in self.db_dir.iterdir() if p.is_file())

    # ---- writes (call inside ``with store.transaction() as c``) --------------------------
    @staticmethod
    def upsert_file(c: sqlite3.Connection, fields: dict) -> int:
        """Insert or replace the row for ``fields['path']`` (keeping its id); returns the id."""
        cols = [k for k in FILE_COLUMNS if k != "id" and k in fields]
        row = c.execute("SELECT id FROM files WHERE path=?", (fields["path"],)).fetchone()
        values = [fields[k] for k in cols]
        if row is None:
            cur = c.execute(
                f"INSERT INTO files ({', '.join(cols)}, indexed_at) VALUES "
                f"({', '.join('?' * len(cols))}, ?)",
                [*values, time.time()],
            )
            return int(cur.lastrowid)
        c.execute(
            f"UPDATE files SET {', '.join(f'{k}=?' for k in cols)}, indexed_at=? WHERE id=?",
            [*values, time.time(), row[0]],
        )
        return int(row[0])

    @staticmethod
    def add_windows(
        c: sqlite3.Connection, file_id: int, rows: Iterable[tuple[int, float, float, np.ndarray]]
    ) -> None:
        c.executemany(
            "INSERT INTO windows (file_id, idx, start_s, end_s, vector) VALUES (?, ?, ?, ?, ?)",
            ((file_id, int(i), float(s), float(e), encode_vector(v)) for i, s, e, v in rows),
        )

    @staticmethod
    def clear_windows(c: sqlite3.Connection, file_id: int) -> None:
        c.execute("DELETE FROM windows WHERE file_id=?", (file_id,))

    @staticmethod
    def copy_windows(c: sqlite3.Connection, src_id: int, dst_id: int) -> None:
        c.execute("DELETE FROM windows WHERE file_id=?", (dst_id,))
        c.execute(
            "INSERT INTO windows (file_id, idx, start_s, end_s, vector) "
            "SELECT ?, idx, start_s, end_s, vector FROM windows WHERE file_id=? ORDER BY idx",
            (dst_id, src_id),
        )

    @staticmethod
    def update_file(c: sqlite3.Connection, file_id: int, fields: dict) -> None:
        """Set some columns of a file row (``n_windows``, duration, tags...)."""
        cols = [k for k in FILE_COLUMNS if k not in ("id", "path") and k in fields]
        if cols:
            c.execute(
                f"UPDATE files SET {', '.join(f'{k}=?' for k in cols)} WHERE id=?",
                [*(fields[k] for k in cols), file_id],
            )

    @staticmethod
    def delete_path(c: sqlite3.Connection, path: str) -> None:
        """Delete the row of ``path`` (and its windows), if any."""
        for (file_id,) in c.execute("SELECT id FROM files WHERE path=?", (path,)).fetchall():
            Store.delete_file(c, file_id)

    @staticmethod
    def mark_complete(c: sqlite3.Connection, file_id: int) -> None:
        c.execute("UPDATE files SET complete=1 WHERE id=?", (file_id,))

    @staticmethod
    def touch_file(c: sqlite3.Connection, file_id: int, size: int, mtime_ns: int) -> None:
        c.execute("UPDATE files SET size=?, mtime_ns=? WHERE id=?", (size, mtime_ns, file_id))

    @staticmethod
    def delete_file(c: sqlite3.Connection, file_id: int) -> None:
        c.execute("DELETE FROM windows WHERE file_id=?", (file_id,))
        Store.drop_file_extras(c, file_id)
        c.execute("DELETE FROM files WHERE id=?", (file_id,))

    @staticmethod
    def drop_file_extras(c: sqlite3.Connection, file_id: int) -> None:
        """Text fields, tags and peaks of a file (FTS rows have no foreign key)."""
        for sql in (
            "DELETE FROM file_text WHERE rowid=?",
            "DELETE FROM tags WHERE file_id=?",
            "DELETE FROM peaks WHERE file_id=?",
        ):
            with contextlib.suppress(sqlite3.OperationalError):  # an index before these tables
                c.execute(sql, (file_id,))

    @staticmethod
    def set_peaks(c: sqlite3.Connection, file_id: int, blob: bytes) -> None:
        c.execute(
            "INSERT INTO peaks (file_id, points) VALUES (?, ?) "
            "ON CONFLICT(file_id) DO UPDATE SET points = excluded.points",
            (file_id, blob),
        )

    @staticmethod
    def copy_peaks(c: sqlite3.Connection, src_id: int, dst_id: int) -> None:
        c.execute(
            "INSERT OR REPLACE INTO peaks (file_id, points) SELECT ?, points FROM peaks "
            "WHERE file_id = ?",
            (dst_id, src_id),
        )

    def peaks(self, file_id: int) -> bytes | None:
        try:
            rows = self._query("SELECT points FROM peaks WHERE file_id=?", (file_id,))
        except sqlite3.OperationalError:
            return None
        return rows[0][0] if rows else None

    # ---- files that could not be decoded (not retried until they change) ---------------
    def failed_reason(self, path: str, size: int, mtime_ns: int) -> str | None:
        """Why ``path`` failed to decode, if it failed with this very size and mtime."""
        rows = self._query(
            "SELECT reason FROM failed WHERE path=? AND size=? AND mtime_ns=?",
            (path, size, mtime_ns),
        )
        return rows[0][0] if rows else None

    def failed(self) -> list[dict]:
        rows = self._query("SELECT path, size, mtime_ns, reason FROM failed ORDER BY path")
        return [dict(zip(("path", "size", "mtime_ns", "reason"), r, strict=True)) for r in rows]

    @staticmethod
    def remember_failed(
        c: sqlite3.Connection, path: str, size: int, mtime_ns: int, reason: str
    ) -> None:
        c.execute(
            "INSERT OR REPLACE INTO failed (path, size, mtime_ns, reason) VALUES (?, ?, ?, ?)",
            (path, size, mtime_ns, reason),
        )

    @staticmethod
    def forget_failed(c: sqlite3.Connection, paths: Iterable[str]) -> None:
        c.executemany("DELETE FROM failed WHERE path=?", ((p,) for p in paths))

    # ---- reads for search -----------------------------------------------------------------
    def file_vectors(self, file_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(vectors (n, dim) float32, starts (n,), ends (n,))`` of one file, window order."""
        rows = self._query(
            "SELECT start_s, end_s, vector FROM windows WHERE file_id=? ORDER BY idx", (file_id,)
        )
        vecs = decode_vectors([r[2] for r in rows], self.dim).astype(np.float32)
        starts = np.array([r[0] for r in rows], np.float32)
        ends = np.array([r[1] for r in rows], np.float32)
        return vecs, starts, ends

    def file_vector_sample(self, file_id: int, limit: int) -> np.ndarray:
        """At most ``limit`` window vectors of one file (float32), evenly spaced over it
        (every ``ceil(n / limit)``-th window): only those rows are read."""
        n = int(self._query("SELECT count(*) FROM windows WHERE file_id=?", (file_id,))[0][0])
        step = max(1, -(-n // max(1, int(limit))))
        rows = self._query(
            "SELECT vector FROM windows WHERE file_id=? AND idx % ? = 0 ORDER BY idx",
            (file_id, step),
        )
        return decode_vectors([r[0] for r in rows], self.dim).astype(np.float32)

    def window_table(self, with_vectors: bool = True, batch: int = 50_000) -> WindowTable:
        """Every window of complete files, ordered by (file id, window index)."""
        dim = self.dim
        cols = "w.id, w.file_id, w.start_s, w.end_s" + (", w.vector" if with_vectors else "")
        sql = (
            f"SELECT {cols} FROM windows w JOIN files f ON f.id = w.file_id "
            "WHERE f.complete = 1 ORDER BY w.file_id, w.idx"
        )
        ids, fids, starts, ends, vec_parts = [], [], [], [], []
        with self._lock:
            try:
                cur = self._conn.execute(sql)
                while rows := cur.fetchmany(batch):
                    ids.append(np.array([r[0] for r in rows], np.int64))
                    fids.append(np.array([r[1] for r in rows], np.int64))
                    starts.append(np.array([r[2] for r in rows], np.float32))
                    ends.append(np.array([r[3] for r in rows], np.float32))
                    if with_vectors:
                        vec_parts.append(decode_vectors([r[4] for r in rows], dim))
            except sqlite3.Error as e:
                raise index_error(e, self.path) from None

        def cat(parts, dtype, shape=(0,)):
            return np.concatenate(parts) if parts else np.zeros(shape, dtype)

        return WindowTable(
            window_ids=cat(ids, np.int64),
            file_ids=cat(fids, np.int64),
            starts=cat(starts, np.float32),
            ends=cat(ends, np.float32),
            vectors=cat(vec_parts, np.float16, (0, dim)) if with_vectors else None,
        )

    def iter_vectors(
        self, batch: int = 50_000, min_id: int | None = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(window_ids, vectors float16)`` chunks over complete files (for ANN builds),
        in id order; only ids above ``min_id`` when given (incremental ANN upkeep)."""
        dim = self.dim
        sql = (
            "SELECT w.id, w.vector FROM windows w JOIN files f ON f.id = w.file_id "
            "WHERE f.complete = 1 AND w.id > ? ORDER BY w.id LIMIT ?"
        )
        last = -1 if min_id is None else int(min_id)
        while rows := self._query(sql, (last, batch)):
            last = rows[-1][0]
            yield (
                np.array([r[0] for r in rows], np.int64),
                decode_vectors([r[1] for r in rows], dim),
            )

    def read(self, sql: str, params: Iterable = ()) -> list[tuple]:
        """Rows of a read-only query (used by the text, tag and map modules)."""
        return self._query(sql, params)

    def window_ids(self, complete_only: bool = True) -> np.ndarray:
        """Every window id (of complete files), ascending."""
        sql = "SELECT w.id FROM windows w"
        if complete_only:
            sql += " JOIN files f ON f.id = w.file_id WHERE f.complete = 1"
        return np.array([r[0] for r in self._query(sql + " ORDER BY w.id")], np.int64)

    def count_complete_windows(self) -> int:
        """How many windows belong to complete files (a count, no rows fetched)."""
        total = self._query("SELECT COUNT(*) FROM windows")[0][0]
        unfinished = self._query(
            f"SELECT COUNT(*) FROM windows WHERE file_id IN ({_UNFINISHED_FILES})"
        )[0][0]
        return int(total) - int(unfinished)

    def window_id_watermark(self) -> int | None:
        """The highest window id below which every window belongs to a complete file (so an
        ANN index that holds them all is up to date to there); ``None`` without windows."""
        row = self._query(  # through the (file_id, idx) index: only unfinished files' rows
            f"SELECT min(id) FROM windows WHERE file_id IN ({_UNFINISHED_FILES})"
        )
        if row and row[0][0] is not None:
            return int(row[0][0]) - 1
        row = self._query("SELECT max(id) FROM windows")
        return None if not row or row[0][0] is None else int(row[0][0])

    def window_ids_autoincrement(self) -> bool:
        """Whether window ids are never reused (indexes created by this version)."""
        row = self._query("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'windows'")
        return bool(row) and "AUTOINCREMENT" in (row[0][0] or "").upper()


LOCK_NAME = "index.lock"


class WriteLock(FolderLock):
    """One writer per index: an exclusive ``fcntl.flock`` on ``index.lock`` in the index
    folder, holding the writer's pid. A second writer fails at once naming that pid;
    readers never take it. The kernel releases the lock when the process dies
    (``kill -9`` included), so a crash never leaves a stale lock."""

    def __init__(self, db_dir: str | os.PathLike):
        super().__init__(
            db_dir,
            LOCK_NAME,
            busy="another index run is writing to {folder} (pid {pid})",
            cannot="cannot lock index {folder} for writing: {reason}",
            error=SearchIndexError,
        )

    @property
    def db_dir(self) -> Path:
        return self.folder
