"""Sampling for training and validation: captions per epoch, sharding across ranks, resume,
and the validation loss computed the way the training loss is."""

from __future__ import annotations

import pytest
import torch

from audioseek.train.datamodule import EpochSampler, PairDataset, ShardSampler
from audioseek.train.module import validation_batches, validation_loss


def test_sharded_epochs_are_the_single_process_batches_split_across_ranks():
    """Rank r takes positions r::w: the k-th batches of the w ranks together are the k-th
    batch of one process with w times the batch size (the same global batch)."""
    n, bs, world = 23, 3, 2
    single = list(EpochSampler(n, seed=5))
    ranks = [list(EpochSampler(n, seed=5, rank=r, world_size=world)) for r in range(world)]
    assert all(len(r) == n // world for r in ranks)
    for k in range(n // (bs * world)):
        together = sorted(i for r in ranks for i in r[k * bs : (k + 1) * bs])
        assert together == sorted(single[k * bs * world : (k + 1) * bs * world])
    assert not set(ranks[0]) & set(ranks[1])


def test_sharded_sampler_resumes_mid_epoch_on_every_rank():
    for rank in range(2):
        full = EpochSampler(20, seed=1, rank=rank, world_size=2)
        full.set_epoch(3)
        expected = list(full)
        resumed = EpochSampler(20, seed=1, rank=rank, world_size=2)
        resumed.resume(3, 4)
        assert list(resumed) == expected[4:]
        assert list(resumed) == expected  # only the next iteration skips


def test_validation_shards_cover_every_clip_once_without_padding():
    shards = [list(ShardSampler(7, r, 3)) for r in range(3)]
    assert sorted(i for s in shards for i in s) == list(range(7))
    assert [len(s) for s in shards] == [3, 2, 2]


class _Clips:
    """Stands in for AudioCaptionDataset: items, load_waveform, set_epoch."""

    def __init__(self, n_captions):
        self.items = [
            {"item_id": f"c{i}", "captions": [f"clip {i} caption {j}" for j in range(k)]}
            for i, k in enumerate(n_captions)
        ]
        self.epoch = 0

    def load_waveform(self, i):
        return torch.full((4,), float(i))

    def set_epoch(self, epoch):
        self.epoch = epoch


def test_all_captions_per_epoch_visits_every_pair_once():
    pairs = PairDataset(_Clips([5, 1, 3]))
    assert len(pairs) == 9
    sampler = EpochSampler(len(pairs), seed=0, dataset=pairs)
    seen = [pairs[i] for i in sampler]
    assert sorted((s["clip_index"], s["captions"][0]) for s in seen) == sorted(
        (i, c) for i, it in enumerate(pairs.clips.items) for c in it["captions"]
    )
    assert all(torch.equal(s["waveform"], torch.full((4,), float(s["clip_index"]))) for s in seen)


class _Heads(torch.nn.Module):
    """The parts of a DualEncoder the module uses for cached batches (identity heads)."""

    def __init__(self):
        super().__init__()
        self.audio_encoder = torch.nn.Identity()
        self.text_encoder = torch.nn.Identity()
        self.text_head = torch.nn.Identity()
        self.w = torch.nn.Parameter(torch.ones(()))

    def scale(self):
        return torch.tensor(10.0)

    def encode_audio_features(self, feats):
        return torch.nn.functional.normalize(feats * self.w, dim=-1)


def test_captions_of_one_clip_in_a_batch_are_positives_not_negatives():
    """Two pairs of clip 7 in one batch (all captions per epoch): the module passes clip ids
    to the loss, so both captions are positives of both audio rows of clip 7."""
    from audioseek.train.config import OptimConfig
    from audioseek.train.losses import info_nce
    from audioseek.train.module import RetrievalModule

    module = RetrievalModule(_Heads(), [], OptimConfig(loss="symmetric"))
    torch.manual_seed(0)
    audio = torch.randn(3, 8)
    text = torch.randn(3, 8)
    batch = {
        "audio_features": audio,
        "text_features": text,
        "caption_clip": torch.arange(3),
        "clip_index": torch.tensor([7, 7, 2]),
    }
    loss, _ = module.training_loss(batch)
    a, t = torch.nn.functional.normalize(audio, dim=-1), torch.nn.functional.normalize(text, dim=-1)
    ids = torch.tensor([7, 7, 2])
    torch.testing.assert_close(loss, info_nce(t, a, 10.0, query_ids=ids, key_ids=ids))
    assert not torch.allclose(loss, info_nce(t, a, 10.0))  # clip 7 against itself: different


@pytest.mark.parametrize("rule", ["one", "all"])
def test_validation_batches_follow_the_training_rule(rule):
    caption_to_audio = [0] * 5 + [1] * 5 + [2] * 5 + [3] * 5 + [4] * 5
    batches = validation_batches(caption_to_audio, 4, rule, seed=0)
    assert batches == validation_batches(caption_to_audio, 4, rule, seed=0)  # fixed
    caps = [c for _, cs in batches for c in cs]
    if rule == "one":  # one caption per clip, each clip once
        assert sorted(a for a, _ in batches for a in a) == [0, 1, 2, 3, 4]
        assert len(caps) == 5
    else:  # every (clip, caption) pair once
        assert sorted(caps) == list(range(25))
    for clips, cs in batches:
        assert len(clips) == len(cs) and all(
            caption_to_audio[c] == a for a, c in zip(clips, cs, strict=True)
        )
        assert len(clips) <= 4 + 1  # a last single row joins the previous batch


def test_validation_loss_is_the_training_loss_of_those_batches():
    from audioseek.train.losses import info_nce

    torch.manual_seed(1)
    audio = torch.nn.functional.normalize(torch.randn(6, 8), dim=-1)
    text = torch.nn.functional.normalize(torch.randn(18, 8), dim=-1)
    caption_to_audio = [i // 3 for i in range(18)]

    def loss(a, t, a_ids, t_ids):
        return info_nce(t, a, 5.0, query_ids=t_ids, key_ids=a_ids)

    got = validation_loss(loss, audio, text, caption_to_audio, 4, "all", seed=3)
    want, n = 0.0, 0
    for clips, caps in validation_batches(caption_to_audio, 4, "all", seed=3):
        ids = torch.tensor(clips)
        want += float(loss(audio[ids], text[caps], ids, ids)) * len(clips)
        n += len(clips)
    assert float(got) == pytest.approx(want / n, rel=1e-6)
    # a bigger batch has more negatives: a different (higher) loss for random embeddings
    assert float(validation_loss(loss, audio, text, caption_to_audio, 18, "all", 3)) != float(got)
