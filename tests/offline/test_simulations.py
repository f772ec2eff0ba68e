"""The four simulation games of corpus v6 (Search and Rescue, Eat The Whistle, Micropolis,
NetPanzer), read from trees laid out as their Debian packages install them, WAV files as
they ship (PCM, mono, 8-bit and 16-bit)."""

from __future__ import annotations

import logging
import random
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audioseek.data import offline_corpus as oc
from audioseek.data.offline_sources import simulations as sim
from audioseek.data.offline_sources.base import Clip
from audioseek.data.offline_sources.captions import CATEGORIES, categorize, make_captions


def _wav(path: Path, seconds: float = 0.8, subtype: str = "PCM_16", sr: int = 22050) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sr)) / sr
    wave = (0.4 * np.sin(2 * np.pi * 300 * t) * np.exp(-t)).astype(np.float32)
    sf.write(str(path), wave, sr, subtype=subtype)
    return path


def test_searchandrescue_reads_nested_folders_and_skips_what_the_name_does_not_tell(tmp_path):
    root = tmp_path / "searchandrescue/sounds"
    _wav(root / "helicopter_engine_start.wav", seconds=2.0)
    _wav(root / "hh60/engine_inside.wav", subtype="PCM_U8", sr=11025)
    _wav(root / "thunder_loud.wav")
    _wav(root / "screenshot.wav")  # a game sound, not a recording named by what it is
    (root / "readme.txt").write_text("not audio")
    clips = {c.key: c for c in sim.read_searchandrescue(root)}
    assert set(clips) == {
        "searchandrescue/helicopter_engine_start",
        "searchandrescue/hh60/engine_inside",
        "searchandrescue/thunder_loud",
    }
    heli = clips["searchandrescue/hh60/engine_inside"]
    assert heli.phrases[0] == "a helicopter engine heard from inside the cabin"
    assert categorize(heli) == "aircraft" and heli.wordnet_noun == "helicopter"
    assert clips["searchandrescue/thunder_loud"].kind == "ambience"
    assert categorize(clips["searchandrescue/thunder_loud"]) == "thunder"
    for c in clips.values():  # 8-bit unsigned WAV as shipped decodes like the rest
        wave = oc.decode_file(c.path, oc.SAMPLE_RATE)
        assert wave.ndim == 1 and wave.size > 0.7 * oc.SAMPLE_RATE and np.abs(wave).max() > 0.1


def test_etw_micropolis_netpanzer_tables_and_category_overrides(tmp_path):
    etw = tmp_path / "etw"
    _wav(etw / "crowd/crowd07.wav")
    _wav(etw / "snd/shoot2.wav")
    _wav(etw / "snd/fischiolungo.wav")
    _wav(etw / "music/back3.wav")  # a music loop: left out
    _wav(etw / "arcadesnd/t4.wav")  # unnamed: left out
    clips = {c.key: c for c in sim.read_etw(etw)}
    assert set(clips) == {"etw/crowd/crowd07", "etw/snd/shoot2", "etw/snd/fischiolungo"}
    assert categorize(clips["etw/crowd/crowd07"]) == "human_sound"
    # the file is called "shoot": the words would make it a gunshot, the table says other
    kick = clips["etw/snd/shoot2"]
    assert kick.phrases[0] == "a football being kicked hard" and kick.category == "other"

    mp = tmp_path / "micropolis/res/sounds"
    for stem in ("siren", "quackquack", "honkhonk-low", "res", "road"):
        _wav(mp / f"{stem}.wav", seconds=0.4)
    clips = {c.key: c for c in sim.read_micropolis(mp)}
    assert set(clips) == {"micropolis/siren", "micropolis/quackquack", "micropolis/honkhonk-low"}
    assert categorize(clips["micropolis/quackquack"]) == "bird"
    assert clips["micropolis/siren"].wordnet_noun is None  # WordNet's first siren is a nymph

    npz = tmp_path / "netpanzer/sound"
    for stem in ("hevidle", "expl_3", "hit_02", "move_yessir", "mt-selected_raw"):
        _wav(npz / f"{stem}.wav")
    clips = {c.key: c for c in sim.read_netpanzer(npz)}
    assert set(clips) == {"netpanzer/hevidle", "netpanzer/expl_3", "netpanzer/hit_02"}
    assert clips["netpanzer/hit_02"].category == "explosion"
    assert categorize(clips["netpanzer/hevidle"]) == "vehicle"


def test_missing_packages_are_warnings_naming_them(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        assert sim.read_searchandrescue(tmp_path / "a") == []
        assert sim.read_etw(tmp_path / "b") == []
        assert sim.read_micropolis(tmp_path / "c") == []
        assert sim.read_netpanzer(tmp_path / "d") == []
    for package in ("searchandrescue-data", "etw-data", "micropolis-data", "netpanzer-data"):
        assert package in caplog.text


@pytest.mark.parametrize("source", sorted(sim.SOURCES_V6))
def test_every_table_row_gives_a_known_category_and_five_distinct_captions(source):
    table = getattr(sim, source.upper())
    overrides = {k.split("/", 1)[1]: v for k, v in sim.CATEGORY.items() if k.startswith(source)}
    assert set(overrides) <= set(table), "an override names a file the table does not keep"
    for name, (phrases, kind, _noun) in table.items():
        clip = Clip(
            source=source,
            key=f"{source}/{name}",
            label=name,
            kind=kind,
            phrases=phrases.split("|"),
            path=Path("x.wav"),
            category=overrides.get(name, ""),
        )
        assert (clip.category or categorize(clip)) in CATEGORIES
        caps = make_captions(clip, random.Random(0))
        assert len(caps) == len(set(caps)) == 5, (name, caps)


@pytest.mark.parametrize("version", [5, 4])
def test_older_corpus_versions_do_not_read_the_simulation_sources(version):
    assert not set(oc.version_sources(version)) & set(sim.SOURCES_V6)
    assert set(oc.version_sources(6)) == set(oc.version_sources(5)) | set(sim.SOURCES_V6)
