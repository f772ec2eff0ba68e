"""Issue 15 on the command line, on a real index built with a tiny model: search exports
(--m3u, --csv, --copy-to), filters giving the same result sets as the HTTP API and Python,
``tag`` with a custom vocabulary, ``watch`` and ``serve --watch`` picking up a new file;
the text output's reasons and "no good match" with the fake index."""

from __future__ import annotations

import _thread
import csv
import importlib.util
import json
import sys
import threading
import time
from pathlib import Path

import pytest

import audioseek
from audioseek.cli import main
from audioseek.index.types import Hit


def _serve_kit():
    """ToneModel and the generated library of ``tests/serve/conftest.py``."""
    path = Path(__file__).parents[1] / "serve" / "conftest.py"
    spec = importlib.util.spec_from_file_location("_serve_conftest_cli", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


kit = _serve_kit()


@pytest.fixture
def lib(tmp_path, monkeypatch):
    """A library (hum, whistle, beep.flac, hum copy; plus Drums/low_thump.wav) and its index;
    ``audioseek.Index`` opens it with ToneModel."""
    from audioseek.index.service import Index

    files = kit.build_real_library(tmp_path / "library")
    (tmp_path / "library" / "Drums").mkdir()
    files["thump"] = kit.write_tone(
        tmp_path / "library" / "Drums" / "low_thump.wav", 187.5, 2.0, 8000
    )
    with Index(tmp_path / "db", model=kit.ToneModel()) as index:
        index.add([tmp_path / "library"], window=4.0, hop=2.0, workers=0, progress=False)
    monkeypatch.setattr(
        audioseek,
        "Index",
        lambda db, model=None, device="auto", **kw: Index(
            db, model=kit.ToneModel(), device=device, **kw
        ),
        raising=False,
    )
    return tmp_path, {k: v.resolve() for k, v in files.items()}


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _json_hits(capsys, *argv) -> list[dict]:
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out.splitlines()[0])["results"]


def test_search_exports_m3u_csv_and_copies(lib, capsys, tmp_path):
    root, files = lib
    m3u, table, dest = tmp_path / "out.m3u", tmp_path / "out.csv", tmp_path / "picked"
    hits = _json_hits(capsys, "search", "hum", "--db", root / "db", "-k", 3)
    code, out, err = run(
        capsys, "search", "hum", "--db", root / "db", "-k", 3, "--m3u", m3u, "--csv", table,
        "--copy-to", dest,
    )  # fmt: skip
    assert code == 0, err
    assert "copied 3 files" in err
    lines = m3u.read_text().splitlines()
    assert lines[0] == "#EXTM3U" and len(lines) == 1 + 2 * 3
    assert lines[2::2] == [h["path"] for h in hits]
    for info, h in zip(lines[1::2], hits, strict=True):
        assert info == f"#EXTINF:{round(h['duration'])},{Path(h['path']).name}"
    with open(table, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["path"] for r in rows] == [h["path"] for h in hits]
    assert [r["rank"] for r in rows] == ["1", "2", "3"] and {r["query"] for r in rows} == {"hum"}
    for r, h in zip(rows, hits, strict=True):
        assert float(r["score"]) == pytest.approx(h["score"], abs=1e-6)
        assert r["weak"] == str(int(h["weak"])) and r["matched_terms"] == ";".join(
            h["matched_terms"]
        )
    copies = sorted(p.name for p in dest.iterdir())
    assert len(copies) == 3
    for h in hits:  # same bytes; a second file of the same name got a suffix
        src = Path(h["path"])
        assert any((dest / c).read_bytes() == src.read_bytes() for c in copies)


def test_similar_exports_and_filters(lib, capsys, tmp_path):
    root, files = lib
    m3u = tmp_path / "sim.m3u"
    code, out, err = run(
        capsys, "similar", files["hum"], "--db", root / "db", "--folder", "Drums", "--m3u", m3u
    )
    assert code == 0, err
    assert m3u.read_text().splitlines()[2::2] == [str(files["thump"].resolve())]


FILTER_CASES = [
    {"format": "flac"},
    {"min_duration": "10"},
    {"max_duration": "9"},
    {"folder": "Drums"},
    {"sample_rate": "8000", "channels": "1"},
    {"format": "wav", "max_duration": "11"},
]


