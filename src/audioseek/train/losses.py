"""Contrastive losses.

``info_nce`` is CLIP's symmetric InfoNCE, or the paper's one-directional equation (1) with
``symmetric=False`` (the paper's scale is a fixed 1: pass ``logit_scale=1.0``). Generic
names: a ``query`` batch is scored against a ``key`` batch; nothing here knows which side
is audio.

``contrastive_loss`` is what training calls: a batch of items (clips) and their captions,
with global negatives across ranks (:mod:`audioseek.train.distributed`) and open_clip's
``local_loss`` option. In one process it is ``info_nce`` on the batch.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

LossKind = Literal["symmetric", "one_directional"]
LOSS_KINDS: tuple[str, ...] = ("symmetric", "one_directional")


def _soft_ce_rows(logits: Tensor, targets: Tensor) -> Tensor:
    """Per-row cross-entropy (N,) of ``logits`` (N, M) against row-stochastic ``targets``."""
    return -(targets * F.log_softmax(logits, dim=1)).sum(dim=1)


def _soft_ce(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean cross-entropy of ``logits`` (N, M) against row-stochastic ``targets`` (N, M)."""
    return _soft_ce_rows(logits, targets).mean()


def positive_mask(
    n_query: int,
    n_key: int,
    query_ids: Tensor | None = None,
    key_ids: Tensor | None = None,
    device: torch.device | None = None,
) -> Tensor:
    """Boolean (n_query, n_key) mask of positive pairs.

    Without ids, query ``i`` and key ``i`` are the (only) positives, which needs
    ``n_query == n_key``. With ids, every pair sharing an id is positive.
    """
    if query_ids is None and key_ids is None:
        if n_query != n_key:
            raise ValueError(
                f"query and key batches differ in size ({n_query} vs {n_key}); pass ids"
            )
        return torch.eye(n_query, dtype=torch.bool, device=device)
    if query_ids is None:
        query_ids = torch.arange(n_query, device=device)
    if key_ids is None:
        key_ids = torch.arange(n_key, device=device)
    query_ids = torch.as_tensor(query_ids, device=device)
    key_ids = torch.as_tensor(key_ids, device=device)
    if query_ids.shape != (n_query,) or key_ids.shape != (n_key,):
        raise ValueError(
            f"ids must be 1-D with one id per row: got query_ids {tuple(query_ids.shape)} "
            f"for {n_query} queries and key_ids {tuple(key_ids.shape)} for {n_key} keys"
        )
    return query_ids[:, None] == key_ids[None, :]


def info_nce(
    query: Tensor,
    key: Tensor,
    logit_scale: Tensor | float,
    query_ids: Tensor | None = None,
    key_ids: Tensor | None = None,
    symmetric: bool = True,
) -> Tensor:
    """InfoNCE between a ``query`` batch (Nq, D) and a ``key`` batch (Nk, D).

    ``logits = logit_scale * query @ key.T``. ``logit_scale`` is the multiplicative scale
    (``1 / temperature``, i.e. CLIP's ``logit_scale.exp()``); embeddings are expected to be
    L2-normalised already, so the logits are scaled cosine similarities.

    Positives: without ids, row ``i`` of ``query`` matches row ``i`` of ``key``. With ids, every
    query/key pair that shares an id is a positive (e.g. several captions of one clip in the
    same batch). Positives are never negatives of each other: the target distribution of a
    row is spread uniformly over all its positives (soft targets), so the loss is minimal when
    the row's probability mass sits on its positives in any proportion close to uniform,
    and no positive is pushed down. With one positive per row this is the usual one-hot
    cross-entropy.

    ``symmetric=True`` (CLIP) averages the query->key and key->query cross-entropies;
    ``symmetric=False`` is the paper's equation (1): query->key only.
    Returns a scalar tensor.
    """
    if query.ndim != 2 or key.ndim != 2 or query.shape[1] != key.shape[1]:
        raise ValueError(
            f"query and key must be (N, D) with the same D: got {tuple(query.shape)} "
            f"and {tuple(key.shape)}"
        )
    pos = positive_mask(query.shape[0], key.shape[0], query_ids, key_ids, device=query.device)
    if not bool(pos.any(dim=1).all()) or (symmetric and not bool(pos.any(dim=0).all())):
        raise ValueError("every query (and, if symmetric, every key) needs at least one positive")
    logits = logit_scale * (query @ key.t())
    targets = pos.to(logits.dtype)
    loss_qk = _soft_ce(logits, targets / targets.sum(dim=1, keepdim=True))
    if not symmetric:
        return loss_qk
    targets_t = targets.t()
    loss_kq = _soft_ce(logits.t(), targets_t / targets_t.sum(dim=1, keepdim=True))
    return 0.5 * (loss_qk + loss_kq)


