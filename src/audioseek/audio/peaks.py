"""Waveform peaks for drawing: the min and max of each of ``n`` equal slices of a
recording, computed while the file streams through the indexer (bounded memory) and stored
as a few hundred bytes per file.

:class:`PeakAccumulator` takes the decoded audio chunk by chunk at a fixed resolution
(``rate`` min/max pairs per second, merged pairwise when the buffer is full, so memory
stays constant whatever the duration) and :meth:`PeakAccumulator.finish` resamples to the
requested number of slices. :func:`peaks` is the one-shot version for a whole array (the
streamed envelope may place a slice boundary a block earlier or later, nothing more).
"""

from __future__ import annotations

import numpy as np

DEFAULT_POINTS = 256
RATE = 100  # min/max pairs per second before merging
MAX_BUFFER = 8192


class PeakAccumulator:
    """Streaming min/max envelope of mono float audio at ``sample_rate``."""

    def __init__(self, sample_rate: int, rate: int = RATE, max_buffer: int = MAX_BUFFER):
        self.block = max(1, int(sample_rate) // int(rate))
        self.max_buffer = max_buffer
        self.mins: list[float] = []
        self.maxs: list[float] = []
        self._carry = np.zeros(0, np.float32)

    def add(self, chunk: np.ndarray) -> None:
        x = np.concatenate([self._carry, np.asarray(chunk, np.float32).ravel()])
        n = len(x) // self.block * self.block
        if n:
            blocks = x[:n].reshape(-1, self.block)
            self.mins.extend(blocks.min(axis=1).tolist())
            self.maxs.extend(blocks.max(axis=1).tolist())
        self._carry = x[n:]
        while len(self.mins) > self.max_buffer:  # halve the resolution: memory stays bounded
            m = len(self.mins) // 2 * 2
            mins, maxs = np.asarray(self.mins[:m]), np.asarray(self.maxs[:m])
            self.mins = np.minimum(mins[0::2], mins[1::2]).tolist() + self.mins[m:]
            self.maxs = np.maximum(maxs[0::2], maxs[1::2]).tolist() + self.maxs[m:]
            self.block *= 2

    def finish(self, points: int = DEFAULT_POINTS) -> np.ndarray:
        """``(points, 2)`` float32 ``[min, max]`` in [-1, 1] (fewer points for very short
        audio; none for empty audio)."""
        mins, maxs = list(self.mins), list(self.maxs)
        if len(self._carry):
            mins.append(float(self._carry.min()))
            maxs.append(float(self._carry.max()))
        if not mins:
            return np.zeros((0, 2), np.float32)
        mins_a, maxs_a = np.asarray(mins, np.float32), np.asarray(maxs, np.float32)
        n = min(points, len(mins_a))
        edges = np.linspace(0, len(mins_a), n + 1).round().astype(int)
        out = np.stack(
            [
                np.minimum.reduceat(mins_a, edges[:-1]),
                np.maximum.reduceat(maxs_a, edges[:-1]),
            ],
            axis=1,
        )
        return np.clip(out, -1.0, 1.0).astype(np.float32)


def peaks(wave: np.ndarray, sample_rate: int, points: int = DEFAULT_POINTS) -> np.ndarray:
    """Min/max envelope of a whole recording, as :class:`PeakAccumulator` gives it."""
    acc = PeakAccumulator(sample_rate)
    acc.add(wave)
    return acc.finish(points)


def encode(p: np.ndarray) -> bytes:
    """Compact storage: int8 pairs (1/127 resolution is plenty for a drawing)."""
    return np.round(np.clip(p, -1, 1) * 127).astype(np.int8).tobytes()


def decode(blob: bytes) -> np.ndarray:
    return (np.frombuffer(blob, np.int8).astype(np.float32) / 127.0).reshape(-1, 2)
