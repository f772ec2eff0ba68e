"""Gathering embeddings across ranks for a contrastive loss with global negatives.

Like open_clip's ``gather_features``: every rank all-gathers the batch embeddings of all
ranks, *with gradients*, so each rank's loss sees the global batch as negatives and the
gradients flowing back to a rank's own rows are the sum of what every rank's loss says
about them. Under DDP (which averages parameter gradients over ranks) this gives exactly
the gradient of the single-process loss on the concatenated batch; see
:func:`audioseek.train.losses.contrastive_loss` for the bookkeeping of ``local_loss``.

Shards may differ in size (a last, smaller batch; a different number of captions per rank):
tensors are padded to the largest shard for the collective and trimmed afterwards.

Everything here is a no-op in one process (``torch.distributed`` not initialised or a
world of one), so the same training code runs on one device and on many.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


def world(group=None) -> tuple[int, int]:
    """``(rank, world_size)`` of ``group``; ``(0, 1)`` without an initialised process group."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return 0, 1
    return dist.get_rank(group), dist.get_world_size(group)


def shard_sizes(n: int, device: torch.device, group=None) -> list[int]:
    """The first-dimension size ``n`` of every rank's shard, in rank order."""
    import torch.distributed as dist

    _, world_size = world(group)
    if world_size == 1:
        return [int(n)]
    mine = torch.tensor([int(n)], dtype=torch.long, device=device)
    sizes = [torch.zeros_like(mine) for _ in range(world_size)]
    dist.all_gather(sizes, mine, group=group)
    return [int(s.item()) for s in sizes]


def _gather_padded(x: Tensor, sizes: list[int], group) -> Tensor:
    """All-gather ``x`` (n_rank, ...) of every rank into (sum(sizes), ...), rank order."""
    import torch.distributed as dist

    width = max(sizes)
    padded = x.new_zeros((width, *x.shape[1:]))
    padded[: x.shape[0]] = x
    parts = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(parts, padded.contiguous(), group=group)
    return torch.cat([p[:n] for p, n in zip(parts, sizes, strict=True)])


class _GatherWithGrad(torch.autograd.Function):
    """all_gather whose backward sums the gradient of the gathered tensor over ranks and
    returns this rank's slice (a reduce-scatter, written as an all-reduce so that every
    backend, gloo included, supports it and shards may differ in size)."""

    @staticmethod
    def forward(ctx, x: Tensor, sizes: list[int], rank: int, group):
        ctx.group = group
        ctx.start = sum(sizes[:rank])
        ctx.stop = ctx.start + sizes[rank]
        return _gather_padded(x, sizes, group)

    @staticmethod
    def backward(ctx, grad: Tensor):
        import torch.distributed as dist

        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM, group=ctx.group)
        return grad[ctx.start : ctx.stop], None, None, None


def all_gather(x: Tensor, with_grad: bool = True, group=None) -> tuple[Tensor, int]:
    """``(gathered (sum of shard sizes, ...), offset of this rank's rows)``.

    ``with_grad=True``: gradients flow back to every rank's shard (see the module docstring).
    ``with_grad=False``: the gathered tensor is detached except for this rank's own rows,
    which are put back in place (open_clip's ``gather_with_grad=False``); each rank's loss
    then trains only through its own rows, which is *not* the single-process gradient.
    One process: ``(x, 0)`` unchanged.
    """
    rank, world_size = world(group)
    if world_size == 1:
        return x, 0
    sizes = shard_sizes(x.shape[0], x.device, group)
    offset = sum(sizes[:rank])
    if with_grad and x.requires_grad:
        return _GatherWithGrad.apply(x, sizes, rank, group), offset
    with torch.no_grad():
        gathered = _gather_padded(x.detach(), sizes, group)
    if not x.requires_grad:
        return gathered, offset
    stop = offset + x.shape[0]
    return torch.cat([gathered[:offset], x, gathered[stop:]]), offset


@dataclass
class GatheredPairs:
    """A batch of items (e.g. clips) and their captions, gathered over all ranks.

    ``items`` (B_all, D) and ``captions`` (N_all, D) in rank order; ``item_ids`` (B_all,)
    and ``caption_ids`` (N_all,) say which rows belong together (equal id = positive pair);
    ``item_offset`` / ``caption_offset`` locate this rank's rows, ``n_items`` /
    ``n_captions`` count them; ``world_size`` is the number of ranks gathered.
    """

    items: Tensor
    captions: Tensor
    item_ids: Tensor
    caption_ids: Tensor
    item_offset: int
    caption_offset: int
    n_items: int
    n_captions: int
    world_size: int

    @property
    def local_items(self) -> Tensor:
        return self.items[self.item_offset : self.item_offset + self.n_items]

    @property
    def local_captions(self) -> Tensor:
        return self.captions[self.caption_offset : self.caption_offset + self.n_captions]

    @property
    def local_item_ids(self) -> Tensor:
        return self.item_ids[self.item_offset : self.item_offset + self.n_items]

    @property
    def local_caption_ids(self) -> Tensor:
        return self.caption_ids[self.caption_offset : self.caption_offset + self.n_captions]


