"""ANN upkeep: incremental add/remove instead of rebuilds, retraining when doubled, the
memory-mapped IVF-PQ kind re-ranked with exact vectors, and recall against exact search."""

from __future__ import annotations

import numpy as np
import pytest

from audioseek.index import ann as ann_mod
from audioseek.index.ann import AnnIndex, ann_status, ensure_ann
from audioseek.index.store import Store


def _exact_topk(store: Store, q: np.ndarray, k: int) -> list[set[int]]:
    ids = np.concatenate([p[0] for p in store.iter_vectors()])
    vecs = np.concatenate([p[1] for p in store.iter_vectors()]).astype(np.float32)
    s = q @ vecs.T
    return [set(ids[np.argsort(-row, kind="stable")[:k]].tolist()) for row in s]


def _add(db, lib, model, ann_threshold=10**9):
    """Index ``lib``; the run ends by bringing the ANN index up to date (none below the
    threshold)."""
    from audioseek import Index

    return Index(db, model=model, ann_threshold=ann_threshold).add(
        [lib], window=1.0, hop=0.5, workers=0, batch_size=8, progress=False
    )


def _count_builds(monkeypatch) -> list:
    """A list that gets one item per full ANN build (``AnnIndex.build_from_store``)."""
    calls = []
    real_build = AnnIndex.build_from_store.__func__
    monkeypatch.setattr(
        AnnIndex,
        "build_from_store",
        classmethod(lambda cls, *a, **kw: calls.append(1) or real_build(cls, *a, **kw)),
    )
    return calls


@pytest.fixture
def grown(tmp_path, band_model, kit):
    lib = tmp_path / "lib"
    kit.make_library(lib, n=6, seconds=8.0, seed=0)
    db = tmp_path / "db"
    _add(db, lib, band_model)
    return db, lib


def test_incremental_add_and_remove_match_a_rebuild(grown, band_model, kit, monkeypatch):
    db, lib = grown
    calls = _count_builds(monkeypatch)
    with Store.open(db) as store:
        assert store.window_ids_autoincrement()
        first = ensure_ann(store, threshold=10)
        assert first.kind == "ivf_sq" and first.ntotal == store.counts()["windows"]
        trained = first.trained_n
    assert calls == [1]
    # grow by a few files, delete one: the indexing run updates the ANN index, no rebuild
    kit.make_library(lib / "more", n=2, seconds=8.0, seed=20)
    sorted(lib.glob("clip_0*.wav"))[0].unlink()
    _add(db, lib, band_model, ann_threshold=10)
    assert calls == [1]
    with Store.open(db) as store:
        assert not ann_status(store)["stale"]
        updated = AnnIndex.load(db)
        assert updated.trained_n == trained
        assert sorted(updated.ids().tolist()) == store.window_ids().tolist()
        reloaded = AnnIndex.load(db, mmap=True)
        q = np.random.default_rng(0).standard_normal((5, store.dim)).astype(np.float32)
        q /= np.linalg.norm(q, axis=1, keepdims=True)
        _, got = reloaded.search(q, 5)
        assert [set(r.tolist()) for r in got] == _exact_topk(store, q, 5)
    # a change the ANN index has not seen yet is reported as stale
    kit.make_library(lib / "later", n=1, seconds=8.0, seed=30)
    _add(db, lib, band_model)  # below the huge threshold: the run drops the ANN files
    with Store.open(db) as store:
        assert ann_status(store) == {"present": False, "stale": False}
    # past twice the trained size: retrained from scratch
    kit.make_library(lib / "lots", n=12, seconds=8.0, seed=40)
    _add(db, lib, band_model, ann_threshold=10)
    assert len(calls) == 2


