"""Text output cannot be steered by file names: control characters, escape sequences,
newlines and bytes that are not UTF-8 are printed as escapes; JSON output is valid JSON."""

from __future__ import annotations

import json
import os

import pytest

from audioseek.cli import main
from audioseek.cli.common import escape_text

EVIL = "/music/clear\x1b[2J\x1b[Hscreen\nfake line.wav"
NON_UTF8 = os.fsdecode(b"/music/caf\xe9 \xff.wav")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain name.wav", "plain name.wav"),
        ("café 日本語 ünïcode.flac", "café 日本語 ünïcode.flac"),
        ("a\nb", "a\\nb"),
        ("a\rb\tc", "a\\rb\\tc"),
        ("\x1b[31mred", "\\x1b[31mred"),
        ("bell\x07", "bell\\x07"),
        ("del\x7f", "del\\x7f"),
        ("csi\x9b", "csi\\x9b"),
        ("right-to-left \u202eoverride", "right-to-left \\u202eoverride"),
        ("line\u2028sep", "line\\u2028sep"),
        (NON_UTF8, "/music/caf\\xe9 \\xff.wav"),
    ],
)
def test_escape_text(text, shown):
    assert escape_text(text) == shown
    assert escape_text(text).isprintable()


def lines_of(capsys, argv) -> list[str]:
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\r" not in out and "\udcff" not in out
    return out.splitlines()


@pytest.mark.parametrize(
    "argv",
    [
        ["search", "dog", "--db", "d"],
        ["similar", "/music/q.wav", "--db", "d"],
        ["duplicates", "--db", "d"],
        ["index", "/music", "--db", "d"],
        ["info", "--db", "/music/db\x1b[2J"],
    ],
)
def test_text_output_escapes_file_names(capsys, fake_index, argv):
    fake_index.paths = [EVIL, NON_UTF8]
    lines = lines_of(capsys, argv)
    text = "\n".join(lines)
    if argv[0] != "info":
        assert sum("clear\\x1b[2J\\x1b[Hscreen\\nfake line.wav" in line for line in lines) == 1
        assert not any(line.startswith("fake line") for line in lines)
        assert "caf\\xe9 \\xff.wav" in text
    else:
        assert "db\\x1b[2J" in text


def test_text_output_counts_lines(capsys, fake_index):
    fake_index.paths = [EVIL, NON_UTF8]
    assert len(lines_of(capsys, ["search", "dog", "--db", "d"])) == 2  # one line per hit
    assert len(lines_of(capsys, ["duplicates", "--db", "d"])) == 3  # header + two files


def test_json_output_stays_json(capsys, fake_index):
    fake_index.paths = [EVIL]
    assert main(["search", "dog", "--db", "d", "--json"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "\x1b" not in out
    assert json.loads(out)["results"][0]["path"] == EVIL
