"""Augmentation lives in the training path only: identity in eval mode, active in training,
seeded and reproducible; validation batches are never augmented; the augmentation is the
LightningModule's, never part of the model it exports."""

from __future__ import annotations

import pytest
import torch

from audioseek.train.config import load_config
from audioseek.train.datamodule import EpochSampler, EvalCollate, TrainCollate
from audioseek.train.freezing import apply_freezing


@pytest.fixture(scope="module")
def parts():
    from audioseek.audio.augment import SpectrogramAugment
    from audioseek.models.factory import build_model
    from audioseek.train.module import RetrievalModule

    cfg = load_config(
        {
            "model": {
                "audio_encoder": "small_cnn",
                "audio_encoder_args": {"sample_rate": 16000, "clip_seconds": 1.0},
                "text_encoder": "minilm",
                "embed_dim": 16,
            },
            "freeze": {"policy": "baseline"},
        }
    )
    torch.manual_seed(0)
    model = build_model(cfg.model)
    groups = apply_freezing(model, cfg.freeze, cfg.optim.lr)
    module = RetrievalModule(model, groups, cfg.optim, audio_augment=SpectrogramAugment())
    captions = ["a dog barks", "rain falls on a roof", "a bell rings twice"]
    tok = model.text_encoder.tokenize(captions)
    batch = {
        "waveforms": torch.randn(3, 16000) * 0.1,
        "input_ids": tok["input_ids"],
        "attention_mask": tok["attention_mask"],
        "caption_clip": torch.arange(3),
    }
    return module, batch


def test_eval_mode_is_identity(parts):
    module, batch = parts
    module.eval()
    assert not module.audio_augment.training
    with torch.no_grad():
        a1, t1 = module.embed(batch)
        a2, t2 = module.embed(batch)
        a_plain = module.model.encode_audio(batch["waveforms"])  # what the export computes
    assert torch.equal(a1, a2) and torch.equal(t1, t2)
    torch.testing.assert_close(a1, a_plain)


def test_augmentation_is_not_part_of_the_model(parts):
    module, _ = parts
    assert isinstance(module.model.audio_encoder.augment, torch.nn.Identity)
    assert not any(k.startswith("audio_augment") for k in module.model.state_dict())
    assert all(m is not module.audio_augment for m in module.model.modules())


def test_training_mode_augments_audio_but_frozen_encoders_stay_eval(parts):
    module, batch = parts
    module.eval()
    with torch.no_grad():
        clean, text_clean = module.embed(batch)
    module.train()
    try:
        enc = module.model.audio_encoder
        assert module.audio_augment.training and not enc.backbone.training  # frozen: eval
        assert not module.model.text_encoder.training
        with torch.no_grad():
            augmented, text = module.embed(batch)
    finally:
        module.eval()
    assert not torch.allclose(clean, augmented, atol=1e-4)
    torch.testing.assert_close(text, text_clean)  # text is augmented in the collate, not here


@pytest.mark.slow  # loads WordNet
def test_text_augmentation_in_the_train_collate_only():
    from audioseek.text.augment import TextAugmenter

    def tokenizer(texts):
        return {"input_ids": [[len(t)] for t in texts]}

    items = [
        {
            "waveform": torch.zeros(10),
            "captions": [f"a loud dog barks near the house number {i}"],
            "clip_index": i,
            "item_id": str(i),
        }
        for i in range(10)
    ]
    sampler = EpochSampler(10, seed=0)
    train = TrainCollate(tokenizer, 30, TextAugmenter(prob=0.2, seed=0), sampler, seed=0)
    out = train(items)
    original = [it["captions"][0] for it in items]
    changed = [a != b for a, b in zip(out["captions"], original, strict=True)]
    assert sum(changed) == 2  # 20% of the batch
    assert train(items)["captions"] == out["captions"]  # seeded: same batch, same edits
    assert EvalCollate(tokenizer, 30)(items)["captions"] == original


def test_epoch_sampler_depends_only_on_seed_and_epoch():
    a, b = EpochSampler(50, seed=3), EpochSampler(50, seed=3)
    assert list(a) == list(b) and sorted(a) == list(range(50))
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first
