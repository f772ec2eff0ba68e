"""The reading stage: decode audio files to mono float32 at the model's rate and cut them
into the index's windows (:func:`audioseek.audio.windows.frame`).

Decoding runs in ``workers`` spawn-safe processes, in order, with a bounded prefetch; a
file that cannot be decoded is returned with its reason, never raised (one damaged file
must not abort a run). Workers exit when the indexing process dies (``kill -9``).
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import multiprocessing
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from audioseek.errors import AudioDecodeError


@dataclass
class Decoded:
    """One decoded file: ``wave (samples,)`` float32 at the requested rate and its metadata
    (duration, sample rate, channels, format, tags), or ``error`` (and no wave)."""

    path: str
    wave: np.ndarray | None
    info: dict
    error: str | None = None


@dataclass
class ReadFile:
    """A decoded file cut into windows: ``windows (n, window_samples)`` float32 (the last
    one zero-padded) with their :class:`~audioseek.audio.windows.Window` spans."""

    path: str
    info: dict = field(default_factory=dict)
    windows: np.ndarray | None = None
    spans: list = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None


def read_file(path: str, sr: int) -> Decoded:
    """Decode ``path`` to mono float32 at ``sr`` plus its tags; errors are returned."""
    from audioseek.audio.io import audio_info, load_audio

    try:
        info = audio_info(path)
        wave = load_audio(path, sr)
        if wave is None or len(wave) == 0:
            return Decoded(path, None, {}, "no audio samples")
        tags = dict(getattr(info, "tags", None) or {})
        meta = {
            "duration": len(wave) / sr,
            "sample_rate": getattr(info, "sample_rate", None),
            "channels": getattr(info, "channels", None),
            "format": getattr(info, "format", None) or Path(path).suffix.lstrip(".").lower(),
        }
        for tag in ("title", "artist", "album", "genre"):
            value = tags.get(tag)
            meta[tag] = str(value) if value not in (None, "") else None
        return Decoded(path, np.ascontiguousarray(wave, dtype=np.float32), meta)
    except AudioDecodeError as e:
        return Decoded(path, None, {}, e.reason)
    except Exception as e:  # decoders raise many types on damaged files; report, go on
        return Decoded(path, None, {}, f"{type(e).__name__}: {e}")


def cut(dec: Decoded, sr: int, window_s: float, hop_s: float) -> ReadFile:
    """``dec`` cut into the index's windows (:func:`audioseek.audio.windows.frame`)."""
    from audioseek.audio.windows import frame

    if dec.error is not None or dec.wave is None:
        return ReadFile(dec.path, error=dec.error or "no audio samples")
    windows, spans = frame(dec.wave, sr, window_s, hop_s, pad="end")
    if not spans:
        return ReadFile(dec.path, error="no windows")
    return ReadFile(
        dec.path,
        info=dec.info,
        windows=windows.astype(np.float32, copy=False),
        spans=spans,
        seconds=len(dec.wave) / sr,
    )


def _exit_with_parent(parent_pid: int) -> None:
    """Worker initializer: exit when the indexer dies (e.g. ``kill -9``) instead of lingering."""
    import threading

    def watch():
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()


def iter_decoded(paths: Iterable[str], sr: int, workers: int) -> Iterator[Decoded]:
    """Decoded files in the order of ``paths``; ``workers`` spawn processes (0 = inline)."""
    if workers <= 0:
        for p in paths:
            yield read_file(p, sr)
        return
    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=_exit_with_parent, initargs=(os.getpid(),)
    ) as pool:
        pending: collections.deque = collections.deque()
        it = iter(paths)
        for p in it:
            pending.append(pool.submit(read_file, p, sr))
            if len(pending) >= 2 * workers:
                break
        while pending:
            result = pending.popleft().result()
            nxt = next(it, None)
            if nxt is not None:
                pending.append(pool.submit(read_file, nxt, sr))
            yield result


class Reader:
    """The reading stage as a callable: ``reader(paths) -> Iterator[ReadFile]`` in order."""

    def __init__(self, sample_rate: int, window_s: float, hop_s: float, workers: int = 2):
        self.sample_rate = int(sample_rate)
        self.window_s = float(window_s)
        self.hop_s = float(hop_s)
        self.workers = int(workers)

    def __call__(self, paths: Iterable[str]) -> Iterator[ReadFile]:
        for dec in iter_decoded(paths, self.sample_rate, self.workers):
            yield cut(dec, self.sample_rate, self.window_s, self.hop_s)

    def read_one(self, path: str | os.PathLike) -> ReadFile:
        """One file, decoded inline (a query file of ``similar``)."""
        dec = read_file(str(path), self.sample_rate)
        return cut(dec, self.sample_rate, self.window_s, self.hop_s)


__all__ = ["Decoded", "ReadFile", "Reader", "cut", "iter_decoded", "read_file"]
