"""Indexer: incremental runs, reuse of renamed files, corrupt files, determinism, refusals."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from audioseek.errors import ConfigError, SearchIndexError
from audioseek.index.runner import index_paths
from audioseek.index.scan import scan_audio
from audioseek.index.store import Store


def vectors_by_path(db) -> dict[tuple[str, int], np.ndarray]:
    with Store.open(db) as store:
        out = {}
        for rec in store.files():
            assert rec.complete, rec.path
            vecs, starts, _ = store.file_vectors(rec.id)
            for i, v in enumerate(vecs):
                out[(os.path.basename(rec.path), i)] = v
        return out


def test_incremental_add_modify_delete_rename(tmp_path, band_model, kit):
    lib = tmp_path / "lib"
    paths = kit.make_library(lib, n=3)
    db = tmp_path / "db"

    s = index_paths([lib], db, model=band_model, workers=0, batch_size=4)
    assert (s.files_scanned, s.embedded, s.unchanged) == (3, 3, 0)
    assert s.windows_embedded == 3 * 2  # 12 s with window 10, hop 5 -> [0,10), [5,15)
    assert band_model.windows_seen == 6
    before = vectors_by_path(db)
    with Store.open(db) as store:
        assert store.roots() == [str(lib.resolve())]
        assert store.path_allowed(paths[0]) and not store.path_allowed(tmp_path / "x.wav")

    # nothing changed: nothing embedded
    s = index_paths([lib], db, model=band_model, workers=0)
    assert (s.unchanged, s.embedded, s.windows_embedded) == (3, 0, 0)
    assert band_model.windows_seen == 6

    # add one, modify one, delete one, rename one
    kit.write_wav(lib / "new.wav", kit.tone(2000, 7.0))
    kit.write_wav(paths[0], kit.tone(3000, 12.0))
    paths[1].unlink()
    paths[2].rename(lib / "renamed.wav")
    seen = band_model.windows_seen
    s = index_paths([lib], db, model=band_model, workers=0)
    assert s.embedded == 2  # new + modified
    assert s.reused == 1 and s.deleted == 2  # clip_01 deleted, clip_02's old path dropped
    assert band_model.windows_seen - seen == 1 + 2  # 7 s -> 1 window; modified 12 s -> 2
    after = vectors_by_path(db)
    assert set(p for p, _ in after) == {"clip_00.wav", "new.wav", "renamed.wav"}
    np.testing.assert_array_equal(after[("renamed.wav", 0)], before[("clip_02.wav", 0)])
    assert not np.array_equal(after[("clip_00.wav", 0)], before[("clip_00.wav", 0)])
    with Store.open(db) as store:
        assert store.counts()["windows"] == 2 + 1 + 2

    # a copy is recognised by its hash too; touching a file (same bytes) does not re-embed
    shutil.copy(lib / "new.wav", lib / "copy_of_new.wav")
    os.utime(lib / "renamed.wav", ns=(1, 10**18))
    seen = band_model.windows_seen
    s = index_paths([lib], db, model=band_model, workers=0)
    assert (s.reused, s.touched, s.embedded) == (1, 1, 0)
    assert band_model.windows_seen == seen
    assert len(vectors_by_path(db)) == 6


def test_corrupt_files_skipped_and_reported(tmp_path, band_model, kit):
    lib = tmp_path / "lib"
    kit.make_library(lib, n=2)
    (lib / "garbage.mp3").write_bytes(os.urandom(3000))
    (lib / "empty.wav").write_bytes(b"")
    (lib / "notes.txt").write_text("not audio, not scanned")
    shutil.copy(lib / "garbage.mp3", lib / "garbage_copy.mp3")
    good = (lib / "clip_00.wav").read_bytes()
    (lib / "truncated.flac").write_bytes(b"fLaC" + good[4:200])
    s = index_paths([lib], tmp_path / "db", model=band_model, workers=0)
    assert s.embedded == 2
    assert sorted(os.path.basename(c["path"]) for c in s.corrupt) == [
        "empty.wav",
        "garbage.mp3",
        "garbage_copy.mp3",
        "truncated.flac",
    ]
    assert all(c["reason"] for c in s.corrupt)
    assert s.to_dict()["corrupt_count"] == 4
    with Store.open(tmp_path / "db") as store:
        assert [os.path.basename(r.path) for r in store.files()] == ["clip_00.wav", "clip_01.wav"]


def test_copies_within_one_run_are_embedded_once(tmp_path, band_model, kit):
    lib = tmp_path / "lib"
    paths = kit.make_library(lib, n=2)
    shutil.copy(paths[0], lib / "a_copy.wav")
    shutil.copy(paths[0], lib / "z_copy.wav")
    s = index_paths([lib], tmp_path / "db", model=band_model, workers=0)
    assert (s.embedded, s.reused, band_model.windows_seen) == (2, 2, 4)
    v = vectors_by_path(tmp_path / "db")
    np.testing.assert_array_equal(v[("z_copy.wav", 1)], v[("clip_00.wav", 1)])


def test_modified_file_that_became_corrupt_is_dropped(tmp_path, band_model, kit):
    lib = tmp_path / "lib"
    paths = kit.make_library(lib, n=2)
    index_paths([lib], tmp_path / "db", model=band_model, workers=0)
    paths[0].write_bytes(b"RIFF" + os.urandom(500))
    s = index_paths([lib], tmp_path / "db", model=band_model, workers=0)
    assert [os.path.basename(c["path"]) for c in s.corrupt] == ["clip_00.wav"]
    with Store.open(tmp_path / "db") as store:
        assert [os.path.basename(r.path) for r in store.files()] == ["clip_01.wav"]


@pytest.mark.slow
def test_vectors_identical_across_batch_size_and_workers(tmp_path, band_model, kit):
    lib = tmp_path / "lib"
    for i in range(5):  # uneven lengths so batches straddle files
        kit.write_wav(lib / f"f{i}.wav", kit.noise(7 + 6 * i, amp=0.2, seed=i))
    index_paths([lib], tmp_path / "a", model=band_model, workers=0, batch_size=1)
    index_paths([lib], tmp_path / "b", model=band_model, workers=2, batch_size=7)
    a, b = vectors_by_path(tmp_path / "a"), vectors_by_path(tmp_path / "b")
    assert a.keys() == b.keys() and len(a) > 10
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=str(key))


def test_model_mismatch_refused(tmp_path, band_model, kit):
    lib = tmp_path / "lib"
    kit.make_library(lib, n=1)
    db = tmp_path / "db"
    index_paths([lib], db, model=band_model, workers=0)
    other = kit.BandModel(salt="-other")
    with pytest.raises(SearchIndexError, match="band-model.*band-model-other"):
        index_paths([lib], db, model=other, workers=0)
    with pytest.raises(SearchIndexError, match="--window 10 --hop 5"):
        index_paths([lib], db, model=band_model, window=4, hop=2, workers=0)
    with Store.open(db) as store:  # nothing lost
        assert store.counts()["windows"] == 2


def test_bad_arguments(tmp_path, band_model, kit):
    with pytest.raises(SearchIndexError, match="nope"):
        index_paths([tmp_path / "nope"], tmp_path / "db", model=band_model)
    for kwargs in ({"window": 0}, {"hop": -1}, {"workers": -1}, {"batch_size": 0}):
        with pytest.raises(ConfigError):
            index_paths([tmp_path], tmp_path / "db", model=band_model, **kwargs)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(SearchIndexError, match="afile"):
        index_paths([tmp_path], tmp_path / "afile", model=band_model, workers=0)
    with pytest.raises(SearchIndexError, match=r"cannot create index folder '.*afile/db'"):
        index_paths([tmp_path], tmp_path / "afile" / "db", model=band_model, workers=0)
    assert (tmp_path / "afile").read_text() == "x"


def test_scan_is_recursive_sorted_and_stays_inside_roots(tmp_path, kit):
    root, outside = tmp_path / "root", tmp_path / "outside"
    kit.write_wav(root / "b" / "x.wav", kit.tone(440, 0.5))
    kit.write_wav(root / "a.FLAC", kit.tone(440, 0.5))
    kit.write_wav(outside / "secret.wav", kit.tone(440, 0.5))
    (root / "readme.txt").write_text("x")
    (root / "link_out.wav").symlink_to(outside / "secret.wav")
    (root / "dir_out").symlink_to(outside)
    (root / "link_in.wav").symlink_to(root / "b" / "x.wav")
    found = scan_audio([root])
    assert found == sorted([(root / "a.FLAC").resolve(), (root / "b" / "x.wav").resolve()])


def test_named_non_audio_file_is_reported_not_silently_dropped(tmp_path, kit, caplog):
    kit.write_wav(tmp_path / "a.wav", kit.tone(440, 0.5))
    (tmp_path / "notes.txt").write_text("x")
    with caplog.at_level("WARNING", logger="audioseek.index.scan"):
        found = scan_audio([tmp_path / "a.wav", tmp_path / "notes.txt"])
    assert found == [(tmp_path / "a.wav").resolve()]
    assert [r.getMessage() for r in caplog.records] == [
        f"skipped {str((tmp_path / 'notes.txt').resolve())!r}: '.txt' is not an audio file extension"
    ]
