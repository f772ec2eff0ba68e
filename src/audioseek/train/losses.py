"""Contrastive losses.

``info_nce`` is CLIP's symmetric InfoNCE with a learnable temperature, or the paper's
one-directional equation (1) with ``symmetric=False``. Generic names: a ``query`` batch is
scored against a ``key`` batch; nothing here knows which side is audio.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _soft_ce(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean cross-entropy of ``logits`` (N, M) against row-stochastic ``targets`` (N, M)."""
    return -(targets * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


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
