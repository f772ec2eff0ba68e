"""LightningDataModule over any source of :mod:`audioseek.data.sources` (Clotho, AudioCaps,
a manifest, generated synthetic clips); the module receives the ``data`` section only.

``captions_per_epoch: one``: an epoch is one random caption per clip. ``all``: an epoch is
every (clip, caption) pair once; a clip whose two captions share a batch is one positive
class (``clip_index``), never its own negative. 20% of each batch's captions are
augmented by :class:`audioseek.text.augment.TextAugmenter` (``augment.text_prob``) in the
collate function, seeded from (seed, epoch, clip indices) so a resumed run sees the same
augmentations. Clips are shuffled by :class:`EpochSampler`, a permutation seeded by
(seed, epoch): Lightning calls its ``set_epoch``, so resuming at an epoch boundary
reproduces the uninterrupted order. Validation batches carry all captions of each clip
and are never augmented.

Several processes (DDP): the module shards the data itself (the Trainer runs with
``use_distributed_sampler=False``): rank ``r`` of ``w`` trains on positions ``r, r+w, ...``
of the epoch's permutation, so the k-th batches of all ranks together are the k-th batch of
a single process with ``w`` times the batch size, and mid-epoch resume skips the same
number of local batches on every rank. Validation is split ``r::w`` without padding; the
module gathers the shards.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from audioseek.errors import ConfigError, DatasetError
from audioseek.train.config import DataConfig

log = logging.getLogger(__name__)


class EpochSampler(Sampler[int]):
    """A random permutation of ``range(n)`` that depends only on (seed, epoch); with
    ``world_size > 1`` this rank's share of it (positions ``rank::world_size`` after dropping
    the ``n % world_size`` last items, so every rank has as many).

    :meth:`resume` makes the next iteration of a given epoch skip its first items (the
    batches a checkpoint had already trained on), for exact mid-epoch resume.
    """

    def __init__(self, n: int, seed: int = 0, dataset=None, rank: int = 0, world_size: int = 1):
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} out of range for world size {world_size}")
        self.n = n
        self.seed = seed
        self.epoch = 0
        self.rank = rank
        self.world_size = world_size
        self.dataset = dataset  # its set_epoch (random caption choice) follows ours
        self._resume: tuple[int, int] | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if self.dataset is not None and hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)

    def resume(self, epoch: int, skip: int) -> None:
        self.set_epoch(epoch)
        self._resume = (epoch, skip) if 0 < skip < len(self) else None

    def __iter__(self):
        g = torch.Generator()
        g.manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(self.n, generator=g).tolist()
        if self.world_size > 1:
            order = order[: len(self) * self.world_size][self.rank :: self.world_size]
        if self._resume is not None:
            epoch, skip = self._resume
            self._resume = None
            if epoch == self.epoch:
                order = order[skip:]
        return iter(order)

    def __len__(self) -> int:
        return self.n // self.world_size if self.world_size > 1 else self.n


class ShardSampler(Sampler[int]):
    """``rank, rank + world_size, ...`` of ``range(n)`` in order, no padding (validation)."""

    def __init__(self, n: int, rank: int = 0, world_size: int = 1):
        self.n, self.rank, self.world_size = n, rank, world_size

    def __iter__(self):
        return iter(range(self.rank, self.n, self.world_size))

    def __len__(self) -> int:
        return len(range(self.rank, self.n, self.world_size))


class PairDataset(Dataset):
    """Every (clip, caption) pair of an ``AudioCaptionDataset`` as one item (one caption)."""

    def __init__(self, clips):
        self.clips = clips
        self.pairs = [
            (i, j) for i, it in enumerate(clips.items) for j in range(len(it["captions"]))
        ]

    def __len__(self) -> int:
        return len(self.pairs)

    def set_epoch(self, epoch: int) -> None:
        self.clips.set_epoch(epoch)

    def __getitem__(self, index: int) -> dict:
        clip, cap = self.pairs[index]
        item = self.clips.items[clip]
        return {
            "waveform": self.clips.load_waveform(clip),
            "captions": [item["captions"][cap]],
            "clip_index": clip,
            "item_id": item["item_id"],
        }


def rank_and_world(holder) -> tuple[int, int]:
    """(global rank, world size) of the Trainer ``holder`` is attached to; (0, 1) alone."""
    trainer = getattr(holder, "_trainer", None) or getattr(holder, "trainer", None)
    if trainer is None:
        return 0, 1
    return int(trainer.global_rank), int(trainer.world_size)


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


def source_options(data: DataConfig) -> dict:
    """Options of ``data.source`` for :func:`audioseek.data.sources.load_split`."""
    if data.source == "clotho":
        return {"version": data.clotho_version, "view": data.clotho_view}
    if data.source == "synthetic":
        s = data.synthetic
        return {
            "n_clips": s.n_clips,
            "val_fraction": s.val_fraction,
            "sample_rate": s.sample_rate,
            "duration": s.duration,
            "seed": s.seed,
        }
    return {}


def source_root(data: DataConfig, work_dir: str | Path) -> str:
    """Where ``data.source`` reads from (synthetic: where its clips are written)."""
    if data.source == "synthetic":
        return str(
            Path(data.synthetic.root) if data.synthetic.root else Path(work_dir) / "synthetic"
        )
    if not data.root:
        raise ConfigError(f"data.root is required for data.source {data.source!r}")
    return str(data.root)


def splits_for(data: DataConfig) -> tuple[str | None, str | None]:
    """(train split, validation split): the config's, else the source's defaults."""
    from audioseek.data.sources import default_splits

    if data.source == "manifest" and data.val_manifest:
        return data.train_split, data.val_split  # None: the whole file
    defaults = default_splits(data.source, **source_options(data))
    return data.train_split or defaults.train, data.val_split or defaults.val


def synthetic_manifest(data: DataConfig, work_dir: str | Path) -> Path:
    """Write (once) the synthetic corpus of ``data`` and return its manifest path."""
    from audioseek.data.sources import synthetic_manifest as write

    return write(source_root(data, work_dir), **source_options(data))


def prepare_source(data: DataConfig, work_dir: str | Path) -> None:
    """Write generated data once (Lightning calls ``prepare_data`` on one process per node,
    then ``setup`` everywhere): the synthetic corpus."""
    if data.source == "synthetic":
        synthetic_manifest(data, work_dir)


def load_items(data: DataConfig, work_dir: str | Path) -> tuple[list[dict], list[dict]]:
    """(train items, validation items) as ``AudioCaptionItem`` dicts, from the registry."""
    from audioseek.data.sources import load_split, manifest_has_splits

    train_split, val_split = splits_for(data)
    root = source_root(data, work_dir)
    options = source_options(data)
    if data.source == "manifest" and not data.val_manifest and not manifest_has_splits(root):
        raise DatasetError(
            f"manifest {root!r} has no 'split' column, so it has no {train_split!r} / "
            f"{val_split!r} splits: add the column, or set data.val_manifest (then the whole "
            "of data.root trains)"
        )
    train = load_split(data.source, root, train_split, **options)
    if data.source == "manifest" and data.val_manifest:
        val = load_split("manifest", data.val_manifest, val_split)
    else:
        val = load_split(data.source, root, val_split, **options)
    if data.max_train_clips is not None:
        train = train[: data.max_train_clips]
    if data.max_val_clips is not None:
        val = val[: data.max_val_clips]
    where = root if data.source != "synthetic" else "synthetic data"
    if len(train) < 2:
        raise DatasetError(f"{where!r}: training split {train_split!r} has {len(train)} clips")
    if not val:
        raise DatasetError(f"{where!r}: validation split {val_split!r} has no clips")
    return train, val


class RetrievalDataModule(L.LightningDataModule):
    """Raw-audio batches for :class:`audioseek.train.module.RetrievalModule`.

    ``data`` is the config's ``data`` section; ``tokenizer`` is what ``collate_audio_text``
    expects (the text encoder's tokenizer); ``sample_rate`` / ``clip_seconds`` are the
    model's; ``augmenter`` edits training captions (seeded by ``aug_seed``); ``seed`` drives
    the clip order and caption choice.
    """

    def __init__(
        self,
        data: DataConfig,
        tokenizer,
        sample_rate: int,
        clip_seconds: float | None,
        work_dir: str | Path,
        augmenter=None,
        *,
        seed: int = 0,
        aug_seed: int | None = None,
    ):
        super().__init__()
        self.data = data
        self.tokenizer = tokenizer
        self.sample_rate = sample_rate
        self.clip_seconds = data.clip_seconds or clip_seconds
        self.work_dir = Path(work_dir)
        self.augmenter = augmenter
        self.seed = seed
        self.aug_seed = seed if aug_seed is None else aug_seed
        self.train_items: list[dict] | None = None
        self.val_items: list[dict] | None = None

    def prepare_data(self) -> None:
        prepare_source(self.data, self.work_dir)

    def setup(self, stage: str | None = None) -> None:
        if self.train_items is None:
            self.train_items, self.val_items = load_items(self.data, self.work_dir)
            log.info("data: %d training clips, %d validation clips", *self.sizes)

    @property
    def sizes(self) -> tuple[int, int]:
        return len(self.train_items or ()), len(self.val_items or ())

    def _dataset(self, items, caption):
        from audioseek.data.dataset import AudioCaptionDataset

        return AudioCaptionDataset(
            items, self.sample_rate, self.clip_seconds, caption=caption, seed=self.seed
        )

    def train_dataloader(self) -> DataLoader:
        d = self.data
        if d.captions_per_epoch == "all":
            dataset = PairDataset(self._dataset(self.train_items, "all"))
        else:
            dataset = self._dataset(self.train_items, "random")
        rank, world = rank_and_world(self)
        sampler = EpochSampler(len(dataset), self.seed, dataset, rank=rank, world_size=world)
        collate = TrainCollate(self.tokenizer, d.max_length, self.augmenter, sampler, self.aug_seed)
        return ResumableLoader(
            dataset,
            progress=trainer_progress(self),
            batch_size=d.batch_size,
            sampler=sampler,
            collate_fn=collate,
            num_workers=d.num_workers,
            drop_last=len(sampler) > d.batch_size,
            # workers are re-created each epoch, after set_epoch: exact caption choice
            persistent_workers=False,
        )

    def val_dataloader(self) -> DataLoader:
        d = self.data
        rank, world = rank_and_world(self)
        return DataLoader(
            self._dataset(self.val_items, "all"),
            batch_size=d.eval_batch_size or d.batch_size,
            sampler=ShardSampler(len(self.val_items), rank, world),
            collate_fn=EvalCollate(self.tokenizer, d.max_length),
            num_workers=d.num_workers,
        )
