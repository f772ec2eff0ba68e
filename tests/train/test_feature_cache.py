"""Feature-cache training: a few hundred baseline steps from cached frozen-encoder outputs
beat random retrieval on held-out synthetic clips by a wide margin; the cache is reused
when its key matches and recomputed when not; cached batches follow the augmentation recipe."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from audioseek.train.datamodule import EpochSampler
from audioseek.train.feature_cache import CachedCollate, CachedEvalCollate, load_or_compute

ROOT = Path(__file__).resolve().parents[2]


def _feats(n_clips=6, caps=2, a_views=3, t_views=3, da=4, dt=5):
    audio = torch.arange(n_clips * a_views * da, dtype=torch.float32).reshape(n_clips, a_views, da)
    text = torch.arange(n_clips * caps * t_views * dt, dtype=torch.float32)
    text = text.reshape(n_clips * caps, t_views, dt)
    clip = torch.arange(n_clips).repeat_interleave(caps)
    return {"audio": audio, "text": text, "caption_clip": clip}


def test_cached_train_batches_follow_the_recipe():
    feats = _feats()
    sampler = EpochSampler(6, seed=0)
    collate = CachedCollate(feats, text_prob=0.2, seed=0, sampler=sampler)
    clips = [4, 0, 2, 5, 1]
    batch = collate(clips)
    assert batch["audio_features"].shape == (5, 4) and batch["text_features"].shape == (5, 5)
    assert batch["caption_clip"].tolist() == [0, 1, 2, 3, 4]
    for i, c in enumerate(clips):
        # the audio row is one of clip c's views; the text row one of its captions' views
        assert any(torch.equal(batch["audio_features"][i], v) for v in feats["audio"][c])
        own = feats["text"][feats["caption_clip"] == c].reshape(-1, 5)
        assert any(torch.equal(batch["text_features"][i], v) for v in own)
    # exactly round(0.2 * 5) = 1 caption uses an augmented (non-zero) text view
    clean = feats["text"][:, 0]
    n_aug = sum(not any(torch.equal(r, c) for c in clean) for r in batch["text_features"])
    assert n_aug == 1
    assert all(
        torch.equal(x, y) for x, y in zip(collate(clips).values(), batch.values(), strict=True)
    )
    sampler.set_epoch(1)
    assert not torch.equal(collate(clips)["audio_features"], batch["audio_features"])


def test_cached_eval_batches_are_clean_and_carry_all_captions():
    feats = _feats()
    batch = CachedEvalCollate(feats)([3, 1])
    assert torch.equal(batch["audio_features"], feats["audio"][[3, 1], 0])
    assert batch["caption_clip"].tolist() == [0, 0, 1, 1]
    assert torch.equal(batch["text_features"], feats["text"][[6, 7, 2, 3], 0])


def test_cache_file_reused_only_for_its_key(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"audio": torch.ones(2, 1, 3), "text": torch.zeros(4, 1, 3)}

    path = tmp_path / "c.safetensors"
    first = load_or_compute(path, "key-a", compute)
    again = load_or_compute(path, "key-a", compute)
    assert len(calls) == 1 and torch.equal(first["audio"], again["audio"])
    load_or_compute(path, "key-b", compute)
    assert len(calls) == 2
    path.write_bytes(b"not a safetensors file")
    load_or_compute(path, "key-b", compute)  # damaged: recomputed, not trusted
    assert len(calls) == 3


@pytest.mark.slow
def test_baseline_from_cache_beats_random_on_held_out_clips(tmp_path):
    import numpy as np

    from audioseek.audio.io import load_audio
    from audioseek.data.manifest import load_manifest
    from audioseek.data.synthetic import write_synthetic_manifest
    from audioseek.eval.metrics import bidirectional_metrics
    from audioseek.models.dual_encoder import DualEncoder
    from audioseek.train.run import run_training

    result = run_training(
        ROOT / "configs/smoke/aisfx_minilm_cached.yaml",
        out_dir=tmp_path / "run",
        device="cpu",
        overrides=[
            "data.synthetic.n_clips=96",  # 72 training clips, 24 validation clips
            "data.batch_size=8",
            "trainer.max_epochs=25",  # 9 steps per epoch -> 225 steps
        ],
    )
    assert (result.model_dir / "heads.safetensors").is_file()  # baseline exports heads only
    assert len(list((tmp_path / "run" / "feature_cache").glob("*.safetensors"))) == 2

    # held-out clips: another seed, never seen in training or checkpoint selection
    manifest = write_synthetic_manifest(
        tmp_path / "held_out", 40, seed=12345, sr=16000, duration=2.0, splits=(("test", 1.0),)
    )
    items = load_manifest(manifest)
    model = DualEncoder.from_pretrained(result.model_dir)
    with torch.inference_mode():
        waves = torch.stack(
            [torch.from_numpy(load_audio(it["audio_path"], model.sample_rate)) for it in items]
        )
        audio = model.encode_audio(waves)
        captions = [c for it in items for c in it["captions"]]
        owner = [i for i, it in enumerate(items) for _ in it["captions"]]
        text = model.encode_text(captions)
    metrics = bidirectional_metrics(audio, text, owner)["text_to_audio"]
    random_map10 = sum(1 / r for r in range(1, 11)) / len(items)  # |R| = 1: E[1/rank; <= 10]
    assert metrics["map@10"] > 3 * random_map10, (metrics, random_map10)
    assert np.isfinite(result.metrics["val/loss"])


@pytest.mark.slow
def test_resume_mid_epoch_is_exact(tmp_path):
    from audioseek.train.run import run_training

    def run(out, max_steps, resume=None):
        return run_training(
            ROOT / "configs/smoke/aisfx_minilm_cached.yaml",
            out_dir=tmp_path / out,
            device="cpu",
            resume=resume,
            overrides=[
                f"data.synthetic.root={tmp_path / 'data'}",
                f"feature_cache.dir={tmp_path / 'cache'}",
                "data.synthetic.n_clips=40",  # 30 training clips: 3 batches of 8 per epoch
                "data.batch_size=8",
                "feature_cache.audio_views=1",
                "feature_cache.text_views=1",
                "optim.scheduler=none",
                "trainer.max_epochs=-1",
                f"trainer.max_steps={max_steps}",
                "trainer.check_val_every_n_epoch=1",
                "trainer.checkpoint_every_n_steps=1",
            ],
        )

    full = run("full", 7)
    run("split", 4)  # stops after the first batch of epoch 1
    resumed = run("split", 7, resume="last")
    a = torch.load(full.last_ckpt, map_location="cpu", weights_only=False)
    b = torch.load(resumed.last_ckpt, map_location="cpu", weights_only=False)
    assert a["global_step"] == b["global_step"] == 7
    for k in a["state_dict"]:
        torch.testing.assert_close(a["state_dict"][k], b["state_dict"][k], rtol=0, atol=0, msg=k)


def test_cached_batches_with_all_captions_per_epoch_index_pairs():
    """captions_per_epoch: all -- an epoch is every (clip, caption) pair once; each row
    carries its clip's id, so two captions of one clip in a batch are positives."""
    feats = _feats(n_clips=4, caps=3, a_views=1, t_views=1)
    sampler = EpochSampler(0, seed=0)
    collate = CachedCollate(feats, text_prob=0.0, seed=0, sampler=sampler, per_epoch="all")
    assert len(collate) == 12
    sampler.n = len(collate)
    seen = []
    for start in range(0, 12, 5):
        idx = list(sampler)[start : start + 5]
        batch = collate(idx)
        assert batch["clip_index"].tolist() == [int(feats["caption_clip"][i]) for i in idx]
        assert torch.equal(batch["text_features"], feats["text"][idx, 0])
        assert torch.equal(batch["audio_features"], feats["audio"][batch["clip_index"], 0])
        seen += idx
    assert sorted(seen) == list(range(12))


def test_a_paraphrase_view_edits_every_caption_it_can():
    """The views are the pool ``text_prob`` draws from: each must be a paraphrase (with
    ``TextAugmenter(prob=0.2)`` calling the batch API, 80% of a view were the clean caption,
    so a batch saw ~4% paraphrases instead of 20%)."""
    from audioseek.text.augment import TextAugmenter
    from audioseek.train.feature_cache import paraphrase_view

    captions = [f"a dog barking loudly near the house {i}" for i in range(50)] + ["", "42"]
    aug = TextAugmenter(prob=0.2, seed=0)
    view = paraphrase_view(aug, captions, "0:text-view:0")
    assert len(view) == len(captions)
    assert all(v != c for v, c in zip(view[:50], captions[:50], strict=True))
    assert view[50:] == ["", "42"]  # nothing to edit: kept
    assert view == paraphrase_view(aug, captions, "0:text-view:0")  # seeded
    assert view != paraphrase_view(aug, captions, "0:text-view:1")
