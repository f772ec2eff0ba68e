"""Which parameters train, and at which learning rate.

Policies (``freeze.policy`` in a config):

- ``baseline``: both encoders frozen; only the projection heads and the temperature train
  (the paper's "baseline").
- ``finetune``: additionally the last ``audio_groups`` block groups of the audio encoder
  (the paper: "the final two groups of modules" for ResNet and ViT) and optionally the last
  ``text_groups`` groups of the text encoder. With ``audio_groups: all`` and a
  ``layerwise_decay`` d < 1 every group trains with learning rate ``lr * d**(depth from the
  top)``: tiny for early layers, comparable to the heads for late ones (the paper's PANN
  recipe).

Block groups come from ``AudioEncoder.block_groups()`` / ``TextEncoder.block_groups()``
(early -> late). :func:`apply_freezing` sets ``requires_grad`` and returns optimizer
parameter groups; :func:`trainable_table` summarises them per group.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

from audioseek.errors import ConfigError

log = logging.getLogger(__name__)

POLICIES = ("baseline", "finetune")


@dataclass
class FreezeConfig:
    """The ``freeze`` section of a training config."""

    policy: Literal["baseline", "finetune"] = "baseline"
    # finetune: how many of the audio encoder's last block groups train; "all" = every group
    audio_groups: int | str = 2
    # finetune: how many of the text encoder's last block groups train (0 = frozen)
    text_groups: int = 0
    # learning rate of a trainable encoder group relative to optim.lr
    encoder_lr_scale: float = 1.0
    # if set (0 < d <= 1), trainable encoder group k from the top gets lr * scale * d**k
    layerwise_decay: float | None = None


@dataclass
class ParamGroupInfo:
    """One optimizer parameter group, with a name for the trainable-parameter table."""

    name: str
    params: list = field(default_factory=list)
    lr: float = 0.0

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.params)

    def as_optimizer_group(self) -> dict:
        return {"params": self.params, "lr": self.lr, "name": self.name}


def _n_last(value: int | str, n_groups: int, what: str) -> int:
    if isinstance(value, str):
        if value == "all":
            return n_groups
        raise ConfigError(f"freeze.{what} must be an integer or 'all', got {value!r}")
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"freeze.{what} must be a non-negative integer or 'all', got {value!r}")
    return min(value, n_groups)


def _encoder_groups(
    encoder, n_last: int, lr: float, scale: float, decay: float | None, prefix: str
) -> list[ParamGroupInfo]:
    groups = encoder.block_groups()
    chosen = groups[len(groups) - n_last :] if n_last else []
    out = []
    for depth, (name, params) in enumerate(reversed(chosen)):
        factor = scale * (decay**depth if decay is not None else 1.0)
        out.append(ParamGroupInfo(f"{prefix}.{name}", list(params), lr * factor))
    out.reverse()  # early -> late
    return out


def apply_freezing(model, cfg: FreezeConfig, lr: float) -> list[ParamGroupInfo]:
    """Set ``requires_grad`` on ``model`` (a DualEncoder) for ``cfg`` and return param groups.

    The first group holds every parameter outside the two encoders: the heads and the
    (learnable) temperature, at ``lr``. Encoder groups follow, early -> late.
    """
    if cfg.policy not in POLICIES:
        raise ConfigError(f"unknown freeze policy {cfg.policy!r}; expected one of {POLICIES}")
    if cfg.layerwise_decay is not None and not 0 < cfg.layerwise_decay <= 1:
        raise ConfigError(f"freeze.layerwise_decay must be in (0, 1], got {cfg.layerwise_decay!r}")
    if cfg.encoder_lr_scale <= 0:
        raise ConfigError(f"freeze.encoder_lr_scale must be > 0, got {cfg.encoder_lr_scale!r}")

    encoder_ids = {id(p) for p in model.audio_encoder.parameters()}
    encoder_ids |= {id(p) for p in model.text_encoder.parameters()}
    # parameters outside the encoders train unless the model built them frozen
    # (e.g. a fixed temperature: learn_temperature=False)
    head_params = [p for p in model.parameters() if id(p) not in encoder_ids and p.requires_grad]
    for p in model.parameters():
        p.requires_grad_(False)
    groups = [ParamGroupInfo("heads+temperature", head_params, lr)]

    if cfg.policy == "finetune":
        n_audio = len(model.audio_encoder.block_groups())
        n_text = len(model.text_encoder.block_groups())
        groups += _encoder_groups(
            model.audio_encoder,
            _n_last(cfg.audio_groups, n_audio, "audio_groups"),
            lr,
            cfg.encoder_lr_scale,
            cfg.layerwise_decay,
            "audio",
        )
        groups += _encoder_groups(
            model.text_encoder,
            _n_last(cfg.text_groups, n_text, "text_groups"),
            lr,
            cfg.encoder_lr_scale,
            cfg.layerwise_decay,
            "text",
        )
    # a parameter may be listed in two groups only if an encoder reports it twice: dedupe
    seen: set[int] = set()
    for g in groups:
        g.params = [p for p in g.params if not (id(p) in seen or seen.add(id(p)))]
        for p in g.params:
            p.requires_grad_(True)
    return [g for g in groups if g.params]


def encoders_frozen(model) -> tuple[bool, bool]:
    """(audio encoder fully frozen, text encoder fully frozen)."""
    audio = not any(p.requires_grad for p in model.audio_encoder.parameters())
    text = not any(p.requires_grad for p in model.text_encoder.parameters())
    return audio, text


def set_frozen_eval(model) -> None:
    """Put frozen parts in eval mode (call after ``model.train()``).

    A fully frozen encoder runs in eval mode (no dropout, BatchNorm statistics fixed), so it
    computes the same function as in the feature cache (training augmentation is not part of
    the model: :class:`audioseek.train.module.RetrievalModule` applies it). In a partly
    trainable encoder, normalisation layers whose own parameters are frozen keep their
    running statistics.
    """
    import torch.nn as nn

    audio_frozen, text_frozen = encoders_frozen(model)
    for encoder, frozen in ((model.audio_encoder, audio_frozen), (model.text_encoder, text_frozen)):
        if frozen:
            encoder.eval()
            continue
        for m in encoder.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                own = list(m.parameters(recurse=False))
                if own and not any(p.requires_grad for p in own):
                    m.eval()


def trainable_table(model, groups: list[ParamGroupInfo]):
    """A rich Table: parameter group, learning rate, trainable parameter count; plus totals."""
    from rich.table import Table

    table = Table(title="trainable parameters")
    table.add_column("group")
    table.add_column("lr", justify="right")
    table.add_column("parameters", justify="right")
    for g in groups:
        table.add_row(g.name, f"{g.lr:.3g}", f"{g.n_params:,}")
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(g.n_params for g in groups)
    table.add_row("[b]trainable / total[/b]", "", f"{trainable:,} / {total:,}")
    return table


def log_trainable(model, groups: list[ParamGroupInfo]) -> None:
    """Log the trainable-parameter counts per group (and render the rich table on stderr)."""
    from rich.console import Console

    for g in groups:
        log.info("trainable group %s: %d parameters, lr %.3g", g.name, g.n_params, g.lr)
    Console(stderr=True).print(trainable_table(model, groups))
