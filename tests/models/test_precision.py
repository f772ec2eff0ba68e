"""Inference precision: float32 normalised outputs, batch invariance, fingerprints."""

from __future__ import annotations

import pytest
import torch

from audioseek.errors import ModelLoadError
from audioseek.models.dual_encoder import DualEncoder
from audioseek.models.hub import load_model
from audioseek.models.precision import PRECISIONS, apply_precision

CAPTIONS = ["a dog barks", "rain falls on a tin roof", "birds sing", "an engine revs"]


def _clap(tiny_clap_dir, precision="fp32") -> DualEncoder:
    """The tiny random CLAP (HTS-AT + RoBERTa: Linear layers in both towers)."""
    return load_model(str(tiny_clap_dir), device="cpu", precision=precision)


@pytest.fixture(scope="module")
def waves():
    g = torch.Generator().manual_seed(0)
    t = torch.arange(48000 * 2) / 48000
    rows = [torch.sin(2 * torch.pi * f * t) * 0.3 for f in (220.0, 440.0, 880.0, 1760.0)]
    return torch.stack(rows) + 0.01 * torch.randn(4, t.numel(), generator=g)


@pytest.mark.parametrize("precision", PRECISIONS)
def test_row_depends_only_on_its_input_bit_exactly(tiny_clap_dir, waves, precision):
    """At a fixed batch shape (how the indexer embeds), a row's vector is the same bit for bit
    whatever the other rows hold; int8 also gives the batch-of-one vector."""
    model = _clap(tiny_clap_dir, precision)
    with torch.inference_mode():
        a = model.encode_audio(waves)
        t = model.encode_text(CAPTIONS)
        for i in range(4):
            alone = torch.zeros_like(waves)
            alone[0] = waves[i]
            assert torch.equal(model.encode_audio(alone)[0], a[i])
            assert torch.equal(model.encode_text([CAPTIONS[i], "", "", ""])[0], t[i])
            if precision == "int8":
                assert torch.equal(model.encode_audio(waves[i : i + 1])[0], a[i])
                assert torch.equal(model.encode_text([CAPTIONS[i]])[0], t[i])
        assert torch.equal(model.encode_audio(waves), a)  # same input -> same vector
    for x in (a, t):
        assert x.dtype == torch.float32 and x.shape == (4, 16)
        torch.testing.assert_close(x.norm(dim=-1), torch.ones(4))


@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_reduced_precision_stays_close_to_fp32_and_changes_the_fingerprint(
    tiny_clap_dir, waves, precision
):
    ref = _clap(tiny_clap_dir)
    model = _clap(tiny_clap_dir, precision)
    assert model.precision == precision and ref.precision == "fp32"
    assert model.fingerprint == f"{ref.fingerprint}+{precision}"
    assert _clap(tiny_clap_dir, precision).fingerprint == model.fingerprint  # stable
    with torch.inference_mode():
        a, a0 = model.encode_audio(waves), ref.encode_audio(waves)
        t, t0 = model.encode_text(CAPTIONS), ref.encode_text(CAPTIONS)
    for x, x0 in ((a, a0), (t, t0)):
        cos = (x * x0).sum(-1)
        assert bool((cos > 0.95).all()), cos  # a random tiny model: loose, but not unrelated
        assert not torch.equal(x, x0)  # the conversion did change the computation
    if precision == "int8":
        qlinear = torch.ao.nn.quantized.dynamic.Linear
        assert any(isinstance(m, qlinear) for m in model.audio_encoder.modules())
        assert any(isinstance(m, qlinear) for m in model.text_encoder.modules())
        assert not any(isinstance(m, torch.nn.Linear) for m in model.text_encoder.modules())


def test_fp32_keeps_the_plain_fingerprint(tiny_clap_dir):
    plain = DualEncoder.from_pretrained(tiny_clap_dir)
    assert _clap(tiny_clap_dir, "FP32").fingerprint == plain.fingerprint
    assert "+" not in plain.fingerprint


def test_bad_precision_and_misuse_are_one_line_errors(tiny_clap_dir, tmp_path, monkeypatch):
    import audioseek.models.hub as hub

    def must_not_load(*a, **k):
        raise AssertionError("loaded a model for a bad precision")

    monkeypatch.setattr(hub, "_load", must_not_load)
    with pytest.raises(ModelLoadError, match=r"unknown precision 'fp16'.*'fp32', 'bf16', 'int8'"):
        load_model(str(tiny_clap_dir), precision="fp16")
    monkeypatch.undo()
    model = _clap(tiny_clap_dir, "int8")
    with pytest.raises(ModelLoadError, match="cannot save a int8 model"):
        model.save_pretrained(tmp_path / "q")
    assert not (tmp_path / "q").exists()
    with pytest.raises(ModelLoadError, match="already converted to 'int8'"):
        apply_precision(model, "bf16")
    assert apply_precision(model, "int8") is model
