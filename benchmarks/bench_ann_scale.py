"""Search beyond RAM: the ANN index of a real index store at 1M, 5M and 10M windows.

Issue 13. Synthetic clustered unit vectors (512-d, stored float16, regenerated bit-identically
from a seed so exact search can stream them) are written into a real SQLite index store
(``Store.create`` + ``Store.upsert_file``/``Store.add_windows`` in big transactions, 100
windows per file). One store grows through the sizes; at each size the ANN files are removed
and ``ensure_ann(store, threshold, disk_threshold)`` builds from scratch: ``ivf_sq`` below
``disk_threshold`` (default 5M), ``ivf_pq`` (memory-mapped, re-ranked from the store) from it.

Per size: build time, on-disk size (index.sqlite + ann.faiss), and in a **separate searcher
process** (``AnnIndex.load(db, mmap=True)`` + the window table, i.e. ``Snapshot(store, t)``):
peak RSS, p50/p95 latency of ``audioseek.index.search.rank`` (k=10) for random unit queries,
and recall@10 of its files and of the ANN's windows against **the reference: exact search**
(all vectors streamed in chunks, float32 dot products), for queries drawn like the data
(cluster centre + noise) and for random unit queries.

Incremental upkeep at the first size >= 1M (``--upkeep-size``): 10 rounds, each adding 1%
new windows then ``ensure_ann`` (incremental: into the delta index, see ``index/ann.py``), each timed, vs a full rebuild
(``AnnIndex.build_from_store``) of the final store; recall@10 of the incrementally kept index.

A size whose build would not fit the free disk or memory (``build_from_store`` holds every
vector as float16 plus their concatenation, ~2 x n x 1 KiB) is skipped and projected.

Usage: ``python benchmarks/bench_ann_scale.py [--quick] [--sizes ...]``; writes
``benchmarks/results/bench_ann_scale.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

NAME = "bench_ann_scale"
DIM = 512
WPF = 100  # windows per file
CHUNK = 50_000
N_CENTERS = 2048
SIGMA = 0.03  # per-dimension noise around a unit centre: same-cluster cosine ~0.7
FULL_SIZES = (1_000_000, 5_000_000, 10_000_000)
QUICK_SIZES = (200_000, 1_000_000)
SMOKE_SIZES = (4_000, 12_000)
BYTES_PER_WINDOW_DB = 1400  # measured: 277 MB of index.sqlite for 200k windows (1 KiB vectors)
FAISS_THREADS = [None]  # set by main, passed on to the searcher process


def centers(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((N_CENTERS, DIM), dtype=np.float32)
    return c / np.linalg.norm(c, axis=1, keepdims=True)


def chunk_vectors(seed: int, chunk_no: int, n: int, cents: np.ndarray) -> np.ndarray:
    """Chunk ``chunk_no`` of the data (``n`` float16 unit vectors), the same on every call."""
    rng = np.random.default_rng([seed, chunk_no])
    labels = rng.integers(0, len(cents), n)
    v = cents[labels] + SIGMA * rng.standard_normal((n, DIM), dtype=np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v.astype(np.float16)


def stream(seed: int, n: int, cents: np.ndarray):
    """``(first window index, float16 vectors)`` chunks of the first ``n`` vectors."""
    for k, lo in enumerate(range(0, n, CHUNK)):
        yield lo, chunk_vectors(seed, k, min(CHUNK, n - lo), cents)


def create_store(db: Path):
    from audioseek.index.store import Store

    return Store.create(
        db,
        {
            "model_spec": "synthetic",
            "model_id": "synthetic",
            "model_fingerprint": "synthetic-clustered-512",
            "precision": "fp32",
            "embed_rule": "none",
            "sample_rate": 32000,
            "window": 10.0,
            "hop": 5.0,
            "dim": DIM,
        },
    )


def grow_store(store, seed: int, cents, have: int, target: int) -> float:
    """Append windows ``have .. target`` (whole chunks of CHUNK, files of WPF windows);
    returns seconds. Window ``i`` gets id ``i + 1`` and file ``i // WPF``."""
    from audioseek.index.store import Store, encode_vector

    t0 = time.perf_counter()
    assert have % CHUNK == 0 and target % CHUNK == 0, "sizes must be multiples of 50k"
    for k in range(have // CHUNK, target // CHUNK):
        vecs = chunk_vectors(seed, k, CHUNK, cents)
        with store.transaction() as c:
            for f0 in range(0, CHUNK, WPF):
                gi = k * CHUNK + f0
                fid = Store.upsert_file(
                    c,
                    {
                        "path": f"/synthetic/{gi // WPF:08d}.wav",
                        "hash": f"{gi // WPF:016x}",
                        "size": 1,
                        "mtime_ns": 0,
                        "duration": WPF * 5.0 + 5.0,
                        "sample_rate": 32000,
                        "channels": 1,
                        "format": "wav",
                        "n_windows": WPF,
                        "complete": 1,
                    },
                )
                c.executemany(
                    "INSERT INTO windows (file_id, idx, start_s, end_s, vector) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (
                        (fid, j, 5.0 * j, 5.0 * j + 10.0, encode_vector(vecs[f0 + j]))
                        for j in range(WPF)
                    ),
                )
    return time.perf_counter() - t0


