"""Baseline training speed with and without the feature cache, on the same data, same run.

Both modes train the same baseline model (frozen pretrained aisfx CNN + frozen MiniLM, the
offline wheels; only the projection heads and the temperature train) on the same synthetic
clips with the same batch size. The raw-audio path (decode -> frozen encoders -> heads, with
on-the-fly SpecAugment and text augmentation) is the reference; the feature-cache path trains
the heads from precomputed encoder outputs. Each mode runs in its own process so peak RSS is
per mode. Writes benchmarks/results/bench_training.json.

    .venv/bin/python benchmarks/bench_training.py [--steps 40] [--clips 96] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "smoke" / "aisfx_minilm_cached.yaml"


def _overrides(args, cached: bool) -> list[str]:
    return [
        f"data.synthetic.n_clips={args.clips}",
        "data.synthetic.val_fraction=0.25",
        f"data.batch_size={args.batch_size}",
        f"feature_cache.enabled={'true' if cached else 'false'}",
        "feature_cache.audio_views=2",
        "feature_cache.text_views=2",
        "augment.text_prob=0.2",
        "augment.spec_augment=true",
        "logging.loggers=[]",
    ]


def run_mode(args) -> dict:
    """One mode in this process: build, fill the cache if any, time training steps."""
    import lightning as L
    import torch

    from audioseek.train.config import load_config
    from audioseek.train.run import build_training

    torch.set_num_threads(args.threads)
    cached = args.mode == "cached"
    cfg = load_config(CONFIG, _overrides(args, cached))
    work = Path(args.work)
    L.seed_everything(cfg.seed, verbose=False)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    t0 = time.perf_counter()
    model, module, dm, _ = build_training(cfg, device, work)
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    dm.setup("fit")  # synthetic data (shared, written once) + cache fill in cached mode
    setup_s = time.perf_counter() - t0

    times: list[float] = []

    class Clock(L.Callback):
        def on_train_batch_end(self, *a, **k):
            times.append(time.perf_counter())

    trainer = L.Trainer(
        accelerator="gpu" if device.type == "cuda" else "cpu",
        devices=1,
        max_steps=args.steps + args.warmup,
        max_epochs=-1,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[Clock()],
        precision="16-mixed" if device.type == "cuda" else "32-true",
    )
    trainer.fit(module, datamodule=dm)
    timed = times[args.warmup :]
    steps_per_s = (len(timed) - 1) / (timed[-1] - timed[0])
    out = {
        "mode": args.mode,
        "steps_timed": len(timed) - 1,
        "steps_per_s": steps_per_s,
        "s_per_step": 1.0 / steps_per_s,
        "build_model_s": build_s,
        "setup_s": setup_s,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "torch_max_allocated_mib": (
            torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None
        ),
        "train_clips": dm.train_feats["audio"].shape[0] if cached else dm.sizes[0],
    }
    if cached:
        out["cache_shapes"] = {k: list(v.shape) for k, v in dm.train_feats.items()}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=40, help="timed training steps per mode")
    p.add_argument("--warmup", type=int, default=3, help="untimed first steps")
    p.add_argument("--clips", type=int, default=96)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (both modes)")
    p.add_argument("--mode", choices=["raw", "cached"], default=None, help=argparse.SUPPRESS)
    p.add_argument("--work", default=None, help=argparse.SUPPRESS)
    p.add_argument("--out", default=str(ROOT / "benchmarks/results/bench_training.json"))
    args = p.parse_args()
    if args.mode is not None:
        print(json.dumps(run_mode(args)))
        return
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    results = {}
    with tempfile.TemporaryDirectory() as work:
        for mode in ("cached", "raw"):
            cmd = [sys.executable, __file__, "--mode", mode, "--work", work]
            for k in ("steps", "warmup", "clips", "batch_size", "threads"):
                cmd += [f"--{k.replace('_', '-')}", str(getattr(args, k))]
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if proc.returncode != 0:
                sys.exit(f"{mode} run failed:\n{proc.stderr[-3000:]}")
            results[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
    raw, cached = results["raw"], results["cached"]
    report = {
        "benchmark": "bench_training",
        "what": "baseline (frozen aisfx + MiniLM, heads train) steps/s, feature cache vs raw audio",
        "reference": "raw: decode + frozen encoders + heads each step (same data, same run)",
        "config": str(CONFIG.relative_to(ROOT)),
        "settings": vars(args) | {"mode": None, "work": None},
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "loadavg_at_end": os.getloadavg(),
        },
        "raw": raw,
        "cached": cached,
        "speedup_steps_per_s": cached["steps_per_s"] / raw["steps_per_s"],
        # cache fill time is paid once; after this many steps the cache path is ahead
        "break_even_steps": (cached["setup_s"] - raw["setup_s"])
        / max(raw["s_per_step"] - cached["s_per_step"], 1e-9),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: report[k] for k in ("speedup_steps_per_s", "break_even_steps")}))


if __name__ == "__main__":
    main()
