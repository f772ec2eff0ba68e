"""The public Python API: ``audioseek.Index`` / ``load_model`` / ``Client`` exported lazily,
``import audioseek`` cheap, ``Index`` a ``SearchService`` returning the public types."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import types
from pathlib import Path

import pytest

import audioseek
from audioseek.index.types import (
    BatchDone,
    DuplicateGroup,
    Hit,
    IndexedFile,
    IndexInfo,
    IndexSummary,
    SearchService,
)


def _index_kit():
    """The generated-audio helpers and BandModel of ``tests/index/conftest.py``."""
    path = Path(__file__).parent / "index" / "conftest.py"
    spec = importlib.util.spec_from_file_location("_index_conftest", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def kit():
    m = _index_kit()
    return types.SimpleNamespace(
        SR=m.SR,
        BandModel=m.BandModel,
        tone=m.tone,
        write_wav=m.write_wav,
        make_library=m.make_library,
    )


@pytest.fixture
def band_model(kit):
    return kit.BandModel()


def test_import_is_cheap():
    code = (
        "import sys, audioseek\n"
        "audioseek.Index\n"
        "heavy = [m for m in ('torch', 'transformers', 'faiss', 'lightning') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"importing audioseek.Index imported {out.stdout.strip()}"


def test_lazy_exports():
    from audioseek.client import Client
    from audioseek.index.service import Index
    from audioseek.models.hub import load_model

    assert audioseek.Index is Index and audioseek.load_model is load_model
    assert audioseek.Client is Client
    assert audioseek.Hit is Hit and audioseek.SearchService is SearchService
    assert {"Index", "load_model", "Client"} <= set(dir(audioseek))
    with pytest.raises(AttributeError, match="no_such_name"):
        audioseek.no_such_name  # noqa: B018


def test_index_end_to_end(tmp_path, kit, band_model):
    lib = tmp_path / "lib"
    paths = kit.make_library(lib, n=3)
    db = tmp_path / "db"
    batches: list[BatchDone] = []
    with audioseek.Index(db, model=band_model) as index:
        assert isinstance(index, SearchService)
        summary = index.add(
            lib, window=4.0, hop=2.0, workers=0, batch_size=4, on_batch=batches.append
        )
        assert isinstance(summary, IndexSummary) and summary.embedded == 3
        # the callback saw every committed batch, and every completed file
        assert sum(b.windows for b in batches) == summary.windows_embedded == 3 * 5
        assert sorted(i for b in batches for i in b.completed) == [1, 2, 3]
        assert batches[-1].windows_done == summary.windows_embedded

        hits = index.search("tone 700", k=2)
        assert all(isinstance(h, Hit) for h in hits)
        assert hits[0].path == str(paths[1].resolve())
        [[top]] = index.search(["tone 1100"], k=1)
        assert top.path == str(paths[2].resolve())
        similar = index.similar(hits[0].file_id, k=5)
        assert len(similar) == 2 and hits[0].file_id not in [h.file_id for h in similar]

        info = index.info()
        assert isinstance(info, IndexInfo) and (info.files, info.window_s) == (3, 4.0)
        f = index.file(hits[0].file_id)
        assert isinstance(f, IndexedFile) and f.path == hits[0].path and f.size > 0
        assert index.file(999) is None and index.file(True) is None and index.file(-1) is None
        assert index.duplicates() == []

        # a second add on the index keeps its window and hop without restating them
        kit.write_wav(lib / "more.wav", kit.tone(2500, 6.0))
        assert index.add([lib], workers=0).embedded == 1
        assert index.info().files == 4


def test_info_and_duplicates_need_no_model(tmp_path, kit, band_model, monkeypatch):
    lib = tmp_path / "lib"
    kit.make_library(lib, n=2)
    db = tmp_path / "db"
    audioseek.Index(db, model=band_model).add([lib], workers=0)

    def no_model(*a, **k):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr("audioseek.index.service.load_index_model", no_model)
    index = audioseek.Index(db)
    assert index.info().files == 2
    assert isinstance(index.duplicates(), list)
    assert all(isinstance(g, DuplicateGroup) for g in index.duplicates(threshold=0.5))


def test_same_index_answers_other_threads_while_adding(tmp_path, kit, band_model):
    import threading

    lib = tmp_path / "lib"
    kit.make_library(lib, n=3)
    index = audioseek.Index(tmp_path / "db", model=band_model)
    index.add([lib / "clip_00.wav"], workers=0)
    seen = []

    def during_batch(batch):
        if seen:
            return
        t = threading.Thread(target=lambda: seen.append(index.info().files))
        t.start()
        t.join(timeout=60)  # a reader blocked until the run ends would never get here
        seen.append(t.is_alive())

    index.add([lib], workers=0, batch_size=1, on_batch=during_batch)
    assert seen == [1, False]
    assert index.info().files == 3
