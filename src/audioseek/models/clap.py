"""LAION-CLAP (HTS-AT audio tower + RoBERTa text tower) through ``transformers``.

Registered as ``clap-htsat`` for both audio and text. The towers are
``ClapAudioModelWithProjection`` / ``ClapTextModelWithProjection`` loaded from a
``ClapModel`` id or directory (default ``laion/clap-htsat-unfused``), their
projections included (512-d).

Audio input follows ``ClapFeatureExtractor`` (48 kHz, 64 mel bands, hop 480, 10 s), computed
in torch by :class:`audioseek.audio.features.ClapLogMel` (batched, on the model's device, equal
to the numpy extractor to ~1e-5 dB) with one change that makes embeddings deterministic: the
extractor crops clips longer than 10 s at a *random* offset (``rand_trunc``) or picks random
chunks (``fusion``); here a random crop happens only in training mode, and in eval mode such
clips are cropped to their central 10 s. Shorter clips are padded by the checkpoint's own rule
(``repeatpad`` for the LAION checkpoints), and ``is_longer`` is always False (no random fusion).
A batch of clips of different lengths is embedded with :func:`clap_fit_batch` first (each clip
padded by that rule at its own length, then one ``(batch, 10 s)`` tensor).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn

from audioseek.errors import ModelLoadError, first_line
from audioseek.models.audio_encoders import AudioEncoder
from audioseek.models.registry import register_audio_encoder, register_text_encoder
from audioseek.models.text_encoders import (
    TextEncoder,
    load_tokenizer,
    tokenize_padded,
    transformer_block_groups,
)

log = logging.getLogger(__name__)

CLAP_DEFAULT_ID = "laion/clap-htsat-unfused"


def _check_source(source: str) -> None:
    if source.startswith((".", "/", "~")) and not Path(source).expanduser().exists():
        raise ModelLoadError(f"CLAP model path not found: {source!r}")


class ClapAudioTower(nn.Module):
    """CLAP features -> HTS-AT -> ``audio_projection`` (not normalised), ``(batch, 512)``."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        x = feats.unsqueeze(1) if feats.dim() == 3 else feats  # (batch, channels, 64, frames)
        x = x.transpose(-1, -2)  # (batch, channels, frames, 64): ClapFeatureExtractor layout
        is_longer = torch.zeros(x.shape[0], 1, dtype=torch.bool, device=x.device)
        return self.model(input_features=x, is_longer=is_longer).audio_embeds


def _load_hf(cls, source: str, pretrained: bool, sub: str):
    from transformers import ClapConfig

    _check_source(source)
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    # A ClapModel checkpoint holds both towers: the other tower's weights are "unexpected"
    # for this one, which transformers reports loudly. Missing weights are checked below.
    hf_logging.set_verbosity_error()
    try:
        if not pretrained:
            return cls(getattr(ClapConfig.from_pretrained(source), sub))
        model, info = cls.from_pretrained(source, output_loading_info=True)
    except Exception as e:  # noqa: BLE001 - HF raises OSError/ValueError/EnvironmentError...
        raise ModelLoadError(f"cannot load CLAP model {source!r}: {first_line(e)}") from None
    finally:
        hf_logging.set_verbosity(verbosity)
    missing = sorted(info.get("missing_keys") or [])
    if missing:
        raise ModelLoadError(
            f"CLAP checkpoint {source!r} lacks {len(missing)} weights of the {sub.split('_')[0]} "
            f"tower, e.g. {missing[0]!r}"
        )
    return model


def _save_clap_assets(root: Path, subdir: str, config, processor_parts) -> None:
    from transformers import ClapConfig

    target = root / subdir
    target.mkdir(parents=True, exist_ok=True)
    if isinstance(config, ClapConfig):
        config.save_pretrained(target)
    for part in processor_parts:
        part.save_pretrained(target)


@register_audio_encoder("clap-htsat")
def clap_htsat_audio(source: str = CLAP_DEFAULT_ID, pretrained: bool = True) -> AudioEncoder:
    """CLAP audio tower (HTS-AT + audio_projection), 512-d, 48 kHz, <= 10 s per clip.

    Groups: patch_embed, layer_0..3 (Swin stages), head (norm, head, projection).
    """
    from transformers import ClapAudioModelWithProjection, ClapConfig, ClapFeatureExtractor

    from audioseek.audio.features import ClapLogMel

    source = str(source)
    model = _load_hf(ClapAudioModelWithProjection, source, pretrained, "audio_config")
    try:
        extractor = ClapFeatureExtractor.from_pretrained(source)
        full_config = ClapConfig.from_pretrained(source)
    except Exception as e:  # noqa: BLE001
        raise ModelLoadError(
            f"cannot load CLAP feature extractor {source!r}: {first_line(e)}"
        ) from None
    enc = model.audio_model.audio_encoder
    groups = [("patch_embed", [enc.patch_embed])]
    groups += [(f"layer_{i}", [layer]) for i, layer in enumerate(enc.layers)]
    groups.append(("head", [model]))  # remaining: norms, head, audio_projection
    encoder = AudioEncoder(
        "clap-htsat",
        ClapLogMel.from_extractor(extractor),  # the extractor's rule in torch, batched
        ClapAudioTower(model),
        output_dim=int(model.config.projection_dim),
        sample_rate=int(extractor.sampling_rate),
        clip_seconds=float(extractor.nb_max_samples) / extractor.sampling_rate,
        groups=groups,
        init_args={"source": source, "pretrained": pretrained},
    )

    def restore_spec(asset_dir: Path) -> tuple[str, dict]:
        _save_clap_assets(Path(asset_dir), "", full_config, [extractor])
        return "clap-htsat", {"source": str(asset_dir), "pretrained": False}

    encoder.restore_spec = restore_spec  # type: ignore[method-assign]
    return encoder


