"""Every corpus sound is decoded by ``offline_sources.decode.decode_mono``: a cap on the
decoded length (a small file that decodes to hours must not take all the memory) and one
error naming the sound."""

from __future__ import annotations

import io
import logging

import numpy as np
import pytest
import soundfile as sf

from audioseek.data import offline_corpus as oc
from audioseek.data.offline_sources import decode, packed
from audioseek.errors import AudioDecodeError

SR = 8000


def _flac(seconds: float) -> bytes:
    """A long, mostly silent FLAC: a few kB that decode to ``seconds`` of audio."""
    wave = np.zeros(int(seconds * SR), dtype=np.float32)
    wave[:SR] = 0.5 * np.sin(np.arange(SR) * 0.3)
    buf = io.BytesIO()
    sf.write(buf, wave, SR, format="FLAC")
    return buf.getvalue()


def test_a_file_that_decodes_past_the_cap_is_cut_with_a_warning(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(decode, "MAX_DECODE_SECONDS", 5.0)
    path = tmp_path / "long.flac"
    path.write_bytes(_flac(60.0))
    assert path.stat().st_size < 20_000  # small on disk, 12 times the cap once decoded
    with caplog.at_level(logging.WARNING):
        wave = oc.decode_file(path, SR)
    assert wave.shape == (5 * SR,) and wave.dtype == np.float32
    assert f"{path} decodes to more than" in caplog.text
    # the same cap for sounds held in memory (container members)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        member = packed._decode(_flac(60.0), "box.cat:long.flac", SR)
    assert member.shape == (5 * SR,) and "box.cat:long.flac decodes to more than" in caplog.text


def test_a_file_within_the_cap_is_decoded_whole_and_resampled(tmp_path, caplog):
    path = tmp_path / "short.flac"
    path.write_bytes(_flac(3.0))
    with caplog.at_level(logging.WARNING):
        wave = oc.decode_file(path, 2 * SR)
    assert wave.shape == (6 * SR,) and not caplog.text


@pytest.mark.parametrize("data", [b"", b"RIFF\x00\x00\x00\x00WAVEfmt ", b"not audio at all" * 10])
def test_broken_sounds_raise_one_error_naming_them(tmp_path, data):
    path = tmp_path / "broken.wav"
    path.write_bytes(data)
    with pytest.raises(AudioDecodeError, match="broken.wav"):
        oc.decode_file(path, SR)
    with pytest.raises(AudioDecodeError, match="pack.cat:x.wav"):
        packed._decode(data, "pack.cat:x.wav", SR)
