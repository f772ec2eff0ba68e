import numpy as np

from audioseek.audio.peaks import PeakAccumulator, decode, encode, peaks


def test_envelope_of_a_burst():
    sr = 8000
    wave = np.zeros(sr * 10, np.float32)
    wave[sr * 4 : sr * 5] = 0.8 * np.sin(np.arange(sr) / 3.0)
    p = peaks(wave, sr, points=10)
    assert p.shape == (10, 2)
    loud = np.flatnonzero(p[:, 1] > 0.5)
    assert loud.tolist() == [4]  # the burst sits in the 5th tenth
    assert np.all(p[:, 0] <= p[:, 1])


def test_streaming_matches_one_shot_and_memory_is_bounded():
    sr = 8000
    rng = np.random.default_rng(0)
    wave = (rng.standard_normal(sr * 60) * np.linspace(0, 1, sr * 60)).astype(np.float32) * 0.3
    acc = PeakAccumulator(sr, max_buffer=512)
    for lo in range(0, len(wave), 3001):  # odd chunk sizes
        acc.add(wave[lo : lo + 3001])
        assert len(acc.mins) <= 512
    streamed, whole = acc.finish(64), peaks(wave, sr, 64)
    assert streamed.shape == whole.shape == (64, 2)
    assert streamed[:, 1].max() == whole[:, 1].max() and streamed[:, 0].min() == whole[:, 0].min()
    assert np.corrcoef(streamed[:, 1], whole[:, 1])[0, 1] > 0.98  # the same envelope


def test_short_empty_and_roundtrip():
    assert peaks(np.zeros(0, np.float32), 8000).shape == (0, 2)
    p = peaks(np.array([0.5, -0.25], np.float32), 8000, points=256)
    assert p.shape == (1, 2) and p[0].tolist() == [-0.25, 0.5]
    blob = encode(p)
    assert len(blob) == 2 and np.allclose(decode(blob), p, atol=1 / 127)
