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


@pytest.mark.slow
def test_bench_memory_index_and_upload_cases(tmp_path):
    """bench_memory's ``index`` and ``upload_similar`` cases run (short files) and report a
    peak measured from the end of their set-up."""
    out = tmp_path / "memory.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH / "bench_memory.py"), "--durations", "5,30",
         "--cases", "index,upload_similar", "--out", str(out)],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(out.read_text())
    for case in ("index", "upload_similar"):
        for label in ("5s", "30s"):
            res = doc["cases"][case][label]
            assert "error" not in res, res
            assert res["peak_reset_at_work_start"] is True
            assert res["peak_rss_mb"] >= res["rss_work_start_mb"] > res["rss_before_mb"]
    assert doc["cases"]["index"]["30s"]["windows"] > doc["cases"]["index"]["5s"]["windows"]
    assert doc["cases"]["upload_similar"]["30s"]["hits"] >= 1
    assert set(doc["flat_within_1_2x"]) == {"index", "upload_similar"}
