from __future__ import annotations

import pytest
from torch import nn

from audioseek.errors import ConfigError, ModelLoadError
from audioseek.models import registry
from audioseek.models.registry import (
    build_audio_encoder,
    build_text_encoder,
    register_audio_encoder,
)

AUDIO_KEYS = {"resnet50", "vit_b_16", "cnn14", "aisfx", "small_cnn", "clap-htsat"}
TEXT_KEYS = {"roberta-base", "minilm", "clap-htsat"}


def test_builtin_keys_registered():
    assert set(registry.audio_encoder_names()) >= AUDIO_KEYS
    assert set(registry.text_encoder_names()) >= TEXT_KEYS


def test_unknown_audio_encoder_lists_known_keys():
    with pytest.raises(ConfigError) as ei:
        build_audio_encoder("resnet5O")
    msg = str(ei.value)
    assert "'resnet5O'" in msg
    for key in AUDIO_KEYS:
        assert key in msg
    assert "\n" not in msg


def test_bad_builder_arguments_are_config_errors():
    with pytest.raises(ConfigError, match="small_cnn.*no_such_arg"):
        build_audio_encoder("small_cnn", no_such_arg=1)


def test_register_new_encoder_by_decorator():
    class Const(nn.Module):
        output_dim = 3

    @register_audio_encoder("test-const")
    def const(scale: float = 1.0):
        m = Const()
        m.scale = scale
        return m

    try:
        enc = build_audio_encoder("test-const", scale=2.0)
        assert isinstance(enc, Const) and enc.scale == 2.0
        with pytest.raises(ConfigError, match="already registered"):
            register_audio_encoder("test-const")(lambda: None)
    finally:
        registry.AUDIO_ENCODERS.pop("test-const")


def test_unregistered_text_name_is_treated_as_path_or_hub_id(tmp_path):
    with pytest.raises(ModelLoadError, match="not found"):
        build_text_encoder(str(tmp_path / "missing-encoder"))
    # a hub id that is not cached: HF_HUB_OFFLINE=1 in tests, so it cannot be fetched
    with pytest.raises(ModelLoadError, match="no-such-org/no-such-model"):
        build_text_encoder("no-such-org/no-such-model")


def test_registered_hub_encoder_offline_is_a_load_error():
    with pytest.raises(ModelLoadError, match="'roberta-base'"):
        build_text_encoder("roberta-base")  # not in the (offline) cache


def test_invalid_text_encoder_name():
    with pytest.raises(ConfigError, match="minilm"):
        build_text_encoder("")
