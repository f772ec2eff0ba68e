"""Deprecated: the old single-module indexer, split into :mod:`~audioseek.index.scan`,
:mod:`~audioseek.index.reader`, :mod:`~audioseek.index.embedder`,
:mod:`~audioseek.index.store` and :mod:`~audioseek.index.runner`. These names are kept for
the callers that have not moved yet (benchmarks, serve tests); use ``audioseek.Index``."""

from __future__ import annotations

from audioseek.index.embedder import EMBED_CHUNK, embed_windows, spec_id
from audioseek.index.reader import read_file
from audioseek.index.runner import index_paths, index_summary_text
from audioseek.index.scan import plan
from audioseek.index.types import IndexSummary

__all__ = [
    "EMBED_CHUNK",
    "IndexSummary",
    "embed_windows",
    "index_paths",
    "index_summary_text",
    "plan",
    "read_file",
    "spec_id",
]
