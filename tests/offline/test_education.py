"""The two children's sound libraries of corpus v5 (qABCs, Scratch), read from trees laid
out as their Debian packages install them, with files in their real formats (Ogg Vorbis,
WAV, MP3)."""

from __future__ import annotations

import logging
import random
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audioseek.data import offline_corpus as oc
from audioseek.data.offline_sources import education as ed
from audioseek.data.offline_sources.captions import CATEGORIES, categorize, make_captions


def _sound(path: Path, seconds: float = 0.6, freq: float = 440.0, sr: int = 22050) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sr)) / sr
    wave = (0.4 * np.sin(2 * np.pi * freq * t) * np.exp(-2 * t)).astype(np.float32)
    fmt = {".ogg": "OGG", ".wav": "WAV", ".mp3": "MP3"}[path.suffix]
    sf.write(str(path), wave, sr, format=fmt)
    return path


def test_qabcs_keeps_the_sounds_its_table_describes(tmp_path):
    root = tmp_path / "abcs/all/noises"
    for stem in ("dog", "wolf", "grasshopper", "cheburashka", "earth", "violin"):
        _sound(root / f"{stem}.ogg")
    clips = {c.key: c for c in ed.read_qabcs(root)}
    # cartoon characters and pictures whose sound the name does not tell are left out
    assert set(clips) == {"qabcs/dog", "qabcs/wolf", "qabcs/grasshopper", "qabcs/violin"}
    assert clips["qabcs/dog"].phrases == ["a dog barking", "a dog"]
    assert clips["qabcs/wolf"].phrases[0] == "a wolf howling"
    assert clips["qabcs/violin"].kind == "instrument"
    assert categorize(clips["qabcs/violin"]) == "instrument"
    # the words say "chirping" (a bird); the table says insect, and the builder keeps it
    assert clips["qabcs/grasshopper"].category == "insect"
    assert clips["qabcs/dog"].path == root / "dog.ogg"
    assert all(c.source == "qabcs" for c in clips.values())


def test_scratch_reads_wav_and_mp3_and_skips_synthesised_and_sung_sounds(tmp_path):
    root = tmp_path / "Media/Sounds"
    _sound(root / "Animal/Dog1.wav")
    _sound(root / "Animal/WolfHowl.wav", seconds=2.0, freq=600)
    _sound(root / "Human/BabyCry.mp3", sr=44100)
    _sound(root / "Electronic/Laser1.wav")
    _sound(root / "Vocals/Come-and-play.mp3", sr=44100)
    _sound(root / "Animal/Unlisted.wav")
    (root / "Animal/Dog2.txt").write_text("not audio")
    clips = {c.key: c for c in ed.read_scratch(root)}
    assert set(clips) == {"scratch/Animal/Dog1", "scratch/Animal/WolfHowl", "scratch/Human/BabyCry"}
    assert clips["scratch/Human/BabyCry"].phrases[0] == "a baby crying"
    assert clips["scratch/Animal/Dog1"].label == "dog"
    assert clips["scratch/Animal/WolfHowl"].label == "wolf howl"
    # the builder decodes every kept file, MP3 included
    for c in clips.values():
        wave = oc.decode_file(c.path, oc.SAMPLE_RATE)
        assert wave.ndim == 1 and wave.size > 0.5 * oc.SAMPLE_RATE


def test_missing_package_is_a_warning_and_no_clips(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        assert ed.read_qabcs(tmp_path / "none") == []
        assert ed.read_scratch(tmp_path / "nothing") == []
    text = caplog.text
    assert "qabcs-data" in text and "scratch" in text and str(tmp_path / "none") in text


def test_tables_give_five_distinct_captions_and_unique_keys():
    for source, table in (("qabcs", ed.QABCS), ("scratch", ed.SCRATCH)):
        assert len(set(table)) == len(table)
        for name, (phrases, kind, _noun) in table.items():
            assert all(p.strip() for p in phrases.split("|")), name
            clip = ed.Clip(
                source=source,
                key=f"{source}/{name}",
                label=name.lower(),
                kind=kind,
                phrases=phrases.split("|"),
                path=Path("x.wav"),
                category=ed.CATEGORY.get(name, ""),
            )
            assert (clip.category or categorize(clip)) in CATEGORIES
            caps = make_captions(clip, random.Random(0))
            assert len(caps) == len(set(caps)) == 5, (name, caps)


@pytest.mark.parametrize("version", [4, 3])
def test_older_corpus_versions_do_not_read_the_education_sources(version):
    assert not set(oc.version_sources(version)) & set(ed.SOURCES_V5)
