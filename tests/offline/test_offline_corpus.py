"""The offline corpus builder: real Debian sounds + renders -> a valid captioned manifest."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audioseek.data import offline_corpus as oc
from audioseek.data.offline_sources import debian, renders
from audioseek.data.offline_sources.base import Clip
from audioseek.data.offline_sources.captions import make_captions
from audioseek.errors import DatasetError

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


def test_bad_arguments_raise_clear_errors(tmp_path):
    with pytest.raises(DatasetError, match="'nope'"):
        oc.collect_clips(sources=["nope"])
    with pytest.raises(DatasetError, match="max_per_source"):
        oc.collect_clips(sources=["espeak"], max_per_source=0)
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(DatasetError, match="not a folder"):
        oc.build_offline_corpus(f, sources=["espeak"], max_per_source=1)


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
