"""Decoding: every format, resampling, mixdown, windowed reads, typed errors, header info."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audioseek.audio import io as aio
from audioseek.audio.io import AUDIO_EXTENSIONS, AudioInfo, audio_info, load_audio
from audioseek.errors import AudioDecodeError, AudioseekError, ConfigError

NATIVE_SR = 44100  # the rate tests/audio/conftest.py writes at
SECONDS = 1.5  # length of its short files
TONE_HZ = 1000.0


def peak_hz(x: np.ndarray, sr: int) -> float:
    """Frequency of the largest FFT bin of a Hann-windowed signal."""
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spec) * sr / len(x))


def mono_reference(kit, sr: int) -> np.ndarray:
    """The exact mixdown of the fixtures' stereo tone, synthesised directly at ``sr``."""
    return kit.tone(sr=sr).mean(axis=1)


# --------------------------------------------------------------------------------------------
# every format decodes


def test_every_format_decodes_to_mono_float32_at_target_rate(encoded, kit, format_name):
    name = format_name
    y = load_audio(encoded[name], 32000)
    assert y.dtype == np.float32 and y.ndim == 1 and y.flags.c_contiguous
    expected = int(round(SECONDS * 32000))
    lossless = kit.FORMATS[name][3]
    # lossless formats are sample-exact; lossy codecs may add a frame of priming/padding
    assert abs(len(y) - expected) <= (0 if lossless else 0.05 * 32000), len(y)
    assert abs(peak_hz(y, 32000) - TONE_HZ) <= 32000 / len(y)  # within one FFT bin
    ref = mono_reference(kit, 32000)
    if lossless:
        inner = slice(2000, expected - 2000)  # away from the resampler's edges
        tol = 2e-2 if name == "wav_pcm_u8" else 2e-3
        np.testing.assert_allclose(y[inner], ref[inner], atol=tol)
    else:  # same loudness (RMS within 10 %)
        n = min(len(y), len(ref))
        assert np.sqrt(np.mean(y[:n] ** 2)) == pytest.approx(np.sqrt(np.mean(ref**2)), rel=0.1)


@pytest.mark.parametrize(
    "name,quantum",
    [("wav_pcm16", 2**-15), ("wav_pcm24", 2**-23), ("wav_pcm32", 2**-31), ("wav_float", 1e-7)],
)
def test_pcm_widths_and_stereo_mixdown_exact_at_native_rate(encoded, kit, name, quantum):
    y = load_audio(encoded[name], NATIVE_SR)
    x = kit.tone()
    np.testing.assert_allclose(y, (x[:, 0] + x[:, 1]) / 2, atol=quantum + 1e-7)


def test_mixdown_of_opposite_channels_is_silence(tmp_path, kit):
    s = kit.tone()[:, 0]
    sf.write(tmp_path / "opp.wav", np.stack([s, -s], 1), NATIVE_SR, subtype="FLOAT")
    assert np.abs(load_audio(tmp_path / "opp.wav", NATIVE_SR)).max() == 0.0


def test_multichannel_float_wav(tmp_path):
    x = np.random.default_rng(0).uniform(-1, 1, (4000, 6)).astype(np.float32)
    sf.write(tmp_path / "six.wav", x, 16000, subtype="FLOAT")
    np.testing.assert_allclose(load_audio(tmp_path / "six.wav", 16000), x.mean(1), atol=1e-7)


