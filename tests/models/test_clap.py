from __future__ import annotations

import math

import numpy as np
import torch

from audioseek.models.dual_encoder import DualEncoder
from audioseek.models.registry import build_audio_encoder, build_text_encoder


def _clap(tiny_clap_dir):
    from transformers import ClapModel, ClapProcessor

    return ClapModel.from_pretrained(tiny_clap_dir).eval(), ClapProcessor.from_pretrained(
        tiny_clap_dir
    )


def test_clap_towers_match_clap_model(tiny_clap_dir, noise):
    model, proc = _clap(tiny_clap_dir)
    audio = build_audio_encoder("clap-htsat", source=str(tiny_clap_dir)).eval()
    text = build_text_encoder("clap-htsat", source=str(tiny_clap_dir)).eval()
    assert audio.output_dim == 16 and audio.sample_rate == 48000 and audio.clip_seconds == 10.0
    assert text.output_dim == 16
    for enc, first, last in ((audio, "patch_embed", "head"), (text, "embeddings", "pooler")):
        groups = enc.block_groups()
        assert groups[0][0] == first and groups[-1][0] == last
        ids = [id(p) for _, ps in groups for p in ps]
        assert sorted(ids) == sorted(id(p) for p in enc.parameters())
    wave = noise(2, 3.0, 48000)  # shorter than 10 s: repeat-padded like ClapFeatureExtractor
    caps = ["a dog barks", "rain falls on a tin roof"]
    with torch.no_grad():
        a = audio(torch.from_numpy(wave))
        t = text(**text.tokenize(caps))
        feats = proc.feature_extractor(list(wave), sampling_rate=48000, return_tensors="pt")
        ref_a = model.get_audio_features(**feats).pooler_output
        ref_t = model.get_text_features(**proc.tokenizer(caps, return_tensors="pt", padding=True))
    torch.testing.assert_close(torch.nn.functional.normalize(a, dim=-1), ref_a, atol=1e-5, rtol=0)
    torch.testing.assert_close(
        torch.nn.functional.normalize(t, dim=-1), ref_t.pooler_output, atol=1e-5, rtol=0
    )


def test_clap_long_input_is_centre_cropped_deterministically(tiny_clap_dir, noise):
    audio = build_audio_encoder("clap-htsat", source=str(tiny_clap_dir)).eval()
    wave = torch.from_numpy(noise(1, 12.0, 48000))
    with torch.no_grad():
        a1, a2 = audio(wave), audio(wave)
        centre = audio(wave[:, 48000:-48000])
    assert torch.equal(a1, a2)
    torch.testing.assert_close(a1, centre)


def test_clap_directory_loads_as_dual_encoder(tiny_clap_dir, noise):
    model, proc = _clap(tiny_clap_dir)
    de = DualEncoder.from_pretrained(tiny_clap_dir)
    assert not de.training
    assert de.model_id == str(tiny_clap_dir.resolve())
    assert de.sample_rate == 48000 and de.embed_dim == 16
    assert math.isclose(float(de.scale()), math.exp(3.0), rel_tol=1e-6)  # CLAP's logit_scale_t
    assert sum(p.numel() for p in de.audio_head.parameters()) == 0  # identity heads
    wave = noise(1, 2.0, 48000)
    with torch.no_grad():
        emb = de.encode_audio(wave)
        ref = model.get_audio_features(
            **proc.feature_extractor(list(wave), sampling_rate=48000, return_tensors="pt")
        ).pooler_output
        t = de.encode_text(["a dog barks"])
    torch.testing.assert_close(emb, ref, atol=1e-5, rtol=0)
    assert np.isclose(float(t.norm()), 1.0, atol=1e-5)
    audio = DualEncoder.from_pretrained(tiny_clap_dir, text=False)  # an embedding worker's
    assert not audio.has_text and audio.sample_rate == 48000
    with torch.no_grad():
        assert torch.equal(audio.encode_audio(wave), emb)


def test_clap_dual_encoder_full_export_round_trip(tmp_path, tiny_clap_dir, noise):
    de = DualEncoder.from_pretrained(tiny_clap_dir)
    out = de.save_pretrained(tmp_path / "clap-export")
    back = DualEncoder.from_pretrained(out)
    sd0, sd1 = de.state_dict(), back.state_dict()
    assert sd0.keys() == sd1.keys() and all(torch.equal(sd0[k], sd1[k]) for k in sd0)
    assert back.fingerprint == de.fingerprint
    assert float(back.scale()) == float(de.scale())
    wave = noise(1, 1.0, 48000)
    with torch.no_grad():
        assert torch.equal(back.encode_audio(wave), de.encode_audio(wave))
        assert torch.equal(back.encode_text(["rain"]), de.encode_text(["rain"]))


def _real_or_generated(noise) -> list[np.ndarray]:
    """Real recordings at 48 kHz when the sonic-pi samples are installed (one-shots and an
    11 s loop), else generated clips of the same lengths."""
    from pathlib import Path

    from audioseek.audio.io import load_audio

    names = ("bd_gas", "misc_crow", "ambi_choir", "loop_tabla")
    paths = [Path("/usr/share/sonic-pi/samples") / f"{n}.flac" for n in names]
    if all(p.is_file() for p in paths):
        return [load_audio(p, 48000) for p in paths]
    return [noise(1, s, 48000, seed=i)[0] for i, s in enumerate((0.45, 0.48, 1.57, 10.67))]


def test_torch_front_end_embeddings_match_the_extractor_path(tiny_clap_dir, noise):
    """The DualEncoder (torch ClapLogMel) == ClapFeatureExtractor + ClapModel (the old path),
    clips of mixed lengths in one batch == each clip alone (bit for bit)."""
    from audioseek.models.clap import clap_fit_batch

    model, proc = _clap(tiny_clap_dir)
    de = DualEncoder.from_pretrained(tiny_clap_dir)
    clips = _real_or_generated(noise)
    fe = proc.feature_extractor
    cropped = []
    for c in clips:  # the extractor's own crop of a long clip is random: give it the centre
        over = len(c) - fe.nb_max_samples
        cropped.append(c[over // 2 : over // 2 + fe.nb_max_samples] if over > 0 else c)
    with torch.no_grad():
        ref = model.get_audio_features(
            **fe([c.astype(np.float64) for c in cropped], sampling_rate=48000, return_tensors="pt")
        ).pooler_output
        batch = de.encode_audio(clap_fit_batch(de.audio_encoder, clips))
        alone = [de.encode_audio(clap_fit_batch(de.audio_encoder, [c])) for c in clips]
    torch.testing.assert_close(batch, torch.nn.functional.normalize(ref, dim=-1), atol=1e-5, rtol=0)
    for i, a in enumerate(alone):
        torch.testing.assert_close(batch[i], a[0], atol=1e-6, rtol=0)
        # a clip given at its own length is the same as the fitted clip
        assert torch.equal(a, de.encode_audio(torch.from_numpy(clips[i])[None]))
