"""Fixtures for the audio tests: every supported format is written here, by the test run,
with soundfile (libsndfile) and PyAV (FFmpeg) encoders; nothing is checked in."""

from __future__ import annotations

import fractions
import types
from pathlib import Path

import numpy as np
import pytest

NATIVE_SR = 44100
SECONDS = 1.5
TONE_HZ = 1000.0


def tone(seconds: float = SECONDS, sr: int = NATIVE_SR, freq: float = TONE_HZ) -> np.ndarray:
    """Stereo test signal (samples, 2): left a sine at ``freq``, right the same at half level
    plus a quiet second partial, so the mono mixdown is known exactly."""
    t = np.arange(int(round(seconds * sr))) / sr
    left = 0.5 * np.sin(2 * np.pi * freq * t)
    right = 0.25 * np.sin(2 * np.pi * freq * t) + 0.05 * np.sin(2 * np.pi * 2.5 * freq * t)
    return np.stack([left, right], axis=1).astype(np.float32)


def write_av(
    path: Path,
    x: np.ndarray,
    sr: int,
    codec: str,
    fmt: str,
    *,
    rate: int | None = None,
    bit_rate: int | None = None,
    metadata: dict | None = None,
) -> Path:
    """Encode ``x`` (samples, channels) float with PyAV into container ``fmt``."""
    import av

    layout = "stereo" if x.shape[1] == 2 else "mono"
    with av.open(str(path), "w", format=fmt) as c:
        stream = c.add_stream(codec, rate=rate or sr, layout=layout)
        if bit_rate:
            stream.bit_rate = bit_rate
        for k, v in (metadata or {}).items():
            c.metadata[k] = v
        cc = stream.codec_context
        resampler = av.AudioResampler(format=cc.format.name, layout=layout, rate=cc.sample_rate)
        for i in range(0, len(x), 4096):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(x[i : i + 4096].T), format="fltp", layout=layout
            )
            frame.sample_rate, frame.pts, frame.time_base = sr, i, fractions.Fraction(1, sr)
            for rf in resampler.resample(frame):
                for packet in stream.encode(rf):
                    c.mux(packet)
        for rf in resampler.resample(None):
            for packet in stream.encode(rf):
                c.mux(packet)
        for packet in stream.encode(None):
            c.mux(packet)
    return path


# name -> (file name, writer kind, args, lossless)
FORMATS: dict[str, tuple[str, str, dict, bool]] = {
    "wav_pcm16": ("pcm16.wav", "sf", {"format": "WAV", "subtype": "PCM_16"}, True),
    "wav_pcm24": ("pcm24.wav", "sf", {"format": "WAV", "subtype": "PCM_24"}, True),
    "wav_pcm32": ("pcm32.wav", "sf", {"format": "WAV", "subtype": "PCM_32"}, True),
    "wav_pcm_u8": ("pcmu8.wav", "sf", {"format": "WAV", "subtype": "PCM_U8"}, True),
    "wav_float": ("float.wav", "sf", {"format": "WAV", "subtype": "FLOAT"}, True),
    "wav_double": ("double.wav", "sf", {"format": "WAV", "subtype": "DOUBLE"}, True),
    "flac": ("a.flac", "sf", {"format": "FLAC", "subtype": "PCM_24"}, True),
    "ogg_vorbis": ("a.ogg", "sf", {"format": "OGG", "subtype": "VORBIS"}, False),
    "ogg_opus": ("a.opus", "sf", {"format": "OGG", "subtype": "OPUS", "sr": 48000}, False),
    "mp3": ("a.mp3", "sf", {"format": "MP3", "subtype": "MPEG_LAYER_III"}, False),
    "m4a_aac": ("a.m4a", "av", {"codec": "aac", "fmt": "mp4"}, False),
    "aac_adts": ("a.aac", "av", {"codec": "aac", "fmt": "adts"}, False),
    "webm_opus": ("a.webm", "av", {"codec": "libopus", "fmt": "webm", "rate": 48000}, False),
    "wma": ("a.wma", "av", {"codec": "wmav2", "fmt": "asf", "bit_rate": 128000}, False),
    "m4a_alac": ("alac.m4a", "av", {"codec": "alac", "fmt": "ipod"}, True),
    "mka_flac": ("a.mka", "av", {"codec": "flac", "fmt": "matroska"}, True),
}


def write_format(root: Path, name: str, x: np.ndarray, sr: int = NATIVE_SR) -> Path:
    import soundfile as sf

    fname, kind, args, _ = FORMATS[name]
    path = root / fname
    if kind == "sf":
        args = dict(args)
        rate = args.pop("sr", sr)
        if rate != sr:
            import soxr

            x = soxr.resample(x, sr, rate).astype(np.float32)
        sf.write(str(path), x, rate, **args)
    else:
        write_av(path, x, sr, **args)
    return path


@pytest.fixture(scope="session")
def encoded(tmp_path_factory) -> dict[str, Path]:
    """The stereo :func:`tone` written once in every format of :data:`FORMATS`."""
    root = tmp_path_factory.mktemp("formats")
    x = tone()
    return {name: write_format(root, name, x) for name in FORMATS}


@pytest.fixture(scope="session")
def long_files(tmp_path_factory) -> dict[str, Path]:
    """12 s of stereo noise-free music-like signal in several formats (windowed reads)."""
    root = tmp_path_factory.mktemp("long")
    sr = NATIVE_SR
    t = np.arange(12 * sr) / sr
    left = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.sin(2 * np.pi * 1234 * t * (1 + 0.02 * t))
    right = 0.2 * np.sin(2 * np.pi * 660 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 0.5 * t))
    x = np.stack([left, right], 1).astype(np.float32)
    names = ["wav_pcm16", "flac", "ogg_vorbis", "ogg_opus", "mp3", "m4a_aac", "webm_opus"]
    return {name: write_format(root, name, x) for name in names}


@pytest.fixture(scope="session")
def kit() -> types.SimpleNamespace:
    """The helpers above, for test modules (a conftest is not importable as a module)."""
    return types.SimpleNamespace(
        FORMATS=FORMATS,
        NATIVE_SR=NATIVE_SR,
        SECONDS=SECONDS,
        TONE_HZ=TONE_HZ,
        tone=tone,
        write_av=write_av,
        write_format=write_format,
    )


def pytest_generate_tests(metafunc):
    """``format_name``: one test per entry of :data:`FORMATS`."""
    if "format_name" in metafunc.fixturenames:
        metafunc.parametrize("format_name", sorted(FORMATS))
