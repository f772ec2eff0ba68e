"""Spectrogram, log-mel and image adapter against independent numpy/scipy computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.signal
import torch

from audioseek.audio.features import (
    CLAP_LOGMEL,
    IMAGENET_MEAN,
    IMAGENET_STD,
    PANN_LOGMEL,
    ImageAdapter,
    LogMel,
    Spectrogram,
    hz_to_mel,
    image_adapter,
    log_mel,
    mel_filterbank,
    mel_to_hz,
    power_to_db,
    spectrogram,
)


def waves(batch=3, n=8000, seed=0) -> torch.Tensor:
    g = np.random.default_rng(seed)
    t = np.arange(n) / 16000
    x = [0.3 * np.sin(2 * np.pi * f * t) + 0.05 * g.standard_normal(n) for f in (440, 1000, 3000)]
    return torch.tensor(np.stack(x[:batch]), dtype=torch.float32)


def numpy_stft_mag(x: np.ndarray, n_fft: int, hop: int, window: str = "hann") -> np.ndarray:
    """Reference: reflect-pad n_fft//2, frame every hop, periodic window, rfft, |.|."""
    w = scipy.signal.get_window(window, n_fft, fftbins=True)
    xp = np.pad(x.astype(np.float64), n_fft // 2, mode="reflect")
    n_frames = 1 + (len(xp) - n_fft) // hop
    cols = [np.abs(np.fft.rfft(xp[i * hop : i * hop + n_fft] * w)) for i in range(n_frames)]
    return np.stack(cols, axis=1)


# --------------------------------------------------------------------------------------------
# linear spectrogram


@pytest.mark.parametrize("n_fft,hop,window", [(1024, 512, "hann"), (512, 160, "hamming")])
def test_spectrogram_matches_numpy_rfft_loop(n_fft, hop, window):
    x = waves()
    out = spectrogram(x, n_fft=n_fft, hop_length=hop, window=window, eps=1e-6)
    assert out.shape == (3, n_fft // 2 + 1, 1 + x.shape[1] // hop)
    mag = spectrogram(x, n_fft=n_fft, hop_length=hop, window=window, log=False)
    torch.testing.assert_close(out, torch.log(mag + 1e-6))
    for i in range(3):
        ref = numpy_stft_mag(x[i].numpy(), n_fft, hop, window)
        np.testing.assert_allclose(mag[i].numpy(), ref, atol=1e-5 * ref.max(), rtol=1e-4)


def test_spectrogram_matches_scipy_stft():
    x = waves()[0].numpy().astype(np.float64)
    n_fft, hop = 1024, 256
    # scipy frames the (already reflect-padded) signal; it scales by 1 / sum(window)
    xp = np.pad(x, n_fft // 2, mode="reflect")
    _, _, z = scipy.signal.stft(
        xp, nperseg=n_fft, noverlap=n_fft - hop, window="hann", boundary=None, padded=False
    )
    ref = np.abs(z) * scipy.signal.get_window("hann", n_fft).sum()
    mag = spectrogram(torch.tensor(x), n_fft=n_fft, hop_length=hop, log=False).numpy()
    np.testing.assert_allclose(mag, ref, atol=1e-8, rtol=1e-7)


def test_spectrogram_of_a_sine_peaks_at_its_bin():
    sr, n_fft = 32000, 1024
    t = np.arange(sr) / sr
    x = torch.tensor(np.sin(2 * np.pi * 1000 * t), dtype=torch.float32)
    spec = spectrogram(x, n_fft=n_fft, hop_length=320)
    assert spec.ndim == 2  # unbatched in, unbatched out
    assert int(spec[:, 10:-10].mean(1).argmax()) == round(1000 * n_fft / sr)
    silence = spectrogram(torch.zeros(1, 4000), eps=1e-6)
    assert torch.allclose(silence, torch.full_like(silence, math.log(1e-6)))


def test_spectrogram_short_input_and_module():
    x = torch.randn(2, 300)  # shorter than n_fft // 2: zero padding instead of reflect
    assert spectrogram(x, n_fft=1024, hop_length=512).shape == (2, 513, 1)
    m = Spectrogram(n_fft=512, hop_length=128)
    assert torch.equal(m(waves()), spectrogram(waves(), n_fft=512, hop_length=128))
    assert m.state_dict() == {}  # the window is a non-persistent buffer
    with pytest.raises(ValueError, match="unknown window"):
        spectrogram(x, window="kaiser-ish")
    with pytest.raises(ValueError, match="empty"):
        spectrogram(torch.zeros(2, 0))


# --------------------------------------------------------------------------------------------
# mel filterbank: an independent scalar implementation of librosa's formulas


def ref_hz_to_mel(f: float, htk: bool) -> float:
    if htk:
        return 2595.0 * math.log10(1.0 + f / 700.0)
    if f < 1000.0:
        return 3.0 * f / 200.0
    return 15.0 + 27.0 * math.log(f / 1000.0) / math.log(6.4)


def ref_mel_to_hz(m: float, htk: bool) -> float:
    if htk:
        return 700.0 * (10 ** (m / 2595.0) - 1.0)
    if m < 15.0:
        return 200.0 * m / 3.0
    return 1000.0 * 6.4 ** ((m - 15.0) / 27.0)


def ref_filterbank(sr, n_fft, n_mels, fmin, fmax, htk, norm):
    lo, hi = ref_hz_to_mel(fmin, htk), ref_hz_to_mel(fmax, htk)
    edges = [ref_mel_to_hz(lo + (hi - lo) * i / (n_mels + 1), htk) for i in range(n_mels + 2)]
    fb = np.zeros((n_mels, n_fft // 2 + 1))
    for m in range(n_mels):
        left, centre, right = edges[m], edges[m + 1], edges[m + 2]
        for k in range(n_fft // 2 + 1):
            f = k * sr / n_fft
            if left < f <= centre:
                fb[m, k] = (f - left) / (centre - left)
            elif centre < f < right:
                fb[m, k] = (right - f) / (right - centre)
        if norm == "slaney":
            fb[m] *= 2.0 / (right - left)
    return fb


@pytest.mark.parametrize(
    "sr,n_fft,n_mels,fmin,fmax,htk,norm",
    [
        (32000, 1024, 64, 50.0, 14000.0, False, "slaney"),  # PANN
        (48000, 1024, 64, 50.0, 14000.0, False, "slaney"),  # CLAP
        (16000, 512, 40, 0.0, 8000.0, True, None),
        (22050, 2048, 128, 0.0, None, False, "slaney"),
    ],
)
def test_mel_filterbank_matches_reference(sr, n_fft, n_mels, fmin, fmax, htk, norm):
    fb = mel_filterbank(sr, n_fft, n_mels, fmin, fmax, htk=htk, norm=norm)
    ref = ref_filterbank(sr, n_fft, n_mels, fmin, fmax or sr / 2, htk, norm)
    assert fb.shape == (n_mels, n_fft // 2 + 1) and fb.dtype == np.float32
    np.testing.assert_allclose(fb, ref, rtol=1e-5, atol=1e-7 * ref.max())


def test_mel_scale_known_values_and_round_trip():
    assert hz_to_mel(1000.0) == pytest.approx(15.0)  # Slaney: linear to 1 kHz, 200/3 Hz per mel
    assert hz_to_mel(200.0 / 3) == pytest.approx(1.0)
    assert hz_to_mel(6400.0) == pytest.approx(15.0 + 27.0)  # log step: 6.4x per 27 mels
    assert hz_to_mel(1000.0, htk=True) == pytest.approx(999.9855, abs=1e-3)
    f = np.array([0.0, 50.0, 999.0, 1000.0, 4000.0, 14000.0, 24000.0])
    for htk in (False, True):
        np.testing.assert_allclose(mel_to_hz(hz_to_mel(f, htk), htk), f, atol=1e-8)


def test_mel_filterbank_properties():
    sr, n_fft = 32000, 1024
    fb = mel_filterbank(sr, n_fft, 64, 50.0, 14000.0, norm=None)
    freqs = np.fft.rfftfreq(n_fft, 1 / sr)
    assert fb.max() <= 1.0 + 1e-6 and fb.min() >= 0.0
    assert np.all(fb[:, freqs < 50.0] == 0) and np.all(fb[:, freqs > 14000.0] == 0)
    centres = freqs[fb.argmax(axis=1)]
    assert np.all(np.diff(centres) >= 0)  # filters ordered by frequency
    # Slaney normalisation: every triangle has unit area in Hz (sum * bin width), where the
    # filter is wide enough to be sampled well by the FFT bins
    area = mel_filterbank(sr, 8192, 64, 50.0, 14000.0).sum(axis=1) * sr / 8192
    np.testing.assert_allclose(area[8:], 1.0, rtol=0.05)
    with pytest.raises(ValueError, match="f_max"):
        mel_filterbank(sr, n_fft, 64, 50.0, 20000.0)


def test_mel_filterbank_matches_librosa_when_installed():
    librosa = pytest.importorskip("librosa")
    for htk in (False, True):
        ref = librosa.filters.mel(sr=32000, n_fft=1024, n_mels=64, fmin=50, fmax=14000, htk=htk)
        np.testing.assert_allclose(
            mel_filterbank(32000, 1024, 64, 50, 14000, htk=htk), ref, rtol=1e-5, atol=1e-8
        )


# --------------------------------------------------------------------------------------------
# log-mel


def test_log_mel_matches_numpy_reference_with_pann_settings():
    p = PANN_LOGMEL
    x = waves(n=16000)
    out = log_mel(x, **p)
    assert out.shape == (3, 64, 1 + 16000 // 320)
    fb = ref_filterbank(32000, 1024, 64, 50.0, 14000.0, False, "slaney")
    for i in range(3):
        power = numpy_stft_mag(x[i].numpy(), 1024, 320) ** 2
        ref = 10 * np.log10(np.maximum(fb @ power, 1e-10))  # ref=1.0, amin=1e-10, top_db=None
        np.testing.assert_allclose(out[i].numpy(), ref, atol=2e-3)


def test_presets_match_pann_and_clap_front_ends():
    assert {k: PANN_LOGMEL[k] for k in ("sample_rate", "n_mels", "n_fft", "hop_length")} == {
        "sample_rate": 32000, "n_mels": 64, "n_fft": 1024, "hop_length": 320,
    }  # fmt: skip
    assert (PANN_LOGMEL["f_min"], PANN_LOGMEL["f_max"]) == (50.0, 14000.0)
    assert (PANN_LOGMEL["ref"], PANN_LOGMEL["amin"], PANN_LOGMEL["top_db"]) == (1.0, 1e-10, None)
    assert (CLAP_LOGMEL["sample_rate"], CLAP_LOGMEL["hop_length"], CLAP_LOGMEL["n_mels"]) == (
        48000, 480, 64,
    )  # fmt: skip
    m = LogMel(**CLAP_LOGMEL)
    assert m(torch.randn(2, 48000)).shape == (2, 64, 101)
    assert m.sample_rate == 48000 and m.state_dict() == {}


def test_power_to_db():
    s = torch.tensor([[1.0, 10.0, 100.0, 0.0]])
    assert torch.allclose(power_to_db(s), torch.tensor([[0.0, 10.0, 20.0, -100.0]]))
    assert torch.allclose(power_to_db(s, ref=10.0), torch.tensor([[-10.0, 0.0, 10.0, -110.0]]))
    floored = power_to_db(torch.tensor([[1.0, 1e-6], [1e-6, 1e-8]]), top_db=30.0)
    assert torch.allclose(floored, torch.tensor([[0.0, -30.0], [-60.0, -80.0]]))


# --------------------------------------------------------------------------------------------
# image adapter


def test_image_adapter_shape_scaling_and_normalisation():
    spec = torch.randn(2, 224, 224) * 5 + 3
    img = image_adapter(spec)
    assert img.shape == (2, 3, 224, 224)
    mean = torch.tensor(IMAGENET_MEAN)[None, :, None, None]
    std = torch.tensor(IMAGENET_STD)[None, :, None, None]
    unit = img * std + mean  # undo the ImageNet normalisation
    assert torch.allclose(unit[:, 0], unit[:, 1], atol=1e-5)  # three identical channels
    assert torch.allclose(unit[:, 1], unit[:, 2], atol=1e-5)
    for i in range(2):  # per-spectrogram min-max scaling to [0, 1] (224 x 224: no resize)
        assert float(unit[i].min()) == pytest.approx(0.0, abs=1e-5)
        assert float(unit[i].max()) == pytest.approx(1.0, abs=1e-5)
        lin = (spec[i] - spec[i].min()) / (spec[i].max() - spec[i].min())
        assert torch.allclose(unit[i, 0], lin, atol=1e-5)


def test_image_adapter_resizes_any_spectrogram_and_ignores_loudness():
    spec = spectrogram(waves(n=16000), n_fft=1024, hop_length=160)  # (3, 513, 101)
    img = ImageAdapter()(spec)
    assert img.shape == (3, 3, 224, 224) and torch.isfinite(img).all()
    louder = spec + 4.0  # a louder copy (log spectrogram shifted) gives the same image
    assert torch.allclose(ImageAdapter()(louder), img, atol=1e-4)
    flat = image_adapter(torch.zeros(1, 64, 100))  # constant input: all zeros before normalising
    expected = (-torch.tensor(IMAGENET_MEAN) / torch.tensor(IMAGENET_STD))[None, :, None, None]
    assert torch.allclose(flat, expected.expand_as(flat))


# --------------------------------------------------------------------------------------------
# batched == per item


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: spectrogram(x, n_fft=512, hop_length=128),
        lambda x: log_mel(x, 16000, 512, 160, 40, 20.0, 8000.0),
        lambda x: log_mel(x, 16000, 512, 160, 40, top_db=80.0),
        Spectrogram(),
        LogMel(sample_rate=16000, n_fft=512, hop_length=160, n_mels=32),
        lambda x: image_adapter(spectrogram(x, n_fft=512, hop_length=128)),
        lambda x: ImageAdapter(size=(128, 96))(LogMel(16000, 512, 160, 48)(x)),
    ],
)
def test_batched_equals_per_item(fn):
    x = waves()
    batched = fn(x)
    for i in range(x.shape[0]):
        item = fn(x[i : i + 1])
        assert item.shape[1:] == batched.shape[1:]
        torch.testing.assert_close(batched[i : i + 1], item, atol=1e-5, rtol=1e-5)
    assert batched.dtype == torch.float32


def test_log_mel_matches_librosa_pann_pipeline_when_installed():
    """PANN's torchlibrosa front end = librosa melspectrogram (reflect) + power_to_db."""
    librosa = pytest.importorskip("librosa")
    x = waves(batch=1, n=32000)[0]
    p = PANN_LOGMEL
    mel = librosa.feature.melspectrogram(
        y=x.numpy().astype(np.float64), sr=p["sample_rate"], n_fft=p["n_fft"],
        hop_length=p["hop_length"], window="hann", center=True, pad_mode="reflect", power=2.0,
        n_mels=p["n_mels"], fmin=p["f_min"], fmax=p["f_max"],
    )  # fmt: skip
    ref = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None)
    np.testing.assert_allclose(log_mel(x, **p).numpy(), ref, atol=2e-3)


@pytest.mark.parametrize("variant", [{}, {"htk": True, "norm": None}])
def test_clap_log_mel_matches_transformers_clap_feature_extractor(variant):
    """CLAP_LOGMEL against an independent implementation: transformers' ClapFeatureExtractor
    (Slaney filters: its rand_trunc path; HTK without norm: its fusion path)."""
    clap = pytest.importorskip("transformers.models.clap.feature_extraction_clap")
    fe = clap.ClapFeatureExtractor(
        feature_size=64, sampling_rate=48000, hop_length=480, fft_window_size=1024,
        frequency_min=50, frequency_max=14000,
    )  # fmt: skip
    filters = fe.mel_filters if variant else fe.mel_filters_slaney
    x = waves(batch=1, n=48000)[0].double()
    ref = fe._np_extract_fbank_features(x.numpy(), filters).T  # (n_mels, frames), dB
    ours = log_mel(x, **{**CLAP_LOGMEL, **variant}).numpy()
    np.testing.assert_allclose(ours, ref, atol=1e-4)


# ---- LAION-CLAP front end (length rule + log-mel) against transformers' ClapFeatureExtractor

SONIC_PI = "/usr/share/sonic-pi/samples"
# short one-shots (repeat-padded), a 10 s clip, one just over 10 s (centre-cropped)
REAL_CLIPS = ("bd_gas", "drum_cymbal_closed", "misc_crow", "ambi_choir", "ambi_glass_hum",
              "loop_tabla")  # fmt: skip


def _clap_extractor(**kw):
    clap = pytest.importorskip("transformers.models.clap.feature_extraction_clap")
    args = dict(truncation="rand_trunc", padding="repeatpad", frequency_min=50, frequency_max=14000)
    return clap.ClapFeatureExtractor(**{**args, **kw})


def _extract(fe, clips: list[np.ndarray]) -> np.ndarray:
    """The extractor's features ``(batch, channels, n_mels, frames)``; clips longer than its
    maximum are centre-cropped first (its own crop is random)."""
    cropped = []
    for c in clips:
        over = len(c) - fe.nb_max_samples
        cropped.append(c[over // 2 : over // 2 + fe.nb_max_samples] if over > 0 else c)
    out = fe([c.astype(np.float64) for c in cropped], sampling_rate=fe.sampling_rate)
    return np.asarray(out["input_features"]).transpose(0, 1, 3, 2)


def _batch(clips: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([len(c) for c in clips])
    x = torch.zeros(len(clips), int(lengths.max()))
    for i, c in enumerate(clips):
        x[i, : len(c)] = torch.from_numpy(c)
    return x, lengths


def test_clap_log_mel_equals_clap_feature_extractor_on_real_recordings():
    from pathlib import Path

    from audioseek.audio.features import ClapLogMel
    from audioseek.audio.io import load_audio

    paths = [Path(SONIC_PI) / f"{n}.flac" for n in REAL_CLIPS]
    if not all(p.is_file() for p in paths):
        pytest.skip(f"sonic-pi samples not installed in {SONIC_PI}")
    clips = [load_audio(p, 48000) for p in paths]
    assert min(map(len, clips)) < 48000 and max(map(len, clips)) > 480000  # both rules used
    fe = _clap_extractor()
    ref = _extract(fe, clips)[:, 0]
    front = ClapLogMel.from_extractor(fe).eval()
    x, lengths = _batch(clips)
    ours = front(x, lengths)
    assert ours.dtype == torch.float32 and ours.shape == ref.shape == (len(clips), 64, 1001)
    np.testing.assert_allclose(ours.numpy(), ref, atol=1e-4, rtol=0)
    for i, c in enumerate(clips):  # alone == in the batch, bit for bit
        assert torch.equal(front(torch.from_numpy(c)[None])[0], ours[i])


@pytest.mark.parametrize(
    "kw", [{"padding": "repeat"}, {"padding": "pad"}, {"truncation": "fusion", "frequency_min": 0}]
)
def test_clap_log_mel_equals_extractor_for_each_padding_and_fusion(kw):
    """Generated audio with a quiet high band (where float32 STFTs drift), each CLAP rule."""
    from audioseek.audio.features import ClapLogMel

    g = np.random.default_rng(1)
    clips = []
    for seconds in (0.3, 2.7, 10.0, 11.5):
        t = np.arange(int(seconds * 48000)) / 48000
        x = 0.5 * np.sin(2 * np.pi * 220 * t) + 1e-4 * g.standard_normal(t.size)
        clips.append((x * np.exp(-t)).astype(np.float32))
    fe = _clap_extractor(**kw)
    ref = _extract(fe, clips)
    ours = ClapLogMel.from_extractor(fe).eval()(*_batch(clips))
    if kw.get("truncation") == "fusion":
        assert ours.shape == ref.shape == (4, 4, 64, 1001)
    else:
        ours = ours[:, None]
    np.testing.assert_allclose(ours.numpy(), ref, atol=1e-4, rtol=0)


def test_clap_fit_length_rules_and_random_crop_only_in_training():
    from audioseek.audio.features import ClapLogMel, clap_fit_length

    torch.manual_seed(0)
    x = torch.arange(1, 8, dtype=torch.float32)  # 7 samples
    assert clap_fit_length(x, 16, "repeatpad").tolist() == list(range(1, 8)) * 2 + [0, 0]
    assert clap_fit_length(x, 16, "repeat").tolist() == (list(range(1, 8)) * 3)[:16]
    assert clap_fit_length(x, 10, "pad").tolist() == list(range(1, 8)) + [0, 0, 0]
    assert clap_fit_length(x, 3, "pad").tolist() == [3.0, 4.0, 5.0]  # centre crop
    crops = {tuple(clap_fit_length(x, 3, random_crop=True).tolist()) for _ in range(60)}
    assert len(crops) > 1 and all(c[0] in range(1, 6) and c == tuple(c[0] + i for i in range(3))
                                  for c in crops)  # fmt: skip
    with pytest.raises(ValueError, match="'loop'"):
        clap_fit_length(x, 16, "loop")
    long = torch.from_numpy(np.random.default_rng(0).standard_normal(530000).astype(np.float32))
    front = ClapLogMel()
    assert not torch.equal(front.train()(long), front(long))  # rand_trunc while training
    front.eval()
    assert torch.equal(front(long), front(long))
