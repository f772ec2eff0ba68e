"""The caption memory (audioseek.models.memory, offline model v4): a bank of (audio key,
caption vector) pairs beside the projection heads, concatenated into one shared space."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from audioseek.errors import ConfigError
from audioseek.models.dual_encoder import DualEncoder
from audioseek.models.factory import ModelConfig, build_model
from audioseek.models.memory import (
    CaptionMemoryHead,
    MemoryTextHead,
    check_memory,
    quantize_rows,
)


def _bank(n=40, in_dim=12, text_dim=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, in_dim, generator=g), torch.randn(n, text_dim, generator=g)


def _heads(k=5, tau=0.05, alpha=0.5, n=40, in_dim=12, text_dim=8, head_dim=6):
    torch.manual_seed(0)
    a = CaptionMemoryHead(in_dim, head_dim, text_dim, n, k, tau, alpha).eval()
    keys, values = _bank(n, in_dim, text_dim)
    a.fill(keys, values)
    t = MemoryTextHead(text_dim, head_dim, alpha).eval()
    return a, t, keys, values


def test_int8_rows_keep_unit_vectors_within_a_thousandth():
    x = F.normalize(torch.randn(500, 384), dim=-1)
    q, scale = quantize_rows(x)
    assert q.dtype == torch.int8 and scale.shape == (500,)
    back = q.float() * scale[:, None]
    cos = F.cosine_similarity(back, x, dim=-1)
    assert cos.min() > 0.999


def test_a_bank_clip_recalls_its_own_captions_at_a_low_temperature():
    a, _, keys, values = _heads(k=5, tau=1e-4)
    with torch.inference_mode():
        out = a.recall(keys[:7])
    want = F.normalize(values[:7], dim=-1)
    assert F.cosine_similarity(out, want, dim=-1).min() > 0.998
    # a high temperature mixes the k neighbours: no longer the clip's own captions alone
    a.tau = 100.0
    with torch.inference_mode():
        mixed = a.recall(keys[:7])
    assert F.cosine_similarity(mixed, want, dim=-1).max() < 0.99


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.5, 1.0])
def test_the_cosine_is_alpha_heads_plus_rest_memory(alpha):
    a, t, keys, values = _heads(alpha=alpha)
    x, q = torch.randn(3, 12), torch.randn(4, 8)
    with torch.inference_mode():
        ea, et = a(x), t(q)
        heads = F.normalize(a.proj(x), dim=-1) @ F.normalize(t.proj(q), dim=-1).T
        memory = a.recall(x) @ F.normalize(q, dim=-1).T
    assert ea.shape == (3, 6 + 8) and et.shape == (4, 6 + 8) and a.out_dim == t.out_dim == 14
    assert torch.allclose(ea.norm(dim=-1), torch.ones(3), atol=1e-5)
    assert torch.allclose(et.norm(dim=-1), torch.ones(4), atol=1e-5)
    assert torch.allclose(ea @ et.T, alpha * heads + (1 - alpha) * memory, atol=1e-5)


def test_a_clip_gets_the_same_vector_alone_or_in_a_batch():
    a, _, _, _ = _heads()
    x = torch.randn(9, 12)
    with torch.inference_mode():
        together = a(x)
        alone = torch.cat([a(x[i : i + 1]) for i in range(9)])
    assert torch.allclose(together, alone, atol=1e-6)


def test_fill_refuses_a_bank_of_another_shape():
    a, _, keys, values = _heads()
    with pytest.raises(ConfigError, match="memory bank shapes"):
        a.fill(keys[:-1], values[:-1])


@pytest.mark.parametrize(
    "memory, match",
    [
        ({"size": 10, "k": 3, "tau": 0.1, "alpha": 0.5}, "missing"),
        ({"size": 10, "k": 3, "tau": 0.1, "alpha": 0.5, "text_dim": 8, "x": 1}, "unknown"),
        ({"size": 0, "k": 3, "tau": 0.1, "alpha": 0.5, "text_dim": 8}, "positive integers"),
        ({"size": 10, "k": 3, "tau": 0, "alpha": 0.5, "text_dim": 8}, "tau"),
        ({"size": 10, "k": 3, "tau": 1e-40, "alpha": 0.5, "text_dim": 8}, "tau"),
        ({"size": 10, "k": 3, "tau": 0.1, "alpha": 1.5, "text_dim": 8}, "alpha"),
        ({"size": 10, "k": 3, "tau": 0.1, "alpha": 0.5, "text_dim": 8, "beta": -1}, "beta"),
        (
            {"size": 10, "k": 3, "tau": 0.1, "alpha": 0.5, "text_dim": 8, "reverse_k": 0},
            "reverse_k",
        ),
        ("big", "mapping"),
    ],
)
def test_bad_memory_configs_are_refused(memory, match):
    with pytest.raises(ConfigError, match=match):
        check_memory(memory)


def _memory_model(text_dir, size=16):
    torch.manual_seed(0)
    cfg = ModelConfig(
        audio_encoder="small_cnn",
        audio_encoder_args={"channels": [8, 8, 16, 16], "clip_seconds": 1.0},
        text_encoder=str(text_dir),
        text_encoder_args={"pooling": "mean"},
        embed_dim=24,
        memory={"size": size, "k": 4, "tau": 0.05, "alpha": 0.5, "text_dim": 32, "beta": 0.5},
    )
    model = build_model(cfg).eval()
    g = torch.Generator().manual_seed(1)
    model.audio_head.fill(torch.randn(size, 16, generator=g), torch.randn(size, 32, generator=g))
    return model


def test_config_without_memory_is_saved_as_before():
    d = ModelConfig(audio_encoder="aisfx", text_encoder="minilm").to_dict()
    assert "memory" not in d  # fingerprints of models saved before the memory stay the same


def test_memory_text_dim_must_match_the_text_encoder(tiny_roberta_dir):
    cfg = {
        "audio_encoder": "small_cnn",
        "text_encoder": str(tiny_roberta_dir),
        "text_encoder_args": {"pooling": "mean"},
        "embed_dim": 24,
        "memory": {"size": 4, "k": 2, "tau": 0.1, "alpha": 0.5, "text_dim": 31},
    }
    with pytest.raises(ConfigError, match="text_dim is 31"):
        build_model(cfg)


def test_model_with_memory_round_trips_and_loads_for_audio_only(tiny_roberta_dir, tmp_path):
    model = _memory_model(tiny_roberta_dir)
    assert model.embed_dim == 24 + 32
    wave = torch.randn(2, 16000)
    with torch.inference_mode():
        a, t = model.encode_audio(wave), model.encode_text(["rain", "a dog"])
    model.save_pretrained(tmp_path / "m")
    back = DualEncoder.from_pretrained(tmp_path / "m")
    audio_only = DualEncoder.from_pretrained(tmp_path / "m", text=False)
    with torch.inference_mode():
        assert torch.equal(back.encode_audio(wave), a)
        assert torch.equal(back.encode_text(["rain", "a dog"]), t)
        assert torch.equal(audio_only.encode_audio(wave), a)
    assert back.fingerprint == model.fingerprint
    assert torch.equal(back.audio_head.keys, model.audio_head.keys)


def test_a_heads_only_save_stores_the_bank(tiny_roberta_dir, tmp_path):
    from safetensors.torch import load_file

    model = _memory_model(tiny_roberta_dir, size=8)
    model.save_pretrained(tmp_path / "h", heads_only=True)
    stored = load_file(str(tmp_path / "h" / "heads.safetensors"))
    assert stored["audio_head.keys"].dtype == torch.int8
    assert stored["audio_head.keys"].shape == (8, 16)
    assert stored["audio_head.values"].shape == (8, 32)
    assert math.isclose(
        float(stored["audio_head.key_scale"].sum()), float(model.audio_head.key_scale.sum())
    )


def _reverse_heads(beta=0.5, reverse_k=3, reverse_tau=0.05):
    a, _, keys, values = _heads()
    torch.manual_seed(1)
    t = MemoryTextHead(
        8, 6, 0.5, audio_head=a, reverse_k=reverse_k, reverse_tau=reverse_tau, beta=beta
    ).eval()
    return a, t, keys, values


def test_the_text_side_mixes_in_the_audio_of_the_bank_clips_its_words_recall():
    a, t, keys, values = _reverse_heads(beta=0.5, reverse_k=3)
    q = torch.randn(5, 8)
    with torch.inference_mode():
        out = t(q)
        bank_audio = F.normalize(a.proj(a.keys.float() * a.key_scale[:, None]), dim=-1)
        vals = F.normalize(a.values.float() * a.value_scale[:, None], dim=-1)
        top, idx = (F.normalize(q, dim=-1) @ vals.T).topk(3, dim=-1)
        rev = F.normalize(
            (torch.softmax(top / 0.05, -1)[..., None] * bank_audio[idx]).sum(1), dim=-1
        )
        own = F.normalize(t.proj(q), dim=-1)
    head_part = out[:, :6] / math.sqrt(0.5)
    assert torch.allclose(head_part, F.normalize(0.5 * own + 0.5 * rev, dim=-1), atol=1e-5)
    assert torch.allclose(out[:, 6:] / math.sqrt(0.5), F.normalize(q, dim=-1), atol=1e-5)
    # beta = 1: the query's own head vector only (the v4 memory without the reverse path)
    t.beta = 1.0
    with torch.inference_mode():
        assert torch.allclose(t(q)[:, :6] / math.sqrt(0.5), own, atol=1e-5)


def test_a_caption_of_a_bank_clip_recalls_that_clips_audio():
    a, t, keys, values = _reverse_heads(beta=0.0, reverse_k=4, reverse_tau=1e-4)
    with torch.inference_mode():
        out = t(values[:6])[:, :6] / math.sqrt(0.5)
        want = F.normalize(a.proj(keys[:6]), dim=-1)
    assert F.cosine_similarity(out, want, dim=-1).min() > 0.99


def test_the_cached_bank_audio_follows_new_head_weights():
    a, t, _, _ = _reverse_heads(beta=0.0)
    q = torch.randn(3, 8)
    with torch.inference_mode():
        before = t(q)
    new = {k: torch.randn_like(v) for k, v in a.proj.state_dict().items()}
    a.proj.load_state_dict(new)
    with torch.inference_mode():
        after = t(q)
        bank_audio = F.normalize(a.proj(a.keys.float() * a.key_scale[:, None]), dim=-1)
    assert not torch.allclose(before, after)
    assert torch.allclose(t._bank_audio(), bank_audio, atol=1e-6)


def test_the_reverse_path_needs_the_bank():
    with pytest.raises(ConfigError, match="needs the memory's audio head"):
        MemoryTextHead(8, 6, 0.5, beta=0.5)


def test_a_config_claiming_another_bank_size_is_refused_before_building(tiny_roberta_dir, tmp_path):
    import json

    from audioseek.errors import ModelLoadError

    model = _memory_model(tiny_roberta_dir, size=8)
    model.save_pretrained(tmp_path / "m")
    cfg_file = tmp_path / "m" / "config.json"
    cfg = json.loads(cfg_file.read_text())
    cfg["model_config"]["memory"]["size"] = 10**12  # would allocate 16 TB of bank rows
    cfg_file.write_text(json.dumps(cfg))
    with pytest.raises(
        ModelLoadError, match="memory.size is 1000000000000 but the stored bank has 8 rows"
    ):
        DualEncoder.from_pretrained(tmp_path / "m")


def test_a_bank_stored_as_floats_is_refused_not_cast_to_zeros(tiny_roberta_dir, tmp_path):
    from safetensors.torch import load_file, save_file

    from audioseek.errors import ModelLoadError

    model = _memory_model(tiny_roberta_dir, size=8)
    model.save_pretrained(tmp_path / "m")
    weights = tmp_path / "m" / "model.safetensors"
    state = load_file(str(weights))
    state["audio_head.keys"] = torch.rand(8, 16)  # int8 buffer: would load as all zeros
    save_file(state, str(weights))
    with pytest.raises(ModelLoadError, match="bank's keys are float32, not int8"):
        DualEncoder.from_pretrained(tmp_path / "m")
