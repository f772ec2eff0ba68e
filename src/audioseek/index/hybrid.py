"""Hybrid ranking: fuse the audio-embedding ranking with the BM25 ranking of the files'
names and metadata.

Two fusions, both measured in ``benchmarks/bench_hybrid.py``:

* ``rrf`` (default): reciprocal-rank fusion, ``sum 1 / (k0 + rank)`` over the two lists
  (Cormack et al. 2009). Scale-free: a cosine and a BM25 score never need calibrating.
* ``weighted``: ``audio cosine + weight * bm25 / max bm25`` of the query.

Both reduce to the audio ranking when no file matches the query's words (a library of
opaque names such as ``0001.wav``): the fused list is then exactly the audio list, in the
same order with the same scores, which a test checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

RRF_K = 60
WEIGHT = 0.15
FUSIONS = ("rrf", "weighted")
MODES = ("hybrid", "audio", "text")


@dataclass(frozen=True)
class Fused:
    file_id: int
    score: float
    audio_rank: int | None  # 1-based, None when the file was not among the audio hits
    text_rank: int | None
    audio_score: float | None
    text_score: float | None
    terms: tuple[str, ...]


def fuse(
    audio: Sequence[tuple[int, float]],
    text: Sequence[tuple[int, float, tuple[str, ...]]],
    k: int,
    method: str = "rrf",
    rrf_k: int = RRF_K,
    weight: float = WEIGHT,
) -> list[Fused]:
    """Fuse ``audio`` ``[(file_id, cosine)]`` (best first) and ``text``
    ``[(file_id, bm25, matched terms)]`` (best first) into the top ``k`` files."""
    if method not in FUSIONS:
        raise ValueError(f"unknown fusion {method!r}; expected one of {FUSIONS}")
    a_rank = {fid: (r, s) for r, (fid, s) in enumerate(audio, 1)}
    t_rank = {fid: (r, s, terms) for r, (fid, s, terms) in enumerate(text, 1)}
    if not t_rank:  # nothing matched the words: exactly the audio ranking
        return [
            Fused(fid, float(s), r, None, float(s), None, ()) for fid, (r, s) in a_rank.items()
        ][:k]
    top_bm25 = max(s for _, s, _ in text) or 1.0
    floor = min((s for _, s in audio), default=0.0)
    out = []
    for fid in dict.fromkeys([*a_rank, *t_rank]):
        ar, asc = a_rank.get(fid, (None, None))
        tr, tsc, terms = t_rank.get(fid, (None, None, ()))
        if method == "rrf":
            score = (1.0 / (rrf_k + ar) if ar else 0.0) + (1.0 / (rrf_k + tr) if tr else 0.0)
        else:
            base = asc if asc is not None else floor
            score = base + (weight * tsc / top_bm25 if tsc is not None else 0.0)
        out.append(Fused(fid, float(score), ar, tr, asc, tsc, tuple(terms)))
    out.sort(key=lambda f: (-f.score, f.audio_rank or 1 << 30, f.text_rank or 1 << 30))
    return out[:k]


# ---- one query through the whole ranking -------------------------------------------------
AUDIO_CANDIDATES = 100  # audio hits fused with the text hits in hybrid mode
WEAK_Z = 2.0  # a hit whose audio score is < mean + WEAK_Z std of all files' scores is weak


def _file_rows(st, file_id: int) -> tuple[int, int] | None:
    import numpy as np

    pos = int(np.searchsorted(st.file_ids, file_id))
    if pos >= len(st.file_ids) or int(st.file_ids[pos]) != file_id:
        return None
    return int(st.offsets[pos]), int(st.offsets[pos + 1])


def _best_window(st, store, file_id: int, qvec) -> tuple[int, float] | None:
    """(table row, cosine) of ``file_id``'s best window for ``qvec (m, dim)``."""
    import numpy as np

    span = _file_rows(st, file_id)
    if span is None:
        return None
    a, b = span
    if st.matrix is not None:
        vecs = st.matrix[a:b]
    else:
        vecs = store.file_vectors(file_id)[0]
    scores = (qvec @ vecs.T).max(axis=0)
    i = int(np.argmax(scores))
    return a + i, float(scores[i])


