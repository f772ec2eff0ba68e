"""Typed training configuration.

The dataclasses below are the schema; YAML files in ``configs/`` hold values only. Unknown
keys, wrong types and bad values raise :class:`ConfigError` naming the key and the file.
``--set a.b=c`` overrides are applied to the YAML mapping before validation; ``c`` is parsed
as YAML (``--set optim.lr=1e-3``, ``--set logging.loggers=[csv,tensorboard]``).

The ``model`` section is :class:`audioseek.models.factory.ModelConfig`: the same dataclass
the model factory reads, checked here once (keys, types, then ``ModelConfig.validate``).

Why not jsonargparse / LightningCLI: see "Training configuration" in docs/architecture.md.
In short, the schema is these dataclasses either way; the ~60 lines of checking below give
one-line errors naming the dotted key and the file (the CLI's error contract), ``--set``
overrides parsed as YAML, and no import-time cost.
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from audioseek.errors import ConfigError
from audioseek.models.factory import ModelConfig
from audioseek.train.freezing import FreezeConfig

SECTIONS = (
    "seed",
    "model",
    "data",
    "augment",
    "freeze",
    "optim",
    "trainer",
    "feature_cache",
    "logging",
)
DataSource = Literal["clotho", "audiocaps", "manifest", "synthetic"]
CaptionsPerEpoch = Literal["one", "all"]


@dataclass
class SyntheticConfig:
    """Procedural captioned clips (audioseek.data.synthetic) for smoke runs and tests."""

    root: str | None = None  # folder to write the clips to (default: <run>/synthetic)
    n_clips: int = 96
    val_fraction: float = 0.25  # held-out clips (the "val" split)
    sample_rate: int = 16000
    duration: float = 2.0
    seed: int = 0


@dataclass
class DataConfig:
    source: DataSource = "synthetic"
    # dataset folder (clotho/audiocaps) or manifest file (manifest; val_manifest for
    # validation); unused by source "synthetic" (see synthetic.root)
    root: str | None = None
    val_manifest: str | None = None
    # None: the source's default splits (audioseek.data.sources.default_splits)
    train_split: str | None = None
    val_split: str | None = None
    clotho_version: Literal["v1", "v2.1"] = "v2.1"
    clotho_view: Literal["official", "paper"] = "official"
    # one: an epoch is one random caption per clip; all: every (clip, caption) pair once,
    # captions of one clip never negatives of each other in a batch
    captions_per_epoch: CaptionsPerEpoch = "one"
    # centre pad / crop every clip to this many seconds (paper: 40); None: the model's own
    clip_seconds: float | None = None
    max_length: int = 30  # tokens per caption (paper: 30)
    batch_size: int = 32
    eval_batch_size: int | None = None
    num_workers: int = 0
    max_train_clips: int | None = None  # use only the first N clips (quick runs)
    max_val_clips: int | None = None
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)


@dataclass
class AugmentConfig:
    """Training-path augmentation; evaluation never augments."""

    spec_augment: bool = True  # SpecAugment masks + time stretch on the audio features
    spec_params: dict = field(default_factory=dict)  # kwargs of audio.augment.SpectrogramAugment
    text_prob: float = 0.2  # fraction of each batch's captions augmented (paper: 20%)
    misspell: bool = True
    synonyms: bool = True
    hypernyms: bool = True
    seed: int | None = None  # None: the run's seed


@dataclass
class OptimConfig:
    lr: float = 1e-4
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    # symmetric: CLIP's two-way InfoNCE; one_directional: the paper's equation (1)
    loss: Literal["symmetric", "one_directional"] = "symmetric"
    # several devices: negatives come from every rank's batch (gathered with gradients);
    # local_loss: each rank scores only its own queries against the gathered keys (open_clip)
    local_loss: bool = False
    # plateau: ReduceLROnPlateau on validation loss (paper); cosine: linear warmup + cosine
    scheduler: Literal["plateau", "cosine", "none"] = "plateau"
    plateau_factor: float = 0.1
    plateau_patience: int = 2
    warmup_steps: int = 0
    min_lr: float = 0.0


@dataclass
class TrainerConfig:
    # None: from the --device of the command (cpu / gpu / mps, one device)
    accelerator: str | None = None
    devices: int | str | list[int] | None = None
    strategy: str = "auto"  # e.g. ddp (one process per device), ddp_spawn, auto
    num_nodes: int = 1
    sync_batchnorm: bool = False  # BatchNorm statistics over the global batch (DDP)
    max_epochs: int = 10
    max_steps: int = -1
    accumulate_grad_batches: int = 1
    gradient_clip_val: float | None = 1.0
    precision: str = "auto"  # auto: 16-mixed on CUDA, 32-true otherwise
    val_check_interval: float | int | None = None
    check_val_every_n_epoch: int = 1
    early_stopping_patience: int | None = 5  # epochs without val mAP@10 gain; None: off
    log_every_n_steps: int = 10
    limit_train_batches: float | int | None = None
    limit_val_batches: float | int | None = None
    num_sanity_val_steps: int = 0
    checkpoint_every_n_steps: int | None = None  # also save last.ckpt every N steps (mid-epoch)
    deterministic: bool = False
    progress_bar: bool = True
    # torch intra-op CPU threads (None: torch's default). Tiny models train faster with 1:
    # thread synchronisation costs more than the arithmetic, badly so on a shared machine.
    num_threads: int | None = None


@dataclass
class FeatureCacheConfig:
    """Train the heads from precomputed frozen-encoder outputs (baseline policy only)."""

    enabled: bool = False
    dir: str | None = None  # default: <run>/feature_cache
    audio_views: int = 0  # extra SpecAugment views per clip
    text_views: int = 0  # extra TextAugmenter paraphrases per caption
    batch_size: int = 16  # clips per encoder forward pass while filling the cache
    dtype: Literal["float32", "float16"] = "float32"


@dataclass
class LoggingConfig:
    loggers: list[str] = field(default_factory=lambda: ["csv"])  # csv, tensorboard, wandb
    wandb_project: str = "audioseek"
    run_name: str | None = None


LOGGERS = ("csv", "tensorboard", "wandb")


@dataclass
class TrainConfig:
    seed: int = 0
    model: ModelConfig | None = None  # required; None only until validated
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    freeze: FreezeConfig = field(default_factory=FreezeConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    feature_cache: FeatureCacheConfig = field(default_factory=FeatureCacheConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    source: str | None = None  # file the config came from (not a YAML key)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d.pop("source")
        return d


# ---------------------------------------------------------------------------------------
# validation


def _type_ok(value: Any, tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if tp is Any:
        return True
    if origin is Literal:
        return value in typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, a) for a in typing.get_args(tp))
    if tp is type(None):
        return value is None
    if origin is list:
        (inner,) = typing.get_args(tp) or (Any,)
        return isinstance(value, list) and all(_type_ok(v, inner) for v in value)
    if tp is list:
        return isinstance(value, list)
    if tp is dict or origin is dict:
        return isinstance(value, dict)
    if tp is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(tp, type):
        return isinstance(value, tp)
    return True


def _dataclass_of(tp: Any):
    """``tp`` if it is a dataclass, or the dataclass of ``X | None``; else None."""
    if dataclasses.is_dataclass(tp):
        return tp
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        found = [a for a in typing.get_args(tp) if dataclasses.is_dataclass(a)]
        return found[0] if len(found) == 1 else None
    return None


def _coerce(value: Any, tp: Any) -> Any:
    # YAML reads "1e-4" as a string (YAML 1.1); accept it where a float is expected
    if isinstance(value, str) and _type_ok(1.0, tp) and not _type_ok(value, tp):
        try:
            return float(value)
        except ValueError:
            return value
    if isinstance(value, int) and not isinstance(value, bool) and tp is float:
        return float(value)
    return value


def from_dict(cls, data: Any, where: str, file: str | None):
    """Build dataclass ``cls`` from a mapping; errors name the dotted key and the file."""
    src = f" in {file!r}" if file else ""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"config section {where or 'top level'!r}{src} must be a mapping")
    hints = typing.get_type_hints(cls)
    names = {
        f.name for f in dataclasses.fields(cls) if not (cls is TrainConfig and f.name == "source")
    }
    kwargs = {}
    for key, value in data.items():
        dotted = f"{where}.{key}" if where else str(key)
        if key not in names:
            raise ConfigError(
                f"unknown config key {dotted!r}{src}; expected one of {sorted(names)}"
            )
        tp = hints[key]
        inner = _dataclass_of(tp)
        if inner is not None and not (value is None and _type_ok(None, tp)):
            kwargs[key] = from_dict(inner, value, dotted, file)
            continue
        value = _coerce(value, tp)
        if not _type_ok(value, tp):
            raise ConfigError(f"config key {dotted!r}{src}: bad value {value!r} (expected {tp})")
        kwargs[key] = value
    required = [
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    for key in required:
        if key not in kwargs:
            dotted = f"{where}.{key}" if where else key
            raise ConfigError(f"config key {dotted!r} is required{src}")
    out = cls(**kwargs)
    validate = getattr(out, "validate", None)
    if validate is not None:
        try:
            validate()
        except ConfigError as e:
            raise ConfigError(f"{e}{src}") from None
    return out


def _validate(cfg: TrainConfig) -> None:
    src = f" in {cfg.source!r}" if cfg.source else ""
    if cfg.model is None:
        raise ConfigError(f"config section 'model' is required{src}")
    if cfg.trainer.num_nodes < 1:
        raise ConfigError(f"trainer.num_nodes must be >= 1{src}, got {cfg.trainer.num_nodes}")
    if cfg.data.source == "clotho":
        from audioseek.data.sources import default_splits

        splits = default_splits(
            "clotho", version=cfg.data.clotho_version, view=cfg.data.clotho_view
        )
        if cfg.data.val_split is None and splits.val is None:
            raise ConfigError(
                f"Clotho {cfg.data.clotho_version} has no validation split{src}: set "
                "data.val_split or data.clotho_view: paper (the 60/20/20 re-split)"
            )
    for name in cfg.logging.loggers:
        if name not in LOGGERS:
            raise ConfigError(f"unknown logger {name!r}{src}; expected some of {LOGGERS}")
    if not 0.0 <= cfg.augment.text_prob <= 1.0:
        raise ConfigError(f"augment.text_prob must be in [0, 1]{src}, got {cfg.augment.text_prob}")
    for key in ("batch_size", "max_length"):
        if getattr(cfg.data, key) < 1:
            raise ConfigError(f"data.{key} must be >= 1{src}, got {getattr(cfg.data, key)}")
    if cfg.optim.lr <= 0:
        raise ConfigError(f"optim.lr must be > 0{src}, got {cfg.optim.lr}")
    if cfg.feature_cache.enabled and cfg.freeze.policy != "baseline":
        raise ConfigError(
            f"feature_cache.enabled needs frozen encoders (freeze.policy: baseline){src}, "
            f"got policy {cfg.freeze.policy!r}"
        )
    if cfg.feature_cache.audio_views < 0 or cfg.feature_cache.text_views < 0:
        raise ConfigError(f"feature_cache views must be >= 0{src}")
    if cfg.feature_cache.audio_views and not cfg.augment.spec_augment:
        # without SpecAugment the encoder's augment slot is the identity: every "view" would
        # be a copy of the clean features, silently
        raise ConfigError(
            f"feature_cache.audio_views={cfg.feature_cache.audio_views} needs "
            f"augment.spec_augment: true{src} (otherwise every view equals the clean clip)"
        )
    if cfg.data.source in ("clotho", "audiocaps", "manifest") and not cfg.data.root:
        raise ConfigError(f"data.root is required for data.source {cfg.data.source!r}{src}")


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"a.b=c"`` -> (["a", "b"], yaml-parsed c)."""
    import yaml

    if "=" not in text:
        raise ConfigError(f"override {text!r} is not KEY=VALUE (e.g. trainer.max_steps=10)")
    key, raw = text.split("=", 1)
    parts = [p for p in key.strip().split(".")]
    if not all(parts):
        raise ConfigError(f"override {text!r} has an empty key part")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as e:
        raise ConfigError(
            f"override {text!r}: value is not valid YAML ({yaml_problem(e)})"
        ) from None
    return parts, value


