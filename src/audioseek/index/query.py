"""Validation of search parameters, shared by :class:`audioseek.Index`, the CLI and the HTTP
API (one place, one message per mistake). Every check raises a one-line
:class:`~audioseek.errors.QueryError` (or :class:`~audioseek.errors.ConfigError` for index
settings) naming the bad value with ``!r``."""

from __future__ import annotations

import math
import re
from numbers import Integral, Real

from audioseek.errors import ConfigError, QueryError

MAX_QUERY_CHARS = 1000
MAX_QUERIES = 10_000
MAX_K = 10_000

_AGG = re.compile(r"top(\d+)-mean")


def parse_agg(agg: str) -> int:
    """``"max"`` -> 1, ``"topN-mean"`` -> N; anything else raises :class:`QueryError`."""
    if agg == "max":
        return 1
    m = _AGG.fullmatch(str(agg))
    if not m or int(m.group(1)) < 1:
        raise QueryError(f"unknown aggregation {agg!r}; expected 'max' or 'topN-mean' (N >= 1)")
    return int(m.group(1))


def check_k(k) -> int:
    """``k`` as an ``int`` from 1 to :data:`MAX_K`; ``True``/``False`` are refused."""
    if isinstance(k, bool) or not isinstance(k, Integral) or not 1 <= k <= MAX_K:
        raise QueryError(f"k must be an integer from 1 to {MAX_K}, got {k!r}")
    return int(k)


def check_query(q) -> str:
    """One text query, stripped: a non-empty string of at most :data:`MAX_QUERY_CHARS`."""
    if not isinstance(q, str) or not q.strip():
        raise QueryError(f"empty query {q!r}")
    if len(q) > MAX_QUERY_CHARS:
        raise QueryError(
            f"query too long ({len(q)} characters, at most {MAX_QUERY_CHARS}): {q[:40]!r}..."
        )
    return q.strip()


def check_queries(queries) -> list[str]:
    """A single string or a list/tuple of strings -> the list of stripped queries."""
    if isinstance(queries, str):
        return [check_query(queries)]
    if not isinstance(queries, list | tuple):
        raise QueryError(
            f"queries must be a string or a list of strings, got {type(queries).__name__}"
        )
    if not queries:
        raise QueryError("no queries given")
    if len(queries) > MAX_QUERIES:
        raise QueryError(f"too many queries ({len(queries)}); at most {MAX_QUERIES} per call")
    return [check_query(q) for q in queries]


def check_threshold(threshold) -> float | None:
    """A duplicate threshold: ``None`` (the default) or a similarity in (-1, 1]."""
    if threshold is None:
        return None
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, Real)
        or not -1.0 < float(threshold) <= 1.0
    ):
        raise QueryError(f"threshold must be a similarity in (-1, 1], got {threshold!r}")
    return float(threshold)


def check_window_hop(window, hop) -> tuple[float, float]:
    """Index window and hop in seconds: finite, positive, ``hop <= window``."""
    for name, value in (("window", window), ("hop", hop)):
        if (
            isinstance(value, bool)
            or not isinstance(value, Real)
            or not math.isfinite(value)
            or not value > 0
        ):
            raise ConfigError(f"{name} must be a finite number of seconds > 0, got {value!r}")
    if hop > window:
        raise ConfigError(f"hop {hop!r} is longer than window {window!r}: gaps between windows")
    return float(window), float(hop)


__all__ = [
    "MAX_K",
    "MAX_QUERIES",
    "MAX_QUERY_CHARS",
    "check_k",
    "check_queries",
    "check_query",
    "check_threshold",
    "check_window_hop",
    "parse_agg",
]
