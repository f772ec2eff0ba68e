"""The offline corpus builder: real Debian sounds + renders -> a valid captioned manifest."""

from __future__ import annotations

import csv
import io
import os
import random
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audioseek.data import offline_corpus as oc
from audioseek.data.offline_sources import debian, games, games_v3, packed, renders
from audioseek.data.offline_sources.base import Clip, Source
from audioseek.data.offline_sources.captions import (
    CATEGORIES,
    categorize,
    make_captions,
    wordnet_available,
)
from audioseek.errors import DatasetError
from audioseek.utils.locks import FolderLock

SR = oc.SAMPLE_RATE


def _need(path: Path, package: str) -> None:
    if not path.is_dir():
        pytest.skip(f"Debian package {package} not installed (scripts/setup.sh installs it)")


def _rows(manifest: Path) -> list[dict]:
    with manifest.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory) -> Path:
    _need(debian.SONIC_PI_ROOT, "sonic-pi-samples")
    _need(debian.FREEDESKTOP_ROOT, "sound-theme-freedesktop")
    out = tmp_path_factory.mktemp("offline_corpus")
    return oc.build_offline_corpus(
        out,
        seed=0,
        max_per_source=4,
        sources=["sonic_pi", "freedesktop", "fluidsynth", "espeak"],
        holdout=("freedesktop",),
    )


def test_manifest_is_valid_and_loadable(small_corpus):
    rows = _rows(small_corpus)
    assert list(rows[0]) == oc.MANIFEST_COLUMNS
    assert 12 <= len(rows) <= 16  # 4 per source, minus any silent skip
    assert {r["source"] for r in rows} == {"sonic_pi", "freedesktop", "fluidsynth", "espeak"}
    for r in rows:
        caps = [r[f"caption_{i}"] for i in range(1, 6)]
        assert all(c.strip() for c in caps), r
        assert len(set(caps)) == 5, caps
        assert r["split"] in oc.SPLITS
        assert (r["split"] == "heldout") == (r["source"] == "freedesktop")
    from audioseek.data.manifest import load_manifest

    items = load_manifest(small_corpus)
    assert len(items) == len(rows)
    assert all(len(it["captions"]) == 5 for it in items)
    held = load_manifest(small_corpus, split="heldout")
    assert len(held) == sum(r["source"] == "freedesktop" for r in rows)


def test_audio_is_mono_capped_and_not_silent(small_corpus):
    for r in _rows(small_corpus):
        data, sr = sf.read(str(small_corpus.parent / r["path"]), dtype="float32")
        assert sr == SR and data.ndim == 1
        assert oc.MIN_SECONDS <= data.size / sr <= oc.MAX_SECONDS + 1e-3
        assert abs(data.size / sr - float(r["duration"])) < 2e-3
        assert np.max(np.abs(data)) > 0.5  # peak-normalised, never silent


def test_collect_is_deterministic_and_subset_respects_max():
    a = oc.collect_clips(seed=3, sources=["fluidsynth"], max_per_source=7)
    b = oc.collect_clips(seed=3, sources=["fluidsynth"], max_per_source=7)
    assert [c.key for c in a] == [c.key for c in b] and len(a) == 7
    caps_a = [make_captions(c, random.Random(f"3-{c.key}")) for c in a]
    caps_b = [make_captions(c, random.Random(f"3-{c.key}")) for c in b]
    assert caps_a == caps_b
    c = oc.collect_clips(seed=4, sources=["fluidsynth"], max_per_source=7)
    assert [x.key for x in c] != [x.key for x in a]


def test_split_by_file_is_stable_and_roughly_80_10_10():
    keys = [f"src/{i}" for i in range(2000)]
    splits = [oc.split_for(k, "src", 0, holdout=("other",)) for k in keys]
    assert splits == [oc.split_for(k, "src", 0, holdout=("other",)) for k in keys]
    frac = {s: splits.count(s) / len(splits) for s in ("train", "val", "test")}
    assert 0.75 < frac["train"] < 0.85 and 0.07 < frac["val"] < 0.13
    assert oc.split_for("other/x", "other", 0, holdout=("other",)) == "heldout"


def test_clean_audio_trims_caps_and_rejects_silence():
    sr = 1000
    assert oc.clean_audio(np.zeros(5000, np.float32), sr) is None
    assert oc.clean_audio(np.full(100, np.nan, np.float32), sr) is None
    tone = np.concatenate([np.zeros(500), 0.1 * np.sin(np.arange(30_000) * 0.3), np.zeros(700)])
    out = oc.clean_audio(tone.astype(np.float32), sr, max_seconds=10.0)
    assert out.size == 10 * sr  # leading silence trimmed, then capped at 10 s
    assert abs(np.max(np.abs(out)) - oc.PEAK_TARGET) < 1e-5
    assert abs(out[-1]) < 1e-6  # faded out at the cap
    assert oc.clean_audio(np.ones(50, np.float32), sr) is None  # 50 ms: too short


