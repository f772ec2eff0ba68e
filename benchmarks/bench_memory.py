"""Peak memory (RSS) against decoded duration: streaming must be flat (issue 11 item 1).

Long-silence FLACs (the soak's recipe: 10 h of silence is a few MB) of 1 min, 1 h and 10 h are
generated into a temporary folder; every *case* then runs once per file in a fresh Python
process, which reports its own peak RSS (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) and
its RSS after imports, before the work (``/proc/self/statm``), so the figures include
libsndfile, soxr and numpy. Cases:

* ``baseline``: imports only (what every other case pays before touching the file);
* ``stream_windows``: ``audioseek.audio.io.iter_windows`` over the whole file (10 s windows,
  5 s hop, 32 kHz), the streaming decode the indexer and the server use;
* ``full_decode`` (**the reference**): ``load_audio(path, 32000)`` of the whole file, how files
  were decoded before streaming. Skipped when its estimated peak (native + output float32
  arrays) exceeds ``--max-reference-gb`` (default 8 GB: the 10 h file, ~11 GB), and the JSON
  says so.

* ``index``: ``Index.add`` of the file into a fresh index (decode, windows, embedding,
  SQLite writes), what ``audioseek index`` does;
* ``upload_similar``: ``POST /api/similar`` with the file as an upload, through the real
  FastAPI app (spooled to disk, duration checked by streaming, window vectors by streaming).

``index`` and ``upload_similar`` use a tiny random-weight DualEncoder
(:mod:`audioseek.models.tiny`, 8 kHz, 16-d): what is measured is how memory grows with the
file's duration, not the model's own footprint (a bigger model adds a constant). Their
upload limit is raised above the longest file (the server's default refuses uploads over
600 s).

A case is a function ``(path: Path, params: dict) -> dict`` added with
:func:`register_case`, run inside the child process; its return value is stored beside the
memory figures. ``--cases`` selects cases by name.

The machine is shared: the JSON records ``os.getloadavg()`` before and after the run; peak RSS
does not depend on load, wall time does. Result: ``benchmarks/results/bench_memory.json``.
Usage: ``python benchmarks/bench_memory.py [--durations 60,3600,36000] [--cases ...]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("bench_memory")
RESULTS = Path(__file__).resolve().parent / "results" / "bench_memory.json"
NATIVE_SR = 44100
TARGET_SR = 32000
WINDOW_S, HOP_S = 10.0, 5.0
DEFAULT_DURATIONS = (60.0, 3600.0, 36000.0)

# name -> (function run in the child, estimated peak bytes (duration_s) -> int or None)
CASES: dict[str, tuple[Callable[[Path, dict], dict], Callable[[float], int] | None]] = {}


def register_case(name: str, estimate: Callable[[float], int] | None = None):
    """Decorator: add a case. ``estimate(duration_s)`` (bytes) lets the driver skip runs that
    would exceed ``--max-reference-gb``; leave it ``None`` for bounded-memory cases."""

    def deco(fn):
        CASES[name] = (fn, estimate)
        return fn

    return deco


@register_case("baseline")
def _baseline(path: Path, params: dict) -> dict:
    import audioseek.audio.io  # noqa: F401  (the imports every case pays)

    return {}


@register_case("stream_windows")
def _stream_windows(path: Path, params: dict) -> dict:
    from audioseek.audio.io import iter_windows

    n = windows = 0
    for _w, y in iter_windows(path, params["sr"], params["window_s"], params["hop_s"]):
        n += len(y)
        windows += 1
    return {"windows": windows, "window_samples_total": n}


def _full_decode_estimate(duration_s: float) -> int:
    # concatenated chunks + the concatenation (output rate), plus the resampler's input block
    return int(duration_s * TARGET_SR * 4 * 2)


@register_case("full_decode", estimate=_full_decode_estimate)
def _full_decode(path: Path, params: dict) -> dict:
    from audioseek.audio.io import load_audio

    y = load_audio(path, params["sr"])
    return {"samples": len(y)}


@register_case("index")
def _index(path: Path, params: dict) -> dict:
    """``Index.add`` of the one file into a fresh index (decode, windows, embedding, SQLite
    writes, ANN upkeep): ``audioseek index FILE`` without the command line."""
    import tempfile as _tempfile

    from audioseek import Index

    with _tempfile.TemporaryDirectory(prefix="bench_memory_index_") as tmp:
        db = Path(tmp) / "db"
        index = Index(db, model=params["model"], device="cpu")
        opts = {"window": params["window_s"], "hop": params["hop_s"], "workers": 0,
                "progress": False}  # fmt: skip
        index.add([params["warm_up_file"]], **opts)  # model loaded, index created
        start_work()
        summary = index.add([path], **opts)
        windows = index.info().windows
        index.close()
    return {"embedded_files": summary.embedded, "windows": windows}


@register_case("upload_similar")
def _upload_similar(path: Path, params: dict) -> dict:
    """``POST /api/similar`` with the file as a multipart upload, through the real app
    (upload spooled to disk, duration check by streaming, window vectors by streaming),
    against a prepared index of one short file (``params["db"]``)."""
    from fastapi.testclient import TestClient

    from audioseek import Index
    from audioseek.serve.app import ServeSettings, create_app

    settings = ServeSettings(max_upload_bytes=1 << 30, max_upload_seconds=params["max_seconds"],
                             upload_timeout_s=3600.0)  # fmt: skip
    service = Index(params["db"], model=params["model"], device="cpu")
    service.model  # noqa: B018  (loads the model: what follows is the work)
    app = create_app(service, settings=settings)
    with TestClient(app, base_url="http://localhost") as c, open(path, "rb") as f:
        assert c.get("/api/info").status_code == 200
        start_work()
        r = c.post("/api/similar", files={"file": (path.name, f, "audio/flac")},
                       params={"k": 3})  # fmt: skip
    if r.status_code != 200:
        raise RuntimeError(f"/api/similar answered {r.status_code}: {r.text[:200]}")
    return {"status": r.status_code, "hits": len(r.json()["hits"])}


def _prepare_tiny_index(tmp: Path, params: dict) -> None:
    """A tiny random-weight model and an index of one 10 s tone, for ``index`` and
    ``upload_similar`` (the model's quality does not matter to memory)."""
    import numpy as np
    import soundfile as sf

    from audioseek import Index
    from audioseek.models.tiny import save_tiny_dual_encoder

    params["model"] = str(save_tiny_dual_encoder(tmp / "tiny_model"))
    lib = tmp / "one"
    lib.mkdir()
    t = np.arange(10 * NATIVE_SR) / NATIVE_SR
    sf.write(lib / "tone.wav", (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), NATIVE_SR)
    params["warm_up_file"] = str(lib / "tone.wav")
    params["db"] = str(tmp / "db")
    index = Index(params["db"], model=params["model"], device="cpu")
    index.add([lib], window=params["window_s"], hop=params["hop_s"], workers=0, progress=False)
    index.close()


# --------------------------------------------------------------------------------------------
# child side


def _rss_now() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


_WORK_STARTED: dict = {}


def start_work() -> None:
    """Called by a case once its set-up (imports, model, app) is done: the peak is measured
    from here (Linux: ``/proc/self/clear_refs`` resets the high-water mark to the current
    RSS) and the RSS at this point is reported as ``rss_work_start_mb``."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:  # no reset possible: the peak then covers the set-up too
        _WORK_STARTED["reset"] = False
    else:
        _WORK_STARTED["reset"] = True
    _WORK_STARTED["rss"] = _rss_now()


def _peak_rss() -> int:
    """VmHWM (high-water mark since start or since :func:`start_work`), else ru_maxrss."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def _child(case: str, path: Path, params: dict) -> None:
    fn, _ = CASES[case]
    import numpy  # noqa: F401
    import soundfile  # noqa: F401
    import soxr  # noqa: F401

    import audioseek.audio.io  # noqa: F401

    before = _rss_now()
    w0, c0 = time.perf_counter(), time.process_time()
    extra = fn(path, params)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    peak = _peak_rss()
    if "rss" in _WORK_STARTED:
        extra["rss_work_start_bytes"] = _WORK_STARTED["rss"]
        extra["peak_reset_at_work_start"] = _WORK_STARTED["reset"]
    print(json.dumps({"rss_before_bytes": before, "peak_rss_bytes": peak, "wall_s": wall,
                      "cpu_s": cpu, **extra}))  # fmt: skip


# --------------------------------------------------------------------------------------------
# driver


def write_silence_flac(path: Path, seconds: float, sr: int = NATIVE_SR) -> Path:
    import numpy as np
    import soundfile as sf

    block = np.zeros(sr * 60, np.int16)
    with sf.SoundFile(path, "w", sr, 1, format="FLAC", subtype="PCM_16") as f:
        left = int(round(seconds * sr))
        while left > 0:
            f.write(block[: min(left, len(block))])
            left -= len(block)
    return path


def run_case(case: str, path: Path, params: dict) -> dict:
    cmd = [sys.executable, __file__, "--child", case, "--file", str(path),
           "--params", json.dumps(params)]  # fmt: skip
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        tail = out.stderr.strip().splitlines()[-1:] or ["?"]
        return {"error": f"exit {out.returncode}: {tail[0]}"}
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["process_wall_s"] = round(time.perf_counter() - t0, 2)
    res["peak_rss_mb"] = round(res["peak_rss_bytes"] / 2**20, 1)
    res["rss_before_mb"] = round(res["rss_before_bytes"] / 2**20, 1)
    if "rss_work_start_bytes" in res:
        res["rss_work_start_mb"] = round(res["rss_work_start_bytes"] / 2**20, 1)
    return res


def _label(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:g}h"
    return f"{seconds / 60:g}min" if seconds >= 60 else f"{seconds:g}s"


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--durations", default=",".join(f"{d:g}" for d in DEFAULT_DURATIONS),
                    help="comma-separated seconds of silence")  # fmt: skip
    ap.add_argument("--cases", default=",".join(CASES), help="comma-separated case names")
    ap.add_argument("--max-reference-gb", type=float, default=8.0)
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--params", default="{}", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        _child(args.child, args.file, json.loads(args.params))
        return {}
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    durations = [float(d) for d in args.durations.split(",") if d]
    cases = [c for c in args.cases.split(",") if c]
    unknown = sorted(set(cases) - set(CASES))
    if unknown:
        ap.error(f"unknown case(s) {unknown}; expected some of {sorted(CASES)}")
    params = {"sr": TARGET_SR, "window_s": WINDOW_S, "hop_s": HOP_S,
              "max_seconds": max(durations) + 60}  # fmt: skip
    load_before = os.getloadavg()
    results: dict = {}
    files: dict = {}
    skipped: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench_memory_") as tmp:
        if {"index", "upload_similar"} & set(cases):
            _prepare_tiny_index(Path(tmp), params)
        for d in durations:
            label = _label(d)
            t0 = time.perf_counter()
            path = write_silence_flac(Path(tmp) / f"silence_{label}.flac", d)
            files[label] = {"seconds": d, "bytes": path.stat().st_size,
                            "write_s": round(time.perf_counter() - t0, 1)}  # fmt: skip
            log.info("%s: %d bytes of FLAC", label, files[label]["bytes"])
            for case in cases:
                _, estimate = CASES[case]
                if estimate is not None and estimate(d) > args.max_reference_gb * 2**30:
                    why = (f"{case} {label}: skipped, estimated peak "
                           f"{estimate(d) / 2**30:.1f} GB > {args.max_reference_gb:g} GB")  # fmt: skip
                    log.info(why)
                    skipped.append(why)
                    results.setdefault(case, {})[label] = {"skipped": why}
                    continue
                res = run_case(case, path, params)
                log.info("%s %s: %s", case, label, res)
                results.setdefault(case, {})[label] = res
    flat = {}
    for case, by_dur in results.items():
        peaks = {k: v["peak_rss_mb"] for k, v in by_dur.items() if "peak_rss_mb" in v}
        if len(peaks) >= 2:
            first = next(iter(peaks.values()))
            flat[case] = {k: round(v / first, 3) for k, v in peaks.items()}
    out = {
        "benchmark": "bench_memory",
        "reference": "full_decode (load_audio of the whole file) in the same run",
        "what": "peak RSS of a fresh process per case and file (long-silence FLAC, mono 44.1 kHz,"
        " decoded to 32 kHz; windows 10 s / 5 s hop)",
        "files": files,
        "cases": results,
        "peak_relative_to_shortest": flat,
        "skipped": skipped,
        "target": "flat: the 10h peak within 1.2x of the 1min peak (issue 11)",
        "flat_within_1_2x": {
            case: max(rel.values()) <= 1.2 for case, rel in flat.items() if case != "full_decode"
        },
        "index_and_upload": "tiny random-weight DualEncoder (audioseek.models.tiny, 8 kHz, "
        "16-d); peak measured from rss_work_start (model loaded, index open: VmHWM reset); "
        "upload limit raised above the longest file",
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "note": "machine shared with other agents (2 cores): wall/cpu times are not final;"
        " peak RSS does not depend on load",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    log.info("wrote %s", args.out)
    return out


if __name__ == "__main__":
    main()
