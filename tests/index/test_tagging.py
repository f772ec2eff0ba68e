import sqlite3

import numpy as np
import pytest

from audioseek.errors import QueryError
from audioseek.index import tagging


def test_bundled_vocabulary_loads_with_groups():
    labels = tagging.load_vocabulary()
    assert len(labels) > 100
    names = {label.name for label in labels}
    assert {"dog barking", "rain", "kick drum", "helicopter"} <= names
    assert all(label.group for label in labels)


def test_custom_vocabulary_and_errors(tmp_path):
    f = tmp_path / "labels.txt"
    f.write_text("# mine\nfoley: cloth rustle\nbig boom\n\nBig Boom\n")
    labels = tagging.load_vocabulary(f)
    assert labels == [tagging.Label("cloth rustle", "foley"), tagging.Label("big boom", None)]
    f.write_text("# nothing\n")
    with pytest.raises(QueryError, match="no labels"):
        tagging.load_vocabulary(f)
    with pytest.raises(QueryError, match="cannot read"):
        tagging.load_vocabulary(tmp_path / "missing.txt")


def test_prompt_ensemble_and_top_tags():
    labels = [tagging.Label("a"), tagging.Label("b"), tagging.Label("c")]
    basis = {"a": [1, 0, 0], "b": [0, 1, 0], "c": [0, 0, 1]}
    seen = []

    def encode_text(texts):
        seen.extend(texts)
        return np.array(
            [basis[t.split()[-1] if t.split()[-1] in basis else t.split()[-2]] for t in texts],
            np.float32,
        )

    vec = tagging.label_vectors(encode_text, labels)
    assert len(seen) == 3 * len(tagging.PROMPTS) and "the sound of a" in seen
    assert np.allclose(vec, np.eye(3))
    files = np.array([[0.9, 0.1, 0.0], [0.0, 0.2, 0.8]], np.float32)
    tags = tagging.top_tags(files, vec, labels, top=2)
    assert [t.label for t in tags[0]] == ["a", "b"] and [t.label for t in tags[1]] == ["c", "b"]


def test_tags_table_roundtrip_and_filter():
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE files (id INTEGER PRIMARY KEY)")
    conn.executemany("INSERT INTO files (id) VALUES (?)", [(1,), (2,)])
    tagging.ensure_table(conn)
    tagging.write_tags(
        conn, 1, [tagging.Tag("rain", 0.4, "nature"), tagging.Tag("wind", 0.3, "nature")]
    )
    tagging.write_tags(conn, 2, [tagging.Tag("kick drum", 0.5, "drums")])
    assert [t.label for t in tagging.read_tags(conn)[1]] == ["rain", "wind"]
    assert tagging.files_with_tag(conn, "Rain") == {1}
    assert tagging.files_with_tag(conn, "drums") == {2}
    tagging.write_tags(conn, 1, [tagging.Tag("thunder", 0.2, "nature")])
    assert [t.label for t in tagging.read_tags(conn, [1])[1]] == ["thunder"]
