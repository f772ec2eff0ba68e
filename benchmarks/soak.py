"""Crash soak of ``audioseek index``: ``kill -9`` at random moments with library changes in
between, then the index must equal a clean index of the final library.

Issue 11. A library of real recordings (sonic-pi samples, Hydrogen drum kits) is indexed by
``audioseek index LIB --db DB --workers 1`` in a subprocess, which gets SIGKILL after a random
delay (uniform between 0 and the duration of an uninterrupted first run, measured first).
After every kill: ``PRAGMA integrity_check`` of the index must say ``ok``; then the library is
changed at random (a file added, modified, renamed or deleted). After the kills, one run
completes, and the result is compared with **the reference: a clean index of the final
library** built in one uninterrupted run: the same files (paths, hashes, complete), the same
windows (index, start, end) and bit-identical vectors.

The model is a tiny saved DualEncoder (``small_cnn`` audio tower, 1-layer BERT, random
weights, the recipe of ``tests/index/conftest.py``) so a run takes seconds, or
``--model offline`` (the bundled model).

Usage: ``python benchmarks/soak.py [--quick] [--kills N] [--model offline]``; writes
``benchmarks/results/soak.json``.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

NAME = "soak"
FULL_KILLS, QUICK_KILLS, SMOKE_KILLS = 20, 5, 2
FULL_FILES, QUICK_FILES, SMOKE_FILES = 40, 16, 6
POOL_DIRS = (Path("/usr/share/sonic-pi/samples"), Path("/usr/share/hydrogen/data/drumkits"))
WINDOW, HOP = 2.0, 1.0
CLI = [sys.executable, "-m", "audioseek.cli"]


def build_tiny_model(out_dir: Path, seed: int = 0) -> Path:
    """A real DualEncoder with random weights, saved (:mod:`audioseek.models.tiny`)."""
    from audioseek.models.tiny import save_tiny_dual_encoder

    return save_tiny_dual_encoder(out_dir, seed=seed)


def index_cmd(lib: Path, db: Path, model: str) -> list[str]:
    return [*CLI, "index", str(lib), "--db", str(db), "--model", model, "--workers", "1",
            "--window", str(WINDOW), "--hop", str(HOP), "-q"]  # fmt: skip


def run_index(lib: Path, db: Path, model: str) -> tuple[int, float, str]:
    t0 = time.perf_counter()
    p = subprocess.run(index_cmd(lib, db, model), capture_output=True, text=True)
    return p.returncode, time.perf_counter() - t0, p.stderr.strip()[-500:]


def probe_run(lib: Path, db: Path, model: str) -> tuple[float, float]:
    """An uninterrupted first run: ``(its duration, seconds until index.sqlite appeared)``."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        index_cmd(lib, db, model), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    created = None
    while proc.poll() is None:
        if created is None and (db / "index.sqlite").exists():
            created = time.perf_counter() - t0
        time.sleep(0.05)
    total = time.perf_counter() - t0
    if proc.returncode != 0:
        err = proc.stderr.read().decode(errors="replace")[-500:] if proc.stderr else ""
        raise SystemExit(f"the probe run failed ({proc.returncode}): {err}")
    return total, created if created is not None else 0.0


def integrity(db: Path) -> str:
    path = db / "index.sqlite"
    if not path.exists():
        return "absent"
    con = sqlite3.connect(path)
    try:
        return "; ".join(r[0] for r in con.execute("PRAGMA integrity_check").fetchall())
    except sqlite3.Error as e:
        return f"error: {e}"
    finally:
        con.close()


def snapshot(db: Path, lib: Path) -> dict:
    """``{relative path: (hash, complete, [(idx, start, end, vector bytes)...])}``."""
    con = sqlite3.connect(f"file:{db / 'index.sqlite'}?mode=ro", uri=True)
    try:
        files = con.execute("SELECT id, path, hash, complete FROM files").fetchall()
        out = {}
        for fid, path, h, complete in files:
            rows = con.execute(
                "SELECT idx, start_s, end_s, vector FROM windows WHERE file_id=? ORDER BY idx",
                (fid,),
            ).fetchall()
            out[os.path.relpath(path, lib)] = (h, complete, rows)
        return out
    finally:
        con.close()


def compare(a: dict, b: dict) -> dict:
    import numpy as np

    same_files = sorted(a) == sorted(b)
    diff = {"only_in_soaked": sorted(set(a) - set(b)), "only_in_clean": sorted(set(b) - set(a))}
    hash_mismatch, window_mismatch, vector_mismatch, max_abs = [], [], [], 0.0
    n_windows = 0
    for p in sorted(set(a) & set(b)):
        ha, ca, wa = a[p]
        hb, cb, wb = b[p]
        if (ha, ca) != (hb, cb):
            hash_mismatch.append(p)
        if [w[:3] for w in wa] != [w[:3] for w in wb]:
            window_mismatch.append(p)
            continue
        n_windows += len(wa)
        for x, y in zip(wa, wb, strict=True):
            if x[3] != y[3]:
                vector_mismatch.append(p)
                d = np.abs(
                    np.frombuffer(x[3], np.float16).astype(np.float32)
                    - np.frombuffer(y[3], np.float16).astype(np.float32)
                ).max()
                max_abs = max(max_abs, float(d))
                break
    return {
        "same_files": same_files,
        **diff,
        "files": len(b),
        "windows_compared": n_windows,
        "hash_or_complete_mismatch": hash_mismatch,
        "window_mismatch": window_mismatch,
        "vector_mismatch_files": vector_mismatch,
        "vectors_bit_identical": not vector_mismatch and not window_mismatch,
        "max_abs_vector_diff": max_abs,
        "identical": same_files
        and not hash_mismatch
        and not window_mismatch
        and not vector_mismatch,
    }


