"""What the Ray engine's read stage sends to the embedding actors: windows without their
zero padding, padded back bit-exactly by the actor (no Ray cluster needed)."""

from __future__ import annotations

import numpy as np

from audioseek.index.ray_engine import _padded, _trimmed


def test_trimmed_windows_are_padded_back_bit_exactly():
    rng = np.random.default_rng(0)
    size = 1000
    a = np.zeros((2, size), np.float32)
    a[0, :300] = rng.standard_normal(300)
    a[1, :120] = rng.standard_normal(120)
    a[1, 50] = 0.0  # a zero inside the content stays
    t = _trimmed(a)
    assert t.shape == (2, 300)
    assert np.array_equal(_padded(t, size), a)
    silent = np.zeros((1, size), np.float32)
    assert _trimmed(silent).shape == (1, 1)
    assert np.array_equal(_padded(_trimmed(silent), size), silent)


def test_a_batch_mixing_widths_is_padded_row_by_row():
    """Ray hands a batch of rows of different widths over as an object array."""
    rows = [np.arange(1, 4, dtype=np.float32), np.arange(1, 8, dtype=np.float32)]
    ragged = np.empty(2, dtype=object)
    ragged[:] = rows
    out = _padded(ragged, 10)
    assert out.dtype == np.float32 and out.shape == (2, 10)
    assert out[0].tolist() == [1, 2, 3] + [0] * 7
    assert out[1].tolist() == [1, 2, 3, 4, 5, 6, 7, 0, 0, 0]
    full = np.ones((3, 10), np.float32)
    assert np.array_equal(_padded(full, 10), full)
