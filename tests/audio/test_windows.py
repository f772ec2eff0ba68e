"""Centre pad/crop and sliding windows: exact positions and timestamps."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audioseek.audio.windows import (
    Window,
    frame,
    pad_or_crop_center,
    sliding_windows,
    stream_windows,
)
from audioseek.errors import ConfigError


@pytest.mark.parametrize("n,length", [(10, 15), (10, 16), (11, 16), (15, 10), (16, 10), (7, 7)])
def test_pad_or_crop_center_exact(n, length):
    x = np.arange(1, n + 1, dtype=np.float32)
    y = pad_or_crop_center(x, length)
    assert y.shape == (length,) and y.dtype == np.float32
    if length >= n:
        left = (length - n) // 2
        assert np.all(y[:left] == 0) and np.all(y[left + n :] == 0)
        assert np.array_equal(y[left : left + n], x)
        assert (length - n) - left - left in (0, 1)  # odd sample of padding goes right
    else:
        start = (n - length) // 2
        assert np.array_equal(y, x[start : start + length])
    t = pad_or_crop_center(torch.from_numpy(x), length)
    assert isinstance(t, torch.Tensor) and np.array_equal(t.numpy(), y)


def test_pad_or_crop_center_last_axis_of_batches():
    x = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4)
    y = pad_or_crop_center(x, 8)
    assert y.shape == (2, 3, 8)
    assert torch.equal(y[..., 2:6], x) and (y[..., :2] == 0).all() and (y[..., 6:] == 0).all()
    assert torch.equal(pad_or_crop_center(x, 2), x[..., 1:3])
    a = np.ones((3, 5))
    assert pad_or_crop_center(a, 9).shape == (3, 9)


def test_paper_clip_is_centred_in_40_s():
    sr = 1000
    clip = np.ones(int(12.5 * sr), dtype=np.float32)
    padded = pad_or_crop_center(clip, 40 * sr)
    nz = np.flatnonzero(padded)
    assert nz[0] == (40 * sr - len(clip)) // 2 and nz[-1] + 1 == nz[0] + len(clip)
    assert abs((nz[0] + nz[-1]) / 2 - (40 * sr - 1) / 2) <= 0.5  # centred to half a sample


def test_sliding_windows_exact_timestamps():
    wins = sliding_windows(100, 10, window_s=3.0, hop_s=1.0)
    assert [(w.start, w.stop) for w in wins] == [(k * 10, k * 10 + 30) for k in range(8)]
    assert wins[-1].stop == 100 and wins[-1].end_s == 10.0
    assert [w.index for w in wins] == list(range(8))
    # a last, shorter window reaches the end of the file; timestamps are samples / sr
    wins = sliding_windows(105, 10, 3.0, 1.0)
    assert len(wins) == 9 and (wins[-1].start, wins[-1].stop) == (80, 105)
    assert (wins[-1].start_s, wins[-1].end_s) == (8.0, 10.5)
    assert wins[-1].n_samples == 25


def test_sliding_windows_cover_a_real_length_file():
    sr, n = 44100, 44100 * 23 + 17
    wins = sliding_windows(n, sr, window_s=10.0, hop_s=5.0)
    assert len(wins) == 1 + int(np.ceil((n - 10 * sr) / (5 * sr)))
    covered = np.zeros(n, dtype=bool)
    for w in wins:
        assert w.start == w.index * 5 * sr and w.stop == min(w.start + 10 * sr, n)
        assert w.start_s == w.start / sr and w.end_s == w.stop / sr
        covered[w.start : w.stop] = True
    assert covered.all()
    assert wins[-2].stop < n  # no redundant trailing window
    assert isinstance(wins[0], Window)


def test_short_and_empty_files():
    (w,) = sliding_windows(300, 100, 10.0, 5.0)
    assert (w.start, w.stop, w.start_s, w.end_s) == (0, 300, 0.0, 3.0)
    assert sliding_windows(1000, 100, 10.0, 5.0)[0].stop == 1000  # exactly one window long
    assert len(sliding_windows(1000, 100, 10.0, 5.0)) == 1
    assert sliding_windows(0, 100, 10.0, 5.0) == []


@pytest.mark.parametrize(
    "window_s,hop_s,match",
    [
        (0.0, 1.0, "window_s"),
        (2.0, 0.0, "hop_s"),
        (2.0, 3.0, "gaps"),
        (-1.0, 1.0, "window_s"),
        (float("inf"), 1.0, "window_s=inf"),  # the soak wrote an index with window=inf
        (2.0, float("nan"), "hop_s=nan"),
        (True, 1.0, "window_s=True"),
        ("2", 1.0, "window_s='2'"),
        (1e-9, 1e-9, "gives no samples"),
    ],
)
def test_bad_window_parameters_are_config_errors(window_s, hop_s, match):
    with pytest.raises(ConfigError, match=match):
        sliding_windows(1000, 100, window_s, hop_s)


def test_frame_rows_are_the_windows():
    x = np.arange(1, 106, dtype=np.float32)
    frames, wins = frame(x, 10, 3.0, 1.0)
    assert frames.shape == (9, 30) and frames.dtype == np.float32
    for w in wins[:-1]:
        assert np.array_equal(frames[w.index], x[w.start : w.stop])
    last = wins[-1]
    assert np.array_equal(frames[-1, :25], x[80:105]) and np.all(frames[-1, 25:] == 0)
    centred, _ = frame(x, 10, 3.0, 1.0, pad="center")
    assert np.array_equal(centred[-1], pad_or_crop_center(x[last.start : last.stop], 30))
    short, wins = frame(np.ones(7, np.float32), 10, 3.0, 1.0)
    assert short.shape == (1, 30) and short.sum() == 7 and wins[0].stop == 7
    with pytest.raises(ValueError, match="mono"):
        frame(np.ones((2, 100)), 10, 3.0, 1.0)


# --------------------------------------------------------------------------------------------
# stream_windows: the same windows from a stream of chunks


def _chunked(x: np.ndarray, sizes) -> list[np.ndarray]:
    out, i = [], 0
    for n in sizes:
        out.append(x[i : i + n])
        i += n
    return out


@pytest.mark.parametrize("n", [0, 1, 99, 100, 101, 150, 170, 171, 1000, 1003])
@pytest.mark.parametrize("window_s,hop_s", [(1.0, 0.5), (1.0, 1.0), (1.0, 0.3), (0.07, 0.05)])
def test_stream_windows_equal_sliding_windows_for_any_chunking(n, window_s, hop_s):
    sr = 100
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    ref = sliding_windows(n, sr, window_s, hop_s)
    rng = np.random.default_rng(7)
    chunkings = [
        [n],  # one chunk
        [1] * n,  # sample by sample
        list(rng.integers(0, 250, 2 * n + 2)),  # random sizes, empty chunks included
    ]
    for sizes in chunkings:
        got = list(stream_windows(_chunked(x, sizes), sr, window_s, hop_s))
        assert [w for w, _ in got] == ref
        for w, y in got:
            assert y.dtype == np.float32
            assert np.array_equal(y, x[w.start : w.stop])


def test_stream_windows_yield_as_soon_as_a_window_is_complete():
    """A window comes out when its last sample arrives, not at the end of the stream."""
    sr, fed = 10, []

    def chunks():
        for i in range(10):
            fed.append(i)
            yield np.full(5, i, np.float32)

    it = stream_windows(chunks(), sr, 1.0, 0.5)  # 10-sample windows every 5
    w, y = next(it)
    assert (w.start, w.stop) == (0, 10) and len(fed) == 2
    w, y = next(it)
    assert (w.start, w.stop) == (5, 15) and len(fed) == 3
    assert np.array_equal(y, np.repeat([1.0, 2.0], 5))


def test_stream_windows_copies_and_bad_input():
    x = np.arange(30, dtype=np.float32)
    (w0, y0), *_ = stream_windows([x], 10, 1.0, 1.0)
    y0[:] = -1  # the caller owns what it gets
    assert x[0] == 0
    with pytest.raises(ValueError, match="mono"):
        list(stream_windows([np.zeros((4, 2))], 10, 1.0, 1.0))
    with pytest.raises(ConfigError):
        stream_windows([x], 10, 1.0, 2.0)  # checked before any chunk is read
