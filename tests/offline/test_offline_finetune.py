"""scripts/offline_finetune_block4.py (the block-4 fine-tuning measured for issue 16): the
cached block-3 maps, run through aisfx's block 4 and its pooling, are the encoder's own
output, so a run that starts from the cache starts from exactly the frozen model."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import torch.nn.functional as F


@pytest.fixture(scope="module")
def ft(import_script):
    return import_script("offline_finetune_block4")


def _corpus(root: Path) -> Path:
    """Three clips (a 5-s chirp, 1.5 s of noise, a 7-s tone) in a v2-style manifest."""
    sr = 44100
    rng = np.random.default_rng(0)
    t5 = np.arange(5 * sr) / sr
    clips = {
        "train": np.sin(2 * np.pi * (200 + 600 * t5) * t5) * 0.5,
        "val": rng.standard_normal(int(1.5 * sr)) * 0.2,
        "heldout": np.sin(2 * np.pi * 440 * np.arange(7 * sr) / sr) * 0.3,
    }
    (root / "audio" / "src").mkdir(parents=True)
    rows = []
    for split, wave in clips.items():
        rel = f"audio/src/{split}.flac"
        sf.write(root / rel, wave.astype(np.float32), sr)
        rows.append({"path": rel, "source": "src", "split": split, "caption_1": split})
    rows.append({**rows[0], "path": "audio/src/test.flac", "split": "test"})  # not cached
    manifest = root / "manifest.csv"
    with open(manifest, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return manifest


@pytest.mark.slow
def test_cached_maps_through_block4_are_the_encoders_output(ft, tmp_path):
    from offline_features import CLIP_SECONDS, _encoders

    from audioseek.data.dataset import AudioCaptionDataset

    torch.set_num_threads(1)
    manifest = _corpus(tmp_path / "corpus")
    out = tmp_path / "cache"
    for k in (0, 1):  # two shards, as run in parallel
        ft.cache(manifest, out, k, 2, batch=2)
    maps = ft.Block3Cache(out)
    paths = ["audio/src/train.flac", "audio/src/val.flac", "audio/src/heldout.flac"]
    assert all(p in maps for p in paths) and "audio/src/test.flac" not in maps
    x3 = maps(paths)
    assert x3.shape == (3, *ft.MAP_SHAPE) and x3.dtype == torch.float32

    model = _encoders()
    items = [
        {"audio_path": str(manifest.parent / p), "captions": ["x"], "item_id": p, "clip_index": i}
        for i, p in enumerate(paths)
    ]
    ds = AudioCaptionDataset(items, int(model.sample_rate), CLIP_SECONDS, caption="all")
    with torch.inference_mode():
        want = model.audio_encoder(torch.stack([ds.load_waveform(i) for i in range(3)]))
        got = ft.pool(model.audio_encoder.backbone.conv_block4(x3))
    # float16 maps: the encoder's output to about 1e-3, the same direction
    assert torch.allclose(got, want, atol=5e-3, rtol=5e-3)
    assert F.cosine_similarity(got, want).min() > 0.9999
    # the clips differ, so this is not a constant output
    assert F.cosine_similarity(want[0:1], want[1:2]).item() < 0.999


def test_no_finished_shard_is_a_clear_stop(ft, tmp_path):
    (tmp_path / "block3.0.npy").write_bytes(b"")  # a shard still running: no .paths yet
    with pytest.raises(SystemExit, match="no finished block3 shards"):
        ft.Block3Cache(tmp_path)
