"""Shared helpers of the benchmark scripts: machine description, load average, results JSON,
a cleaned BLAS environment, real-audio libraries from Debian packages.

Not a library module: imported by the scripts in this folder (``python benchmarks/x.py`` puts
the folder on ``sys.path``)."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"
#: 1-minute load average above which the numbers are marked provisional
BUSY_LOAD = 1.5
BLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
_CLEANED_FLAG = "AUDIOSEEK_BENCH_BLAS_CLEANED"

SOUND_DIRS = (
    Path("/usr/share/sounds"),
    Path("/usr/share/sonic-pi/samples"),
    Path("/usr/share/hydrogen/data/drumkits"),
)
AUDIO_EXT = {".wav", ".flac", ".ogg", ".oga", ".mp3"}


def clean_blas_env() -> dict:
    """Re-exec this script without ``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE`` (both removed
    together) when either is set; returns what was removed (recorded in the JSON)."""
    if os.environ.get(_CLEANED_FLAG):
        return json.loads(os.environ[_CLEANED_FLAG])
    removed = {k: os.environ[k] for k in BLAS_VARS if k in os.environ}
    if not removed:
        return {}
    env = {k: v for k, v in os.environ.items() if k not in BLAS_VARS}
    env[_CLEANED_FLAG] = json.dumps(removed)
    os.execve(sys.executable, [sys.executable, *sys.argv], env)
    return removed  # pragma: no cover - execve does not return


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict:
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "mem_total_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
    }


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def write_result(
    name: str,
    result: dict,
    load_before: list[float],
    blas_removed: dict,
    quick: bool,
    out: Path | None = None,
) -> Path:
    """Write ``results/<name>.json`` with the machine, the load averages and the
    provisional flag (1-min load average > :data:`BUSY_LOAD` before the run: the machine was
    not idle when it started). The load after the run is recorded too, but it is mostly the
    benchmark's own work (a run that keeps both cores busy ends near 2-3) and says nothing
    of other jobs, so it does not make a result provisional."""
    after = load_average()
    provisional = load_before[0] > BUSY_LOAD
    doc = {
        "benchmark": name,
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "mode": "quick" if quick else "full",
        "command": " ".join(["python", *sys.argv]),
        "provisional": provisional,
        "load_average": {
            "before": load_before,
            "after": after,
            "after_note": "after = mostly this benchmark's own work",
        },
        "machine": machine(),
        "blas_env_removed": blas_removed
        or "none set (OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE absent from the environment)",
        **result,
    }
    if provisional:
        doc["note_load"] = (
            f"started while the machine was busy (1-min load {load_before[0]} before, on "
            f"{os.cpu_count()} cores): timings are provisional, not final"
        )
    path = out or RESULTS_DIR / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, default=float) + "\n")
    print(f"wrote {path}")
    return path


def sound_files(limit: int | None = None, dirs=SOUND_DIRS) -> list[Path]:
    """Real recordings shipped by Debian packages, sorted, at most ``limit``."""
    files = []
    for d in dirs:
        if d.is_dir():
            files += sorted(
                p for p in d.rglob("*") if p.suffix.lower() in AUDIO_EXT and p.is_file()
            )
    return files[:limit] if limit else files


def copy_library(files: list[Path], dest: Path) -> list[Path]:
    """Copy ``files`` into ``dest`` with unique flat names; returns the copies."""
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for i, f in enumerate(files):
        target = dest / f"{i:04d}_{f.name}"
        shutil.copy(f, target)
        out.append(target)
    return out


def audio_seconds(files: list[Path]) -> float:
    import soundfile as sf

    total = 0.0
    for f in files:
        with contextlib.suppress(Exception):  # not every package file is decodable by sf
            total += sf.info(str(f)).duration
    return total