def test_broken_and_silent_files_are_skipped_not_fatal(tmp_path, monkeypatch):
    broken = tmp_path / "broken.ogg"
    broken.write_bytes(b"OggS not really")
    silent = tmp_path / "silent.wav"
    sf.write(str(silent), np.zeros(SR, np.float32), SR)
    good = tmp_path / "good.wav"
    sf.write(str(good), 0.3 * np.sin(np.arange(SR) * 0.05).astype(np.float32), SR)

    def reader(seed):
        return [
            Clip("fake", f"fake/{p.stem}", p.stem, "sfx", [f"a {p.stem} sound"], path=p)
            for p in (broken, silent, good)
        ]

    monkeypatch.setitem(oc.SOURCES, "fake", reader)
    manifest = oc.build_offline_corpus(tmp_path / "out", sources=["fake"])
    rows = _rows(manifest)
    assert [r["label"] for r in rows] == ["good"]
    import json

    stats = json.loads((manifest.parent / "corpus_stats.json").read_text())
    reasons = {s["key"]: s["reason"] for s in stats["skipped"]}
    assert reasons["fake/silent"] == "silent or too short"
    assert "broken.ogg" in reasons["fake/broken"]


def test_a_second_build_into_the_same_folder_is_refused_and_the_first_keeps_its_files(
    tmp_path, monkeypatch
):
    good = tmp_path / "good.wav"
    sf.write(str(good), 0.3 * np.sin(np.arange(SR) * 0.05).astype(np.float32), SR)
    monkeypatch.setitem(
        oc.SOURCES,
        "fake",
        lambda seed: [Clip("fake", "fake/good", "good", "sfx", ["a g"], path=good)],
    )
    out = tmp_path / "out"
    manifest = oc.build_offline_corpus(out, sources=["fake"])
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and p.suffix != ".lock"}
    # another process building there right now holds the folder's lock
    held = FolderLock(out, oc.PREPARE_LOCK, busy="{pid}", cannot="{reason}", error=OSError)
    busy = f"another corpus build is writing to .*out.* \\(pid {os.getpid()}\\)"
    with held, pytest.raises(DatasetError, match=busy):
        oc.build_offline_corpus(out, sources=["fake"])
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and p.suffix != ".lock"}
    assert after == before and manifest.is_file()
    assert oc.build_offline_corpus(out, sources=["fake"]) == manifest  # lock released


def test_bad_arguments_raise_clear_errors(tmp_path):
    with pytest.raises(DatasetError, match="'nope'"):
        oc.collect_clips(sources=["nope"])
    with pytest.raises(DatasetError, match="max_per_source"):
        oc.collect_clips(sources=["espeak"], max_per_source=0)
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(DatasetError, match="not a folder"):
        oc.build_offline_corpus(f, sources=["espeak"], max_per_source=1)
    with pytest.raises(DatasetError, match="max_per_source"):  # and no folder is left
        oc.build_offline_corpus(tmp_path / "new", sources=["espeak"], max_per_source=0)
    assert not (tmp_path / "new").exists()
    with pytest.raises(DatasetError, match="version 7"):
        oc.build_offline_corpus(tmp_path / "new", version=7)
    assert not (tmp_path / "new").exists()


def test_readers_describe_real_package_sounds():
    _need(debian.SONIC_PI_ROOT, "sonic-pi-samples")
    _need(debian.HYDROGEN_ROOT, "hydrogen-drumkits")
    _need(debian.TUXPAINT_ROOT, "tuxpaint-stamps-default")
    sonic = {c.label: c for c in debian.read_sonic_pi()}
    assert sonic["drum_snare_hard"].phrases[0] == "a hard snare drum hit"
    assert sonic["misc_crow"].phrases[0] == "a crow cawing"
    tux = {c.key: c for c in debian.read_tuxpaint()}
    frog = tux["tuxpaint/animals/amphibians/frog"]
    assert frog.phrases[0] == "a frog" and frog.path.suffix == ".ogg"
    assert not any("_desc" in k for k in tux)
    hyd = debian.read_hydrogen()
    assert len({c.path for c in hyd}) == len(hyd) > 100
    assert debian.hydrogen_phrase("Open HH") == "open hi-hat"
    assert debian.hydrogen_phrase("BassDrum") == "kick drum"
    assert debian.hydrogen_phrase("23") is None


