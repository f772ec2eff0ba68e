"""Duplicate recordings: groups of indexed files that hold the same audio (other formats,
bitrates, small trims), from the stored window vectors, each link confirmed on the audio.

Two files are linked when their durations agree within ``tol = max(2 s, 10 %)`` and their
window sequences, aligned in time (shifts up to ``tol``), agree: :func:`alignment_score`
``>= threshold`` (cosine, default :data:`DUPLICATE_THRESHOLD`). A pre-filter on the files'
mean vectors keeps this far from all-pairs work.

Embeddings describe what a sound *is*: two recordings of the same kind of sound can have
near-identical embeddings, while a codec's delay can move a short clip's embedding. So each
embedding match is confirmed on the audio itself (``verify_audio``, default), with the
model-independent checks of :mod:`audioseek.audio.signature`: the band signature
(:func:`~audioseek.audio.signature.signature_match`) as a cheap pre-filter (below
:data:`AUDIO_MATCH_THRESHOLD` the pair is rejected), then the waveforms
(:func:`~audioseek.audio.signature.confirm_duplicate`: normalised cross-correlation per band
at the best lag, robust to gain, trims, re-encoding and resampling; two takes of one sound
fail it). Only where the audio cannot tell (silence, files no longer readable) or
``verify_audio`` is off do the embeddings alone decide, with the stricter
``max(threshold, UNVERIFIED_THRESHOLD)``; such groups say ``confirmed="embedding"``. Links are
joined into groups (union-find). Needs no model.
"""

from __future__ import annotations

import logging

import numpy as np

from audioseek.index.store import FileRecord, Store
from audioseek.index.types import DuplicateGroup, DuplicatePair, IndexedFile

DUPLICATE_THRESHOLD = 0.85  # window-embedding agreement, when the audio confirms
UNVERIFIED_THRESHOLD = 0.98  # ... when it cannot (steady sounds, unreadable, no check)
DUPLICATE_PREFILTER_MARGIN = 0.15
DURATION_TOLERANCE_S = 2.0
DURATION_TOLERANCE_REL = 0.1
AUDIO_MATCH_THRESHOLD = 0.9

log = logging.getLogger(__name__)


def indexed_file(rec: FileRecord) -> IndexedFile:
    return IndexedFile(
        file_id=rec.id,
        path=rec.path,
        duration=rec.duration,
        sample_rate=rec.sample_rate,
        channels=rec.channels,
        format=rec.format,
        size=rec.size,
    )


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


class _AudioCheck:
    """Is the pair ``(path_a, path_b)`` the same recording? ``score`` (the waveform match),
    ``None`` when the audio cannot tell, or ``False`` when it says no. Signatures are computed
    once per file."""

    def __init__(self):
        self.signatures: dict[str, np.ndarray | None] = {}

    def signature(self, path: str):
        from audioseek.audio.signature import audio_signature

        if path not in self.signatures:
            self.signatures[path] = audio_signature(path)
        return self.signatures[path]

    def __call__(self, path_a: str, path_b: str, tol_s: float) -> float | None | bool:
        from audioseek.audio.signature import SIGNATURE_HOP_S, confirm_duplicate, signature_match
        from audioseek.errors import AudioDecodeError

        sa, sb = self.signature(path_a), self.signature(path_b)
        if sa is None or sb is None:
            return None  # unreadable now
        band = signature_match(sa, sb, int(np.ceil(tol_s / SIGNATURE_HOP_S)))
        if band is not None and band < AUDIO_MATCH_THRESHOLD:
            return False
        try:
            result = confirm_duplicate(path_a, path_b, max_lag_s=tol_s)
        except AudioDecodeError as e:
            log.debug("cannot compare %r and %r: %s", path_a, path_b, e)
            return None
        log.debug("waveform match %r, %r: %s", path_a, path_b, result)
        if result.method == "silent":
            return None
        return float(result.score) if result.matched else False


def find_duplicates(
    store: Store, threshold: float | None = None, verify_audio: bool = True
) -> list[DuplicateGroup]:
    """Groups of files of ``store`` holding the same recording (see the module docstring),
    strongest first. ``threshold`` must already be checked
    (:func:`audioseek.index.query.check_threshold`)."""
    t = DUPLICATE_THRESHOLD if threshold is None else float(threshold)
    table = store.window_table(with_vectors=True)
    file_ids, offsets = table.file_slices()
    records = {r.id: r for r in store.files(complete_only=True)}
    if len(file_ids) < 2:
        return []
    vecs = table.vectors.astype(np.float32)
    means = np.add.reduceat(vecs, offsets[:-1], axis=0)
    means /= np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
    durations = np.array([records[int(f)].duration or 0.0 for f in file_ids])
    window = float(store.get_meta("window"))
    hop = float(store.get_meta("hop"))
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

    check = _AudioCheck() if verify_audio else None
    edges: list[tuple[int, int, float, float | None]] = []
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
            if check is not None:
                audio = check(records[int(file_ids[i])].path, records[int(file_ids[j])].path, tol)
            if audio is False:
                continue
            if audio is not None or score >= max(t, UNVERIFIED_THRESHOLD):
                edges.append((i, j, score, audio))
                parent[find(i)] = find(j)
    groups: dict[int, list[int]] = {}
    for i in range(len(file_ids)):
        groups.setdefault(find(i), []).append(i)
    out = []
    for members in groups.values():
        if len(members) < 2:
            continue
        mset = set(members)
        pairs = [
            DuplicatePair(int(file_ids[i]), int(file_ids[j]), float(s), a)
            for i, j, s, a in edges
            if i in mset
        ]
        out.append(
            DuplicateGroup(
                files=[indexed_file(records[int(file_ids[i])]) for i in sorted(members)],
                score=min(p.embedding_score for p in pairs),
                pairs=pairs,
                confirmed="audio" if all(p.audio_score is not None for p in pairs) else "embedding",
            )
        )
    out.sort(key=lambda g: (-g.score, g.files[0].path))
    return out


__all__ = ["DUPLICATE_THRESHOLD", "alignment_score", "find_duplicates"]
