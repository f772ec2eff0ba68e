"""Text fields: name/folder tokens, embedded metadata of every container, the FTS5 table,
and hybrid fusion."""

from __future__ import annotations

import sqlite3
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audioseek.index import textfields as tf
from audioseek.index.hybrid import fuse


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Kick_808_Hard_03", ["kick", "hard"]),
        ("DOORWood_Creak Slow_ACME_01", ["door", "wood", "creak", "slow", "acme"]),
        ("snareRimShot-v2", ["snare", "rim", "shot"]),
        ("0001", []),
        ("rain on tin roof take3", ["rain", "on", "tin", "roof"]),
        ("WindHowl_tk2_t04", ["wind", "howl"]),
        ("808kick", ["kick"]),
    ],
)
def test_tokens(text, expected):
    assert tf.tokens(text) == expected


def test_name_fields_below_root(tmp_path):
    root = tmp_path / "Samples"
    name, folders = tf.name_fields(root / "Drums" / "Kicks" / "Kick_808_Hard.wav", [root])
    assert name == "kick hard"
    assert folders == "samples drums kicks"


def _tone(path: Path, fmt: str | None = None, subtype: str | None = None) -> Path:
    t = np.arange(8000) / 8000
    sf.write(
        path,
        (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32),
        8000,
        format=fmt,
        subtype=subtype,
    )
    return path


def _chunk(cid: bytes, data: bytes) -> bytes:
    pad = b"\x00" if len(data) % 2 else b""
    return cid + struct.pack("<I", len(data)) + data + pad


def _add_wav_chunks(path: Path, description: str, note: str, info_name: str) -> None:
    """Append a Broadcast WAV bext chunk, an iXML chunk and a RIFF INFO list, as recorders do."""
    raw = path.read_bytes()
    assert raw[:4] == b"RIFF" and raw[8:12] == b"WAVE"
    bext = description.encode("ascii").ljust(256, b"\x00") + b"\x00" * (602 - 256)
    ixml = (
        f'<?xml version="1.0" encoding="UTF-8"?><BWFXML><IXML_VERSION>1.5</IXML_VERSION>'
        f"<PROJECT>Harbour</PROJECT><SCENE>12</SCENE><TAKE>3</TAKE><NOTE>{note}</NOTE></BWFXML>"
    ).encode()
    inam = _chunk(b"INAM", info_name.encode() + b"\x00")
    info = _chunk(b"LIST", b"INFO" + inam)
    body = raw[12:] + _chunk(b"bext", bext) + _chunk(b"iXML", ixml) + info
    path.write_bytes(b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body)


def test_metadata_of_every_container(tmp_path):
    import mutagen
    from mutagen.easyid3 import EasyID3
    from mutagen.easymp4 import EasyMP4

    wav = _tone(tmp_path / "a.wav")
    _add_wav_chunks(wav, "Seagulls over a harbour", "distant foghorn", "Harbour ambience")
    fields = tf.file_text(wav)
    for word in ("seagulls", "foghorn", "harbour", "ambience"):
        assert word in fields.meta.lower(), (word, fields)
    assert {"bext", "ixml", "riff"} <= set(fields.sources)

    flac = _tone(tmp_path / "b.flac")
    f = mutagen.File(flac, easy=True)
    f["title"], f["genre"] = "Thunder rumble", "Weather"
    f.save()
    ogg = _tone(tmp_path / "c.ogg", fmt="OGG", subtype="VORBIS")
    f = mutagen.File(ogg, easy=True)
    f["title"], f["comment"] = "Creaking door", "old wooden door"
    f.save()
    mp3 = tmp_path / "d.mp3"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(flac), str(mp3)], check=True
    )
    tags = EasyID3()
    tags["title"], tags["artist"] = "Dog barking", "Field Recordist"
    tags.save(mp3)
    m4a = tmp_path / "e.m4a"
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-loglevel",
            "error",
            "-y",
            "-i",
            str(flac),
            "-c:a",
            "aac",
            str(m4a),
        ],
        check=True,
    )
    mp4 = EasyMP4(m4a)
    mp4["title"], mp4["genre"] = "Helicopter flyby", "Vehicles"
    mp4.save()
    expect = {flac: "thunder", ogg: "wooden", mp3: "barking", m4a: "helicopter"}
    for path, word in expect.items():
        assert word in tf.file_text(path).meta.lower(), path


def test_damaged_file_has_no_metadata_and_does_not_raise(tmp_path):
    bad = tmp_path / "Broken_Glass.wav"
    bad.write_bytes(b"RIFF\xff\xff\xff\xffWAVEjunk")
    fields = tf.file_text(bad)
    assert fields.name == "broken glass" and fields.meta == ""


def test_fts_upsert_search_delete():
    conn = sqlite3.connect(":memory:")
    tf.ensure_table(conn)
    docs = {
        1: tf.TextFields("kick hard", "drums kicks", ""),
        2: tf.TextFields("snare rim", "drums snares", ""),
        3: tf.TextFields("", "", "heavy rain on a tin roof"),
        4: tf.TextFields("", "", ""),
    }
    for fid, d in docs.items():
        tf.upsert(conn, fid, d)
    hits = tf.search_text(conn, "808 kicks")
    assert [h.file_id for h in hits] == [1]
    assert hits[0].terms == ("kicks",)
    assert [h.file_id for h in tf.search_text(conn, "rain")] == [3]
    drums = tf.search_text(conn, "drums")
    assert {h.file_id for h in drums} == {1, 2}
    tf.upsert(conn, 1, tf.TextFields("clap", "", ""))
    assert tf.search_text(conn, "kick") == []
    tf.delete(conn, [2])
    assert tf.search_text(conn, "snare") == []
    assert tf.search_text(conn, '" OR *') == []  # operators are plain words, never syntax


def test_fusion_without_text_matches_is_the_audio_ranking():
    audio = [(5, 0.9), (2, 0.7), (9, 0.4)]
    for method in ("rrf", "weighted"):
        fused = fuse(audio, [], k=3, method=method)
        assert [(f.file_id, f.score) for f in fused] == audio


def test_fusion_lifts_a_name_match():
    audio = [(1, 0.50), (2, 0.49), (3, 0.48), (4, 0.30)]
    text = [(4, 7.0, ("kick",))]
    for method, weight in (("rrf", None), ("weighted", 0.3), ("weighted", 0.1)):
        kw = {} if weight is None else {"weight": weight}
        fused = fuse(audio, text, k=4, method=method, **kw)
        if weight == 0.1:  # too small a weight to beat a 0.2 cosine gap: it stays put
            assert [f.file_id for f in fused] == [1, 2, 3, 4]
            continue
        assert fused[0].file_id == 4, method
        assert fused[0].terms == ("kick",) and fused[0].audio_rank == 4