def test_midi_render_is_the_requested_instrument_not_silence():
    midi = renders.midi_file(renders.note_events([(0, 0.5, 69, 100)], program=40))
    assert midi[:4] == b"MThd" and b"MTrk" in midi
    wave = renders.render_midi(midi, 22050)
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert 0.4 < wave.size / 22050 < 5.0
    # the violin A4 has its energy at 440 Hz (or a harmonic), not at random
    spec = np.abs(np.fft.rfft(wave))
    f0 = np.argmax(spec) * 22050 / wave.size
    assert min(abs(f0 / 440 - k) for k in (1, 2, 3)) < 0.05


# ---- corpus v2: game packages, segmenting, duplicates, categories, licences --------------


def _tone(path: Path, seconds: float = 0.5, freq: float = 440.0, sr: int = 22050) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sr)) / sr
    wave = (0.4 * np.sin(2 * np.pi * freq * t) * np.exp(-t)).astype(np.float32)
    sf.write(str(path), wave, sr, format="OGG" if path.suffix == ".ogg" else "WAV")
    return path


#: reader, package root layout (files made under the root) -> expected first phrase per key
FAKE_TREES = {
    "flightgear": (
        games.read_flightgear,
        {
            "Sounds/rain.wav": "rain falling",
            "Sounds/helicopter.wav": "a helicopter flying",
            "Aircraft/c172p/Sounds/door-opening.wav": "an aircraft door opening",
        },
        ["Sounds/sounds.xml.wav", "Sounds/mk-viii/altitude_1000.wav"],
    ),
    "lincity": (
        games.read_lincity,
        {
            "sounds/TraficHigh2.wav": "road traffic with cars passing",
            "sounds/RailTrain1.wav": "a train passing on a railway",
        },
        ["sounds/Click.wav"],
    ),
    "widelands": (
        games.read_widelands,
        {
            "sound/animals/wolf_00.ogg": "a wolf howling",
            "sound/animals/crickets1_01.ogg": "crickets chirping",
            "sound/fisher/fisher_throw_net_00.ogg": "a fisherman throwing a net",
        },
        ["sound/lobby_chat.ogg", "music/intro.ogg"],
    ),
    "lugaru": (
        games.read_lugaru,
        {"Sounds/FootStepSnow1.ogg": "footsteps in snow", "Sounds/Bark.ogg": "a dog barking"},
        ["Sounds/ConsoleFail.ogg"],
    ),
    "redeclipse": (
        games.read_redeclipse,
        {
            "ambience/nightcrickets.ogg": "cicadas and crickets chirping",
            "voice/niceshot.ogg": 'a man saying "nice shot"',
            "weapons/smg/primary.ogg": "a submachine gun firing",
        },
        ["interface/press.ogg"],
    ),
    "supertuxkart": (
        games.read_supertuxkart,
        {"sfx/horn.ogg": "a car horn honking", "sfx/engine_small.ogg": "a small engine running"},
        ["sfx/wee.ogg"],
    ),
    "megaglest": (
        games.read_megaglest,
        {
            "tilesets/forest/sounds/night.ogg": "crickets and owls at night in a forest",
            "techs/megapack/commondata/sounds/cow_die1.wav": "a cow",
            "techs/megapack/factions/persian/units/princess/sounds/princess_ack2.wav": (
                "a woman's voice acknowledging an order"
            ),
        },
        ["techs/megapack/commondata/sounds/tech_click.wav"],
    ),
    "warmux": (
        games.read_warmux,
        {"weapons/dynamite_exp.ogg": "an explosion", "misc/step.ogg": "a footstep"},
        ["misc/clic.ogg"],
    ),
    "supertux": (
        games.read_supertux,
        {"sounds/splash.wav": "a splash", "sounds/splash.ogg": "a splash"},
        ["sounds/coin.wav"],
    ),
    "scorched3d": (
        games.read_scorched3d,
        {
            "globalmods/apoc/data/wav/misc/rooster.wav": "a rooster crowing",
            "globalmods/apoc/data/wav/misc/policecar.wav": "a police car siren",
        },
        ["globalmods/apoc/data/wav/misc/extralife.wav"],
    ),
    "freeciv": (
        games.read_freeciv,
        {"stdsounds/LrgExpl.ogg": "a large explosion", "stdsounds/MgBar1.ogg": "machine gun fire"},
        ["stdsounds/illegal.ogg"],
    ),
    # corpus v3 (games_v3.py)
    "flare": (
        games_v3.read_flare,
        {
            "fantasycore/soundfx/environment/raven_loop.ogg": "ravens cawing",
            "fantasycore/soundfx/steps/step_metal3.ogg": "footsteps in metal armour",
            "fantasycore/soundfx/female_die.ogg": "a woman screaming as she dies",
            "empyrean_campaign/soundfx/environment/rain.ogg": "rain falling",
        },
        ["fantasycore/soundfx/level_up.ogg", "fantasycore/soundfx/enemies/goblin_die.ogg"],
    ),
    "simutrans": (
        games_v3.read_simutrans,
        {"seagulls.wav": "seagulls crying", "boat-horn.wav": "a ship's horn blowing"},
        ["arctic.wav", "click.wav"],
    ),
    "torcs": (
        games_v3.read_torcs,
        {
            "crash3.wav": "a car crash",
            "935.wav": "a porsche 935 engine running",
            "f360.wav": "a ferrari 360 engine running",
            "ferrarif50.wav": "a ferrari f50 engine running",
        },
        ["boom.wav", "axle.wav"],
    ),
    "unknown_horizons": (
        games_v3.read_unknown_horizons,
        {
            "sounds/sheepfield.ogg": "sheep bleating in a field",
            "sounds/smith.ogg": ("a blacksmith hammering"),
        },
        ["sounds/click.ogg", "voice/en/0/new_world/0.ogg"],
    ),
    "lmms": (
        games_v3.read_lmms,
        {
            "drums/hihat_closed03.ogg": "a closed hi-hat",
            "drums/snare_rim01.ogg": "a rim shot",
            "instruments/violin_pizzicato01.ogg": "a violin plucked pizzicato",
            "misc/applause01.ogg": "applause",
        },
        ["shapes/moog.wav", "drums/nasty_snare01.ogg", "effects/warp01.ogg"],
    ),
    "btanks": (
        games_v3.read_btanks,
        {"cow.ogg": "a cow mooing", "ambient/swamp.ogg": "a swamp with frogs and insects"},
        ["ambient/space.ogg", "zombie.ogg", "klaxon-funny.ogg"],
    ),
    "freedink": (
        games_v3.read_freedink,
        {"wscream.wav": "a woman screaming", "bird1.wav": "a bird chirping"},
        ["106.ogg", "nono.wav"],
    ),
}


