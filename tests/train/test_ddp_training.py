"""Distributed training on CPU: two processes (``strategy: ddp``, gloo) through the real CLI.

- Two ranks with batch 4 each train on exactly the global batches of one process with
  batch 8 (the sampler shards each global batch; the loss scores the gathered batch; DDP
  averages the gradients): with frozen encoders (baseline policy, so no BatchNorm batch
  statistics, which CPU DDP cannot synchronise) the validation mAP@10 and loss are the
  single-process numbers up to float summation order. Stated tolerance: 1e-4 absolute on
  mAP@10 and 1e-4 relative on the loss (measured: equal to all printed digits).
- Validation runs over the whole validation set: each rank embeds a shard, the shards are
  gathered and the metrics computed once, so both ranks log the same numbers.
- The feature cache is built once (rank 0; the other rank waits at a barrier and reads it)
  and a run resumed from a mid-epoch checkpoint ends with exactly the weights of an
  uninterrupted run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "configs/smoke/small_cnn_minilm.yaml"
DDP = ("trainer.strategy=ddp", "trainer.accelerator=cpu", "trainer.devices=2")
COMMON = (
    "model.audio_encoder_args={sample_rate: 16000, clip_seconds: 1.0, channels: [4, 8]}",
    "data.clip_seconds=1.0",
    "data.synthetic.duration=1.0",
    "freeze.policy=baseline",  # frozen encoders: BatchNorm in eval mode on every rank
    "augment.spec_augment=false",  # per-rank random masks would differ from one process
    "augment.text_prob=0",
    "trainer.num_threads=1",
)


def _train(out: Path, data: Path, *sets: str, resume: str | None = None):
    cmd = [sys.executable, "-m", "audioseek.cli", "-v", "train", "--config", str(CONFIG)]
    cmd += ["--out", str(out), "--device", "cpu"]
    for s in (f"data.synthetic.root={data}", *COMMON, *sets):
        cmd += ["--set", s]
    if resume:
        cmd += ["--resume", resume]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.pop("MASTER_PORT", None)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{")]
    return results, proc.stderr


@pytest.mark.slow
def test_two_ddp_processes_reach_the_single_process_validation_numbers(tmp_path):
    data = tmp_path / "data"
    (single,), _ = _train(tmp_path / "single", data, "data.batch_size=8")
    ranks, _ = _train(tmp_path / "ddp", data, "data.batch_size=4", *DDP)
    assert len(ranks) == 2  # each process reports; validation gathered: the same numbers
    assert ranks[0]["metrics"] == ranks[1]["metrics"]
    got, want = ranks[0]["metrics"], single["metrics"]
    assert got["val/t2a_map10"] == pytest.approx(want["val/t2a_map10"], abs=1e-4)
    assert got["val/loss"] == pytest.approx(want["val/loss"], rel=1e-4)
    assert Path(ranks[0]["best_ckpt"]).name == Path(single["best_ckpt"]).name  # same epoch


@pytest.mark.slow
def test_ddp_feature_cache_is_built_once_and_mid_epoch_resume_is_exact(tmp_path):
    data, cache = tmp_path / "data", tmp_path / "cache"
    sets = (
        *DDP,
        "feature_cache.enabled=true",
        f"feature_cache.dir={cache}",
        "data.synthetic.n_clips=24",  # 18 training clips: 9 per rank, 3 batches of 3
        "data.batch_size=3",
        "optim.scheduler=none",
        "trainer.max_epochs=-1",
        "trainer.checkpoint_every_n_steps=1",
    )
    (full, _), log = _train(tmp_path / "full", data, *sets, "trainer.max_steps=4")
    assert log.count("feature cache: built") == 2  # train + val, by one process only
    assert sorted(p.name.split("-")[0] for p in cache.iterdir()) == ["train", "val"]  # no tmp

    _, log = _train(tmp_path / "split", data, *sets, "trainer.max_steps=2")  # mid-epoch 0
    assert log.count("feature cache: built") == 0  # reused
    (resumed, _), _ = _train(tmp_path / "split", data, *sets, "trainer.max_steps=4", resume="last")
    a = torch.load(full["last_ckpt"], map_location="cpu", weights_only=False)
    b = torch.load(resumed["last_ckpt"], map_location="cpu", weights_only=False)
    assert a["global_step"] == b["global_step"] == 4
    for k in a["state_dict"]:
        torch.testing.assert_close(a["state_dict"][k], b["state_dict"][k], rtol=0, atol=0, msg=k)