@pytest.mark.parametrize("target", [8000, 16000, 22050, 32000, 48000, 96000])
def test_resampling_keeps_1khz_sine_at_1khz(tmp_path, kit, target):
    path = tmp_path / "sine.wav"
    sf.write(path, kit.tone()[:, 0], NATIVE_SR, subtype="FLOAT")
    y = load_audio(path, target)
    assert len(y) == int(round(SECONDS * target))
    assert abs(peak_hz(y, target) - 1000.0) <= target / len(y)
    # high-quality resampling: the interior matches the ideal sine closely
    ref = kit.tone(sr=target)[:, 0]
    inner = slice(len(y) // 10, -len(y) // 10)
    np.testing.assert_allclose(y[inner], ref[inner], atol=1e-3)


def test_decoding_is_deterministic(encoded):
    for name in ("mp3", "m4a_aac", "ogg_opus", "webm_opus"):
        a = load_audio(encoded[name], 32000)
        b = load_audio(encoded[name], 32000)
        assert np.array_equal(a, b), name


def test_format_found_by_content_not_extension(tmp_path, encoded):
    odd = tmp_path / "audio.dat"
    odd.write_bytes(encoded["flac"].read_bytes())
    np.testing.assert_array_equal(load_audio(odd, 16000), load_audio(encoded["flac"], 16000))
    misnamed = tmp_path / "really_flac.mp3"
    misnamed.write_bytes(encoded["flac"].read_bytes())
    np.testing.assert_array_equal(load_audio(misnamed, 16000), load_audio(encoded["flac"], 16000))


def test_audio_extensions():
    assert {".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".wma", ".webm"} <= set(
        AUDIO_EXTENSIONS
    )
    assert all(e.startswith(".") and e == e.lower() for e in AUDIO_EXTENSIONS)


# --------------------------------------------------------------------------------------------
# windowed reads


WINDOWS = [
    (0.5, 1.7),
    (1.23, 2.9),
    (0.0, 1.0),
    (7.5, None),
    (9.0, 100.0),
    (11.9, 11.95),
    (3.3, 3.31),
]


@pytest.mark.parametrize(
    "name", ["wav_pcm16", "flac", "ogg_vorbis", "ogg_opus", "mp3", "webm_opus"]
)
@pytest.mark.parametrize("sr", [NATIVE_SR, 32000])
def test_windowed_read_equals_slice_of_full_read(long_files, name, sr):
    full = load_audio(long_files[name], sr)
    for start, end in WINDOWS:
        w = load_audio(long_files[name], sr, start=start, end=end)
        a = int(round(start * sr))
        b = None if end is None else int(round(end * sr))
        ref = full[a:b]
        assert len(w) == len(ref), (start, end)
        np.testing.assert_allclose(w, ref, atol=1e-5, err_msg=f"{name} [{start}, {end})")


def test_windowed_read_m4a_matches_full_read(long_files):
    """AAC decoded from a seek point: same samples up to the codec's float noise."""
    full = load_audio(long_files["m4a_aac"], 32000)
    for start, end in [(0.5, 1.7), (4.2, 6.0), (10.0, 11.0)]:
        w = load_audio(long_files["m4a_aac"], 32000, start=start, end=end)
        ref = full[int(round(start * 32000)) : int(round(end * 32000))]
        assert len(w) == len(ref)
        np.testing.assert_allclose(w, ref, atol=1e-3)


def test_window_past_end_is_empty_and_window_clipped_at_end(long_files):
    assert load_audio(long_files["flac"], 16000, start=50.0).shape == (0,)
    assert load_audio(long_files["m4a_aac"], 16000, start=50.0, end=60.0).shape == (0,)
    assert len(load_audio(long_files["flac"], 16000, start=11.0, end=20.0)) == 16000


def test_windowed_read_seeks_instead_of_decoding_everything(long_files, monkeypatch):
    decoded = []
    real_mixdown = aio._mixdown  # every decoded block of a stereo file is mixed down once

    def counting_mixdown(x):
        decoded.append(len(x))
        return real_mixdown(x)

    monkeypatch.setattr(aio, "_mixdown", counting_mixdown)
    y = load_audio(long_files["flac"], NATIVE_SR, start=10.0, end=11.0)
    assert len(y) == NATIVE_SR
    # the window plus the decoder pre-roll: the file was entered by a seek, not decoded from 0
    assert sum(decoded) == NATIVE_SR + aio._PREROLL

    frames = []
    real_frame = aio._frame_to_mono
    monkeypatch.setattr(aio, "_frame_to_mono", lambda f, sr: frames.append(1) or real_frame(f, sr))
    load_audio(long_files["m4a_aac"], 32000, start=10.0, end=11.0)
    total = 12 * NATIVE_SR / 1024  # AAC frames in the file
    assert len(frames) < 0.2 * total


@pytest.mark.parametrize(
    "start,end", [(-1.0, 2.0), (2.0, 1.0), (1.0, 1.0), (float("nan"), None), ("abc", None)]
)
def test_invalid_window_is_a_typed_error_naming_values(encoded, start, end):
    with pytest.raises(AudioDecodeError, match="start|end") as ei:
        load_audio(encoded["wav_pcm16"], 16000, start=start, end=end)
    assert str(encoded["wav_pcm16"]) in str(ei.value)


@pytest.mark.parametrize("sr", [0, -16000, 16000.5, "16k", None, True])
def test_invalid_target_rate(encoded, sr):
    with pytest.raises(ConfigError, match="sample rate"):
        load_audio(encoded["wav_pcm16"], sr)


# --------------------------------------------------------------------------------------------
# bad files


def _bad_files(root: Path, encoded: dict[str, Path]) -> dict[str, Path]:
    files = {}
    files["missing"] = root / "nope.wav"
    (root / "adir.wav").mkdir()
    files["directory"] = root / "adir.wav"
    files["empty"] = root / "empty.flac"
    files["empty"].write_bytes(b"")
    files["zero_length"] = root / "zero.wav"
    sf.write(files["zero_length"], np.zeros((0, 2), np.float32), 16000)
    files["text"] = root / "notes.wav"
    files["text"].write_text("this is not audio\n" * 50)
    files["random_mp3"] = root / "random.mp3"
    files["random_mp3"].write_bytes(np.random.default_rng(3).bytes(20000))
    files["png"] = root / "image.m4a"
    files["png"].write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(3000))
    wav = encoded["wav_pcm16"].read_bytes()
    files["corrupt_header"] = root / "corrupt.wav"
    files["corrupt_header"].write_bytes(wav[:8] + b"JUNKJUNK" + wav[16:])
    files["header_only_flac"] = root / "hdr.flac"
    files["header_only_flac"].write_bytes(encoded["flac"].read_bytes()[:60])
    files["truncated_m4a"] = root / "trunc.m4a"  # moov atom is at the end: nothing decodable
    files["truncated_m4a"].write_bytes(encoded["m4a_aac"].read_bytes()[:2000])
    files["truncated_webm_header"] = root / "trunc.webm"
    files["truncated_webm_header"].write_bytes(encoded["webm_opus"].read_bytes()[:40])
    return files


