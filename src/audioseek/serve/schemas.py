"""Request and response bodies of the HTTP API (pydantic models = the OpenAPI schema).

Conversion from the index's dataclasses (``Hit``, ``DuplicateGroup``) to JSON lives
here too, so ``api.py`` only routes and validates.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import PurePath
from typing import Any

from pydantic import BaseModel, Field

HIT_FIELDS = (
    "file_id",
    "path",
    "score",
    "start",
    "end",
    "duration",
    "sample_rate",
    "format",
    "title",
    "artist",
    "album",
    "genre",
)


class ErrorOut(BaseModel):
    error: str = Field(description="one-line message naming the bad value")


class HitOut(BaseModel):
    file_id: int | str
    path: str
    name: str = Field(description="file name without folders")
    score: float = Field(description="cosine similarity of the best-matching window")
    start: float | None = Field(None, description="best window start, seconds")
    end: float | None = Field(None, description="best window end, seconds")
    duration: float | None = None
    sample_rate: int | None = None
    format: str | None = None
    title: str | None = None
    artist: str | None = None
    album: str | None = None
    genre: str | None = None
    audio_url: str = Field(description="where to stream the file (supports Range requests)")


class SearchOut(BaseModel):
    query: str
    k: int
    agg: str
    hits: list[HitOut]


class SearchIn(BaseModel):
    queries: list[str] = Field(description="one or more text queries")
    k: int = Field(10, description="results per query")
    agg: str = Field("max", description="'max' or 'topN-mean', e.g. 'top3-mean'")


class SearchBatchOut(BaseModel):
    results: list[SearchOut]


class SimilarIn(BaseModel):
    file_id: int | str = Field(description="id of an indexed file")
    k: int = 10


class SimilarOut(BaseModel):
    source: dict[str, Any] = Field(description="the example: file_id or uploaded filename")
    k: int
    hits: list[HitOut]


class DuplicateGroupOut(BaseModel):
    score: float | None = Field(None, description="lowest similarity inside the group")
    files: list[HitOut]


class DuplicatesOut(BaseModel):
    threshold: float | None
    groups: list[DuplicateGroupOut]


def jsonable(value: Any) -> Any:
    """Dataclasses, paths, numpy scalars/arrays and nested containers -> plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str | int | bool) or value is None:
        return value
    if hasattr(value, "tolist"):  # numpy scalar / array, torch tensor
        return jsonable(value.tolist())
    return str(value)


def _field(obj: Any, name: str) -> Any:
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def _num(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def hit_out(hit: Any, score: float | None = None) -> HitOut:
    """A ``Hit`` (or a ``FileRecord``-like object with the same field names) -> ``HitOut``."""
    fields = {name: _field(hit, name) for name in HIT_FIELDS}
    file_id = fields["file_id"]
    if file_id is None:
        file_id = _field(hit, "id")
    if hasattr(file_id, "item"):
        file_id = file_id.item()
    path = str(fields["path"] or "")
    sample_rate = fields["sample_rate"]
    return HitOut(
        file_id=file_id,
        path=path,
        name=PurePath(path).name,
        score=_num(fields["score"] if fields["score"] is not None else score) or 0.0,
        start=_num(fields["start"]),
        end=_num(fields["end"]),
        duration=_num(fields["duration"]),
        sample_rate=int(sample_rate) if sample_rate is not None else None,
        format=_text(fields["format"]),
        title=_text(fields["title"]),
        artist=_text(fields["artist"]),
        album=_text(fields["album"]),
        genre=_text(fields["genre"]),
        audio_url=f"/api/audio/{file_id}",
    )


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


_MEMBER_FIELDS = ("files", "members", "hits", "items", "records", "paths", "file_ids")
_SCORE_FIELDS = ("score", "similarity", "min_similarity", "min_score")


def duplicate_group_out(group: Any, lookup) -> DuplicateGroupOut:
    """A ``DuplicateGroup`` -> ``DuplicateGroupOut``.

    The group's members may be hits/records, or bare file ids / paths; ``lookup(x)``
    turns a bare id or path into a record (or None when the index no longer holds it).
    """
    members = None
    for name in _MEMBER_FIELDS:
        members = _field(group, name)
        if members is not None:
            break
    if members is None and isinstance(group, list | tuple):
        members = group
    score = None
    for name in _SCORE_FIELDS:
        if _field(group, name) is not None:
            score = _num(_field(group, name))
            break
    files = []
    for member in members or []:
        if isinstance(member, int | str | PurePath) or hasattr(member, "item"):
            record = lookup(member.item() if hasattr(member, "item") else member)
            if record is None:
                continue
            member = record
        files.append(hit_out(member, score=score))
    return DuplicateGroupOut(score=score, files=files)