def file_score_stats(st, qvec, store=None) -> tuple[float, float] | None:
    """Mean and std of the files' best-window scores for ``qvec``: over every file when the
    vectors are in RAM (exact search), else over a fixed sample of files read from ``store``
    (:meth:`Snapshot.score_sample`: every file when there are few, long files by a sample
    of their windows). ``None`` with fewer than 5 files, or past the ANN threshold without
    a store."""
    import numpy as np

    if len(st.file_ids) < 5:
        return None
    if st.matrix is not None:
        if len(st.matrix) == 0:
            return None
        fmax = np.maximum.reduceat(st.window_scores(qvec), st.offsets[:-1])
    elif store is not None:
        _, vecs, offsets = st.score_sample(store)
        if len(vecs) == 0:
            return None
        q = np.ascontiguousarray(qvec, dtype=np.float32).reshape(-1, vecs.shape[1])
        fmax = np.maximum.reduceat((q @ vecs.T).max(axis=0), offsets[:-1])
    else:
        return None
    return float(fmax.mean()), float(fmax.std())


def search_one(
    st,
    store,
    text: str,
    qvec,
    k: int,
    top_n: int = 1,
    mode: str = "hybrid",
    allowed: set[int] | None = None,
    fusion: str = "rrf",
):
    """Hits for one text query: ``mode`` ``"audio"`` (embedding only), ``"text"`` (names and
    metadata only, BM25; no model needed), ``"hybrid"`` (both, fused). ``allowed`` restricts
    the files (filters). Each hit says why it matched; weak hits are flagged."""
    from dataclasses import replace

    from audioseek.index.search import rank
    from audioseek.index.tagging import read_tags
    from audioseek.index.textfields import search_text

    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}")
    exclude = set() if allowed is None else set(st.records) - allowed
    audio_hits = []
    if mode in ("audio", "hybrid"):
        n = k if mode == "audio" else max(k, AUDIO_CANDIDATES)
        audio_hits = rank(st, qvec, n, top_n, exclude)
    matches = []
    if mode in ("text", "hybrid"):
        matches = [
            m
            for m in search_text(store, text, limit=max(1000, 5 * k))
            if m.file_id in st.records and (allowed is None or m.file_id in allowed)
        ]
    hits = []
    if mode == "audio":
        hits = [replace(h, audio_score=h.score) for h in audio_hits[:k]]
    elif mode == "text":
        for m in matches[:k]:
            span = _file_rows(st, m.file_id)
            if span is None:
                continue
            h = st.hit(m.file_id, span[0], m.score)
            hits.append(replace(h, text_score=m.score, matched_terms=m.terms))
    else:
        by_id = {h.file_id: h for h in audio_hits}
        text_by_id = {m.file_id: m for m in matches}
        fused = fuse(
            [(h.file_id, h.score) for h in audio_hits],
            [(m.file_id, m.score, m.terms) for m in matches],
            k,
            method=fusion,
        )
        for f in fused:
            m = text_by_id.get(f.file_id)
            extra = {"text_score": m.score, "matched_terms": m.terms} if m else {}
            if f.file_id in by_id:
                h = by_id[f.file_id]
                hits.append(replace(h, audio_score=h.score, **extra))
            else:  # found by its words only: locate its best window for the query
                best = _best_window(st, store, f.file_id, qvec)
                if best is None:
                    continue
                h = st.hit(f.file_id, best[0], best[1])
                hits.append(replace(h, audio_score=best[1], **extra))
    if qvec is not None and hits:
        stats = file_score_stats(st, qvec, store)
        if stats is not None:
            mean, std = stats
            cut = mean + WEAK_Z * std
            hits = [
                replace(h, weak=h.text_score is None and (h.audio_score or h.score) < cut)
                for h in hits
            ]
    tags = read_tags(store, [h.file_id for h in hits])
    if tags:
        hits = [replace(h, tags=tuple(t.label for t in tags.get(h.file_id, ()))) for h in hits]
    return hits
