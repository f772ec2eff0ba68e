"""Global negatives across ranks: two CPU processes (gloo) give the loss and gradients of
the single-process loss on the concatenated batch; one process is a no-op."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from audioseek.train.distributed import all_gather, gather_pairs, world
from audioseek.train.losses import contrastive_loss, info_nce

TOL = 1e-6
WORLD = 2


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ddp_results(tmp_path_factory):
    """Run tests/train/ddp_worker.py on 2 gloo processes once; {case: [rank0, rank1]}."""
    import torch.multiprocessing as mp

    mp_ctx = pytest.MonkeyPatch()
    here = Path(__file__).parent
    mp_ctx.syspath_prepend(str(here))  # spawned children import ddp_worker by name
    try:
        import ddp_worker

        out = tmp_path_factory.mktemp("ddp")
        mp.spawn(ddp_worker.run, args=(WORLD, _free_port(), str(out)), nprocs=WORLD, join=True)
    finally:
        mp_ctx.undo()
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in range(WORLD)]
    return {key: [r[key] for r in ranks] for key in ranks[0]}


CASES = [
    f"{case}/{kind}/{mode}"
    for case in ("disjoint", "shared_clip")
    for kind in ("symmetric", "one_directional")
    for mode in ("global", "local")
] + [  # distributed_info_nce, what the LightningModule calls
    f"shared_clip/{kind}/{mode}"
    for kind in ("symmetric", "one_directional")
    for mode in ("api_global", "api_local")
]


@pytest.mark.slow
@pytest.mark.parametrize("key", CASES)
def test_gathered_loss_and_gradients_equal_single_process(ddp_results, key):
    for rank, r in enumerate(ddp_results[key]):
        assert r["loss_diff"] < TOL, (key, rank, r)
        assert r["grad_diff"] < TOL, (key, rank, r)
        heads = {"item_head.weight", "item_head.bias", "caption_head.weight", "caption_head.bias"}
        assert heads <= set(r["grad_names"])
        if key.split("/")[1] == "symmetric":  # the learnable scale is compared too
            assert "logit_scale" in r["grad_names"]
    if key.endswith("local"):
        # each rank returns its own share (different numbers), whose mean is the global loss
        shares = [r["rank_loss"] for r in ddp_results[key]]
        assert shares[0] != pytest.approx(shares[1], abs=1e-3)
    else:
        assert ddp_results[key][0]["loss"] == pytest.approx(ddp_results[key][1]["loss"], abs=TOL)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["symmetric", "one_directional"])
@pytest.mark.parametrize("case", ["disjoint", "shared_clip"])
def test_controls_differ_from_the_reference(ddp_results, case, kind):
    """The comparison above can fail: without gathering, with a gather that carries no
    gradient across ranks, or (for a clip on both ranks) without dataset ids, the numbers
    are not the single-process ones."""
    for c in ddp_results[f"{case}/{kind}/controls"]:
        assert c["no_gather_loss_diff"] > 1e-3
        assert c["no_grad_gather_grad_diff"] > 1e-3
        if case == "shared_clip":
            assert c["offset_ids_loss_diff"] > 1e-3


def test_one_process_is_a_no_op():
    assert world() == (0, 1)
    x = torch.randn(3, 4, requires_grad=True)
    gathered, offset = all_gather(x)
    assert gathered is x and offset == 0
    g = gather_pairs(x, torch.randn(5, 4), torch.tensor([0, 0, 1, 2, 2]))
    assert g.world_size == 1 and g.items is x
    assert g.item_ids.tolist() == [0, 1, 2] and g.caption_ids.tolist() == [0, 0, 1, 2, 2]


@pytest.mark.parametrize("kind", ["symmetric", "one_directional"])
@pytest.mark.parametrize("local_loss", [False, True])
def test_one_process_loss_is_info_nce(kind, local_loss):
    torch.manual_seed(0)
    items = F.normalize(torch.randn(4, 8), dim=1)
    captions = F.normalize(torch.randn(6, 8), dim=1)
    caption_item = torch.tensor([0, 0, 1, 2, 3, 3])
    got = contrastive_loss(items, captions, caption_item, 1.0, kind=kind, local_loss=local_loss)
    ids = torch.arange(4)
    if kind == "symmetric":
        want = info_nce(captions, items, 1.0, query_ids=caption_item, key_ids=ids)
    else:
        want = info_nce(items, captions, 1.0, ids, caption_item, symmetric=False)
    assert got.item() == pytest.approx(want.item(), abs=1e-7)


def test_item_ids_make_duplicate_rows_positives():
    # clip 7 appears twice among the items: its captions have both rows as positives
    torch.manual_seed(0)
    items = F.normalize(torch.randn(3, 8), dim=1)
    captions = F.normalize(torch.randn(4, 8), dim=1)
    caption_item = torch.tensor([0, 1, 2, 2])
    ids = torch.tensor([7, 8, 7])
    g = gather_pairs(items, captions, caption_item, ids)
    assert g.caption_ids.tolist() == [7, 8, 7, 7]
    with_ids = contrastive_loss(items, captions, caption_item, 1.0, item_ids=ids)
    without = contrastive_loss(items, captions, caption_item, 1.0)
    assert with_ids.item() != pytest.approx(without.item(), abs=1e-4)


def test_bad_inputs_raise():
    items, captions = torch.zeros(2, 4), torch.zeros(3, 4)
    with pytest.raises(ValueError, match="outside the 2 local items"):
        contrastive_loss(items, captions, torch.tensor([0, 1, 2]), 1.0)
    with pytest.raises(ValueError, match="unknown loss kind 'paper2'"):
        contrastive_loss(items, captions, torch.tensor([0, 1, 1]), 1.0, kind="paper2")
    with pytest.raises(ValueError, match="item_ids must be"):
        contrastive_loss(items, captions, torch.tensor([0, 1, 1]), 1.0, item_ids=torch.zeros(3))


def test_distributed_info_nce_in_one_process_is_info_nce_with_ids():
    from audioseek.train.distributed import distributed_info_nce

    torch.manual_seed(0)
    audio = F.normalize(torch.randn(3, 8), dim=1)
    text = F.normalize(torch.randn(4, 8), dim=1)
    audio_ids, text_ids = torch.tensor([5, 9, 5]), torch.tensor([5, 9, 9, 5])
    got = distributed_info_nce(audio, text, 2.0, audio_ids=audio_ids, text_ids=text_ids)
    want = info_nce(text, audio, 2.0, query_ids=text_ids, key_ids=audio_ids)
    assert got.item() == pytest.approx(want.item(), abs=1e-7)
    eq1 = distributed_info_nce(audio, text, 1.0, audio_ids, text_ids, symmetric=False)
    want1 = info_nce(audio, text, 1.0, query_ids=audio_ids, key_ids=text_ids, symmetric=False)
    assert eq1.item() == pytest.approx(want1.item(), abs=1e-7)
    with pytest.raises(ValueError, match="caption_ids need item_ids"):
        contrastive_loss(audio, text, None, 1.0, caption_ids=text_ids)
    with pytest.raises(ValueError, match="pass caption_item"):
        contrastive_loss(audio, text, None, 1.0)