def change_library(lib: Path, pool: list[Path], rng: random.Random, counter: list[int]) -> dict:
    files = sorted(p for p in lib.iterdir() if p.is_file())
    ops = ["add", "modify", "rename", "delete"] if len(files) > 2 else ["add"]
    op = rng.choice(ops)
    counter[0] += 1
    if op == "add":
        src = rng.choice(pool)
        dst = lib / f"new{counter[0]:03d}_{src.name}"
        shutil.copy(src, dst)
        return {"op": op, "file": dst.name}
    target = rng.choice(files)
    if op == "modify":  # other audio under the same name (same format)
        same_ext = [p for p in pool if p.suffix == target.suffix] or pool
        shutil.copy(rng.choice(same_ext), target)
        os.utime(target, None)
        return {"op": op, "file": target.name}
    if op == "rename":
        dst = lib / f"ren{counter[0]:03d}_{target.name}"
        target.rename(dst)
        return {"op": op, "file": target.name, "to": dst.name}
    target.unlink()
    return {"op": op, "file": target.name}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help=f"{QUICK_KILLS} kills")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes (tests only)")
    ap.add_argument("--kills", type=int, default=None, help=f"default {FULL_KILLS}")
    ap.add_argument("--files", type=int, default=None, help=f"library size ({FULL_FILES})")
    ap.add_argument("--model", default=None, help="model spec (default: a tiny saved model)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    blas_removed = _common.clean_blas_env()
    load_before = _common.load_average()
    kills = args.kills or (SMOKE_KILLS if args.smoke else QUICK_KILLS if args.quick else FULL_KILLS)
    n_files = args.files or (
        SMOKE_FILES if args.smoke else QUICK_FILES if args.quick else FULL_FILES
    )
    rng = random.Random(args.seed)
    pool = _common.sound_files(dirs=POOL_DIRS)
    pool = [p for p in pool if p.suffix.lower() in (".flac", ".wav") and p.stat().st_size < 2e6]
    rng.shuffle(pool)
    if len(pool) < n_files + kills:
        raise SystemExit("not enough recordings under " + ", ".join(map(str, POOL_DIRS)))
    print(
        f"{kills} kills on a {n_files}-file library: expected ~{(kills + 3) * 0.5:.0f} min with "
        "the tiny model on an idle 2-core machine (each run pays the CLI start-up)",
        flush=True,
    )
    tmp = Path(tempfile.mkdtemp(prefix="soak_"))
    events = []
    try:
        model = args.model or str(build_tiny_model(tmp / "tiny_model"))
        lib, db = tmp / "lib", tmp / "db"
        _common.copy_library(pool[:n_files], lib)
        pool = pool[n_files:]
        # the duration of an uninterrupted first run sets the kill delays
        first_run_s, created_s = probe_run(lib, tmp / "db_probe", model)
        shutil.rmtree(tmp / "db_probe")
        counter = [0]
        for k in range(kills):
            # from just before the index file appears (start-up: imports, model load) to the
            # end of an uninterrupted run
            delay = rng.uniform(0.8 * created_s, first_run_s)
            t0 = time.perf_counter()
            proc = subprocess.Popen(
                index_cmd(lib, db, model), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            try:
                proc.wait(timeout=delay)
                outcome = f"finished before the kill (exit {proc.returncode})"
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                outcome = "killed"
            err = proc.stderr.read().decode(errors="replace").strip()[-300:] if proc.stderr else ""
            check = integrity(db)
            change = change_library(lib, pool, rng, counter)
            events.append(
                {
                    "kill": k + 1,
                    "delay_s": round(delay, 2),
                    "alive_s": round(time.perf_counter() - t0, 2),
                    "outcome": outcome,
                    "stderr_tail": err if outcome != "killed" and err else "",
                    "integrity_check": check,
                    "then_changed": change,
                }
            )
            print(events[-1], flush=True)
        rc_final, final_s, err_final = run_index(lib, db, model)
        final_check = integrity(db)
        rc_clean, clean_s, err_clean = run_index(lib, tmp / "db_clean", model)
        cmp = compare(snapshot(db, lib), snapshot(tmp / "db_clean", lib))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    ok_checks = sum(e["integrity_check"] in ("ok", "absent") for e in events)
    result = {
        "reference": "a clean index of the final library, one uninterrupted run, same model",
        "model": args.model or "tiny saved DualEncoder (small_cnn + 1-layer BERT, 16-d, 8 kHz)",
        "command": " ".join(["audioseek", *index_cmd(Path("LIB"), Path("DB"), "MODEL")[3:]]),
        "library": {"initial_files": n_files, "sources": [str(d) for d in POOL_DIRS]},
        "first_run_s": round(first_run_s, 2),
        "index_file_appeared_after_s": round(created_s, 2),
        "kill_delays": "uniform between 0.8 x the time the index file appeared and the "
        "duration of the uninterrupted first run",
        "kills": kills,
        "killed": sum(e["outcome"] == "killed" for e in events),
        "events": events,
        "integrity_ok_after_every_kill": ok_checks == len(events),
        "integrity_checks_ok": f"{ok_checks}/{len(events)}",
        "final_run": {"exit": rc_final, "seconds": round(final_s, 2), "stderr_tail": err_final},
        "final_integrity_check": final_check,
        "clean_run": {"exit": rc_clean, "seconds": round(clean_s, 2), "stderr_tail": err_clean},
        "comparison_with_clean_index": cmp,
        "passed": ok_checks == len(events)
        and rc_final == 0
        and final_check == "ok"
        and cmp["identical"],
    }
    _common.write_result(
        NAME, result, load_before, blas_removed, args.quick or args.smoke, out=args.out
    )
    return result


if __name__ == "__main__":
    main()