@pytest.mark.parametrize("name", sorted(FAKE_TREES))
def test_game_reader_describes_a_fake_package_tree(tmp_path, name):
    reader, described, ignored = FAKE_TREES[name]
    for rel in [*described, *ignored]:
        _tone(tmp_path / rel)
    clips = reader(tmp_path)
    by_origin = {c.path.relative_to(tmp_path).as_posix(): c for c in clips}
    assert set(by_origin) == set(described)  # files no rule describes are left out
    for rel, phrase in described.items():
        clip = by_origin[rel]
        assert clip.phrases[0] == phrase
        assert clip.source == name and clip.key.startswith(f"{name}/")
        assert clip.category in CATEGORIES
    assert len({c.key for c in clips}) == len(clips)


def test_hedgewars_reads_english_voice_lines_not_other_languages(tmp_path):
    _tone(tmp_path / "voices/Pirate/Takecover.ogg")
    _tone(tmp_path / "voices/Default/Ow2.ogg")
    _tone(tmp_path / "voices/Russian/Takecover.ogg")
    _tone(tmp_path / "shotgunfire.ogg")
    clips = {c.key: c for c in games.read_hedgewars(tmp_path)}
    assert set(clips) == {
        "hedgewars/voices/Pirate/Takecover",
        "hedgewars/voices/Default/Ow2",
        "hedgewars/shotgunfire",
    }
    pirate = clips["hedgewars/voices/Pirate/Takecover"]
    assert pirate.phrases[0] == 'a pirate voice saying "take cover"'
    assert pirate.kind == "speech" and pirate.spoken == "take cover"
    assert clips["hedgewars/voices/Default/Ow2"].category == "human_sound"
    assert clips["hedgewars/shotgunfire"].category == "gun"


def test_zeroad_reads_sounds_from_the_zip_and_decodes_them(tmp_path):
    import zipfile

    files = {
        "audio/actor/fauna/animal/sheep_3.ogg": "a sheep bleating",
        "audio/ambient/weather/rain.ogg": "heavy rain falling",
        "audio/voice/latin/civ_male_hello_1.ogg": "a man speaking latin",
        "audio/actor/human/movement/Footsteps/Footstep_Grass_Walking_2.ogg": (
            "footsteps walking on grass"
        ),
    }
    zpath = tmp_path / "public.zip"
    with zipfile.ZipFile(zpath, "w", compression=zipfile.ZIP_STORED) as z:
        for member in [*files, "audio/interface/ui/chat_alert.ogg", "audio/music/Epitaph.ogg"]:
            z.write(_tone(tmp_path / "src" / Path(member).name), member)
    clips = {c.origin.split(":", 1)[1]: c for c in games.read_zeroad(zpath)}
    assert set(clips) == set(files)  # the UI sound and the music are not zeroad clips
    for member, phrase in files.items():
        assert clips[member].phrases[0] == phrase
    wave = clips["audio/ambient/weather/rain.ogg"].render(16000)
    assert wave.dtype == np.float32 and abs(wave.size / 16000 - 0.5) < 0.05
    assert clips["audio/ambient/weather/rain.ogg"].max_segments > 1  # ambience is cut
    music = games.read_game_music(games=tmp_path / "none", zeroad_zip=zpath)
    assert [c.label for c in music] == ["epitaph"] and music[0].kind == "music"


