"""The reading stage: decode audio files to mono float32 at the model's rate and cut them
into the index's windows.

:class:`Reader` streams: each file is decoded window by window
(:func:`audioseek.audio.io.iter_windows`, bit-equal to a whole-file decode) and handed on in
parts of at most :data:`PART_WINDOWS` windows, so memory is bounded by a few parts per
worker whatever a file's duration (a 10-hour file costs what a 1-minute one does). Decoding
runs in ``workers`` spawn-safe processes feeding bounded queues, files in order; a file that
cannot be decoded is reported with its reason (possibly after some parts), never raised (one
damaged file must not abort a run). Workers exit when the indexing process dies
(``kill -9``). :func:`read_file` + :func:`cut` decode a whole file at once (``similar``'s
query file, other engines).
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


PART_WINDOWS = 16  # windows per part of a streamed file
QUEUE_PARTS = 4  # parts a decoding worker may have waiting


@dataclass
class ReadFile:
    """A decoded file (or one part of it) cut into windows: ``windows (n, window_samples)``
    float32 (a short last window zero-padded) with their
    :class:`~audioseek.audio.windows.Window` spans.

    A streamed file comes in parts: ``first`` marks its first part, ``final`` its last one,
    which alone carries ``info`` (duration, rate, tags) and ``seconds``, and whose last span
    is the file's last window. A whole file is one part (both flags true). ``error`` (on the
    final part, possibly after others) says why the file could not be read.
    """

    path: str
    info: dict = field(default_factory=dict)
    windows: np.ndarray | None = None
    spans: list = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None
    first: bool = True
    final: bool = True


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


def _meta(path: str, info, seconds: float) -> dict:
    tags = dict(getattr(info, "tags", None) or {})
    meta = {
        "duration": seconds,
        "sample_rate": getattr(info, "sample_rate", None),
        "channels": getattr(info, "channels", None),
        "format": getattr(info, "format", None) or Path(path).suffix.lstrip(".").lower(),
    }
    for tag in ("title", "artist", "album", "genre"):
        value = tags.get(tag)
        meta[tag] = str(value) if value not in (None, "") else None
    return meta


def stream_file(
    path: str, sr: int, window_s: float, hop_s: float, part: int = PART_WINDOWS
) -> Iterator[ReadFile]:
    """``path`` decoded window by window, in parts of at most ``part`` windows (see
    :class:`ReadFile`); errors end the stream as a final part with ``error``."""
    from audioseek.audio.io import audio_info, iter_windows
    from audioseek.audio.peaks import PeakAccumulator
    from audioseek.audio.peaks import encode as encode_peaks
    from audioseek.audio.windows import window_bounds

    size, hop = window_bounds(sr, window_s, hop_s)
    spans: list = []
    rows: list[np.ndarray] = []
    first = True
    peaks = PeakAccumulator(sr)
    held: np.ndarray | None = None  # the previous window: its first hop joins the envelope
    try:
        info = audio_info(path)
        for w, samples in iter_windows(path, sr, window_s, hop_s):
            if held is not None:
                peaks.add(held[:hop])
            held = samples
            if len(rows) == part:
                yield ReadFile(path, windows=np.stack(rows), spans=spans, first=first, final=False)
                first, spans, rows = False, [], []
            row = np.zeros(size, np.float32)
            row[: len(samples)] = samples
            spans.append(w)
            rows.append(row)
    except AudioDecodeError as e:
        yield ReadFile(path, error=e.reason, first=first)
        return
    except Exception as e:  # decoders raise many types on damaged files; report, go on
        yield ReadFile(path, error=f"{type(e).__name__}: {e}", first=first)
        return
    if not spans:
        yield ReadFile(path, error="no audio samples", first=first)
        return
    seconds = spans[-1].end_s
    peaks.add(held)  # the last window whole: the envelope covers the file exactly once
    yield ReadFile(
        path,
        info={**_meta(path, info, seconds), "peaks": encode_peaks(peaks.finish()).hex()},
        windows=np.stack(rows),
        spans=spans,
        seconds=seconds,
        first=first,
    )


def _stream_worker(parent_pid, paths, sr, window_s, hop_s, queue) -> None:
    """Worker process: stream ``paths`` into ``queue`` (bounded), then ``None``."""
    _exit_with_parent(parent_pid)
    for path in paths:
        for item in stream_file(path, sr, window_s, hop_s):
            queue.put(item)
    queue.put(None)


def iter_streamed(
    paths: Iterable[str], sr: int, window_s: float, hop_s: float, workers: int
) -> Iterator[ReadFile]:
    """Parts of every file of ``paths``, files in order; ``workers`` processes (0 = inline),
    worker ``i`` reading files ``i, i + workers, ...`` into its own bounded queue."""
    paths = list(paths)
    if workers <= 0 or not paths:
        for p in paths:
            yield from stream_file(p, sr, window_s, hop_s)
        return
    ctx = multiprocessing.get_context("spawn")
    n = min(workers, len(paths))
    queues = [ctx.Queue(maxsize=QUEUE_PARTS) for _ in range(n)]
    procs = [
        ctx.Process(
            target=_stream_worker,
            args=(os.getpid(), paths[i::n], sr, window_s, hop_s, queues[i]),
            daemon=True,
            name=f"audioseek-reader-{i}",
        )
        for i in range(n)
    ]
    for proc in procs:
        proc.start()
    try:
        for k, path in enumerate(paths):
            q, proc = queues[k % n], procs[k % n]
            while True:
                item = _get(q, proc)
                if item is None:
                    raise RuntimeError(f"decoding worker {proc.name} stopped before {path!r}")
                if item.path != path:  # pragma: no cover - each worker keeps the order
                    raise RuntimeError(f"decoding worker gave {item.path!r}, not {path!r}")
                yield item
                if item.final:
                    break
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
            proc.join(timeout=5)
        for q in queues:
            q.close()
            q.cancel_join_thread()


def _get(q, proc):
    """The next item of ``q``; a worker that died (killed, out of memory) is an error."""
    import queue as queue_mod

    while True:
        try:
            return q.get(timeout=1.0)
        except queue_mod.Empty:
            if not proc.is_alive():
                raise RuntimeError(
                    f"decoding worker {proc.name} died (exit code {proc.exitcode})"
                ) from None


class Reader:
    """The reading stage as a callable: ``reader(paths) -> Iterator[ReadFile]``, files in
    order, each as one or more parts (see :class:`ReadFile`)."""

    def __init__(self, sample_rate: int, window_s: float, hop_s: float, workers: int = 2):
        self.sample_rate = int(sample_rate)
        self.window_s = float(window_s)
        self.hop_s = float(hop_s)
        self.workers = int(workers)

    def __call__(self, paths: Iterable[str]) -> Iterator[ReadFile]:
        return iter_streamed(paths, self.sample_rate, self.window_s, self.hop_s, self.workers)

    def read_one(self, path: str | os.PathLike) -> ReadFile:
        """One file, decoded inline (a query file of ``similar``)."""
        dec = read_file(str(path), self.sample_rate)
        return cut(dec, self.sample_rate, self.window_s, self.hop_s)


__all__ = [
    "Decoded",
    "ReadFile",
    "Reader",
    "cut",
    "iter_decoded",
    "iter_streamed",
    "read_file",
    "stream_file",
]
