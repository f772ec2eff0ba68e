"""HTTP API benchmark: requests/s and latency of ``GET /api/search`` under N concurrent
clients on loopback, against a real ``audioseek serve`` process started by this script.

What runs, all in one invocation:

1. a generated library (``--files`` x 30 s WAV) is indexed with the default offline-capable
   model: the bundled offline model if it is built (``load_model("offline")``), else the
   aisfx + MiniLM DualEncoder with random heads saved to a temporary folder (the JSON says
   which; the cost of a query is the text encoder's either way);
2. ``python -m audioseek.cli serve --db ... --port ...`` is started as a subprocess, and the
   script waits for ``/healthz``;
3. for each concurrency level, ``--requests`` searches with varied queries are sent by that
   many httpx clients (bounded: fixed request count and ``--time-cap`` seconds per level);
4. references measured in the same run: ``GET /healthz`` at the same concurrency (the HTTP
   floor: no model, no index); ``Index.search`` called in-process for the same queries
   on a searcher thread set up like the server's (the search itself, no HTTP); and a second
   server with torch's default intra-op threads (one per core) instead of the server's
   default of 1 (``AUDIOSEEK_SERVE_THREADS``), at concurrency 1.

Result: ``benchmarks/results/bench_serve.json``. Usage:
``python benchmarks/bench_serve.py [--concurrency 1 4 16] [--requests 200] [--files 12]``.
On a shared 2-core machine the absolute numbers move with the neighbours' load; the
ratios to the references measured in the same run are the stable part.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_index import make_library  # the same generated library of 30 s WAV files

log = logging.getLogger("bench_serve")
RESULTS = Path(__file__).resolve().parent / "results" / "bench_serve.json"

QUERIES = [
    "rain on a tin roof",
    "a dog barking in the distance",
    "church bells ringing",
    "a car engine starting",
    "birds singing in the morning",
    "footsteps on gravel",
    "a door slams shut",
    "people talking in a busy cafe",
    "thunder rumbling",
    "a high pitched whistle",
    "waves crashing on the beach",
    "an old clock ticking",
    "wind blowing through trees",
    "a baby crying",
    "applause from a large crowd",
    "water dripping from a tap",
]


def model_spec(tmp: Path) -> tuple[str, str]:
    """(spec for ``--model``, description) of the default offline-capable model."""
    from audioseek.errors import ModelLoadError
    from audioseek.models.hub import load_model

    try:
        load_model("offline", device="cpu")
        return "offline", "offline (bundled model, load_model('offline'))"
    except ModelLoadError as e:
        from audioseek.models.factory import build_model

        model = build_model({"audio_encoder": "aisfx", "text_encoder": "minilm", "embed_dim": 512})
        model.eval()
        out = tmp / "aisfx-minilm"
        model.save_pretrained(out, heads_only=True)  # encoders reload from their wheels
        return str(out), f"aisfx+minilm DualEncoder with random heads (offline model missing: {e})"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    db: Path, port: int, device: str, log_path: Path, threads: int | None = None
) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "audioseek.cli", "serve", "--db", str(db)]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--device", device]
    env = dict(os.environ)
    if threads is not None:
        env["AUDIOSEEK_SERVE_THREADS"] = str(threads)
    with open(log_path, "ab") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float, log_path: Path) -> float:
    import httpx

    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode}): {log_path.read_text()[-2000:]}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return time.perf_counter() - t0
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server not healthy after {timeout} s")


def stats(latencies: list[float], elapsed: float, errors: int, concurrency: int) -> dict:
    lat = np.array(latencies) * 1000 if latencies else np.array([np.nan])
    return {
        "concurrency": concurrency,
        "requests_ok": len(latencies),
        "errors": errors,
        "elapsed_s": round(elapsed, 3),
        "requests_per_s": round(len(latencies) / elapsed, 2) if elapsed > 0 else None,
        "p50_ms": round(float(np.percentile(lat, 50)), 2),
        "p95_ms": round(float(np.percentile(lat, 95)), 2),
        "max_ms": round(float(np.max(lat)), 2),
    }


async def load(url: str, path: str, concurrency: int, n_requests: int, time_cap: float) -> dict:
    """``n_requests`` GETs shared by ``concurrency`` clients; stops early at ``time_cap``."""
    import httpx

    latencies: list[float] = []
    server: list[tuple[float, float]] = []  # (queue, searcher) ms from Server-Timing
    errors = 0
    next_i = 0
    t_end = time.perf_counter() + time_cap
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def client_loop(client: httpx.AsyncClient):
        nonlocal next_i, errors
        while next_i < n_requests and time.perf_counter() < t_end:
            i = next_i
            next_i += 1
            params = {"q": QUERIES[i % len(QUERIES)], "k": 10} if path == "/api/search" else None
            t0 = time.perf_counter()
            try:
                r = await client.get(url + path, params=params)
                ok = r.status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok:
                latencies.append(time.perf_counter() - t0)
                timing = dict(re.findall(r"(\w+);dur=([\d.]+)", r.headers.get("server-timing", "")))
                if timing:
                    server.append((float(timing["queue"]), float(timing["searcher"])))
            else:
                errors += 1

    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    out = stats(latencies, elapsed, errors, concurrency)
    if server:
        queue, run = np.array(server).T
        out["server_queue_p50_ms"] = round(float(np.percentile(queue, 50)), 2)
        out["server_searcher_p50_ms"] = round(float(np.percentile(run, 50)), 2)
        out["server_searcher_p95_ms"] = round(float(np.percentile(run, 95)), 2)
    return out


def in_process(db: Path, device: str, n: int) -> dict:
    """Reference: the server's own compute path without HTTP: ``Index.search`` for the
    same queries, one at a time, on a ``ServiceWorker`` thread set up like the server's."""
    from audioseek.serve.app import ServiceWorker, open_service, serve_threads

    threads = serve_threads()
    worker = ServiceWorker(factory=lambda: open_service(db, None, device, threads))
    worker.run(lambda s: s.search([QUERIES[0]], k=10))  # build the matrix
    lat = []
    t_all = time.perf_counter()
    for i in range(n):
        q = QUERIES[i % len(QUERIES)]
        t0 = time.perf_counter()
        worker.run(lambda s, q=q: s.search([q], k=10))
        lat.append(time.perf_counter() - t0)
    out = stats(lat, time.perf_counter() - t_all, 0, 1)
    out["torch_threads"] = threads
    worker.close()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    p.add_argument("--requests", type=int, default=200, help="requests per concurrency level")
    p.add_argument("--time-cap", type=float, default=60.0, help="seconds per level at most")
    p.add_argument("--files", type=int, default=12, help="30 s files in the generated library")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    tmp = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    proc = None
    try:
        spec, model_desc = model_spec(tmp)
        log.info("model: %s", model_desc)
        make_library(tmp / "library", 30 * args.files, sr=32000)  # args.files x 30 s WAV
        from audioseek.index.indexer import index_paths

        t0 = time.perf_counter()
        summary = index_paths(
            [tmp / "library"], tmp / "db", model=spec, device=args.device, progress=False
        )
        index_s = time.perf_counter() - t0
        log.info("indexed %d files in %.1f s", args.files, index_s)

        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server_log = tmp / "server.log"
        t0 = time.perf_counter()
        proc = start_server(tmp / "db", port, args.device, server_log)
        startup_s = wait_healthy(url, proc, 300, server_log)
        log.info("server up in %.1f s at %s", startup_s, url)
        asyncio.run(load(url, "/api/search", 2, 10, 30))  # warm-up (first-request costs)

        levels, floor = [], []
        for c in args.concurrency:
            search = asyncio.run(load(url, "/api/search", c, args.requests, args.time_cap))
            health = asyncio.run(load(url, "/healthz", c, args.requests, args.time_cap))
            log.info(
                "c=%d search %.1f req/s p95 %.1f ms | healthz %.1f req/s p95 %.1f ms",
                c,
                search["requests_per_s"],
                search["p95_ms"],
                health["requests_per_s"],
                health["p95_ms"],
            )
            levels.append(search)
            floor.append(health)
        direct = in_process(tmp / "db", args.device, min(args.requests, 100))
        log.info("in-process Index.search p95 %.1f ms", direct["p95_ms"])

        import httpx

        info = httpx.get(url + "/api/info", timeout=10).json()  # what was served
        stop_server(proc)

        # reference: the same server with torch's default intra-op threads (one per core)
        default_threads = os.cpu_count() or 1
        port2 = free_port()
        url2 = f"http://127.0.0.1:{port2}"
        proc = start_server(tmp / "db", port2, args.device, server_log, threads=default_threads)
        wait_healthy(url2, proc, 300, server_log)
        asyncio.run(load(url2, "/api/search", 2, 10, 30))
        default_c1 = asyncio.run(load(url2, "/api/search", 1, args.requests, args.time_cap))
        default_c1["torch_threads"] = default_threads
        log.info(
            "torch default threads (%d): c=1 search %.1f req/s p95 %.1f ms",
            default_threads,
            default_c1["requests_per_s"],
            default_c1["p95_ms"],
        )
        result = {
            "benchmark": "bench_serve",
            "endpoint": "GET /api/search?q=...&k=10",
            "machine": {
                "platform": platform.platform(),
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "note": "shared machine: absolute numbers move with other load",
            },
            # 1/5/15-minute load averages at the end of the run: other agents share the
            # machine, so these are not final numbers
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "model": model_desc,
            "device": args.device,
            "index": {
                "files": info.get("files"),
                "windows": info.get("windows"),
                "audio_hours": info.get("audio_hours"),
                "index_seconds": round(index_s, 2),
                "windows_embedded": summary.windows_embedded,
            },
            "server_startup_s": round(startup_s, 2),
            "server_torch_threads": direct["torch_threads"],
            "requests_per_level": args.requests,
            "time_cap_s": args.time_cap,
            "search": levels,
            "reference": {
                "healthz_same_concurrency": floor,
                "in_process_search": direct,
                "search_c1_torch_default_threads": default_c1,
            },
            "http_overhead_p50_ms_at_c1": round(levels[0]["p50_ms"] - direct["p50_ms"], 2)
            if levels and args.concurrency[0] == 1
            else None,
            "notes": "search latency = server queue (waiting for the one searcher thread) + "
            "searcher (text encoding + ranking) + HTTP/JSON and client time; the server "
            "reports the first two in a Server-Timing header (server_*_ms fields)",
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        log.info("wrote %s", args.out)
        return 0
    finally:
        if proc is not None and proc.poll() is None:
            stop_server(proc)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
