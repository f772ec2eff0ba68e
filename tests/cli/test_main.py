"""The entry point: fast help, exit statuses (0 ok, 1 failure, 2 usage, 130 interrupted),
no flag abbreviations, -v/-q anywhere, AUDIOSEEK_DB."""

import argparse
import logging
import subprocess
import sys
import time

import pytest

from audioseek.cli import build_parser, main
from audioseek.cli.common import verbosity
from audioseek.errors import AudioDecodeError, SearchIndexError


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_help_is_fast_and_lists_commands():
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "audioseek.cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    elapsed = time.perf_counter() - t0
    for cmd in ["index", "search", "similar", "duplicates", "info", "serve", "train", "evaluate"]:
        assert cmd in out.stdout
    assert elapsed < 3.0  # generous for a loaded CI box; the real figure is ~0.1 s


def test_help_does_not_import_torch():
    code = (
        "import sys; from audioseek.cli import build_parser, main; build_parser(); "
        "main(['search', '--help']); "
        "print('torch' in sys.modules, 'transformers' in sys.modules, file=sys.stderr)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stderr.strip() == "False False"


def test_help_and_version_exit_0(capsys):
    assert main(["--help"]) == 0
    assert main(["search", "--help"]) == 0
    assert main(["--version"]) == 0
    assert "audioseek" in capsys.readouterr().out


def test_group_without_action_is_a_usage_error(capsys):
    code, _, err = run(capsys, "data")
    assert code == 2
    assert "audioseek data: error:" in err and "ACTION" in err


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["index", "x", "--db", "d", "--window", "inf"], "'inf'"),
        (["index", "x", "--db", "d", "--window", "nan"], "'nan'"),
        (["index", "x", "--db", "d", "--window", "0"], "'0'"),
        (["index", "x", "--db", "d", "--window", "-1"], "'-1'"),
        (["index", "x", "--db", "d", "--hop", "Infinity"], "'Infinity'"),
        (["index", "x", "--db", "d", "--hop", "1e400"], "'1e400'"),
        (["index", "x", "--db", "d", "--window", "ten"], "'ten'"),
        (["index", "x", "--db", "d", "--window", "2", "--hop", "5"], "hop 5.0"),
        (["index", "x", "--db", "d", "--workers", "-1"], "'-1'"),
        (["index", "x", "--db", "d", "--workers", "1000"], "'1000'"),
        (["index", "x", "--db", "d", "--batch-size", "0"], "'0'"),
        (["index", "x", "--db", "d", "--batch-size", "1.5"], "'1.5'"),
        (["search", "x", "--db", "d", "-k", "0"], "'0'"),
        (["search", "x", "--db", "d", "-k", "10001"], "'10001'"),
        (["search", "x", "--db", "d", "-k", "true"], "'true'"),
        (["similar", "f.wav", "--db", "d", "-k", "-3"], "'-3'"),
        (["search", "x", "--db", "d", "--agg", "mean"], "'mean'"),
        (["duplicates", "--db", "d", "--threshold", "7"], "'7'"),
        (["duplicates", "--db", "d", "--threshold", "nan"], "'nan'"),
        (["search", "--db", "d"], "QUERY or --queries"),
        (["search", "  ", "--db", "d"], "empty query"),
        (["search", "x" * 1001, "--db", "d"], "query too long"),
        (["search", "x", "--db", "d", "--queries", "q.txt"], "QUERY or --queries"),
    ],
)
def test_bad_flag_values_are_usage_errors(capsys, fake_index, argv, named):
    code, out, err = run(capsys, *argv)
    assert code == 2, err
    assert f"audioseek {argv[0]}: error:" in err and named in err, err
    assert err.startswith("usage: audioseek " + argv[0]) and "Traceback" not in err
    assert fake_index.opened == []  # refused before any work


