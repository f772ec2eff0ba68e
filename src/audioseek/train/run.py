"""``run_training``: config -> trained, exported DualEncoder.

Steps: read + validate the config (with ``--set`` overrides), seed everything, build the
model through :func:`audioseek.models.factory.build_model`, apply the freezing policy
(printing trainable parameter counts per group), install the training-only augmentations,
pick the raw-audio or feature-cache data module, fit with Lightning (checkpoints: best by
validation text->audio mAP@10, and last; exact resume), then export the best weights with
``DualEncoder.save_pretrained(out_dir / "model")``.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from audioseek.errors import ConfigError, ModelLoadError

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    model_dir: Path  # the save_pretrained directory of the best model
    best_ckpt: Path | None
    last_ckpt: Path | None
    metrics: dict = field(default_factory=dict)  # validation metrics of the best model


def default_out_dir(cfg) -> Path:
    name = Path(cfg.source).stem if cfg.source else "run"
    return Path("runs") / name


def _loggers(cfg, out_dir: Path):
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger, WandbLogger

    name = cfg.logging.run_name or out_dir.name
    out = []
    for kind in cfg.logging.loggers:
        if kind == "csv":
            out.append(CSVLogger(out_dir, name="logs", version=""))
        elif kind == "tensorboard":
            out.append(TensorBoardLogger(out_dir, name="tensorboard", version=""))
        elif kind == "wandb":
            os.environ.setdefault("WANDB_MODE", "offline")  # never reach the service
            out.append(
                WandbLogger(
                    project=cfg.logging.wandb_project,
                    name=name,
                    save_dir=str(out_dir),
                    offline=True,
                    config=cfg.to_dict(),
                )
            )
    return out


def _accelerator(device) -> tuple[str, object]:
    if device.type == "cuda":
        return "gpu", [device.index or 0]
    if device.type == "mps":
        return "mps", 1
    return "cpu", 1


def _resolve_resume(resume, ckpt_dir: Path) -> str | None:
    if resume is None:
        return None
    path = ckpt_dir / "last.ckpt" if resume == "last" else Path(resume)
    if not path.is_file():
        raise ModelLoadError(f"checkpoint to resume from {str(path)!r} does not exist")
    return str(path)


def build_training(cfg, device, work_dir: Path):
    """(model, module, datamodule, param groups) for a validated config."""
    from audioseek.models.factory import build_model
    from audioseek.train.config import model_config
    from audioseek.train.freezing import apply_freezing, log_trainable
    from audioseek.train.module import RetrievalModule

    model = build_model(model_config(cfg))
    groups = apply_freezing(model, cfg.freeze, cfg.optim.lr)
    log_trainable(model, groups)
    aug_seed = cfg.augment.seed if cfg.augment.seed is not None else cfg.seed
    if cfg.augment.spec_augment:
        from audioseek.audio.augment import SpectrogramAugment

        try:
            model.audio_encoder.augment = SpectrogramAugment(**cfg.augment.spec_params)
        except TypeError as e:
            raise ConfigError(f"bad augment.spec_params {cfg.augment.spec_params!r}: {e}") from None
    text_augmenter = None
    if cfg.augment.text_prob > 0:
        from audioseek.text.augment import TextAugmenter

        text_augmenter = TextAugmenter(
            prob=cfg.augment.text_prob,
            misspell=cfg.augment.misspell,
            synonyms=cfg.augment.synonyms,
            hypernyms=cfg.augment.hypernyms,
            seed=aug_seed,
        )
    tokenizer = model.text_encoder.tokenize  # what encode_text uses at inference
    if cfg.feature_cache.enabled:
        from audioseek.train.feature_cache import FeatureCacheDataModule

        dm = FeatureCacheDataModule(
            cfg,
            model,
            tokenizer,
            model.sample_rate,
            model.clip_seconds,
            work_dir,
            text_augmenter=text_augmenter if cfg.feature_cache.text_views else None,
            device=device,
        )
    else:
        from audioseek.train.datamodule import RetrievalDataModule

        dm = RetrievalDataModule(
            cfg, tokenizer, model.sample_rate, model.clip_seconds, work_dir, text_augmenter
        )
    module = RetrievalModule(model, cfg, groups)
    return model, module, dm, groups


def run_training(config, out_dir=None, overrides=(), device="auto", resume=None) -> TrainResult:
    """Train from ``config`` (YAML path, mapping or TrainConfig) and export the best model."""
    import lightning as L
    import torch
    import yaml
    from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint

    from audioseek.train.config import load_config
    from audioseek.train.module import MONITOR
    from audioseek.utils.device import resolve_device
    from audioseek.utils.paths import make_dir

    cfg = load_config(config, overrides)
    out = make_dir(out_dir if out_dir is not None else default_out_dir(cfg), "run folder")
    (out / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    ckpt_dir = out / "checkpoints"
    resume_path = _resolve_resume(resume, ckpt_dir)
    dev = resolve_device(device)

    if cfg.trainer.num_threads is not None:
        torch.set_num_threads(cfg.trainer.num_threads)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    model, module, dm, _ = build_training(cfg, dev, out)

    t = cfg.trainer
    checkpoint = ModelCheckpoint(
        dirpath=ckpt_dir,
        filename="best-epoch{epoch}-step{step}",
        auto_insert_metric_name=False,
        monitor=MONITOR,
        mode="max",
        save_top_k=1,
        save_last=True,
    )
    callbacks = [checkpoint]
    if t.checkpoint_every_n_steps:
        callbacks.append(
            ModelCheckpoint(
                dirpath=ckpt_dir,
                filename="step{step}",
                auto_insert_metric_name=False,
                every_n_train_steps=t.checkpoint_every_n_steps,
                save_top_k=1,  # no monitor: keeps the latest
                save_last=True,
            )
        )
    if t.early_stopping_patience is not None:
        callbacks.append(EarlyStopping(MONITOR, mode="max", patience=t.early_stopping_patience))
    loggers = _loggers(cfg, out)
    if loggers:
        callbacks.append(LearningRateMonitor(logging_interval="step"))
    precision = t.precision
    if precision == "auto":
        precision = "16-mixed" if dev.type == "cuda" else "32-true"
    accelerator, devices = _accelerator(dev)
    extra = {}
    for key in ("val_check_interval", "limit_train_batches", "limit_val_batches"):
        if getattr(t, key) is not None:
            extra[key] = getattr(t, key)
    trainer = L.Trainer(
        default_root_dir=out,
        accelerator=accelerator,
        devices=devices,
        precision=precision,
        max_epochs=t.max_epochs,
        max_steps=t.max_steps,
        accumulate_grad_batches=t.accumulate_grad_batches,
        gradient_clip_val=t.gradient_clip_val,
        check_val_every_n_epoch=t.check_val_every_n_epoch,
        log_every_n_steps=t.log_every_n_steps,
        num_sanity_val_steps=t.num_sanity_val_steps,
        deterministic=t.deterministic,
        logger=loggers or False,
        callbacks=callbacks,
        enable_progress_bar=t.progress_bar,
        enable_model_summary=False,
        **extra,
    )
    trainer.fit(module, datamodule=dm, ckpt_path=resume_path)

    last = ckpt_dir / "last.ckpt"
    if not last.is_file():  # e.g. stopped by max_steps before any validation
        trainer.save_checkpoint(last)
    best = Path(checkpoint.best_model_path) if checkpoint.best_model_path else None
    state = torch.load(best or last, map_location="cpu", weights_only=False)["state_dict"]
    module.load_state_dict(state)
    metrics = {
        k: float(v) for k, v in trainer.validate(module, datamodule=dm, verbose=False)[0].items()
    }
    model = module.model.cpu().eval()
    model.audio_encoder.augment = torch.nn.Identity()  # training-only; not part of the export
    model_dir = out / "model"
    _export(model, model_dir, heads_only=cfg.freeze.policy == "baseline")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
    log.info("exported %s; validation %s", model_dir, metrics)
    return TrainResult(model_dir=model_dir, best_ckpt=best, last_ckpt=last, metrics=metrics)


def _export(model, path: Path, heads_only: bool) -> None:
    import inspect

    params = inspect.signature(model.save_pretrained).parameters
    if "heads_only" in params:
        model.save_pretrained(path, heads_only=heads_only)
    else:
        model.save_pretrained(path)
