"""Smoke tests of the benchmark scripts: each runs end to end in ``--smoke`` mode (tiny
sizes) and writes a result JSON with the keys the notes rely on. No timing is checked."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
COMMON_KEYS = {"benchmark", "provisional", "load_average", "machine", "reference", "mode"}

CASES = {
    "bench_distributed.py": (
        [Path("/usr/share/sonic-pi/samples")],
        {"runs", "ray_init_s", "overhead_1_worker", "speedup_2_vs_1_workers"},
    ),
    "bench_ann_scale.py": ([], {"sizes", "incremental_upkeep", "projection"}),
    "bench_hybrid.py": (
        [Path("/usr/share/sonic-pi/samples")],
        {"metrics", "opaque_names", "fts_upkeep"},
    ),
    "soak.py": (
        [Path("/usr/share/sonic-pi/samples")],
        {"events", "comparison_with_clean_index", "integrity_ok_after_every_kill"},
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(CASES))
def test_benchmark_smoke_writes_its_json(script, tmp_path):
    needs, keys = CASES[script]
    if any(not p.is_dir() for p in needs):
        pytest.skip(f"needs {needs}")
    if script == "bench_distributed.py":
        pytest.importorskip("ray")
    out = tmp_path / "result.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH / script), "--quick", "--smoke", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(out.read_text())
    assert COMMON_KEYS | keys <= set(doc)
    assert doc["mode"] == "quick"
    assert len(doc["load_average"]["before"]) == 3
    assert doc["machine"]["nproc"] >= 1
