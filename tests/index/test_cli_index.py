"""End to end through the CLI with a real (tiny, random) DualEncoder saved on disk:
kill -9 and resume, determinism, JSON outputs, one-line errors."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest

from audioseek.cli import main
from audioseek.index.runner import index_paths
from audioseek.index.store import Store

pytestmark = pytest.mark.slow


def stored(db) -> dict[tuple[str, int], np.ndarray]:
    with Store.open(db) as store:
        out = {}
        for rec in store.files():
            assert rec.complete, rec.path
            for i, v in enumerate(store.file_vectors(rec.id)[0]):
                out[(os.path.relpath(rec.path, os.path.dirname(os.path.dirname(rec.path))), i)] = v
        return out


def child_pids(pid: int) -> list[int]:
    out = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            out += [int(c) for c in f.read().split()]
    return out


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    import soundfile as sf

    root = tmp_path_factory.mktemp("lib") / "music"
    root.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        t = np.arange(int(8000 * (4 + 2 * i))) / 8000
        wave = 0.3 * np.sin(2 * np.pi * (200 + 150 * i) * t) + 0.02 * rng.standard_normal(len(t))
        sf.write(root / f"track_{i}.wav", wave.astype(np.float32), 8000)
    return root


@pytest.fixture
def one_thread():
    """One torch thread (here and in subprocesses): the machine's cores are shared, and every
    run in a comparison must use the same thread count."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    torch.set_num_threads(before)


def test_kill_and_resume_gives_the_uninterrupted_index(
    tmp_path, library, tiny_model_dir, one_thread
):
    """Reference: one uninterrupted run (batch size 1, 2 decoding workers). Then a run in
    a subprocess (batch size 3, 1 worker) killed with SIGKILL mid-way (its worker exits
    too), and a CLI re-run (batch size 7, no workers) to complete it: same files,
    bit-identical vectors."""
    from audioseek.models.hub import load_model

    ref, killed = tmp_path / "ref", tmp_path / "killed"
    model = load_model(str(tiny_model_dir), device="cpu")
    index_paths([library], ref, model=model, window=4, hop=2, workers=2, batch_size=1)
    total = Store.open(ref).counts()["windows"]

    # the run to kill: Index.add in a subprocess, slowed by a sleeping on_batch callback
    script = (
        "import sys, time\n"
        "from audioseek import Index\n"
        "lib, db, model = sys.argv[1:4]\n"
        "Index(db, model=model, device='cpu').add([lib], window=4, hop=2, workers=1,\n"
        "    batch_size=3, progress=False, on_batch=lambda b: time.sleep(0.5))\n"
    )
    cmd = [sys.executable, "-c", script, str(library), str(killed), str(tiny_model_dir)]
    env = one_thread
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
        try:
            # read-only: a plain connect would create an empty index.sqlite under the run
            uri = f"{(killed / 'index.sqlite').as_uri()}?mode=ro"
            with sqlite3.connect(uri, uri=True, timeout=1) as c:
                written = c.execute("SELECT COUNT(*) FROM windows").fetchone()[0]
        except sqlite3.Error:
            continue
        if written >= total // 3:
            break
    children = child_pids(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    with Store.open(killed) as store:  # killed mid-run: some windows, not all
        partial = store.counts()
    assert 0 < partial["windows"] < total
    assert partial["complete_files"] < 8
    assert children, "the decoding worker should have been running"
    deadline = time.monotonic() + 10  # decoding workers exit with the indexer
    while time.monotonic() < deadline and any(alive(p) for p in children):
        time.sleep(0.2)
    assert not any(alive(p) for p in children)

    args = ["index", library, "--db", killed, "--model", tiny_model_dir]
    args += ["--window", "4", "--hop", "2", "--json", "--batch-size", "7", "--workers", "0"]
    assert main([str(a) for a in args]) == 0
    a, b = stored(ref), stored(killed)
    assert a.keys() == b.keys() and len(a) == total
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=str(key))


