"""Tiny models saved in exactly the real on-disk formats (never downloaded)."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def tiny_clap_dir(tmp_path_factory, make_bpe_tokenizer, tiny_clap_audio_config):
    """A random tiny ``ClapModel`` + ``ClapProcessor`` saved with ``save_pretrained``."""
    import torch
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel, ClapProcessor

    d = tmp_path_factory.mktemp("tiny_clap")
    tok = make_bpe_tokenizer(d)
    cfg = ClapConfig(
        text_config=dict(
            vocab_size=len(tok),
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=37,
            max_position_embeddings=80,
            projection_dim=16,
        ),
        audio_config=tiny_clap_audio_config,
        projection_dim=16,
    )
    torch.manual_seed(0)
    model = ClapModel(cfg)
    with torch.no_grad():  # a non-default learned temperature, so tests can see it is used
        model.logit_scale_t.fill_(3.0)
    model.save_pretrained(d)
    processor = ClapProcessor(
        feature_extractor=ClapFeatureExtractor(truncation="rand_trunc", padding="repeatpad"),
        tokenizer=tok,
    )
    processor.save_pretrained(d)
    return d


@pytest.fixture
def noise():
    """``noise(n, seconds, sr)`` -> (n, samples) float32 coloured noise + tones, seeded."""

    def make(n: int, seconds: float, sr: int, seed: int = 0) -> np.ndarray:
        rng = np.random.default_rng(seed)
        t = np.arange(int(round(seconds * sr))) / sr
        out = []
        for i in range(n):
            f = 200.0 * (i + 1)
            x = 0.3 * np.sin(2 * np.pi * f * t) + 0.05 * rng.standard_normal(t.shape)
            out.append(x * np.linspace(0.2, 1.0, t.size))
        return np.stack(out).astype(np.float32)

    return make