@pytest.mark.parametrize(
    "argv",
    [
        ["search", "x", "--db", "d", "--mo", "text"],  # neither --mode nor --model
        ["search", "x", "--db", "d", "--mod", "offline"],
        ["index", "x", "--db", "d", "--batch", "4"],
        ["index", "x", "--d", "d"],
        ["--verb", "info", "--db", "d"],
        ["data", "download", "clotho", "--ro", "r"],
    ],
)
def test_abbreviations_are_refused(capsys, fake_index, argv):
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert "error:" in err
    assert fake_index.opened == []


@pytest.mark.parametrize(
    ("argv", "level"),
    [
        (["info", "--db", "d"], 0),
        (["-v", "info", "--db", "d"], 1),
        (["info", "--db", "d", "-v"], 1),
        (["info", "-v", "--db", "d"], 1),
        (["-v", "info", "--db", "d", "-v"], 2),
        (["-vv", "info", "--db", "d"], 2),
        (["info", "--db", "d", "--verbose", "--verbose"], 2),
        (["-q", "info", "--db", "d"], -1),
        (["info", "--db", "d", "-q"], -1),
        (["--quiet", "search", "x", "--db", "d", "-q"], -2),
        (["-v", "search", "x", "--db", "d", "-q"], 0),
        (["data", "download", "clotho", "--root", "r", "-v"], 1),
        (["-q", "train", "--config", "c.yaml"], -1),
    ],
)
def test_verbose_and_quiet_before_or_after_the_command(argv, level):
    args = build_parser().parse_args(argv)
    assert verbosity(args) == level


def test_db_from_the_environment(capsys, fake_index, monkeypatch):
    monkeypatch.delenv("AUDIOSEEK_DB", raising=False)
    code, _, err = run(capsys, "info")
    assert code == 2
    assert "audioseek info: error:" in err and "--db" in err and "AUDIOSEEK_DB" in err
    assert fake_index.opened == []

    monkeypatch.setenv("AUDIOSEEK_DB", "/indexes/env")
    for argv in (["info"], ["search", "x"], ["similar", "f.wav"], ["duplicates"]):
        code, _, err = run(capsys, *argv)
        assert code == 0, err
        assert fake_index.opened[-1]["db"] == "/indexes/env"
    code, _, err = run(capsys, "info", "--db", "/indexes/flag")
    assert code == 0 and fake_index.opened[-1]["db"] == "/indexes/flag"  # the flag wins
    monkeypatch.setenv("AUDIOSEEK_DB", "")  # empty means unset
    assert run(capsys, "info")[0] == 2


@pytest.mark.parametrize(
    "error",
    [
        SearchIndexError("no index at '/nowhere'"),
        AudioDecodeError("/q.wav", "not audio"),
    ],
)
@pytest.mark.parametrize(
    "argv",
    [
        ["search", "x", "--db", "d"],
        ["similar", "q.wav", "--db", "d"],
        ["info", "--db", "d"],
        ["duplicates", "--db", "d"],
        ["index", "lib", "--db", "d"],
    ],
)
def test_runtime_failures_exit_1_with_one_line(capsys, fake_index, argv, error):
    fake_index.fail = error
    code, out, err = run(capsys, *argv)
    assert code == 1
    assert err == f"error: {error}\n" and out == ""


def test_ctrl_c_exits_130(capsys, fake_index):
    fake_index.fail = KeyboardInterrupt()
    code, _, err = run(capsys, "search", "x", "--db", "d")
    assert code == 130 and err == "interrupted\n"


