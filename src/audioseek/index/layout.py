"""A 2-D map of the library: one point per file, similar sounds close together.

Files are the normalised means of their window vectors. Up to a few files the layout is the
first two principal components; beyond that UMAP (``umap-learn``, cosine metric, fixed
seed) on the vectors reduced to 50 dimensions by PCA, which keeps it to about a minute for
100,000 files on two cores. Coordinates are scaled to [0, 1].

The layout is computed once per index generation and cached beside the database
(``map.npz``: file ids, coordinates and the generation, written to a temporary name and
renamed); a changed index gets a new layout on the next request.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

CACHE_FILE = "map.npz"
UMAP_MIN_FILES = 16
PCA_DIMS = 50


def _scale(xy: np.ndarray) -> np.ndarray:
    xy = np.asarray(xy, np.float64)
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    span = np.where(hi - lo > 0, hi - lo, 1.0)
    return ((xy - lo) / span).astype(np.float32)


def pca(x: np.ndarray, dims: int) -> np.ndarray:
    x = np.asarray(x, np.float64)
    x = x - x.mean(axis=0)
    dims = min(dims, x.shape[0], x.shape[1])
    if dims == 0:
        return np.zeros((len(x), 0))
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    out = u[:, :dims] * s[:dims]
    # deterministic sign: the largest-magnitude coordinate of each axis is positive
    signs = np.sign(out[np.abs(out).argmax(axis=0), np.arange(out.shape[1])])
    return out * np.where(signs == 0, 1, signs)


def compute_layout(vectors: np.ndarray, method: str = "auto", seed: int = 0) -> np.ndarray:
    """``(n, 2)`` coordinates in [0, 1] for ``vectors (n, dim)``."""
    n = len(vectors)
    if n == 0:
        return np.zeros((0, 2), np.float32)
    if n == 1:
        return np.full((1, 2), 0.5, np.float32)
    if method == "auto":
        method = "umap" if n >= UMAP_MIN_FILES else "pca"
    if method == "pca":
        xy = pca(vectors, 2)
        if xy.shape[1] < 2:
            xy = np.pad(xy, ((0, 0), (0, 2 - xy.shape[1])))
        return _scale(xy)
    if method != "umap":
        raise ValueError(f"unknown layout method {method!r}; expected auto, pca or umap")
    import umap

    reduced = pca(vectors, PCA_DIMS) if vectors.shape[1] > PCA_DIMS else np.asarray(vectors)
    reducer = umap.UMAP(
        n_components=2,
        n_neighbors=min(15, n - 1),
        min_dist=0.1,
        metric="cosine" if vectors.shape[1] <= PCA_DIMS else "euclidean",
        random_state=seed,
        n_jobs=1,
        low_memory=True,
    )
    return _scale(reducer.fit_transform(reduced))


def load_cached(db_dir: str | os.PathLike, generation: int) -> tuple[np.ndarray, np.ndarray] | None:
    path = Path(db_dir) / CACHE_FILE
    try:
        with np.load(path) as data:
            if int(data["generation"]) != int(generation):
                return None
            return data["file_ids"].astype(np.int64), data["xy"].astype(np.float32)
    except (OSError, KeyError, ValueError):
        return None


def save_cached(db_dir: str | os.PathLike, generation: int, file_ids, xy) -> None:
    db_dir = Path(db_dir)
    tmp = db_dir / f".{CACHE_FILE}.{os.getpid()}.tmp.npz"
    try:
        np.savez(
            tmp, generation=np.int64(generation), file_ids=np.asarray(file_ids, np.int64), xy=xy
        )
        os.replace(tmp, db_dir / CACHE_FILE)
    except OSError as e:  # a read-only index: the layout is simply not cached
        log.info("map layout not cached in %s: %s", db_dir, e)
        tmp.unlink(missing_ok=True)
