"""Index: text search with timestamps, aggregation, similar, duplicates, info, errors."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from audioseek.errors import AudioDecodeError, QueryError, SearchIndexError
from audioseek.index.runner import index_paths
from audioseek.index.service import Index, Searcher
from audioseek.index.store import Store
from audioseek.index.types import Hit, IndexedFile, IndexInfo


@pytest.fixture
def event_index(tmp_path, band_model, kit):
    """60 s of quiet noise with a loud 1 kHz burst at 23-24 s, plus two other files."""
    lib = tmp_path / "lib"
    wave = kit.noise(60, amp=0.01, seed=1)
    burst = slice(23 * kit.SR, 24 * kit.SR)
    wave[burst] += kit.tone(1000, 1.0, amp=0.8)
    kit.write_wav(lib / "event.wav", wave)
    kit.write_wav(lib / "low.wav", kit.noise(20, seed=2) + kit.tone(200, 20, amp=0.5))
    kit.write_wav(lib / "high.wav", kit.noise(20, seed=3) + kit.tone(3000, 20, amp=0.5))
    db = tmp_path / "db"
    index_paths([lib], db, model=band_model, window=4.0, hop=2.0, workers=0)
    return db, lib


def test_timestamps_point_at_the_event(event_index, band_model):
    db, lib = event_index
    hits = Index(db, model=band_model).search("tone 1000", k=3)
    assert hits[0].path == str((lib / "event.wav").resolve())
    assert hits[0].start <= 23.0 and hits[0].end >= 24.0, (hits[0].start, hits[0].end)
    assert hits[0].end - hits[0].start == pytest.approx(4.0)
    assert hits[0].score > hits[1].score
    assert hits[0].duration == pytest.approx(60.0)
    assert hits[0].format and hits[0].sample_rate == 8000
    # the other tones find their own files
    low, high = Index(db, model=band_model).search(["tone 200", "tone 3000"], k=1)
    assert low[0].path.endswith("low.wav") and high[0].path.endswith("high.wav")


def test_scores_match_a_naive_reference(event_index, band_model):
    db, _ = event_index
    searcher = Index(db, model=band_model)
    q = band_model.encode_text(["tone 1000"]).numpy()[0]
    with Store.open(db) as store:
        expected = {}
        for rec in store.files():
            scores = store.file_vectors(rec.id)[0] @ q
            top3 = np.sort(scores)[::-1][:3]
            expected[rec.path] = (scores.max(), top3.mean())
    for agg, col in (("max", 0), ("top3-mean", 1)):
        hits = searcher.search(["tone 1000"], k=10, agg=agg)[0]
        assert len(hits) == 3
        got = {h.path: h.score for h in hits}
        for path, ref in expected.items():
            assert got[path] == pytest.approx(ref[col], abs=2e-3)  # float16 storage
        assert [h.score for h in hits] == sorted(got.values(), reverse=True)


def test_ann_path_agrees_with_exact(event_index, band_model):
    db, _ = event_index
    exact = Index(db, model=band_model).search(["tone 1000", "tone 200"], k=3)
    ann_index = Index(db, model=band_model, ann_threshold=10)
    approx = ann_index.search(["tone 1000", "tone 200"], k=3)
    assert ann_index.snapshot().ann is not None and (db / "ann.faiss").exists()
    for e, a in zip(exact, approx, strict=True):
        assert [h.path for h in e] == [h.path for h in a]
        assert [(h.start, h.end) for h in e] == [(h.start, h.end) for h in a]
        np.testing.assert_allclose([h.score for h in e], [h.score for h in a], atol=1e-3)


def test_indexer_rebuilds_a_stale_ann_index(tmp_path, band_model, kit):
    from audioseek.index.ann import AnnIndex

    lib = tmp_path / "lib"
    kit.make_library(lib, n=3)
    db = tmp_path / "db"
    s = index_paths([lib], db, model=band_model, workers=0, ann_threshold=4)
    assert s.ann and AnnIndex.load(db).ntotal == 6
    kit.write_wav(lib / "extra.wav", kit.tone(1000, 12.0))
    s = index_paths([lib], db, model=band_model, workers=0, ann_threshold=4)
    ann = AnnIndex.load(db)
    with Store.open(db) as store:
        assert ann.ntotal == 8 and ann.generation == store.generation
    hits = Index(db, model=band_model, ann_threshold=4).search("tone 1000", k=1)
    assert hits[0].path.endswith("extra.wav")
    # below the threshold the ANN files are removed and search is exact again
    s = index_paths([lib], db, model=band_model, workers=0)
    assert not s.ann and not (db / "ann.faiss").exists()


def test_query_errors(event_index, band_model, tmp_path):
    db, _ = event_index
    s = Index(db, model=band_model)
    for bad in ([""], ["   "], ["x" * 1001], [], "", 7, {"tone 1000"}, [None]):
        with pytest.raises(QueryError):
            s.search(bad)
    for k in (0, -3, 1.5, True):
        with pytest.raises(QueryError, match="k must be"):
            s.search(["tone 1000"], k=k)
        with pytest.raises(QueryError, match="k must be"):
            s.similar(1, k=k)
    with pytest.raises(QueryError, match="'median'"):
        s.search(["tone 1000"], agg="median")
    with pytest.raises(SearchIndexError, match="no index at"):
        Index(tmp_path / "missing").search("x")
    with pytest.raises(SearchIndexError, match="no index at"):
        Searcher(tmp_path / "missing")
    with pytest.raises(SearchIndexError, match="band-model-x"):
        Index(db, model=band_model.__class__(salt="-x"))
    with pytest.raises(QueryError, match="nothing.wav"):
        s.similar(tmp_path / "nothing.wav")
    for bad in (None, True, 1.5):
        with pytest.raises(QueryError, match="file id or an audio file"):
            s.similar(bad)
    with pytest.raises(QueryError, match="no indexed file with id 999"):
        s.similar(999)
    with pytest.raises(QueryError, match="exactly one"):
        Searcher(db, model=band_model).similar()
    for bad in (2.0, -1.0, True, "0.9"):
        with pytest.raises(QueryError, match="threshold"):
            s.duplicates(threshold=bad)
    (tmp_path / "bad.wav").write_bytes(b"RIFF1234WAVEjunk")
    with pytest.raises(AudioDecodeError, match="bad.wav"):
        s.similar(tmp_path / "bad.wav")


def test_single_query_gives_one_hit_list(event_index, band_model):
    db, _ = event_index
    s = Index(db, model=band_model)
    one = s.search("tone 1000", k=2)
    many = s.search(["tone 1000"], k=2)
    assert isinstance(one, list) and all(isinstance(h, Hit) for h in one)
    assert one == many[0] and len(one) == 2


def test_similar_by_file_indexed_or_not(event_index, band_model, kit, tmp_path):
    db, lib = event_index
    s = Index(db, model=band_model)
    hits = s.similar(lib / "event.wav", k=5)
    assert "event.wav" not in [h.path.rsplit("/", 1)[-1] for h in hits]  # itself excluded
    assert len(hits) == 2
    # an unindexed file with a 3 kHz tone finds high.wav first
    q = kit.write_wav(tmp_path / "query.wav", kit.tone(3000, 5.0, amp=0.4) + kit.noise(5.0))
    seen = band_model.windows_seen
    hits = s.similar(str(q), k=3)
    assert band_model.windows_seen > seen  # it was embedded
    assert hits[0].path.endswith("high.wav") and len(hits) == 3
    by_id = s.similar(hits[0].file_id, k=3)
    assert hits[0].file_id not in [h.file_id for h in by_id]
    # the deprecated Searcher answers the same through its keyword interface
    legacy = Searcher(db, model=band_model)
    assert legacy.similar(file_id=hits[0].file_id, k=3) == by_id
    assert legacy.similar(path=q, k=3) == hits


def test_duplicates_across_formats_not_between_different_clips(tmp_path, band_model, kit):
    lib = tmp_path / "lib"
    clip_a = kit.noise(15, amp=0.05, seed=10) + kit.tone(700, 15, amp=0.3)
    clip_a[5 * kit.SR : 8 * kit.SR] += kit.tone(2500, 3, amp=0.3)
    wav = kit.write_wav(lib / "a.wav", clip_a)
    kit.ffmpeg_convert(wav, lib / "a_copy.mp3", "-b:a", "64k")
    kit.ffmpeg_convert(wav, lib / "a_copy.flac")
    # same kind of sound, different clip: same tones, the event elsewhere, other noise
    clip_b = kit.noise(15, amp=0.05, seed=11) + kit.tone(700, 15, amp=0.3)
    clip_b[10 * kit.SR : 13 * kit.SR] += kit.tone(2500, 3, amp=0.3)
    kit.write_wav(lib / "b.wav", clip_b)
    # a trimmed copy of b (0.5 s cut from the start) is still b
    kit.write_wav(lib / "b_trim.wav", clip_b[kit.SR // 2 :])
    kit.write_wav(lib / "c.wav", kit.noise(15, amp=0.05, seed=12) + kit.tone(1500, 15, amp=0.3))
    # a steady tone (nothing changes over time) and its mp3: the waveforms still match
    tone = kit.write_wav(lib / "tone.wav", kit.tone(440, 15, amp=0.3))
    kit.ffmpeg_convert(tone, lib / "tone.mp3", "-b:a", "96k")
    # two takes of one steady sound: identical embeddings, different recordings
    for seed in (20, 21):
        kit.write_wav(
            lib / f"hum_{seed}.wav", kit.noise(15, amp=0.2, seed=seed) + kit.tone(500, 15, amp=0.2)
        )
    # two takes of one drum pattern: the same hits at the same times (same loudness
    # envelope, same band signature), other noise in each hit: not the same recording
    t = np.arange(15 * kit.SR) / kit.SR
    envelope = np.exp(-8.0 * (t % 0.75)).astype(np.float32)
    for seed in (30, 31):
        hit = kit.noise(15, amp=0.3, seed=seed) + kit.tone(180, 15, amp=0.4)
        kit.write_wav(lib / f"drum_take_{seed}.wav", envelope * hit)
    db = tmp_path / "db"
    index_paths([lib], db, model=band_model, window=4.0, hop=2.0, workers=0)

    def names(groups):
        return sorted(sorted(f.path.rsplit("/", 1)[-1] for f in g.files) for g in groups)

    groups = Index(db).duplicates()
    assert names(groups) == [
        ["a.wav", "a_copy.flac", "a_copy.mp3"],
        ["b.wav", "b_trim.wav"],
        ["tone.mp3", "tone.wav"],
    ]
    for g in groups:
        assert 0.98 <= g.score <= 1.0 and len(g.pairs) >= len(g.files) - 1
        assert all(isinstance(f, IndexedFile) and f.size > 0 for f in g.files)
        assert g.score == min(p.embedding_score for p in g.pairs)
        ids = {f.file_id for f in g.files}
        assert all(p.a in ids and p.b in ids for p in g.pairs)
    # every link was confirmed on the waveforms, the steady tone's copy included
    assert all(g.confirmed == "audio" for g in groups)
    assert all(p.audio_score >= 0.9 for g in groups for p in g.pairs)
    # the embeddings alone cannot tell the two takes apart: the audio check does
    unverified_groups = Index(db).duplicates(verify_audio=False)
    assert all(g.confirmed == "embedding" for g in unverified_groups)
    unverified = names(unverified_groups)
    for takes in ({"hum_20.wav", "hum_21.wav"}, {"drum_take_30.wav", "drum_take_31.wav"}):
        assert any(takes <= set(g) for g in unverified), (takes, unverified)


def test_info_and_concurrent_reads(event_index, band_model):
    db, _ = event_index
    s = Index(db, model=band_model)
    info = s.info()
    assert isinstance(info, IndexInfo) and not info.read_only
    assert info.model == "band-model" and info.files == 3
    assert info.windows == 29 + 9 + 9  # 60 s / 20 s with window 4, hop 2
    assert info.audio_hours == pytest.approx(100 / 3600)
    assert info.size_bytes > 0 and info.dim == 32 and (info.window_s, info.hop_s) == (4.0, 2.0)
    assert Searcher(db).info() == info.to_dict()  # the deprecated alias: a dict
    expected = s.search(["tone 1000", "tone 3000"], k=3)
    results, errors = [], []

    def worker():
        try:
            for _ in range(10):
                results.append(s.search(["tone 1000", "tone 3000"], k=3))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 40
    assert all(r == expected for r in results)
