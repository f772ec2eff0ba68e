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

from audioseek.index.filters import FILTER_NAMES
from audioseek.index.library import MapPoint
from audioseek.index.tagging import Tag
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
    mode: str = "hybrid"
    filters: dict[str, Any] = Field(default_factory=dict, description="the filters applied")
    hits: list[HitOut]


class FiltersIn(BaseModel):
    """The search filters (:class:`audioseek.index.filters.Filters`), all optional."""

    min_duration: float | None = Field(None, description="shortest file, seconds")
    max_duration: float | None = Field(None, description="longest file, seconds")
    format: str | None = Field(None, description="extensions, comma separated: 'wav,flac'")
    sample_rate: StrictInt | None = Field(None, description="sample rate in Hz")
    channels: StrictInt | None = Field(None, description="number of channels")
    folder: str | None = Field(None, description="folder prefix (absolute or below a root)")
    tag: str | None = Field(None, description="category label or label group")

    def filters(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump().items() if k in FILTER_NAMES and v is not None}


class SearchIn(FiltersIn):
    # strict: ``"k": true`` or ``"k": "3"`` is refused, not read as 1 or 3
    queries: list[str] = Field(description="one or more text queries")
    k: StrictInt = Field(10, description="results per query")
    agg: str = Field("max", description="'max' or 'topN-mean', e.g. 'top3-mean'")
    mode: str = Field("hybrid", description="'hybrid', 'audio' or 'text'")


class SearchBatchOut(BaseModel):
    results: list[SearchOut]


class SimilarIn(FiltersIn):
    file_id: int = Field(description="id of an indexed file")
    k: int = 10


class SimilarOut(BaseModel):
    source: dict[str, Any] = Field(description="the example: file_id or uploaded filename")
    k: int
    filters: dict[str, Any] = Field(default_factory=dict, description="the filters applied")
    hits: list[HitOut]


class TagOut(_mirror(Tag, _FromDataclass)):
    """A category tag (:class:`audioseek.index.tagging.Tag`): label, score, group."""

    dataclass_type = Tag


class TagsOut(BaseModel):
    file_id: int
    tags: list[TagOut]


class MapPointOut(_mirror(MapPoint, _FromDataclass)):
    """A file on the library map (:class:`audioseek.index.library.MapPoint`)."""

    dataclass_type = MapPoint


class MapOut(BaseModel):
    points: list[MapPointOut]


class PeaksOut(BaseModel):
    file_id: int
    peaks: list[list[float]] | None = Field(
        description="[min, max] of equal slices of the file, or null when not stored"
    )


class DuplicatesOut(BaseModel):
    threshold: float | None
    groups: list[DuplicateGroupOut]
