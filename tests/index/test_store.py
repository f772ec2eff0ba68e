"""``Store.open`` on folders that are not an index: one SearchIndexError, the file untouched."""

from __future__ import annotations

import sqlite3

import pytest

from audioseek.errors import SearchIndexError
from audioseek.index.store import DB_NAME, Store


def _foreign_sqlite(path):
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.execute("INSERT INTO notes VALUES ('keep me')")
    conn.commit()
    conn.close()


@pytest.mark.parametrize("kind", ["empty", "garbage", "other sqlite"])
def test_not_an_index_is_refused_and_left_as_is(tmp_path, kind):
    path = tmp_path / DB_NAME
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "garbage":
        path.write_bytes(b"not a database at all" * 100)
    else:
        _foreign_sqlite(path)
    before = path.read_bytes()
    with pytest.raises(
        SearchIndexError, match=r"damaged or not an index|unknown schema|unfinished creation"
    ) as e:
        Store.open(tmp_path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [DB_NAME]  # no -wal / -shm


def test_missing_index_names_folder(tmp_path):
    with pytest.raises(SearchIndexError, match="no index at"):
        Store.open(tmp_path / "nope")


def test_real_index_reopens_in_wal_mode(tmp_path):
    Store.create(tmp_path, {"model": "m"}).close()
    with Store.open(tmp_path) as store:
        assert store.journal_mode() == "wal"
