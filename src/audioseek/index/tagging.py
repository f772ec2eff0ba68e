"""Zero-shot categories: score every file of an index against a label vocabulary with the
model's text tower and keep each file's best labels.

A label's text vector is the mean of its prompt embeddings (CLIP's prompt ensembling:
``"the sound of {}"``, ``"{} sound"``, ``"a recording of {}"``, ``"{}"``), renormalised. A
file's vector is the normalised mean of its window vectors. Scores are cosine similarities;
each file keeps its ``top`` labels with their scores (and the vocabulary group), stored in
the ``tags`` table and refreshed when the file is re-indexed (the indexer drops a changed
file's tags; ``audioseek tag`` recomputes the missing ones).

The bundled vocabulary (``resources/vocabularies/everyday.txt``, MIT, written for
audioseek) lists everyday sound categories as ``group: label`` lines; any text file of
labels, one per line (optionally ``group: label``), can replace it.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from audioseek.errors import QueryError

PROMPTS = ("the sound of {}", "{} sound", "a recording of {}", "{}")
DEFAULT_VOCABULARY = "everyday.txt"
MAX_LABELS = 5000
MAX_LABEL_CHARS = 200
TABLE_SQL = (
    "CREATE TABLE IF NOT EXISTS tags ("
    " file_id INTEGER NOT NULL REFERENCES files (id) ON DELETE CASCADE,"
    " rank INTEGER NOT NULL, label TEXT NOT NULL, grp TEXT, score REAL NOT NULL,"
    " PRIMARY KEY (file_id, rank))"
)


@dataclass(frozen=True)
class Label:
    name: str
    group: str | None = None


@dataclass(frozen=True)
class Tag:
    label: str
    score: float
    group: str | None = None


def parse_vocabulary(text: str, source: str = "labels") -> list[Label]:
    """Labels from text: one per line, ``group: label`` or ``label``; ``#`` comments and
    blank lines skipped; duplicates dropped."""
    out: dict[str, Label] = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        group, sep, name = line.partition(":")
        name, group = (name.strip(), group.strip()) if sep else (group.strip(), None)
        if not name:
            raise QueryError(f"{source!r} line {n}: empty label")
        if len(name) > MAX_LABEL_CHARS:
            raise QueryError(f"{source!r} line {n}: label longer than {MAX_LABEL_CHARS} chars")
        out.setdefault(name.lower(), Label(name, group or None))
    if not out:
        raise QueryError(f"{source!r} holds no labels")
    if len(out) > MAX_LABELS:
        raise QueryError(f"{source!r} holds {len(out)} labels; at most {MAX_LABELS}")
    return list(out.values())


def load_vocabulary(path: str | os.PathLike | None = None) -> list[Label]:
    """The bundled vocabulary (``None``) or the labels file at ``path``."""
    if path is None:
        ref = resources.files("audioseek") / "resources" / "vocabularies" / DEFAULT_VOCABULARY
        return parse_vocabulary(ref.read_text(encoding="utf-8"), DEFAULT_VOCABULARY)
    p = Path(path).expanduser()
    try:
        if p.stat().st_size > 4 << 20:
            raise QueryError(f"labels file {str(path)!r} is larger than 4 MB")
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise QueryError(f"cannot read labels file {str(path)!r}: {e}") from None
    return parse_vocabulary(text, str(path))


def label_vectors(
    encode_text: Callable[[list[str]], np.ndarray],
    labels: Sequence[Label],
    prompts: Sequence[str] = PROMPTS,
    batch: int = 256,
) -> np.ndarray:
    """``(n_labels, dim)`` L2-normalised prompt-ensemble vectors."""
    texts = [p.format(label.name) for label in labels for p in prompts]
    parts = [
        np.asarray(encode_text(texts[i : i + batch]), np.float32)
        for i in range(0, len(texts), batch)
    ]
    vecs = np.concatenate(parts).reshape(len(labels), len(prompts), -1).mean(axis=1)
    return vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)


def file_vectors(window_vectors: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Per-file normalised mean of window vectors; ``offsets`` as ``WindowTable.file_slices``."""
    v = np.asarray(window_vectors, np.float32)
    v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    means = np.add.reduceat(v, offsets[:-1], axis=0) if len(v) else np.zeros((0, v.shape[1]))
    return means / np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)


def top_tags(
    files: np.ndarray, labels_vec: np.ndarray, labels: Sequence[Label], top: int = 3
) -> list[list[Tag]]:
    """Best ``top`` labels of each file vector (cosine, best first)."""
    if top < 1:
        raise QueryError(f"top must be >= 1, got {top!r}")
    scores = files @ labels_vec.T
    k = min(top, scores.shape[1])
    out = []
    for row in scores:
        idx = np.argpartition(-row, k - 1)[:k]
        idx = idx[np.argsort(-row[idx], kind="stable")]
        out.append([Tag(labels[i].name, float(row[i]), labels[i].group) for i in idx])
    return out


# ---- storage ----------------------------------------------------------------------------


def ensure_table(conn: sqlite3.Connection) -> None:
    conn.execute(TABLE_SQL)
    conn.execute("CREATE INDEX IF NOT EXISTS tags_label ON tags (label)")


def write_tags(conn: sqlite3.Connection, file_id: int, tags: Sequence[Tag]) -> None:
    conn.execute("DELETE FROM tags WHERE file_id = ?", (int(file_id),))
    conn.executemany(
        "INSERT INTO tags (file_id, rank, label, grp, score) VALUES (?, ?, ?, ?, ?)",
        [(int(file_id), r, t.label, t.group, t.score) for r, t in enumerate(tags)],
    )


def read_tags(source, file_ids: Sequence[int] | None = None) -> dict[int, list[Tag]]:
    """Stored tags by file id (``source``: a connection or a Store)."""
    from audioseek.index.textfields import as_query

    query = as_query(source)
    try:
        if file_ids is None:
            rows = query("SELECT file_id, label, score, grp FROM tags ORDER BY file_id, rank")
        else:
            ids = [int(i) for i in file_ids]
            rows = []
            for lo in range(0, len(ids), 500):
                chunk = ids[lo : lo + 500]
                marks = ",".join("?" * len(chunk))
                rows += query(
                    f"SELECT file_id, label, score, grp FROM tags WHERE file_id IN ({marks}) "
                    "ORDER BY file_id, rank",
                    chunk,
                )
    except sqlite3.OperationalError:  # an index without tags yet
        return {}
    out: dict[int, list[Tag]] = {}
    for fid, label, score, grp in rows:
        out.setdefault(int(fid), []).append(Tag(label, float(score), grp))
    return out


def files_with_tag(source, label: str) -> set[int]:
    """Files with ``label`` among their tags, or in that label group."""
    from audioseek.index.textfields import as_query

    try:
        rows = as_query(source)(
            "SELECT DISTINCT file_id FROM tags WHERE label = ? COLLATE NOCASE OR grp = ? COLLATE NOCASE",
            (label, label),
        )
    except sqlite3.OperationalError:
        return set()
    return {int(r[0]) for r in rows}
