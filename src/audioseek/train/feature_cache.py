"""Feature cache: frozen-encoder outputs computed once, heads trained from them.

In the ``baseline`` policy both encoders are frozen, so their outputs never change. The
cache stores, per split:

- ``audio`` (clips, 1 + audio_views, audio_dim): view 0 is the clean clip, views 1.. are
  SpecAugment/time-stretch views (the training ``audio_augment`` module in training mode
  between the encoder's front end and backbone, which stay in eval mode), seeded;
- ``text`` (captions, 1 + text_views, text_dim): view 0 is the clean caption, views 1.. are
  TextAugmenter paraphrases (every caption edited, seeded per view);
- ``caption_clip`` (captions,): the clip of each caption.

It is one safetensors file per split, named by a key hashing the encoders' weights and
configuration (the encoder fingerprint), the data (paths + captions), the clip length,
token length, views and seed; the metadata records the key, so a stale or foreign file is
never used. Training batches sample one caption per clip, a uniformly random audio view and,
for ``augment.text_prob`` of the batch, a random paraphrase view: the same recipe as the
raw-audio path, with the augmentations drawn from a fixed pool. With
``data.captions_per_epoch: all`` an epoch is every (clip, caption) pair once instead.

Under DDP the cache is built once: rank 0 computes and writes it while the other ranks wait
at a barrier, then every rank reads the file. Files are written to a temporary name unique
to the writing process and renamed into place, so no two writers share a file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import uuid
from collections.abc import Callable
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from audioseek.errors import ConfigError
from audioseek.train.config import DataConfig, FeatureCacheConfig
from audioseek.train.datamodule import (
    EpochSampler,
    ResumableLoader,
    ShardSampler,
    load_items,
    prepare_source,
    rank_and_world,
    trainer_progress,
)

log = logging.getLogger(__name__)

FORMAT_VERSION = 2  # 2: every caption of a paraphrase view is edited (1: text_prob of them)


def encoder_fingerprint(model) -> str:
    """sha256 over the two encoders' parameters and buffers (names, shapes, bytes)."""
    h = hashlib.sha256()
    for prefix, module in (("audio", model.audio_encoder), ("text", model.text_encoder)):
        h.update(f"{prefix}:{type(module).__name__}:{getattr(module, 'name', '')}".encode())
        for name, t in module.state_dict().items():
            h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
            h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def cache_key(
    model_fp: str,
    items: list[dict],
    *,
    clip_seconds,
    max_length: int,
    audio_views: int,
    text_views: int,
    augment: dict | None,
    seed: int,
    dtype: str,
) -> str:
    """Hash of everything the cached tensors depend on (``augment`` describes the
    augmentations that made the views)."""
    spec = {
        "format": FORMAT_VERSION,
        "encoders": model_fp,
        "data": [(it["audio_path"], list(it["captions"])) for it in items],
        "clip_seconds": clip_seconds,
        "max_length": max_length,
        "audio_views": audio_views,
        "text_views": text_views,
        "augment": augment if (audio_views or text_views) else None,
        "seed": seed,
        "dtype": dtype,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:24]


def paraphrase_view(text_augmenter, captions: list[str], seed: str) -> list[str]:
    """One paraphrase of every caption (one edit each: misspelling, WordNet synonym or
    hypernym), seeded per view; a caption no edit applies to stays as it is.

    Not ``text_augmenter(captions)``: that edits only ``prob`` of a batch, and the batches
    already swap ``text_prob`` of their captions for a view, so views made that way would
    put only ``text_prob**2`` paraphrases in a batch."""
    rng = random.Random(seed)
    out = []
    for c in captions:
        edited = text_augmenter.augment_text(c, rng) if isinstance(c, str) else None
        out.append(edited[0] if edited is not None else c)
    return out


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
    audio_augment: torch.nn.Module | None = None,
) -> dict[str, torch.Tensor]:
    """Frozen-encoder outputs for ``items``; see the module docstring for the layout.

    ``audio_augment`` makes the audio views 1.. (required when ``audio_views > 0``)."""
    from tqdm.auto import tqdm

    from audioseek.data.collate import collate_audio_text
    from audioseek.data.dataset import AudioCaptionDataset

    if text_views and text_augmenter is None:
        raise ConfigError("feature_cache.text_views > 0 needs a text augmenter")
    if audio_views and audio_augment is None:
        raise ConfigError("feature_cache.audio_views > 0 needs an audio augmentation")
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
                audio_augment.to(device).train()
                feats = audio_enc.features(wave)
                views += [audio_enc.backbone(audio_augment(feats)) for _ in range(audio_views)]
                audio_augment.eval()
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
            paraphrases = paraphrase_view(text_augmenter, captions, f"{seed}:text-view:{v}")
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