class ClapTextEncoder(TextEncoder):
    """CLAP text tower (RoBERTa + pooler + text_projection), 512-d (not normalised)."""

    def __init__(self, source: str = CLAP_DEFAULT_ID, max_length: int = 77, pretrained=True):
        super().__init__()
        from transformers import ClapConfig, ClapTextModelWithProjection

        self.source = str(source)
        self.name = "clap-htsat"
        self.max_length = int(max_length)
        self.model = _load_hf(ClapTextModelWithProjection, self.source, pretrained, "text_config")
        self.tokenizer = load_tokenizer(self.source)
        try:
            self._full_config = ClapConfig.from_pretrained(self.source)
        except Exception as e:  # noqa: BLE001
            raise ModelLoadError(
                f"cannot load CLAP config {self.source!r}: {first_line(e)}"
            ) from None
        self.output_dim = int(self.model.config.projection_dim)

    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        return tokenize_padded(self.tokenizer, texts, self.max_length)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).text_embeds

    def block_groups(self) -> list[tuple[str, list[nn.Parameter]]]:
        return transformer_block_groups(self, self.model.text_model)

    def restore_spec(self, asset_dir: Path) -> tuple[str, dict]:
        _save_clap_assets(Path(asset_dir), "", self._full_config, [self.tokenizer])
        args = {"source": str(asset_dir), "max_length": self.max_length, "pretrained": False}
        return "clap-htsat", args


@register_text_encoder("clap-htsat")
def clap_htsat_text(
    source: str = CLAP_DEFAULT_ID, max_length: int = 77, pretrained: bool = True
) -> ClapTextEncoder:
    """CLAP text tower. ``max_length`` 77 is what LAION-CLAP was trained with."""
    return ClapTextEncoder(source, max_length, pretrained)


def clap_logit_scale(source: str) -> float:
    """CLAP's learned text->audio temperature ``exp(logit_scale_t)``, read from the
    checkpoint's safetensors file (falls back to loading ``ClapModel``)."""
    try:
        from safetensors import safe_open
        from transformers.utils import cached_file

        weights = cached_file(source, "model.safetensors")
        with safe_open(weights, framework="pt") as f:
            return float(f.get_tensor("logit_scale_t").float().exp())
    except Exception:  # noqa: BLE001 - no safetensors file: use the slow, general path
        pass
    from transformers import ClapModel

    try:
        model = ClapModel.from_pretrained(source)
    except Exception as e:  # noqa: BLE001
        raise ModelLoadError(f"cannot load CLAP model {source!r}: {first_line(e)}") from None
    return float(model.logit_scale_t.detach().exp())


def clap_fit_batch(encoder, waves) -> torch.Tensor:
    """Clips of any lengths (a list of 1-D arrays/tensors at the encoder's rate) -> one
    ``(batch, clip_samples)`` float32 tensor, each clip padded / centre-cropped by the CLAP
    encoder's own rule (``repeatpad`` pads a 0.5 s hit by repeating it, not with silence).
    Feeding the result to the encoder gives each clip the vector it gets alone."""
    from audioseek.audio.features import ClapLogMel, clap_fit_length

    fe = getattr(encoder, "frontend", None)
    if not isinstance(fe, ClapLogMel):
        raise TypeError(f"clap_fit_batch needs a CLAP audio encoder, got {type(encoder).__name__}")
    rows = [torch.as_tensor(np.asarray(w, dtype=np.float32)).reshape(-1) for w in waves]
    if not rows or any(r.numel() == 0 for r in rows):
        raise ValueError("clap_fit_batch needs at least one non-empty clip")
    lengths = torch.tensor([r.numel() for r in rows])
    x = torch.zeros(len(rows), int(lengths.max()))
    for i, r in enumerate(rows):
        x[i, : r.numel()] = r
    return clap_fit_length(x, fe.max_samples, fe.padding, lengths, random_crop=False)
