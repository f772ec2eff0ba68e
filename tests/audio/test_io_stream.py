"""Streaming decode (issue 11 item 1): windows equal the full decode, memory does not grow with
the duration, headers cannot make the decoder allocate, ``max_seconds`` refuses early."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audioseek.audio import io as aio
from audioseek.audio.io import iter_chunks, iter_windows, load_audio, probe_duration
from audioseek.audio.windows import sliding_windows
from audioseek.errors import AudioDecodeError, AudioTooLongError, ConfigError

NATIVE_SR = 44100


def write_silence_flac(path: Path, seconds: float, sr: int = NATIVE_SR) -> Path:
    """A long-silence FLAC written block by block (a few KB per minute on disk)."""
    block = np.zeros(sr * 10, np.float32)
    with sf.SoundFile(path, "w", sr, 1, format="FLAC", subtype="PCM_16") as f:
        left = int(seconds * sr)
        while left > 0:
            f.write(block[: min(left, len(block))])
            left -= len(block)
    return path


def lying_wav(path: Path, real_seconds: float = 1.0, sr: int = 16000, claim: int = 0xFFFFFFF0):
    """A PCM-16 WAV whose RIFF and data chunk sizes claim ``claim`` bytes (~4 GB)."""
    x = (0.1 * np.random.default_rng(0).standard_normal(int(real_seconds * sr))).astype(np.float32)
    sf.write(path, x, sr, subtype="PCM_16")
    b = bytearray(path.read_bytes())
    i = b.find(b"data")
    b[i + 4 : i + 8] = struct.pack("<I", claim)
    b[4:8] = struct.pack("<I", min(claim + 36, 0xFFFFFFFF))
    path.write_bytes(bytes(b))
    return path, i + 8  # the file and the offset of its first sample


# --------------------------------------------------------------------------------------------
# the windows are the full decode's


@pytest.mark.parametrize(
    "name", ["wav_pcm16", "flac", "mp3", "ogg_vorbis", "ogg_opus", "m4a_aac", "webm_opus"]
)
@pytest.mark.parametrize("sr", [NATIVE_SR, 32000, 16000])
def test_iter_windows_equal_slices_of_the_full_decode(long_files, name, sr):
    full = load_audio(long_files[name], sr)
    for window_s, hop_s in [(2.0, 1.0), (1.5, 0.7)]:
        got = list(iter_windows(long_files[name], sr, window_s, hop_s))
        assert [w for w, _ in got] == sliding_windows(len(full), sr, window_s, hop_s)
        for w, y in got:
            assert y.dtype == np.float32 and y.ndim == 1
            assert np.array_equal(y, full[w.start : w.stop]), (name, w)  # bit for bit
        assert got[-1][0].end_s == len(full) / sr  # the last window ends at the decoded end


def test_iter_chunks_concatenate_to_load_audio(long_files):
    for name in ("flac", "mp3", "m4a_aac"):
        chunks = list(iter_chunks(long_files[name], 32000))
        assert len(chunks) > 1  # really streamed
        assert np.array_equal(np.concatenate(chunks), load_audio(long_files[name], 32000))


def test_iter_windows_of_a_truncated_file_equal_its_full_decode(tmp_path, long_files):
    data = long_files["flac"].read_bytes()
    cut = tmp_path / "cut.flac"
    cut.write_bytes(data[: len(data) // 2])
    full = load_audio(cut, 16000)
    got = list(iter_windows(cut, 16000, 1.0, 0.5))
    assert got and got[-1][0].stop == len(full)
    assert all(np.array_equal(y, full[w.start : w.stop]) for w, y in got)


def test_iter_windows_checks_arguments_before_decoding(tmp_path, long_files):
    with pytest.raises(ConfigError):
        iter_windows(long_files["flac"], 16000, 1.0, 2.0)  # hop > window
    with pytest.raises(ConfigError):
        iter_windows(long_files["flac"], 0, 1.0, 1.0)
    with pytest.raises(AudioDecodeError, match="does not exist"):
        iter_windows(tmp_path / "missing.wav", 16000, 1.0, 1.0)
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not audio at all" * 10)
    with pytest.raises(AudioDecodeError) as ei:
        list(iter_windows(junk, 16000, 1.0, 1.0))
    assert ei.value.path == str(junk)


# --------------------------------------------------------------------------------------------
# max_seconds


def _count_native_frames(monkeypatch) -> list[int]:
    """Count the native frames every decoder's stream hands out."""
    seen: list[int] = []
    for cls in (aio._SndfileDecoder, aio._PyAVDecoder):
        real = cls.stream

        def counted(self, _real=real):
            for x in _real(self):
                seen.append(len(x))
                yield x

        monkeypatch.setattr(cls, "stream", counted)
    return seen


@pytest.mark.parametrize("name", ["flac", "m4a_aac"])
def test_max_seconds_refuses_as_soon_as_the_limit_is_passed(long_files, monkeypatch, name):
    seen = _count_native_frames(monkeypatch)
    path = long_files[name]
    got = []
    with pytest.raises(AudioTooLongError) as ei:
        for w, _ in iter_windows(path, 16000, 1.0, 1.0, max_seconds=4.0):
            got.append(w)
    err = ei.value
    assert isinstance(err, AudioDecodeError)
    assert err.path == str(path) and err.max_seconds == 4.0
    assert repr(str(path)) in str(err) and "4 s" in str(err)
    assert [w.index for w in got] == list(range(len(got))) and 2 <= len(got) <= 4
    # it stopped right after the limit: at most one decoder block past 4 s of the 12 s file
    assert sum(seen) <= 4.0 * NATIVE_SR + max(seen)
    assert sum(seen) < 6.0 * NATIVE_SR


