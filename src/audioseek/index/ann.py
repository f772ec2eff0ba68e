"""Approximate nearest-neighbour index over window vectors, built past a size threshold.

Below :data:`ANN_THRESHOLD` windows, search is exact (one matrix product). Past it, a faiss
``IVF{nlist},SQfp16`` index (inverted lists over k-means cells, vectors stored as float16,
inner product) is built from the store and persisted beside the database as ``ann.faiss``
with a stamp ``ann.json`` recording the store generation it was built from; a stamp that
does not match the store's generation means the index is stale and it is rebuilt.

Why IVF and not HNSW: on a CPU-only machine, HNSW construction over 10^6 vectors of 512
dimensions takes tens of minutes; IVF trains k-means on a sample and adds vectors in one
pass (seconds to a minute), keeps the exact float16 vectors (no PQ loss, so scores equal
the exact scores up to float16 rounding) and its recall is set by ``nprobe``.
Files are written to a temporary name and renamed, so a crash never leaves a torn index.
"""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path

import numpy as np

from audioseek.index.store import Store

log = logging.getLogger(__name__)

ANN_THRESHOLD = 200_000
ANN_FILE = "ann.faiss"
STAMP_FILE = "ann.json"
DEFAULT_NPROBE = 48
TRAIN_PER_LIST = 64


def _faiss():
    import faiss

    return faiss


def choose_nlist(n: int) -> int:
    """Number of k-means cells for ``n`` vectors: ~2 sqrt(n), at least 16 (at most ``n``)."""
    return max(1, min(n, max(16, int(2 * math.sqrt(n)))))


class AnnIndex:
    """A faiss IVF index whose ids are window ids of the store."""

    def __init__(self, index, generation: int, nprobe: int = DEFAULT_NPROBE):
        self.index = index
        self.generation = generation
        self.nprobe = nprobe
        self.index.nprobe = nprobe

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    @classmethod
    def build_from_arrays(
        cls,
        vectors: np.ndarray,
        ids: np.ndarray,
        generation: int = 0,
        nlist: int | None = None,
        seed: int = 0,
    ) -> AnnIndex:
        """Train and fill an index from ``vectors (n, dim)`` with int64 ``ids (n,)``."""
        faiss = _faiss()
        n, dim = vectors.shape
        nlist = nlist or choose_nlist(n)
        index = faiss.index_factory(dim, f"IVF{nlist},SQfp16", faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(seed)
        n_train = min(n, nlist * TRAIN_PER_LIST)
        sample = np.sort(rng.choice(n, size=n_train, replace=False))
        index.cp.seed = seed
        index.train(np.ascontiguousarray(vectors[sample], dtype=np.float32))
        for lo in range(0, n, 100_000):
            chunk = np.ascontiguousarray(vectors[lo : lo + 100_000], dtype=np.float32)
            index.add_with_ids(chunk, np.ascontiguousarray(ids[lo : lo + 100_000], np.int64))
        return cls(index, generation)

    @classmethod
    def build_from_store(cls, store: Store, seed: int = 0) -> AnnIndex:
        generation = store.generation
        parts = list(store.iter_vectors())
        ids = np.concatenate([p[0] for p in parts])
        vectors = np.concatenate([p[1] for p in parts])
        log.info("building ANN index over %d windows", len(ids))
        return cls.build_from_arrays(vectors, ids, generation=generation, seed=seed)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(scores (q, k), window_ids (q, k))``; missing neighbours have id -1."""
        return self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)

    def save(self, db_dir: str | os.PathLike) -> None:
        faiss = _faiss()
        db_dir = Path(db_dir)
        tmp = db_dir / (ANN_FILE + ".tmp")
        faiss.write_index(self.index, str(tmp))
        os.replace(tmp, db_dir / ANN_FILE)
        stamp = {"generation": self.generation, "ntotal": self.ntotal, "kind": "IVF,SQfp16"}
        (db_dir / (STAMP_FILE + ".tmp")).write_text(json.dumps(stamp))
        os.replace(db_dir / (STAMP_FILE + ".tmp"), db_dir / STAMP_FILE)

    @classmethod
    def load(cls, db_dir: str | os.PathLike) -> AnnIndex | None:
        db_dir = Path(db_dir)
        try:
            stamp = json.loads((db_dir / STAMP_FILE).read_text())
            index = _faiss().read_index(str(db_dir / ANN_FILE))
        except (OSError, ValueError, RuntimeError):
            return None
        return cls(index, int(stamp.get("generation", -1)))


def ensure_ann(store: Store, threshold: int = ANN_THRESHOLD) -> AnnIndex | None:
    """The store's ANN index, (re)built if the store has ``threshold`` windows or more and
    the persisted one is missing or stale; ``None`` (exact search) below the threshold."""
    n = store.counts()["windows"]
    if n < threshold:
        for name in (ANN_FILE, STAMP_FILE):
            (store.db_dir / name).unlink(missing_ok=True)
        return None
    current = AnnIndex.load(store.db_dir)
    if current is not None and current.generation == store.generation:
        return current
    ann = AnnIndex.build_from_store(store)
    ann.save(store.db_dir)
    return ann
