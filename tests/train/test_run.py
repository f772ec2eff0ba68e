"""run_training pieces that need no training: loggers, resume paths, device/precision."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from audioseek.errors import ConfigError, ModelLoadError
from audioseek.train.config import load_config
from audioseek.train.run import _loggers, _resolve_resume, default_out_dir

ROOT = Path(__file__).resolve().parents[2]

MODEL = {"model": {"audio_encoder": "small_cnn", "text_encoder": "minilm"}}


@pytest.mark.slow  # importing wandb takes seconds
def test_csv_tensorboard_and_offline_wandb_loggers(tmp_path, monkeypatch):
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger, WandbLogger

    monkeypatch.delenv("WANDB_MODE", raising=False)
    cfg = load_config({**MODEL, "logging": {"loggers": ["csv", "tensorboard", "wandb"]}})
    loggers = _loggers(cfg, tmp_path)
    assert [type(lg) for lg in loggers] == [CSVLogger, TensorBoardLogger, WandbLogger]
    assert loggers[2]._offline  # never talks to the W&B service
    assert os.environ["WANDB_MODE"] == "offline"
    with pytest.raises(ConfigError, match="'mlflow'"):
        load_config({**MODEL, "logging": {"loggers": ["mlflow"]}})


def test_missing_wandb_falls_back_to_csv_with_one_warning(tmp_path, monkeypatch, caplog):
    """The paper configs ask for wandb, an optional extra: without it the run logs to CSV
    (or the other loggers listed) and says so once, naming the package."""
    import sys

    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    monkeypatch.setitem(sys.modules, "wandb", None)  # `import wandb` raises ImportError
    cfg = load_config({**MODEL, "logging": {"loggers": ["wandb"]}})
    with caplog.at_level("WARNING"):
        loggers = _loggers(cfg, tmp_path)
    assert [type(lg) for lg in loggers] == [CSVLogger]
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "'wandb' is not installed" in warnings[0]
    caplog.clear()
    cfg = load_config({**MODEL, "logging": {"loggers": ["csv", "wandb", "tensorboard"]}})
    with caplog.at_level("WARNING"):
        loggers = _loggers(cfg, tmp_path)
    assert [type(lg) for lg in loggers] == [CSVLogger, TensorBoardLogger]
    assert sum(r.levelname == "WARNING" for r in caplog.records) == 1


def test_resume_paths(tmp_path):
    assert _resolve_resume(None, tmp_path) is None
    with pytest.raises(ModelLoadError, match="last.ckpt"):
        _resolve_resume("last", tmp_path)
    (tmp_path / "last.ckpt").write_bytes(b"x")
    assert _resolve_resume("last", tmp_path) == str(tmp_path / "last.ckpt")
    with pytest.raises(ModelLoadError, match="nope.ckpt"):
        _resolve_resume(str(tmp_path / "nope.ckpt"), tmp_path)


def test_default_out_dir_is_named_after_the_config(tmp_path):
    path = tmp_path / "my_run.yaml"
    path.write_text("seed: 1\nmodel: {audio_encoder: small_cnn, text_encoder: minilm}\n")
    assert default_out_dir(load_config(path)).as_posix() == "runs/my_run"


TINY = (
    "model.audio_encoder=small_cnn",
    "model.audio_encoder_args={sample_rate: 16000, clip_seconds: 1.0, channels: [4, 8]}",
    "model.text_encoder=minilm",
    "model.text_encoder_args={max_length: 30}",
    "model.embed_dim=16",
    "data.source=synthetic",
    "data.clip_seconds=1.0",
    "data.num_workers=0",
    "data.synthetic.n_clips=12",
    "data.synthetic.duration=1.0",
    "data.batch_size=4",
    "trainer.max_epochs=1",
    "trainer.num_threads=1",
    "trainer.progress_bar=false",
    "logging.loggers=[csv]",
)


@pytest.mark.slow
def test_paper_config_runs_with_tiny_encoder_overrides(tmp_path):
    """What the experiment grid does: a paper config, tiny encoders swapped in by --set."""
    from pathlib import Path

    from audioseek.models.dual_encoder import DualEncoder
    from audioseek.train.run import run_training

    root = Path(__file__).resolve().parents[2]
    result = run_training(
        root / "configs/paper/cnn14_finetune.yaml",
        out_dir=tmp_path / "run",
        overrides=(*TINY, "freeze.audio_groups=all", "freeze.layerwise_decay=0.3"),
        device="cpu",
    )
    assert result.best_ckpt is not None and result.best_ckpt.is_file()
    assert 0.0 <= result.metrics["val/t2a_map10"] <= 1.0
    assert (tmp_path / "run" / "logs" / "metrics.csv").is_file()
    model = DualEncoder.from_pretrained(result.model_dir)  # finetune: full export
    assert model.encode_text(["a bell"]).shape == (1, 16)


@pytest.mark.slow
def test_all_captions_per_epoch_trains_on_every_pair(tmp_path):
    """captions_per_epoch: all makes an epoch one pass over every (clip, caption) pair."""
    import csv

    from audioseek.data.manifest import load_manifest
    from audioseek.data.sources import synthetic_manifest
    from audioseek.train.run import run_training

    overrides = (*TINY, "freeze.policy=finetune", "data.captions_per_epoch=all")
    result = run_training(
        ROOT / "configs/smoke/small_cnn_minilm.yaml",
        out_dir=tmp_path / "run",
        overrides=(*overrides, f"data.synthetic.root={tmp_path / 'data'}"),
        device="cpu",
    )
    cfg = load_config(ROOT / "configs/smoke/small_cnn_minilm.yaml", overrides)
    s = cfg.data.synthetic
    manifest = synthetic_manifest(
        tmp_path / "data",
        n_clips=s.n_clips,
        val_fraction=s.val_fraction,
        sample_rate=s.sample_rate,
        duration=s.duration,
        seed=s.seed,
    )
    pairs = sum(len(it["captions"]) for it in load_manifest(manifest, split="train"))
    with open(tmp_path / "run" / "logs" / "metrics.csv") as f:
        steps = [r for r in csv.DictReader(f) if r.get("train/loss")]
    assert pairs > len(load_manifest(manifest, split="train"))  # several captions per clip
    assert len(steps) == pairs // cfg.data.batch_size  # one epoch = every pair once
    assert result.metrics["val/loss"] > 0


def test_a_failed_write_of_the_run_config_leaves_the_previous_one_whole(tmp_path, monkeypatch):
    # every DDP rank writes config.yaml, and a kill or a full disk can stop any write: the
    # run folder keeps the previous config (a --resume reads the folder), and no temp file
    import audioseek.eval.report as report
    from audioseek.train.run import run_training

    out = tmp_path / "run"
    out.mkdir()
    before = "seed: 0\n# written by an earlier start of this run\n"
    (out / "config.yaml").write_text(before)

    def disk_full(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(report.os, "replace", disk_full)
    config = tmp_path / "c.yaml"
    config.write_text("model: {audio_encoder: small_cnn, text_encoder: minilm}\n")
    with pytest.raises(ConfigError, match=r"config\.yaml.*No space left on device") as e:
        run_training(config, out_dir=out, device="cpu")
    assert "\n" not in str(e.value)
    assert (out / "config.yaml").read_text() == before
    assert sorted(p.name for p in out.iterdir()) == ["config.yaml"]


def test_json_that_cannot_be_encoded_leaves_no_temp_file(tmp_path):
    from audioseek.eval.report import write_json

    (tmp_path / "r.json").write_text('{"old": 1}\n')
    with pytest.raises(TypeError):
        write_json(tmp_path / "r.json", {"x": object()})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]
    assert (tmp_path / "r.json").read_text() == '{"old": 1}\n'