def info_nce_rows(
    query: Tensor,
    key: Tensor,
    logit_scale: Tensor | float,
    query_ids: Tensor,
    key_ids: Tensor,
) -> Tensor:
    """Per-query InfoNCE terms (Nq,) of ``query`` (Nq, D) against ``key`` (Nk, D):
    ``-sum_k target[q, k] * log softmax_k(logit_scale * q . k)``, the target spread uniformly
    over the keys that share the query's id. ``info_nce(..., symmetric=False)`` is their mean.
    """
    if query.ndim != 2 or key.ndim != 2 or query.shape[1] != key.shape[1]:
        raise ValueError(
            f"query and key must be (N, D) with the same D: got {tuple(query.shape)} "
            f"and {tuple(key.shape)}"
        )
    pos = positive_mask(query.shape[0], key.shape[0], query_ids, key_ids, device=query.device)
    if not bool(pos.any(dim=1).all()):
        raise ValueError("every query needs at least one positive key")
    logits = logit_scale * (query @ key.t())
    targets = pos.to(logits.dtype)
    return _soft_ce_rows(logits, targets / targets.sum(dim=1, keepdim=True))


def contrastive_loss(
    items: Tensor,
    captions: Tensor,
    caption_item: Tensor | None,
    logit_scale: Tensor | float,
    kind: LossKind = "symmetric",
    item_ids: Tensor | None = None,
    local_loss: bool = False,
    gather: bool = True,
    gather_with_grad: bool = True,
    group=None,
    caption_ids: Tensor | None = None,
) -> Tensor:
    """InfoNCE between a batch of ``items`` (B, D) and their ``captions`` (N, D), with the
    negatives of every rank.

    ``caption_item`` (N,): the local row of ``items`` each caption describes.
    ``item_ids`` (B,): optional dataset-wide item identity; rows with equal ids are positives
    wherever they sit (see :func:`audioseek.train.distributed.gather_pairs`). Without it,
    ids are the local rows offset per rank. ``caption_ids`` (N,): the captions' dataset-wide
    item ids, given with ``item_ids`` instead of ``caption_item`` (pass ``None`` for it).
    ``kind``: ``"symmetric"`` (CLIP: mean of captions->items and items->captions) or
    ``"one_directional"`` (the paper's equation (1): each item against all captions).
    Use ``logit_scale=1.0`` for equation (1) as printed.

    Distributed (``torch.distributed`` initialised, world > 1, ``gather=True``): embeddings
    are all-gathered from every rank (with gradients unless ``gather_with_grad=False``).

    - ``local_loss=False``: every rank computes the loss on the whole global batch (the same
      number everywhere), the returned value equals the single-process loss on the
      concatenated batch, and DDP's average of the parameter gradients equals its gradient.
    - ``local_loss=True`` (open_clip): each rank scores only its own rows against the global
      columns ((n_local x N_all) instead of (N_all x N_all) logits). The rank's row terms are
      summed and divided by the *global* row count times ``1 / world_size``, so the mean of
      the ranks' losses (what DDP's gradient averaging differentiates) is exactly the
      single-process loss, even for shards of different sizes; a single rank's value is its
      share scaled by the world size, not the global loss.

    One process: ``info_nce`` on the batch, whatever ``local_loss`` and ``gather`` say.
    Returns a scalar tensor.
    """
    from audioseek.train.distributed import gather_pairs

    if kind not in LOSS_KINDS:
        raise ValueError(f"unknown loss kind {kind!r}; expected one of {LOSS_KINDS}")
    if items.ndim != 2 or captions.ndim != 2 or items.shape[1] != captions.shape[1]:
        raise ValueError(
            f"items and captions must be (N, D) with the same D: got {tuple(items.shape)} "
            f"and {tuple(captions.shape)}"
        )
    g = gather_pairs(
        items,
        captions,
        caption_item,
        item_ids,
        gather_with_grad,
        group,
        enabled=gather,
        caption_ids=caption_ids,
    )
    if not local_loss or g.world_size == 1:
        if kind == "symmetric":
            return info_nce(
                g.captions, g.items, logit_scale, g.caption_ids, g.item_ids, symmetric=True
            )
        return info_nce(
            g.items, g.captions, logit_scale, g.item_ids, g.caption_ids, symmetric=False
        )
    n_items_all, n_captions_all = g.items.shape[0], g.captions.shape[0]
    item_rows = info_nce_rows(
        g.local_items, g.captions, logit_scale, g.local_item_ids, g.caption_ids
    )
    item_term = item_rows.sum() * (g.world_size / n_items_all)
    if kind == "one_directional":
        return item_term
    caption_rows = info_nce_rows(
        g.local_captions, g.items, logit_scale, g.local_caption_ids, g.item_ids
    )
    caption_term = caption_rows.sum() * (g.world_size / n_captions_all)
    return 0.5 * (caption_term + item_term)