def _read(path: Path, key: str) -> dict[str, torch.Tensor] | None:
    """The tensors of the cache file at ``path`` if it holds ``key``, else None."""
    from safetensors import safe_open

    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as f:
            if (f.metadata() or {}).get("key") == key:
                log.info("feature cache hit: %s", path)
                return {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
        log.info("feature cache %s is stale; recomputing", path)
    except Exception as e:  # a damaged cache is recomputed, never trusted
        log.warning("feature cache %s unreadable (%s); recomputing", path, e)
    return None


def load_or_compute(
    path: Path,
    key: str,
    compute,
    *,
    is_writer: bool = True,
    barrier: Callable[[], None] | None = None,
) -> dict[str, torch.Tensor]:
    """Read the cache file at ``path`` if its key matches, else compute and write it.

    With several processes pass ``is_writer`` (true on rank 0 only) and ``barrier``: the
    writer reads or builds the file, the others wait at the barrier and then read it."""
    from safetensors.torch import save_file

    tensors = None
    if is_writer:
        tensors = _read(path, key)
        if tensors is None:
            tensors = compute()
            log.info("feature cache: built %s (pid %d)", path.name, os.getpid())
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
            save_file(tensors, str(tmp), metadata={"key": key, "format": str(FORMAT_VERSION)})
            tmp.replace(path)
    if barrier is not None:
        barrier()
    if tensors is None:
        tensors = _read(path, key)
        if tensors is None:
            raise ConfigError(f"feature cache {str(path)!r} was not written by rank 0")
    return tensors


class CachedTrainSet(Dataset):
    """Index = clip (or caption, with all captions per epoch); the collate draws the rest
    (see :class:`CachedCollate`)."""

    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        return i


class CachedCollate:
    """Indices -> {audio_features (B, Da), text_features (B, Dt), caption_clip (B,),
    clip_index (B,)}.

    ``per_epoch="one"``: indices are clips, one random caption each. ``"all"``: indices are
    captions (every (clip, caption) pair once per epoch), each with its clip. Then a
    uniformly random audio view per row, and ``round(text_prob * B)`` captions (at least one
    when text_prob > 0) use a random paraphrase view. Seeded from (seed, epoch, indices).
    """

    def __init__(
        self, feats: dict, text_prob: float, seed: int, sampler: EpochSampler, per_epoch="one"
    ):
        self.audio, self.text = feats["audio"], feats["text"]
        self.caption_clip = feats["caption_clip"]
        self.clip_captions: list[list[int]] = [[] for _ in range(self.audio.shape[0])]
        for cap, clip in enumerate(self.caption_clip.tolist()):
            self.clip_captions[clip].append(cap)
        self.text_prob = text_prob
        self.seed = seed
        self.sampler = sampler
        self.per_epoch = per_epoch

    def __len__(self) -> int:
        """Items per epoch: clips, or (clip, caption) pairs."""
        return self.text.shape[0] if self.per_epoch == "all" else self.audio.shape[0]

    def __call__(self, indices: list[int]) -> dict:
        rng = random.Random(f"{self.seed}:{self.sampler.epoch}:{','.join(map(str, indices))}")
        b = len(indices)
        if self.per_epoch == "all":
            caps = list(indices)
            clips = [int(self.caption_clip[c]) for c in caps]
        else:
            clips = list(indices)
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
            "clip_index": torch.tensor(clips, dtype=torch.long),
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
            "clip_index": torch.tensor(list(clips), dtype=torch.long),
        }