def gather_pairs(
    items: Tensor,
    captions: Tensor,
    caption_item: Tensor | None,
    item_ids: Tensor | None = None,
    with_grad: bool = True,
    group=None,
    enabled: bool = True,
    caption_ids: Tensor | None = None,
) -> GatheredPairs:
    """Gather a local batch of ``items`` (B, D) and ``captions`` (N, D) from every rank.

    ``caption_item`` (N,): the local row of ``items`` each caption describes.
    ``item_ids`` (B,): optional dataset-wide identity of each item row (e.g. the clip's
    index in the dataset). With it, rows of the same clip are positives wherever they sit:
    a clip whose captions were split over two ranks (each rank holding a copy of its audio)
    is never its own negative. Without it, ids are the local rows offset by the number of
    items on the ranks before this one, which is right whenever every clip sits on one rank.
    ``caption_ids`` (N,): the captions' dataset-wide item ids, given instead of
    ``caption_item`` (then ``item_ids`` is required).
    ``enabled=False`` (or one process): nothing is gathered; the local batch is returned.
    """
    if caption_ids is not None:
        if item_ids is None:
            raise ValueError("caption_ids need item_ids (the same dataset-wide ids)")
        local_caption_ids = torch.as_tensor(caption_ids, device=items.device).long()
        if local_caption_ids.shape != (captions.shape[0],):
            raise ValueError(
                f"caption_ids must be (N,) for {captions.shape[0]} captions, "
                f"got {tuple(local_caption_ids.shape)}"
            )
    elif caption_item is None:
        raise ValueError("pass caption_item (local rows) or caption_ids (dataset-wide ids)")
    else:
        if caption_item.ndim != 1 or caption_item.shape[0] != captions.shape[0]:
            raise ValueError(
                f"caption_item must be (N,) for {captions.shape[0]} captions, "
                f"got shape {tuple(caption_item.shape)}"
            )
        caption_item = caption_item.to(items.device).long()
        if caption_item.numel() and not (
            int(caption_item.min()) >= 0 and int(caption_item.max()) < items.shape[0]
        ):
            raise ValueError(
                f"caption_item points outside the {items.shape[0]} local items: "
                f"{caption_item.tolist()!r}"
            )
    world_size = world(group)[1] if enabled else 1
    if world_size == 1:
        all_items, item_offset, all_captions, caption_offset = items, 0, captions, 0
    else:
        all_items, item_offset = all_gather(items, with_grad, group)
        all_captions, caption_offset = all_gather(captions, with_grad, group)
    if item_ids is None:
        local_ids = torch.arange(items.shape[0], device=items.device) + item_offset
    else:
        local_ids = torch.as_tensor(item_ids, device=items.device).long()
        if local_ids.shape != (items.shape[0],):
            raise ValueError(
                f"item_ids must be (B,) for {items.shape[0]} items, got {tuple(local_ids.shape)}"
            )
    if caption_ids is None:
        local_caption_ids = local_ids[caption_item]
    all_item_ids, all_caption_ids = local_ids, local_caption_ids
    if world_size > 1:
        all_item_ids, _ = all_gather(local_ids, with_grad=False, group=group)
        all_caption_ids, _ = all_gather(local_caption_ids, with_grad=False, group=group)
    return GatheredPairs(
        items=all_items,
        captions=all_captions,
        item_ids=all_item_ids,
        caption_ids=all_caption_ids,
        item_offset=item_offset,
        caption_offset=caption_offset,
        n_items=int(items.shape[0]),
        n_captions=int(captions.shape[0]),
        world_size=world_size,
    )


def distributed_info_nce(
    audio: Tensor,
    text: Tensor,
    logit_scale: Tensor | float,
    audio_ids: Tensor,
    text_ids: Tensor,
    symmetric: bool = True,
    local_loss: bool = False,
    group=None,
) -> Tensor:
    """:func:`audioseek.train.losses.contrastive_loss` with dataset-wide ids on both sides:
    ``audio`` (B, D) with ``audio_ids`` (B,), ``text`` (N, D) with ``text_ids`` (N,) (the id
    of each caption's clip). ``symmetric=False`` is the paper's equation (1)."""
    from audioseek.train.losses import contrastive_loss

    return contrastive_loss(
        audio,
        text,
        None,
        logit_scale,
        kind="symmetric" if symmetric else "one_directional",
        item_ids=audio_ids,
        caption_ids=text_ids,
        local_loss=local_loss,
        group=group,
    )
