"""Request and response bodies of the HTTP API (pydantic models = the OpenAPI schema).

Response models mirror the public dataclasses of :mod:`audioseek.index.types` field for
field and are built from them with ``from_attributes`` (``HitOut.of(hit)``); the only
additions are derived values the page needs (``name``, ``audio_url``). ``audioseek.Client``
turns them back into the same dataclasses (``HitOut.to_hit``), so the server, the client
and the tests speak one set of types.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from pathlib import PurePath
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, StrictInt, computed_field, create_model

from audioseek.index.types import DuplicateGroup, DuplicatePair, Hit, IndexedFile, IndexInfo


def _mirror(kind: type, base: type[BaseModel]) -> type[BaseModel]:
    """A pydantic model with exactly the fields (names, types, defaults) of the dataclass
    ``kind``: the response schema cannot drift from the public type."""
    hints = typing.get_type_hints(kind)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(kind):
        if f.default is not dataclasses.MISSING:
            fields[f.name] = (hints[f.name], Field(f.default))
        elif f.default_factory is not dataclasses.MISSING:
            fields[f.name] = (hints[f.name], Field(default_factory=f.default_factory))
        else:
            fields[f.name] = (hints[f.name], ...)
    return create_model(f"{kind.__name__}Fields", __base__=base, **fields)


class _FromDataclass(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    dataclass_type: ClassVar[type]  # the dataclass this model mirrors

    @classmethod
    def of(cls, obj: Any):
        return cls.model_validate(obj, from_attributes=True)

    def to_type(self):
        """The dataclass this model mirrors, from this model's fields."""
        kind = self.dataclass_type
        return kind(**{f.name: getattr(self, f.name) for f in dataclasses.fields(kind)})


class ErrorOut(BaseModel):
    error: str = Field(description="one-line message naming the bad value")


class _Playable(BaseModel):
    """The file name and audio URL of anything with ``file_id`` and ``path``."""

    @computed_field(description="file name without folders")
    @property
    def name(self) -> str:
        return PurePath(self.path).name

    @computed_field(description="where to stream the file (supports Range requests)")
    @property
    def audio_url(self) -> str:
        return f"/api/audio/{self.file_id}"


class HitOut(_mirror(Hit, _FromDataclass), _Playable):
    """A :class:`~audioseek.index.types.Hit`, plus its file name and audio URL."""

    dataclass_type = Hit

    def to_hit(self) -> Hit:
        return self.to_type()


class IndexedFileOut(_mirror(IndexedFile, _FromDataclass), _Playable):
    """An :class:`~audioseek.index.types.IndexedFile`, plus its file name and audio URL."""

    dataclass_type = IndexedFile


class DuplicatePairOut(_mirror(DuplicatePair, _FromDataclass)):
    dataclass_type = DuplicatePair


class DuplicateGroupOut(_mirror(DuplicateGroup, _FromDataclass)):
    """A :class:`~audioseek.index.types.DuplicateGroup` (its files as ``IndexedFileOut``)."""

    dataclass_type = DuplicateGroup
    files: list[IndexedFileOut]
    pairs: list[DuplicatePairOut] = []

    def to_type(self) -> DuplicateGroup:
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(DuplicateGroup)}
        values["files"] = [f.to_type() for f in self.files]
        values["pairs"] = [p.to_type() for p in self.pairs]
        return DuplicateGroup(**values)


class IndexInfoOut(_mirror(IndexInfo, _FromDataclass)):
    dataclass_type = IndexInfo


def finite(value: Any) -> Any:
    """JSON has no NaN or infinity: such floats (at any depth) become ``None``."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


class SearchOut(BaseModel):
    query: str
    k: int
    agg: str
    hits: list[HitOut]


class SearchIn(BaseModel):
    # strict: ``"k": true`` or ``"k": "3"`` is refused, not read as 1 or 3
    queries: list[str] = Field(description="one or more text queries")
    k: StrictInt = Field(10, description="results per query")
    agg: str = Field("max", description="'max' or 'topN-mean', e.g. 'top3-mean'")


class SearchBatchOut(BaseModel):
    results: list[SearchOut]


class SimilarIn(BaseModel):
    file_id: int = Field(description="id of an indexed file")
    k: int = 10


class SimilarOut(BaseModel):
    source: dict[str, Any] = Field(description="the example: file_id or uploaded filename")
    k: int
    hits: list[HitOut]


class DuplicatesOut(BaseModel):
    threshold: float | None
    groups: list[DuplicateGroupOut]
