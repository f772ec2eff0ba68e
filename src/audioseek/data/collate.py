"""Batching for audio-text training and evaluation.

:func:`collate_audio_text` joins :class:`~audioseek.data.dataset.AudioCaptionDataset`
items into one batch: right zero-padded waveforms, every caption of every clip
tokenised to exactly ``max_length`` tokens (the paper uses 30) with an attention mask,
and ``caption_clip`` telling which clip each caption belongs to, so a clip with several
captions in the batch is known to the loss (captions of the same clip are not
negatives of each other).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

import torch

from audioseek.errors import ConfigError


def _is_hf_tokenizer(tokenizer) -> bool:
    if "transformers" not in sys.modules:  # no HF tokenizer can exist without it
        return False
    from transformers import PreTrainedTokenizerBase

    return isinstance(tokenizer, PreTrainedTokenizerBase)


def _fix_length(rows, max_length: int, fill: int) -> torch.Tensor:
    """Rows of ids (lists or a 2-D tensor) -> (N, max_length) long, padded / truncated."""
    if isinstance(rows, torch.Tensor):
        rows = rows.tolist()
    out = torch.full((len(rows), max_length), fill, dtype=torch.long)
    for i, row in enumerate(rows):
        row = list(row)[:max_length]
        if row:
            out[i, : len(row)] = torch.as_tensor(row, dtype=torch.long)
    return out


def tokenize_captions(
    captions: list[str], tokenizer: Callable, max_length: int = 30, pad_token_id: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(input_ids, attention_mask)``, both ``(N, max_length)`` long.

    A Hugging Face tokenizer is called with ``padding="max_length", truncation=True,
    max_length``. Any other callable (e.g. ``TextEncoder.tokenize``) is called as
    ``tokenizer(captions)`` and must return ``input_ids`` and optionally
    ``attention_mask``; rows are then padded with ``pad_token_id`` (default: the
    tokenizer's ``pad_token_id`` attribute, else 0) or truncated to ``max_length``.
    """
    if max_length <= 0:
        raise ConfigError(f"max_length must be positive, got {max_length!r}")
    if _is_hf_tokenizer(tokenizer):
        enc = tokenizer(
            captions,
            padding="max_length",
            truncation=True,
            max_length=max_length,
            return_tensors="pt",
        )
        ids, mask = enc["input_ids"], enc["attention_mask"]
        return ids.long(), mask.long()
    enc = tokenizer(captions)
    if "input_ids" not in enc:
        raise ConfigError(
            f"tokenizer {tokenizer!r} returned keys {sorted(enc)}; expected 'input_ids'"
        )
    if pad_token_id is None:
        owner = getattr(tokenizer, "__self__", tokenizer)
        pad_token_id = getattr(owner, "pad_token_id", None)
        if pad_token_id is None:
            pad_token_id = getattr(getattr(owner, "tokenizer", None), "pad_token_id", 0) or 0
    ids = _fix_length(enc["input_ids"], max_length, int(pad_token_id))
    if "attention_mask" in enc:
        mask = _fix_length(enc["attention_mask"], max_length, 0)
    else:
        lengths = [min(len(r), max_length) for r in enc["input_ids"]]
        mask = (torch.arange(max_length)[None, :] < torch.tensor(lengths)[:, None]).long()
    return ids, mask


def pad_waveforms(waves: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right zero-pad 1-D waveforms into ``(B, max_samples)``; also return lengths ``(B,)``."""
    waves = [torch.as_tensor(w, dtype=torch.float32).reshape(-1) for w in waves]
    lengths = torch.tensor([w.numel() for w in waves], dtype=torch.long)
    out = torch.zeros(len(waves), int(lengths.max()) if len(waves) else 0)
    for i, w in enumerate(waves):
        out[i, : w.numel()] = w
    return out, lengths


def collate_audio_text(
    batch: Sequence[dict], tokenizer: Callable, max_length: int = 30
) -> dict[str, object]:
    """Collate dataset items (``waveform``, ``captions``, ``clip_index``, ``item_id``).

    Returns ``waveforms (B, samples)`` float32 zero-padded, ``lengths (B,)``,
    ``captions`` (N strings, clip by clip), ``input_ids`` / ``attention_mask``
    ``(N, max_length)``, ``caption_clip (N,)`` long (index into the B clips),
    ``clip_index (B,)`` (dataset indices) and ``item_ids`` (B strings).
    """
    if not batch:
        raise ConfigError("cannot collate an empty batch")
    waves, lengths = pad_waveforms([b["waveform"] for b in batch])
    captions: list[str] = []
    owner: list[int] = []
    for i, b in enumerate(batch):
        captions.extend(b["captions"])
        owner.extend([i] * len(b["captions"]))
    input_ids, attention_mask = tokenize_captions(captions, tokenizer, max_length)
    return {
        "waveforms": waves,
        "lengths": lengths,
        "captions": captions,
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "caption_clip": torch.tensor(owner, dtype=torch.long),
        "clip_index": torch.tensor([int(b.get("clip_index", i)) for i, b in enumerate(batch)]),
        "item_ids": [str(b.get("item_id", i)) for i, b in enumerate(batch)],
    }
