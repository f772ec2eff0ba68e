"""Search-engine benchmark: indexing throughput, query latency, memory, index size.

Measured in one run and written to ``benchmarks/results/bench_index.json``:

* indexing throughput (audio seconds per wall second) of ``index_paths`` on the same
  generated library for the default offline-capable model (``load_model("offline")`` if the
  bundled model is built, else the aisfx + MiniLM DualEncoder with random heads; the JSON
  says which) and for the LAION-CLAP architecture (``transformers`` ClapModel audio tower,
  default config, random weights, through the models layer's ``clap-htsat`` wrapper);
* query latency p50/p95 of ``Searcher.search`` (text encoding + search) at 10k, 100k and
  1M windows of synthetic clustered vectors, beside the reference: the same text encoding
  + numpy brute force (one float32 matrix product, max per file, top k) on the same vectors,
  with the top-10 file overlap between the two (recall of the ANN index past its threshold);
* peak RSS after each phase; index bytes per window (SQLite + ANN files).

Usage: ``python benchmarks/bench_index.py [--sizes 10000 100000 1000000] [--seconds 300]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

log = logging.getLogger("bench_index")
RESULTS = Path(__file__).resolve().parent / "results" / "bench_index.json"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_library(root: Path, total_seconds: float, sr: int = 44100, seed: int = 0) -> list[Path]:
    """30 s files of tones, chirps and noise bursts (wav, 16-bit)."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(max(1, int(round(total_seconds / 30)))):
        t = np.arange(30 * sr) / sr
        f0 = rng.uniform(100, 2000)
        wave = 0.2 * np.sin(2 * np.pi * (f0 + rng.uniform(0, 300) * t) * t)
        wave += 0.03 * rng.standard_normal(len(t))
        for _ in range(5):
            a = rng.integers(0, len(t) - sr)
            wave[a : a + sr // 2] += 0.4 * rng.standard_normal(sr // 2)
        path = root / f"bench_{i:03d}.wav"
        sf.write(path, np.clip(wave, -1, 1).astype(np.float32), sr, subtype="PCM_16")
        paths.append(path)
    return paths


def default_model():
    from audioseek.errors import ModelLoadError
    from audioseek.models.hub import load_model

    try:
        return load_model("offline", device="cpu"), "offline (bundled model, load_model('offline'))"
    except ModelLoadError as e:
        from audioseek.models.factory import build_model

        model = build_model({"audio_encoder": "aisfx", "text_encoder": "minilm", "embed_dim": 512})
        model.eval()
        return model, f"aisfx+minilm DualEncoder with random heads (offline model missing: {e})"


def clap_model(tmp: Path):
    """LAION-CLAP architecture: default ClapConfig, random weights, through clap-htsat."""
    from transformers import ClapConfig, ClapFeatureExtractor

    from audioseek.models.dual_encoder import DualEncoder
    from audioseek.models.heads import ProjectionHead
    from audioseek.models.registry import build_audio_encoder, build_text_encoder

    src = tmp / "clap-random"
    ClapConfig().save_pretrained(src)
    ClapFeatureExtractor(truncation="rand_trunc", padding="repeatpad").save_pretrained(src)
    audio = build_audio_encoder("clap-htsat", source=str(src), pretrained=False)
    text = build_text_encoder("minilm")
    model = DualEncoder(
        audio,
        text,
        ProjectionHead(audio.output_dim, 512, "linear"),
        ProjectionHead(text.output_dim, 512, "linear"),
        config={"bench": "clap-htsat random + minilm"},
    )
    model.eval()
    return model, "transformers ClapModel audio tower (default ClapConfig, random weights)"


def bench_indexing(model, name: str, library: Path, tmp: Path, workers: int) -> dict:
    from audioseek.index.indexer import index_paths
    from audioseek.index.store import Store

    db = tmp / f"db-{name}"
    s = index_paths([library], db, model=model, workers=workers, batch_size=16, progress=False)
    with Store.open(db) as store:
        size, windows = store.size_on_disk(), store.counts()["windows"]
    return {
        "audio_seconds": s.audio_seconds,
        "wall_seconds": s.elapsed_s,
        "audio_s_per_wall_s": s.audio_seconds / s.elapsed_s,
        "windows": windows,
        "windows_per_s": windows / s.elapsed_s,
        "index_bytes_per_window": size / windows,
        "workers": workers,
        "batch_size": 16,
        "peak_rss_mb_after": peak_rss_mb(),
    }


def make_synthetic_index(db: Path, n: int, model, per_file: int = 60, seed: int = 0) -> None:
    """An index of ``n`` clustered unit vectors (``per_file`` windows per file)."""
    from audioseek.index.indexer import spec_id
    from audioseek.index.store import Store, encode_vector

    dim = int(model.embed_dim)
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((1024, dim)).astype(np.float32)
    store = Store.create(
        db,
        {
            "model_spec": spec_id(None, model),
            "model_id": spec_id(None, model),
            "model_fingerprint": model.fingerprint,
            "sample_rate": model.sample_rate,
            "window": 10.0,
            "hop": 5.0,
            "dim": dim,
        },
    )
    chunk = per_file * 800  # whole files per transaction
    for lo in range(0, n, chunk):
        m = min(chunk, n - lo)
        vecs = centers[rng.integers(0, len(centers), m)] + rng.standard_normal((m, dim)) * 0.7
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        with store.transaction() as c:
            for f0 in range(lo, lo + m, per_file):
                k = min(per_file, lo + m - f0)
                file_id = Store.upsert_file(
                    c,
                    {
                        "path": f"/synthetic/{f0 // per_file:07d}.wav",
                        "hash": f"{f0:032x}",
                        "size": 0,
                        "mtime_ns": 0,
                        "duration": 5.0 * k + 5.0,
                        "sample_rate": 44100,
                        "format": "wav",
                        "n_windows": k,
                        "complete": 1,
                    },
                )
                c.executemany(
                    "INSERT INTO windows (file_id, idx, start_s, end_s, vector) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (
                        (file_id, i, 5.0 * i, 5.0 * i + 10.0, encode_vector(vecs[f0 - lo + i]))
                        for i in range(k)
                    ),
                )
    store.close()