def test_max_seconds_at_or_above_the_duration_passes(long_files):
    path = long_files["flac"]  # exactly 12 s
    full = load_audio(path, 16000)
    assert np.array_equal(load_audio(path, 16000, max_seconds=12.0), full)
    assert len(list(iter_windows(path, 16000, 1.0, 1.0, max_seconds=12))) == 12
    with pytest.raises(AudioTooLongError):
        load_audio(path, 16000, max_seconds=11.99)


@pytest.mark.parametrize("bad", [0, -1.0, float("inf"), float("nan"), True, "5"])
def test_invalid_max_seconds_is_a_config_error(long_files, bad):
    with pytest.raises(ConfigError, match="max_seconds"):
        iter_windows(long_files["flac"], 16000, 1.0, 1.0, max_seconds=bad)


# --------------------------------------------------------------------------------------------
# headers that lie


def test_wav_header_claiming_4_gb_does_not_allocate_by_the_header(tmp_path):
    path, _ = lying_wav(tmp_path / "lie.wav", real_seconds=1.0, sr=16000)
    assert probe_duration(path) == pytest.approx(1.0)  # bounded by the file's size
    tracemalloc.start()
    try:
        got = list(iter_windows(path, 16000, 0.5, 0.5))
        whole = load_audio(path, 16000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [w.stop for w, _ in got] == [8000, 16000]
    assert len(whole) == 16000
    assert peak < 8 << 20  # bytes; the header claims 4 GB


def test_sparse_4_gb_wav_is_refused_by_max_seconds_with_little_memory(tmp_path):
    """The soak's recipe: a 4 GB WAV (sparse: its data are zeros) drove `index` past 9 GB."""
    path, data_at = lying_wav(tmp_path / "huge.wav", real_seconds=0.01, sr=16000)
    with open(path, "r+b") as f:
        f.truncate(data_at + 0xFFFFFFF0)
    if path.stat().st_blocks * 512 > 1 << 30:
        pytest.skip("this file system does not keep sparse files")
    assert probe_duration(path) > 30 * 3600  # what the header (and file size) claim
    tracemalloc.start()
    try:
        with pytest.raises(AudioTooLongError):
            for _ in iter_windows(path, 32000, 10.0, 5.0, max_seconds=60):
                pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20


def test_mp3_whose_xing_header_claims_billions_of_frames(tmp_path):
    """soundfile's ``read(-1)`` allocates what libsndfile's frame count says (here ~576 GB);
    raw reads allocate what the data hold."""
    sr = 16000
    x = (0.1 * np.sin(2 * np.pi * 440 * np.arange(3 * sr) / sr)).astype(np.float32)
    path = tmp_path / "lie.mp3"
    sf.write(path, x, sr)
    b = bytearray(path.read_bytes())
    tag = b.find(b"Xing")
    assert tag >= 0 and b[tag + 7] & 1  # LAME wrote a frame count
    b[tag + 8 : tag + 12] = struct.pack(">I", 0x0FFFFFFF)
    path.write_bytes(bytes(b))
    assert sf.info(str(path)).frames > 1e10  # what the header claims
    tracemalloc.start()
    try:
        whole = load_audio(path, sr)
        part = load_audio(path, sr, start=0.5)
        windows = list(iter_windows(path, sr, 1.0, 1.0))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert abs(len(whole) - 3 * sr) < 0.1 * sr
    assert len(part) == len(whole) - sr // 2  # a seeked read: the slice up to float rounding
    np.testing.assert_allclose(part, whole[sr // 2 :], atol=1e-5)
    assert windows[-1][0].stop == len(whole)
    assert peak < 16 << 20


# --------------------------------------------------------------------------------------------
# memory does not grow with the duration


def _traced_peak_of_streaming(path: Path) -> tuple[int, int]:
    tracemalloc.start()
    try:
        n = sum(len(y) for _, y in iter_windows(path, 32000, 10.0, 5.0))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, n


@pytest.mark.slow
def test_streaming_memory_is_flat_from_1_to_10_minutes_of_silence_flac(tmp_path):
    short = write_silence_flac(tmp_path / "1min.flac", 60)
    long = write_silence_flac(tmp_path / "10min.flac", 600)
    peak_short, n_short = _traced_peak_of_streaming(short)
    peak_long, n_long = _traced_peak_of_streaming(long)
    assert n_long > 9 * n_short  # the whole 10 minutes went through
    # a full decode of 10 min at 32 kHz alone is 77 MB; the stream holds about two windows
    assert peak_long < peak_short + (1 << 20)
    assert peak_long < 16 << 20


_RSS_SCRIPT = """
import json, resource, sys
from audioseek.audio.io import iter_windows
n = sum(len(y) for _, y in iter_windows(sys.argv[1], 32000, 10.0, 5.0))
print(json.dumps({"samples": n, "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


@pytest.mark.slow
def test_streaming_peak_rss_is_flat_from_1_to_10_minutes(tmp_path):
    """Everything the process holds (libsndfile, soxr, numpy), measured in fresh processes."""
    peaks = {}
    for minutes in (1, 10):
        path = write_silence_flac(tmp_path / f"{minutes}min.flac", 60 * minutes)
        out = subprocess.run(
            [sys.executable, "-c", _RSS_SCRIPT, str(path)],
            check=True,
            capture_output=True,
            text=True,
        )
        res = json.loads(out.stdout.strip().splitlines()[-1])
        assert res["samples"] >= 60 * minutes * 32000
        peaks[minutes] = res["maxrss_kb"] * 1024
    # a full decode of 10 minutes would add ~100 MB (44.1 kHz native + 32 kHz output)
    assert peaks[10] - peaks[1] < 24 << 20, peaks