def test_console_script_exit_statuses(tmp_path):
    """The installed entry point (``python -m audioseek.cli``) passes the statuses on."""
    usage = subprocess.run(
        [sys.executable, "-m", "audioseek.cli", "search", "x", "--db", str(tmp_path), "-k", "0"],
        capture_output=True,
        text=True,
    )
    assert usage.returncode == 2 and "'0'" in usage.stderr
    missing = tmp_path / "missing.txt"
    failure = subprocess.run(
        [sys.executable, "-m", "audioseek.cli", "search", "--queries", str(missing)]
        + ["--db", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert failure.returncode == 1, failure.stderr
    assert failure.stderr.startswith("error: cannot read queries file") and "missing.txt" in (
        failure.stderr
    )
    assert failure.stderr.count("\n") == 1


def test_closed_pipe_stops_quietly(capsys, fake_index, monkeypatch):
    """``audioseek search ... | head -1``: the reader went away; no traceback."""
    import io

    class ClosedPipe(io.TextIOBase):
        def write(self, s):
            raise BrokenPipeError(32, "Broken pipe")

        def fileno(self):
            raise io.UnsupportedOperation("fileno")

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert main(["search", "x", "--db", "d"]) == 1
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("flags", "level"),
    [([], logging.WARNING), (["-q"], logging.ERROR), (["-v"], logging.INFO), (["-vv"], 10)],
)
def test_verbosity_sets_the_log_level(fake_index, flags, level):
    root = logging.getLogger()
    before = root.level
    try:
        assert main(["info", "--db", "d", *flags]) == 0
        assert root.level == level
    finally:
        root.setLevel(before)


def test_every_parser_refuses_abbreviations_and_takes_verbosity():
    def walk(parser):
        yield parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    yield from walk(sub)

    parsers = list(walk(build_parser()))
    assert len(parsers) > 10
    for p in parsers:
        assert p.allow_abbrev is False, p.prog
        assert {"-v", "-q"} <= set(p._option_string_actions), p.prog


def _blocked_reading(pid: int, deadline: float) -> bool:
    """Whether ``pid`` sleeps in a pipe read (Linux /proc); True at once without /proc."""
    import os

    wchan = f"/proc/{pid}/wchan"
    if not os.path.exists(wchan):
        time.sleep(1.0)
        return True
    while time.monotonic() < deadline:
        with open(wchan) as f:
            where = f.read().strip()
        if "pipe_read" in where:
            return True
        if where in ("", "0"):  # the kernel hides wait channels: allow it a second
            time.sleep(1.0)
            return True
        time.sleep(0.02)
    return False


def test_a_real_ctrl_c_exits_130_without_traceback(tmp_path):
    """SIGINT while the command waits on a --queries FIFO (no model needed): status 130 and
    one line, as after Ctrl-C in a terminal."""
    import os
    import signal

    fifo = tmp_path / "queries.fifo"
    os.mkfifo(fifo)
    proc = subprocess.Popen(
        [sys.executable, "-m", "audioseek.cli", "search", "--queries", str(fifo)]
        + ["--db", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    writer = None
    deadline = time.monotonic() + 60
    while writer is None and time.monotonic() < deadline:
        try:  # succeeds once the command has the FIFO open for reading
            writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            time.sleep(0.05)
    try:
        assert writer is not None, proc.communicate(timeout=5)
        # Ctrl-C at the prompt: the command is blocked reading the FIFO. A signal that lands
        # in the microseconds between the FIFO's open() returning and read() starting is
        # seen by CPython only at its next bytecode, after a read that waits forever (a
        # CPython limitation, not this command's): wait until the read has begun.
        assert _blocked_reading(proc.pid, deadline), proc.pid
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if writer is not None:
            os.close(writer)
        proc.kill()
    assert proc.returncode == 130 and err == "interrupted\n" and out == ""


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--corpus-version", "7"], "invalid choice: 7 (choose from 1, 2, 3, 4, 5, 6)"),
        (["--corpus-version", "v4"], "invalid int value: 'v4'"),
    ],
)
def test_unknown_corpus_version_is_a_usage_error(capsys, tmp_path, flags, named):
    out = tmp_path / "corpus"
    code, _, err = run(capsys, "data", "prepare", "offline", "--out", str(out), *flags)
    assert code == 2 and named in err, err
    assert err.startswith("usage: audioseek data prepare") and not out.exists()
