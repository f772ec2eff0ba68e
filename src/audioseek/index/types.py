"""The search engine's public types: what ``audioseek.Index``, the HTTP API and
``audioseek.Client`` return, and the protocol the HTTP server calls.

Plain dataclasses (no numpy, no torch) so that the server, the client and tests share them
and response models are built from them (pydantic ``from_attributes``), never by guessing
field names.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from audioseek.index.library import MapPoint
    from audioseek.index.tagging import Tag


@dataclass(frozen=True)
class Hit:
    """One ranked file: its score is its best window's (or top-N windows' mean) cosine
    similarity to the query; ``start``/``end`` (seconds) locate the best window.

    Why it matched: ``audio_score`` (the cosine, or ``None`` when not computed: text mode),
    ``text_score`` (BM25 of its name, folders and metadata; ``None`` when no query word
    matched), ``matched_terms`` (the query words found there), ``weak`` (the score does not
    stand out from the index's score distribution for this query: probably not a match),
    ``tags`` (zero-shot category labels, best first)."""

    file_id: int
    path: str
    score: float
    start: float
    end: float
    duration: float | None = None
    sample_rate: int | None = None
    channels: int | None = None
    format: str | None = None
    title: str | None = None
    artist: str | None = None
    album: str | None = None
    genre: str | None = None
    audio_score: float | None = None
    text_score: float | None = None
    matched_terms: tuple[str, ...] = ()
    weak: bool = False
    tags: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class IndexedFile:
    """One complete file of the index (what ``Index.file`` returns)."""

    file_id: int
    path: str
    duration: float | None = None
    sample_rate: int | None = None
    channels: int | None = None
    format: str | None = None
    size: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class DuplicatePair:
    """A confirmed link between two files of a group. ``embedding_score`` is the aligned
    window-embedding similarity; ``audio_score`` the waveform/audio confirmation (``None``
    when the audio could not be compared and the embeddings alone decided)."""

    a: int
    b: int
    embedding_score: float
    audio_score: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class DuplicateGroup:
    """Files that hold the same recording. ``score`` is the weakest link joining the group;
    ``confirmed`` says how: ``"audio"`` (every link checked on the audio) or
    ``"embedding"`` (at least one link decided by the embeddings alone)."""

    files: list[IndexedFile]
    score: float
    pairs: list[DuplicatePair] = field(default_factory=list)
    confirmed: str = "audio"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class IndexInfo:
    """What an index holds and how it was built."""

    db: str
    model: str | None
    model_id: str | None
    model_fingerprint: str | None
    sample_rate: int
    dim: int
    window_s: float
    hop_s: float
    files: int
    incomplete_files: int
    windows: int
    audio_hours: float
    size_bytes: int
    ann: bool
    roots: list[str] = field(default_factory=list)
    read_only: bool = False  # the index cannot be written (permissions, read-only mount)
    ann_kind: str | None = None  # "ivf_sq" or "ivf_pq" when an ANN index exists
    ann_stale: bool = False  # the ANN index predates the last change (rebuilt on next run)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class IndexSummary:
    """What one ``Index.add`` run did."""

    db: str
    model: str
    files_scanned: int = 0
    unchanged: int = 0
    touched: int = 0
    embedded: int = 0
    resumed: int = 0
    reused: int = 0
    deleted: int = 0
    windows_embedded: int = 0
    audio_seconds: float = 0.0
    elapsed_s: float = 0.0
    corrupt: list[dict] = field(default_factory=list)
    ann: bool = False
    # files and folders that could not be read or named: ``{"path", "reason"}``, the path
    # printable (bytes that are not UTF-8 shown as ``\xNN``)
    skipped: list[dict] = field(default_factory=list)

    @property
    def corrupt_count(self) -> int:
        return len(self.corrupt)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["corrupt_count"] = self.corrupt_count
        d["audio_hours"] = self.audio_seconds / 3600
        d["realtime_factor"] = self.audio_seconds / self.elapsed_s if self.elapsed_s else None
        return d


@dataclass(frozen=True)
class BatchDone:
    """What ``Index.add(on_batch=...)`` is told after each committed batch of windows."""

    windows: int  # windows written by this batch
    completed: list[int]  # ids of the files this batch completed
    windows_done: int  # windows embedded so far in this run
    audio_seconds: float  # audio read so far in this run (seconds)


@runtime_checkable
class SearchService(Protocol):
    """What the HTTP server (and anything else that serves an index) calls. Implemented by
    ``audioseek.Index``, ``audioseek.Client`` and the test fakes.

    ``filters`` are the names of :data:`audioseek.index.filters.FILTER_NAMES`
    (``min_duration``, ``max_duration``, ``format``, ``sample_rate``, ``channels``,
    ``folder``, ``tag``)."""

    def search(
        self,
        queries: str | list[str],
        k: int = 10,
        agg: str = "max",
        mode: str = "hybrid",
        **filters,
    ) -> list[Hit] | list[list[Hit]]:
        """Hits for one query (a string) or a list of hit lists (a list of strings);
        ``mode``: ``"hybrid"``, ``"audio"`` or ``"text"``."""
        ...

    def similar(self, query: str | int, k: int = 10, **filters) -> list[Hit]:
        """Files like an audio file (a path) or an indexed file (an ``int`` file id)."""
        ...

    def duplicates(self, threshold: float | None = None) -> list[DuplicateGroup]: ...

    def info(self) -> IndexInfo: ...

    def file(self, file_id: int) -> IndexedFile | None:
        """The complete indexed file with this id, or ``None``."""
        ...

    def tags(self, file_id: int) -> list[Tag]:
        """The stored category tags of one file, best first (empty when untagged)."""
        ...

    def map(self, method: str = "auto") -> list[MapPoint]:
        """Every complete file on the 2-D library map."""
        ...

    def peaks(self, file_id: int) -> list[list[float]] | None:
        """The stored waveform envelope ``[[min, max], ...]`` of a file, or ``None``."""
        ...

    def close(self) -> None: ...
