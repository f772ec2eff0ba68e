"""Ranking: files for query vectors, exact or through the ANN index.

Window vectors are L2-normalised, so a dot product is the cosine similarity. Below
:data:`audioseek.index.ann.ANN_THRESHOLD` windows, every window is scored exactly (one
matrix product over a float32 copy of the index); past it, the faiss index from
:mod:`audioseek.index.ann` returns the best windows and files are ranked from those.

A file's score aggregates its window scores: ``top_n=1`` (``agg="max"``) takes the best
window, ``top_n=3`` (``agg="top3-mean"``) the mean of its 3 best windows (all windows if it
has fewer). Every hit names the best window's start and end in seconds.

:class:`Snapshot` is an immutable view of one store generation, so a reader can rank while
an indexer writes; :class:`audioseek.Index` swaps it when the generation changes.
"""

from __future__ import annotations

import heapq

import numpy as np

from audioseek.index.ann import AnnIndex, ensure_ann
from audioseek.index.store import Store, WindowTable
from audioseek.index.types import Hit

ANN_CANDIDATES = 512
# past the ANN threshold, a query's spread of file scores (weak-match flags) is estimated on
# this many files, each by at most STATS_WINDOWS of its windows: <= 64 MB of vectors
STATS_SAMPLE = 1000
STATS_WINDOWS = 32


class Snapshot:
    """Immutable view of the index for one store generation: window table, file records,
    and either the float32 matrix of all vectors (exact) or the ANN index."""

    def __init__(self, store: Store, ann_threshold: int):
        self.generation = store.generation
        n = store.counts()["windows"]
        self.ann: AnnIndex | None = None
        if n >= ann_threshold:
            # The indexer rebuilds a stale ANN index at the end of each run; a reader uses
            # the persisted one (windows it lacks are found after that rebuild, windows it
            # has that were deleted are dropped below) and builds one only if none exists
            # (and it may write: a read-only index is searched exactly). Builds are serialised
            # by the ANN build lock: a second reader waits, then loads the first one's.
            self.ann = AnnIndex.load(store.db_dir, mmap=True)
            if self.ann is None and not store.read_only:
                self.ann = ensure_ann(store, ann_threshold)
        table = store.window_table(with_vectors=self.ann is None)
        self.table: WindowTable = table
        self.matrix = None if table.vectors is None else table.vectors.astype(np.float32)
        table.vectors = None
        self.file_ids, self.offsets = table.file_slices()
        self.records = {r.id: r for r in store.files(complete_only=True)}
        self.id_order = np.argsort(table.window_ids, kind="stable")
        self.sorted_ids = table.window_ids[self.id_order]
        self._last_scores: tuple[bytes, np.ndarray] | None = None
        self._sample: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def score_sample(self, store: Store) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(file ids, vectors (n, dim) float32, offsets (files + 1,))`` of a fixed sample
        of at most :data:`STATS_SAMPLE` files (every file when there are fewer), each by at
        most :data:`STATS_WINDOWS` evenly spaced windows, read once from the store: what
        estimates a query's spread of file scores when no matrix is in RAM."""
        if self._sample is None:
            n = len(self.file_ids)
            pick = np.arange(n)
            if n > STATS_SAMPLE:
                pick = np.sort(np.random.default_rng(0).choice(n, STATS_SAMPLE, replace=False))
            ids = [int(self.file_ids[i]) for i in pick]
            parts = [store.file_vector_sample(f, STATS_WINDOWS) for f in ids]
            kept = [i for i, p in enumerate(parts) if len(p)]  # a file deleted since: none
            parts = [parts[i] for i in kept]
            offsets = np.cumsum([0, *(len(p) for p in parts)])
            vecs = np.concatenate(parts) if parts else np.zeros((0, store.dim), np.float32)
            files = np.array([ids[i] for i in kept], np.int64)
            self._sample = (files, vecs.astype(np.float32, copy=False), offsets)
        return self._sample

    def window_scores(self, qvecs: np.ndarray) -> np.ndarray:
        """Exact search: every window's best similarity to any row of ``qvecs``. The last
        result is kept, so ranking and the weak-match statistics of one query share one
        pass over the matrix."""
        q = np.ascontiguousarray(qvecs, dtype=np.float32).reshape(-1, self.matrix.shape[1])
        key = q.tobytes()
        last = self._last_scores
        if last is not None and last[0] == key:
            return last[1]
        row = (q @ self.matrix.T).max(axis=0)
        self._last_scores = (key, row)
        return row

    def rows_of(self, window_ids: np.ndarray) -> np.ndarray:
        pos = np.searchsorted(self.sorted_ids, window_ids)
        pos = np.clip(pos, 0, max(len(self.sorted_ids) - 1, 0))
        ok = (window_ids >= 0) & (self.sorted_ids[pos] == window_ids)
        return np.where(ok, self.id_order[pos], -1)

    def hit(self, file_id: int, row: int, score: float) -> Hit:
        rec = self.records[file_id]
        return Hit(
            file_id=int(file_id),
            path=rec.path,
            score=float(score),
            start=float(self.table.starts[row]),
            end=float(self.table.ends[row]),
            duration=rec.duration,
            sample_rate=rec.sample_rate,
            channels=rec.channels,
            format=rec.format,
            title=rec.title,
            artist=rec.artist,
            album=rec.album,
            genre=rec.genre,
        )


