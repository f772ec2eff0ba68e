"""Search-engine benchmark on the public ``audioseek.Index`` API (issue 12).

Measured in one run and written to ``benchmarks/results/bench_index.json``:

* **indexing throughput** (audio seconds per wall second of ``Index.add``) on a mixed library
  of real recordings from the Debian packages (many short one-shots: sonic-pi samples,
  Hydrogen drum kits, /usr/share/sounds; a few long files: Hedgewars music), for
  - the bundled offline model (``load_model("offline")``: aisfx + MiniLM, any input length);
  - the LAION-CLAP *architecture* (``transformers`` ClapModel audio tower, DEFAULT ClapConfig,
    RANDOM weights: no weights can be downloaded here; MiniLM text tower, random heads);
  each as the **new path** (short windows at their own length bucketed to whole seconds for
  any-length encoders, automatic workers/threads, ONNX text export at the end) beside the
  **reference**, today's fp32 path before issue 12 (every window padded to 10 s, 2 decoding
  workers, torch's default threads, no export), same library, same run. Each run reports where
  its time went (``timings``: waiting for decoded audio, embedding, writing) and the library's
  **coverage** (every second of every file inside some window);
* **one-shot ``audioseek search``** (a cold process running the CLI) on a ~10k-window index of
  the offline model: the ONNX text path (no torch import) vs the torch path (same index without
  the export), wall time and peak RSS, and whether both give the same top 10;
* **server latency** p50/p95 of ``Index.search`` with the model loaded (what ``audioseek
  serve`` runs per query, text encoding included) at 10k / 100k / 1M windows of synthetic
  clustered vectors, plus the ONNX text encoder in-process at 10k.

The machine is shared: the load average is recorded before and after every section; numbers
from a busy machine are provisional. ``--quick`` (a smaller library, 10k windows only) runs in
a few minutes on an idle 2-core machine.

Usage: ``python benchmarks/bench_index.py [--quick] [--sizes 10000 100000 1000000]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

log = logging.getLogger("bench_index")
RESULTS = Path(__file__).resolve().parent / "results" / "bench_index.json"
SONIC_PI = Path("/usr/share/sonic-pi/samples")
HYDROGEN = Path("/usr/share/hydrogen/data/drumkits")
SOUNDS = Path("/usr/share/sounds")
MUSIC = Path("/usr/share/games/hedgewars/Data/Music")
LONG_FILES = ("sdmusic.ogg", "olympics_sd.ogg", "main_theme.ogg")  # 51 s, 92 s, 105 s
AUDIO_EXT = (".flac", ".wav", ".ogg", ".oga", ".mp3")
QUERIES = ["dog barking", "car horn", "piano chord", "rain", "crowd cheering", "snare drum"]


def load_avg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---- library -----------------------------------------------------------------------------
def _every(paths: list[Path], n: int) -> list[Path]:
    if n <= 0 or not paths:
        return []
    step = max(1, len(paths) // n)
    return paths[::step][:n]


def build_library(root: Path, quick: bool) -> dict:
    """Copies of real recordings: short one-shots (a deterministic spread of each source)
    and long music files."""
    from audioseek.audio.io import probe_duration

    n_sp, n_hy, n_snd, longs = (20, 8, 4, LONG_FILES[:1]) if quick else (40, 20, 10, LONG_FILES)
    sources = {
        "sonic-pi": _every(sorted(SONIC_PI.glob("*.flac")), n_sp),
        "hydrogen": _every(
            sorted(p for p in HYDROGEN.rglob("*") if p.suffix.lower() in AUDIO_EXT), n_hy
        ),
        "sounds": _every(
            sorted(p for p in SOUNDS.rglob("*") if p.suffix.lower() in AUDIO_EXT), n_snd
        ),
        "music (long)": [MUSIC / name for name in longs if (MUSIC / name).is_file()],
    }
    files, per_source = [], {}
    for name, paths in sources.items():
        secs = 0.0
        for i, p in enumerate(paths):
            dst = root / name.split()[0] / f"{i:03d}_{p.name}"
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(p, dst)
            d = probe_duration(dst)
            secs += d
            files.append({"path": str(dst), "source": str(p), "seconds": d})
        per_source[name] = {"files": len(paths), "seconds": round(secs, 2)}
    return {
        "files": len(files),
        "seconds": round(sum(f["seconds"] for f in files), 2),
        "short_files_under_3s": sum(f["seconds"] < 3 for f in files),
        "per_source": per_source,
    }


# ---- models ------------------------------------------------------------------------------
def offline_model():
    from audioseek.models.hub import load_model

    return load_model("offline", device="cpu"), "offline (bundled: aisfx + MiniLM, trained heads)"


def clap_model(tmp: Path):
    """LAION-CLAP architecture: default ClapConfig, RANDOM weights, through clap-htsat."""
    import torch
    from transformers import ClapConfig, ClapFeatureExtractor

    from audioseek.models.dual_encoder import DualEncoder
    from audioseek.models.heads import ProjectionHead
    from audioseek.models.registry import build_audio_encoder, build_text_encoder

    torch.manual_seed(0)
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
    return model, (
        "transformers ClapModel audio tower, DEFAULT ClapConfig, RANDOM weights (no download "
        "possible); MiniLM text tower; random heads"
    )


# ---- indexing ----------------------------------------------------------------------------
def coverage(db: Path, library_files: int) -> dict:
    """Every second of every file inside some window: windows start at 0, leave no gap,
    and the last one ends at the decoded duration."""
    from audioseek.index.store import Store

    bad, covered, total = [], 0.0, 0.0
    with Store.open(db) as store:
        recs = store.files(complete_only=True)
        for rec in recs:
            _, starts, ends = store.file_vectors(rec.id)
            dur = float(rec.duration or 0.0)
            total += dur
            ok = (
                len(starts) > 0
                and abs(float(starts[0])) < 1e-6
                and bool(np.all(starts[1:] <= ends[:-1] + 1e-4))
                and abs(float(ends[-1]) - dur) < 1e-3
            )
            if ok:
                covered += dur
            else:
                bad.append(rec.path)
        incomplete = store.counts()["files"] - len(recs)
    return {
        "files_indexed": len(recs),
        "files_in_library": library_files,
        "incomplete_files": int(incomplete),
        "seconds_indexed": round(total, 3),
        "seconds_covered": round(covered, 3),
        "files_not_covered": bad,
        "every_second_covered": not bad and len(recs) == library_files and not incomplete,
    }


def computed_seconds(db: Path, bucketed: bool, batch_size: int = 16) -> float:
    """Seconds of audio the model was run on, zero-padded rows included: the windows in the
    order they were embedded, ``batch_size`` per writer batch; the padded rule runs
    EMBED_CHUNK rows of the full window per pass, the bucketed rule BUCKET_CHUNK rows of the
    bucket's length (lengths from the stored spans; the padding row lengths as the rule's)."""
    from audioseek.index.embedder import BUCKET_CHUNK, EMBED_CHUNK
    from audioseek.index.store import Store

    with Store.open(db) as store:
        window = float(store.get_meta("window"))
        table = store.window_table(with_vectors=False)
        lengths = np.asarray(table.ends, np.float64) - np.asarray(table.starts, np.float64)
    if not bucketed:
        return float(math.ceil(len(lengths) / EMBED_CHUNK) * EMBED_CHUNK * window)
    buckets = np.minimum(window, np.maximum(1.0, np.ceil(lengths - 1e-6)))
    total = 0.0
    for lo in range(0, len(buckets), batch_size):
        sizes, counts = np.unique(buckets[lo : lo + batch_size], return_counts=True)
        total += float(
            sum(
                math.ceil(n / BUCKET_CHUNK) * BUCKET_CHUNK * b
                for b, n in zip(sizes, counts, strict=True)
            )
        )
    return total


def index_once(model, library: Path, db: Path, *, reference: bool, workers=None, threads=None):
    import torch

    from audioseek import Index

    shutil.rmtree(db, ignore_errors=True)
    model.variable_length = False if reference else None  # reference: every window padded
    timings: dict = {}
    la = load_avg()
    if reference:  # today's defaults before issue 12
        workers, threads = 2, torch.get_num_threads()
    t0 = time.perf_counter()
    with Index(db, model=model) as index:
        s = index.add(
            [library],
            workers=workers,
            threads=threads,
            progress=False,
            export_onnx=not reference,
            timings=timings,
        )
    wall = time.perf_counter() - t0
    model.variable_length = None
    export = float(timings.get("onnx_export_s", 0.0))
    cov = coverage(db, int(s.files_scanned))
    computed = computed_seconds(db, bucketed=not reference and _any_length(model))
    return {
        "audio_seconds": round(s.audio_seconds, 2),
        "wall_seconds": round(wall, 3),
        "audio_s_per_wall_s": round(s.audio_seconds / wall, 2),
        "audio_s_per_wall_s_without_onnx_export": round(s.audio_seconds / (wall - export), 2),
        "windows": s.windows_embedded,
        "model_input_seconds": round(computed, 1),
        "embed_rule": "padded-window" if reference or not _any_length(model) else "bucketed-1s",
        "timings_s": {k: (round(v, 3) if isinstance(v, float) else v) for k, v in timings.items()},
        "coverage": cov,
        "load_average_before": la,
        "load_average_after": load_avg(),
    }


def _any_length(model) -> bool:
    from audioseek.index.embedder import variable_length

    return variable_length(model)


def vector_drift(db_ref: Path, db_new: Path) -> dict:
    """Cosine between the reference's and the new path's vector of each window (equal for
    full windows; short windows change under the bucketed rule)."""
    from audioseek.index.store import Store

    with Store.open(db_ref) as a, Store.open(db_new) as b:
        ta, tb = a.window_table(), b.window_table()
    va, vb = ta.vectors.astype(np.float32), tb.vectors.astype(np.float32)
    if va.shape != vb.shape:
        return {"error": f"window counts differ: {va.shape} vs {vb.shape}"}
    cos = (va * vb).sum(1) / np.linalg.norm(va, axis=1) / np.linalg.norm(vb, axis=1)
    full = (np.asarray(ta.ends) - np.asarray(ta.starts)) >= 10.0 - 1e-6
    return {
        "windows": int(len(cos)),
        "full_windows_identical": bool(np.all(cos[full] > 1 - 1e-6)),
        "short_windows": int((~full).sum()),
        "short_windows_cosine_mean": float(cos[~full].mean()) if (~full).any() else None,
        "short_windows_cosine_min": float(cos[~full].min()) if (~full).any() else None,
    }


def bench_indexing(model, name: str, library: Path, lib_info: dict, tmp: Path) -> dict:
    ref_db, new_db = tmp / f"{name}-ref", tmp / f"{name}-new"
    ref = index_once(model, library, ref_db, reference=True)
    log.info("%s reference: %s", name, ref)
    new = index_once(model, library, new_db, reference=False)
    log.info("%s new path: %s", name, new)
    out = {
        "reference (fp32, padded windows, workers 2, default threads)": ref,
        "new (bucketed short windows, auto workers/threads, ONNX export)": new,
        "speedup": round(ref["wall_seconds"] / new["wall_seconds"], 2),
        "vectors_new_vs_reference": vector_drift(ref_db, new_db),
    }
    shutil.rmtree(ref_db, ignore_errors=True)
    return out


# ---- synthetic indexes -------------------------------------------------------------------
def make_synthetic_index(db: Path, n: int, model, per_file: int = 60, seed: int = 0) -> None:
    """An index of ``n`` clustered unit vectors (``per_file`` windows per file) recorded as
    ``model``'s (the offline model's spec and fingerprint)."""
    from audioseek.index.embedder import embed_rule, spec_id
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
            "precision": "fp32",
            "embed_rule": embed_rule(model),
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
    from audioseek.index.ann import ensure_ann

    with Store.open(db) as s:  # what an indexing run does at its end
        ensure_ann(s)


# peak RSS from VmHWM: ru_maxrss of a forked child starts at the (large) parent's
ONESHOT_CHILD = """
import json, sys
from audioseek.cli.main import main
rc = main(sys.argv[1:])
sys.stdout.flush()
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1]
print(json.dumps({"rc": rc, "torch_imported": "torch" in sys.modules,
    "peak_rss_mb": int(hwm) / 1024}), file=sys.stderr)