def test_game_music_cuts_tracks_into_pieces(tmp_path):
    _tone(tmp_path / "etr/music/race1-jt.ogg", seconds=1.0)
    clips = games.read_game_music(games=tmp_path, zeroad_zip=tmp_path / "no.zip")
    assert len(clips) == 1
    assert clips[0].category == "music" and clips[0].max_segments == games.MUSIC_SEGMENTS


def test_corpus_versions_keep_the_sources_their_models_were_trained_on(tmp_path):
    v6, v5, v4, v3, v2, v1 = (oc.version_sources(v) for v in (6, 5, 4, 3, 2, 1))
    assert v6 == oc.SOURCES and len(v6) == 38
    assert set(v6) == set(v5) | {"searchandrescue", "etw", "micropolis", "netpanzer"}
    assert set(v5) == set(v4) | {"qabcs", "scratch"}
    assert set(v4) == set(v3) | {"openclonk"} and len(v3) == 31 and len(v5) == 34
    assert set(v3) == set(v2) | set(games_v3.SOURCES_V3)
    assert not set(v2) & set(games_v3.SOURCES_V3) and len(v2) == 24 and len(v1) == 8
    assert oc.version_holdout(1) == ("tuxpaint",) and oc.version_holdout(2) == oc.DEFAULT_HOLDOUT
    # v2's soundtracks are v2's packages' only: a v3 package's track is not read
    assert "flare-game" in v3["game_music"].packages
    assert "flare-game" not in v2["game_music"].packages
    _tone(tmp_path / "etr/music/race1-jt.ogg", seconds=1.0)
    _tone(tmp_path / "flare/mods/fantasycore/music/cave_theme.ogg", seconds=1.0)
    nozip = tmp_path / "no.zip"
    v3_tracks = games.read_game_music(games=tmp_path, zeroad_zip=nozip)
    v2_tracks = games.read_game_music(games=tmp_path, zeroad_zip=nozip, dirs=games.MUSIC_DIRS_V2)
    assert len(v3_tracks) == 2 and [c.key for c in v2_tracks] == [
        "game_music/extremetuxracer-data/race1-jt"
    ]
    with pytest.raises(DatasetError, match="'flare' \\(corpus v2\\)"):
        oc.collect_clips(sources=["flare"], version=2)
    with pytest.raises(DatasetError, match="'openclonk' \\(corpus v3\\)"):
        oc.collect_clips(sources=["openclonk"], version=3)
    with pytest.raises(DatasetError, match="'scratch' \\(corpus v4\\)"):
        oc.collect_clips(sources=["scratch"], version=4)
    with pytest.raises(DatasetError, match="'etw' \\(corpus v5\\)"):
        oc.collect_clips(sources=["etw"], version=5)
    with pytest.raises(DatasetError, match="version 7"):
        oc.collect_clips(version=7)


def test_segment_audio_cuts_long_recordings_into_capped_pieces():
    sr = 1000
    wave = (0.5 * np.sin(np.arange(35 * sr) * 0.3)).astype(np.float32)
    pieces = oc.segment_audio(wave, sr, max_seconds=10.0, max_segments=12)
    assert len(pieces) == 4 and all(5 * sr <= p.size <= 10 * sr for p in pieces)
    assert sum(p.size for p in pieces) >= 35 * sr - 4
    two = oc.segment_audio(wave, sr, max_seconds=10.0, max_segments=2)
    assert len(two) == 2
    one = oc.segment_audio(wave, sr, max_seconds=10.0, max_segments=1)
    assert len(one) == 1 and one[0].size == 10 * sr
    assert oc.segment_audio(np.zeros(20 * sr, np.float32), sr, 10.0, 4) == []


def test_fingerprint_matches_a_reencoded_copy_not_another_sound():
    import soxr

    sr = 44100
    rng = np.random.default_rng(0)
    t = np.arange(2 * sr) / sr
    a = np.sin(2 * np.pi * 300 * t) * np.exp(-2 * t) + 0.05 * rng.standard_normal(t.size)
    a = a.astype(np.float32)
    copy = soxr.resample(soxr.resample(0.5 * a, sr, 22050), 22050, sr)[: a.size]
    other = (np.sin(2 * np.pi * 2000 * t) * np.exp(-0.5 * t)).astype(np.float32)
    fa, fc, fo = (oc.fingerprint(x, sr) for x in (a, copy, other))
    assert abs(float(np.linalg.norm(fa)) - 1) < 1e-4
    assert float(fa @ fc) > 0.995
    assert float(fa @ fo) < 0.9