def queries(seed: int, n: int, cents) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([seed, 999_999])
    rand = rng.standard_normal((n, DIM), dtype=np.float32)
    rand /= np.linalg.norm(rand, axis=1, keepdims=True)
    data = cents[rng.integers(0, len(cents), n)] + SIGMA * rng.standard_normal(
        (n, DIM), dtype=np.float32
    )
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    return {"random_unit": rand, "data_like": data}


def exact_topk(seed: int, n: int, cents, q: np.ndarray, k: int = 10, extra=()):
    """Exact top-``k`` window ids and file ids (max over a file's windows) for ``q``,
    streaming the ``n`` vectors (plus ``extra`` ``(first id - 1, float16 vectors)`` chunks)."""
    nq = len(q)
    best_w = np.full((nq, 0), -1, np.int64)
    best_ws = np.full((nq, 0), -np.inf, np.float32)
    best_f = np.full((nq, 0), -1, np.int64)
    best_fs = np.full((nq, 0), -np.inf, np.float32)
    for lo, vecs in [*stream(seed, n, cents), *extra]:
        s = q @ vecs.astype(np.float32).T  # (nq, m)
        m = s.shape[1]
        ids = np.arange(lo, lo + m, dtype=np.int64) + 1
        top = np.argpartition(-s, min(k, m - 1), axis=1)[:, :k]
        best_w = np.concatenate([best_w, ids[top]], 1)
        best_ws = np.concatenate([best_ws, np.take_along_axis(s, top, 1)], 1)
        # files: chunks hold whole files (lo and m multiples of WPF)
        fs = s.reshape(nq, m // WPF, WPF).max(axis=2)
        fids = (lo // WPF) + np.arange(m // WPF) + 1
        topf = np.argpartition(-fs, min(k, fs.shape[1] - 1), axis=1)[:, :k]
        best_f = np.concatenate([best_f, fids[topf]], 1)
        best_fs = np.concatenate([best_fs, np.take_along_axis(fs, topf, 1)], 1)
        for a, b in ((best_w, best_ws), (best_f, best_fs)):
            o = np.argsort(-b, axis=1, kind="stable")[:, :k]
            a[:, : o.shape[1]] = np.take_along_axis(a, o, 1)
            b[:, : o.shape[1]] = np.take_along_axis(b, o, 1)
        best_w, best_ws = best_w[:, :k], best_ws[:, :k]
        best_f, best_fs = best_f[:, :k], best_fs[:, :k]
    return best_w, best_f


def recall(found: list[list[int]], truth: np.ndarray) -> float:
    return float(
        np.mean(
            [len(set(f[:10]) & set(t.tolist())) / 10 for f, t in zip(found, truth, strict=True)]
        )
    )


# ---- the searcher process ---------------------------------------------------------------
def vm_hwm_mb() -> float:
    """This process's peak RSS (``VmHWM``). Not ``ru_maxrss``: on Linux that survives fork
    and exec, so a child would report its parent's (the builder's) peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def searcher(db: Path, threshold: int, qfile: Path, out: Path) -> None:
    from audioseek.index.search import Snapshot, rank
    from audioseek.index.store import Store

    qs = dict(np.load(qfile))
    t0 = time.perf_counter()
    store = Store.open(db, read_only=True)
    st = Snapshot(store, threshold)
    open_s = time.perf_counter() - t0
    rss_open = vm_hwm_mb()
    res = {"open_s": open_s, "ann_kind": None if st.ann is None else st.ann.kind}
    res["rss_after_open_mb"] = rss_open
    for name, q in qs.items():
        lat, files, windows = [], [], []
        for row in q:
            t = time.perf_counter()
            hits = rank(st, row[None, :], 10)
            lat.append(time.perf_counter() - t)
            files.append([h.file_id for h in hits])
            if st.ann is not None:
                _, ids = st.ann.search(row[None, :], 10)
                windows.append(ids[0].tolist())
        res[name] = {"latency_s": lat, "files": files, "windows": windows}
    res["peak_rss_mb"] = vm_hwm_mb()
    store.close()
    out.write_text(json.dumps(res))


def run_searcher(db: Path, threshold: int, qs: dict, tmp: Path) -> dict:
    qfile, out = tmp / "queries.npz", tmp / "searcher.json"
    np.savez(qfile, **qs)
    subprocess.run(
        [
            sys.executable,
            __file__,
            "--searcher",
            str(db),
            "--threshold",
            str(threshold),
            "--qfile",
            str(qfile),
            "--sout",
            str(out),
        ],
        check=True,
    )
    return json.loads(out.read_text())


def measure(db, store, seed, n, cents, qs, threshold, tmp, extra=()) -> dict:
    from audioseek.index import ann as ann_mod

    s = run_searcher(db, threshold, qs, tmp)
    out = {
        "searcher_ann_kind": s["ann_kind"],
        "searcher_open_s": round(s["open_s"], 3),
        "searcher_rss_after_open_mb": round(s["rss_after_open_mb"], 1),
        "searcher_peak_rss_mb": round(s["peak_rss_mb"], 1),
    }
    t0 = time.perf_counter()
    truth = {name: exact_topk(seed, n, cents, q, extra=extra) for name, q in qs.items()}
    out["exact_reference_s"] = round(time.perf_counter() - t0, 2)
    for name in qs:
        lat = np.array(s[name]["latency_s"]) * 1000
        tw, tf = truth[name]
        out[name] = {
            "queries": len(lat),
            "latency_ms_p50": round(float(np.percentile(lat, 50)), 2),
            "latency_ms_p95": round(float(np.percentile(lat, 95)), 2),
            "recall@10_files": round(recall(s[name]["files"], tf), 4),
            "recall@10_windows": round(recall(s[name]["windows"], tw), 4)
            if s[name]["windows"]
            else None,
        }
    out["on_disk_bytes"] = {
        "index.sqlite": (db / "index.sqlite").stat().st_size,
        "ann.faiss": (db / ann_mod.ANN_FILE).stat().st_size
        if (db / ann_mod.ANN_FILE).exists()
        else 0,
        "total_folder": store.size_on_disk(),
    }
    return out


def free_memory_bytes() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="sizes 200k and 1M")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes (tests only)")
    ap.add_argument("--sizes", type=int, nargs="+", default=None)
    ap.add_argument("--disk-threshold", type=int, default=None, help="ivf_pq from (default 5M)")
    ap.add_argument("--queries", type=int, default=None, help="queries per kind (default 200)")
    ap.add_argument("--upkeep-size", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--faiss-threads",
        type=int,
        default=None,
        help="faiss OpenMP threads (default: faiss's own, all cores; --quick on a loaded "
        "machine: 1, since spinning OpenMP threads on oversubscribed cores stall)",
    )
    ap.add_argument("--dir", type=Path, default=None, help="work folder (default: a temp dir)")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--searcher", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--threshold", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--qfile", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--sout", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    faiss_threads = args.faiss_threads
    busy = os.getloadavg()[0] > (os.cpu_count() or 1)
    if faiss_threads is None and (args.quick or args.smoke) and busy:
        faiss_threads = 1
    if faiss_threads:
        import faiss

        faiss.omp_set_num_threads(faiss_threads)
    if args.searcher:
        searcher(args.searcher, args.threshold, args.qfile, args.sout)
        return {}
    blas_removed = _common.clean_blas_env()
    load_before = _common.load_average()
    FAISS_THREADS[0] = faiss_threads
    from audioseek.index import ann as ann_mod

    sizes = sorted(
        args.sizes or (SMOKE_SIZES if args.smoke else QUICK_SIZES if args.quick else FULL_SIZES)
    )
    # --smoke stays on ivf_sq: an ivf_pq build pays faiss's polysemous training (minutes of
    # CPU whatever n; seen: > 3 CPU-min at 12k vectors), too slow for a smoke test
    disk_threshold = args.disk_threshold or ann_mod.DISK_THRESHOLD
    upkeep_size = SMOKE_SIZES[-1] if args.smoke else args.upkeep_size
    nq = args.queries or (10 if args.smoke else 50 if args.quick else 200)
    chunk = CHUNK if not args.smoke else 2_000
    globals()["CHUNK"] = chunk
    threshold = min(sizes)  # every size gets an ANN index
    print(
        f"sizes {sizes}: writes ~{max(sizes) * BYTES_PER_WINDOW_DB / 1e9:.1f} GB; expected on an "
        f"idle 2-core machine ~{max(sizes) / 1e6 * 2.5 + len(sizes) * 2:.0f} min "
        "(store writes ~1 min/M windows, builds, exact reference ~0.5 min/M)",
        flush=True,
    )
    tmp = Path(args.dir or tempfile.mkdtemp(prefix="bench_ann_scale_"))
    db = tmp / "db"
    cents = centers(args.seed)
    qs = queries(args.seed, nq, cents)
    results, skipped = [], []
    upkeep = None
    try:
        store = create_store(db)
        have = 0
        for n in sizes:
            need_disk = (n - have) * BYTES_PER_WINDOW_DB + n * 80
            need_mem = build_memory_estimate(n, disk_threshold)
            free_disk = shutil.disk_usage(tmp).free
            if need_disk > free_disk * 0.9 or need_mem > free_memory_bytes():
                skipped.append(
                    {
                        "windows": n,
                        "need_disk_bytes": need_disk,
                        "free_disk_bytes": free_disk,
                        "need_build_memory_bytes": need_mem,
                        "available_memory_bytes": free_memory_bytes(),
                    }
                )
                print(f"skip {n}: does not fit ({skipped[-1]})", flush=True)
                continue
            print(f"writing windows {have}..{n}", flush=True)
            write_s = grow_store(store, args.seed, cents, have, n)
            have = n
            for name in (ann_mod.ANN_FILE, ann_mod.STAMP_FILE):
                (db / name).unlink(missing_ok=True)
            print(f"building ANN over {n}", flush=True)
            t0 = time.perf_counter()
            ann = ann_mod.ensure_ann(store, threshold=threshold, disk_threshold=disk_threshold)
            build_s = time.perf_counter() - t0
            row = {
                "windows": n,
                "files": n // WPF,
                "store_write_s": round(write_s, 2),
                "ann_kind": ann.kind,
                "nlist": ann_mod.choose_nlist(n),
                "nprobe": ann.nprobe,
                "ann_build_s": round(build_s, 2),
                "builder_peak_rss_mb": round(
                    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
                ),
            }
            del ann
            print(f"searching {n}", flush=True)
            row.update(measure(db, store, args.seed, n, cents, qs, threshold, tmp))
            results.append(row)
            print(json.dumps({k: v for k, v in row.items()}), flush=True)
            if upkeep is None and n >= upkeep_size:
                # on a copy, so the growing store keeps exactly the sizes' windows
                from audioseek.index.store import Store

                up_db = tmp / "db_upkeep"
                shutil.copytree(db, up_db)
                up_store = Store.open(up_db, read_only=False)
                try:
                    upkeep = incremental_upkeep(
                        up_db, up_store, args, cents, qs, n, threshold, disk_threshold, tmp
                    )
                finally:
                    up_store.close()
                    shutil.rmtree(up_db, ignore_errors=True)
        store.close()
    finally:
        if args.dir is None:
            shutil.rmtree(tmp, ignore_errors=True)

    projection = project(results, skipped, disk_threshold)
    result = {
        "reference": "exact search (all vectors streamed in chunks, float32 dot products, max "
        "per file) on the same vectors and queries, same run",
        "data": {
            "dim": DIM,
            "dtype": "float16 in the store",
            "clusters": N_CENTERS,
            "noise_sigma_per_dim": SIGMA,
            "windows_per_file": WPF,
            "queries_per_kind": nq,
        },
        "disk_threshold": disk_threshold,
        "faiss_threads": faiss_threads or "faiss default (all cores)",
        "sizes": results,
        "skipped": skipped,
        "projection": projection,
        "incremental_upkeep": upkeep,
        "targets": {
            "searcher_peak_rss_at_10M": "<= 3 GB",
            "recall@10": ">= 0.95",
            "incremental_vs_rebuild": "<= 5%",
        },
        "notes": (
            "latency: audioseek.index.search.rank (k=10, one query vector) in a separate searcher "
            "process that opened the store read-only with Snapshot (ANN memory-mapped); "
            "recall@10_files compares rank's files with the exact top-10 files, "
            "recall@10_windows the ANN's top-10 windows with the exact top-10 windows; "
            "random_unit queries are far from every cluster (hardest for IVF), data_like "
            "queries are drawn like the data"
        ),
    }
    _common.write_result(
        NAME, result, load_before, blas_removed, args.quick or args.smoke, out=args.out
    )
    return result


def incremental_upkeep(db, store, args, cents, qs, n, threshold, disk_threshold, tmp) -> dict:
    """10 rounds of +1% windows with ``ensure_ann`` (incremental) vs one full rebuild."""
    from audioseek.index import ann as ann_mod
    from audioseek.index.store import Store

    step = max(WPF, (n // 100) // WPF * WPF)
    rounds, extra = [], []
    next_id = n
    for r in range(10):
        rng = np.random.default_rng([args.seed, 500_000 + r])
        labels = rng.integers(0, len(cents), step)
        v = cents[labels] + SIGMA * rng.standard_normal((step, DIM), dtype=np.float32)
        v = (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float16)
        t0 = time.perf_counter()
        with store.transaction() as c:
            for f0 in range(0, step, WPF):
                gi = next_id + f0
                fid = Store.upsert_file(
                    c,
                    {
                        "path": f"/synthetic/new_{gi // WPF:08d}.wav",
                        "hash": f"n{gi:015x}",
                        "size": 1,
                        "mtime_ns": 0,
                        "duration": WPF * 5.0 + 5.0,
                        "sample_rate": 32000,
                        "channels": 1,
                        "format": "wav",
                        "n_windows": WPF,
                        "complete": 1,
                    },
                )
                Store.add_windows(
                    c, fid, ((j, 5.0 * j, 5.0 * j + 10.0, v[f0 + j]) for j in range(WPF))
                )
        write_s = time.perf_counter() - t0
        extra.append((next_id, v))
        next_id += step
        t0 = time.perf_counter()
        ann = ann_mod.ensure_ann(store, threshold=threshold, disk_threshold=disk_threshold)
        rounds.append(
            {
                "added": step,
                "write_s": round(write_s, 3),
                "ensure_ann_s": round(time.perf_counter() - t0, 3),
                "kind": ann.kind,
                "ntotal": ann.ntotal,
            }
        )
        print(rounds[-1], flush=True)
    # ids: file ids continue after the base files, window ids after n (AUTOINCREMENT)
    measured = measure(db, store, args.seed, n, cents, qs, threshold, tmp, extra=extra)
    t0 = time.perf_counter()
    full = ann_mod.AnnIndex.build_from_store(store, kind=ann.kind)
    rebuild_s = time.perf_counter() - t0
    del full
    inc = [r["ensure_ann_s"] for r in rounds]
    return {
        "base_windows": n,
        "rounds": rounds,
        "incremental_s_mean": round(float(np.mean(inc)), 3),
        "full_rebuild_s": round(rebuild_s, 2),
        "incremental_share_of_rebuild": round(float(np.mean(inc)) / rebuild_s, 4),
        "after_10_additions": {k: measured[k] for k in qs},
    }


def build_memory_estimate(n: int, disk_threshold: int) -> int:
    """Bytes ``AnnIndex.build_from_store`` holds for ``n`` windows: it streams the store
    (a training sample and one chunk), so what grows is the index itself, in memory until
    saved: 2 B per dimension per window for ``ivf_sq`` (fp16), 64 B codes + 8 B ids for
    ``ivf_pq``; plus a 1 GB allowance for the sample, a chunk and the process."""
    per_window = DIM * 2 if n < disk_threshold else 72
    return n * per_window + 2**30


def project(results: list[dict], skipped: list[dict], disk_threshold: int) -> dict | None:
    """Projections to the skipped sizes (and to 10M) from the largest measured one: disk and
    build time linearly; the searcher's RSS linearly only from a measurement of the same kind
    (an ``ivf_sq`` index is read whole, an ``ivf_pq`` one is mapped), else from a model."""
    if not results:
        return None
    last = results[-1]
    targets = sorted({s["windows"] for s in skipped} | {10_000_000})
    out = {}
    for t in targets:
        if t <= last["windows"]:
            continue
        f = t / last["windows"]
        row = {
            "from_windows": last["windows"],
            "from_kind": last["ann_kind"],
            "index.sqlite_bytes_linear": int(last["on_disk_bytes"]["index.sqlite"] * f),
            "ann_build_s_linear": round(last["ann_build_s"] * f, 1),
            "build_memory_bytes_estimate": build_memory_estimate(t, disk_threshold),
            "builder_peak_rss_mb_measured": last.get("builder_peak_rss_mb"),
        }
        kind = "ivf_pq" if t >= disk_threshold else "ivf_sq"
        if kind == last["ann_kind"]:
            row["searcher_peak_rss_mb_linear"] = round(last["searcher_peak_rss_mb"] * f, 1)
        else:
            # process base + window table (ids, file ids, starts, ends, id order, sorted
            # ids: 40 B/window) + every PQ code and id mapped and touched (72 B/window)
            base = last["searcher_rss_after_open_mb"]
            row["searcher_peak_rss_mb_model_upper"] = round(base + t * (40 + 72) / 2**20, 1)
            row["ann.faiss_bytes_model"] = t * 72
            row["note"] = (
                "a model, not a measurement: ivf_pq keeps 64 B codes + 8 B ids per window "
                "memory-mapped (only the probed lists are touched), the searcher ~40 B per "
                "window of window table; build time of ivf_pq also includes PQ (and faiss's "
                "polysemous) training, not projected by the linear figure"
            )
        out[str(t)] = row
    return out


if __name__ == "__main__":
    main()
