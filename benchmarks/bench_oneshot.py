"""One-shot query encoding: a cold process that imports, loads a text encoder and encodes one
query, with the ONNX text encoder (onnxruntime + tokenizers, no torch) vs the torch path
(``load_model("offline")`` + ``encode_text``).

Each variant runs ``--runs`` times in fresh subprocesses, alternating; wall time is measured
by the parent around the whole child (interpreter start included), the child reports its own
phases and peak RSS (``ru_maxrss``). A bare ``python -c pass`` is the floor. The ONNX export
of the offline model's text side is made first (its time is reported too) and its vector is
compared with the torch one. Writes ``benchmarks/results/bench_oneshot.json``.

The machine is shared: ``load_average`` is recorded; the numbers are not final.

Usage: ``python benchmarks/bench_oneshot.py [--runs 5] [--query "a dog barking"]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "bench_oneshot.json"

CHILD = {
    "python_floor": "pass",
    "onnx": """
import json, resource, sys, time
t0 = time.perf_counter()
from audioseek.models.onnx_text import OnnxTextEncoder
t1 = time.perf_counter()
enc = OnnxTextEncoder(sys.argv[1])
t2 = time.perf_counter()
v = enc.encode_text([sys.argv[2]])
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "encode_s": t3 - t2,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "torch_imported": "torch" in sys.modules, "vector": v[0].tolist()}))
""",
    "torch": """
import json, resource, sys, time
t0 = time.perf_counter()
import torch
from audioseek.models.hub import load_model
t1 = time.perf_counter()
model = load_model("offline", device="cpu")
t2 = time.perf_counter()
with torch.inference_mode():
    v = model.encode_text([sys.argv[2]]).numpy()
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "encode_s": t3 - t2,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "torch_imported": True, "vector": v[0].tolist()}))
""",
}


def run_child(name: str, folder: str, query: str) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    t = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", CHILD[name], folder, query],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    wall = time.perf_counter() - t
    lines = out.stdout.strip().splitlines()
    res = json.loads(lines[-1]) if lines else {}
    res["wall_s"] = wall
    return res


def summary(rows: list[dict]) -> dict:
    out = {"runs": len(rows)}
    for key in ("wall_s", "import_s", "load_s", "encode_s", "peak_rss_mb"):
        vals = [r[key] for r in rows if key in r]
        if vals:
            out[key] = {"median": statistics.median(vals), "min": min(vals), "max": max(vals)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--query", default="a dog barking")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    import numpy as np

    la_start = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory() as tmp:
        folder = str(Path(tmp) / "onnx_text")
        t = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from audioseek.models.hub import load_model; "
                "from audioseek.models.onnx_text import export_text_encoder; "
                "export_text_encoder(load_model('offline', device='cpu'), sys.argv[1])",
                folder,
            ],
            check=True,
            capture_output=True,
        )
        export_s = time.perf_counter() - t
        size_mb = sum(f.stat().st_size for f in Path(folder).iterdir()) / 2**20
        rows: dict[str, list[dict]] = {k: [] for k in CHILD}
        for _ in range(args.runs):
            for name in CHILD:
                rows[name].append(run_child(name, folder, args.query))
    v_onnx = np.array(rows["onnx"][-1]["vector"], dtype=np.float32)
    v_torch = np.array(rows["torch"][-1]["vector"], dtype=np.float32)
    res = {
        "benchmark": "bench_oneshot",
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpu_count": os.cpu_count(),
        "query": args.query,
        "note": "cold processes, warm disk cache; shared machine (see load_average): not final",
        "load_average": {"start": la_start, "end": [round(x, 2) for x in os.getloadavg()]},
        "onnx_export_s": export_s,
        "onnx_folder_mb": size_mb,
        "onnx_imported_torch": any(r["torch_imported"] for r in rows["onnx"]),
        "onnx_vs_torch": {
            "max_abs_diff": float(np.abs(v_onnx - v_torch).max()),
            "cosine": float(v_onnx @ v_torch / np.linalg.norm(v_onnx) / np.linalg.norm(v_torch)),
        },
        "python_floor": summary(rows["python_floor"]),
        "onnx": summary(rows["onnx"]),
        "torch (reference)": summary(rows["torch"]),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
