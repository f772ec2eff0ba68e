"""run_training pieces that need no training: loggers, resume paths, device/precision."""

from __future__ import annotations

import os

import pytest

from audioseek.errors import ConfigError, ModelLoadError
from audioseek.train.config import load_config
from audioseek.train.run import _loggers, _resolve_resume, default_out_dir


def test_csv_tensorboard_and_offline_wandb_loggers(tmp_path, monkeypatch):
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger, WandbLogger

    monkeypatch.delenv("WANDB_MODE", raising=False)
    cfg = load_config({"logging": {"loggers": ["csv", "tensorboard", "wandb"]}})
    loggers = _loggers(cfg, tmp_path)
    assert [type(lg) for lg in loggers] == [CSVLogger, TensorBoardLogger, WandbLogger]
    assert loggers[2]._offline  # never talks to the W&B service
    assert os.environ["WANDB_MODE"] == "offline"
    with pytest.raises(ConfigError, match="'mlflow'"):
        load_config({"logging": {"loggers": ["mlflow"]}})


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
    path.write_text("seed: 1\n")
    assert default_out_dir(load_config(path)).as_posix() == "runs/my_run"
