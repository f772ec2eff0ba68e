"""Query an index: by text (:meth:`Searcher.search`), by example audio
(:meth:`Searcher.similar`), for duplicate recordings (:meth:`Searcher.duplicates`).

Window vectors are L2-normalised, so a dot product is the cosine similarity. Below
:data:`audioseek.index.ann.ANN_THRESHOLD` windows, every window is scored exactly (one
matrix product over a float32 copy of the index); past it, the faiss index from
:mod:`audioseek.index.ann` returns the best windows and files are ranked from those.

A file's score aggregates its window scores: ``agg="max"`` (default) takes the best window,
``agg="top3-mean"`` the mean of its 3 best windows (all windows if it has fewer). Every hit
names the best window's start and end in seconds.

:class:`Searcher` is safe to share between threads (the HTTP server does): the cached
matrix is swapped atomically when the store's generation changes, and model calls are
serialised by a lock.
"""

from __future__ import annotations

import heapq
import logging
import re
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from audioseek.errors import AudioDecodeError, QueryError, SearchIndexError
from audioseek.index.ann import ANN_THRESHOLD, AnnIndex, ensure_ann
from audioseek.index.indexer import (
    cut_windows,
    embed_windows,
    is_model,
    load_index_model,
    model_fingerprint,
    read_file,
    spec_id,
    window_samples,
)
from audioseek.index.store import FileRecord, Store, WindowTable

MAX_QUERY_CHARS = 1000
MAX_QUERIES = 10_000
MAX_K = 10_000
DUPLICATE_THRESHOLD = 0.85  # window-embedding agreement, when the audio confirms
UNVERIFIED_THRESHOLD = 0.98  # ... when it cannot (steady sounds, unreadable, no check)
DUPLICATE_PREFILTER_MARGIN = 0.15
DURATION_TOLERANCE_S = 2.0
DURATION_TOLERANCE_REL = 0.1
ANN_CANDIDATES = 512
AUDIO_MATCH_THRESHOLD = 0.9
SIGNATURE_SR = 8000
SIGNATURE_HOP_S = 0.01
SIGNATURE_MIN_STD = 0.05  # log-energy std (~0.2 dB) below which a band is "steady"

log = logging.getLogger(__name__)


@dataclass
class Hit:
    file_id: int
    path: str
    score: float
    start: float
    end: float
    duration: float | None
    sample_rate: int | None
    format: str | None
    title: str | None
    artist: str | None
    album: str | None
    genre: str | None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class DuplicateGroup:
    """Files holding the same recording; ``score`` is the weakest link joining the group and
    ``pairs`` the verified ``(file_id, file_id, score)`` links."""

    files: list[FileRecord]
    score: float
    pairs: list[tuple[int, int, float]] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "score": self.score,
            "files": [
                {k: getattr(f, k) for k in ("id", "path", "duration", "format", "sample_rate")}
                for f in self.files
            ],
            "pairs": [list(p) for p in self.pairs],
        }


def parse_agg(agg: str) -> int:
    """``"max"`` -> 1, ``"topN-mean"`` -> N; anything else raises :class:`QueryError`."""
    if agg == "max":
        return 1
    m = re.fullmatch(r"top(\d+)-mean", str(agg))
    if not m or int(m.group(1)) < 1:
        raise QueryError(f"unknown aggregation {agg!r}; expected 'max' or 'topN-mean' (N >= 1)")
    return int(m.group(1))


def check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= MAX_K:
        raise QueryError(f"k must be an integer from 1 to {MAX_K}, got {k!r}")
    return int(k)


def check_queries(queries) -> list[str]:
    if isinstance(queries, str) or not isinstance(queries, list | tuple):
        raise QueryError(f"queries must be a list of strings, got {type(queries).__name__}")
    if not queries:
        raise QueryError("no queries given")
    if len(queries) > MAX_QUERIES:
        raise QueryError(f"too many queries ({len(queries)}); at most {MAX_QUERIES} per call")
    out = []
    for q in queries:
        if not isinstance(q, str) or not q.strip():
            raise QueryError(f"empty query {q!r}")
        if len(q) > MAX_QUERY_CHARS:
            raise QueryError(
                f"query too long ({len(q)} characters, at most {MAX_QUERY_CHARS}): {q[:40]!r}..."
            )
        out.append(q.strip())
    return out