@pytest.mark.parametrize("filters", FILTER_CASES)
@pytest.mark.parametrize("mode", ["hybrid", "audio", "text"])
def test_filters_give_the_same_results_on_cli_api_and_python(lib, capsys, filters, mode):
    from fastapi.testclient import TestClient

    from audioseek.serve.app import create_app

    root, _ = lib
    flags = [x for name, v in filters.items() for x in (f"--{name.replace('_', '-')}", v)]
    cli = _json_hits(capsys, "search", "hum beep", "--db", root / "db", "--mode", mode, *flags)
    with audioseek.Index(root / "db") as index:
        python = index.search("hum beep", k=10, mode=mode, **filters)
        with TestClient(create_app(index), base_url="http://localhost") as c:
            r = c.get("/api/search", params={"q": "hum beep", "mode": mode, **filters})
            api = r.json()["hits"]
    assert [h["file_id"] for h in cli] == [h.file_id for h in python] == [h["file_id"] for h in api]
    unfiltered = _json_hits(capsys, "search", "hum beep", "--db", root / "db", "--mode", mode)
    assert {h["file_id"] for h in cli} <= {h["file_id"] for h in unfiltered}


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--min-duration", "-1"], "min_duration must be a finite number >= 0"),
        (["--max-duration", "soon"], "max_duration must be a number"),
        (["--min-duration", "3", "--max-duration", "1"], "min_duration 3 is longer"),
        (["--format", "w/av"], "format must be file extensions"),
        (["--channels", "1.5"], "channels must be a number"),
        (["--mode", "semantic"], "invalid choice: 'semantic'"),
    ],
)
def test_bad_filter_flags_are_usage_errors(capsys, fake_index, flags, named):
    code, _, err = run(capsys, "search", "x", "--db", "d", *flags)
    assert code == 2 and named in err, err
    assert err.startswith("usage: audioseek search") and fake_index.opened == []


def test_text_output_says_why_and_no_good_match(capsys, fake_index, monkeypatch):
    def hits(self, k):
        return [
            Hit(1, "/music/kick.wav", 0.3, 0.0, 1.0, matched_terms=("kick",), tags=("drum",)),
            Hit(2, "/music/b.wav", 0.1, 0.0, 1.0, weak=True),
        ][:k]

    monkeypatch.setattr(fake_index, "_hits", hits)
    code, out, _ = run(capsys, "search", "kick", "--db", "d")
    lines = out.splitlines()
    assert code == 0 and "no good match" not in out
    assert lines[0].endswith("/music/kick.wav  (matched: kick; tags: drum)")
    assert lines[1].endswith("/music/b.wav  (weak)")

    monkeypatch.setattr(fake_index, "_hits", lambda self, k: hits(self, k)[1:])
    code, out, _ = run(capsys, "search", "kick", "--db", "d")
    assert out.splitlines()[0].startswith("no good match")
    assert out.splitlines()[1].endswith("(weak)")


def test_tag_with_a_custom_vocabulary(lib, capsys, tmp_path):
    root, files = lib
    labels = tmp_path / "labels.txt"
    labels.write_text("# my categories\nTones: hum\nTones: whistle\nAlarms: beep\n")
    code, out, err = run(capsys, "tag", "--db", root / "db", "--labels", labels, "--top", 1)
    assert code == 0, err
    assert out.strip() == f"tagged 5 files with their top 1 of 3 labels from {labels.resolve()}"
    with audioseek.Index(root / "db") as index:
        tagged = {
            Path(p.name).stem: index.tags(p.file_id)
            for p in index.map()  # every file, with its id
        }
    assert [t.label for t in tagged["late_whistle"]] == ["whistle"]
    assert [(t.label, t.group) for t in tagged["beep"]] == [("beep", "Alarms")]
    assert [t.label for t in tagged["low_hum"]] == ["hum"]
    only = _json_hits(capsys, "search", "hum", "--db", root / "db", "--tag", "alarms")
    assert [h["path"] for h in only] == [str(files["beep"].resolve())]
    assert only[0]["tags"] == ["beep"]
    code, out, _ = run(capsys, "search", "whistle", "--db", root / "db", "-k", 1)
    assert "tags: whistle" in out

    code, _, err = run(capsys, "tag", "--db", root / "db", "--labels", tmp_path / "none.txt")
    assert code == 1 and "no such labels file" in err and "\n" not in err.strip()


def _indexed_names(db) -> set[str]:
    from audioseek.index.store import Store

    with Store.open(db) as store:
        return {Path(r.path).name for r in store.files(complete_only=True)}


def _wait(cond, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.2)
    return False


@pytest.fixture
def python_handles_ctrl_c():
    """``_thread.interrupt_main`` does nothing where SIGINT is ignored (a test run started
    in the background by a non-interactive shell): install Python's handler meanwhile."""
    import signal

    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def test_watch_picks_up_a_created_file_until_ctrl_c(
    lib, capsys, python_handles_ctrl_c, monkeypatch
):
    from audioseek.index.watch import Watcher

    root, files = lib
    new = root / "library" / "Drums" / "fresh_beep.wav"
    seen = {}
    caught_up = threading.Event()
    real_start = Watcher.start

    def start(self):  # called once the catch-up run is done
        caught_up.set()
        return real_start(self)

    monkeypatch.setattr(Watcher, "start", start)

    def helper():
        try:
            # after the catch-up run (the library already indexed), add a file
            caught_up.wait(timeout=60)
            kit.write_tone(new, kit.VOCAB["beep"], 3.0, 8000)
            seen["indexed"] = _wait(lambda: "fresh_beep.wav" in _indexed_names(root / "db"))
            time.sleep(0.3)  # the run's line is printed after its last commit
        finally:
            _thread.interrupt_main()  # Ctrl-C

    t = threading.Thread(target=helper, daemon=True)
    t.start()
    code, out, err = run(
        capsys, "watch", root / "library", "--db", root / "db", "--debounce", 0.3,
        "--workers", 0,
    )  # fmt: skip
    t.join(timeout=10)
    assert seen.get("indexed"), (out, err)
    assert code == 0 and "stopped watching" in err
    lines = out.splitlines()
    assert lines[0].startswith("re-indexed 5 files: 0 embedded")  # the catch-up run
    assert any(line.startswith("re-indexed 6 files: 1 embedded") for line in lines[1:]), out