def brute_force(q: np.ndarray, matrix: np.ndarray, offsets: np.ndarray, k: int) -> np.ndarray:
    """Reference: window scores by one matrix product, file score = max, top ``k`` files."""
    scores = matrix @ q
    fmax = np.maximum.reduceat(scores, offsets[:-1])
    top = np.argpartition(-fmax, min(k, len(fmax) - 1))[:k]
    return top[np.argsort(-fmax[top])]


def bench_queries(model, n: int, tmp: Path, n_queries: int, k: int = 10) -> dict:
    import torch

    from audioseek.index.ann import ensure_ann
    from audioseek.index.search import Searcher
    from audioseek.index.store import Store

    db = tmp / f"synthetic-{n}"
    t0 = time.perf_counter()
    make_synthetic_index(db, n, model)
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    with Store.open(db) as store:  # what the indexer does at the end of a run
        ann_built = ensure_ann(store) is not None
    ann_build_s = time.perf_counter() - t0 if ann_built else None
    queries = [f"sound number {i}: a {w} in the distance" for i, w in enumerate(
        ["dog barking", "car horn", "piano chord", "rain", "crowd cheering"] * (n_queries // 5 + 1)
    )][:n_queries]  # fmt: skip

    # numpy brute force reference on the same vectors (loaded first, timed interleaved with
    # ours query by query so both see the same machine load)
    with Store.open(db) as store:
        table = store.window_table(with_vectors=True)
        size = store.size_on_disk()
    matrix = table.vectors.astype(np.float32)
    table.vectors = None
    file_ids, offsets = table.file_slices()

    searcher = Searcher(db, model=model)
    t0 = time.perf_counter()
    st = searcher.state()  # loads the vectors, or the persisted ANN index past the threshold
    load_s = time.perf_counter() - t0
    searcher.search([queries[0]], k=k)  # warm-up
    lat, ours, search_only = [], [], []
    ref_lat, ref, enc_lat, ref_only = [], [], [], []
    for q in queries:
        t0 = time.perf_counter()
        hits = searcher.search([q], k=k)[0]
        lat.append(time.perf_counter() - t0)
        ours.append([h.file_id for h in hits])

        t0 = time.perf_counter()
        with torch.inference_mode():
            qv = model.encode_text([q], normalize=True)[0].float().numpy()
        t1 = time.perf_counter()
        top = brute_force(qv, matrix, offsets, k)
        ref_lat.append(time.perf_counter() - t0)
        enc_lat.append(t1 - t0)
        ref_only.append(time.perf_counter() - t1)
        ref.append([int(file_ids[i]) for i in top])

        t0 = time.perf_counter()
        searcher._rank(st, qv[None], k, 1)  # our search step alone, same query vector
        search_only.append(time.perf_counter() - t0)
    rss_searcher = peak_rss_mb()
    ann = st.ann is not None
    del st, matrix
    searcher.close()
    overlap = np.mean([len(set(a) & set(b)) / k for a, b in zip(ours, ref, strict=True)])
    shutil.rmtree(db, ignore_errors=True)
    return {
        "windows": n,
        "files": len(file_ids),
        "search_backend": "faiss IVF,SQfp16" if ann else "exact numpy (float32 matrix)",
        "p50_ms": 1000 * float(np.percentile(lat, 50)),
        "p95_ms": 1000 * float(np.percentile(lat, 95)),
        "numpy_bruteforce_p50_ms": 1000 * float(np.percentile(ref_lat, 50)),
        "numpy_bruteforce_p95_ms": 1000 * float(np.percentile(ref_lat, 95)),
        "text_encoding_p50_ms": 1000 * float(np.percentile(enc_lat, 50)),
        "search_only_p50_ms": 1000 * float(np.percentile(search_only, 50)),
        "search_only_p95_ms": 1000 * float(np.percentile(search_only, 95)),
        "numpy_bruteforce_search_only_p50_ms": 1000 * float(np.percentile(ref_only, 50)),
        "numpy_bruteforce_search_only_p95_ms": 1000 * float(np.percentile(ref_only, 95)),
        "top10_file_overlap_with_bruteforce": float(overlap),
        "sqlite_fill_s": build_s,
        "ann_build_s": ann_build_s,
        "searcher_load_s": load_s,
        "index_bytes_per_window": size / n,
        "peak_rss_mb_after": max(rss_searcher, peak_rss_mb()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--seconds", type=float, default=300.0, help="audio in the test library")
    ap.add_argument("--queries", type=int, default=40)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="bench_index_"))
    result = {
        "machine": {
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "platform": platform.platform(),
            "loadavg_at_start": os.getloadavg(),
        },
    }
    try:
        library = tmp / "library"
        make_library(library, args.seconds)
        model, which = default_model()
        log.info("default model: %s", which)
        result["default_model"] = which
        result["indexing"] = {
            "default": bench_indexing(model, "default", library, tmp, args.workers)
        }
        log.info("default model indexing: %s", result["indexing"]["default"])
        clap, clap_which = clap_model(tmp)
        result["clap_model"] = clap_which
        result["indexing"]["clap"] = bench_indexing(clap, "clap", library, tmp, args.workers)
        log.info("CLAP indexing: %s", result["indexing"]["clap"])
        del clap
        result["queries"] = []
        for n in args.sizes:
            r = bench_queries(model, n, tmp, args.queries)
            log.info("queries at %d windows: %s", n, r)
            result["queries"].append(r)
        result["peak_rss_mb"] = peak_rss_mb()
        result["machine"]["loadavg_at_end"] = os.getloadavg()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