class _State:
    """Immutable snapshot of the index for one store generation."""

    def __init__(self, store: Store, ann_threshold: int):
        self.generation = store.generation
        n = store.counts()["windows"]
        self.ann: AnnIndex | None = None
        if n >= ann_threshold:
            # The indexer rebuilds a stale ANN index at the end of each run; a reader uses
            # the persisted one (windows it lacks are found after that rebuild, windows it
            # has that were deleted are dropped below) and builds one only if none exists.
            self.ann = AnnIndex.load(store.db_dir) or ensure_ann(store, ann_threshold)
        table = store.window_table(with_vectors=self.ann is None)
        self.table: WindowTable = table
        self.matrix = None if table.vectors is None else table.vectors.astype(np.float32)
        table.vectors = None
        self.file_ids, self.offsets = table.file_slices()
        self.records = {r.id: r for r in store.files(complete_only=True)}
        self.id_order = np.argsort(table.window_ids, kind="stable")
        self.sorted_ids = table.window_ids[self.id_order]

    def rows_of(self, window_ids: np.ndarray) -> np.ndarray:
        pos = np.searchsorted(self.sorted_ids, window_ids)
        pos = np.clip(pos, 0, max(len(self.sorted_ids) - 1, 0))
        ok = (window_ids >= 0) & (self.sorted_ids[pos] == window_ids)
        return np.where(ok, self.id_order[pos], -1)


def alignment_score(a: np.ndarray, b: np.ndarray, max_shift: int) -> float:
    """Similarity of two window sequences ``(na, dim)``, ``(nb, dim)`` aligned in time: the best
    over shifts ``d`` (|d| <= ``max_shift`` windows) of the *lowest* similarity of window ``i``
    of ``a`` with window ``i + d`` of ``b``, over shifts that pair at least 80 % of the shorter
    sequence. Every aligned window must match, and order matters: two clips with the same
    sounds at other times score low."""
    s = a @ b.T
    need = max(1, int(np.ceil(0.8 * min(len(a), len(b)))))
    best = -1.0
    for d in range(-max_shift, max_shift + 1):
        diag = np.diagonal(s, offset=d)
        if len(diag) >= need:
            best = max(best, float(diag.min()))
    return best


def audio_signature(path, sr: int = SIGNATURE_SR) -> np.ndarray | None:
    """A model-independent fingerprint of a recording: log energies in 24 log-spaced bands
    every 10 ms (64 ms frames at 8 kHz), each band z-scored over time, so what remains is how
    the sound *changes* (the same in every encoding of one recording, unrelated between two
    recordings). Bands more than 50 dB below the loudest one, or that hardly change (a steady
    tone), carry no such information and are zero. ``(frames, 24)`` float32, or ``None`` if
    the file cannot be decoded."""
    dec = read_file(str(path), sr)
    if dec.error is not None or dec.wave is None:
        log.debug("no audio signature for %r: %s", path, dec.error)
        return None
    n_fft, hop = 512, int(round(SIGNATURE_HOP_S * sr))
    wave = dec.wave
    if len(wave) < n_fft:
        wave = np.pad(wave, (0, n_fft - len(wave)))
    frames = np.lib.stride_tricks.sliding_window_view(wave, n_fft)[::hop]
    power = np.abs(np.fft.rfft(frames * np.hanning(n_fft).astype(np.float32), axis=1)) ** 2
    freqs = np.fft.rfftfreq(n_fft, 1 / sr)
    edges = np.geomspace(60.0, sr / 2, 25)
    band = np.clip(np.searchsorted(edges, freqs) - 1, 0, 23)
    keep = freqs >= edges[0]
    energy = np.zeros((len(frames), 24), np.float64)
    np.add.at(energy.T, band[keep], power[:, keep].T)
    mean = energy.mean(axis=0)
    loud = mean >= mean.max() * 1e-5  # within 50 dB of the loudest band
    logs = np.log(energy + mean.max() * 1e-6 + 1e-20)
    logs -= logs.mean(axis=0)
    std = logs.std(axis=0)
    informative = loud & (std > SIGNATURE_MIN_STD)
    out = np.zeros_like(logs, dtype=np.float32)
    out[:, informative] = logs[:, informative] / std[informative]
    return out