def test_ivf_pq_is_memory_mapped_and_reranked_exactly(grown, band_model):
    db, _ = grown
    with Store.open(db) as store:
        built = ensure_ann(store, threshold=10, disk_threshold=10)
        assert built.kind == "ivf_pq"
    loaded = AnnIndex.load(db, mmap=True)
    assert loaded.kind == "ivf_pq" and loaded.reranker is not None
    with Store.open(db) as store:
        rng = np.random.default_rng(1)
        q = rng.standard_normal((8, store.dim)).astype(np.float32)
        q /= np.linalg.norm(q, axis=1, keepdims=True)
        scores, ids = loaded.search(q, 3)
        exact = _exact_topk(store, q, 3)
        recall = np.mean([len(set(r.tolist()) & e) / 3 for r, e in zip(ids, exact, strict=True)])
        assert recall >= 0.95
        # re-ranked scores are the exact dot products of the stored float16 vectors
        found, vecs = loaded.reranker.vectors(ids[0])
        by_id = dict(zip(found.tolist(), vecs, strict=True))
        for s, i in zip(scores[0], ids[0], strict=True):
            assert s == pytest.approx(float(by_id[int(i)] @ q[0]), abs=1e-5)


def test_recall_after_ten_incremental_runs(tmp_path, band_model, kit):
    lib, db = tmp_path / "lib", tmp_path / "db"
    kit.make_library(lib, n=8, seconds=6.0, seed=0)
    _add(db, lib, band_model)
    with Store.open(db) as store:
        ensure_ann(store, threshold=10)
    for run in range(10):
        kit.make_library(lib / f"r{run}", n=1, seconds=6.0, seed=100 + run)
        _add(db, lib, band_model, ann_threshold=10)  # the run updates the ANN index
    with Store.open(db) as store:
        ann = AnnIndex.load(db, mmap=True)
        assert ann.trained_n < ann.ntotal  # grown incrementally, not retrained each time
        q = np.random.default_rng(2).standard_normal((20, store.dim)).astype(np.float32)
        q /= np.linalg.norm(q, axis=1, keepdims=True)
        _, ids = ann.search(q, 10)
        exact = _exact_topk(store, q, 10)
        recall = np.mean([len(set(r.tolist()) & e) / 10 for r, e in zip(ids, exact, strict=True)])
    assert recall >= 0.95


def test_old_index_without_autoincrement_is_rebuilt(grown):
    db, _ = grown
    with Store.open(db) as store:
        ensure_ann(store, threshold=10)
    with Store.open(db) as store:
        store.window_ids_autoincrement = lambda: False  # an index made by an older version
        before = AnnIndex.load(db)
        before.generation = -1  # pretend stale
        before.save(db)
        rebuilt = ensure_ann(store, threshold=10)
        assert rebuilt.trained_n == rebuilt.ntotal


def test_kind_choice():
    assert ann_mod.choose_kind(10, 100) == "ivf_sq" and ann_mod.choose_kind(100, 100) == "ivf_pq"
    assert ann_mod.factory_string("ivf_pq", 64, 512) == "IVF64,PQ64x8"
    assert ann_mod.factory_string("ivf_pq", 16, 12) == "IVF16,PQ1x8"


def test_additions_alone_skip_the_id_by_id_comparison(grown, band_model, kit, monkeypatch):
    """Upkeep after additions only costs the new windows (a count shows nothing was
    deleted); after a deletion the ids are compared and the deleted ones leave the index."""
    db, lib = grown
    with Store.open(db) as store:
        ensure_ann(store, threshold=10)
    compared = []
    real_ids = Store.window_ids
    monkeypatch.setattr(Store, "window_ids", lambda self, *a, **kw: compared.append(1) or
                        real_ids(self, *a, **kw))  # fmt: skip
    kit.make_library(lib / "more", n=2, seconds=8.0, seed=21)
    _add(db, lib, band_model, ann_threshold=10)
    assert compared == []
    with Store.open(db) as store:
        assert sorted(AnnIndex.load(db).ids().tolist()) == real_ids(store).tolist()
    sorted((lib / "more").glob("*.wav"))[0].unlink()
    _add(db, lib, band_model, ann_threshold=10)
    assert compared == [1]
    with Store.open(db) as store:
        assert sorted(AnnIndex.load(db).ids().tolist()) == real_ids(store).tolist()