def rank_dense(st: Snapshot, row: np.ndarray, k: int, top_n: int, exclude) -> list[Hit]:
    """Rank files from the scores of every window (``row (n_windows,)``)."""
    if len(row) == 0:
        return []
    starts, ends = st.offsets[:-1], st.offsets[1:]
    fmax = np.maximum.reduceat(row, starts)
    order = np.argsort(-fmax, kind="stable")
    best: list[tuple[float, int, int]] = []  # min-heap of (score, -rank, file index)
    for rank, f in enumerate(order):
        if st.file_ids[f] in exclude:
            continue
        if len(best) >= k and fmax[f] <= best[0][0]:
            break  # a file's top-N mean never exceeds its max
        seg = row[starts[f] : ends[f]]
        if top_n == 1:
            score = float(fmax[f])
        else:
            n = min(top_n, len(seg))
            score = float(np.partition(seg, len(seg) - n)[len(seg) - n :].mean())
        item = (score, -rank, int(f))
        if len(best) < k:
            heapq.heappush(best, item)
        elif item > best[0]:
            heapq.heapreplace(best, item)
    hits = []
    for score, _, f in sorted(best, reverse=True):
        r = starts[f] + int(np.argmax(row[starts[f] : ends[f]]))
        hits.append(st.hit(int(st.file_ids[f]), r, score))
    return hits


def rank_sparse(
    st: Snapshot, rows: np.ndarray, scores: np.ndarray, k: int, top_n: int, exclude
) -> list[Hit]:
    """Rank files from the scores of some windows (ANN candidates)."""
    keep = rows >= 0
    rows, scores = rows[keep], scores[keep]
    if len(rows) == 0:
        return []
    # best score per window (a window may come from several query windows)
    order = np.lexsort((-scores, rows))
    first = np.concatenate([[True], np.diff(rows[order]) != 0])
    rows, scores = rows[order][first], scores[order][first]
    fidx = np.searchsorted(st.offsets, rows, side="right") - 1
    order = np.lexsort((-scores, fidx))
    fidx, rows, scores = fidx[order], rows[order], scores[order]
    starts = np.flatnonzero(np.concatenate([[True], np.diff(fidx) != 0]))
    # a file's score: the mean of its best top_n windows, vectorised over the files (the
    # same float32 sums and float64 division as ``np.mean`` of each slice: the same scores)
    counts = np.diff(np.append(starts, len(fidx)))
    if top_n <= 1:
        file_scores = scores[starts]
    else:
        total = np.zeros(len(starts), scores.dtype)
        for j in range(top_n):  # left to right, as np.mean adds a short slice
            has = counts > j
            total[has] += scores[starts[has] + j]
        file_scores = (total / np.minimum(counts, top_n)).astype(scores.dtype)
    fids = np.asarray(st.file_ids)[fidx[starts]]
    keep = ~np.isin(fids, np.fromiter(exclude, np.int64, len(exclude))) if exclude else None
    best_rows = rows[starts]
    if keep is not None:
        fids, best_rows, file_scores = fids[keep], best_rows[keep], file_scores[keep]
    top = np.argsort(-file_scores, kind="stable")[:k]
    return [st.hit(int(fids[i]), int(best_rows[i]), float(file_scores[i])) for i in top]


def rank(st: Snapshot, qvecs: np.ndarray, k: int, top_n: int = 1, exclude=()) -> list[Hit]:
    """Files ranked for one query given as ``qvecs (m, dim)``: a window's score is its best
    similarity to any of the ``m`` query vectors."""
    exclude = set(exclude)
    if st.ann is None:
        if st.matrix is None or len(st.matrix) == 0:
            return []
        return rank_dense(st, st.window_scores(qvecs), k, top_n, exclude)
    kk = min(st.ann.ntotal, max(ANN_CANDIDATES, 20 * k))
    scores, ids = st.ann.search(qvecs, kk)
    rows = st.rows_of(ids.ravel())
    return rank_sparse(st, rows, scores.ravel(), k, top_n, exclude)


def __getattr__(name: str):
    # Deprecated: ``Searcher`` lived here; it is now a thin alias of ``audioseek.Index``
    # kept until the HTTP server and the CLI call ``Index`` (import cycle: lazy).
    if name == "Searcher":
        from audioseek.index.service import Searcher

        return Searcher
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ANN_CANDIDATES", "Snapshot", "rank", "rank_dense", "rank_sparse"]
