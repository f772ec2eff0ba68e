"""``run_training``: config -> trained, exported DualEncoder.

Steps: read + validate the config (with ``--set`` overrides), seed everything, build the
model through :func:`audioseek.models.factory.build_model`, apply the freezing policy
(printing trainable parameter counts per group), build the training-only augmentations and
hand each part its own section: the LightningModule gets the model, the parameter groups,
``optim`` and the ``audio_augment`` module; the DataModule gets ``data`` (and
``feature_cache``); the Trainer is built from ``trainer`` (strategy, devices, num_nodes,
sync_batchnorm for several devices). Fit with Lightning (checkpoints: best by validation
text->audio mAP@10, and last; exact resume), then export the best weights with
``DualEncoder.save_pretrained(out_dir / "model")``: the model never held the augmentation.

Several processes (``trainer.strategy: ddp``): every rank runs this function (Lightning's
launcher re-runs the whole command in each rank). Global rank 0 alone writes the export
and ``metrics.json``; then every rank waits at the strategy's barrier, so no rank returns
(and no caller reads ``model_dir``) before the export is complete. :class:`TrainResult`
says which rank a process is (``global_rank``, ``is_global_zero``), so callers can leave
rank-0-only work (evaluation, reports) to rank 0 without knowing Lightning.
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
    global_rank: int = 0  # this process's rank among the training's processes
    world_size: int = 1  # how many processes trained (DDP: one per device and node)

    @property
    def is_global_zero(self) -> bool:
        """True in the process that wrote the export (the only one with several ranks)."""
        return self.global_rank == 0


def process_rank() -> int:
    """This process's global rank: the training strategy's once a training ran in this
    process, else the one its launcher set (torchrun ``RANK``, SLURM ``SLURM_PROCID``,
    ``LOCAL_RANK`` of the processes Lightning re-launches); 0 for a single process."""
    from lightning.pytorch.utilities import rank_zero_only

    return int(getattr(rank_zero_only, "rank", 0) or 0)


def default_out_dir(cfg) -> Path:
    name = Path(cfg.source).stem if cfg.source else "run"
    return Path("runs") / name


def _wandb_available() -> bool:
    try:
        import wandb  # noqa: F401
    except ImportError:
        return False
    return True


def _loggers(cfg, out_dir: Path):
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    name = cfg.logging.run_name or out_dir.name
    kinds = list(cfg.logging.loggers)
    if "wandb" in kinds and not _wandb_available():
        fallback = [k for k in kinds if k != "wandb"] or ["csv"]
        log.warning(
            "logging.loggers asks for 'wandb' but the package 'wandb' is not installed "
            "(pip install 'audioseek[wandb]'); logging to %s instead",
            " + ".join(fallback),
        )
        kinds = fallback
    out = []
    for kind in kinds:
        if kind == "csv":
            out.append(CSVLogger(out_dir, name="logs", version=""))
        elif kind == "tensorboard":
            out.append(TensorBoardLogger(out_dir, name="tensorboard", version=""))
        elif kind == "wandb":
            from lightning.pytorch.loggers import WandbLogger

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


def build_audio_augment(cfg):
    """The training-only feature augmentation (``augment.spec_augment``), or None."""
    if not cfg.augment.spec_augment:
        return None
    from audioseek.audio.augment import SpectrogramAugment

    try:
        return SpectrogramAugment(**cfg.augment.spec_params)
    except TypeError as e:
        raise ConfigError(f"bad augment.spec_params {cfg.augment.spec_params!r}: {e}") from None


def build_text_augmenter(cfg):
    """The caption augmenter (``augment.text_prob`` > 0), or None."""
    if cfg.augment.text_prob <= 0:
        return None
    from audioseek.text.augment import TextAugmenter
    from audioseek.train.config import aug_seed

    a = cfg.augment
    return TextAugmenter(
        prob=a.text_prob,
        misspell=a.misspell,
        synonyms=a.synonyms,
        hypernyms=a.hypernyms,
        seed=aug_seed(cfg),
    )


def build_training(cfg, device, work_dir: Path):
    """(model, module, datamodule, param groups) for a validated config."""
    from audioseek.models.factory import build_model
    from audioseek.train.config import aug_seed
    from audioseek.train.freezing import apply_freezing, log_trainable
    from audioseek.train.module import RetrievalModule

    model = build_model(cfg.model)
    groups = apply_freezing(model, cfg.freeze, cfg.optim.lr)
    log_trainable(model, groups)
    audio_augment = build_audio_augment(cfg)
    text_augmenter = build_text_augmenter(cfg)
    tokenizer = model.text_encoder.tokenize  # what encode_text uses at inference
    seeds = {"seed": cfg.seed, "aug_seed": aug_seed(cfg)}
    if cfg.feature_cache.enabled:
        from audioseek.train.feature_cache import FeatureCacheDataModule

        a = cfg.augment
        dm = FeatureCacheDataModule(
            cfg.data,
            cfg.feature_cache,
            model,
            tokenizer,
            model.sample_rate,
            model.clip_seconds,
            work_dir,
            text_augmenter=text_augmenter if cfg.feature_cache.text_views else None,
            audio_augment=audio_augment,
            augment_key={
                "spec_params": a.spec_params if cfg.feature_cache.audio_views else None,
                "text_aug": [a.misspell, a.synonyms, a.hypernyms]
                if cfg.feature_cache.text_views
                else None,
            },
            text_prob=a.text_prob,
            device=device,
            **seeds,
        )
        # the cached audio views already hold the augmentation: the module must not add it
        module_augment = None
    else:
        from audioseek.train.datamodule import RetrievalDataModule

        dm = RetrievalDataModule(
            cfg.data,
            tokenizer,
            model.sample_rate,
            model.clip_seconds,
            work_dir,
            text_augmenter,
            **seeds,
        )
        module_augment = audio_augment
    module = RetrievalModule(
        model,
        groups,
        cfg.optim,
        audio_augment=module_augment,
        val_batch_size=cfg.data.batch_size,
        captions_per_epoch=cfg.data.captions_per_epoch,
        seed=cfg.seed,
    )
    return model, module, dm, groups


def build_trainer(cfg, out: Path, dev, callbacks, loggers):
    """The Lightning Trainer of the ``trainer`` section (``dev``: the command's --device,
    used when the section names no accelerator)."""
    import lightning as L

    t = cfg.trainer
    accelerator, devices = _accelerator(dev)
    if t.accelerator is not None:
        accelerator = t.accelerator
        devices = "auto"
    if t.devices is not None:
        devices = t.devices
    precision = t.precision
    if precision == "auto":
        gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and dev.type == "cuda")
        precision = "16-mixed" if gpu else "32-true"
    extra = {}
    for key in ("val_check_interval", "limit_train_batches", "limit_val_batches"):
        if getattr(t, key) is not None:
            extra[key] = getattr(t, key)
    return L.Trainer(
        default_root_dir=out,
        accelerator=accelerator,
        devices=devices,
        strategy=t.strategy,
        num_nodes=t.num_nodes,
        sync_batchnorm=t.sync_batchnorm,
        # the data modules shard by rank themselves (resumable, unpadded validation)
        use_distributed_sampler=False,
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


def run_training(config, out_dir=None, overrides=(), device="auto", resume=None) -> TrainResult:
    """Train from ``config`` (YAML path, mapping or TrainConfig) and export the best model."""
    import lightning as L
    import torch
    import yaml
    from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint

    from audioseek.eval.report import write_text
    from audioseek.train.config import load_config
    from audioseek.train.module import MONITOR
    from audioseek.utils.device import resolve_device
    from audioseek.utils.paths import make_dir

    cfg = load_config(config, overrides)
    out = make_dir(out_dir if out_dir is not None else default_out_dir(cfg), "run folder")
    # atomic (temp file + rename): every DDP rank writes it, and a kill mid-write must not
    # leave a torn config beside the checkpoints a --resume reads
    write_text(out / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False))
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
    trainer = build_trainer(cfg, out, dev, callbacks, loggers)
    trainer.fit(module, datamodule=dm, ckpt_path=resume_path)

    last = ckpt_dir / "last.ckpt"
    # e.g. stopped by max_steps before any validation; rank 0 decides for every rank (saving
    # is collective)
    if not trainer.strategy.broadcast(last.is_file()):
        trainer.save_checkpoint(last)
    best = Path(checkpoint.best_model_path) if checkpoint.best_model_path else None
    state = torch.load(best or last, map_location="cpu", weights_only=False)["state_dict"]
    module.load_state_dict(state)
    metrics = {
        k: float(v) for k, v in trainer.validate(module, datamodule=dm, verbose=False)[0].items()
    }
    model = module.model.cpu().eval()
    model_dir = out / "model"
    if trainer.is_global_zero:
        _export(model, model_dir, heads_only=cfg.freeze.policy == "baseline")
        write_text(out / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True))
        log.info("exported %s; validation %s", model_dir, metrics)
    # no rank returns before rank 0's export is complete (a caller may read model_dir next)
    trainer.strategy.barrier("audioseek-export")
    return TrainResult(
        model_dir=model_dir,
        best_ckpt=best,
        last_ckpt=last,
        metrics=metrics,
        global_rank=int(trainer.global_rank),
        world_size=int(trainer.world_size),
    )


def _export(model, path: Path, heads_only: bool) -> None:
    import inspect

    params = inspect.signature(model.save_pretrained).parameters
    if "heads_only" in params:
        model.save_pretrained(path, heads_only=heads_only)
    else:
        model.save_pretrained(path)