def _unit_queries(dim: int, n: int = 6, seed: int = 3) -> np.ndarray:
    q = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def _big_base(db, lib, band_model, kit):
    """An ANN index over the grown library plus enough files that one more file stays
    under DELTA_MAX_FRACTION of it."""
    kit.make_library(lib / "base", n=10, seconds=8.0, seed=50)
    _add(db, lib, band_model, ann_threshold=10)


def test_additions_go_to_a_delta_and_leave_ann_faiss_untouched(grown, band_model, kit):
    db, lib = grown
    _big_base(db, lib, band_model, kit)
    main = (db / ann_mod.ANN_FILE).read_bytes()
    assert (db / ann_mod.EMPTY_FILE).is_file() and not list(db.glob(ann_mod.DELTA_GLOB))
    kit.make_library(lib / "new", n=1, seconds=8.0, seed=60)
    _add(db, lib, band_model, ann_threshold=10)
    assert (db / ann_mod.ANN_FILE).read_bytes() == main  # not rewritten
    deltas = list(db.glob(ann_mod.DELTA_GLOB))
    assert len(deltas) == 1
    with Store.open(db) as store:
        stamp = ann_mod._read_stamp(db)
        assert stamp["delta"] == deltas[0].name and not ann_status(store)["stale"]
        ann = AnnIndex.load(db, mmap=True)
        assert ann.delta is not None and ann.delta.ntotal > 0
        assert sorted(ann.ids().tolist()) == store.window_ids().tolist()
        q = _unit_queries(store.dim)
        _, got = ann.search(q, 5)
        assert [set(r.tolist()) for r in got] == _exact_topk(store, q, 5)
        # a stored window of the new file is its own best match (found through the delta)
        new_ids = set(_list(ann.delta))
        wid, vec = next((i, v) for i, v in _vectors(store) if i in new_ids)
        _, top = ann.search(vec[None].astype(np.float32), 1)
        assert int(top[0, 0]) == wid
    # a second addition replaces the delta file (one file, a new name)
    kit.make_library(lib / "new2", n=1, seconds=8.0, seed=61)
    _add(db, lib, band_model, ann_threshold=10)
    again = list(db.glob(ann_mod.DELTA_GLOB))
    assert len(again) == 1 and again[0].name != deltas[0].name
    # a deletion folds the delta into ann.faiss and removes the window everywhere
    sorted((lib / "new").glob("*.wav"))[0].unlink()
    _add(db, lib, band_model, ann_threshold=10)
    assert not list(db.glob(ann_mod.DELTA_GLOB)) and ann_mod._read_stamp(db)["delta"] is None
    with Store.open(db) as store:
        assert sorted(AnnIndex.load(db).ids().tolist()) == store.window_ids().tolist()


def _list(index) -> list[int]:
    return ann_mod._list_ids(index).tolist()


def _vectors(store: Store):
    for ids, vecs in store.iter_vectors():
        yield from zip(ids.tolist(), vecs, strict=True)


def test_a_large_delta_is_folded_into_ann_faiss(grown, band_model, kit, monkeypatch):
    db, lib = grown
    _big_base(db, lib, band_model, kit)
    monkeypatch.setattr(ann_mod, "DELTA_MAX_FRACTION", 0.0)  # any delta is too large
    main = (db / ann_mod.ANN_FILE).read_bytes()
    kit.make_library(lib / "new", n=1, seconds=8.0, seed=62)
    _add(db, lib, band_model, ann_threshold=10)
    assert (db / ann_mod.ANN_FILE).read_bytes() != main
    assert not list(db.glob(ann_mod.DELTA_GLOB))
    with Store.open(db) as store:
        ann = AnnIndex.load(db)
        assert ann.delta is None and sorted(ann.ids().tolist()) == store.window_ids().tolist()


