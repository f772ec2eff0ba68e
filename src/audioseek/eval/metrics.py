"""Retrieval metrics from a score matrix and explicit relevance sets.

The ONE metrics module of audioseek: training-time validation, ``audioseek evaluate``
and the benchmarks all call :func:`retrieval_metrics` / :func:`bidirectional_metrics`;
:func:`per_query_metrics` and :func:`bootstrap_interval` give the sampling error of a
test set's numbers (a percentile bootstrap over queries or over whole clips).

Definitions (for a query ``q`` with relevant gallery set ``R_q``, ranks are 1-based):

- **rank**: the gallery is ordered by score, descending. Ties are broken
  *pessimistically* and deterministically: among equal scores, non-relevant items come
  first, then relevant items by ascending gallery index. So a model that gives every
  item the same score gets the worst possible ranks, never a lucky 1/|G| hit.
- **MRR**: mean over queries of ``1 / rank`` of the first relevant item (no cut-off).
- **R@K, hit rate** (key ``r@K``): fraction of queries with at least one relevant item
  within the top ``K`` (the "R@K" of the cross-modal retrieval literature and DCASE =
  torchmetrics' ``RetrievalHitRate``).
- **Recall@K, share of relevant found** (key ``recall@K``): per query, the fraction of its
  relevant items ranked within the top ``K``, ``|{r in R_q : rank(r) <= K}| / |R_q|``,
  averaged over queries (the paper's section 5: "the proportion of relevant items that are
  recommended in the top K"; torchmetrics' ``RetrievalRecall(top_k=K)``).
  With ``|R_q| = 1`` (Clotho text->audio) both are the same number; with ``|R_q| = 5``
  (audio->text) recall@K <= r@K, and recall@K < 1 whenever ``K < |R_q|``.
- **mAP@K** (DCASE task 6b / WavCaps convention)::

      AP@K(q) = 1 / min(|R_q|, K) * sum_{relevant item at rank r <= K} precision@r

  with ``precision@r = (# relevant in the top r) / r``. On Clotho text->audio
  (``|R| = 1``) this is ``1/rank`` if ``rank <= K`` else 0; audio->text (``|R| = 5``)
  divides the sum by 5. For ``|R| > K`` the normaliser is ``K``, so a perfect ranking
  scores 1 for every relevance size. torchmetrics' ``RetrievalMAP(top_k=K)`` instead
  divides by the number of relevant items *found* in the top K, which is larger than ours
  whenever some relevant item falls below K (equal when ``|R| = 1`` or all are found).

Computation is chunked over queries: each chunk of ``chunk_size`` score rows is compared
against the scores of its relevant items (one pass over the chunk per relevance slot; a
per-row sort when relevance sets are large), so memory is ``O(chunk_size * G)`` whatever
``Q`` is. :func:`embedding_retrieval_metrics` computes the score chunks from embeddings on
the fly, so 100,000 x 20,000 never materialises the full matrix.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from audioseek.errors import AudioseekError

if TYPE_CHECKING:
    import torch

DEFAULT_KS = (1, 5, 10)
#: What each metric key means, for reports and JSON (``{k}`` is the cut-off).
METRIC_DEFINITIONS = {
    "mrr": "mean reciprocal rank of the first relevant item",
    "map@{k}": "mean average precision at {k}, normalised by min(#relevant, {k}) (DCASE)",
    "r@{k}": "hit rate: share of queries with at least one relevant item in the top {k}",
    "recall@{k}": "fraction of relevant found: share of each query's relevant items that are "
    "in the top {k}, averaged over queries (the paper's definition of its R@10)",
}
_SORT_THRESHOLD = 32  # relevance sets larger than this use a per-row sort


class MetricInputError(AudioseekError, ValueError):
    """Scores or relevance sets that cannot be evaluated (shape, range, NaN, empty set)."""


def metric_names(ks: Sequence[int] = DEFAULT_KS, map_k: int = 10) -> list[str]:
    """Result keys in display order: ``mrr``, ``map@<map_k>``, ``r@<k>``..., ``recall@<k>``..."""
    return ["mrr", f"map@{map_k}", *[f"r@{k}" for k in ks], *[f"recall@{k}" for k in ks]]


def metric_definition(key: str) -> str:
    """The one-line definition of a metric key (``"r@10"`` -> "hit rate: ... top 10")."""
    name, _, k = key.partition("@")
    template = METRIC_DEFINITIONS.get(f"{name}@{{k}}" if k else name)
    if template is None:
        raise MetricInputError(f"unknown metric {key!r}; expected mrr, map@K, r@K or recall@K")
    return template.format(k=k)


def metric_definitions(metrics: Mapping) -> dict[str, str]:
    """``{key: definition}`` for every metric key of a result, flat (``{"r@10": 0.3}``) or
    per direction (``{"text_to_audio": {...}, ...}``): labels for JSON output."""
    keys: list[str] = []
    for key, value in metrics.items():
        for k in value if isinstance(value, Mapping) else [key]:
            if k not in keys:
                keys.append(k)
    return {k: metric_definition(k) for k in keys}


def _check_params(ks: Sequence[int], map_k: int, chunk_size: int) -> tuple[int, ...]:
    ks = tuple(int(k) for k in ks)
    if not ks or any(k < 1 for k in ks):
        raise MetricInputError(f"ks must be positive integers, got {ks!r}")
    if int(map_k) < 1:
        raise MetricInputError(f"map_k must be a positive integer, got {map_k!r}")
    if int(chunk_size) < 1:
        raise MetricInputError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    return ks


def _relevance_tensors(relevance, start: int, stop: int, n_gallery: int, device):
    """Padded ``(c, R)`` index tensor, validity mask and set sizes for queries [start, stop)."""
    import torch

    rows = []
    for q in range(start, stop):
        rel = relevance[q]
        try:
            idx = sorted({int(i) for i in rel})
        except (TypeError, ValueError):
            raise MetricInputError(
                f"relevance set of query {q} must hold gallery indices, got {rel!r}"
            ) from None
        if not idx:
            raise MetricInputError(f"query {q} has an empty relevance set")
        if idx[0] < 0 or idx[-1] >= n_gallery:
            bad = idx[0] if idx[0] < 0 else idx[-1]
            raise MetricInputError(
                f"relevance of query {q} names gallery index {bad}, outside [0, {n_gallery})"
            )
        rows.append(idx)
    width = max(len(r) for r in rows)
    sizes = torch.tensor([len(r) for r in rows], dtype=torch.long)
    rel_idx = torch.tensor([r + [0] * (width - len(r)) for r in rows], dtype=torch.long)
    mask = torch.arange(width)[None, :] < sizes[:, None]
    return rel_idx.to(device), mask.to(device), sizes.to(device)


def relevant_ranks(scores: torch.Tensor, rel_idx: torch.Tensor, mask: torch.Tensor):
    """Ranks (1-based, ascending per row) of each query's relevant items.

    ``scores`` (c, G), ``rel_idx`` (c, R) gallery indices (ascending per row, padded),
    ``mask`` (c, R) validity. Returns (c, R) long ranks, ``G + 1`` in padded slots.
    Ties: non-relevant first, then relevant by gallery index (see module docstring).
    """
    import torch

    c, n_gallery = scores.shape
    neg_inf = torch.tensor(float("-inf"), dtype=scores.dtype, device=scores.device)
    rel_s = torch.where(mask, scores.gather(1, rel_idx), neg_inf)  # (c, R)
    # order relevant items by (score desc, index asc): rel_idx is ascending, sort is stable
    order = torch.sort(rel_s, dim=1, descending=True, stable=True).indices
    rel_s = rel_s.gather(1, order)
    mask = mask.gather(1, order)
    width = rel_s.shape[1]
    # ge_total[q, j] = #{g : s[q, g] >= s_j}
    if width <= _SORT_THRESHOLD:
        ge_total = torch.empty((c, width), dtype=torch.long, device=scores.device)
        for j in range(width):
            ge_total[:, j] = (scores >= rel_s[:, j : j + 1]).sum(1, dtype=torch.int32)
    else:
        neg_sorted = torch.sort(-scores, dim=1).values  # ascending
        ge_total = torch.searchsorted(neg_sorted, (-rel_s).contiguous(), right=True)
    # rel_ge[q, j] = #{relevant r : s_r >= s_j}; padded -inf slots sort last and never count
    neg_rel = (-rel_s).contiguous()  # ascending (rel_s is descending)
    rel_ge = torch.searchsorted(neg_rel, neg_rel, right=True)
    pos = torch.arange(width, device=scores.device).expand(c, width)
    ranks = 1 + ge_total - rel_ge + pos
    return torch.where(mask, ranks, torch.full_like(ranks, n_gallery + 1))


def _query_values(
    get_chunk: Callable[[int, int], torch.Tensor],
    n_queries: int,
    n_gallery: int,
    relevance: Sequence[Collection[int]],
    ks: Sequence[int],
    map_k: int,
    chunk_size: int,
    check_finite: bool = True,
) -> Iterator[dict[str, torch.Tensor]]:
    """Per chunk of queries, each metric's per-query values (float64, in the key order of
    :func:`metric_names`): reciprocal rank, AP@``map_k``, hit@k (0/1) and recall@k."""
    import torch

    ks = _check_params(ks, map_k, chunk_size)
    if len(relevance) != n_queries:
        raise MetricInputError(
            f"got {len(relevance)} relevance sets for {n_queries} queries; need one per query"
        )
    if n_queries == 0 or n_gallery == 0:
        raise MetricInputError(f"empty score matrix ({n_queries} x {n_gallery})")
    for start in range(0, n_queries, chunk_size):
        stop = min(start + chunk_size, n_queries)
        chunk = get_chunk(start, stop)
        if chunk.dtype not in (torch.float32, torch.float64):
            chunk = chunk.float()
        # one cheap reduction: a NaN/inf anywhere in a row makes its sum non-finite
        row_ok = torch.isfinite(chunk.sum(1)) if check_finite else None
        if row_ok is not None and not bool(row_ok.all()):
            for r in (~row_ok).nonzero()[:, 0].tolist():
                if not bool(torch.isfinite(chunk[r]).all()):  # not just a float overflow
                    raise MetricInputError(f"scores of query {start + r} contain NaN or infinity")
        rel_idx, mask, sizes = _relevance_tensors(relevance, start, stop, n_gallery, chunk.device)
        ranks = relevant_ranks(chunk, rel_idx, mask)  # (c, R) ascending
        del chunk
        first = ranks[:, 0].double()
        width = ranks.shape[1]
        found = torch.arange(1, width + 1, device=ranks.device, dtype=torch.float64)
        precision = found / ranks.double()
        in_top = (ranks <= map_k) & mask
        denom = torch.clamp(sizes, max=map_k).double()
        out = {"mrr": 1.0 / first, f"map@{map_k}": (precision * in_top).sum(1) / denom}
        out.update({f"r@{k}": (first <= k).double() for k in ks})
        for k in ks:  # mask: padded slots (rank G + 1) would count when k > G
            found_k = ((ranks <= k) & mask).sum(1).double()
            out[f"recall@{k}"] = found_k / sizes.double()
        yield out


def _accumulate(get_chunk, n_queries: int, *args, **kwargs) -> dict[str, float]:
    """Means over queries of :func:`_query_values`."""
    sums: dict[str, float] = {}
    for values in _query_values(get_chunk, n_queries, *args, **kwargs):
        for key, v in values.items():
            sums[key] = sums.get(key, 0.0) + float(v.sum())
    return {key: total / n_queries for key, total in sums.items()}


def _as_tensor(x, device=None):
    import numpy as np
    import torch

    if isinstance(x, torch.Tensor):
        t = x.detach()
    else:
        t = torch.as_tensor(np.asarray(x))
    return t.to(device) if device is not None else t


def retrieval_metrics(
    scores,
    relevance: Sequence[Collection[int]],
    ks: Sequence[int] = DEFAULT_KS,
    map_k: int = 10,
    chunk_size: int = 1024,
) -> dict[str, float]:
    """MRR, mAP@``map_k``, hit rate R@K and recall@K for every ``k`` in ``ks`` from a (Q, G)
    score matrix.

    ``scores``: torch tensor or numpy array (a ``np.memmap`` works: only one chunk of rows
    is loaded at a time); higher = more similar. ``relevance[q]``: gallery indices
    relevant to query ``q`` (non-empty). Returns ``{"mrr", "map@10", "r@1", "r@5", "r@10",
    "recall@1", "recall@5", "recall@10"}`` (with the given ``map_k``/``ks``; order of
    :func:`metric_names`) as floats in [0, 1].
    """
    shape = tuple(getattr(scores, "shape", ()))
    if len(shape) != 2:
        raise MetricInputError(f"scores must be a 2-D (queries, gallery) matrix, got shape {shape}")

    def get_chunk(i: int, j: int):
        return _as_tensor(scores[i:j])

    return _accumulate(get_chunk, shape[0], shape[1], relevance, ks, map_k, chunk_size)


def per_query_metrics(
    scores,
    relevance: Sequence[Collection[int]],
    ks: Sequence[int] = DEFAULT_KS,
    map_k: int = 10,
    chunk_size: int = 1024,
) -> dict[str, torch.Tensor]:
    """Each query's value of every metric of :func:`retrieval_metrics` (reciprocal rank,
    AP@``map_k``, hit@K as 0/1, recall@K): ``{key: (Q,) float64 tensor}`` whose means are
    :func:`retrieval_metrics`' numbers. What :func:`bootstrap_interval` resamples."""
    shape = tuple(getattr(scores, "shape", ()))
    if len(shape) != 2:
        raise MetricInputError(f"scores must be a 2-D (queries, gallery) matrix, got shape {shape}")

    def get_chunk(i: int, j: int):
        return _as_tensor(scores[i:j])

    return _concat(_query_values(get_chunk, shape[0], shape[1], relevance, ks, map_k, chunk_size))


