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


def test_read_stage_sends_blocks_of_whole_batches_with_every_row_bit_exact(tmp_path):
    """A task's files go out in blocks of at least ``rows_per_block`` rows (not one block per
    file), in order, with the same rows and samples as the per-file parts; a file that
    cannot be decoded keeps its error row."""
    import soundfile as sf

    from audioseek.audio.windows import window_bounds
    from audioseek.index.ray_engine import _file_parts, _read_parts

    rng = np.random.default_rng(1)
    paths = []
    for i, seconds in enumerate([0.3, 2.5, 0.7, 0.2, 1.1]):
        p = tmp_path / f"s{i}.wav"
        sf.write(p, (0.1 * rng.standard_normal(int(8000 * seconds))).astype(np.float32), 8000)
        paths.append(str(p))
    (tmp_path / "bad.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot audio")
    paths.insert(2, str(tmp_path / "bad.wav"))
    batch = {
        "path": np.array(paths, dtype=object),
        "order": np.arange(len(paths)),
        "resume_from": np.zeros(len(paths), np.int64),
    }
    size = window_bounds(8000, 1.0, 0.5)[0]
    parts = list(_file_parts(batch, 8000, 1.0, 0.5))
    blocks = list(_read_parts(batch, 8000, 1.0, 0.5, rows_per_block=3))
    assert len(parts) == len(paths) and len(blocks) < len(parts)
    assert all(len(b["order"]) >= 3 for b in blocks[:-1])
    for key in ("order", "path", "idx", "start", "end", "s0", "s1", "info", "error"):
        assert (
            np.concatenate([b[key] for b in blocks]).tolist()
            == np.concatenate([p[key] for p in parts]).tolist()
        )
    ok = np.concatenate([p["idx"] for p in parts]) >= 0
    sent = np.concatenate([_padded(b["samples"], size) for b in blocks])[ok]
    assert np.array_equal(sent, np.concatenate([_padded(p["samples"], size) for p in parts])[ok])
    errors = [e for b in blocks for e in b["error"] if e]
    assert len(errors) == 1  # the undecodable file, in its place


def test_a_bad_worker_niceness_is_one_config_error():
    import pytest

    from audioseek.errors import ConfigError
    from audioseek.index.ray_engine import RayOptions, worker_env

    assert worker_env(RayOptions()) == {"runtime_env": {"env_vars": {"RAY_worker_niceness": "0"}}}
    assert worker_env(RayOptions(niceness=None)) == {}
    for bad in ("high", 25, 1.5, True):
        with pytest.raises(ConfigError, match="niceness"):
            worker_env(RayOptions(niceness=bad))
