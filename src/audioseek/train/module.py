"""The LightningModule: one module for raw-audio batches and feature-cache batches.

A raw batch is ``collate_audio_text``'s dict (``waveforms`` (B, samples), ``input_ids`` /
``attention_mask`` (N, L), ``caption_clip`` (N,), ``clip_index`` (B,)). A cached batch
carries the frozen encoders' outputs instead: ``audio_features`` (B, audio_dim),
``text_features`` (N, text_dim), ``caption_clip`` (N,), ``clip_index`` (B,). ``clip_index``
is the clip's index in the dataset: rows sharing it are positives of each other (the same
clip twice in a batch, or on two ranks). Only the parts that are trainable get gradients.

With several processes (DDP) the training loss scores every rank's batch (embeddings
gathered with gradients, :mod:`audioseek.train.distributed`); validation gathers every
rank's shard of embeddings and computes the retrieval metrics
(:func:`audioseek.eval.metrics.bidirectional_metrics`) and the validation loss once, over
the whole validation set, so every rank logs the same true numbers and checkpointing and
early stopping agree.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Callable, Sequence

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from audioseek.train.config import OptimConfig
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

    Built parts come in through the constructor: ``param_groups`` from
    :func:`audioseek.train.freezing.apply_freezing` (which has already set
    ``requires_grad``), the optimiser settings ``optim``, and ``audio_augment``, a feature
    augmentation ``(batch, freq, time) -> (batch, freq, time)`` applied between the audio
    encoder's front end and backbone in training only (identity in eval mode). It belongs to
    this module, never to the model, so the exported encoder has no trace of it.

    ``val_batch_size`` and ``captions_per_epoch`` make the validation loss the training loss
    (same batch size, same captions-per-clip rule) over fixed, seeded batches of the whole
    validation set; see :func:`validation_loss`.
    """

    def __init__(
        self,
        model,
        param_groups: list[ParamGroupInfo],
        optim: OptimConfig,
        *,
        audio_augment: nn.Module | None = None,
        val_batch_size: int = 32,
        captions_per_epoch: str = "one",
        seed: int = 0,
    ):
        super().__init__()
        self.model = model
        self.param_groups = param_groups
        self.optim = optim
        self.audio_augment = audio_augment if audio_augment is not None else nn.Identity()
        self.val_batch_size = int(val_batch_size)
        self.captions_per_epoch = captions_per_epoch
        self.seed = int(seed)
        self.save_hyperparameters(
            {
                "optim": dataclasses.asdict(optim),
                "audio_augment": type(self.audio_augment).__name__,
                "val_batch_size": self.val_batch_size,
                "captions_per_epoch": captions_per_epoch,
                "seed": self.seed,
            }
        )
        self._val: list[tuple[torch.Tensor, ...]] = []

    # -- modes -----------------------------------------------------------------------
    def train(self, mode: bool = True):
        super().train(mode)
        set_frozen_eval(self.model)  # frozen encoders compute what the feature cache stores
        return self

    def on_train_epoch_start(self) -> None:
        # Lightning (2.6) never calls .train() when fitting starts, and after validation it
        # restores each submodule's own flag: set the modes here, or a frozen encoder would
        # run in training mode (BatchNorm on batch statistics, its running stats drifting)
        self.train()

    # -- forward ---------------------------------------------------------------------
    def _logit_scale(self) -> torch.Tensor:
        return self.model.scale()  # exp(logit_scale), clamped at 100 (CLIP)

    def encode_audio(self, waveforms: torch.Tensor) -> torch.Tensor:
        """``(B, samples)`` -> ``(B, D)``: front end -> ``audio_augment`` -> backbone -> head."""
        enc = self.model.audio_encoder
        feats = self.audio_augment(enc.features(waveforms))
        return self.model.encode_audio_features(enc.backbone(feats))

    def embed(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """(audio_embeds (B, D), text_embeds (N, D)), L2-normalised."""
        if "audio_features" in batch:
            audio = self.model.encode_audio_features(batch["audio_features"])
            text = F.normalize(self.model.text_head(batch["text_features"]), dim=-1)
        else:
            audio = self.encode_audio(batch["waveforms"])
            text = self.model.encode_text_tokens(batch["input_ids"], batch["attention_mask"])
        return audio, text

    def loss(
        self,
        audio: torch.Tensor,
        text: torch.Tensor,
        audio_ids: torch.Tensor,
        text_ids: torch.Tensor,
    ) -> torch.Tensor:
        """InfoNCE of one (already global) batch; rows sharing a clip id are positives."""
        scale = self._logit_scale()
        if self.optim.loss == "symmetric":
            return info_nce(text, audio, scale, query_ids=text_ids, key_ids=audio_ids)
        # the paper's equation (1): each clip against the batch's captions
        return info_nce(audio, text, scale, query_ids=audio_ids, key_ids=text_ids, symmetric=False)

    def training_loss(self, batch: dict) -> tuple[torch.Tensor, int]:
        """The loss of a training batch, over every rank's batch when several run."""
        audio, text = self.embed(batch)
        audio_ids = _clip_ids(batch, audio)
        text_ids = audio_ids[batch["caption_clip"].to(audio_ids.device)]
        world = self.trainer.world_size if self._trainer is not None else 1
        if world > 1:
            return self._distributed_loss(audio, text, audio_ids, text_ids), audio.shape[0]
        return self.loss(audio, text, audio_ids, text_ids), audio.shape[0]

    def _distributed_loss(self, audio, text, audio_ids, text_ids) -> torch.Tensor:
        from audioseek.train.distributed import distributed_info_nce

        return distributed_info_nce(
            audio,
            text,
            self._logit_scale(),
            audio_ids=audio_ids,
            text_ids=text_ids,
            symmetric=self.optim.loss == "symmetric",
            local_loss=self.optim.local_loss,
        )

    # -- steps -----------------------------------------------------------------------
    def training_step(self, batch, batch_idx):
        loss, bs = self.training_loss(batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=bs)
        self.log("train/temperature", 1.0 / self._logit_scale().detach(), batch_size=bs)
        return loss

    def on_validation_epoch_start(self) -> None:
        self._val = []

    def validation_step(self, batch, batch_idx):
        audio, text = self.embed(batch)
        clip_ids = _clip_ids(batch, audio).cpu()
        owner = clip_ids[batch["caption_clip"].cpu()]
        self._val.append((audio.float().cpu(), text.float().cpu(), clip_ids, owner))

    def _gathered_validation(self):
        """(audio (A, D), text (T, D), caption_to_audio) over the WHOLE validation set: every
        rank's shard gathered, each clip once, in clip order."""
        parts = self._val
        self._val = []
        world = self.trainer.world_size if self._trainer is not None else 1
        if world > 1:
            import torch.distributed as dist

            everyone: list = [None] * world
            dist.all_gather_object(everyone, parts)
            parts = [p for rank_parts in everyone for p in rank_parts]
        audio_of: dict[int, torch.Tensor] = {}
        captions_of: dict[int, torch.Tensor] = {}
        for audio, text, clip_ids, owner in parts:
            for row, clip in enumerate(clip_ids.tolist()):
                if clip in audio_of:  # a padded shard repeats a clip: keep it once
                    continue
                audio_of[clip] = audio[row]
                captions_of[clip] = text[owner == clip]
        clips = sorted(audio_of)
        audio = torch.stack([audio_of[c] for c in clips])
        texts, caption_to_audio = [], []
        for i, c in enumerate(clips):
            texts.append(captions_of[c])
            caption_to_audio += [i] * captions_of[c].shape[0]
        return audio, torch.cat(texts), caption_to_audio

    def on_validation_epoch_end(self) -> None:
        from audioseek.eval.metrics import bidirectional_metrics

        world = self.trainer.world_size if self._trainer is not None else 1
        if not self._val and world == 1:
            return
        audio, text, caption_to_audio = self._gathered_validation()
        metrics = bidirectional_metrics(audio, text, caption_to_audio)
        logged = {}
        for direction, short in (("text_to_audio", "t2a"), ("audio_to_text", "a2t")):
            for key, value in metrics[direction].items():
                name = key.replace("@", "")
                logged[f"val/{short}_{name}"] = float(value)
        with torch.no_grad():
            val_loss = float(
                validation_loss(
                    self.loss,
                    audio.to(self.device),
                    text.to(self.device),
                    caption_to_audio,
                    batch_size=self.val_batch_size * world,
                    captions_per_epoch=self.captions_per_epoch,
                    seed=self.seed,
                )
            )
        # every rank computed the same numbers from the same gathered set (the mean over
        # ranks that sync_dist takes is that number: it only silences Lightning's advice)
        self.log_dict(logged, prog_bar=False, sync_dist=world > 1)
        self.log("val/loss", val_loss, prog_bar=True, sync_dist=world > 1)

    # -- optimisation ----------------------------------------------------------------
    def configure_optimizers(self):
        o = self.optim
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
                    "frequency": self.trainer.check_val_every_n_epoch or 1,
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


def _clip_ids(batch: dict, audio: torch.Tensor) -> torch.Tensor:
    """Dataset clip index of each audio row (B,); rows of one clip share it."""
    ids = batch.get("clip_index")
    if ids is None:
        return torch.arange(audio.shape[0], device=audio.device)
    return torch.as_tensor(ids, device=audio.device).long()


def validation_batches(
    caption_to_audio: Sequence[int], batch_size: int, captions_per_epoch: str, seed: int
) -> list[tuple[list[int], list[int]]]:
    """Fixed validation batches built like training batches: ``(audio rows, caption rows)``.

    ``one``: a seeded permutation of the clips in batches of ``batch_size`` clips, one
    caption each (drawn like :class:`~audioseek.data.dataset.AudioCaptionDataset`'s random
    caption at epoch 0). ``all``: a seeded permutation of every (clip, caption) pair in
    batches of ``batch_size`` pairs (a clip may appear twice; it is then its own positive).
    A last batch of a single row is merged into the previous one.
    """
    owners: dict[int, list[int]] = {}
    for cap, clip in enumerate(caption_to_audio):
        owners.setdefault(int(clip), []).append(cap)
    g = torch.Generator().manual_seed(seed * 1_000_003 + 7919)
    if captions_per_epoch == "all":
        pairs = [(clip, cap) for cap, clip in enumerate(caption_to_audio)]
    else:
        pairs = []
        for clip in sorted(owners):
            rng = np.random.default_rng([seed, 0, clip])
            pairs.append((clip, owners[clip][int(rng.integers(len(owners[clip])))]))
    order = torch.randperm(len(pairs), generator=g).tolist()
    pairs = [pairs[i] for i in order]
    chunks = [pairs[i : i + batch_size] for i in range(0, len(pairs), batch_size)]
    if len(chunks) > 1 and len(chunks[-1]) < 2:
        last = chunks.pop()
        chunks[-1] = chunks[-1] + last
    return [([int(a) for a, _ in c], [int(t) for _, t in c]) for c in chunks]


def validation_loss(
    loss: Callable[..., torch.Tensor],
    audio: torch.Tensor,
    text: torch.Tensor,
    caption_to_audio: Sequence[int],
    batch_size: int,
    captions_per_epoch: str = "one",
    seed: int = 0,
) -> torch.Tensor:
    """The training loss over the validation set: ``loss(audio, text, audio_ids, text_ids)``
    on each batch of :func:`validation_batches`, averaged with weights = batch sizes.
    Embeddings are of the un-augmented inputs (eval mode), so a batch's loss does not
    depend on how the set was embedded."""
    total, n = audio.new_zeros(()), 0
    for clips, caps in validation_batches(caption_to_audio, batch_size, captions_per_epoch, seed):
        ids = torch.tensor(clips, device=audio.device)
        total = total + loss(audio[ids], text[torch.tensor(caps)], ids, ids) * len(clips)
        n += len(clips)
    return total / max(n, 1)
