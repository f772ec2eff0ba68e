"""The one place that turns a model config into a :class:`DualEncoder`.

``ModelConfig`` is the typed schema of the ``model:`` section of a training YAML; YAML
holds values only. Everything else receives built parts.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from audioseek.errors import ConfigError


@dataclass
class ModelConfig:
    """Model recipe.

    Attributes:
        audio_encoder: registry key (``resnet50``, ``vit_b_16``, ``cnn14``, ``aisfx``,
            ``small_cnn``, ``clap-htsat``).
        audio_encoder_args: keyword arguments of that builder (``pretrained``,
            ``weights_path``, ``clip_seconds``, ...).
        text_encoder: registry key (``roberta-base``, ``minilm``, ``clap-htsat``) or any
            Hugging Face encoder id / local directory.
        text_encoder_args: keyword arguments (``pooling``, ``max_length``, ...).
        embed_dim: shared embedding size; ``None`` only with ``head="identity"`` (the
            encoders' own size, which must then be equal).
        head: ``linear`` (the paper's), ``mlp`` or ``identity``.
        head_dropout: dropout inside the heads.
        temperature_init: initial temperature (CLIP: 0.07, i.e. logit scale 1/0.07).
        learn_temperature: train the temperature (clamped so the scale stays <= 100).
        memory: ``None``, or a caption memory beside the heads (``{size, k, tau, alpha,
            text_dim}`` and optionally ``reverse_k``, ``reverse_tau``, ``beta``;
            :mod:`audioseek.models.memory`): the shared space is then ``embed_dim +
            text_dim`` wide.
    """

    audio_encoder: str
    text_encoder: str
    audio_encoder_args: dict[str, Any] = field(default_factory=dict)
    text_encoder_args: dict[str, Any] = field(default_factory=dict)
    embed_dim: int | None = 512
    head: str = "linear"
    head_dropout: float = 0.0
    temperature_init: float = 0.07
    learn_temperature: bool = True
    memory: dict[str, Any] | None = None

    @classmethod
    def from_dict(cls, d: dict | ModelConfig) -> ModelConfig:
        if isinstance(d, ModelConfig):
            cfg = copy.deepcopy(d)
            cfg.validate()  # built directly, not through here: check and complete it now
            return cfg
        if not isinstance(d, dict):
            raise ConfigError(f"model config must be a mapping, got {type(d).__name__}")
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(d) - set(names))
        if unknown:
            raise ConfigError(f"unknown model config keys {unknown}; expected some of {names}")
        missing = [n for n in ("audio_encoder", "text_encoder") if n not in d]
        if missing:
            raise ConfigError(f"model config is missing {missing}")
        cfg = cls(**copy.deepcopy(d))
        cfg.validate()
        return cfg

    def validate(self) -> None:
        for name in ("audio_encoder_args", "text_encoder_args"):
            if not isinstance(getattr(self, name), dict):
                raise ConfigError(f"model.{name} must be a mapping, got {getattr(self, name)!r}")
        if self.embed_dim is None and self.head != "identity":
            raise ConfigError(f"model.embed_dim is required with head {self.head!r}")
        if self.embed_dim is not None and (
            not isinstance(self.embed_dim, int) or self.embed_dim <= 0
        ):
            raise ConfigError(f"model.embed_dim must be a positive integer, got {self.embed_dim!r}")
        if not (isinstance(self.temperature_init, (int, float)) and self.temperature_init > 0):
            raise ConfigError(
                f"model.temperature_init must be a positive number, got {self.temperature_init!r}"
            )

        if self.memory is not None:
            from audioseek.models.memory import check_memory

            if self.embed_dim is None:
                raise ConfigError("model.memory needs model.embed_dim (the heads' size)")
            self.memory = check_memory(self.memory)

    def to_dict(self) -> dict[str, Any]:
        d = copy.deepcopy(asdict(self))
        if d["memory"] is None:  # configs saved before the memory existed stay identical
            del d["memory"]
        return d


def build_model(cfg: ModelConfig | dict, text: bool = True):
    """Build encoders, heads and the :class:`DualEncoder` described by ``cfg``.

    ``text=False`` builds the audio side only (the text encoder and head are
    :class:`~audioseek.models.dual_encoder.NoTextTower` stand-ins): what an embedding worker
    needs, without importing or loading the text encoder."""
    from audioseek.models.dual_encoder import DualEncoder, NoTextTower
    from audioseek.models.heads import ProjectionHead
    from audioseek.models.registry import build_audio_encoder, build_text_encoder

    cfg = ModelConfig.from_dict(cfg)
    audio = build_audio_encoder(cfg.audio_encoder, **cfg.audio_encoder_args)
    dim = cfg.embed_dim if cfg.embed_dim is not None else audio.output_dim
    mem = cfg.memory
    if mem is None:
        audio_head = ProjectionHead(audio.output_dim, dim, cfg.head, cfg.head_dropout)
    else:
        from audioseek.models.memory import CaptionMemoryHead, MemoryTextHead

        audio_head = CaptionMemoryHead(
            audio.output_dim,
            dim,
            mem["text_dim"],
            mem["size"],
            mem["k"],
            mem["tau"],
            mem["alpha"],
            cfg.head,
            cfg.head_dropout,
        )
    if text:
        text_tower = build_text_encoder(cfg.text_encoder, **cfg.text_encoder_args)
        if mem is None:
            text_head = ProjectionHead(text_tower.output_dim, dim, cfg.head, cfg.head_dropout)
        elif text_tower.output_dim != mem["text_dim"]:
            raise ConfigError(
                f"model.memory.text_dim is {mem['text_dim']}, the text encoder gives "
                f"{text_tower.output_dim}"
            )
        else:
            text_head = MemoryTextHead(
                mem["text_dim"],
                dim,
                mem["alpha"],
                cfg.head,
                cfg.head_dropout,
                audio_head=audio_head,
                reverse_k=mem["reverse_k"],
                reverse_tau=mem["reverse_tau"],
                beta=mem["beta"],
            )
    else:
        text_tower, text_head = NoTextTower(), NoTextTower()
    return DualEncoder(
        audio,
        text_tower,
        audio_head,
        text_head,
        temperature_init=cfg.temperature_init,
        learn_temperature=cfg.learn_temperature,
        config=cfg.to_dict(),
    )
