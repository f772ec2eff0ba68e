"""Synthetic captioned sounds: determinism, and captions that say what the audio does."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pytest
import soundfile as sf

from audioseek.data.manifest import load_manifest
from audioseek.data.synthetic import (
    KINDS,
    LOUDNESS,
    make_clip,
    make_synthetic_items,
    midi_to_hz,
    write_synthetic_manifest,
)

SR = 8000


def _clips(n, seed=0, duration=1.0):
    return [make_clip(i, seed, SR, duration) for i in range(n)]


@pytest.fixture(scope="module")
def clips():
    return _clips(240)


def test_deterministic_and_prefix_stable():
    a = make_synthetic_items(8, seed=3, sr=SR, duration=0.5)
    b = make_synthetic_items(8, seed=3, sr=SR, duration=0.5)
    for (wa, ca), (wb, cb) in zip(a, b, strict=True):
        assert np.array_equal(wa, wb) and ca == cb
    prefix = make_synthetic_items(3, seed=3, sr=SR, duration=0.5)
    assert all(
        np.array_equal(p[0], q[0]) and p[1] == q[1] for p, q in zip(prefix, a[:3], strict=False)
    )
    other = make_synthetic_items(8, seed=4, sr=SR, duration=0.5)
    assert [c for _, c in other] != [c for _, c in a]


def test_clip_format_and_captions(clips):
    assert set(Counter(c.kind for c in clips)) == set(KINDS)
    for c in clips:
        assert c.wave.dtype == np.float32 and c.wave.shape == (SR,)
        assert 0.01 < np.abs(c.wave).max() <= 1.0
        assert len(c.captions) == 5 and len(set(c.captions)) == 5
        assert all(cap[0].isupper() and cap.endswith(".") and "{" not in cap for cap in c.captions)
        if c.kind != "mixture":  # the loudness word is the peak level
            assert np.abs(c.wave).max() == pytest.approx(LOUDNESS[c.attributes["loud"]], rel=1e-3)


def _peak_hz(x: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)), 8 * len(x)))
    return float(np.fft.rfftfreq(8 * len(x), 1 / SR)[spec.argmax()])


def test_tone_pitch_is_the_named_note(clips):
    from audioseek.data.synthetic import NOTE_NAMES

    tones = [c for c in clips if c.kind == "tone"]
    assert len(tones) > 10
    for c in tones:
        letter, octave = re.match(r"([A-G]#?)(-?\d+)", c.attributes["note"]).groups()
        midi = NOTE_NAMES.index(letter) + 12 * (int(octave) + 1)
        event = c.wave[np.abs(c.wave) > 0]
        assert _peak_hz(event) == pytest.approx(midi_to_hz(midi), rel=0.02)


def test_sweep_direction_rhythm_tempo_noise_colour(clips):
    for c in clips:
        if c.kind == "sweep":
            active = np.flatnonzero(np.abs(c.wave) > 0)
            event = c.wave[active[0] : active[-1] + 1]
            q = len(event) // 4
            first, last = _peak_hz(event[:q]), _peak_hz(event[-q:])
            assert (last > first) == (c.attributes["direction"] == "up")
        elif c.kind == "rhythm":
            hits = np.flatnonzero(np.abs(c.wave) > 0.5 * np.abs(c.wave).max())
            onsets = hits[np.insert(np.diff(hits) > 0.02 * SR, 0, True)]
            if len(onsets) >= 2:
                period = np.median(np.diff(onsets)) / SR
                assert period == pytest.approx(60 / c.attributes["bpm"], rel=0.05)
        elif c.kind == "noise":
            spec = np.abs(np.fft.rfft(c.wave)) ** 2
            f = np.fft.rfftfreq(len(c.wave), 1 / SR)
            centroid = (spec * f).sum() / spec.sum()
            limit = {"white": (1500, 2500), "pink": (200, 1500), "brown": (0, 200)}
            lo, hi = limit[c.attributes["colour"]]
            assert lo < centroid < hi, (c.attributes, centroid)


def _bow(texts: list[str], vocab: dict[str, int]) -> np.ndarray:
    out = np.zeros((len(texts), len(vocab)))
    for i, t in enumerate(texts):
        for w in re.findall(r"[a-z]+", t.lower()):
            if w in vocab:
                out[i, vocab[w]] += 1
    return out


def _audio_features(wave: np.ndarray) -> np.ndarray:
    """Log band energies + coarse temporal envelope: a crude fixed audio embedding."""
    frames = wave[: len(wave) // 256 * 256].reshape(-1, 256)
    spec = np.abs(np.fft.rfft(frames * np.hanning(256), axis=1)) ** 2
    bands = np.log1p(1e3 * spec[:, :128].reshape(len(spec), 16, -1).sum(-1))
    env = np.log1p(1e3 * spec.sum(1))
    return np.concatenate([bands.mean(0), bands.std(0), [env.std(), np.diff(env).std()]])


def test_captions_identify_the_sound(clips):
    """A linear text->audio map learnt on half the clips retrieves far above chance."""
    train, test = clips[:160], clips[160:]
    vocab = {w: i for i, w in enumerate(sorted({
        w for c in train for cap in c.captions for w in re.findall(r"[a-z]+", cap.lower())
    }))}  # fmt: skip
    audio = np.stack([_audio_features(c.wave) for c in clips])
    audio = (audio - audio[:160].mean(0)) / (audio[:160].std(0) + 1e-6)
    x = np.concatenate([_bow(c.captions, vocab) for c in train])
    y = np.repeat(audio[:160], 5, axis=0)
    w = np.linalg.solve(x.T @ x + 1.0 * np.eye(len(vocab)), x.T @ y)  # ridge regression
    pred = _bow([c.captions[0] for c in test], vocab) @ w
    a = audio[160:]
    sims = (pred / np.linalg.norm(pred, axis=1, keepdims=True)) @ (
        a / np.linalg.norm(a, axis=1, keepdims=True)
    ).T
    ranks = (sims > sims.diagonal()[:, None]).sum(1)
    r10 = float((ranks < 10).mean())
    print(f"synthetic text->audio R@10 {r10:.3f}")
    assert r10 > 3 * 10 / len(test), r10  # random: 10 / 80 = 0.125


def test_write_synthetic_manifest(tmp_path):
    path = write_synthetic_manifest(tmp_path, 20, seed=2, sr=SR, duration=0.5)
    items = load_manifest(path)
    assert len(items) == 20
    assert Counter(it["split"] for it in items) == {"train": 16, "val": 2, "test": 2}
    header = path.read_text().splitlines()[0].split(",")
    assert header == ["path", *[f"caption_{i}" for i in range(1, 6)], "split", "kind"]
    expected = make_synthetic_items(20, seed=2, sr=SR, duration=0.5)
    for it, (wave, caps) in zip(items, expected, strict=True):
        data, sr = sf.read(it["audio_path"], dtype="float32")
        assert sr == SR and it["captions"] == caps
        np.testing.assert_allclose(data, wave, atol=1 / 32768 + 1e-6)  # 16-bit PCM
    again = write_synthetic_manifest(tmp_path / "b", 20, seed=2, sr=SR, duration=0.5)
    assert again.read_text() == path.read_text()
