"""LightningDataModule over Clotho, AudioCaps, a manifest, or generated synthetic clips.

Training batches draw one random caption per clip; 20% of each batch's captions are
augmented by :class:`audioseek.text.augment.TextAugmenter` (``augment.text_prob``) in the
collate function, seeded from (seed, epoch, clip indices) so a resumed run sees the same
augmentations. Clips are shuffled by :class:`EpochSampler`, a permutation seeded by
(seed, epoch): Lightning calls its ``set_epoch``, so resuming at an epoch boundary
reproduces the uninterrupted order. Validation batches carry all captions of each clip
and are never augmented.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader, Sampler

from audioseek.errors import DatasetError
from audioseek.train.config import TrainConfig

log = logging.getLogger(__name__)

DEFAULT_SPLITS = {
    "clotho": ("development", "validation"),
    "audiocaps": ("train", "val"),
    "manifest": ("train", "val"),
    "synthetic": ("train", "val"),
}


class EpochSampler(Sampler[int]):
    """A random permutation of ``range(n)`` that depends only on (seed, epoch).

    :meth:`resume` makes the next iteration of a given epoch skip its first items (the
    batches a checkpoint had already trained on), for exact mid-epoch resume.
    """

    def __init__(self, n: int, seed: int = 0, dataset=None):
        self.n = n
        self.seed = seed
        self.epoch = 0
        self.dataset = dataset  # its set_epoch (random caption choice) follows ours
        self._resume: tuple[int, int] | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if self.dataset is not None and hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)

    def resume(self, epoch: int, skip: int) -> None:
        self.set_epoch(epoch)
        self._resume = (epoch, skip) if 0 < skip < self.n else None

    def __iter__(self):
        g = torch.Generator()
        g.manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(self.n, generator=g).tolist()
        if self._resume is not None:
            epoch, skip = self._resume
            self._resume = None
            if epoch == self.epoch:
                order = order[skip:]
        return iter(order)

    def __len__(self) -> int:
        return self.n


class ResumableLoader(DataLoader):
    """A DataLoader over an :class:`EpochSampler` that Lightning checkpoints and restores
    (``state_dict`` / ``load_state_dict``): the epoch and how many of its batches were trained,
    so a run resumed mid-epoch continues with exactly the batches that were left."""

    def __init__(self, *args, progress=None, **kwargs):
        super().__init__(*args, **kwargs)
        self._progress = progress  # () -> batches trained so far in the current epoch

    def state_dict(self) -> dict:
        done = int(self._progress()) if self._progress is not None else 0
        return {"epoch": int(self.sampler.epoch), "batches_done": done}

    def load_state_dict(self, state: dict) -> None:
        self.sampler.resume(int(state["epoch"]), int(state["batches_done"]) * self.batch_size)


def trainer_progress(holder):
    """``progress`` for :class:`ResumableLoader`: batches trained in the current epoch."""

    def progress() -> int:
        trainer = getattr(holder, "_trainer", None) or getattr(holder, "trainer", None)
        if trainer is None:
            return 0
        return trainer.fit_loop.epoch_loop.batch_progress.current.processed

    return progress


class TrainCollate:
    """``collate_audio_text`` after augmenting the captions of the batch."""

    def __init__(self, tokenizer, max_length: int, augmenter=None, sampler=None, seed=0):
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.augmenter = augmenter
        self.sampler = sampler
        self.seed = seed

    def __call__(self, items: list[dict]) -> dict:
        from audioseek.data.collate import collate_audio_text

        if self.augmenter is not None and self.augmenter.prob > 0:
            captions = [c for item in items for c in item["captions"]]
            epoch = self.sampler.epoch if self.sampler is not None else 0
            key = ",".join(str(item["clip_index"]) for item in items)
            rng = random.Random(f"{self.seed}:{epoch}:{key}")
            new = iter(self.augmenter(captions, rng=rng))
            items = [{**item, "captions": [next(new) for _ in item["captions"]]} for item in items]
        return collate_audio_text(items, self.tokenizer, max_length=self.max_length)


class EvalCollate:
    def __init__(self, tokenizer, max_length: int):
        self.tokenizer = tokenizer
        self.max_length = max_length

    def __call__(self, items: list[dict]) -> dict:
        from audioseek.data.collate import collate_audio_text

        return collate_audio_text(items, self.tokenizer, max_length=self.max_length)


def splits_for(cfg: TrainConfig) -> tuple[str, str]:
    train_default, val_default = DEFAULT_SPLITS[cfg.data.source]
    return cfg.data.train_split or train_default, cfg.data.val_split or val_default


def synthetic_manifest(cfg: TrainConfig, work_dir: str | Path) -> Path:
    """Write (once) the synthetic corpus of ``cfg.data`` and return its manifest path."""
    from audioseek.data.synthetic import write_synthetic_manifest

    s = cfg.data.synthetic
    root = Path(s.root) if s.root else Path(work_dir) / "synthetic"
    tag = f"n{s.n_clips}_s{s.seed}_sr{s.sample_rate}_d{s.duration}_v{s.val_fraction}"
    root = root / tag
    manifest = root / "manifest.csv"
    if not manifest.is_file():
        splits = (("train", 1.0 - s.val_fraction), ("val", s.val_fraction))
        write_synthetic_manifest(
            root, s.n_clips, seed=s.seed, sr=s.sample_rate, duration=s.duration, splits=splits
        )
    return manifest


def load_items(cfg: TrainConfig, work_dir: str | Path) -> tuple[list[dict], list[dict]]:
    """(train items, validation items) as ``AudioCaptionItem`` dicts."""
    d = cfg.data
    train_split, val_split = splits_for(cfg)
    if d.source == "clotho":
        from audioseek.data.clotho import load_clotho

        train = load_clotho(d.root, train_split, version=d.clotho_version, view=d.clotho_view)
        val = load_clotho(d.root, val_split, version=d.clotho_version, view=d.clotho_view)
    elif d.source == "audiocaps":
        from audioseek.data.audiocaps import load_audiocaps

        train, val = load_audiocaps(d.root, train_split), load_audiocaps(d.root, val_split)
    else:
        from audioseek.data.manifest import load_manifest

        if d.source == "synthetic":
            path = synthetic_manifest(cfg, work_dir)
            train, val = load_manifest(path, split="train"), load_manifest(path, split="val")
        elif d.val_manifest:
            train, val = load_manifest(d.root), load_manifest(d.val_manifest)
        else:
            train = load_manifest(d.root, split=train_split)
            val = load_manifest(d.root, split=val_split)
    if d.max_train_clips is not None:
        train = train[: d.max_train_clips]
    if d.max_val_clips is not None:
        val = val[: d.max_val_clips]
    where = d.root if d.source != "synthetic" else "synthetic data"
    if len(train) < 2:
        raise DatasetError(f"{where!r}: training split {train_split!r} has {len(train)} clips")
    if not val:
        raise DatasetError(f"{where!r}: validation split {val_split!r} has no clips")
    return train, val


class RetrievalDataModule(L.LightningDataModule):
    """Raw-audio batches for :class:`audioseek.train.module.RetrievalModule`.

    ``tokenizer`` is what ``collate_audio_text`` expects (the text encoder's tokenizer);
    ``sample_rate`` / ``clip_seconds`` are the model's.
    """

    def __init__(
        self,
        cfg: TrainConfig,
        tokenizer,
        sample_rate: int,
        clip_seconds: float | None,
        work_dir: str | Path,
        augmenter=None,
    ):
        super().__init__()
        self.cfg = cfg
        self.tokenizer = tokenizer
        self.sample_rate = sample_rate
        self.clip_seconds = cfg.data.clip_seconds or clip_seconds
        self.work_dir = Path(work_dir)
        self.augmenter = augmenter
        self.train_items: list[dict] | None = None
        self.val_items: list[dict] | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.train_items is None:
            self.train_items, self.val_items = load_items(self.cfg, self.work_dir)
            log.info("data: %d training clips, %d validation clips", *self.sizes)

    @property
    def sizes(self) -> tuple[int, int]:
        return len(self.train_items or ()), len(self.val_items or ())

    def _dataset(self, items, caption):
        from audioseek.data.dataset import AudioCaptionDataset

        return AudioCaptionDataset(
            items, self.sample_rate, self.clip_seconds, caption=caption, seed=self.cfg.seed
        )

    def train_dataloader(self) -> DataLoader:
        d = self.cfg.data
        dataset = self._dataset(self.train_items, "random")
        sampler = EpochSampler(len(self.train_items), seed=self.cfg.seed, dataset=dataset)
        aug_seed = self.cfg.augment.seed if self.cfg.augment.seed is not None else self.cfg.seed
        collate = TrainCollate(self.tokenizer, d.max_length, self.augmenter, sampler, aug_seed)
        return ResumableLoader(
            dataset,
            progress=trainer_progress(self),
            batch_size=d.batch_size,
            sampler=sampler,
            collate_fn=collate,
            num_workers=d.num_workers,
            drop_last=len(self.train_items) > d.batch_size,
            # workers are re-created each epoch, after set_epoch: exact caption choice
            persistent_workers=False,
        )

    def val_dataloader(self) -> DataLoader:
        d = self.cfg.data
        return DataLoader(
            self._dataset(self.val_items, "all"),
            batch_size=d.eval_batch_size or d.batch_size,
            shuffle=False,
            collate_fn=EvalCollate(self.tokenizer, d.max_length),
            num_workers=d.num_workers,
        )
