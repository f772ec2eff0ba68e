"""Text fields of an audio file: what its name, its folders and its embedded metadata say.

Sound designers name files with meaning (``Drums/Kicks/Kick_808_Hard_03.wav``, UCS names
such as ``DOORWood_Creak Slow_ACME_01.wav``) and tag them in Broadcast WAV ``bext``
descriptions, iXML notes, RIFF INFO, ID3 / Vorbis / MP4 tags. These fields are read at
index time (:func:`file_text`), stored in an SQLite FTS5 table beside the file row
(:func:`upsert`, :func:`delete`, in the indexer's transaction) and ranked with BM25
(:func:`search_text`).

Tokens: file and folder names are split on separators and camelCase; pure numbers and take
markers (``01``, ``v2``, ``take3``, ``tk2``, ``t04``) are dropped, so a library of opaque
names (``0001.wav``) has no name tokens at all. Metadata is read with ``mutagen`` (every
container) and ``wavinfo`` (``bext``, iXML, RIFF INFO), never parsed by hand; a file whose
metadata cannot be read simply has none.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

TABLE = "file_text"
SCHEMA = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {TABLE} USING fts5("
    "name, folders, meta, tokenize = 'porter unicode61 remove_diacritics 2')"
)
#: BM25 column weights: a word in the file name counts most, then metadata, then folders
WEIGHTS = (3.0, 1.0, 1.5)
MAX_META_CHARS = 4000
MAX_QUERY_TERMS = 32

_CAMEL = re.compile(
    r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])"
)
_SPLIT = re.compile(r"[^\w]+|_+", re.UNICODE)
_TAKE = re.compile(r"^(?:v|take|tk|t|var|alt|rr|x)?\d+[a-z]?$", re.IGNORECASE)
_WORD = re.compile(r"\w+", re.UNICODE)


def tokens(text: str) -> list[str]:
    """Words of a file or folder name: split on separators and camelCase, lower-cased,
    numbers and take markers dropped (``"Kick_808_Hard_v2"`` -> ``["kick", "hard"]``;
    the bare number ``808`` goes too, but ``808kick`` keeps ``kick``)."""
    out = []
    for part in _SPLIT.split(text):
        if _TAKE.match(part):
            continue
        for word in _CAMEL.sub(" ", part).split():
            w = word.lower()
            if not w or _TAKE.match(w) or w.isdigit() or len(w) < 2:
                continue
            out.append(w)
    return out


@dataclass
class TextFields:
    """The three indexed fields of one file."""

    name: str = ""
    folders: str = ""
    meta: str = ""
    sources: list[str] = field(default_factory=list)  # which metadata blocks were found

    def is_empty(self) -> bool:
        return not (self.name or self.folders or self.meta)


def name_fields(
    path: str | os.PathLike, roots: Sequence[str | os.PathLike] = ()
) -> tuple[str, str]:
    """``(name tokens, folder tokens)`` of ``path``; folders are taken below the library
    root that holds the file (the root's own name included: ``~/Samples/Drums`` indexed as a
    root still says "drums")."""
    p = Path(path)
    rel_parts: list[str] = []
    for root in roots:
        r = Path(root)
        try:
            rel = p.relative_to(r)
        except ValueError:
            continue
        rel_parts = [r.name, *rel.parts[:-1]]
        break
    else:
        rel_parts = list(p.parts[-3:-1])
    name = " ".join(tokens(p.stem))
    folders = " ".join(t for part in rel_parts for t in tokens(part))
    return name, folders


def _clean(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, (list, tuple)):
        return " ".join(_clean(v) for v in value)
    text = str(value).replace("\x00", " ").strip()
    return re.sub(r"\s+", " ", text)


def _mutagen_fields(path: str) -> dict[str, str]:
    import mutagen

    try:
        f = mutagen.File(path, easy=True)
    except Exception as e:  # damaged or unknown containers: no metadata, never an error
        log.debug("no tags in %r: %s", path, e)
        return {}
    if f is None or not getattr(f, "tags", None):
        return {}
    out = {}
    for key in ("title", "artist", "album", "genre", "comment", "description", "composer"):
        try:
            value = f.tags.get(key)
        except (KeyError, ValueError, TypeError):
            value = None
        if value:
            out[key] = _clean(value)
    return out


def _wav_fields(path: str) -> dict[str, str]:
    """Broadcast WAV ``bext`` description, iXML note/scene/take, RIFF INFO (wavinfo)."""
    from wavinfo import WavInfoReader

    try:
        info = WavInfoReader(path)
    except Exception as e:  # not RIFF, damaged chunks
        log.debug("no WAV metadata in %r: %s", path, e)
        return {}
    out = {}
    bext = getattr(info, "bext", None)
    if bext is not None and _clean(getattr(bext, "description", "")):
        out["bext"] = _clean(bext.description)
    ixml = getattr(info, "ixml", None)
    if ixml is not None:
        xml = _clean(_ixml_text(ixml))
        if xml:
            out["ixml"] = xml
    riff = getattr(info, "info", None)
    if riff is not None:
        try:
            values = [_clean(v) for v in riff.to_dict().values() if v]
        except Exception:  # noqa: BLE001  a malformed INFO list
            values = []
        if values:
            out["riff"] = " ".join(values)
    return out


def _ixml_text(ixml) -> str:
    """Note, project, scene, take, track names and user fields of an iXML chunk."""
    parts = [getattr(ixml, k, None) for k in ("project", "scene", "take", "tape")]
    try:
        root = ixml.raw_xml  # the parsed document (wavinfo uses lxml)
        for tag in ("NOTE", "TRACK_LIST/TRACK/NAME", "USER"):
            parts += [e.text for e in root.iterfind(f".//{tag}")]
    except Exception:  # noqa: BLE001  malformed XML: keep what was parsed
        pass
    return " ".join(_clean(p) for p in parts if p)


def file_text(path: str | os.PathLike, roots: Sequence[str | os.PathLike] = ()) -> TextFields:
    """The text fields of one audio file (never raises for a damaged file)."""
    p = str(path)
    name, folders = name_fields(p, roots)
    meta: dict[str, str] = {}
    meta.update(_mutagen_fields(p))
    if Path(p).suffix.lower() in (".wav", ".wave", ".bwf", ".rf64"):
        meta.update(_wav_fields(p))
    text = " ".join(v for v in dict.fromkeys(meta.values()) if v)[:MAX_META_CHARS]
    return TextFields(name=name, folders=folders, meta=text, sources=sorted(meta))


# ---- the FTS5 table ----------------------------------------------------------------------


def ensure_table(conn: sqlite3.Connection) -> None:
    conn.execute(SCHEMA)


def as_query(source) -> Callable[[str, tuple], list[tuple]]:
    """A read function over an ``sqlite3.Connection`` or a :class:`Store` (``read``)."""
    if hasattr(source, "execute"):
        return lambda sql, params=(): source.execute(sql, params).fetchall()
    return source.read


def has_table(source) -> bool:
    rows = as_query(source)(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (TABLE,)
    )
    return bool(rows)


def upsert(conn: sqlite3.Connection, file_id: int, fields: TextFields) -> None:
    conn.execute(f"DELETE FROM {TABLE} WHERE rowid = ?", (int(file_id),))
    if not fields.is_empty():
        conn.execute(
            f"INSERT INTO {TABLE} (rowid, name, folders, meta) VALUES (?, ?, ?, ?)",
            (int(file_id), fields.name, fields.folders, fields.meta),
        )


def delete(conn: sqlite3.Connection, file_ids: Iterable[int]) -> None:
    conn.executemany(f"DELETE FROM {TABLE} WHERE rowid = ?", [(int(i),) for i in file_ids])


def query_terms(query: str) -> list[str]:
    """The words of a user query as FTS terms (lower-case, no operators)."""
    words = [w.lower() for w in _WORD.findall(query) if len(w) > 1 or w.isdigit()]
    return list(dict.fromkeys(words))[:MAX_QUERY_TERMS]


@dataclass(frozen=True)
class TextMatch:
    file_id: int
    score: float  # BM25 relevance, higher is better (SQLite's bm25() negated)
    terms: tuple[str, ...]  # query words found in the file's fields


def search_text(
    source, query: str, limit: int = 1000, file_ids: Iterable[int] | None = None
) -> list[TextMatch]:
    """Files whose name, folders or metadata contain words of ``query``, best first (BM25,
    any word may match; more matched words and rarer words rank higher)."""
    terms = query_terms(query)
    if not terms or not has_table(source):
        return []
    match = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
    w = ", ".join(str(x) for x in WEIGHTS)
    rows = as_query(source)(
        f"SELECT rowid, -bm25({TABLE}, {w}) AS score, name, folders, meta FROM {TABLE} "
        f"WHERE {TABLE} MATCH ? ORDER BY score DESC, rowid LIMIT ?",
        (match, int(limit)),
    )
    allowed = None if file_ids is None else set(int(i) for i in file_ids)
    out = []
    for rowid, score, name, folders, meta in rows:
        if allowed is not None and rowid not in allowed:
            continue
        words = set(tokens(f"{name} {folders}")) | {m.lower() for m in _WORD.findall(meta)}
        found = tuple(t for t in terms if t in words or _stem_in(t, words))
        out.append(TextMatch(int(rowid), float(score), found))
    return out


def _stem_in(term: str, words: set[str]) -> bool:
    """Porter-ish match for the explanation: ``kicks`` matched ``kick``."""
    base = term.rstrip("s")
    return any(w.rstrip("s") == base for w in words)
