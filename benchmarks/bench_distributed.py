"""Indexing throughput of the local engine vs ``engine="ray"`` with 1 and 2 embedding actors.

Issue 13. One real-audio library (recordings copied from /usr/share/sounds, sonic-pi samples
and the Hydrogen drum kits), one model (the bundled offline model, ``model="offline"``), each
run into a fresh index through the public API (``Index.add``):

* Ray start-up: wall time of ``ray.init(num_cpus=2)`` (a local cluster in this process),
  then a Ray warm-up run on 2 files (starts Ray's worker processes);
* ``local`` (**the reference**): ``engine="local"``, default workers/threads;
* ``ray_1``: ``RayOptions(actors=1, actor_cpus=1.0, threads=T)`` with T the local engine's
  torch threads (all cores): the same compute, through Ray;
* ``ray_2``: ``RayOptions(actors=2, actor_cpus=0.5, threads=T // 2)``: two actors cannot
  reserve 1 CPU each on 2 CPUs, and the decoding tasks need a whole CPU free (Ray Data's
  default for ``map_batches`` tasks): with ``actor_cpus=0.75``, which ``embed_on_ray`` once
  accepted, the read task was never scheduled and the run hung (13 min, 0 blocks read).

``--repeats N`` rounds of local, ray_1, ray_2 (alternated, so a slow spell of the machine
hits every engine; on this 2-core VM one run's wall time varies by +-8%): the medians are
compared, and each round's local/ray_1 overhead is reported as the spread.

A warm-up ``local`` run on 2 files first loads the model files into the page cache and
exports the text side to ONNX; that export is copied into every measured index folder so no
run pays it (it does not depend on the engine). Throughput = audio seconds / wall seconds of
``Index.add`` (the model load included: warm in this process for the local engine, once per
actor process on Ray); ``first_commit_s`` is the start-up part of it.

Usage: ``python benchmarks/bench_distributed.py [--quick] [--files N] [--repeats N]``; writes
``benchmarks/results/bench_distributed.json``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

NAME = "bench_distributed"
FULL_FILES = 100_000  # every recording found (868 on this machine)
QUICK_FILES = 24
SMOKE_FILES = 4
RAY_CPUS = 2


def pick_files(n: int) -> list[Path]:
    """``n`` recordings spread over the three packages (every k-th file of the sorted list,
    so short drum hits and longer sounds are both in)."""
    files = _common.sound_files()
    if not files:
        raise SystemExit("no recordings found under " + ", ".join(map(str, _common.SOUND_DIRS)))
    step = max(1, len(files) // n)
    return files[::step][:n]


def run_add(lib: Path, db: Path, onnx_dir: Path | None, engine: str, ray_options=None) -> dict:
    from audioseek import Index

    db.mkdir(parents=True)
    if onnx_dir is not None:
        shutil.copytree(onnx_dir, db / onnx_dir.name)
    commits: list[float] = []
    t0 = time.perf_counter()
    with Index(db, model="offline", device="cpu") as index:
        summary = index.add(
            [lib],
            progress=False,
            engine=engine,
            ray_options=ray_options,
            batch_size=16,
            on_batch=lambda _b: commits.append(time.perf_counter() - t0),
        )
        wall = time.perf_counter() - t0
        info = index.info()
    from audioseek.index.runner import auto_threads

    threads = auto_threads() if engine == "local" else getattr(ray_options, "threads", None)
    return {
        "engine": engine,
        "torch_threads": threads,
        "wall_s": round(wall, 3),
        "audio_seconds": round(summary.audio_seconds, 3),
        "files_embedded": summary.embedded,
        "windows": summary.windows_embedded,
        "corrupt": summary.corrupt_count,
        "audio_s_per_wall_s": round(summary.audio_seconds / wall, 3),
        "windows_per_s": round(summary.windows_embedded / wall, 3),
        "index_windows": getattr(info, "windows", None),
        # start-up: from the call to the first committed batch (decoders / actors starting,
        # the model loading, the pipeline filling); the rest of the wall time is the stream
        "first_commit_s": round(commits[0], 3) if commits else None,
    }


def vectors_equal(db_a: Path, db_b: Path) -> bool:
    """Same paths -> same window vectors (bytes) in two indexes (the libraries are equal)."""
    import sqlite3

    def rows(db):
        con = sqlite3.connect(f"file:{db / 'index.sqlite'}?mode=ro", uri=True)
        try:
            return con.execute(
                "SELECT f.path, w.idx, w.vector FROM windows w JOIN files f ON f.id=w.file_id "
                "ORDER BY f.path, w.idx"
            ).fetchall()
        finally:
            con.close()

    return rows(db_a) == rows(db_b)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help=f"{QUICK_FILES} files (1-3 min)")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes (tests only)")
    ap.add_argument(
        "--files", type=int, default=None, help="library size (default: every recording found)"
    )
    ap.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="runs of each engine, alternated (default 3; 1 with --quick/--smoke): the "
        "medians are compared, the per-repeat spread is reported",
    )
    ap.add_argument("--out", type=Path, default=None, help="result JSON path")
    args = ap.parse_args(argv)
    blas_removed = _common.clean_blas_env()
    load_before = _common.load_average()
    n_files = args.files or (
        SMOKE_FILES if args.smoke else QUICK_FILES if args.quick else FULL_FILES
    )
    files = pick_files(n_files)
    lib_seconds = _common.audio_seconds(files)
    print(
        f"{len(files)} files, {lib_seconds:.0f} s of audio; 3 indexing runs. Expected: about "
        f"{3 * lib_seconds / 8 / 60 + 1:.0f} min on an idle 2-core machine (offline model "
        "~8x real time per run incl. per-file overhead), much longer under load",
        flush=True,
    )
    repeats = args.repeats or (1 if args.quick or args.smoke else 3)
    runs: dict[str, list[dict]] = {"local": [], "ray_1": [], "ray_2": []}
    tmp = Path(tempfile.mkdtemp(prefix="bench_distributed_"))
    try:
        lib = tmp / "lib"
        _common.copy_library(files, lib)
        warm_lib = tmp / "warm"
        _common.copy_library(files[:2], warm_lib)
        print("warm-up (model load, ONNX export)...", flush=True)
        warm = run_add(warm_lib, tmp / "db_warm", None, "local")
        onnx_dir = tmp / "db_warm" / "text_onnx"
        onnx_dir = onnx_dir if onnx_dir.is_dir() else None

        import ray

        from audioseek.index.ray_engine import RayOptions

        t0 = time.perf_counter()
        ray.init(
            num_cpus=RAY_CPUS,
            include_dashboard=False,
            log_to_driver=False,
            ignore_reinit_error=True,
        )
        ray_start_s = time.perf_counter() - t0
        print(f"ray.init: {ray_start_s:.2f} s", flush=True)
        # Ray warm-up on the 2-file library: the first Ray run starts the worker processes
        # (imports of audioseek, soundfile, torch); without it ray_1 alone would pay that
        print("ray warm-up...", flush=True)
        ray_warm = run_add(
            warm_lib, tmp / "db_ray_warm", onnx_dir, "ray",
            RayOptions(actors=1, actor_cpus=1.0, num_cpus=RAY_CPUS),
        )  # fmt: skip
        # ray_1 embeds with as many torch threads as the local engine (all cores); the two
        # actors of ray_2 share them, one thread each. The engines alternate, so a slow
        # spell of the machine hits all of them, and every local run has Ray's idle
        # processes beside it, as the Ray runs do.
        local_threads = warm["torch_threads"]
        plan = (("ray_1", 1, 1.0, local_threads), ("ray_2", 2, 0.5, max(1, local_threads // 2)))
        for r in range(repeats):
            print(f"repeat {r + 1}/{repeats}: local...", flush=True)
            runs["local"].append(run_add(lib, tmp / f"db_local_{r}", onnx_dir, "local"))
            print(runs["local"][-1], flush=True)
            for name, actors, cpus, threads in plan:
                print(f"repeat {r + 1}/{repeats}: {name}...", flush=True)
                opts = RayOptions(
                    actors=actors, actor_cpus=cpus, num_cpus=RAY_CPUS, threads=threads
                )
                one = run_add(lib, tmp / f"db_{name}_{r}", onnx_dir, "ray", opts)
                one.update(actors=actors, actor_cpus=cpus, threads_per_actor=threads)
                runs[name].append(one)
                print(one, flush=True)
        t0 = time.perf_counter()
        ray.shutdown()
        ray_shutdown_s = time.perf_counter() - t0
        same = {
            name: all(
                vectors_equal(tmp / "db_local_0", tmp / f"db_{name}_{r}") for r in range(repeats)
            )
            for name in ("ray_1", "ray_2")
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    rate = {k: [one["audio_s_per_wall_s"] for one in v] for k, v in runs.items()}
    median = {k: statistics.median(v) for k, v in rate.items()}
    local, r1, r2 = median["local"], median["ray_1"], median["ray_2"]
    overhead = 1 - r1 / local if local else None
    speedup = r2 / r1 if r1 else None
    paired = [round(1 - b / a, 4) for a, b in zip(rate["local"], rate["ray_1"], strict=True)]
    first_commit = {
        k: statistics.median(one["first_commit_s"] for one in v if one["first_commit_s"])
        for k, v in runs.items()
    }
    result = {
        "reference": "local engine (engine='local') on the same library, same model, same run",
        "library": {
            "files": len(files),
            "audio_seconds": round(lib_seconds, 1),
            "sources": [str(d) for d in _common.SOUND_DIRS if d.is_dir()],
        },
        "model": "offline (bundled, model='offline', cpu)",
        "window_hop_s": "index defaults (10 / 5)",
        "warmup": warm,
        "repeats": repeats,
        "runs": runs,
        "audio_s_per_wall_s_median": {k: round(v, 3) for k, v in median.items()},
        "first_commit_s_median": {k: round(v, 2) for k, v in first_commit.items()},
        "ray_init_s": round(ray_start_s, 3),
        "ray_warmup": ray_warm,
        "ray_shutdown_s": round(ray_shutdown_s, 3),
        "ray_cluster": f"local, ray.init(num_cpus={RAY_CPUS}) in the benchmark process",
        "vectors_identical_to_local": same,
        "overhead_1_worker": None if overhead is None else round(overhead, 4),
        "overhead_1_worker_how": "1 - median(ray_1) / median(local) throughput",
        "overhead_1_worker_per_repeat": paired,
        "overhead_1_worker_target": "<= 0.15",
        "overhead_1_worker_met": None if overhead is None else overhead <= 0.15,
        "speedup_2_vs_1_workers": None if speedup is None else round(speedup, 3),
        "speedup_target": ">= 1.6 where the cores allow",
        "speedup_limit": (
            f"this machine has {os.cpu_count()} cores: the Ray cluster has {RAY_CPUS} CPUs, "
            "shared by the decoding tasks, the embedding actors and the driver's writer; one "
            "actor already embeds on every core (threads = the local engine's), so a second "
            "actor can only share the same cores: the 1.6x target needs more cores or nodes "
            "(2 actors x 1 CPU + decoding), not measurable here"
        ),
        "engine_defect_fixed": (
            "an earlier run found RayOptions(actors=2, actor_cpus=0.75) on 2 CPUs hanging (no "
            "CPU left for Ray Data's read tasks); embed_on_ray now keeps a whole CPU free and "
            "refuses such options with one line"
        ),
        "overhead_causes": (
            "same torch threads and the same priority (nice 0) in both engines; what remains "
            "is Ray's fixed cost, visible in first_commit_s (a new actor process imports "
            "torch, ~2.5 s, and loads the model's audio side, Ray Data starts the pipeline "
            "and fills it), and its per-task cost: every read task (files_per_task files) and "
            "every embedded batch crosses the object store, and Ray's own processes (raylet, "
            "GCS, the driver's executor) share the 2 cores; a bigger library amortises the "
            "fixed part"
        ),
        "notes": (
            "throughput = audio seconds / wall seconds of Index.add, including the model load "
            "(once per actor on Ray; the local engine's is warm in this process) and Ray Data's "
            "pipeline start; ray.init is reported "
            "separately and not in any run's wall time; the ONNX text export is pre-seeded from "
            "the warm-up so no run pays it"
        ),
    }
    _common.write_result(
        NAME, result, load_before, blas_removed, args.quick or args.smoke, out=args.out
    )
    return result


if __name__ == "__main__":
    main()
