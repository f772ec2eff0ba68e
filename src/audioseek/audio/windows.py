"""Fixed-length clips and sliding windows with exact timestamps.

* :func:`pad_or_crop_center`: the paper pads every clip to 40 s with silence on both sides,
  centring the audio; longer clips are cropped around their centre.
* :func:`sliding_windows`: windows of ``window_s`` every ``hop_s`` seconds covering a whole
  file, with sample-exact bounds and their times.
* :func:`frame`: the windows' samples stacked into one ``(n_windows, window_samples)`` array.
* :func:`stream_windows`: the same windows cut from a stream of chunks (a decoder's output),
  holding at most one window plus one chunk, so memory does not grow with the duration.

Convention for the last window: windows start at ``k * hop`` and the last one is the first that
reaches the end of the file; it is **shorter** than the others (its ``stop`` is the file's last
sample and ``end_s`` the file's true duration, so timestamps never point past the audio).
:func:`frame` zero-pads it to the full window length (at the end by default, or centred with
``pad="center"`` to match the paper's training clips). A file shorter than one window is one
(short) window; an empty file has no windows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np

from audioseek.errors import ConfigError

__all__ = [
    "Window",
    "frame",
    "pad_or_crop_center",
    "sliding_windows",
    "stream_windows",
    "window_bounds",
]


@dataclass(frozen=True)
class Window:
    """Samples ``[start, stop)`` of a file at some rate, i.e. seconds ``[start_s, end_s)``."""

    index: int
    start_s: float
    end_s: float
    start: int
    stop: int

    @property
    def n_samples(self) -> int:
        return self.stop - self.start


def pad_or_crop_center(wave, length: int):
    """Centre ``wave`` in ``length`` samples along the last axis (numpy array or torch tensor).

    Shorter input is zero-padded with ``(length - n) // 2`` samples on the left and the rest on
    the right; longer input keeps samples ``[(n - length) // 2, (n - length) // 2 + length)``.
    Returns the input type and dtype; ``wave`` itself is returned when ``n == length``.
    """
    length = int(length)
    if length < 0:
        raise ConfigError(f"length must be >= 0, got {length!r}")
    n = wave.shape[-1]
    if n == length:
        return wave
    if n > length:
        start = (n - length) // 2
        return wave[..., start : start + length]
    left = (length - n) // 2
    right = length - n - left
    if isinstance(wave, np.ndarray):
        pad = [(0, 0)] * (wave.ndim - 1) + [(left, right)]
        return np.pad(wave, pad)
    import torch

    if isinstance(wave, torch.Tensor):
        return torch.nn.functional.pad(wave, (left, right))
    return pad_or_crop_center(np.asarray(wave), length)


def window_bounds(sr: int, window_s: float, hop_s: float) -> tuple[int, int]:
    """``(window, hop)`` in samples: ``round(window_s * sr)``, ``round(hop_s * sr)``; both must
    be finite and positive (:class:`ConfigError` naming the value otherwise)."""
    if not sr > 0:
        raise ConfigError(f"sample rate must be > 0, got {sr!r}")
    for name, v in (("window_s", window_s), ("hop_s", hop_s)):
        number = isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
        if not number or not math.isfinite(v) or v <= 0:
            raise ConfigError(f"{name}={v!r} must be a finite number of seconds > 0")
    win, hop = int(round(window_s * sr)), int(round(hop_s * sr))
    if win <= 0:
        raise ConfigError(f"window_s={window_s!r} gives no samples at {sr} Hz")
    if hop <= 0:
        raise ConfigError(f"hop_s={hop_s!r} gives no samples at {sr} Hz")
    if hop > win:
        raise ConfigError(
            f"hop_s={hop_s!r} > window_s={window_s!r} would leave gaps between windows"
        )
    return win, hop


def sliding_windows(n_samples: int, sr: int, window_s: float, hop_s: float) -> list[Window]:
    """Windows of ``round(window_s * sr)`` samples every ``round(hop_s * sr)`` samples.

    Window ``k`` covers samples ``[k * hop, min(k * hop + window, n_samples))`` and seconds
    ``[start / sr, stop / sr)``. There are ``1 + ceil((n_samples - window) / hop)`` windows when
    ``n_samples > window`` (the last one shorter, ending at ``n_samples``), one window when
    ``0 < n_samples <= window``, none when ``n_samples == 0``. Requires ``hop <= window``.
    """
    n_samples = int(n_samples)
    if n_samples < 0:
        raise ValueError(f"n_samples must be >= 0, got {n_samples!r}")
    win, hop = window_bounds(sr, window_s, hop_s)
    if n_samples == 0:
        return []
    count = 1 if n_samples <= win else 1 + -(-(n_samples - win) // hop)
    out = []
    for k in range(count):
        start = k * hop
        stop = min(start + win, n_samples)
        out.append(Window(k, start / sr, stop / sr, start, stop))
    return out


def frame(
    wave: np.ndarray,
    sr: int,
    window_s: float,
    hop_s: float,
    pad: Literal["end", "center"] = "end",
) -> tuple[np.ndarray, list[Window]]:
    """Cut ``wave`` ``(samples,)`` into ``(n_windows, window_samples)`` plus the :class:`Window` s.

    Row ``k`` holds ``wave[w.start:w.stop]``; a short (last, or only) window is zero-padded to
    ``window_samples`` at the end (``pad="end"``) or centred (``pad="center"``).
    """
    wave = np.asarray(wave)
    if wave.ndim != 1:
        raise ValueError(f"expected a mono waveform (samples,), got shape {wave.shape}")
    if pad not in ("end", "center"):
        raise ValueError(f"unknown pad {pad!r}; expected 'end' or 'center'")
    wins = sliding_windows(len(wave), sr, window_s, hop_s)
    win, _ = window_bounds(sr, window_s, hop_s)
    out = np.zeros((len(wins), win), dtype=wave.dtype if wave.size else np.float32)
    for w in wins:
        seg = wave[w.start : w.stop]
        if len(seg) == win:
            out[w.index] = seg
        elif pad == "end":
            out[w.index, : len(seg)] = seg
        else:
            out[w.index] = pad_or_crop_center(seg, win)
    return out, wins


def stream_windows(
    chunks: Iterable[np.ndarray], sr: int, window_s: float, hop_s: float
) -> Iterator[tuple[Window, np.ndarray]]:
    """The windows of :func:`sliding_windows` over the concatenation of ``chunks``, each with its
    samples, without ever holding the whole signal.

    ``chunks`` are 1-D arrays of any lengths (empty ones are skipped) whose concatenation is the
    signal. Yields ``(Window, samples)`` in order; ``samples`` is a fresh array equal to
    ``signal[w.start:w.stop]`` (the last window is shorter, not padded). A window is yielded as
    soon as its last sample has arrived; the last, short window (and the only one of a signal
    shorter than a window) when ``chunks`` is exhausted. Holds at most one window plus one
    chunk. The window/hop are checked (:class:`ConfigError`) before the first chunk is read.
    """
    win, hop = window_bounds(sr, window_s, hop_s)
    return _stream_windows(iter(chunks), sr, win, hop)


def _stream_windows(chunks, sr: int, win: int, hop: int) -> Iterator[tuple[Window, np.ndarray]]:
    pending: list[np.ndarray] = []  # samples [base, total) of the signal
    base = total = 0
    k = 0  # next window
    for chunk in chunks:
        chunk = np.asarray(chunk)
        if chunk.ndim != 1:
            raise ValueError(f"expected mono chunks (samples,), got shape {chunk.shape}")
        if chunk.size == 0:
            continue
        pending.append(chunk)
        total += len(chunk)
        if k * hop + win > total:
            continue
        buf = np.concatenate(pending) if len(pending) > 1 else pending[0]
        while k * hop + win <= total:  # window k is complete (and exists: window k-1 ended
            start = k * hop  # before `total`, since hop > 0)
            yield (
                Window(k, start / sr, (start + win) / sr, start, start + win),
                buf[start - base : start - base + win].copy(),
            )
            k += 1
        # keep samples from the next window's start on (fewer than one window: copy them, so
        # a huge chunk is not kept alive by a view)
        pending = [buf[k * hop - base :].copy()]
        base = k * hop
    if total == 0:
        return
    if k > 0 and (k - 1) * hop + win >= total:  # the last complete window reached the end
        return
    start = k * hop
    rest = np.concatenate(pending) if len(pending) > 1 else pending[0]
    yield Window(k, start / sr, total / sr, start, total), np.array(rest[start - base :])
