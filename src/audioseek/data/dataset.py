"""A torch ``Dataset`` over :class:`~audioseek.data.AudioCaptionItem` lists.

Audio is decoded with :func:`audioseek.audio.io.load_audio` (mono float32 at
``sample_rate``) and, when ``clip_seconds`` is set, centre padded with silence / centre
cropped to exactly ``round(clip_seconds * sample_rate)`` samples with
:func:`audioseek.audio.windows.pad_or_crop_center` (the paper pads every clip to 40 s).

Caption choice per item:
    ``"random"``  one caption, drawn from ``(seed, epoch, index)``: the same within an
                  epoch on every run and in every worker, different across epochs (call
                  :meth:`AudioCaptionDataset.set_epoch` at the start of each epoch;
                  with persistent DataLoader workers do it before the workers start).
    ``"all"``     every caption of the clip (evaluation; multi-caption training).
    ``int i``     caption ``i`` of every clip.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from audioseek.data import AudioCaptionItem
from audioseek.errors import ConfigError, DatasetError


class AudioCaptionDataset(Dataset):
    """``__getitem__(i)`` -> ``{"waveform": Tensor (samples,), "captions": list[str],
    "clip_index": i, "item_id": str}``; waveforms are float32 at ``sample_rate``."""

    def __init__(
        self,
        items: Sequence[AudioCaptionItem],
        sample_rate: int,
        clip_seconds: float | None = None,
        caption: str | int = "random",
        seed: int = 0,
    ):
        if not isinstance(sample_rate, int) or sample_rate <= 0:
            raise ConfigError(f"sample_rate must be a positive integer, got {sample_rate!r}")
        if clip_seconds is not None and not clip_seconds > 0:
            raise ConfigError(f"clip_seconds must be positive or None, got {clip_seconds!r}")
        if isinstance(caption, bool) or not (
            caption in ("random", "all") or (isinstance(caption, int) and caption >= 0)
        ):
            raise ConfigError(
                f"caption must be 'random', 'all' or a caption index >= 0, got {caption!r}"
            )
        self.items = list(items)
        for it in self.items:
            if not it["captions"]:
                raise DatasetError(f"item {it['item_id']!r} ({it['audio_path']!r}) has no caption")
            if isinstance(caption, int) and caption >= len(it["captions"]):
                raise ConfigError(
                    f"caption index {caption} out of range for item {it['item_id']!r} "
                    f"with {len(it['captions'])} captions"
                )
        self.sample_rate = sample_rate
        self.clip_seconds = clip_seconds
        self.clip_samples = (
            int(round(clip_seconds * sample_rate)) if clip_seconds is not None else None
        )
        self.caption = caption
        self.seed = int(seed)
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.items)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose random captions ``__getitem__`` draws."""
        self.epoch = int(epoch)

    def select_captions(self, index: int) -> list[str]:
        caps = self.items[index]["captions"]
        if self.caption == "all":
            return list(caps)
        if self.caption == "random":
            rng = np.random.default_rng([self.seed, self.epoch, index])
            return [caps[int(rng.integers(len(caps)))]]
        return [caps[self.caption]]

    def load_waveform(self, index: int) -> torch.Tensor:
        from audioseek.audio.io import load_audio

        wave = load_audio(self.items[index]["audio_path"], self.sample_rate)
        if self.clip_samples is not None:
            from audioseek.audio.windows import pad_or_crop_center

            wave = pad_or_crop_center(wave, self.clip_samples)
        return torch.as_tensor(np.ascontiguousarray(wave), dtype=torch.float32)

    def __getitem__(self, index: int) -> dict:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        index = index % len(self)
        return {
            "waveform": self.load_waveform(index),
            "captions": self.select_captions(index),
            "clip_index": index,
            "item_id": self.items[index]["item_id"],
        }
