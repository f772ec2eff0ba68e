"""Hybrid ranking (names + metadata + audio), filters, weak matches and the explanation of
each hit, through the public ``Index`` API."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from audioseek import Index
from audioseek.errors import QueryError
from audioseek.index.hybrid import file_score_stats

SONIC_PI = Path("/usr/share/sonic-pi/samples")


def _index(lib: Path, db: Path, model) -> Index:
    index = Index(db, model=model)
    index.add([lib], window=2.0, hop=1.0, workers=0, batch_size=8, progress=False)
    return index


@pytest.fixture
def named(tmp_path, band_model, kit):
    """Tones whose file names say what they are, in folders; one file per band."""
    lib = tmp_path / "Samples"
    spec = {
        "Drums/Kicks/Kick_Deep_01.wav": 300,
        "Drums/Snares/Snare_Tight_v2.wav": 1500,
        "Synths/Pads/WarmPad.wav": 700,
        "Synths/Leads/LeadSaw_03.wav": 2500,
        "FX/Whoosh_Long.wav": 3300,
    }
    for rel, hz in spec.items():
        seconds = 6.0 if "Pad" in rel else 1.5
        kit.write_wav(lib / rel, kit.tone(hz, seconds) + kit.noise(seconds))
    return lib, _index(lib, tmp_path / "db", band_model)


def test_name_match_is_found_and_explained(named):
    _, index = named
    hits = index.search("kick", k=5)  # the BandModel's text tower knows no words: names do
    assert Path(hits[0].path).name == "Kick_Deep_01.wav"
    assert hits[0].matched_terms == ("kick",) and hits[0].text_score > 0
    assert hits[0].audio_score is not None
    audio = index.search("kick", k=5, mode="audio")
    assert all(h.text_score is None and h.matched_terms == () for h in audio)
    text = index.search("snares", k=5, mode="text")  # folder words count too (stemmed)
    assert [Path(h.path).name for h in text] == ["Snare_Tight_v2.wav"]
    assert text[0].audio_score is None


def test_opaque_names_rank_exactly_as_audio_only(tmp_path, band_model, kit):
    lib = tmp_path / "opaque"
    for i, hz in enumerate([300, 700, 1500, 2500, 3300]):
        kit.write_wav(lib / f"{i:04d}.wav", kit.tone(hz, 2.0) + kit.noise(2.0, seed=i))
    index = _index(lib, tmp_path / "db", band_model)
    for q in ["tone 700", "tone 2500 kick", "a warm pad"]:
        hybrid = index.search(q, k=5)
        audio = index.search(q, k=5, mode="audio")
        assert [(h.file_id, h.score) for h in hybrid] == [(h.file_id, h.score) for h in audio]


def test_filters(named, tmp_path):
    lib, index = named
    names = lambda hits: sorted(Path(h.path).name for h in hits)  # noqa: E731
    assert names(index.search("tone 700", k=10, mode="audio", min_duration=3)) == ["WarmPad.wav"]
    assert "WarmPad.wav" not in names(index.search("tone 700", k=10, max_duration=2))
    assert names(index.search("tone 700", k=10, folder="Drums")) == [
        "Kick_Deep_01.wav",
        "Snare_Tight_v2.wav",
    ]
    assert names(index.search("tone 700", k=10, folder=str(lib / "Synths" / "Leads"))) == [
        "LeadSaw_03.wav"
    ]
    assert len(index.search("tone 700", k=10, format="wav,flac")) == 5
    assert index.search("tone 700", k=10, format="mp3") == []
    assert len(index.search("tone 700", k=10, sample_rate=8000, channels=1)) == 5
    assert index.search("tone 700", k=10, sample_rate=44100) == []
    fid = index.search("whoosh", k=1)[0].file_id
    assert [h.file_id for h in index.similar(fid, k=10, folder="FX")] == []  # itself excluded
    with pytest.raises(QueryError, match="unknown filter 'colour'"):
        index.search("x", colour="red")
    with pytest.raises(QueryError, match="min_duration"):
        index.search("x", min_duration="soon")
    with pytest.raises(QueryError, match="longer than max_duration"):
        index.search("x", min_duration=3, max_duration=1)
    with pytest.raises(QueryError, match="unknown mode"):
        index.search("x", mode="magic")


def test_tag_filter_and_tags_on_hits(named):
    from audioseek.index import tagging

    _, index = named
    kick = index.search("kick", k=1)[0]
    with index.store.transaction() as c:
        tagging.write_tags(c, kick.file_id, [tagging.Tag("kick drum", 0.5, "drums")])
    hits = index.search("tone 700", k=10, tag="drums")
    assert [h.file_id for h in hits] == [kick.file_id]
    assert hits[0].tags == ("kick drum",)


def test_weak_matches_are_flagged(tmp_path, band_model, kit):
    lib = tmp_path / "lib"
    for i, hz in enumerate([300, 500, 700, 900, 1100, 1300]):
        kit.write_wav(lib / f"{i:04d}.wav", kit.tone(hz, 2.0) + kit.noise(2.0, seed=i))
    index = _index(lib, tmp_path / "db", band_model)
    good = index.search("tone 700", k=3, mode="audio")
    assert not good[0].weak and all(h.weak for h in good[1:])
    assert all(h.weak for h in index.search("nothing like it", k=3, mode="audio"))


def _ranked_metrics(results: list[list], files: list[int], relevant: list[set[int]]) -> dict:
    """R@10, mAP@10, MRR of ranked hit lists over the whole library (unranked files last)."""
    from audioseek.eval.metrics import retrieval_metrics

    pos = {f: i for i, f in enumerate(files)}
    scores = np.full((len(results), len(files)), -1.0)
    for q, hits in enumerate(results):
        for r, h in enumerate(hits):
            scores[q, pos[h.file_id]] = len(files) - r
    rel = [{pos[f] for f in s} for s in relevant]
    return retrieval_metrics(scores, rel, ks=(1, 10), map_k=10)


QUERIES = {  # query -> words whose presence in a sonic-pi file name makes it relevant
    "a heavy kick drum": ("kick",),
    "closed hi-hat cymbal": ("cymbal",),
    "snare drum hit": ("snare",),
    "deep bass note": ("bass",),
    "electronic bell": ("bell",),
    "tom drum": ("tom",),
    "ambient drone": ("drone",),
    "guitar": ("guit",),
}


@pytest.mark.slow
def test_hybrid_beats_audio_only_on_real_samples_and_equals_it_with_opaque_names(tmp_path):
    """The bundled offline model on real sonic-pi samples (their own names): hybrid > audio
    on queries written for the library; with every file renamed to an opaque id, hybrid
    ranks exactly as audio-only."""
    if not SONIC_PI.is_dir():
        pytest.skip("sonic-pi-samples is not installed")
    names = sorted(p.name for p in SONIC_PI.glob("*.flac"))[:120]
    lib, opaque = tmp_path / "lib", tmp_path / "opaque"
    lib.mkdir()
    opaque.mkdir()
    for i, name in enumerate(names):
        shutil.copy(SONIC_PI / name, lib / name)
        shutil.copy(SONIC_PI / name, opaque / f"{i:04d}.flac")
    from audioseek.models.hub import load_model

    model = load_model("offline", device="cpu")
    index = _index(lib, tmp_path / "db", model)
    files = [h.file_id for h in index.search("sound", k=1000, mode="audio")]
    by_name = {Path(index.file(f).path).name: f for f in files}
    queries = list(QUERIES)
    relevant = [{by_name[n] for n in names if any(w in n for w in QUERIES[q])} for q in queries]
    assert all(relevant)
    hybrid = index.search(queries, k=len(files))
    audio = index.search(queries, k=len(files), mode="audio")
    m_h, m_a = _ranked_metrics(hybrid, files, relevant), _ranked_metrics(audio, files, relevant)
    print(f"\nhybrid: R@10 {m_h['r@10']:.3f} mAP@10 {m_h['map@10']:.3f} MRR {m_h['mrr']:.3f}")
    print(f"audio : R@10 {m_a['r@10']:.3f} mAP@10 {m_a['map@10']:.3f} MRR {m_a['mrr']:.3f}")
    assert m_h["map@10"] > m_a["map@10"] and m_h["r@10"] >= m_a["r@10"]

    index2 = Index(tmp_path / "db2", model=model)
    index2.add([opaque], window=2.0, hop=1.0, workers=0, batch_size=8, progress=False)
    for q in queries:
        h = index2.search(q, k=20)
        a = index2.search(q, k=20, mode="audio")
        assert [(x.file_id, x.score) for x in h] == [(x.file_id, x.score) for x in a]


def test_weak_flags_past_the_ann_threshold_match_exact_search(tmp_path, band_model, kit):
    """Past the ANN threshold no vector matrix is in RAM; the score spread that flags weak
    hits comes from a sample of files read from the store (every file here: fewer files
    than the sample), so the flags are those of exact search, not missing."""
    lib = tmp_path / "lib"
    for i, hz in enumerate([300, 500, 700, 900, 1100, 1300]):
        kit.write_wav(lib / f"{i:04d}.wav", kit.tone(hz, 2.0) + kit.noise(2.0, seed=i))
    exact = _index(lib, tmp_path / "db", band_model)
    ann = Index(tmp_path / "db", model=band_model, ann_threshold=1)
    for q in ("tone 700", "nothing like it"):
        want = exact.search(q, k=6, mode="audio")
        got = ann.search(q, k=6, mode="audio")
        assert ann._snapshot.ann is not None and ann._snapshot.matrix is None
        assert [(h.file_id, h.weak) for h in got] == [(h.file_id, h.weak) for h in want]
    assert [h.weak for h in ann.search("tone 700", k=3, mode="audio")] == [False, True, True]


def test_weak_flags_from_a_sample_of_files(tmp_path, band_model, kit, monkeypatch):
    """More files than the sample: the spread comes from a fixed sample (the same files
    for every query of a snapshot), read from the store once."""
    from audioseek.index import search as search_mod

    lib = tmp_path / "lib"
    for i, hz in enumerate([300, 500, 700, 900, 1100, 1300, 1500, 1700]):
        kit.write_wav(lib / f"{i:04d}.wav", kit.tone(hz, 2.0) + kit.noise(2.0, seed=i))
    _index(lib, tmp_path / "db", band_model)
    monkeypatch.setattr(search_mod, "STATS_SAMPLE", 5)
    ann = Index(tmp_path / "db", model=band_model, ann_threshold=1)
    ann.search("tone 700", k=3, mode="audio")
    files, vecs, offsets = ann._snapshot.score_sample(ann.store)
    assert len(set(files.tolist())) == 5 and set(files.tolist()) <= set(ann._snapshot.records)
    assert len(offsets) == 6 and offsets[-1] == len(vecs) > 0
    assert ann._snapshot.score_sample(ann.store)[1] is vecs  # read once per snapshot
    again = Index(tmp_path / "db", model=band_model, ann_threshold=1)
    again.search("tone 700", k=3, mode="audio")
    assert again._snapshot.score_sample(again.store)[0].tolist() == files.tolist()
    # the spread is that of the sampled files' best windows
    q = band_model.encode_text(["nothing like it"]).detach().numpy().astype(np.float32)
    best = [float((q @ ann.store.file_vectors(int(f))[0].T).max()) for f in files]
    mean, std = file_score_stats(ann._snapshot, q, ann.store)
    assert mean == pytest.approx(np.mean(best), abs=1e-6)
    assert std == pytest.approx(np.std(best), abs=1e-6)
    assert all(h.weak for h in ann.search("nothing like it", k=3, mode="audio"))


def test_long_files_are_sampled_by_evenly_spaced_windows(tmp_path, band_model, kit):
    lib = tmp_path / "lib"
    kit.write_wav(lib / "long.wav", kit.tone(500, 20.0) + kit.noise(20.0, seed=1))
    index = Index(tmp_path / "db", model=band_model)
    index.add([lib], window=1.0, hop=0.5, workers=0, batch_size=8, progress=False)
    (rec,) = index.store.files(complete_only=True)
    every = index.store.file_vectors(rec.id)[0]
    assert len(every) > 30
    got = index.store.file_vector_sample(rec.id, 8)
    step = -(-len(every) // 8)
    assert len(got) <= 8
    np.testing.assert_array_equal(got, every[::step])
    np.testing.assert_array_equal(index.store.file_vector_sample(rec.id, 1000), every)