class FeatureCacheDataModule(L.LightningDataModule):
    """Batches of cached encoder outputs for the same RetrievalModule.

    ``data`` / ``cache`` are the config's ``data`` / ``feature_cache`` sections;
    ``audio_augment`` / ``text_augmenter`` make the cached views; ``augment_key`` describes
    them for the cache key; ``text_prob`` is the share of each batch's captions that use a
    paraphrase view.
    """

    def __init__(
        self,
        data: DataConfig,
        cache: FeatureCacheConfig,
        model,
        tokenizer,
        sample_rate: int,
        clip_seconds: float | None,
        work_dir: str | Path,
        *,
        text_augmenter=None,
        audio_augment: torch.nn.Module | None = None,
        augment_key: dict | None = None,
        text_prob: float = 0.0,
        seed: int = 0,
        aug_seed: int | None = None,
        device: torch.device | str = "cpu",
    ):
        super().__init__()
        self.data = data
        self.cache = cache
        self.model = model
        self.tokenizer = tokenizer
        self.sample_rate = sample_rate
        self.clip_seconds = data.clip_seconds or clip_seconds
        self.work_dir = Path(work_dir)
        self.text_augmenter = text_augmenter
        self.audio_augment = audio_augment
        self.augment_key = augment_key or {}
        self.text_prob = text_prob if text_augmenter is not None else 0.0
        self.seed = seed
        self.aug_seed = seed if aug_seed is None else aug_seed
        self.device = device
        self.train_feats: dict | None = None
        self.val_feats: dict | None = None

    @property
    def cache_dir(self) -> Path:
        d = self.cache.dir
        return Path(d) if d else self.work_dir / "feature_cache"

    def _key(self, fp: str, items: list[dict], views: bool) -> str:
        fc = self.cache
        return cache_key(
            fp,
            items,
            clip_seconds=self.clip_seconds,
            max_length=self.data.max_length,
            audio_views=fc.audio_views if views else 0,
            text_views=fc.text_views if views else 0,
            augment=self.augment_key,
            seed=self.aug_seed,
            dtype=fc.dtype,
        )

    def prepare_data(self) -> None:
        prepare_source(self.data, self.work_dir)

    def setup(self, stage: str | None = None) -> None:
        if self.train_feats is not None:
            return
        fc = self.cache
        train_items, val_items = load_items(self.data, self.work_dir)
        rank, world = rank_and_world(self)
        barrier = self.trainer.strategy.barrier if world > 1 else None
        was_training = self.model.training
        self.model.to(self.device)
        fp = encoder_fingerprint(self.model) if rank == 0 else ""
        store = getattr(torch, fc.dtype)

        def compute(items, audio_views, text_views):
            return lambda: _stored(
                compute_features(
                    self.model,
                    items,
                    self.tokenizer,
                    self.data.max_length,
                    self.sample_rate,
                    self.clip_seconds,
                    audio_views=audio_views,
                    text_views=text_views,
                    batch_size=fc.batch_size,
                    seed=self.aug_seed,
                    text_augmenter=self.text_augmenter,
                    device=self.device,
                    num_workers=self.data.num_workers,
                    audio_augment=self.audio_augment,
                ),
                store,
            )

        if world > 1:  # every rank must look for the file rank 0 names
            import torch.distributed as dist

            shared = [fp]
            dist.broadcast_object_list(shared, src=0)
            fp = shared[0]
        key = self._key(fp, train_items, views=True)
        self.train_feats = load_or_compute(
            self.cache_dir / f"train-{key}.safetensors",
            key,
            compute(train_items, fc.audio_views, fc.text_views),
            is_writer=rank == 0,
            barrier=barrier,
        )
        val_key = self._key(fp, val_items, views=False)
        self.val_feats = load_or_compute(
            self.cache_dir / f"val-{val_key}.safetensors",
            val_key,
            compute(val_items, 0, 0),
            is_writer=rank == 0,
            barrier=barrier,
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
        bs = self.data.batch_size
        rank, world = rank_and_world(self)
        sampler = EpochSampler(0, seed=self.seed, rank=rank, world_size=world)
        collate = CachedCollate(
            self.train_feats, self.text_prob, self.aug_seed, sampler, self.data.captions_per_epoch
        )
        sampler.n = len(collate)
        return ResumableLoader(
            CachedTrainSet(len(collate)),
            progress=trainer_progress(self),
            batch_size=bs,
            sampler=sampler,
            collate_fn=collate,
            drop_last=len(sampler) > bs,
        )

    def val_dataloader(self) -> DataLoader:
        n = self.val_feats["audio"].shape[0]
        d = self.data
        rank, world = rank_and_world(self)
        return DataLoader(
            CachedTrainSet(n),
            batch_size=d.eval_batch_size or d.batch_size,
            sampler=ShardSampler(n, rank, world),
            collate_fn=CachedEvalCollate(self.val_feats),
        )


def _stored(feats: dict[str, torch.Tensor], dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Features in ``dtype`` (float16 halves the file; training reads float32)."""
    return {k: v.to(dtype) if v.is_floating_point() else v for k, v in feats.items()}