def test_cli_commands_and_errors(
    tmp_path, library, tiny_model_dir, capsys, tiny_model_builder, one_thread
):
    db = tmp_path / "db"
    (library.parent / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage")
    code, out, err = cli(
        capsys, "index", library, library.parent / "broken.wav", "--db", db,
        "--model", tiny_model_dir, "--window", "4", "--hop", "2", "--workers", "1", "--json",
    )  # fmt: skip
    assert code == 0, err
    summary = json.loads(out)
    assert summary["embedded"] == 8 and summary["corrupt_count"] == 1
    assert summary["corrupt"][0]["path"].endswith("broken.wav")

    # text search: the index's own model is loaded when --model is not given
    code, out, err = cli(capsys, "search", "a low hum", "--db", db, "-k", "3", "--json")
    assert code == 0, err
    assert err == ""
    result = json.loads(out)
    assert result["query"] == "a low hum" and len(result["results"]) == 3
    hit = result["results"][0]
    assert {"path", "score", "start", "end", "title", "artist"} <= hit.keys()
    assert 0 <= hit["start"] < hit["end"] <= hit["duration"] + 4

    queries = tmp_path / "q.jsonl"
    queries.write_text('{"text": "birds", "id": 7}\n\n{"text": "rain on a roof"}\n')
    code, out, err = cli(capsys, "search", "--queries", queries, "--db", db, "--json", "-k", "2")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [q["query"] for q in lines] == ["birds", "rain on a roof"]
    assert lines[0]["id"] == 7 and all(len(q["results"]) == 2 for q in lines)
    code, out, _ = cli(capsys, "search", "--queries", queries, "--db", db, "--agg", "top2-mean")
    assert code == 0 and out.count("# ") == 2

    code, out, err = cli(capsys, "similar", library / "track_3.wav", "--db", db, "--json")
    assert code == 0, err
    paths = [h["path"] for h in json.loads(out)["results"]]
    assert len(paths) == 7 and not any(p.endswith("track_3.wav") for p in paths)

    code, out, err = cli(capsys, "duplicates", "--db", db, "--json")
    assert code == 0 and json.loads(out) == {"groups": []}

    code, out, err = cli(capsys, "info", "--db", db, "--json")
    info = json.loads(out)
    assert code == 0 and info["files"] == 8 and info["dim"] == 16
    assert info["model"] == str(tiny_model_dir.resolve())
    code, out, err = cli(capsys, "info", "--db", db)
    assert code == 0 and "files      8" in out

    # a re-run without --window/--hop keeps the index's 4 s / 2 s
    code, out, err = cli(capsys, "index", library, "--db", db, "--workers", "0", "--json")
    assert code == 0, err
    assert json.loads(out)["unchanged"] + json.loads(out)["touched"] == 8

    # runtime failures: one line, exit status 1; usage errors: exit status 2
    other = tiny_model_builder(tmp_path / "other", seed=1)
    capsys.readouterr()
    failures = [
        (["search", "x", "--db", tmp_path / "missing"], "no index at"),
        (["search", "x", "--db", db, "--model", other], str(other.resolve())),
        (["index", library, "--db", db, "--model", other], str(tiny_model_dir.resolve())),
        (["index", library, "--db", db, "--window", "5", "--hop", "2"], "window"),
        (["similar", tmp_path / "none.wav", "--db", db], "none.wav"),
        (["similar", library.parent / "broken.wav", "--db", db], "broken.wav"),
    ]
    for argv, message in failures:
        code, out, err = cli(capsys, *argv)
        assert code == 1, (argv, err)
        assert err.startswith("error: ") and err.count("\n") == 1, repr(err)
        assert message in err, (argv, err)
    usage = [
        (["search", "x", "--db", db, "-k", "0"], "'0'"),
        (["search", "x", "--db", db, "--agg", "mean"], "'mean'"),
        (["search", "--db", db], "QUERY or --queries"),
        (["search", "   ", "--db", db], "empty query"),
        (
            ["search", "x", "--db", db, "--mod", "text"],
            "--mod",
        ),  # no abbreviation of --model/--mode
        (["search", "x", "--db", db, "--mode", "magic"], "magic"),
        (["duplicates", "--db", db, "--threshold", "7"], "'7'"),
        (["index", library, "--db", db, "--window", "inf"], "'inf'"),
    ]
    for argv, message in usage:
        code, out, err = cli(capsys, *argv)
        assert code == 2, (argv, err)
        assert err.startswith("usage: audioseek ") and message in err, (argv, err)
    code, out, _ = cli(capsys, "info", "--db", db, "--json")
    assert json.loads(out)["windows"] == info["windows"]  # nothing lost


def test_cli_text_output_escapes_file_names(tmp_path, tiny_model_dir, capsys, one_thread):
    """A real index of files whose names hold an escape sequence, a newline and bytes that
    are not UTF-8: every text output shows them escaped, one line per file."""
    import soundfile as sf

    lib = tmp_path / "lib"
    lib.mkdir()
    t = np.arange(8000 * 4) / 8000
    wave = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    sf.write(lib / "plain.wav", wave, 8000)
    evil = lib / "x\x1b[2J\x1b[Hfake\nline.wav"
    sf.write(evil, wave[::-1].copy(), 8000)
    non_utf8 = os.path.join(os.fsencode(lib), b"caf\xe9.wav")
    sf.write(lib / "tmp.wav", np.roll(wave, 1000), 8000)
    os.rename(lib / "tmp.wav", non_utf8)
    db = tmp_path / "db"
    outputs = []
    for argv in (
        ["index", lib, "--db", db, "--model", tiny_model_dir, "--window", "2", "--hop", "1",
         "--workers", "0"],
        ["search", "a tone", "--db", db, "-k", "3"],
        ["similar", lib / "plain.wav", "--db", db, "-k", "3"],
        ["duplicates", "--db", db, "--threshold", "-0.99"],
    ):  # fmt: skip
        code, out, err = cli(capsys, *argv)
        assert code == 0, err
        assert "\x1b" not in out and "\udce9" not in out
        outputs.append(out)
    index_out, search_out, similar_out, _ = outputs
    assert "x\\x1b[2J\\x1b[Hfake\\nline.wav" in search_out
    assert not any(line.startswith("line.wav") for line in search_out.splitlines())
    assert len(search_out.splitlines()) == 2  # one line per hit, whatever the names
    # the name that is not UTF-8 is not indexed: listed as skipped, its byte escaped
    assert "caf\\xe9.wav: file name is not valid UTF-8" in index_out
    assert "fake\\nline.wav" in similar_out


def test_cli_with_the_bundled_model_prints_no_third_party_bar(tmp_path, one_thread):
    """The bundled offline model loads its text encoder with transformers, which draws a
    "Loading weights 0/103 ... 103/103" bar on stderr: the command keeps it off (and says
    nothing else there); -v shows it."""
    import soundfile as sf

    lib = tmp_path / "lib"
    lib.mkdir()
    t = np.arange(16000 * 3) / 16000
    sf.write(lib / "tone.wav", (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16000)
    env = {k: v for k, v in one_thread.items() if not k.startswith(("HF_HUB_DISABLE", "TRANSF"))}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    base = [sys.executable, "-m", "audioseek.cli"]
    runs = {}
    for name, extra in (("quiet", []), ("verbose", ["-v"])):
        cmd = [*base, "index", str(lib), "--db", str(tmp_path / name), "--model", "offline"]
        proc = subprocess.run(
            [*cmd, "--workers", "0", *extra], capture_output=True, text=True, env=env, timeout=600
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert proc.stdout.startswith("indexed 1 files"), proc.stdout
        runs[name] = proc.stderr
    assert runs["quiet"] == ""
    assert "Loading weights" in runs["verbose"]
