"""``audioseek merge``: shard indexes merged equal one index of both folders; mismatched
indexes are refused with nothing written; the target is complete or unchanged."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from audioseek.errors import SearchIndexError
from audioseek.index.merge import merge_indexes


def _index(paths, db, model, **kw):
    from audioseek.index.indexer import index_paths

    return index_paths(paths, db, model=model, workers=0, batch_size=4, **kw)


def _content(db: Path) -> dict[str, tuple]:
    """path -> (hash, n_windows, [(idx, start, end, vector bytes)]) of complete files."""
    conn = sqlite3.connect(f"file:{db / 'index.sqlite'}?mode=ro", uri=True)
    try:
        out = {}
        for fid, path, h, n in conn.execute(
            "SELECT id, path, hash, n_windows FROM files WHERE complete = 1"
        ):
            wins = conn.execute(
                "SELECT idx, start_s, end_s, vector FROM windows WHERE file_id = ? ORDER BY idx",
                (fid,),
            ).fetchall()
            out[path] = (h, n, wins)
        return out
    finally:
        conn.close()


@pytest.fixture
def shards(tmp_path, band_model, kit):
    a, b = tmp_path / "lib" / "a", tmp_path / "lib" / "b"
    kit.make_library(a, n=3, seconds=7.0, seed=0)
    kit.make_library(b, n=2, seconds=12.0, seed=10)
    _index([a], tmp_path / "shard_a", band_model)
    _index([b], tmp_path / "shard_b", band_model)
    _index([a, b], tmp_path / "whole", band_model)
    return tmp_path


def test_merge_of_shards_equals_one_index(shards, band_model):
    summary = merge_indexes([shards / "shard_a", shards / "shard_b"], shards / "merged")
    assert summary.created and summary.files_added == 2 and summary.windows_added > 0
    assert _content(shards / "merged") == _content(shards / "whole")
    from audioseek.index.search import Searcher

    s1 = Searcher(shards / "merged", model=band_model)
    s2 = Searcher(shards / "whole", model=band_model)
    q = ["a tone"]
    assert [h.path for h in s1.search(q, k=5)[0]] == [h.path for h in s2.search(q, k=5)[0]]
    info = s1.info()
    roots = info.roots if hasattr(info, "roots") else info["roots"]
    assert len(roots) == 2


def test_merge_into_existing_index_adds_and_is_idempotent(shards):
    target = shards / "target"
    merge_indexes([shards / "shard_a"], target)
    first = _content(target)
    s = merge_indexes([shards / "shard_b"], target)
    assert not s.created and s.files_added == 2
    assert _content(target) == _content(shards / "whole")
    again = merge_indexes([shards / "shard_a", shards / "shard_b"], target)
    assert again.files_added == 0 and again.files_skipped == len(_content(shards / "whole"))
    assert set(first) <= set(_content(target))


@pytest.fixture
def mismatched(shards, kit):
    lib = shards / "lib" / "c"
    kit.make_library(lib, n=1, seconds=6.0, seed=20)
    other = kit.BandModel(salt="other")
    _index([lib], shards / "other_model", other)
    _index([lib], shards / "other_window", kit.BandModel(), window=4.0, hop=2.0)
    return shards


@pytest.mark.parametrize(
    "bad, what", [("other_model", "model_fingerprint"), ("other_window", "window")]
)
def test_mismatch_refused(mismatched, bad, what):
    target = mismatched / "target"
    merge_indexes([mismatched / "shard_a"], target)
    before = (target / "index.sqlite").read_bytes()
    with pytest.raises(SearchIndexError, match=what) as e:
        merge_indexes([mismatched / "shard_b", mismatched / bad], target)
    assert "\n" not in str(e.value)
    assert (target / "index.sqlite").read_bytes() == before
    assert not list(target.glob(".*merge*"))
    with pytest.raises(SearchIndexError):
        merge_indexes([mismatched / "shard_a", mismatched / bad], mismatched / "new_target")
    assert not (mismatched / "new_target").exists()


def test_merge_refuses_missing_and_self(shards):
    with pytest.raises(SearchIndexError, match="no index"):
        merge_indexes([shards / "nope"], shards / "t")
    with pytest.raises(SearchIndexError, match="merge target"):
        merge_indexes([shards / "shard_a"], shards / "shard_a")


def test_newer_file_wins_on_conflict(shards, band_model, kit):
    lib = shards / "lib" / "a"
    target = shards / "t2"
    merge_indexes([shards / "shard_a"], target)
    # a re-index of a changed file in a second shard
    path = sorted(lib.glob("*.wav"))[0]
    kit.write_wav(path, kit.tone(2500, 5.0))
    _index([lib], shards / "shard_a2", band_model)
    s = merge_indexes([shards / "shard_a2"], target)
    assert s.files_replaced == 1
    merged = _content(target)
    assert merged[str(path.resolve())] == _content(shards / "shard_a2")[str(path.resolve())]
    vecs = [np.frombuffer(w[3], np.float16) for w in merged[str(path.resolve())][2]]
    assert all(np.isfinite(v).all() for v in vecs)


def test_cli_merge(shards, capsys):
    from audioseek.cli import main

    code = main(
        ["merge", str(shards / "shard_a"), str(shards / "shard_b"), "--into", str(shards / "m")]
    )
    assert code == 0
    assert "2 files added" in capsys.readouterr().out
    assert _content(shards / "m") == _content(shards / "whole")
    code = main(["merge", str(shards / "nope"), "--into", str(shards / "m")])
    err = capsys.readouterr().err
    assert code != 0 and err.count("\n") == 1 and "no index" in err


def test_merge_waits_for_no_writer(shards):
    from audioseek.index.store import WriteLock

    target = shards / "locked"
    merge_indexes([shards / "shard_a"], target)
    before = (target / "index.sqlite").read_bytes()
    with WriteLock(target), pytest.raises(SearchIndexError, match="another index run"):
        merge_indexes([shards / "shard_b"], target)
    assert (target / "index.sqlite").read_bytes() == before
