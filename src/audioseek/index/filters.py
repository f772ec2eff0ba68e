"""Search filters: duration range, format, sample rate, channels, folder prefix, tag.

The same names everywhere: the Python API (``Index.search(..., min_duration=0.2,
folder="Drums")``), the CLI (``--min-duration 0.2 --folder Drums``), the HTTP API (query
parameters) and the page (controls). :meth:`Filters.allowed` turns them into the set of
file ids a ranking may return (``None``: no filter).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from audioseek.errors import QueryError

FILTER_NAMES = (
    "min_duration",
    "max_duration",
    "format",
    "sample_rate",
    "channels",
    "folder",
    "tag",
)


def _number(name: str, value, integer: bool = False):
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise QueryError(f"{name} must be a number, got {value!r}")
    try:
        number = int(value) if integer else float(value)
    except (TypeError, ValueError):
        raise QueryError(f"{name} must be a number, got {value!r}") from None
    if integer and isinstance(value, float) and not value.is_integer():
        raise QueryError(f"{name} must be a whole number, got {value!r}")
    if not math.isfinite(number) or number < 0:
        raise QueryError(f"{name} must be a finite number >= 0, got {value!r}")
    return number


def _formats(value) -> tuple[str, ...] | None:
    if value is None or value == "" or value == ():
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    out = tuple(sorted({str(v).strip().lower().lstrip(".") for v in items if str(v).strip()}))
    if not out or any(len(v) > 16 or not v.isalnum() for v in out):
        raise QueryError(f"format must be file extensions such as 'wav,flac', got {value!r}")
    return out


@dataclass(frozen=True)
class Filters:
    min_duration: float | None = None  # seconds
    max_duration: float | None = None
    format: tuple[str, ...] | None = None  # extensions/containers: ("wav", "flac")
    sample_rate: int | None = None
    channels: int | None = None
    folder: str | None = None  # a path prefix, absolute or relative to a library root
    tag: str | None = None  # a zero-shot label or label group (``audioseek tag``)

    @classmethod
    def from_mapping(cls, values: Mapping | None = None, **kw) -> Filters:
        """Checked filters from keyword values (strings from a URL are fine)."""
        merged = {**(dict(values) if values else {}), **kw}
        unknown = set(merged) - set(FILTER_NAMES)
        if unknown:
            raise QueryError(
                f"unknown filter {sorted(unknown)[0]!r}; expected one of {', '.join(FILTER_NAMES)}"
            )
        f = cls(
            min_duration=_number("min_duration", merged.get("min_duration")),
            max_duration=_number("max_duration", merged.get("max_duration")),
            format=_formats(merged.get("format")),
            sample_rate=_number("sample_rate", merged.get("sample_rate"), integer=True),
            channels=_number("channels", merged.get("channels"), integer=True),
            folder=(str(merged["folder"]).strip() or None) if merged.get("folder") else None,
            tag=(str(merged["tag"]).strip() or None) if merged.get("tag") else None,
        )
        if (
            f.min_duration is not None
            and f.max_duration is not None
            and f.min_duration > f.max_duration
        ):
            raise QueryError(
                f"min_duration {f.min_duration:g} is longer than max_duration {f.max_duration:g}"
            )
        for name in ("folder", "tag"):
            value = getattr(f, name)
            if value is not None and len(value) > 1000:
                raise QueryError(f"{name} is too long ({len(value)} characters)")
        return f

    def active(self) -> bool:
        return any(getattr(self, f.name) is not None for f in fields(self))

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def matches(self, rec, roots: Iterable[str] = ()) -> bool:
        """Whether a file record passes (tags are checked by :meth:`allowed`)."""
        d = rec.duration
        if self.min_duration is not None and (d is None or d < self.min_duration):
            return False
        if self.max_duration is not None and (d is None or d > self.max_duration):
            return False
        if self.format is not None:
            fmt = (rec.format or "").lower()
            ext = Path(rec.path).suffix.lower().lstrip(".")
            if fmt not in self.format and ext not in self.format:
                return False
        if self.sample_rate is not None and rec.sample_rate != self.sample_rate:
            return False
        if self.channels is not None and rec.channels != self.channels:
            return False
        return not (self.folder is not None and not _under_folder(rec.path, self.folder, roots))

    def allowed(self, records: Mapping[int, object], roots=(), source=None) -> set[int] | None:
        """File ids that pass every filter, or ``None`` when no filter is set."""
        if not self.active():
            return None
        ids = {fid for fid, rec in records.items() if self.matches(rec, roots)}
        if self.tag is not None:
            from audioseek.index.tagging import files_with_tag

            tagged = files_with_tag(source, self.tag) if source is not None else set()
            ids &= tagged
        return ids


def _under_folder(path: str, folder: str, roots: Iterable[str]) -> bool:
    """``folder`` as an absolute prefix, or relative to a library root (``Drums/Kicks``),
    compared by whole path components, case-insensitively."""
    p = Path(path)
    want = Path(folder.strip("/\\")) if not os.path.isabs(folder) else Path(folder)
    candidates = [want] if want.is_absolute() else [Path(r) / want for r in roots]
    if not want.is_absolute():  # also "Kicks" matching any folder component sequence
        parts = [x.lower() for x in p.parts[:-1]]
        wparts = [x.lower() for x in want.parts]
        for i in range(len(parts) - len(wparts) + 1):
            if parts[i : i + len(wparts)] == wparts:
                return True
    low = str(p).lower()
    return any(low.startswith(str(c).lower().rstrip("/") + os.sep) for c in candidates)
