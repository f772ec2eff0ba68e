"""Worker of tests/train/test_distributed.py, in its own module so that spawned processes
can import it by name (the test module itself is imported by path, not by name).

Every rank builds the same global batch and the same two heads, computes the single-process
reference on the concatenated batch, then the gathered loss on its own shard, averages the
parameter gradients over ranks as DDP does, and writes the differences to
``<out_dir>/rank<r>.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

# shards: per rank, the local item rows' dataset ids and each caption's local item row
CASES = {
    # uneven shards, every clip on one rank, ids = local rows offset per rank
    "disjoint": {
        "ids": False,
        "items": [[0, 1, 2], [3, 4]],
        "captions": [[0, 0, 1, 2], [0, 1, 1]],
    },
    # clip 10 sits on both ranks (rank 0 row 0, rank 1 row 1), with captions on both
    "shared_clip": {
        "ids": True,
        "items": [[10, 11, 12], [13, 10]],
        "captions": [[0, 1, 2, 0], [0, 1, 1]],
    },
}
KINDS = ("symmetric", "one_directional")
ITEM_DIM, CAPTION_DIM, EMBED_DIM = 5, 7, 4


def _batch(case: dict, rank: int | None):
    """(item feats, caption feats, caption_item, item_ids) of one rank, or of the
    concatenation of all ranks (``rank=None``), from one seeded generator."""
    import torch

    gen = torch.Generator().manual_seed(1234)
    shards = []
    for ids, caps in zip(case["items"], case["captions"], strict=True):
        items = torch.randn(len(ids), ITEM_DIM, generator=gen, dtype=torch.float64)
        captions = torch.randn(len(caps), CAPTION_DIM, generator=gen, dtype=torch.float64)
        shards.append((items, captions, torch.tensor(caps), torch.tensor(ids)))
    if rank is not None:
        return shards[rank]
    offsets = [0]
    for s in shards[:-1]:
        offsets.append(offsets[-1] + s[0].shape[0])
    return (
        torch.cat([s[0] for s in shards]),
        torch.cat([s[1] for s in shards]),
        torch.cat([s[2] + o for s, o in zip(shards, offsets, strict=True)]),
        torch.cat([s[3] for s in shards]),
    )


def _heads(kind: str):
    import math

    import torch

    torch.manual_seed(7)
    item_head = torch.nn.Linear(ITEM_DIM, EMBED_DIM).double()
    caption_head = torch.nn.Linear(CAPTION_DIM, EMBED_DIM).double()
    params = {"item_head": item_head, "caption_head": caption_head}
    # CLIP's learnable scale for the symmetric loss; equation (1)'s fixed scale of 1
    log_scale = torch.nn.Parameter(torch.tensor(math.log(1 / 0.07), dtype=torch.float64))
    scale = log_scale.exp if kind == "symmetric" else (lambda: 1.0)
    return item_head, caption_head, log_scale, scale, params


def _loss(kind, batch, local_loss, gather=True, gather_with_grad=True, use_ids=True, api=False):
    """``api=True``: the LightningModule's entry point, ``distributed_info_nce`` with
    dataset-wide ids on both sides, instead of ``contrastive_loss``."""
    import torch.nn.functional as F

    from audioseek.train.distributed import distributed_info_nce
    from audioseek.train.losses import contrastive_loss

    item_head, caption_head, log_scale, scale, _ = _heads(kind)
    items, captions, caption_item, ids = batch
    item_emb = F.normalize(item_head(items), dim=1)
    caption_emb = F.normalize(caption_head(captions), dim=1)
    if api:
        loss = distributed_info_nce(
            item_emb,
            caption_emb,
            scale(),
            audio_ids=ids,
            text_ids=ids[caption_item],
            symmetric=kind == "symmetric",
            local_loss=local_loss,
        )
    else:
        loss = contrastive_loss(
            item_emb,
            caption_emb,
            caption_item,
            scale(),
            kind=kind,
            item_ids=ids if use_ids else None,
            local_loss=local_loss,
            gather=gather,
            gather_with_grad=gather_with_grad,
        )
    loss.backward()
    grads = {
        "item_head.weight": item_head.weight.grad,
        "item_head.bias": item_head.bias.grad,
        "caption_head.weight": caption_head.weight.grad,
        "caption_head.bias": caption_head.bias.grad,
    }
    if kind == "symmetric":
        grads["logit_scale"] = log_scale.grad
    return loss.detach(), grads


def _ddp_average(value):
    import torch.distributed as dist

    value = value.clone()
    dist.all_reduce(value)
    return value / dist.get_world_size()


def _max_diff(grads, ref) -> float:
    return max(float((_ddp_average(grads[k]) - ref[k]).abs().max()) for k in ref)


def run(rank: int, world_size: int, port: int, out_dir: str) -> None:
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size
    )
    results = {}
    try:
        for name, case in CASES.items():
            use_ids = case["ids"]
            full = _batch(case, None)
            mine = _batch(case, rank)
            for kind in KINDS:
                ref_loss, ref_grads = _loss(kind, full, False, gather=False, use_ids=use_ids)
                modes = [("global", False, False), ("local", True, False)]
                if use_ids:  # the module's entry point (dataset-wide ids on both sides)
                    modes += [("api_global", False, True), ("api_local", True, True)]
                for mode, local_loss, api in modes:
                    loss, grads = _loss(kind, mine, local_loss, use_ids=use_ids, api=api)
                    rank_loss = float(loss)
                    if local_loss:  # a rank's share; the mean over ranks is the global loss
                        loss = _ddp_average(loss)
                    results[f"{name}/{kind}/{mode}"] = {
                        "ref_loss": float(ref_loss),
                        "loss": float(loss),
                        "rank_loss": rank_loss,
                        "loss_diff": abs(float(loss) - float(ref_loss)),
                        "grad_diff": _max_diff(grads, ref_grads),
                        "grad_names": sorted(grads),
                    }
                # controls that must NOT match the reference (so the comparison can fail)
                no_gather, _ = _loss(kind, mine, False, gather=False, use_ids=use_ids)
                _, no_grad_grads = _loss(kind, mine, False, gather_with_grad=False, use_ids=use_ids)
                control = {
                    "no_gather_loss_diff": float(_ddp_average((no_gather - ref_loss).abs()).item()),
                    "no_grad_gather_grad_diff": _max_diff(no_grad_grads, ref_grads),
                }
                if use_ids:
                    offset_ids, _ = _loss(kind, mine, False, use_ids=False)
                    control["offset_ids_loss_diff"] = abs(float(offset_ids) - float(ref_loss))
                results[f"{name}/{kind}/controls"] = control
    finally:
        dist.destroy_process_group()
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(results, indent=1))
