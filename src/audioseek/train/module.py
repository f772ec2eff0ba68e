"""The LightningModule: one module for raw-audio batches and feature-cache batches.

A raw batch is ``collate_audio_text``'s dict (``waveforms`` (B, samples), ``input_ids`` /
``attention_mask`` (N, L), ``caption_clip`` (N,)). A cached batch carries the frozen
encoders' outputs instead: ``audio_features`` (B, audio_dim), ``text_features``
(N, text_dim), ``caption_clip`` (N,). Either way only the parts that are trainable get
gradients, and validation computes the loss plus retrieval metrics over the whole
validation split with :func:`audioseek.eval.metrics.bidirectional_metrics`.
"""

from __future__ import annotations

import math
import random

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F

from audioseek.train.config import TrainConfig
from audioseek.train.freezing import ParamGroupInfo, set_frozen_eval
from audioseek.train.losses import info_nce

MONITOR = "val/t2a_map10"  # best checkpoint: text -> audio mAP@10 (higher is better)


def _rng_states() -> dict:
    """Global RNG states as tensors / builtins (loadable with ``weights_only=True``)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    states = {
        "torch": torch.get_rng_state(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _set_rng_states(states: dict) -> None:
    torch.set_rng_state(states["torch"])
    kind, keys, pos, has_gauss, gauss = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    random.setstate(states["python"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


class RetrievalModule(L.LightningModule):
    """Trains a :class:`~audioseek.models.dual_encoder.DualEncoder` with InfoNCE.

    ``param_groups`` come from :func:`audioseek.train.freezing.apply_freezing` (which has
    already set ``requires_grad``).
    """

    def __init__(self, model, cfg: TrainConfig, param_groups: list[ParamGroupInfo]):
        super().__init__()
        self.model = model
        self.cfg = cfg
        self.param_groups = param_groups
        self.save_hyperparameters({"config": cfg.to_dict()})
        self._val: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    # -- modes -----------------------------------------------------------------------
    def train(self, mode: bool = True):
        super().train(mode)
        set_frozen_eval(self.model)  # frozen encoders compute what the feature cache stores
        return self

    # -- forward ---------------------------------------------------------------------
    def _logit_scale(self) -> torch.Tensor:
        return self.model.scale()  # exp(logit_scale), clamped at 100 (CLIP)

    def embed(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """(audio_embeds (B, D), text_embeds (N, D)), L2-normalised."""
        if "audio_features" in batch:
            audio = self.model.encode_audio_features(batch["audio_features"])
            text = F.normalize(self.model.text_head(batch["text_features"]), dim=-1)
        else:
            out = self.model(batch["waveforms"], batch["input_ids"], batch["attention_mask"])
            audio, text = out.audio_embeds, out.text_embeds
        return audio, text

    def loss(self, audio: torch.Tensor, text: torch.Tensor, caption_clip: torch.Tensor):
        clip_ids = torch.arange(audio.shape[0], device=audio.device)
        scale = self._logit_scale()
        if self.cfg.optim.loss == "symmetric":
            return info_nce(text, audio, scale, query_ids=caption_clip, key_ids=clip_ids)
        # the paper's equation (1): each clip against the batch's captions
        return info_nce(
            audio, text, scale, query_ids=clip_ids, key_ids=caption_clip, symmetric=False
        )

    # -- steps -----------------------------------------------------------------------
    def training_step(self, batch, batch_idx):
        audio, text = self.embed(batch)
        loss = self.loss(audio, text, batch["caption_clip"])
        bs = audio.shape[0]
        self.log("train/loss", loss, prog_bar=True, batch_size=bs)
        self.log("train/temperature", 1.0 / self._logit_scale().detach(), batch_size=bs)
        return loss

    def on_validation_epoch_start(self) -> None:
        self._val = []

    def validation_step(self, batch, batch_idx):
        audio, text = self.embed(batch)
        loss = self.loss(audio, text, batch["caption_clip"])
        self.log("val/loss", loss, prog_bar=True, batch_size=audio.shape[0])
        self._val.append((audio.float().cpu(), text.float().cpu(), batch["caption_clip"].cpu()))

    def on_validation_epoch_end(self) -> None:
        if not self._val:
            return
        from audioseek.eval.metrics import bidirectional_metrics

        audios, texts, caption_to_audio, offset = [], [], [], 0
        for audio, text, caption_clip in self._val:
            audios.append(audio)
            texts.append(text)
            caption_to_audio.extend((caption_clip + offset).tolist())
            offset += audio.shape[0]
        self._val = []
        metrics = bidirectional_metrics(torch.cat(audios), torch.cat(texts), caption_to_audio)
        logged = {}
        for direction, short in (("text_to_audio", "t2a"), ("audio_to_text", "a2t")):
            for key, value in metrics[direction].items():
                name = key.replace("@", "")
                logged[f"val/{short}_{name}"] = float(value)
        self.log_dict(logged, prog_bar=False)

    # -- optimisation ----------------------------------------------------------------
    def configure_optimizers(self):
        o = self.cfg.optim
        groups = [g.as_optimizer_group() for g in self.param_groups]
        optimizer = torch.optim.Adam(
            groups, lr=o.lr, betas=tuple(o.betas), eps=o.eps, weight_decay=o.weight_decay
        )
        if o.scheduler == "none":
            return optimizer
        if o.scheduler == "plateau":
            scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer,
                mode="min",
                factor=o.plateau_factor,
                patience=o.plateau_patience,
                min_lr=o.min_lr,
            )
            return {
                "optimizer": optimizer,
                "lr_scheduler": {
                    "scheduler": scheduler,
                    "monitor": "val/loss",
                    "interval": "epoch",
                    "frequency": self.cfg.trainer.check_val_every_n_epoch,
                    "strict": True,
                },
            }
        total = max(int(self.trainer.estimated_stepping_batches), 1)
        warmup = min(o.warmup_steps, total)
        base_lrs = [g["lr"] for g in groups]

        def factor(step: int, base: float) -> float:
            if step < warmup:
                return (step + 1) / warmup
            progress = (step - warmup) / max(total - warmup, 1)
            floor = min(o.min_lr / base, 1.0) if base > 0 else 0.0
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

        lambdas = [lambda s, b=b: factor(s, b) for b in base_lrs]
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambdas)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }

    # -- exact resume ----------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["audioseek_rng_states"] = _rng_states()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        states = checkpoint.get("audioseek_rng_states")
        if states is not None:
            _set_rng_states(states)
