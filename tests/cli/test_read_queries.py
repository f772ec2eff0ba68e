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


def test_dev_zero_stops_at_the_size_limit():
    """A bounded read: /dev/zero (endless) is refused after max_bytes, not read forever."""
    with pytest.raises(QueryError, match=r"'/dev/zero' is larger than 10,000,000 bytes"):
        read_queries("/dev/zero")


def test_size_and_count_limits(tmp_path):
    from audioseek.index.query import MAX_QUERIES

    f = tmp_path / "q.txt"
    f.write_text("x" * 101)
    with pytest.raises(QueryError, match="larger than 100 bytes"):
        read_queries(str(f), max_bytes=100)
    f.write_text("x" * 100)
    assert read_queries(str(f), max_bytes=100) == [{"text": "x" * 100}]

    f.write_text("q\n" * MAX_QUERIES + "\n\n")
    assert len(read_queries(str(f))) == MAX_QUERIES
    f.write_text("q\n" * (MAX_QUERIES + 1))
    with pytest.raises(QueryError, match=f"more than {MAX_QUERIES:,} queries"):
        read_queries(str(f))


def test_not_utf8_and_directory(tmp_path):
    f = tmp_path / "q.txt"
    f.write_bytes(b"dog\n\xff\xfe barking\n")
    with pytest.raises(QueryError, match="not UTF-8"):
        read_queries(str(f))
    with pytest.raises(QueryError, match="cannot read queries file"):
        read_queries(str(tmp_path))
