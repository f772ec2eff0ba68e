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