def signature_match(a: np.ndarray, b: np.ndarray, max_shift: int) -> float | None:
    """Best normalised cross-correlation of two signatures over time shifts up to
    ``max_shift`` frames that overlap at least 80 % of the shorter one (FFT, all bands);
    ``None`` when either recording is too steady to tell (no informative band)."""
    bands_a, bands_b = int(np.any(a, axis=0).sum()), int(np.any(b, axis=0).sum())
    if bands_a == 0 or bands_b == 0:
        return None
    na, nb = len(a), len(b)
    size = 1 << int(np.ceil(np.log2(na + nb)))
    spec = np.fft.rfft(a, size, axis=0) * np.conj(np.fft.rfft(b, size, axis=0))
    corr = np.fft.irfft(spec, size, axis=0).sum(axis=1)  # corr[L] = sum_t a[t + L] . b[t]
    norm = np.sqrt(bands_a * bands_b)
    best, need = -1.0, max(1, int(0.8 * min(na, nb)))
    for lag in range(-min(max_shift, nb - 1), min(max_shift, na - 1) + 1):
        overlap = min(na, nb + lag) - max(0, lag)
        if overlap >= need:
            best = max(best, float(corr[lag % size]) / (overlap * norm))
    return best


class Searcher:
    """Search one index folder; see the module docstring.

    ``model`` is a loaded model, a spec (``load_model`` argument), or ``None``: the model
    recorded in the index, loaded on first use. A model whose fingerprint differs from the
    index's raises :class:`SearchIndexError` naming both.
    """

    def __init__(self, db, model=None, device="auto", ann_threshold: int = ANN_THRESHOLD):
        self.db = Path(db)
        self.store = Store.open(db)
        self.device = device
        self.ann_threshold = ann_threshold
        self._model_arg = model
        self._model = None
        self._lock = threading.RLock()
        self._model_lock = threading.Lock()
        self._state: _State | None = None
        if is_model(model):
            self._check(model, spec_id(None, model))

    # ---- model ------------------------------------------------------------------------
    def _check(self, model, spec) -> None:
        self.store.check_model(spec, model_fingerprint(model))
        self._model = model

    @property
    def model(self):
        with self._lock:
            if self._model is None:
                spec = self._model_arg or self.store.get_meta("model_spec")
                model = load_index_model(spec, device=self.device)
                self._check(model, spec_id(spec, model))
            return self._model

    def encode_text(self, queries: list[str]) -> np.ndarray:
        import torch

        model = self.model
        with self._model_lock, torch.inference_mode():
            emb = model.encode_text(list(queries), normalize=True)
        return emb.detach().float().cpu().numpy()

    # ---- state ------------------------------------------------------------------------
    def state(self) -> _State:
        gen = self.store.generation
        with self._lock:
            if self._state is None or self._state.generation != gen:
                self._state = _State(self.store, self.ann_threshold)
            return self._state

    def close(self) -> None:
        self.store.close()

    # ---- ranking ----------------------------------------------------------------------
    def _hit(self, st: _State, file_id: int, row: int, score: float) -> Hit:
        rec = st.records[file_id]
        return Hit(
            file_id=int(file_id),
            path=rec.path,
            score=float(score),
            start=float(st.table.starts[row]),
            end=float(st.table.ends[row]),
            duration=rec.duration,
            sample_rate=rec.sample_rate,
            format=rec.format,
            title=rec.title,
            artist=rec.artist,
            album=rec.album,
            genre=rec.genre,
        )

    def _rank_dense(self, st: _State, row: np.ndarray, k: int, top_n: int, exclude) -> list[Hit]:
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
            hits.append(self._hit(st, int(st.file_ids[f]), r, score))
        return hits

    def _rank_sparse(
        self, st: _State, rows: np.ndarray, scores: np.ndarray, k: int, top_n: int, exclude
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
        bounds = np.flatnonzero(np.concatenate([[True], np.diff(fidx) != 0, [True]]))
        cands = []
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            fid = int(st.file_ids[fidx[a]])
            if fid in exclude:
                continue
            score = float(scores[a : min(b, a + top_n)].mean())
            cands.append((score, int(rows[a]), fid))
        cands.sort(key=lambda c: -c[0])
        return [self._hit(st, fid, r, s) for s, r, fid in cands[:k]]

    def _rank(self, st: _State, qvecs: np.ndarray, k: int, top_n: int, exclude=()) -> list[Hit]:
        """Files ranked for one query given as ``qvecs (m, dim)``: a window's score is its
        best similarity to any of the ``m`` query vectors."""
        exclude = set(exclude)
        if st.ann is None:
            if st.matrix is None or len(st.matrix) == 0:
                return []
            row = (qvecs @ st.matrix.T).max(axis=0)
            return self._rank_dense(st, row, k, top_n, exclude)
        kk = min(st.ann.ntotal, max(ANN_CANDIDATES, 20 * k))
        scores, ids = st.ann.search(qvecs, kk)
        rows = st.rows_of(ids.ravel())
        return self._rank_sparse(st, rows, scores.ravel(), k, top_n, exclude)

    def _check_dim(self, vecs: np.ndarray) -> None:
        dim = self.store.dim
        if dim and vecs.shape[1] != dim:
            raise SearchIndexError(
                f"model gives {vecs.shape[1]}-d vectors but index {str(self.db)!r} holds {dim}-d"
            )

    # ---- public API ---------------------------------------------------------------------
    def search(self, queries: list[str], k: int = 10, agg: str = "max") -> list[list[Hit]]:
        """Ranked files for each text query."""
        queries = check_queries(queries)
        k, top_n = check_k(k), parse_agg(agg)
        qvecs = self.encode_text(queries)
        self._check_dim(qvecs)
        st = self.state()
        return [self._rank(st, qvecs[i : i + 1], k, top_n) for i in range(len(queries))]

    def embed_file(self, path) -> np.ndarray:
        """Window vectors ``(n, dim)`` of any audio file, cut like the index's windows."""
        model = self.model
        sr = int(model.sample_rate)
        dec = read_file(str(path), sr)
        if dec.error is not None:
            raise AudioDecodeError(path, dec.error)
        window = float(self.store.get_meta("window"))
        hop = float(self.store.get_meta("hop"))
        wins, size = cut_windows(dec.wave, sr, window, hop)
        if not wins:
            raise AudioDecodeError(path, "no windows")
        x = np.stack([window_samples(dec.wave, w, size) for w in wins])
        with self._model_lock:
            return embed_windows(model, x)

    def similar(self, path=None, file_id=None, k: int = 10) -> list[Hit]:
        """Files most similar to an audio file (indexed or not) or an indexed file id; a file
        scores its best window pair with the query. The query file itself is excluded."""
        k = check_k(k)
        if (path is None) == (file_id is None):
            raise QueryError("give exactly one of an audio file path or an indexed file id")
        exclude = set()
        if file_id is not None:
            rec = self.store.get_file(int(file_id))
            if rec is None or not rec.complete:
                raise QueryError(f"no indexed file with id {file_id!r}")
            vecs = self.store.file_vectors(rec.id)[0]
            exclude.add(rec.id)
        else:
            p = Path(path).expanduser()
            if not p.is_file():
                raise QueryError(f"no such audio file {str(path)!r}")
            rec = self.store.get_file_by_path(str(p.resolve()))
            st_ = p.stat()
            if rec is not None:
                exclude.add(rec.id)
            if (
                rec is not None
                and rec.complete
                and rec.size == st_.st_size
                and rec.mtime_ns == st_.st_mtime_ns
            ):
                vecs = self.store.file_vectors(rec.id)[0]
            else:
                vecs = self.embed_file(p)
                self._check_dim(vecs)
        return self._rank(self.state(), vecs, k, 1, exclude)

    def duplicates(
        self, threshold: float | None = None, verify_audio: bool = True
    ) -> list[DuplicateGroup]:
        """Groups of files that hold the same recording (other formats, bitrates, small
        trims). Two files are linked when their durations agree within
        ``tol = max(2 s, 10 %)`` and their window sequences, aligned in time (shifts up to
        ``tol``), agree: :func:`alignment_score` ``>= threshold`` (cosine, default
        :data:`DUPLICATE_THRESHOLD`). A pre-filter on the files' mean vectors keeps this far
        from all-pairs work.

        Embeddings describe what a sound *is*: two recordings of the same kind of sound can
        have near-identical embeddings (and an untrained model maps everything close
        together), while a codec's delay can move a short clip's embedding. So each
        embedding match is confirmed on the audio itself (``verify_audio``, default): the
        :func:`audio_signature` correlation must reach :data:`AUDIO_MATCH_THRESHOLD`. Where
        the audio cannot tell (steady sounds, files no longer readable) or ``verify_audio``
        is off, the embeddings alone decide with the stricter
        ``max(threshold, UNVERIFIED_THRESHOLD)``. Links are joined into groups (union-find).
        """
        t = DUPLICATE_THRESHOLD if threshold is None else threshold
        if isinstance(t, bool) or not isinstance(t, int | float) or not -1.0 < t <= 1.0:
            raise QueryError(f"threshold must be a similarity in (-1, 1], got {threshold!r}")
        table = self.store.window_table(with_vectors=True)
        file_ids, offsets = table.file_slices()
        records = {r.id: r for r in self.store.files(complete_only=True)}
        if len(file_ids) < 2:
            return []
        vecs = table.vectors.astype(np.float32)
        means = np.add.reduceat(vecs, offsets[:-1], axis=0)
        means /= np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
        durations = np.array([records[int(f)].duration or 0.0 for f in file_ids])
        window = float(self.store.get_meta("window"))
        hop = float(self.store.get_meta("hop"))
        full = []  # each file's full-length windows (a short last window is padded: skip it)
        for a, b in zip(offsets[:-1], offsets[1:], strict=True):
            length = table.ends[a:b] - table.starts[a:b]
            keep = length >= window - 1e-3
            full.append(vecs[a:b][keep] if keep.any() else vecs[a:b][-1:])
        parent = list(range(len(file_ids)))

        def find(i):
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        signatures: dict[int, np.ndarray | None] = {}

        def signature(i: int) -> np.ndarray | None:
            if i not in signatures:
                signatures[i] = audio_signature(records[int(file_ids[i])].path)
            return signatures[i]

        edges = []
        pre = t - DUPLICATE_PREFILTER_MARGIN
        for lo in range(0, len(file_ids), 1024):
            sims = means[lo : lo + 1024] @ means.T
            for a, b in zip(*np.nonzero(sims >= pre), strict=True):
                i, j = lo + int(a), int(b)
                if j <= i:
                    continue
                tol = max(DURATION_TOLERANCE_S, DURATION_TOLERANCE_REL * max(durations[[i, j]]))
                if abs(durations[i] - durations[j]) > tol:
                    continue
                score = alignment_score(full[i], full[j], int(np.ceil(tol / hop)))
                log.debug("duplicate candidates %d, %d: score %.4f", i, j, score)
                if score < t:
                    continue
                audio = None
                if verify_audio:
                    sa, sb = signature(i), signature(j)
                    if sa is not None and sb is not None:
                        audio = signature_match(sa, sb, int(np.ceil(tol / SIGNATURE_HOP_S)))
                        log.debug("audio match %d, %d: %s", i, j, audio)
                if audio is not None and audio < AUDIO_MATCH_THRESHOLD:
                    continue
                if audio is not None or score >= max(t, UNVERIFIED_THRESHOLD):
                    edges.append((i, j, score))
                    parent[find(i)] = find(j)
        groups: dict[int, list[int]] = {}
        for i in range(len(file_ids)):
            groups.setdefault(find(i), []).append(i)
        out = []
        for members in groups.values():
            if len(members) < 2:
                continue
            mset = set(members)
            pairs = [(int(file_ids[i]), int(file_ids[j]), s) for i, j, s in edges if i in mset]
            out.append(
                DuplicateGroup(
                    files=[records[int(file_ids[i])] for i in sorted(members)],
                    score=min(p[2] for p in pairs),
                    pairs=pairs,
                )
            )
        out.sort(key=lambda g: (-g.score, g.files[0].path))
        return out

    def info(self) -> dict:
        """Model, counts, audio hours and size on disk."""
        meta = self.store.meta()
        counts = self.store.counts()
        return {
            "db": str(self.db.resolve()),
            "model": meta.get("model_spec"),
            "model_id": meta.get("model_id"),
            "model_fingerprint": meta.get("model_fingerprint"),
            "sample_rate": int(meta.get("sample_rate", 0)),
            "dim": int(meta.get("dim", 0)),
            "window_s": float(meta.get("window", "nan")),
            "hop_s": float(meta.get("hop", "nan")),
            "files": counts["complete_files"],
            "incomplete_files": counts["files"] - counts["complete_files"],
            "windows": counts["windows"],
            "audio_hours": counts["audio_seconds"] / 3600,
            "size_bytes": self.store.size_on_disk(),
            "ann": (self.db / "ann.faiss").exists(),
            "roots": self.store.roots(),
        }
