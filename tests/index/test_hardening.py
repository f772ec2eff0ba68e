"""Issue 11 in the index: crash-proof creation, one writer, read-only indexes, deletions
before embedding, bad window/hop, damaged pages, disk full, symlink loops, non-UTF-8 names,
unreadable files and folders, failed files remembered, ``similar`` with another model."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from audioseek.errors import ConfigError, SearchIndexError
from audioseek.index.runner import index_summary_text
from audioseek.index.service import Index
from audioseek.index.store import DB_NAME, Store


def names(paths) -> list[str]:
    return sorted(os.path.basename(p) for p in paths)


def indexed(db) -> list[str]:
    with Store.open(db) as store:
        return names(r.path for r in store.files())


# ---- (4) crash-proof creation ------------------------------------------------------------------
@pytest.mark.parametrize("leftover", ["empty file", "sqlite without tables"])
def test_unfinished_creation_is_rebuilt_by_add(tmp_path, band_model, kit, leftover):
    lib = tmp_path / "lib"
    kit.make_library(lib, n=2)
    db = tmp_path / "db"
    db.mkdir()
    if leftover == "empty file":
        (db / DB_NAME).write_bytes(b"")
    else:
        conn = sqlite3.connect(db / DB_NAME)
        conn.execute("PRAGMA user_version = 0")
        conn.execute("VACUUM")  # writes the header: a valid, empty database
        conn.close()
    with pytest.raises(SearchIndexError, match="unfinished creation"):
        Index(db).info()
    summary = Index(db, model=band_model).add([lib], workers=0)
    assert summary.embedded == 2 and indexed(db) == ["clip_00.wav", "clip_01.wav"]


def test_creation_killed_midway_leaves_no_index_file(tmp_path, band_model, kit, monkeypatch):
    lib = tmp_path / "lib"
    kit.make_library(lib, n=1)
    db = tmp_path / "db"

    def killed(conn, meta):
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        raise KeyboardInterrupt  # as if killed while writing the schema

    with monkeypatch.context() as m:
        m.setattr(Store, "_write_schema", staticmethod(killed))
        with pytest.raises(KeyboardInterrupt):
            Index(db, model=band_model).add([lib], workers=0)
    assert not (db / DB_NAME).exists()  # the half-written database never had the name
    assert [p.name for p in db.iterdir() if p.name.startswith(DB_NAME)] == []
    # what a kill -9 (no cleanup at all) leaves: a temporary database, never index.sqlite
    (db / f"{DB_NAME}.tmp12345").write_bytes(b"SQLite format 3\x00" + b"\x00" * 200)
    assert Index(db, model=band_model).add([lib], workers=0).embedded == 1
    assert sorted(p.name for p in db.iterdir() if p.name.startswith(DB_NAME)) == [DB_NAME]


def test_foreign_database_is_not_rebuilt(tmp_path, band_model, kit):
    kit.make_library(tmp_path / "lib", n=1)
    db = tmp_path / "db"
    db.mkdir()
    conn = sqlite3.connect(db / DB_NAME)
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.commit()
    conn.close()
    before = (db / DB_NAME).read_bytes()
    with pytest.raises(SearchIndexError, match="not an index|unknown schema"):
        Index(db, model=band_model).add([tmp_path / "lib"], workers=0)
    assert (db / DB_NAME).read_bytes() == before


# ---- (7) one writer -----------------------------------------------------------------------------
def test_second_writer_refused_at_once_readers_not_blocked(tmp_path, band_model, kit):
    lib = tmp_path / "lib"
    kit.make_library(lib, n=3)
    db = tmp_path / "db"
    Index(db, model=band_model).add([lib / "clip_00.wav"], window=4.0, hop=2.0, workers=0)
    seen = {}

    def during_first_batch(batch):
        if seen:
            return
        with pytest.raises(SearchIndexError) as e:
            Index(db, model=band_model).add([lib], workers=0)
        seen["error"] = str(e.value)
        reader = Index(db, model=band_model)
        seen["files"] = reader.info().files
        seen["hits"] = len(reader.search("tone 300", k=5))
        reader.close()

    Index(db, model=band_model).add([lib], workers=0, batch_size=2, on_batch=during_first_batch)
    assert seen["error"] == f"another index run is writing to {str(db)!r} (pid {os.getpid()})"
    assert seen["files"] >= 1 and seen["hits"] >= 1
    # the lock is released at the end: a new run may write
    assert Index(db, model=band_model).add([lib], workers=0).unchanged == 3


# ---- (9) read-only index ------------------------------------------------------------------------
def test_read_only_index_is_searchable(tmp_path, band_model, kit, monkeypatch):
    lib = tmp_path / "lib"
    paths = kit.make_library(lib, n=3)
    db = tmp_path / "db"
    Index(db, model=band_model).add([lib], workers=0)
    # running as root, permissions cannot make it read-only: say the folder cannot be written
    monkeypatch.setattr(Store, "writable", staticmethod(lambda db_dir: False))
    index = Index(db, model=band_model)
    info = index.info()
    assert info.read_only and info.files == 3
    assert index.search("tone 700", k=1)[0].path == str(paths[1].resolve())
    assert len(index.similar(1, k=5)) == 2 and index.duplicates() == []
    with pytest.raises(SearchIndexError, match="read-only") as e:
        index.add([lib], workers=0)
    assert "damaged" not in str(e.value)
    with pytest.raises(SearchIndexError, match="read-only"), index.store.transaction() as c:
        c.execute("DELETE FROM files")
    index.close()
    monkeypatch.undo()
    assert Index(db).info().files == 3


def test_read_only_connection_cannot_write(tmp_path, band_model, kit):
    kit.make_library(tmp_path / "lib", n=1)
    db = tmp_path / "db"
    Index(db, model=band_model).add([tmp_path / "lib"], workers=0)
    with Store.open(db, read_only=True) as store:
        assert store.read_only and store.counts()["files"] == 1
        store.read_only = False  # even past the guard, SQLite itself refuses
        with pytest.raises(SearchIndexError, match="read-only"), store.transaction() as c:
            c.execute("DELETE FROM files")
    assert indexed(db) == ["clip_00.wav"]


# ---- (10) deletions before embedding -----------------------------------------------------------
def test_killed_run_leaves_no_stale_rows(tmp_path, band_model, kit):
    lib = tmp_path / "lib"
    paths = kit.make_library(lib, n=3)
    db = tmp_path / "db"
    Index(db, model=band_model).add([lib], workers=0)
    paths[0].unlink()
    paths[1].rename(lib / "renamed.wav")
    for i in range(3):
        kit.write_wav(lib / f"new_{i}.wav", kit.tone(500 + 300 * i, 12.0))

    def killed(batch):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Index(db, model=band_model).add([lib], workers=0, batch_size=1, on_batch=killed)
    # gone and renamed files are out of the index although the run never finished
    with Store.open(db) as store:
        rows = {os.path.basename(r.path): r.complete for r in store.files()}
    assert "clip_00.wav" not in rows and "clip_01.wav" not in rows
    assert rows["renamed.wav"] and rows["clip_02.wav"]
    s = Index(db, model=band_model).add([lib], workers=0)
    assert (s.embedded + s.resumed, s.deleted) == (3, 0)
    assert indexed(db) == ["clip_02.wav", "new_0.wav", "new_1.wav", "new_2.wav", "renamed.wav"]


# ---- (8) settings, damaged pages, disk full ----------------------------------------------------
@pytest.mark.parametrize(
    "window, hop",
    [(float("inf"), 5.0), (10.0, float("nan")), (float("nan"), 1.0), (0.0, 0.0), (4.0, -1.0)],
)
def test_window_and_hop_must_be_finite_and_positive(tmp_path, band_model, kit, window, hop):
    kit.make_library(tmp_path / "lib", n=1)
    with pytest.raises(ConfigError, match="finite number of seconds > 0"):
        Index(tmp_path / "db", model=band_model).add([tmp_path / "lib"], window=window, hop=hop)
    assert not (tmp_path / "db").exists()


def test_damaged_pages_are_one_line(tmp_path, band_model, kit):
    lib = tmp_path / "lib"
    kit.make_library(lib, n=6, seconds=40.0)
    db = tmp_path / "db"
    Index(db, model=band_model).add([lib], window=2.0, hop=1.0, workers=0)
    path = db / DB_NAME
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) > 6 * page
    for lo in range(2 * page, len(data) - page, 2 * page):  # garbage over every other page
        data[lo + 100 : lo + page] = b"\xab" * (page - 100)
    path.write_bytes(bytes(data))
    for call in (
        lambda: Index(db).info(),
        lambda: Index(db, model=band_model).search("tone 700"),
        lambda: Index(db, model=band_model).add([lib], workers=0),
    ):
        with pytest.raises(SearchIndexError, match="damaged") as e:
            call()
        assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_disk_full_says_so_and_keeps_the_index(tmp_path, band_model, kit, monkeypatch):
    lib = tmp_path / "lib"
    kit.make_library(lib, n=2)
    db = tmp_path / "db"
    Index(db, model=band_model).add([lib], window=2.0, hop=1.0, workers=0)
    with Store.open(db) as store:
        before = store.counts()
    for i in range(4):
        kit.write_wav(lib / f"big_{i}.wav", kit.noise(120, amp=0.2, seed=40 + i))
    configure = Store._configure

    def full_disk(conn):  # the database may not grow past its current size
        configure(conn)
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")
        return conn

    monkeypatch.setattr(Store, "_configure", staticmethod(full_disk))
    with pytest.raises(SearchIndexError, match="disk full") as e:
        Index(db, model=band_model).add([lib], workers=0, batch_size=64)
    assert "\n" not in str(e.value) and "rollback" not in str(e.value)
    monkeypatch.undo()
    with Store.open(db) as store:
        store.quick_check()
        after = store.counts()
    assert after["complete_files"] == before["complete_files"] == 2
    s = Index(db, model=band_model).add([lib], workers=0)
    assert s.embedded + s.resumed == 4 and Index(db).info().files == 6


# ---- (5, 6) symlink loops, names that are not UTF-8, unreadable files and folders --------------
def test_symlink_loop_and_non_utf8_name_are_listed_not_fatal(tmp_path, band_model, kit):
    lib = tmp_path / "lib"
    kit.make_library(lib, n=2)
    os.symlink("loop_b.wav", lib / "loop_a.wav")
    os.symlink("loop_a.wav", lib / "loop_b.wav")
    os.symlink("self", lib / "self")  # a directory-like loop
    bad = os.fsencode(lib) + b"/caf\xe9.wav"
    with open(bad, "wb") as f:
        f.write((lib / "clip_00.wav").read_bytes())
    s = Index(tmp_path / "db", model=band_model).add([lib], workers=0)
    assert s.embedded == 2
    reasons = {os.path.basename(x["path"]): x["reason"] for x in s.skipped}
    assert reasons["loop_a.wav"] == reasons["loop_b.wav"] == "symbolic link loop"
    assert reasons["caf\\xe9.wav"] == "file name is not valid UTF-8"
    text = index_summary_text(s)
    text.encode("utf-8")  # printable on any terminal
    assert "caf\\xe9.wav" in text
    json.dumps(s.to_dict()).encode("utf-8")


def test_unreadable_file_and_folder_are_listed(tmp_path, band_model, kit, monkeypatch):
    lib = tmp_path / "lib"
    kit.make_library(lib, n=2)
    kit.write_wav(lib / "private" / "x.wav", kit.tone(440, 3.0))
    real_scandir, private = os.scandir, str(lib / "private")

    def scandir(path="."):
        if os.fspath(path) == private:
            raise PermissionError(13, "Permission denied", private)
        return real_scandir(path)

    import audioseek.index.scan as scan_mod

    real_hash = scan_mod.file_hash

    def file_hash(path):
        if str(path).endswith("clip_01.wav"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_hash(path)

    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(scan_mod, "file_hash", file_hash)
    s = Index(tmp_path / "db", model=band_model).add([lib], workers=0)
    assert s.embedded == 1
    assert sorted((os.path.basename(x["path"]), x["reason"]) for x in s.skipped) == [
        ("clip_01.wav", "cannot read: Permission denied"),
        ("private", "cannot read folder: Permission denied"),
    ]


# ---- (12) failed files are remembered; similar with another model -------------------------------
def test_failed_files_are_not_decoded_again_until_they_change(
    tmp_path, band_model, kit, monkeypatch
):
    import audioseek.index.reader as reader_mod
    import audioseek.index.scan as scan_mod

    lib = tmp_path / "lib"
    kit.make_library(lib, n=1)
    broken = lib / "broken.wav"
    broken.write_bytes(b"RIFF" + os.urandom(2000))
    db = tmp_path / "db"
    s = Index(db, model=band_model).add([lib], workers=0)
    assert [os.path.basename(c["path"]) for c in s.corrupt] == ["broken.wav"]
    touched = []
    real_hash, real_stream = scan_mod.file_hash, reader_mod.stream_file
    monkeypatch.setattr(scan_mod, "file_hash", lambda p: touched.append(p) or real_hash(p))
    monkeypatch.setattr(
        reader_mod, "stream_file", lambda p, *a: touched.append(p) or real_stream(p, *a)
    )
    s = Index(db, model=band_model).add([lib], workers=0)
    assert touched == [] and s.unchanged == 1
    assert [(os.path.basename(c["path"]), bool(c["reason"])) for c in s.corrupt] == [
        ("broken.wav", True)
    ]
    kit.write_wav(broken, kit.tone(900, 6.0))  # fixed: size and mtime change, it is indexed
    s = Index(db, model=band_model).add([lib], workers=0)
    assert s.embedded == 1 and s.corrupt == [] and len(touched) == 2
    with Store.open(db) as store:
        assert store.failed() == []


def test_similar_refuses_an_explicit_other_model(tmp_path, band_model, kit, monkeypatch):
    kit.make_library(tmp_path / "lib", n=2)
    db = tmp_path / "db"
    Index(db, model=band_model).add([tmp_path / "lib"], workers=0)
    monkeypatch.setattr(
        "audioseek.index.service.load_index_model",
        lambda spec, device="auto", precision=None: kit.BandModel(salt="-other"),
    )
    with pytest.raises(SearchIndexError, match="band-model-other"):
        Index(db, model="other-model").similar(1)
    assert len(Index(db).similar(1)) == 1  # the index's own model: stored vectors


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root to switch to nobody"
)
def test_index_owned_by_another_user_is_searchable_read_only(band_model, kit):
    """A real read-only index: built by root in a folder that user ``nobody`` may read but
    not write (so not even SQLite's ``-shm`` file can be created), then queried as nobody."""
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    probe = subprocess.run(
        [*as_nobody, sys.executable, "-c", "import audioseek"], capture_output=True, timeout=60
    )
    if probe.returncode != 0:  # e.g. a checkout inside a 0700 folder (mktemp -d)
        pytest.skip("user nobody cannot import audioseek from this checkout")
    base = Path(tempfile.mkdtemp(prefix="audioseek-ro-"))
    try:
        os.chmod(base, 0o755)
        kit.make_library(base / "lib", n=2)
        db = base / "db"
        Index(db, model=band_model).add([base / "lib"], workers=0)
        for p in [base, *base.rglob("*")]:
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
        script = (
            "import json, sys\n"
            "from audioseek import Index\n"
            "from audioseek.errors import SearchIndexError\n"
            "index = Index(sys.argv[1])\n"
            "info = index.info()\n"
            "out = {'read_only': info.read_only, 'files': info.files,\n"
            "       'similar': len(index.similar(1, k=5)), 'dups': len(index.duplicates())}\n"
            "try:\n"
            "    index.add([sys.argv[2]], workers=0)\n"
            "except SearchIndexError as e:\n"
            "    out['add'] = str(e)\n"
            "print(json.dumps(out))\n"
        )
        cmd = [*as_nobody, sys.executable, "-c", script, str(db), str(base / "lib")]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        out = json.loads(proc.stdout)
        assert out["read_only"] and out["files"] == 2 and out["similar"] == 1
        assert out["dups"] == 0
        assert "read-only" in out["add"] and "damaged" not in out["add"]
    finally:
        shutil.rmtree(base, ignore_errors=True)


# ---- (1) reading memory does not grow with duration --------------------------------------------
@pytest.mark.slow
def test_reader_memory_is_bounded_by_parts_not_duration(tmp_path, kit):
    """A 10-minute file (19 MB as float32; its overlapping windows 38 MB) is read in parts
    of at most PART_WINDOWS windows, with the same peak memory as a 1-minute file."""
    import tracemalloc

    import numpy as np

    from audioseek.index.reader import PART_WINDOWS, Reader

    reader = Reader(kit.SR, window_s=2.0, hop_s=1.0, workers=0)

    def read(minutes):
        path = kit.write_wav(tmp_path / f"{minutes}.wav", kit.noise(60 * minutes, seed=5))
        tracemalloc.start()
        try:
            n, parts, last = 0, 0, None
            for item in reader([str(path)]):
                assert item.error is None and len(item.spans) <= PART_WINDOWS
                assert [w.index for w in item.spans] == list(range(n, n + len(item.spans)))
                n, parts, last = n + len(item.spans), parts + 1, item
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert last.final and last.info["duration"] == pytest.approx(60 * minutes)
        assert n == 60 * minutes - 1 and parts == -(-n // PART_WINDOWS)
        return path, peak

    read(1)  # warm-up: first-use allocations of the decoders
    _, short = read(1)
    path, long = read(10)
    whole = 60 * 10 * kit.SR * 4  # bytes of one float32 decode of the long file
    assert long <= 1.2 * short + 1e6 and long < whole / 2, (short, long, whole)
    # the parts hold exactly the whole-file windows
    from audioseek.audio.io import load_audio
    from audioseek.audio.windows import frame

    ref, _ = frame(load_audio(path, kit.SR)[: 5 * kit.SR], kit.SR, 2.0, 1.0)
    first = next(iter(reader([str(path)])))
    np.testing.assert_array_equal(first.windows[:3], ref[:3])


def test_wav_header_claiming_4_gb_is_read_as_what_it_holds(tmp_path, band_model, kit):
    """A 30 s WAV whose header claims ~4 GB of samples: indexed as 30 s, memory bounded."""
    import struct
    import tracemalloc

    lib = tmp_path / "lib"
    path = kit.write_wav(lib / "liar.wav", kit.noise(30, amp=0.1, seed=3))
    data = bytearray(path.read_bytes())
    at = data.find(b"data")
    data[at + 4 : at + 8] = struct.pack("<I", 0xFFFFFFF0)
    data[4:8] = struct.pack("<I", 0xFFFFFFF8)
    path.write_bytes(bytes(data))
    tracemalloc.start()
    try:
        s = Index(tmp_path / "db", model=band_model).add([lib], window=2.0, hop=1.0, workers=0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert s.embedded == 1 and s.windows_embedded == 29
    assert Index(tmp_path / "db").info().audio_hours == pytest.approx(30 / 3600)
    assert peak < 200e6, peak  # a decode of the claimed length would need gigabytes


@pytest.mark.slow
def test_kill_9_during_creation_then_add_recovers(tmp_path, band_model, kit):
    """A real ``kill -9`` while the database is being created (held there by a slowed
    schema write): the folder holds no ``index.sqlite``, and the next add builds the index."""
    import signal

    lib = tmp_path / "lib"
    kit.make_library(lib, n=1)
    db = tmp_path / "db"
    conftest = Path(__file__).parent / "conftest.py"
    script = (
        "import importlib.util, sys, time\n"
        "spec = importlib.util.spec_from_file_location('kit', sys.argv[3])\n"
        "kit = importlib.util.module_from_spec(spec); spec.loader.exec_module(kit)\n"
        "from audioseek import Index\n"
        "from audioseek.index.store import Store\n"
        "write = Store._write_schema\n"
        "def slow(conn, meta):\n"
        "    write(conn, meta)\n"
        "    print('writing', flush=True)\n"
        "    time.sleep(600)\n"
        "Store._write_schema = staticmethod(slow)\n"
        "Index(sys.argv[2], model=kit.BandModel()).add([sys.argv[1]], workers=0)\n"
    )
    cmd = [sys.executable, "-c", script, str(lib), str(db), str(conftest)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing", proc.stderr.read()[-2000:]
        assert any(p.name.startswith(f"{DB_NAME}.tmp") for p in db.iterdir())
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not (db / DB_NAME).exists()
    with pytest.raises(SearchIndexError, match="no index at"):
        Index(db).info()
    assert Index(db, model=band_model).add([lib], workers=0).embedded == 1
    assert sorted(p.name for p in db.iterdir()) == sorted([DB_NAME, "index.lock"])
