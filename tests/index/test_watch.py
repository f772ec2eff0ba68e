"""``watch``: created, modified, moved and deleted files reach the index by themselves."""

from __future__ import annotations

import time

from audioseek import Index
from audioseek.index.watch import watch


def _paths(index) -> set[str]:
    return {r.path.rsplit("/", 1)[-1] for r in index.store.files(complete_only=True)}


def _wait(cond, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.2)
    return False


def test_watch_follows_create_modify_move_delete(tmp_path, band_model, kit):
    lib = tmp_path / "lib"
    kit.write_wav(lib / "first.wav", kit.tone(300, 2.0))
    index = Index(tmp_path / "db", model=band_model)
    runs = []
    w = watch(index, [lib], debounce=0.5, on_run=runs.append, window=2.0, hop=1.0, workers=0)
    try:
        assert _paths(index) == {"first.wav"}  # the initial catch-up run
        kit.write_wav(lib / "sub" / "new.wav", kit.tone(700, 2.0))
        assert _wait(lambda: _paths(index) == {"first.wav", "new.wav"})
        before = len(runs)
        kit.write_wav(lib / "first.wav", kit.tone(2500, 3.0))  # modified content
        assert _wait(lambda: len(runs) > before and runs[-1].embedded == 1)
        hit = index.search("tone 2500", k=1, mode="audio")[0]
        assert hit.path.endswith("first.wav")
        before = len(runs)
        (lib / "sub" / "new.wav").rename(lib / "moved.wav")
        assert _wait(lambda: _paths(index) == {"first.wav", "moved.wav"})
        assert runs[-1].embedded == 0 and runs[-1].reused == 1  # recognised, not re-embedded
        (lib / "first.wav").unlink()
        assert _wait(lambda: _paths(index) == {"moved.wav"})
        (lib / "notes.txt").write_text("not audio")  # ignored: no run for it
        n = len(runs)
        time.sleep(1.5)
        assert len(runs) == n
    finally:
        w.stop()


def test_a_file_written_during_the_catch_up_run_is_indexed(tmp_path, band_model, kit):
    """The folders are observed before the first run: a file that arrives while that run is
    going (after it listed the folder) starts a second run instead of being missed."""
    lib = tmp_path / "lib"
    kit.write_wav(lib / "first.wav", kit.tone(300, 2.0))
    index = Index(tmp_path / "db", model=band_model)
    real_add = index.add
    calls = []

    def add_then_a_file_arrives(paths, **kw):
        result = real_add(paths, **kw)
        calls.append(result)
        if len(calls) == 1:  # the catch-up run has listed and indexed the folder
            kit.write_wav(lib / "late.wav", kit.tone(900, 2.0))
        return result

    index.add = add_then_a_file_arrives
    w = watch(index, [lib], debounce=0.3, window=2.0, hop=1.0, workers=0)
    try:
        assert _wait(lambda: _paths(index) == {"first.wav", "late.wav"})
        assert len(calls) >= 2
    finally:
        w.stop()