def test_a_crash_while_writing_a_delta_keeps_the_old_stamp_consistent(
    grown, band_model, kit, monkeypatch
):
    """The delta file is written, the process dies before the stamp names it: readers keep
    the previous index (no torn or mixed state), and the next run completes the upkeep."""
    db, lib = grown
    _big_base(db, lib, band_model, kit)
    before = ann_mod._read_stamp(db)
    with Store.open(db) as store:
        ids_before = sorted(AnnIndex.load(db).ids().tolist())

    def die(*a, **kw):
        raise KeyboardInterrupt  # stands for a kill between the two writes

    kit.make_library(lib / "new", n=1, seconds=8.0, seed=63)
    monkeypatch.setattr(ann_mod, "_write_stamp", die)
    with pytest.raises(KeyboardInterrupt):
        _add(db, lib, band_model, ann_threshold=10)
    monkeypatch.undo()
    assert ann_mod._read_stamp(db) == before
    assert list(db.glob(ann_mod.DELTA_GLOB))  # the orphan the crash left
    assert sorted(AnnIndex.load(db).ids().tolist()) == ids_before
    _add(db, lib, band_model, ann_threshold=10)  # the next run: the index catches up
    with Store.open(db) as store:
        assert not ann_status(store)["stale"]
        assert sorted(AnnIndex.load(db).ids().tolist()) == store.window_ids().tolist()
    assert len(list(db.glob(ann_mod.DELTA_GLOB))) == 1  # the orphan is gone


def test_a_crash_while_rewriting_ann_faiss_forces_a_rebuild(grown, band_model, monkeypatch):
    db, _ = grown
    with Store.open(db) as store:
        ensure_ann(store, threshold=10)
        ann = AnnIndex.load(db)
        real_write = ann_mod._faiss().write_index
        monkeypatch.setattr(
            ann_mod._faiss(), "write_index", lambda *a: (_ for _ in ()).throw(OSError("disk full"))
        )
        with pytest.raises(OSError):
            ann.save(db)
        monkeypatch.setattr(ann_mod._faiss(), "write_index", real_write)
        stamp = ann_mod._read_stamp(db)
        assert stamp["max_id"] is None and ann_status(store)["stale"]
        calls = _count_builds(monkeypatch)
        rebuilt = ensure_ann(store, threshold=10)
        assert calls == [1] and rebuilt.ntotal == store.counts()["windows"]
        assert not ann_status(store)["stale"]


def test_a_stamp_naming_a_file_outside_the_index_is_a_broken_index(grown, band_model, kit):
    """A stamp edited to name another faiss file (here a valid one, outside the folder) is
    not followed: the index counts as broken and the next upkeep rebuilds it."""
    db, lib = grown
    _big_base(db, lib, band_model, kit)
    kit.make_library(lib / "new", n=1, seconds=8.0, seed=64)
    _add(db, lib, band_model, ann_threshold=10)
    stamp = ann_mod._read_stamp(db)
    foreign = db.parent / "ann.delta.foreign.faiss"
    (db / stamp["delta"]).rename(foreign)
    ann_mod._write_stamp(db, {**stamp, "delta": f"../{foreign.name}"})
    assert AnnIndex.load(db) is None
    with Store.open(db) as store:
        rebuilt = ensure_ann(store, threshold=10)
        assert sorted(rebuilt.ids().tolist()) == store.window_ids().tolist()
    assert ann_mod._read_stamp(db)["delta"] is None and foreign.exists()


def test_two_processes_needing_the_ann_index_build_it_once(grown, monkeypatch):
    """A search server and an ``audioseek search`` (or the indexer) that open an index with
    no ANN index at the same time: the second waits for the first one's build and loads
    it, instead of building it a second time over the same files. Threads with their own
    store and lock file descriptor stand for the processes (flock excludes them alike)."""
    import threading
    import time

    db, _ = grown
    real_build = AnnIndex.build_from_store.__func__
    calls = []

    def slow_build(cls, *a, **kw):
        calls.append(threading.get_ident())
        time.sleep(0.5)  # long enough for the other one to arrive while it builds
        return real_build(cls, *a, **kw)

    monkeypatch.setattr(AnnIndex, "build_from_store", classmethod(slow_build))
    results, errors = [], []

    def need_ann():
        try:
            with Store.open(db) as store:
                results.append(ensure_ann(store, threshold=10).ntotal)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=need_ann) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert len(calls) == 1
    with Store.open(db) as store:
        n = store.counts()["windows"]
        assert results == [n, n]
        assert not ann_status(store)["stale"]