def _fake_source(files: dict[str, Path], source: str) -> Source:
    def reader(seed):
        return [
            Clip(source, f"{source}/{k}", k, "sfx", [f"a {k.replace('_', ' ')} sound"], path=p)
            for k, p in files.items()
        ]

    return Source(reader, licence=f"licence-of-{source}", packages=())


def test_duplicates_are_removed_and_heldout_copies_win(tmp_path, monkeypatch):
    sr = 22050
    t = np.arange(sr) / sr
    dog = (0.5 * np.sin(2 * np.pi * 500 * t) * np.exp(-3 * t)).astype(np.float32)
    cat = (0.5 * np.sin(2 * np.pi * 900 * t) * np.exp(-1 * t)).astype(np.float32)
    sf.write(str(tmp_path / "dog.wav"), dog, sr)
    sf.write(str(tmp_path / "dog_copy.wav"), dog, sr)  # exact copy in a train source
    sf.write(str(tmp_path / "dog_quiet.ogg"), 0.6 * dog, sr, format="OGG")  # re-encoded copy
    sf.write(str(tmp_path / "cat.wav"), cat, sr)
    monkeypatch.setitem(oc.SOURCES, "held", _fake_source({"dog": tmp_path / "dog.wav"}, "held"))
    monkeypatch.setitem(
        oc.SOURCES,
        "trainsrc",
        _fake_source(
            {
                "dog_copy": tmp_path / "dog_copy.wav",
                "dog_quiet": tmp_path / "dog_quiet.ogg",
                "cat": tmp_path / "cat.wav",
            },
            "trainsrc",
        ),
    )
    manifest = oc.build_offline_corpus(
        tmp_path / "out", sources=["trainsrc", "held"], holdout=("held",)
    )
    rows = _rows(manifest)
    assert sorted(r["label"] for r in rows) == ["cat", "dog"]
    assert {r["label"]: r["split"] for r in rows}["dog"] == "heldout"
    assert all(r["split"] != "heldout" for r in rows if r["source"] != "held")
    import json

    stats = json.loads((manifest.parent / "corpus_stats.json").read_text())
    how = {d["origin"].rsplit("/", 1)[-1]: d["how"] for d in stats["duplicates"]}
    assert how == {"dog_copy.wav": "exact", "dog_quiet.ogg": "near"}
    assert not (manifest.parent / "audio/trainsrc/dog_copy.flac").exists()
    table = stats["by_source"]
    assert table["held"]["licence"] == "licence-of-held" and table["held"]["clips"] == 1
    assert table["trainsrc"]["licence"] == "licence-of-trainsrc"
    assert table["trainsrc"]["minutes"] == pytest.approx(
        table["trainsrc"]["seconds"] / 60, abs=0.006
    )


def test_every_registered_source_has_a_licence_and_packages():
    for name, source in oc.SOURCES.items():
        assert isinstance(source, Source), name
        assert source.licence and source.licence != "unknown", name
        assert source.packages, name
    assert set(oc.DEFAULT_HOLDOUT) <= set(oc.SOURCES) and len(oc.DEFAULT_HOLDOUT) >= 2
    assert len(oc.SOURCES) >= 15


def test_setup_installs_every_package_a_source_reads():
    """A source whose package `scripts/setup.sh --corpus` does not install would be
    skipped (with a warning) by every fresh build of the corpus."""
    setup = (Path(__file__).resolve().parents[2] / "scripts/setup.sh").read_text()
    listed = set(re.findall(r"[a-z0-9][a-z0-9.+-]+", setup))
    for name, source in oc.SOURCES.items():
        missing = [p for p in source.packages if p not in listed]
        assert not missing, (name, missing)


@pytest.mark.slow
def test_captions_are_the_same_whatever_the_process_hash_seed():
    """WordNet gives a synset's hypernyms in set order: "a dog" (canine, domestic animal)
    was captioned "the sound of a canine" or "... a domestic animal" depending on the
    process's PYTHONHASHSEED, so two builds of one corpus differed."""
    import os
    import subprocess
    import sys

    if not wordnet_available():
        pytest.skip("WordNet not installed (scripts/setup.sh installs it)")
    code = (
        "from audioseek.data.offline_sources.captions import wordnet_terms\n"
        "print([wordnet_terms(n) for n in ('dog', 'piano', 'rain', 'horse', 'bell')])\n"
    )
    outs = set()
    for seed in ("0", "1", "2"):  # 0 and 1 gave different hypernyms for "dog"
        r = subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 0, r.stderr
        outs.add(r.stdout)
    assert len(outs) == 1, outs
    assert "'canine'" in next(iter(outs))


