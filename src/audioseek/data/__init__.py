"""Datasets of captioned audio: Clotho, AudioCaps, generic manifests, synthetic sounds.

Every loader returns a list of :class:`AudioCaptionItem` (a ``TypedDict``), so training,
evaluation and indexing code never needs to know which dataset it reads. Importing this
package is cheap (stdlib only): the torch ``Dataset`` and the collate function live in
``dataset.py`` / ``collate.py`` and are imported on first use.

Public API (lazily re-exported here)::

    load_clotho(root, split, version="v2.1", view="official"|"paper")
    load_audiocaps(root, split)
    load_manifest(path, split=None)
    AudioCaptionDataset(items, sample_rate, clip_seconds=None, caption="random", seed=0)
    collate_audio_text(batch, tokenizer, max_length=30)
    download_clotho(root, version="v2.1", splits=None, base_url=None)
    load_split(source, root, split, **options)     # the data-source registry (sources.py)
    default_splits(source, **options) -> Splits(train, val, test)
"""

from __future__ import annotations

import importlib
from typing import TypedDict


class AudioCaptionItem(TypedDict):
    """One audio clip with its captions.

    ``audio_path`` is absolute; ``captions`` holds every caption of the clip (5 for
    Clotho, 1 or 5 for AudioCaps, any number >= 1 for manifests); ``split`` is the split
    the item was loaded for; ``item_id`` is unique within a dataset (file name or id).
    """

    audio_path: str
    captions: list[str]
    split: str
    item_id: str


_LAZY = {
    "load_clotho": "audioseek.data.clotho",
    "ClothoSplit": "audioseek.data.clotho",
    "SPLITS": "audioseek.data.clotho",
    "PAPER_SPLITS": "audioseek.data.clotho",
    "paper_split": "audioseek.data.clotho",
    "load_audiocaps": "audioseek.data.audiocaps",
    "load_manifest": "audioseek.data.manifest",
    "write_manifest": "audioseek.data.manifest",
    "AudioCaptionDataset": "audioseek.data.dataset",
    "collate_audio_text": "audioseek.data.collate",
    "download_clotho": "audioseek.data.download",
    "make_synthetic_items": "audioseek.data.synthetic",
    "write_synthetic_manifest": "audioseek.data.synthetic",
    "write_clotho_layout": "audioseek.data.synthetic",
    "load_split": "audioseek.data.sources",
    "default_splits": "audioseek.data.sources",
    "register_source": "audioseek.data.sources",
    "source_names": "audioseek.data.sources",
    "Splits": "audioseek.data.sources",
}

__all__ = ["AudioCaptionItem", *_LAZY]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'audioseek.data' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
