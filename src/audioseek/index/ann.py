"""Approximate nearest-neighbour index over window vectors, built past a size threshold.

Below :data:`ANN_THRESHOLD` windows, search is exact (one matrix product). Past it, a faiss
IVF index (inverted lists over k-means cells, inner product) is built from the store and
persisted beside the database as ``ann.faiss`` with a stamp ``ann.json``:

* ``ivf_sq`` (up to :data:`DISK_THRESHOLD` windows): ``IVF{nlist},SQfp16``, the vectors kept
  as float16, so its scores are the exact scores up to float16 rounding;
* ``ivf_pq`` (past it): ``IVF{nlist},PQ{dim/8}`` codes of 64 bytes for 512-d vectors
  (16x smaller), searched memory-mapped (``IO_FLAG_MMAP``: the inverted lists stay in the
  page cache, not in the process), and the best candidates re-ranked with their exact
  float16 vectors read from the store, so scores are exact and RSS stays far below the
  vector volume.

Why IVF and not HNSW: on a CPU-only machine, HNSW construction over 10^6 vectors of 512
dimensions takes tens of minutes; IVF trains k-means on a sample and adds vectors in one
pass, and its recall is set by ``nprobe``.

Upkeep is incremental: the stamp records the store generation and the highest window id the
index covers; after an indexing run, windows added since are ``add_with_ids``-ed and
windows deleted since are ``remove_ids``-ed, and the index is retrained from scratch only
when it has doubled since training (or changes kind). Window ids are never reused
(``AUTOINCREMENT``), which is what makes the id watermark sound; an older index whose ids
could be reused is rebuilt instead.

Additions alone do not rewrite ``ann.faiss`` (1 GB at 1M windows): they go to a small
*delta* index, ``ann.delta.<token>.faiss``, made from ``ann.empty.faiss`` (the trained, empty
index: same cells, same codes), and searches merge the two. The delta is folded into
``ann.faiss`` when it passes :data:`DELTA_MAX_FRACTION` of it, or when windows were deleted.
The stamp is the commit point: a delta file gets a new name each time and the stamp is
replaced after it (atomically), so a reader or a crash sees the old stamp with the old
files or the new stamp with the new ones; before ``ann.faiss`` itself is replaced the stamp
is first marked unusable for incremental upkeep, so a crash in between forces a rebuild.
Files are written to a temporary name and renamed, so a reader never sees a torn index;
:func:`ann_status` says when the persisted one is stale.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import math
import os
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np

from audioseek.index.store import DB_NAME, Store

log = logging.getLogger(__name__)

ANN_THRESHOLD = 200_000
DISK_THRESHOLD = 5_000_000
ANN_FILE = "ann.faiss"
STAMP_FILE = "ann.json"
BUILD_LOCK = "ann.lock"  # one process builds or updates the ANN index at a time
EMPTY_FILE = "ann.empty.faiss"  # the trained, empty index: where a delta starts
DELTA_GLOB = "ann.delta.*.faiss"
DELTA_MAX_FRACTION = 0.25  # fold the delta into ann.faiss past this share of it
DEFAULT_NPROBE = 48
PQ_NPROBE = 64
TRAIN_PER_LIST = 64
RETRAIN_GROWTH = 2.0
RERANK_FACTOR = 4
KINDS = ("ivf_sq", "ivf_pq")


def _faiss():
    import faiss

    return faiss


def choose_nlist(n: int) -> int:
    """Number of k-means cells for ``n`` vectors: ~2 sqrt(n), at least 16 (at most ``n``)."""
    return max(1, min(n, max(16, int(2 * math.sqrt(n)))))


def choose_kind(n: int, disk_threshold: int | None = None) -> str:
    return (
        "ivf_pq"
        if n >= (DISK_THRESHOLD if disk_threshold is None else disk_threshold)
        else "ivf_sq"
    )


def factory_string(kind: str, nlist: int, dim: int, n: int = 1 << 30) -> str:
    """The faiss index factory string; PQ codes use 8 bits per sub-vector (256 centroids,
    which needs enough training vectors: fewer bits for a tiny index)."""
    if kind == "ivf_sq":
        return f"IVF{nlist},SQfp16"
    if kind == "ivf_pq":
        m = max(1, dim // 8)
        while dim % m:
            m -= 1
        nbits = max(1, min(8, int(math.log2(max(n, 2) / 4))))
        return f"IVF{nlist},PQ{m}x{nbits}"
    raise ValueError(f"unknown ANN kind {kind!r}; expected one of {KINDS}")


def _train_size(n: int, nlist: int, kind: str) -> int:
    """Vectors that train the quantisers (PQ needs 256 per code word, 40 x over)."""
    return min(n, max(nlist * TRAIN_PER_LIST, 256 * 40 if kind == "ivf_pq" else 0))


def _trained_index(kind: str, nlist: int, dim: int, n: int, train: np.ndarray, seed: int):
    """An empty faiss index of ``kind`` for ``n`` vectors, trained on ``train``."""
    faiss = _faiss()
    index = faiss.index_factory(
        dim, factory_string(kind, nlist, dim, n), faiss.METRIC_INNER_PRODUCT
    )
    ivf = faiss.extract_index_ivf(index)
    ivf.cp.seed = seed
    if kind == "ivf_pq":
        faiss.downcast_index(ivf).do_polysemous_training = False  # search does not use it
    index.train(np.ascontiguousarray(train, dtype=np.float32))
    return index


class Reranker:
    """Exact scores of candidate windows from their float16 vectors in the store (its own
    read-only connection, safe to share between threads)."""

    def __init__(self, db_file: Path, dim: int):
        self.db_file = Path(db_file)
        self.dim = dim
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = sqlite3.connect(
                f"{self.db_file.as_uri()}?mode=ro", uri=True, check_same_thread=False
            )
        return self._conn

    def vectors(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(found ids, float32 vectors)`` for window ``ids`` (missing ones dropped)."""
        from audioseek.index.store import decode_vectors

        ids = np.unique(ids[ids >= 0])
        found, blobs = [], []
        with self._lock:
            conn = self._connection()
            for lo in range(0, len(ids), 900):
                chunk = [int(i) for i in ids[lo : lo + 900]]
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(
                    f"SELECT id, vector FROM windows WHERE id IN ({marks})", chunk
                ).fetchall()
                found += [r[0] for r in rows]
                blobs += [r[1] for r in rows]
        if not found:
            return np.zeros(0, np.int64), np.zeros((0, self.dim), np.float32)
        return np.asarray(found, np.int64), decode_vectors(blobs, self.dim).astype(np.float32)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class AnnIndex:
    """A faiss IVF index whose ids are window ids of the store."""

    def __init__(
        self,
        index,
        generation: int,
        kind: str = "ivf_sq",
        max_id: int | None = None,
        trained_n: int | None = None,
        nprobe: int | None = None,
        delta=None,
    ):
        self.index = index
        self.generation = generation
        self.kind = kind
        self.max_id = max_id
        self.trained_n = trained_n if trained_n is not None else int(index.ntotal)
        self.nprobe = nprobe or (PQ_NPROBE if kind == "ivf_pq" else DEFAULT_NPROBE)
        _faiss().extract_index_ivf(self.index).nprobe = self.nprobe
        self.reranker: Reranker | None = None
        # windows added since ``index`` was written (same trained cells and codes), or None
        self.delta = None
        self.set_delta(delta)
        self.template: bytes | None = None  # the trained empty index, when just trained

    def set_delta(self, delta) -> None:
        self.delta = delta
        if delta is not None:
            _faiss().extract_index_ivf(delta).nprobe = self.nprobe

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal) + (int(self.delta.ntotal) if self.delta is not None else 0)

    # ---- building ---------------------------------------------------------------------
    @classmethod
    def build_from_arrays(
        cls,
        vectors: np.ndarray,
        ids: np.ndarray,
        generation: int = 0,
        nlist: int | None = None,
        seed: int = 0,
        kind: str = "ivf_sq",
    ) -> AnnIndex:
        """Train and fill an index from ``vectors (n, dim)`` with int64 ``ids (n,)``."""
        n, dim = vectors.shape
        nlist = nlist or choose_nlist(n)
        rng = np.random.default_rng(seed)
        sample = np.sort(rng.choice(n, size=_train_size(n, nlist, kind), replace=False))
        index = _trained_index(kind, nlist, dim, n, vectors[sample], seed)
        template = bytes(_faiss().serialize_index(index))
        for lo in range(0, n, 100_000):
            chunk = np.ascontiguousarray(vectors[lo : lo + 100_000], dtype=np.float32)
            index.add_with_ids(chunk, np.ascontiguousarray(ids[lo : lo + 100_000], np.int64))
        max_id = int(ids.max()) if len(ids) else -1
        ann = cls(index, generation, kind=kind, max_id=max_id, trained_n=n)
        ann.template = template
        return ann

    @classmethod
    def build_from_store(cls, store: Store, seed: int = 0, kind: str | None = None) -> AnnIndex:
        """Two streaming passes over the store (memory: the training sample + one chunk, not
        every vector): a strided sample trains the quantisers, then vectors are added chunk by
        chunk."""
        generation = store.generation
        n = int(store.counts()["windows"])
        dim = store.dim
        kind = kind or choose_kind(n)
        nlist = choose_nlist(max(n, 1))
        stride = max(1, n // max(_train_size(n, nlist, kind), 1))
        log.info("building %s ANN index over %d windows", kind, n)
        sample, seen = [], 0
        for ids, vecs in store.iter_vectors():
            take = (np.arange(seen, seen + len(ids)) % stride) == 0
            sample.append(vecs[take].astype(np.float32))
            seen += len(ids)
        train = np.concatenate(sample) if sample else np.zeros((0, dim), np.float32)
        del sample
        index = _trained_index(kind, nlist, dim, seen, train, seed)
        del train
        template = bytes(_faiss().serialize_index(index))
        max_id = -1
        for ids, vecs in store.iter_vectors():
            index.add_with_ids(np.ascontiguousarray(vecs, np.float32), ids)
            max_id = max(max_id, int(ids[-1]))
        ann = cls(index, generation, kind=kind, max_id=max_id, trained_n=seen)
        ann.template = template
        ann.max_id = _watermark(store, ann.max_id)
        return ann

    # ---- incremental upkeep -----------------------------------------------------------
    def ids(self) -> np.ndarray:
        """Every window id held by the index (from its inverted lists, delta included)."""
        parts = [_list_ids(self.index)]
        if self.delta is not None:
            parts.append(_list_ids(self.delta))
        return np.concatenate(parts)

    def fold_delta(self) -> None:
        """Move the delta's entries into the main index (same cells: no re-assignment)."""
        if self.delta is not None and self.delta.ntotal:
            faiss = _faiss()
            faiss.extract_index_ivf(self.index).merge_from(faiss.extract_index_ivf(self.delta), 0)
        self.set_delta(None)

    def update_from_store(self, store: Store) -> dict:
        """Add the windows written since ``max_id`` and remove the ones deleted since."""
        faiss = _faiss()
        t0 = time.perf_counter()
        self.fold_delta()
        added = 0
        new_ids = []
        for ids, vecs in store.iter_vectors(min_id=self.max_id):
            self.index.remove_ids(faiss.IDSelectorBatch(ids))  # never twice
            self.index.add_with_ids(np.ascontiguousarray(vecs, np.float32), ids)
            added += len(ids)
            new_ids.append(ids)
        # The index now holds every complete window (those at or below max_id were added
        # before, the rest just now), so it holds more than the store's count exactly when
        # windows were deleted since: only then are the ids compared one by one.
        gone = np.zeros(0, np.int64)
        if self.ntotal > store.count_complete_windows():
            present = store.window_ids(complete_only=True)
            gone = np.setdiff1d(self.ids(), present, assume_unique=False)
        if len(gone):
            self.index.remove_ids(faiss.IDSelectorBatch(gone.astype(np.int64)))
        self.max_id = _watermark(store, self.max_id)
        self.generation = store.generation
        return {"added": added, "removed": int(len(gone)), "seconds": time.perf_counter() - t0}

    # ---- searching --------------------------------------------------------------------
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(scores (q, k), window_ids (q, k))``, best first; missing neighbours have id -1.
        An ``ivf_pq`` index with a reranker returns exact scores of its best candidates."""
        q = np.ascontiguousarray(queries, dtype=np.float32)
        if self.kind != "ivf_pq" or self.reranker is None:
            return self._search_parts(q, k)
        _, cand = self._search_parts(q, max(k, RERANK_FACTOR * k))
        found, vecs = self.reranker.vectors(cand.ravel())
        pos = {int(i): n for n, i in enumerate(found)}
        scores = np.full((len(q), k), -np.inf, np.float32)
        ids = np.full((len(q), k), -1, np.int64)
        for r in range(len(q)):
            rows = [pos[int(i)] for i in dict.fromkeys(cand[r].tolist()) if int(i) in pos]
            if not rows:
                continue
            exact = vecs[rows] @ q[r]
            order = np.argsort(-exact, kind="stable")[:k]
            scores[r, : len(order)] = exact[order]
            ids[r, : len(order)] = found[rows][order]
        return scores, ids

    def _search_parts(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The main index's and the delta's best ``k``, merged (best first)."""
        scores, ids = self.index.search(q, k)
        if self.delta is None or self.delta.ntotal == 0:
            return scores, ids
        ds, di = self.delta.search(q, k)
        s = np.concatenate([scores, ds], axis=1)
        i = np.concatenate([ids, di], axis=1)
        s = np.where(i < 0, -np.inf, s)
        order = np.argsort(-s, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(s, order, 1), np.take_along_axis(i, order, 1)

    # ---- persistence ------------------------------------------------------------------
    def _stamp(self, **extra) -> dict:
        return {
            "generation": self.generation,
            "ntotal": self.ntotal,
            "kind": self.kind,
            "max_id": self.max_id,
            "trained_n": self.trained_n,
            "base_ntotal": int(self.index.ntotal),
            "delta": None,
            **extra,
        }

    def save(self, db_dir: str | os.PathLike) -> None:
        """Write everything: the delta folded into ``ann.faiss``, the empty template, the
        stamp (see the module docstring for the order)."""
        faiss = _faiss()
        db_dir = Path(db_dir)
        self.fold_delta()
        # a crash from here until the final stamp leaves a stamp no upkeep can extend
        _write_stamp(db_dir, {**self._stamp(), "generation": -1, "max_id": None})
        _write_index(self.index, db_dir / ANN_FILE)
        if self.template is None and not (db_dir / EMPTY_FILE).is_file():
            empty = faiss.clone_index(self.index)  # an index from before delta files
            empty.reset()
            self.template = bytes(faiss.serialize_index(empty))
        if self.template is not None:
            tmp = db_dir / (EMPTY_FILE + f".{os.getpid()}.tmp")
            tmp.write_bytes(self.template)
            os.replace(tmp, db_dir / EMPTY_FILE)
            self.template = None
        _write_stamp(db_dir, self._stamp())
        _remove_deltas(db_dir, keep=None)

    def save_delta(self, db_dir: str | os.PathLike) -> None:
        """Write only the delta (a new file) and the stamp that names it."""
        db_dir = Path(db_dir)
        name = f"ann.delta.{os.getpid()}.{time.time_ns():x}.faiss"
        _write_index(self.delta, db_dir / name)
        _write_stamp(db_dir, self._stamp(delta=name))
        _remove_deltas(db_dir, keep=name)

    @classmethod
    def load(cls, db_dir: str | os.PathLike, mmap: bool = False) -> AnnIndex | None:
        """The persisted index, or ``None``. ``mmap`` maps its inverted lists read-only
        instead of reading them into memory (searchers); writers load it to update it."""
        db_dir = Path(db_dir)
        faiss = _faiss()
        flags = (faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY) if mmap else 0
        for attempt in range(3):  # a writer may replace the delta between the two reads
            try:
                stamp = json.loads((db_dir / STAMP_FILE).read_text())
                index = faiss.read_index(str(db_dir / ANN_FILE), flags)
                delta = None
                if stamp.get("delta"):
                    delta = faiss.read_index(str(_delta_path(db_dir, stamp)))
                break
            except (OSError, ValueError, RuntimeError):
                if attempt == 2:
                    return None
        ann = cls(
            index,
            int(stamp.get("generation", -1)),
            kind=stamp.get("kind", "ivf_sq"),
            max_id=stamp.get("max_id"),
            trained_n=stamp.get("trained_n"),
            delta=delta,
        )
        if ann.kind == "ivf_pq":
            ann.reranker = Reranker(db_dir / DB_NAME, int(index.d))
        return ann


def _list_ids(index) -> np.ndarray:
    faiss = _faiss()
    ivf = faiss.extract_index_ivf(index)
    invlists = ivf.invlists
    parts = []
    for lst in range(ivf.nlist):
        size = invlists.list_size(lst)
        if size:
            ptr = invlists.get_ids(lst)
            parts.append(faiss.rev_swig_ptr(ptr, size).copy())
            invlists.release_ids(lst, ptr)
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)


def _write_index(index, path: Path) -> None:
    """``index`` to ``path`` through a temporary name (a reader never sees a torn file)."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    _faiss().write_index(index, str(tmp))
    os.replace(tmp, path)


def _write_stamp(db_dir: Path, stamp: dict) -> None:
    tmp = db_dir / (STAMP_FILE + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(stamp))
    os.replace(tmp, db_dir / STAMP_FILE)


def _remove_deltas(db_dir: Path, keep: str | None) -> None:
    """Delta files the stamp does not name (replaced ones, or left by a crash)."""
    for p in db_dir.glob(DELTA_GLOB):
        if p.name != keep:
            p.unlink(missing_ok=True)


def remove_ann_files(db_dir: str | os.PathLike) -> None:
    """Every file of the persisted ANN index (the stamp first: no reader uses the rest)."""
    db_dir = Path(db_dir)
    for name in (STAMP_FILE, ANN_FILE, EMPTY_FILE):
        (db_dir / name).unlink(missing_ok=True)
    _remove_deltas(db_dir, keep=None)


def _delta_path(db_dir: Path, stamp: dict) -> Path:
    """The delta file the stamp names: a file of this folder with a delta's name, else
    OSError (a stamp edited to point elsewhere is treated as a broken index)."""
    name = str(stamp["delta"])
    if Path(name).name != name or not fnmatch.fnmatch(name, DELTA_GLOB):
        raise OSError(f"not a delta file of this index: {name!r}")
    return db_dir / name


def _read_stamp(db_dir: Path) -> dict | None:
    try:
        return json.loads((db_dir / STAMP_FILE).read_text())
    except (OSError, ValueError):
        return None


def _append(store: Store, stamp: dict) -> AnnIndex | None:
    """Additions since the stamp's watermark into the delta, without reading or writing
    ``ann.faiss``; ``None`` when that cannot serve (no template, windows deleted since, or
    a delta past :data:`DELTA_MAX_FRACTION`): the caller then does the full upkeep."""
    faiss = _faiss()
    db = store.db_dir
    base_n = stamp.get("base_ntotal")
    if base_n is None or not (db / EMPTY_FILE).is_file():
        return None
    try:
        path = _delta_path(db, stamp) if stamp.get("delta") else db / EMPTY_FILE
        delta = faiss.read_index(str(path))
    except (OSError, RuntimeError):
        return None
    max_id = stamp["max_id"]
    for ids, vecs in store.iter_vectors(min_id=max_id):
        delta.add_with_ids(np.ascontiguousarray(vecs, np.float32), ids)
    total = int(base_n) + int(delta.ntotal)
    if total > store.count_complete_windows():  # windows were deleted since
        return None
    if delta.ntotal > DELTA_MAX_FRACTION * max(int(base_n), 1):
        return None
    base = faiss.read_index(str(db / ANN_FILE), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
    ann = AnnIndex(
        base,
        store.generation,
        kind=stamp.get("kind", "ivf_sq"),
        max_id=_watermark(store, max_id),
        trained_n=stamp.get("trained_n"),
        delta=delta,
    )
    ann.save_delta(db)
    return ann


def _watermark(store: Store, fallback: int | None) -> int | None:
    """The highest window id the ANN index now covers: every complete window up to it is in.
    Windows of unfinished files stay above it (they are added once their file completes)."""
    wm = store.window_id_watermark()
    return wm if wm is not None else fallback


def ids_never_reused(store: Store) -> bool:
    return store.window_ids_autoincrement()


def ensure_ann(
    store: Store, threshold: int = ANN_THRESHOLD, disk_threshold: int | None = None
) -> AnnIndex | None:
    """The store's ANN index, brought up to date if the store has ``threshold`` windows or
    more (incrementally when possible, see the module docstring); ``None`` (exact search)
    below the threshold."""
    n = int(store.counts()["windows"])
    db = store.db_dir
    if n < threshold:
        remove_ann_files(db)
        return None
    with _build_lock(db):  # a reader and the indexer never build it twice at once
        return _ensure_locked(store, n, disk_threshold)


class _build_lock:
    """Exclusive, *blocking* ``flock`` on :data:`BUILD_LOCK`: a second process that needs
    the ANN index waits for the first one's build, then finds it current and loads it.
    Separate from the indexer's write lock, so a search never stops an index run from
    starting. Without a writable folder there is no lock (nor any build to protect)."""

    def __init__(self, db: Path):
        self.path = Path(db) / BUILD_LOCK
        self.fd: int | None = None

    def __enter__(self):
        import fcntl

        try:
            # read-only and never through a symlink: the lock file is only ever flock-ed
            self.fd = os.open(self.path, os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError:
            return self
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            import fcntl

            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def _ensure_locked(store: Store, n: int, disk_threshold: int | None) -> AnnIndex:
    db = store.db_dir
    stamp = _read_stamp(db) if (db / ANN_FILE).is_file() else None
    if stamp is not None and int(stamp.get("generation", -1)) == store.generation:
        current = AnnIndex.load(db)
        if current is not None:
            return current
    kind = choose_kind(n, DISK_THRESHOLD if disk_threshold is None else disk_threshold)
    incremental = (
        stamp is not None
        and stamp.get("kind", "ivf_sq") == kind
        and stamp.get("max_id") is not None
        and ids_never_reused(store)
        and n < RETRAIN_GROWTH * max(int(stamp.get("trained_n") or stamp.get("ntotal") or 0), 1)
    )
    if incremental:
        appended = _append(store, stamp)  # additions only: the delta, not ann.faiss
        if appended is not None:
            log.info("ANN index: %d windows in the delta", appended.delta.ntotal)
            return appended
    current = AnnIndex.load(db) if incremental else None  # the whole index, in memory
    if current is not None:
        stats = current.update_from_store(store)
        log.info("ANN index updated: %s", stats)
        ann = current
    else:
        ann = AnnIndex.build_from_store(store, kind=kind)
    ann.save(db)
    return ann


def ann_status(store: Store) -> dict:
    """What the persisted ANN index is: kind, size, and whether it is stale (built from an
    older generation of the store than the current one)."""
    try:
        stamp = json.loads((store.db_dir / STAMP_FILE).read_text())
    except (OSError, ValueError):
        return {"present": False, "stale": False}
    return {
        "present": (store.db_dir / ANN_FILE).exists(),
        "kind": stamp.get("kind", "ivf_sq"),
        "ntotal": stamp.get("ntotal"),
        "generation": stamp.get("generation"),
        "stale": int(stamp.get("generation", -1)) != store.generation,
    }
