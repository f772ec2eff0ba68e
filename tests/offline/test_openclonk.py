"""OpenClonk's c4group reader and sound rules (corpus v4), on groups written in the real
format: gzip with magic 1E 8C, a scrambled 204-byte header, 316-byte entries, child groups
nested without the gzip layer."""

from __future__ import annotations

import gzip
import io
import logging
import struct

import numpy as np
import pytest
import soundfile as sf

from audioseek.data.offline_sources import openclonk as oc


def _wav(seconds: float = 0.4, freq: float = 440.0, sr: int = 22050) -> bytes:
    buf = io.BytesIO()
    t = np.arange(int(seconds * sr)) / sr
    sf.write(buf, (0.4 * np.sin(2 * np.pi * freq * t)).astype(np.float32), sr, format="WAV")
    return buf.getvalue()


def _group(files: dict, *, bad_offset: str | None = None) -> bytes:
    """An uncompressed c4group of ``files`` (name -> bytes, or a dict: a child group)."""
    blobs = [
        (n, v if isinstance(v, bytes) else _group(v), not isinstance(v, bytes))
        for n, v in files.items()
    ]
    head = bytearray(oc.HEADER_SIZE)
    ident = b"RedWolf Design GrpFolder"
    head[: len(ident)] = ident
    struct.pack_into("<iii", head, 0x1C, 1, 2, len(blobs))
    entries, body = b"", b""
    for name, blob, child in blobs:
        core = bytearray(oc.ENTRY_SIZE)
        core[: len(name)] = name.encode("latin-1")
        offset = len(body) + (10**6 if name == bad_offset else 0)
        struct.pack_into("<iiiii", core, 260, 1, int(child), len(blob), 0, offset)
        entries += bytes(core)
        body += blob
    return oc._unscramble(bytes(head)) + entries + body  # scrambling is its own inverse


def _packed(files: dict, **kw) -> bytes:
    data = gzip.compress(_group(files, **kw))
    return b"\x1e\x8c" + data[2:]


SOUNDS = {
    "Animals.ocg": {"Bat.ocg": {"Flutter1.wav": _wav(), "Chirp.wav": _wav()}, "Zap.ogg": _wav()},
    "Liquids.ocg": {"Boiling.wav": _wav(1.0, 90)},
    "Structures.ocg": {"Chest.ocg": {"Open.wav": _wav(), "Close.wav": _wav()}},
    "UI.ocg": {"Click.wav": _wav()},
    "authors.txt": b"If not stated otherwise, CC-BY-3.0",
}


def test_group_entries_round_trip_nested_groups():
    data = oc.gunzip_group(_packed(SOUNDS))
    entries = dict(oc.group_entries(data))
    assert entries["Animals.ocg/Bat.ocg/Chirp.wav"] == SOUNDS["Animals.ocg"]["Bat.ocg"]["Chirp.wav"]
    assert entries["authors.txt"] == SOUNDS["authors.txt"]
    assert len(entries) == 8


def test_read_openclonk_keeps_what_a_rule_describes(tmp_path):
    path = tmp_path / "Sound.ocg"
    path.write_bytes(_packed(SOUNDS))
    clips = {c.key: c for c in oc.read_openclonk(path)}
    # the fantasy "Zap", the interface click and the text file have no rule
    assert set(clips) == {
        "openclonk/Animals/Bat/Flutter1",
        "openclonk/Animals/Bat/Chirp",
        "openclonk/Liquids/Boiling",
        "openclonk/Structures/Chest/Open",
        "openclonk/Structures/Chest/Close",
    }
    boil = clips["openclonk/Liquids/Boiling"]
    assert boil.phrases == ["a liquid boiling", "bubbling boiling water"]
    assert boil.category == "water" and boil.source == "openclonk"
    assert boil.origin.endswith("Sound.ocg:Liquids.ocg/Boiling.wav")
    wave = boil.render(22050)
    assert wave.dtype == np.float32 and abs(wave.size / 22050 - 1.0) < 0.01
    assert clips["openclonk/Structures/Chest/Close"].phrases[0] == "a wooden chest closing"
    assert clips["openclonk/Animals/Bat/Chirp"].category == "animal"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x1f\x8b" + gzip.compress(b"x")[2:], "magic"),
        (b"\x1e\x8c" + gzip.compress(b"too short")[2:], "shorter than its header"),
        (b"\x1e\x8c" + gzip.compress(bytes(300))[2:], "bad header"),
        (_packed({"a.wav": b"RIFF"}, bad_offset="a.wav"), "'a.wav' lies outside"),
    ],
)
def test_a_broken_group_is_skipped_with_a_warning(tmp_path, caplog, data, message):
    path = tmp_path / "Sound.ocg"
    path.write_bytes(data)
    with caplog.at_level(logging.WARNING):
        assert oc.read_openclonk(path) == []
    assert message in caplog.text and str(path) in caplog.text


def test_limits_on_size_and_nesting():
    # a tiny file that inflates past the limit is refused rather than read
    bomb = b"\x1e\x8c" + gzip.compress(bytes(1 << 20))[2:]
    with pytest.raises(ValueError, match="more than 1000 bytes"):
        oc.gunzip_group(bomb, limit=1000)
    nested: dict = {"x.wav": _wav(0.1)}
    for _ in range(oc.MAX_DEPTH + 2):
        nested = {"g.ocg": nested}
    with pytest.raises(ValueError, match="nested deeper"):
        oc.group_entries(_group(nested))


def test_missing_package_is_skipped(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        assert oc.read_openclonk(tmp_path / "nope.ocg") == []
    assert "openclonk-data" in caplog.text


def test_installed_package_gives_its_real_sounds():
    if not oc.SOUND_GROUP.is_file():
        pytest.skip("openclonk-data not installed (scripts/setup.sh --corpus installs it)")
    clips = oc.read_openclonk()
    assert len(clips) > 200 and len({c.key for c in clips}) == len(clips)
    cats = {c.category for c in clips}
    assert {"animal", "water", "footsteps", "door", "fire"} <= cats
