import numpy as np
import pytest

from audioseek.index import layout


def _clusters(n_per: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((3, 64)) * 3
    x = np.concatenate([c + 0.3 * rng.standard_normal((n_per, 64)) for c in centres])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), np.repeat(np.arange(3), n_per)


@pytest.mark.parametrize("method", ["pca", pytest.param("umap", marks=pytest.mark.slow)])
def test_clusters_stay_apart_and_layout_is_deterministic(method):
    x, label = _clusters(12)
    xy = layout.compute_layout(x, method=method, seed=0)
    assert xy.shape == (36, 2) and xy.min() >= 0 and xy.max() <= 1
    centres = np.stack([xy[label == c].mean(axis=0) for c in range(3)])
    spread = max(np.linalg.norm(xy[label == c] - centres[c], axis=1).mean() for c in range(3))
    gaps = [np.linalg.norm(centres[a] - centres[b]) for a in range(3) for b in range(a + 1, 3)]
    assert min(gaps) > 2 * spread
    assert np.array_equal(xy, layout.compute_layout(x, method=method, seed=0))


def test_tiny_inputs():
    assert layout.compute_layout(np.zeros((0, 8), np.float32)).shape == (0, 2)
    assert layout.compute_layout(np.ones((1, 8), np.float32)).tolist() == [[0.5, 0.5]]
    assert layout.compute_layout(np.eye(3, 8, dtype=np.float32)).shape == (3, 2)


def test_cache_by_generation(tmp_path):
    ids, xy = np.array([3, 7]), np.array([[0.1, 0.2], [0.9, 0.8]], np.float32)
    layout.save_cached(tmp_path, 5, ids, xy)
    got = layout.load_cached(tmp_path, 5)
    assert got is not None and got[0].tolist() == [3, 7] and np.array_equal(got[1], xy)
    assert layout.load_cached(tmp_path, 6) is None
