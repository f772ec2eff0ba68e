"""Query files for ``audioseek search --queries``: plain lines or JSONL with ``text``."""

from __future__ import annotations

import pytest

from audioseek.cli.index import read_queries
from audioseek.errors import QueryError


def test_lines_and_jsonl(tmp_path):
    f = tmp_path / "q.txt"
    f.write_text("dog barking\n\n  rain on a roof  \n")
    assert read_queries(str(f)) == [{"text": "dog barking"}, {"text": "rain on a roof"}]
    f.write_text('{"text": "a siren", "id": "q1"}\nbirds\n')
    assert read_queries(str(f)) == [{"text": "a siren", "id": "q1"}, {"text": "birds"}]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "holds no queries"),
        ('{"text": "ok"}\n{"txt": "no text"}\n', "line 2: JSON object without a 'text'"),
        ('{"text": \n', "line 1: invalid JSON"),
    ],
)
def test_malformed_query_files(tmp_path, content, message):
    f = tmp_path / "q.jsonl"
    f.write_text(content)
    with pytest.raises(QueryError, match=message):
        read_queries(str(f))
    with pytest.raises(QueryError, match="missing.txt"):
        read_queries(str(tmp_path / "missing.txt"))