def yaml_problem(e: Exception) -> str:
    """A one-line description of a ``yaml.YAMLError``: the problem and where it is."""
    problem = getattr(e, "problem", None) or getattr(e, "context", None)
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    if problem is None:
        return " ".join(str(e).split())
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{problem}{where}"


def apply_overrides(raw: dict, overrides) -> dict:
    """Return a copy of mapping ``raw`` with ``KEY=VALUE`` overrides applied."""
    out = copy.deepcopy(raw)
    for text in overrides or ():
        parts, value = parse_override(text)
        node = out
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(
                    f"override {text!r}: {'.'.join(parts[: i + 1])!r} is a value, not a section"
                )
            node = child
        node[parts[-1]] = value
    return out


def read_yaml(path: str | Path) -> dict:
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        raw = yaml.safe_load(path.read_text())
    except UnicodeDecodeError as e:
        raise ConfigError(f"config file {str(path)!r} is not UTF-8 text ({e.reason})") from None
    except yaml.YAMLError as e:
        msg = yaml_problem(e)
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {msg}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping of sections")
    return raw


def load_config(config: str | Path | dict | TrainConfig, overrides=()) -> TrainConfig:
    """Read and validate a config (YAML path, mapping or TrainConfig) with overrides."""
    if isinstance(config, TrainConfig):
        if not overrides:
            return config
        config, source = config.to_dict(), config.source
    elif isinstance(config, dict):
        source = None
    else:
        source = str(config)
        config = read_yaml(config)
    raw = apply_overrides(config, overrides)
    cfg = from_dict(TrainConfig, raw, "", source)
    cfg.source = source
    _validate(cfg)
    return cfg


def model_config(cfg: TrainConfig) -> ModelConfig:
    """The ``model`` section (already validated by :func:`load_config`)."""
    return cfg.model


def aug_seed(cfg: TrainConfig) -> int:
    """Seed of the training augmentations: ``augment.seed``, else the run's seed."""
    return cfg.augment.seed if cfg.augment.seed is not None else cfg.seed