def _concat(chunks) -> dict[str, torch.Tensor]:
    """One ``(Q,)`` tensor per metric from :func:`_query_values`' chunks."""
    import torch

    parts: dict[str, list] = {}
    for values in chunks:
        for key, v in values.items():
            parts.setdefault(key, []).append(v.cpu())
    return {key: torch.cat(v) for key, v in parts.items()}


def bootstrap_interval(
    values,
    groups: Sequence | None = None,
    n_resamples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (one number per query or
    clip).

    ``groups`` (one id per value) makes the resampling units whole groups, drawn with
    replacement: the five captions of one clip are not five independent queries, so
    resampling captions alone would give too narrow an interval. The statistic of a
    resample is the mean over all values of its groups (the metric's own definition).
    Deterministic for a ``seed``. Returns ``(low, high)`` at the given two-sided ``level``.
    """
    import torch

    v = _as_tensor(values).double().flatten()
    if v.numel() == 0:
        raise MetricInputError("bootstrap_interval needs at least one value")
    if not bool(torch.isfinite(v).all()):
        raise MetricInputError("bootstrap_interval got NaN or infinite values")
    if not 0.0 < level < 1.0:
        raise MetricInputError(f"level must be in (0, 1), got {level}")
    if n_resamples < 1:
        raise MetricInputError(f"n_resamples must be >= 1, got {n_resamples}")
    if groups is None:
        sums, counts = v, torch.ones_like(v)
    else:
        if len(groups) != v.numel():
            raise MetricInputError(f"got {len(groups)} group ids for {v.numel()} values")
        index = {g: i for i, g in enumerate(dict.fromkeys(groups))}
        gid = torch.tensor([index[g] for g in groups])
        sums = torch.zeros(len(index), dtype=torch.float64).index_add_(0, gid, v)
        counts = torch.bincount(gid, minlength=len(index)).double()
    gen = torch.Generator().manual_seed(seed)
    n = len(sums)
    step = max(1, 2_000_000 // n)  # resamples per draw: memory O(2e6), whatever n is
    stats = []
    for start in range(0, n_resamples, step):
        draw = torch.randint(n, (min(step, n_resamples - start), n), generator=gen)
        stats.append(sums[draw].sum(1) / counts[draw].sum(1))
    stats = torch.cat(stats)
    tail = (1.0 - level) / 2
    low, high = torch.quantile(stats, torch.tensor([tail, 1.0 - tail], dtype=torch.float64))
    return float(low), float(high)


def _embedding_chunks(query_emb, gallery_emb, device=None):
    """Checked embeddings -> ``(get_chunk, n_queries, n_gallery, check_finite)``: score rows
    ``query_emb[i:j] @ gallery_emb.T`` computed on demand."""
    import torch

    q = _as_tensor(query_emb, device)
    g = _as_tensor(gallery_emb, device if device is not None else q.device)
    if q.ndim != 2 or g.ndim != 2 or q.shape[1] != g.shape[1]:
        raise MetricInputError(
            f"embeddings must be (N, D) with the same D, got {tuple(q.shape)} and {tuple(g.shape)}"
        )
    if not q.is_floating_point():
        q = q.float()
    g = g.to(q.dtype)
    for name, e in (("query", q), ("gallery", g)):
        bad = ~torch.isfinite(e).all(1)
        if bool(bad.any()):
            i = int(bad.nonzero()[0, 0])
            raise MetricInputError(f"{name} embedding {i} contains NaN or infinity")
    # finite embeddings of sane magnitude give finite dot products: skip the per-chunk check
    big = max(float(q.abs().max()), float(g.abs().max())) if q.numel() and g.numel() else 0.0
    check = big * big * q.shape[1] > 1e30
    gt = g.T.contiguous()

    def get_chunk(i: int, j: int):
        return q[i:j] @ gt

    return get_chunk, q.shape[0], g.shape[0], check


def embedding_retrieval_metrics(
    query_emb,
    gallery_emb,
    relevance: Sequence[Collection[int]],
    ks: Sequence[int] = DEFAULT_KS,
    map_k: int = 10,
    chunk_size: int = 1024,
    device=None,
) -> dict[str, float]:
    """:func:`retrieval_metrics` with scores ``query_emb @ gallery_emb.T`` computed chunk by
    chunk (dot product = cosine similarity for L2-normalised embeddings)."""
    get_chunk, nq, ng, check = _embedding_chunks(query_emb, gallery_emb, device)
    return _accumulate(get_chunk, nq, ng, relevance, ks, map_k, chunk_size, check_finite=check)


def _embedding_per_query(query_emb, gallery_emb, relevance, ks, map_k, chunk_size) -> dict:
    get_chunk, nq, ng, check = _embedding_chunks(query_emb, gallery_emb)
    return _concat(_query_values(get_chunk, nq, ng, relevance, ks, map_k, chunk_size, check))


def _captions_of(caption_to_audio: Sequence[int], n_audio: int) -> list[list[int]]:
    """Each clip's caption indices (audio->text relevance); a caption naming no clip is refused."""
    captions_of: list[list[int]] = [[] for _ in range(n_audio)]
    for t, a in enumerate(caption_to_audio):
        a = int(a)
        if not 0 <= a < n_audio:
            raise MetricInputError(f"caption {t} points to clip {a}, outside [0, {n_audio})")
        captions_of[a].append(t)
    return captions_of


def bidirectional_intervals(
    audio_emb,
    text_emb,
    caption_to_audio: Sequence[int],
    ks: Sequence[int] = DEFAULT_KS,
    map_k: int = 10,
    level: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
    chunk_size: int = 1024,
) -> dict[str, dict[str, list[float]]]:
    """Bootstrap intervals of every number of :func:`bidirectional_metrics`, clips resampled
    whole: text->audio queries grouped by the clip they describe, audio->text queries (one
    per clip) as they are. ``{"text_to_audio": {key: [low, high]}, "audio_to_text": ...}``:
    how much of a result is the test set's sampling alone."""
    groups = [int(a) for a in caption_to_audio]
    captions_of = _captions_of(groups, int(audio_emb.shape[0]))
    t2a = _embedding_per_query(text_emb, audio_emb, [(a,) for a in groups], ks, map_k, chunk_size)
    a2t = _embedding_per_query(audio_emb, text_emb, captions_of, ks, map_k, chunk_size)
    return {
        "text_to_audio": {
            k: list(bootstrap_interval(v, groups, n_resamples, level, seed)) for k, v in t2a.items()
        },
        "audio_to_text": {
            k: list(bootstrap_interval(v, None, n_resamples, level, seed)) for k, v in a2t.items()
        },
    }


def bidirectional_metrics(
    audio_emb,
    text_emb,
    caption_to_audio: Sequence[int],
    ks: Sequence[int] = DEFAULT_KS,
    map_k: int = 10,
    chunk_size: int = 1024,
) -> dict[str, dict[str, float]]:
    """Both retrieval directions between ``A`` clips and ``T`` captions.

    ``caption_to_audio[t]`` is the clip caption ``t`` describes. Text->audio: each caption
    queries the clips, its one clip relevant. Audio->text: each clip queries the captions,
    all of its captions relevant (5 on Clotho). Returns
    ``{"text_to_audio": {...}, "audio_to_text": {...}}``.
    """
    n_audio = int(audio_emb.shape[0])
    n_text = int(text_emb.shape[0])
    if len(caption_to_audio) != n_text:
        raise MetricInputError(
            f"caption_to_audio has {len(caption_to_audio)} entries for {n_text} captions"
        )
    captions_of = _captions_of(caption_to_audio, n_audio)
    for a, caps in enumerate(captions_of):
        if not caps:
            raise MetricInputError(f"clip {a} has no caption; every clip needs at least one")
    t2a = embedding_retrieval_metrics(
        text_emb, audio_emb, [(int(a),) for a in caption_to_audio], ks, map_k, chunk_size
    )
    a2t = embedding_retrieval_metrics(audio_emb, text_emb, captions_of, ks, map_k, chunk_size)
    return {"text_to_audio": t2a, "audio_to_text": a2t}
