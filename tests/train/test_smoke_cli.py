"""CPU smoke run through the real CLI on synthetic data: it trains, checkpoints, the loss
falls, resuming from the last checkpoint gives exactly the weights of an uninterrupted run,
and the exported model loads with DualEncoder.from_pretrained."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "configs/smoke/aisfx_minilm_finetune.yaml"


def _train(out: Path, data: Path, *extra: str) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "audioseek.cli",
        "train",
        "--config",
        str(CONFIG),
        "--out",
        str(out),
        "--device",
        "cpu",
        "--set",
        f"data.synthetic.root={data}",
        "--set",
        "data.synthetic.n_clips=24",
        "--set",
        "data.batch_size=6",
        *extra,
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _train_losses(run: Path) -> list[float]:
    with open(run / "logs" / "metrics.csv") as f:
        return [float(r["train/loss"]) for r in csv.DictReader(f) if r.get("train/loss")]


def _weights(ckpt: Path) -> dict[str, torch.Tensor]:
    return torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]


@pytest.mark.slow
def test_cli_trains_checkpoints_resumes_exactly(tmp_path):
    data = tmp_path / "data"
    full = _train(tmp_path / "full", data, "--set", "trainer.max_epochs=2")
    assert Path(full["last_ckpt"]).is_file() and Path(full["best_ckpt"]).is_file()
    losses = _train_losses(tmp_path / "full")
    assert len(losses) == 6  # 18 training clips / batch 6 = 3 steps x 2 epochs
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3  # the loss falls

    _train(tmp_path / "split", data, "--set", "trainer.max_epochs=1")
    resumed = _train(tmp_path / "split", data, "--set", "trainer.max_epochs=2", "--resume", "last")
    a, b = _weights(Path(full["last_ckpt"])), _weights(Path(resumed["last_ckpt"]))
    assert a.keys() == b.keys()
    trained = [k for k in a if k.startswith(("model.audio_head", "model.audio_encoder.backbone"))]
    assert trained
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6, msg=k)
    assert json.loads(json.dumps(full["metrics"])) == pytest.approx(resumed["metrics"], abs=1e-5)

    from audioseek.models.dual_encoder import DualEncoder

    model = DualEncoder.from_pretrained(full["model_dir"])
    emb = model.encode_text(["a short beep"])
    assert emb.shape == (1, model.embed_dim)
    assert torch.linalg.vector_norm(emb, dim=-1).item() == pytest.approx(1.0, abs=1e-5)


@pytest.mark.slow  # a subprocess
def test_cli_reports_bad_config_in_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim:\n  lrr: 0.1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "audioseek.cli", "train", "--config", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0
    assert "optim.lrr" in proc.stderr and "bad.yaml" in proc.stderr


@pytest.mark.parametrize("sub", ["", "sub"])
def test_out_is_a_file_is_one_line_error(tmp_path, capsys, sub):
    from audioseek.cli import main

    blocker = tmp_path / "afile"
    blocker.write_text("keep me")
    out = blocker / sub if sub else blocker
    assert main(["train", "--config", str(CONFIG), "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: cannot create run folder") and repr(str(out)) in err
    assert "\n" not in err and blocker.read_text() == "keep me"
