"""Feature cache: frozen-encoder outputs computed once, heads trained from them.

In the ``baseline`` policy both encoders are frozen, so their outputs never change. The
cache stores, per split:

- ``audio`` (clips, 1 + audio_views, audio_dim): view 0 is the clean clip, views 1.. are
  SpecAugment/time-stretch views (the model's ``audio_encoder.augment`` in training mode,
  the rest of the encoder in eval mode), seeded;
- ``text`` (captions, 1 + text_views, text_dim): view 0 is the clean caption, views 1.. are
  TextAugmenter paraphrases (every caption edited, seeded per view);
- ``caption_clip`` (captions,): the clip of each caption.

It is one safetensors file per split, named by a key hashing the encoders' weights and
configuration (the encoder fingerprint), the data (paths + captions), the clip length,
token length, views and seed; the metadata records the key, so a stale or foreign file is
never used. Training batches sample one caption per clip, a uniformly random audio view and,
for ``augment.text_prob`` of the batch, a random paraphrase view: the same recipe as the
raw-audio path, with the augmentations drawn from a fixed pool.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from audioseek.errors import ConfigError
from audioseek.train.config import TrainConfig
from audioseek.train.datamodule import EpochSampler, ResumableLoader, load_items, trainer_progress

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


def encoder_fingerprint(model) -> str:
    """sha256 over the two encoders' parameters and buffers (names, shapes, bytes)."""
    h = hashlib.sha256()
    for prefix, module in (("audio", model.audio_encoder), ("text", model.text_encoder)):
        h.update(f"{prefix}:{type(module).__name__}:{getattr(module, 'name', '')}".encode())
        for name, t in module.state_dict().items():
            h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
            h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def cache_key(model_fp: str, items: list[dict], cfg: TrainConfig, clip_seconds) -> str:
    fc = cfg.feature_cache
    aug_seed = cfg.augment.seed if cfg.augment.seed is not None else cfg.seed
    spec = {
        "format": FORMAT_VERSION,
        "encoders": model_fp,
        "data": [(it["audio_path"], list(it["captions"])) for it in items],
        "clip_seconds": clip_seconds,
        "max_length": cfg.data.max_length,
        "audio_views": fc.audio_views,
        "text_views": fc.text_views,
        "spec_params": cfg.augment.spec_params if fc.audio_views else None,
        "text_aug": [cfg.augment.misspell, cfg.augment.synonyms, cfg.augment.hypernyms]
        if fc.text_views
        else None,
        "seed": aug_seed,
        "dtype": fc.dtype,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:24]


@torch.no_grad()
def compute_features(
    model,
    items: list[dict],
    tokenizer,
    max_length: int,
    sample_rate: int,
    clip_seconds: float | None,
    audio_views: int = 0,
    text_views: int = 0,
    batch_size: int = 16,
    seed: int = 0,
    text_augmenter=None,
    device: torch.device | str = "cpu",
    num_workers: int = 0,
    progress: bool = True,
) -> dict[str, torch.Tensor]:
    """Frozen-encoder outputs for ``items``; see the module docstring for the layout."""
    from tqdm.auto import tqdm

    from audioseek.data.collate import collate_audio_text
    from audioseek.data.dataset import AudioCaptionDataset

    if text_views and text_augmenter is None:
        raise ConfigError("feature_cache.text_views > 0 needs a text augmenter")
    model.eval()
    audio_enc, text_enc = model.audio_encoder, model.text_encoder
    dataset = AudioCaptionDataset(items, sample_rate, clip_seconds, caption="all")
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=lambda b: collate_audio_text(b, tokenizer, max_length=max_length),
    )
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    audio_out, text_out, caption_clip, captions, offset = [], [], [], [], 0
    try:
        for batch in tqdm(loader, desc="feature cache", disable=not progress, leave=False):
            wave = batch["waveforms"].to(device)
            views = [audio_enc(wave)]
            if audio_views:
                audio_enc.augment.train()
                views += [audio_enc(wave) for _ in range(audio_views)]
                audio_enc.augment.eval()
            audio_out.append(torch.stack(views, dim=1).float().cpu())
            text_out.append(
                text_enc(batch["input_ids"].to(device), batch["attention_mask"].to(device))
                .float()
                .cpu()
            )
            caption_clip.append(batch["caption_clip"].cpu() + offset)
            captions.extend(batch["captions"])
            offset += wave.shape[0]
    finally:
        torch.random.set_rng_state(gen_state)
    text = torch.cat(text_out)[:, None]
    if text_views:
        views = [text]
        for v in range(text_views):
            paraphrases = text_augmenter(captions, rng=random.Random(f"{seed}:text-view:{v}"))
            feats = []
            for i in range(0, len(paraphrases), batch_size * 5):
                tok = _tokenize(tokenizer, paraphrases[i : i + batch_size * 5], max_length)
                feats.append(
                    text_enc(tok["input_ids"].to(device), tok["attention_mask"].to(device))
                    .float()
                    .cpu()
                )
            views.append(torch.cat(feats)[:, None])
        text = torch.cat(views, dim=1)
    return {
        "audio": torch.cat(audio_out).contiguous(),
        "text": text.contiguous(),
        "caption_clip": torch.cat(caption_clip).long().contiguous(),
    }


