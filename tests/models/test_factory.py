from __future__ import annotations

import math

import pytest

from audioseek.errors import ConfigError
from audioseek.models.factory import ModelConfig, build_model


def test_unknown_and_missing_keys():
    with pytest.raises(ConfigError, match="embed_dimm"):
        ModelConfig.from_dict({"audio_encoder": "small_cnn", "text_encoder": "x", "embed_dimm": 3})
    with pytest.raises(ConfigError, match="text_encoder"):
        ModelConfig.from_dict({"audio_encoder": "small_cnn"})
    with pytest.raises(ConfigError, match="embed_dim"):
        ModelConfig.from_dict({"audio_encoder": "a", "text_encoder": "b", "embed_dim": None})
    with pytest.raises(ConfigError, match="temperature_init"):
        ModelConfig.from_dict({"audio_encoder": "a", "text_encoder": "b", "temperature_init": 0})


def test_build_model_from_dict(tiny_roberta_dir):
    cfg = {
        "audio_encoder": "small_cnn",
        "audio_encoder_args": {"channels": [4, 8, 8, 16]},
        "text_encoder": str(tiny_roberta_dir),
        "text_encoder_args": {"pooling": "mean", "max_length": 12},
        "embed_dim": 24,
        "head": "mlp",
        "head_dropout": 0.1,
        "temperature_init": 0.05,
        "learn_temperature": False,
    }
    model = build_model(cfg)
    assert model.audio_head.in_dim == 16 and model.audio_head.out_dim == 24
    assert model.text_head.in_dim == 32 and model.text_head.out_dim == 24
    assert model.text_encoder.max_length == 12 and model.text_encoder.pooling == "mean"
    assert math.isclose(float(model.scale()), 20.0, rel_tol=1e-6)
    assert not model.logit_scale.requires_grad
    assert model.config == ModelConfig.from_dict(cfg).to_dict()


def test_identity_head_needs_equal_sizes(tiny_roberta_dir):
    cfg = ModelConfig(
        audio_encoder="small_cnn",
        text_encoder=str(tiny_roberta_dir),
        embed_dim=None,
        head="identity",
    )
    with pytest.raises(ConfigError, match="identity head"):
        build_model(cfg)  # small_cnn gives 128, the tiny RoBERTa 32