def test_categorize_uses_kind_then_words():
    def clip(phrase, kind="sfx"):
        return Clip("s", "s/x", "x", kind, [phrase], path=Path("x.wav"))

    assert categorize(clip("a wolf howling")) == "animal"
    assert categorize(clip("heavy rain on a roof")) == "rain"
    assert categorize(clip("a helicopter flying")) == "aircraft"
    assert categorize(clip("a dog barking")) == "dog"
    assert categorize(clip("a man saying hello", "speech")) == "speech"
    assert categorize(clip("a snare drum hit", "drum")) == "drum"
    assert categorize(clip("a quux")) == "other"


_PHRASE_LIKE = re.compile(r"^[a-z0-9][a-z0-9 ,.:;'\"!?()-]*$")


def _check_phrase_like(clips):
    for c in clips:
        caps = make_captions(c, random.Random(c.key))
        assert len(caps) == len(set(caps)) >= 3, (c.key, caps)
        for cap in caps:
            assert _PHRASE_LIKE.match(cap), (c.key, cap)
            assert 1 <= len(cap.split()) <= 16, (c.key, cap)
            assert "_" not in cap and "{" not in cap, (c.key, cap)


def test_captions_of_fake_game_clips_are_phrase_like(tmp_path):
    clips = []
    for name, (reader, described, _) in FAKE_TREES.items():
        root = tmp_path / name
        for rel in described:
            _tone(root / rel)
        clips += reader(root)
    _check_phrase_like(clips)


GAME_READERS = {
    "zeroad": (games.read_zeroad, games.ZEROAD_ZIP, 300),
    "flightgear": (games.read_flightgear, games.FLIGHTGEAR_ROOT, 50),
    "lincity": (games.read_lincity, games.LINCITY_ROOT, 100),
    "widelands": (games.read_widelands, games.WIDELANDS_ROOT, 50),
    "lugaru": (games.read_lugaru, games.LUGARU_ROOT, 40),
    "redeclipse": (games.read_redeclipse, games.REDECLIPSE_ROOT, 100),
    "supertuxkart": (games.read_supertuxkart, games.STK_ROOT, 25),
    "hedgewars": (games.read_hedgewars, games.HEDGEWARS_ROOT, 300),
    "megaglest": (games.read_megaglest, games.MEGAGLEST_ROOT, 300),
    "warmux": (games.read_warmux, games.WARMUX_ROOT, 40),
    "supertux": (games.read_supertux, games.SUPERTUX_ROOT, 20),
    "scorched3d": (games.read_scorched3d, games.SCORCHED_ROOT, 30),
    "freeciv": (games.read_freeciv, games.FREECIV_ROOT, 10),
    "opensfx": (packed.read_opensfx, packed.OPENSFX_CAT, 30),
    "gcompris": (packed.read_gcompris, packed.GCOMPRIS_RCC, 50),
    "flare": (games_v3.read_flare, games_v3.FLARE_ROOT, 50),
    "simutrans": (games_v3.read_simutrans, games_v3.SIMUTRANS_ROOT, 15),
    "torcs": (games_v3.read_torcs, games_v3.TORCS_ROOT, 40),
    "unknown_horizons": (games_v3.read_unknown_horizons, games_v3.UH_ROOT, 10),
    "lmms": (games_v3.read_lmms, games_v3.LMMS_ROOT, 120),
    "btanks": (games_v3.read_btanks, games_v3.BTANKS_ROOT, 30),
    "freedink": (games_v3.read_freedink, games_v3.FREEDINK_ROOT, 12),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(GAME_READERS))
def test_game_reader_on_the_real_package(name):
    reader, root, at_least = GAME_READERS[name]
    if not root.exists():
        pytest.skip(f"{root} not installed (scripts/setup.sh --corpus installs it)")
    clips = reader(root)
    assert len(clips) >= at_least
    assert len({c.key for c in clips}) == len(clips)
    assert all(c.path is None or c.path.is_file() for c in clips)
    _check_phrase_like(clips)
    cats = {c.category or categorize(c) for c in clips}
    assert cats <= set(CATEGORIES) and len(cats) >= (1 if name == "torcs" else 2)  # cars only


@pytest.mark.slow
def test_game_music_on_the_real_packages():
    clips = games.read_game_music()
    if not clips:
        pytest.skip("no game soundtrack installed (scripts/setup.sh --corpus installs them)")
    assert all(c.kind == "music" and c.category == "music" for c in clips)
    assert len({c.key for c in clips}) == len(clips)


def _wav_bytes(seconds: float = 0.4, freq: float = 440.0, sr: int = 22050) -> bytes:
    buf = io.BytesIO()
    t = np.arange(int(seconds * sr)) / sr
    sf.write(buf, (0.4 * np.sin(2 * np.pi * freq * t)).astype(np.float32), sr, format="WAV")
    return buf.getvalue()