def test_watch_refuses_a_missing_path(capsys, fake_index, tmp_path):
    code, _, err = run(capsys, "watch", tmp_path / "nope", "--db", "d")
    assert code == 1 and "no such folder or file" in err
    code, _, err = run(capsys, "watch", tmp_path, "--db", "d", "--debounce", "-1")
    assert code == 2 and "expected seconds from 0 to 3600" in err


def test_serve_watch_indexes_while_serving(lib, monkeypatch, capsys):
    """``serve --watch``: a file created while the server runs is found by its searches."""
    import torch
    import uvicorn
    from fastapi.testclient import TestClient

    import audioseek.index.service as service_mod

    root, _ = lib
    real_cls = service_mod.Index
    monkeypatch.setenv("AUDIOSEEK_SERVE_THREADS", str(torch.get_num_threads()))
    monkeypatch.setattr(
        service_mod,
        "Index",
        lambda db, model=None, device="auto", **kw: real_cls(
            db, model=kit.ToneModel(), device=device, **kw
        ),
    )
    seen = {}

    def serve_a_while(self, sockets=None):
        with TestClient(self.config.app, base_url="http://localhost") as c:
            assert _wait(lambda: c.get("/api/info").json()["files"] == 5)
            kit.write_tone(root / "library" / "new_whistle.wav", kit.VOCAB["whistle"], 3.0, 8000)

            def found():
                hits = c.get("/api/search", params={"q": "whistle", "k": 10}).json()["hits"]
                return any(h["name"] == "new_whistle.wav" for h in hits)

            seen["found"] = _wait(found)
            seen["files"] = c.get("/api/info").json()["files"]

    monkeypatch.setattr(uvicorn.Server, "run", serve_a_while)
    code, _, err = run(
        capsys, "serve", "--db", root / "db", "--port", 0, "--watch", root / "library",
        "--debounce", 0.3,
    )  # fmt: skip
    assert code == 0, err
    assert seen == {"found": True, "files": 6}
    assert "watching" in err and "re-indexed 6 files: 1 embedded" in err


def test_exports_of_several_queries_and_name_clashes(capsys, fake_index, tmp_path):
    from audioseek.cli.library import copy_files, write_m3u

    queries = tmp_path / "q.txt"
    queries.write_text("dog\ncat\n")
    table, playlist = tmp_path / "all.csv", tmp_path / "all.m3u"
    code, _, err = run(
        capsys, "search", "--queries", queries, "--db", "d", "-k", 2, "--csv", table,
        "--m3u", playlist,
    )  # fmt: skip
    assert code == 0, err
    with open(table, newline="") as f:
        rows = [(r["query"], r["rank"], r["path"]) for r in csv.DictReader(f)]
    assert rows == [
        ("dog", "1", "/music/a.wav"),
        ("dog", "2", "/music/b.wav"),
        ("cat", "1", "/music/a.wav"),
        ("cat", "2", "/music/b.wav"),
    ]
    # the fake's hits have no duration: -1, as M3U says for unknown lengths
    # (its title's control characters become spaces: a playlist line stays one line)
    assert playlist.read_text().splitlines()[1] == "#EXTINF:-1,t [31m"

    a, b = tmp_path / "one" / "kick.wav", tmp_path / "two" / "kick.wav"
    for p, data in ((a, b"first"), (b, b"second")):
        p.parent.mkdir()
        p.write_bytes(data)
    hits = [Hit(1, str(a), 1.0, 0, 1), Hit(2, str(b), 0.5, 0, 1), Hit(1, str(a), 0.4, 0, 1)]
    copies = copy_files(tmp_path / "out", hits)
    assert [c.name for c in copies] == ["kick.wav", "kick_2.wav"]  # each file once
    assert [c.read_bytes() for c in copies] == [b"first", b"second"]
    write_m3u(tmp_path / "x.m3u", hits[:1])
    assert (tmp_path / "x.m3u").read_text() == f"#EXTM3U\n#EXTINF:-1,kick.wav\n{a}\n"