def _tokenize(tokenizer, texts: list[str], max_length: int) -> dict:
    """Tokenize exactly as ``collate_audio_text`` does."""
    from audioseek.data.collate import tokenize_captions

    ids, mask = tokenize_captions(list(texts), tokenizer, max_length)
    return {"input_ids": ids, "attention_mask": mask}


def load_or_compute(path: Path, key: str, compute) -> dict[str, torch.Tensor]:
    """Read the cache file at ``path`` if its key matches, else compute and write it."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    if path.is_file():
        try:
            with safe_open(str(path), framework="pt") as f:
                if (f.metadata() or {}).get("key") == key:
                    log.info("feature cache hit: %s", path)
                    return {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
            log.info("feature cache %s is stale; recomputing", path)
        except Exception as e:  # a damaged cache is recomputed, never trusted
            log.warning("feature cache %s unreadable (%s); recomputing", path, e)
    tensors = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata={"key": key, "format": str(FORMAT_VERSION)})
    tmp.replace(path)
    return tensors


class CachedTrainSet(Dataset):
    """Index = clip; the collate draws caption and views (see :class:`CachedCollate`)."""

    def __init__(self, n_clips: int):
        self.n = n_clips

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        return i


class CachedCollate:
    """Clip indices -> {audio_features (B, Da), text_features (B, Dt), caption_clip (B,)}.

    One caption per clip; a uniformly random audio view; ``round(text_prob * B)`` captions
    (at least one when text_prob > 0) use a random paraphrase view. Seeded from
    (seed, epoch, clip indices).
    """

    def __init__(self, feats: dict, text_prob: float, seed: int, sampler: EpochSampler):
        self.audio, self.text = feats["audio"], feats["text"]
        cc = feats["caption_clip"]
        self.clip_captions: list[list[int]] = [[] for _ in range(self.audio.shape[0])]
        for cap, clip in enumerate(cc.tolist()):
            self.clip_captions[clip].append(cap)
        self.text_prob = text_prob
        self.seed = seed
        self.sampler = sampler

    def __call__(self, clips: list[int]) -> dict:
        rng = random.Random(f"{self.seed}:{self.sampler.epoch}:{','.join(map(str, clips))}")
        b = len(clips)
        caps = [rng.choice(self.clip_captions[c]) for c in clips]
        n_audio_views, n_text_views = self.audio.shape[1], self.text.shape[1]
        a_views = [rng.randrange(n_audio_views) for _ in clips]
        t_views = [0] * b
        if n_text_views > 1 and self.text_prob > 0:
            k = max(1, int(self.text_prob * b + 0.5))
            for i in rng.sample(range(b), min(k, b)):
                t_views[i] = rng.randrange(1, n_text_views)
        return {
            "audio_features": self.audio[clips, a_views],
            "text_features": self.text[caps, t_views],
            "caption_clip": torch.arange(b),
        }


class CachedEvalCollate:
    """Clip indices -> clean features of the clips and all their captions."""

    def __init__(self, feats: dict):
        self.audio, self.text = feats["audio"], feats["text"]
        self.clip_captions: list[list[int]] = [[] for _ in range(self.audio.shape[0])]
        for cap, clip in enumerate(feats["caption_clip"].tolist()):
            self.clip_captions[clip].append(cap)

    def __call__(self, clips: list[int]) -> dict:
        caps, owner = [], []
        for j, c in enumerate(clips):
            caps += self.clip_captions[c]
            owner += [j] * len(self.clip_captions[c])
        return {
            "audio_features": self.audio[clips, 0],
            "text_features": self.text[caps, 0],
            "caption_clip": torch.tensor(owner, dtype=torch.long),
        }


class FeatureCacheDataModule(L.LightningDataModule):
    """Batches of cached encoder outputs for the same RetrievalModule."""

    def __init__(
        self,
        cfg: TrainConfig,
        model,
        tokenizer,
        sample_rate: int,
        clip_seconds: float | None,
        work_dir: str | Path,
        text_augmenter=None,
        device: torch.device | str = "cpu",
    ):
        super().__init__()
        self.cfg = cfg
        self.model = model
        self.tokenizer = tokenizer
        self.sample_rate = sample_rate
        self.clip_seconds = cfg.data.clip_seconds or clip_seconds
        self.work_dir = Path(work_dir)
        self.text_augmenter = text_augmenter
        self.device = device
        self.train_feats: dict | None = None
        self.val_feats: dict | None = None

    @property
    def cache_dir(self) -> Path:
        d = self.cfg.feature_cache.dir
        return Path(d) if d else self.work_dir / "feature_cache"

    def setup(self, stage: str | None = None) -> None:
        if self.train_feats is not None:
            return
        cfg, fc = self.cfg, self.cfg.feature_cache
        train_items, val_items = load_items(cfg, self.work_dir)
        fp = encoder_fingerprint(self.model)
        seed = cfg.augment.seed if cfg.augment.seed is not None else cfg.seed
        was_training = self.model.training
        self.model.to(self.device)

        store = getattr(torch, fc.dtype)

        def compute(items, audio_views, text_views):
            return lambda: _stored(
                compute_features(
                    self.model,
                    items,
                    self.tokenizer,
                    cfg.data.max_length,
                    self.sample_rate,
                    self.clip_seconds,
                    audio_views=audio_views,
                    text_views=text_views,
                    batch_size=fc.batch_size,
                    seed=seed,
                    text_augmenter=self.text_augmenter,
                    device=self.device,
                    num_workers=cfg.data.num_workers,
                ),
                store,
            )

        key = cache_key(fp, train_items, cfg, self.clip_seconds)
        self.train_feats = load_or_compute(
            self.cache_dir / f"train-{key}.safetensors",
            key,
            compute(train_items, fc.audio_views, fc.text_views),
        )
        val_cfg_key = cache_key(fp, val_items, _no_views(cfg), self.clip_seconds)
        self.val_feats = load_or_compute(
            self.cache_dir / f"val-{val_cfg_key}.safetensors",
            val_cfg_key,
            compute(val_items, 0, 0),
        )
        self.model.train(was_training)
        self.train_feats = _stored(self.train_feats, torch.float32)
        self.val_feats = _stored(self.val_feats, torch.float32)
        log.info(
            "feature cache: train audio %s text %s; val audio %s",
            tuple(self.train_feats["audio"].shape),
            tuple(self.train_feats["text"].shape),
            tuple(self.val_feats["audio"].shape),
        )

    def train_dataloader(self) -> DataLoader:
        n = self.train_feats["audio"].shape[0]
        bs = self.cfg.data.batch_size
        sampler = EpochSampler(n, seed=self.cfg.seed)
        seed = self.cfg.augment.seed if self.cfg.augment.seed is not None else self.cfg.seed
        text_prob = self.cfg.augment.text_prob if self.text_augmenter is not None else 0.0
        return ResumableLoader(
            CachedTrainSet(n),
            progress=trainer_progress(self),
            batch_size=bs,
            sampler=sampler,
            collate_fn=CachedCollate(self.train_feats, text_prob, seed, sampler),
            drop_last=n > bs,
        )

    def val_dataloader(self) -> DataLoader:
        n = self.val_feats["audio"].shape[0]
        d = self.cfg.data
        return DataLoader(
            CachedTrainSet(n),
            batch_size=d.eval_batch_size or d.batch_size,
            shuffle=False,
            collate_fn=CachedEvalCollate(self.val_feats),
        )


def _stored(feats: dict[str, torch.Tensor], dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Features in ``dtype`` (float16 halves the file; training reads float32)."""
    return {k: v.to(dtype) if v.is_floating_point() else v for k, v in feats.items()}


def _no_views(cfg: TrainConfig) -> TrainConfig:
    import dataclasses

    fc = dataclasses.replace(cfg.feature_cache, audio_views=0, text_views=0)
    return dataclasses.replace(cfg, feature_cache=fc)