def _cat_file(sounds: list[tuple[str, bytes]]) -> bytes:
    """An OpenTTD .cat laid out as OpenTTD reads it: (offset, size) table, then entries."""
    table, body = b"", b""
    start = 8 * len(sounds)
    for name, wav in sounds:
        raw = name.encode("latin-1") + b"\0"
        entry = bytes([len(raw)]) + raw + wav
        table += struct.pack("<II", (start + len(body)) | 0x80000000, len(entry))
        body += entry
    return table + body


def test_opensfx_reads_named_sounds_from_a_cat_file(tmp_path):
    cat = tmp_path / "opensfx.cat"
    cat.write_bytes(
        _cat_file(
            [
                ('"Cow". Original "Cow - Moan 2.wav" by "Jarred Gib". License: CC0.', _wav_bytes()),
                ('"Unused/Nothing". Trivial empty sound file.', _wav_bytes(0.1)),
                ('"Helicopter". Original "helicopterRaw_16sec.wav".', _wav_bytes(1.0, 90)),
            ]
        )
    )
    clips = {c.key: c for c in packed.read_opensfx(cat)}
    assert set(clips) == {"opensfx/00_cow", "opensfx/02_helicopter"}
    cow = clips["opensfx/00_cow"]
    assert cow.phrases[0] == "a cow mooing" and cow.category == "animal"
    assert "Jarred Gib" in cow.origin  # the credit line is kept
    wave = clips["opensfx/02_helicopter"].render(22050)
    assert wave.dtype == np.float32 and abs(wave.size / 22050 - 1.0) < 0.01


def _rcc_file(files: dict[str, bytes], compress: set[str] = frozenset()) -> bytes:
    """A Qt .rcc (format 1) laid out as Qt writes it: tree of 14-byte nodes, names, data."""
    tree: dict = {}
    for path in files:
        node = tree
        *dirs, leaf = path.split("/")
        for d in dirs:
            node = node.setdefault(d, {})
        node[leaf] = path
    names, data = b"", b""
    name_off: dict[str, int] = {}

    def name(n: str) -> int:
        nonlocal names
        if n not in name_off:
            name_off[n] = len(names)
            names += struct.pack(">HI", len(n), 0) + n.encode("utf-16-be")
        return name_off[n]

    nodes: list = [None]  # breadth first: the children of a folder are contiguous
    queue = [(0, tree)]
    while queue:
        idx, folder = queue.pop(0)
        first = len(nodes)
        kids = sorted(folder.items())
        nodes += [None] * len(kids)
        nodes[idx] = ("dir", idx and nodes[idx][1], len(kids), first)
        for k, (n, child) in enumerate(kids):
            if isinstance(child, dict):
                nodes[first + k] = ("dir", name(n), 0, 0)
                queue.append((first + k, child))
            else:
                blob = files[child]
                flags = 0
                if child in compress:
                    blob, flags = struct.pack(">I", len(blob)) + zlib.compress(blob), 1
                nodes[first + k] = ("file", name(n), flags, len(data))
                data += struct.pack(">I", len(blob)) + blob
    raw_tree = b""
    for kind, noff, a, b in nodes:
        if kind == "dir":
            raw_tree += struct.pack(">IHII", noff, 2, a, b)
        else:
            raw_tree += struct.pack(">IHHHI", noff, a, 0, 0, b)
    head = 20
    return (
        b"qres"
        + struct.pack(">IIII", 1, head, head + len(raw_tree), head + len(raw_tree) + len(data))
        + raw_tree
        + data
        + names
    )


def test_rcc_reader_and_gcompris_rules_on_a_fake_bundle(tmp_path):
    base = "gcompris/src/activities"
    files = {
        f"{base}/instruments/resource/violin.ogg": _wav_bytes(),
        f"{base}/explore_farm_animals/resource/animals/owl.ogg": _wav_bytes(),
        f"{base}/instruments/resource/violin.svg": b"<svg/>",
        f"{base}/chronos/resource/1.ogg": _wav_bytes(),
    }
    (tmp_path / "a.rcc").write_bytes(
        _rcc_file(files, compress={f"{base}/instruments/resource/violin.svg"})
    )
    entries = dict(packed.rcc_entries((tmp_path / "a.rcc").read_bytes()))
    assert entries == files  # paths and bytes round-trip, zlib entries inflated
    clips = {c.key: c for c in packed.read_gcompris(tmp_path)}
    assert set(clips) == {
        "gcompris/instruments/resource/violin",
        "gcompris/explore_farm_animals/resource/animals/owl",
    }
    assert clips["gcompris/instruments/resource/violin"].phrases[0] == "a violin playing"
    owl = clips["gcompris/explore_farm_animals/resource/animals/owl"]
    assert owl.phrases[0] == "an owl calling" and owl.category == "bird"
    assert owl.render(22050).size > 0