"""


def oneshot(db: Path, query: str) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    t = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", ONESHOT_CHILD, "search", query, "--db", str(db), "--json"],
        capture_output=True,
        text=True,
        env=env,
    )
    wall = time.perf_counter() - t
    info = json.loads(out.stderr.strip().splitlines()[-1])
    hits = json.loads(out.stdout.strip().splitlines()[-1])["results"] if info["rc"] == 0 else []
    return {"wall_s": wall, **info, "hits": [(h["file_id"], h["score"]) for h in hits]}


def bench_oneshot(model, tmp: Path, n: int, runs: int) -> dict:
    from audioseek.index.runner import export_text_onnx

    db = tmp / "oneshot"
    make_synthetic_index(db, n, model)
    t = time.perf_counter()
    exported = export_text_onnx(db, model) is not None
    export_s = time.perf_counter() - t
    torch_db = tmp / "oneshot-torch"
    shutil.copytree(db, torch_db, ignore=shutil.ignore_patterns("text_onnx"))
    la = load_avg()
    rows = {"onnx": [], "torch": []}
    for i in range(runs):
        q = QUERIES[i % len(QUERIES)]
        rows["onnx"].append(oneshot(db, q))
        rows["torch"].append(oneshot(torch_db, q))
    same = []
    for a, b in zip(rows["onnx"], rows["torch"], strict=True):
        ids_equal = [h[0] for h in a["hits"]] == [h[0] for h in b["hits"]]
        pairs = zip(a["hits"], b["hits"], strict=False)
        diff = max((abs(x[1] - y[1]) for x, y in pairs), default=None)
        same.append({"same_top10": ids_equal, "max_score_diff": diff})

    def summ(rs):
        return {
            "wall_s_median": statistics.median(r["wall_s"] for r in rs),
            "wall_s_min": min(r["wall_s"] for r in rs),
            "peak_rss_mb_median": statistics.median(r["peak_rss_mb"] for r in rs),
            "torch_imported": any(r["torch_imported"] for r in rs),
            "exit_codes": sorted({r["rc"] for r in rs}),
        }

    res = {
        "windows": n,
        "runs": runs,
        "onnx_exported": exported,
        "onnx_export_s": round(export_s, 2),
        "onnx (new)": summ(rows["onnx"]),
        "torch (reference)": summ(rows["torch"]),
        "results_equal": same,
        "load_average_before": la,
        "load_average_after": load_avg(),
    }
    shutil.rmtree(torch_db, ignore_errors=True)
    return res


def bench_server(model, tmp: Path, n: int, n_queries: int) -> dict:
    """``Index.search`` per query with the model loaded (the server's path) at ``n``
    synthetic windows, and with the ONNX text encoder (the model not loaded)."""
    from audioseek import Index

    db = tmp / "oneshot" if n == 10_000 and (tmp / "oneshot").exists() else tmp / f"syn-{n}"
    t0 = time.perf_counter()
    if not db.exists():
        from audioseek.index.runner import export_text_onnx

        make_synthetic_index(db, n, model)
        export_text_onnx(db, model)  # what Index.add leaves beside an index
    build_s = time.perf_counter() - t0
    queries = [f"{QUERIES[i % len(QUERIES)]} number {i}" for i in range(n_queries)]
    la = load_avg()
    out = {"windows": n, "build_s": round(build_s, 1), "load_average_before": la}
    for label, loaded in (("model loaded (torch text encoder)", True), ("onnx text", False)):
        if not loaded and not (db / "text_onnx").exists():
            continue
        with Index(db, model=model if loaded else None) as index:
            t = time.perf_counter()
            index.search(queries[0], k=10)  # warm-up: loads vectors / ANN
            warm = time.perf_counter() - t
            lat = []
            for q in queries:
                t = time.perf_counter()
                index.search(q, k=10)
                lat.append(time.perf_counter() - t)
            ann = index.snapshot().ann is not None
        out[label] = {
            "p50_ms": round(1000 * float(np.percentile(lat, 50)), 2),
            "p95_ms": round(1000 * float(np.percentile(lat, 95)), 2),
            "first_search_s": round(warm, 3),
            "ann": ann,
        }
    out["load_average_after"] = load_avg()
    out["peak_rss_mb"] = peak_rss_mb()
    if db.name.startswith("syn-"):
        shutil.rmtree(db, ignore_errors=True)
    return out


# ---- main --------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small library, 10k windows only")
    ap.add_argument("--sizes", type=int, nargs="+", default=None)
    ap.add_argument("--queries", type=int, default=None)
    ap.add_argument("--oneshot-runs", type=int, default=None)
    ap.add_argument("--skip-clap", action="store_true")
    ap.add_argument("--skip-indexing", action="store_true")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    import torch

    sizes = args.sizes or ([10_000] if args.quick else [10_000, 100_000, 1_000_000])
    n_queries = args.queries or (20 if args.quick else 50)
    runs = args.oneshot_runs or (2 if args.quick else 5)
    from audioseek.index.runner import auto_threads, auto_workers, cpu_count

    result: dict = {
        "benchmark": "bench_index",
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "quick": args.quick,
        "note": (
            "shared machine (see load_average): provisional numbers, not final. Targets "
            "(issue 12, idle 2-core machine): offline >= 150x and CLAP architecture >= 100x "
            "realtime, one-shot search <= 1.0 s, server p50 <= 25 ms at 1M windows."
        ),
        "machine": {
            "cpu_count": cpu_count(),
            "torch_default_threads": torch.get_num_threads(),
            "auto_workers": auto_workers(),
            "auto_threads": auto_threads(),
            "platform": platform.platform(),
            "processor": platform.processor(),
        },
        "load_average_start": load_avg(),
    }
    tmp = Path(tempfile.mkdtemp(prefix="bench_index_"))

    def save() -> None:  # after every section: a killed run keeps what it measured
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")

    try:
        model, which = offline_model()
        result["offline_model"] = which
        if not args.skip_indexing:
            library = tmp / "library"
            result["library"] = build_library(library, args.quick)
            log.info("library: %s", result["library"])
            result["indexing"] = {
                "offline": bench_indexing(model, "offline", library, result["library"], tmp)
            }
            save()
            if not args.skip_clap:
                clap, clap_which = clap_model(tmp)
                result["clap_model"] = clap_which
                result["indexing"]["clap"] = bench_indexing(
                    clap, "clap", library, result["library"], tmp
                )
                del clap
                save()
        result["oneshot_search"] = bench_oneshot(model, tmp, 10_000, runs)
        log.info("one-shot search: %s", result["oneshot_search"])
        save()
        result["server_latency"] = []
        for n in sizes:
            r = bench_server(model, tmp, n, n_queries)
            log.info("server latency at %d windows: %s", n, r)
            result["server_latency"].append(r)
            save()
        result["peak_rss_mb"] = peak_rss_mb()
    finally:
        result["load_average_end"] = load_avg()
        shutil.rmtree(tmp, ignore_errors=True)
        save()
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
