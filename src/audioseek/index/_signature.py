"""Temporary copy of the STFT band audio signature that confirms duplicates (moved out of
the old ``search.py``); :mod:`audioseek.audio.signature` replaces it."""

from __future__ import annotations

import logging

import numpy as np

SIGNATURE_SR = 8000
SIGNATURE_HOP_S = 0.01
SIGNATURE_MIN_STD = 0.05  # log-energy std (~0.2 dB) below which a band is "steady"

log = logging.getLogger(__name__)


def audio_signature(path, sr: int = SIGNATURE_SR) -> np.ndarray | None:
    """A model-independent signature of a recording: log energies in 24 log-spaced bands
    every 10 ms (64 ms frames at 8 kHz), each band z-scored over time, so what remains is how
    the sound *changes* (the same in every encoding of one recording, unrelated between two
    recordings). Bands more than 50 dB below the loudest one, or that hardly change (a steady
    tone), carry no such information and are zero. ``(frames, 24)`` float32, or ``None`` if
    the file cannot be decoded."""
    from audioseek.index.reader import read_file

    dec = read_file(str(path), sr)
    if dec.error is not None or dec.wave is None:
        log.debug("no audio signature for %r: %s", path, dec.error)
        return None
    n_fft, hop = 512, int(round(SIGNATURE_HOP_S * sr))
    wave = dec.wave
    if len(wave) < n_fft:
        wave = np.pad(wave, (0, n_fft - len(wave)))
    frames = np.lib.stride_tricks.sliding_window_view(wave, n_fft)[::hop]
    power = np.abs(np.fft.rfft(frames * np.hanning(n_fft).astype(np.float32), axis=1)) ** 2
    freqs = np.fft.rfftfreq(n_fft, 1 / sr)
    edges = np.geomspace(60.0, sr / 2, 25)
    band = np.clip(np.searchsorted(edges, freqs) - 1, 0, 23)
    keep = freqs >= edges[0]
    energy = np.zeros((len(frames), 24), np.float64)
    np.add.at(energy.T, band[keep], power[:, keep].T)
    mean = energy.mean(axis=0)
    loud = mean >= mean.max() * 1e-5  # within 50 dB of the loudest band
    logs = np.log(energy + mean.max() * 1e-6 + 1e-20)
    logs -= logs.mean(axis=0)
    std = logs.std(axis=0)
    informative = loud & (std > SIGNATURE_MIN_STD)
    out = np.zeros_like(logs, dtype=np.float32)
    out[:, informative] = logs[:, informative] / std[informative]
    return out


def signature_match(a: np.ndarray, b: np.ndarray, max_shift: int) -> float | None:
    """Best normalised cross-correlation of two signatures over time shifts up to
    ``max_shift`` frames that overlap at least 80 % of the shorter one (FFT, all bands);
    ``None`` when either recording is too steady to tell (no informative band)."""
    bands_a, bands_b = int(np.any(a, axis=0).sum()), int(np.any(b, axis=0).sum())
    if bands_a == 0 or bands_b == 0:
        return None
    na, nb = len(a), len(b)
    size = 1 << int(np.ceil(np.log2(na + nb)))
    spec = np.fft.rfft(a, size, axis=0) * np.conj(np.fft.rfft(b, size, axis=0))
    corr = np.fft.irfft(spec, size, axis=0).sum(axis=1)  # corr[L] = sum_t a[t + L] . b[t]
    norm = np.sqrt(bands_a * bands_b)
    best, need = -1.0, max(1, int(0.8 * min(na, nb)))
    for lag in range(-min(max_shift, nb - 1), min(max_shift, na - 1) + 1):
        overlap = min(na, nb + lag) - max(0, lag)
        if overlap >= need:
            best = max(best, float(corr[lag % size]) / (overlap * norm))
    return best