def test_bad_inputs_raise_audio_decode_error_naming_the_file(tmp_path, encoded):
    for kind, path in _bad_files(tmp_path, encoded).items():
        for call in (lambda p: load_audio(p, 16000), audio_info):
            with pytest.raises(AudioDecodeError) as ei:
                call(path)
            err = ei.value
            assert isinstance(err, AudioseekError)
            assert err.path == str(path), kind
            assert repr(str(path)) in str(err), kind
            assert "\n" not in str(err) and err.reason, kind


def test_non_finite_float_wav_is_rejected(tmp_path):
    x = np.zeros(1000, np.float32)
    x[500] = np.nan
    sf.write(tmp_path / "nan.wav", x, 16000, subtype="FLOAT")
    with pytest.raises(AudioDecodeError, match="non-finite"):
        load_audio(tmp_path / "nan.wav", 16000)


@pytest.mark.parametrize("name", ["wav_pcm16", "flac", "ogg_vorbis", "mp3", "webm_opus"])
def test_truncated_file_decodes_what_is_there(tmp_path, long_files, name):
    data = long_files[name].read_bytes()
    path = tmp_path / ("cut" + long_files[name].suffix)
    path.write_bytes(data[: len(data) // 2])
    full = load_audio(long_files[name], 16000)
    cut = load_audio(path, 16000)
    assert 0.3 * len(full) < len(cut) < 0.7 * len(full)
    if name in ("wav_pcm16", "flac"):  # lossless: the decoded part is the same audio
        n = len(cut) - 2000  # the resampler's tail differs where the file stops
        np.testing.assert_allclose(cut[:n], full[:n], atol=1e-4)


# --------------------------------------------------------------------------------------------
# audio_info


def test_audio_info_from_headers(encoded, kit, format_name):
    name = format_name
    info = audio_info(encoded[name])
    assert isinstance(info, AudioInfo)
    assert info.channels == 2
    native = 48000 if "opus" in name else NATIVE_SR
    assert info.sample_rate == native
    tol = 1e-9 if kit.FORMATS[name][3] else 0.1
    assert info.duration == pytest.approx(SECONDS, abs=tol)
    ext = encoded[name].suffix.lstrip(".")
    expected_format = {"opus": "ogg", "wma": "asf", "mka": "matroska"}.get(ext, ext)
    assert info.format == expected_format
    expected_codec = {
        "wav_pcm16": "pcm_s16", "wav_pcm24": "pcm_s24", "wav_pcm32": "pcm_s32",
        "wav_pcm_u8": "pcm_u8", "wav_float": "pcm_f32", "wav_double": "pcm_f64",
        "flac": "flac", "ogg_vorbis": "vorbis", "ogg_opus": "opus", "mp3": "mp3",
        "m4a_aac": "aac", "aac_adts": "aac", "webm_opus": "opus", "wma": "wmav2",
        "m4a_alac": "alac", "mka_flac": "flac",
    }[name]  # fmt: skip
    assert info.codec == expected_codec


def test_audio_info_tags(tmp_path, kit):
    tags = {"title": "Rain on a tin roof", "artist": "Field Recorder", "album": "Weather",
            "genre": "Ambient"}  # fmt: skip
    x = kit.tone()
    for fmt, ext in [("WAV", "wav"), ("FLAC", "flac"), ("OGG", "ogg")]:
        path = tmp_path / f"t.{ext}"
        with sf.SoundFile(path, "w", NATIVE_SR, 2, format=fmt) as f:
            for k, v in tags.items():
                setattr(f, k, v)
            f.write(x)
        assert audio_info(path).tags == tags, ext

    mp3 = tmp_path / "t.mp3"
    sf.write(mp3, x, NATIVE_SR)
    from mutagen.easyid3 import EasyID3

    id3 = EasyID3()
    id3.update(tags)
    id3.save(mp3)
    assert audio_info(mp3).tags == tags
    assert len(load_audio(mp3, 16000)) == int(SECONDS * 16000)  # the ID3 block is skipped

    m4a = kit.write_av(tmp_path / "t.m4a", x, NATIVE_SR, "aac", "mp4", metadata=tags)
    assert audio_info(m4a).tags == tags
    webm = kit.write_av(tmp_path / "t.webm", x, NATIVE_SR, "libopus", "webm", rate=48000,
                       metadata=tags)  # fmt: skip
    assert audio_info(webm).tags == tags
    assert audio_info(tmp_path / "t.wav").duration == pytest.approx(SECONDS)


def test_audio_info_does_not_decode(long_files, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("audio_info decoded audio")

    monkeypatch.setattr(sf.SoundFile, "read", boom)
    monkeypatch.setattr(aio, "_frame_to_mono", boom)
    for name in ("flac", "mp3", "m4a_aac", "webm_opus"):
        assert audio_info(long_files[name]).duration == pytest.approx(12.0, abs=0.1)


def test_block_reads_equal_one_read(long_files, monkeypatch):
    """Long files are read (and mixed down) block by block; the result does not depend on it."""
    whole = {n: load_audio(long_files[n], 32000) for n in ("wav_pcm16", "flac", "mp3")}
    monkeypatch.setattr(aio, "_LARGE", 1000)
    for name, ref in whole.items():
        np.testing.assert_array_equal(load_audio(long_files[name], 32000), ref)
        w = load_audio(long_files[name], 32000, start=2.0, end=3.0)
        np.testing.assert_allclose(w, ref[64000:96000], atol=1e-5)


def test_io_and_windows_do_not_import_torch():
    """The indexer's scanner and ``audioseek --help`` import these; torch must stay lazy."""
    import subprocess
    import sys

    code = (
        "import sys, audioseek.audio.io, audioseek.audio.windows; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
