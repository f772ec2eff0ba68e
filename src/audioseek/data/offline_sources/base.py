"""The record every offline-corpus reader yields."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: What kind of sound a clip is; chooses the caption templates.
KINDS = ("sfx", "instrument", "drum", "speech", "music", "ui", "ambience")


@dataclass
class Clip:
    """One sound of the corpus before it is decoded or rendered.

    ``key`` is unique over the whole corpus (``<source>/<name>``) and seeds everything
    random about the clip. ``phrases`` are noun phrases that describe the sound, most
    specific first (``"a frog croaking"``, ``"a frog"``); ``hypernyms`` are broader words
    (``"an amphibian"``, ``"an animal"``) used by some captions. Exactly one of ``path``
    (a file to decode) and ``render`` (a function ``sr -> mono float32``) is set.
    """

    source: str
    key: str
    label: str
    kind: str
    phrases: list[str]
    hypernyms: list[str] = field(default_factory=list)
    path: Path | None = None
    render: Callable[[int], np.ndarray] | None = None
    origin: str = ""
    #: sentence actually spoken (speech clips), used verbatim in some captions
    spoken: str | None = None
    #: a WordNet noun for the sound's source (``"frog"``): its synonyms and hypernyms
    #: add caption variety when WordNet is available
    wordnet_noun: str | None = None
    #: coarse category for zero-shot tests (``"animal"``, ``"rain"``...; one of
    #: :data:`~audioseek.data.offline_sources.captions.CATEGORIES`); ``""`` = derive it
    #: from the phrases with :func:`~audioseek.data.offline_sources.captions.categorize`
    category: str = ""
    #: a file longer than the clip cap is cut into at most this many pieces of equal
    #: length (<= the cap); 1 keeps only its first ``max_seconds`` (short effects)
    max_segments: int = 1

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown clip kind {self.kind!r}; expected one of {KINDS}")
        if (self.path is None) == (self.render is None):
            raise ValueError(f"clip {self.key!r} needs exactly one of path and render")
        if not self.phrases:
            raise ValueError(f"clip {self.key!r} has no descriptive phrase")
        if not self.origin:
            self.origin = str(self.path) if self.path is not None else "render"


@dataclass(frozen=True)
class Source:
    """One corpus source: a reader ``seed -> clips`` plus where its sounds come from.

    ``packages`` are the Debian packages the reader needs (installed by
    ``scripts/setup.sh --corpus``; :func:`missing_packages` lists absent ones);
    ``licence`` is the licence of its sounds as the package's
    ``/usr/share/doc/<package>/copyright`` states it, recorded per source in
    ``corpus_stats.json``.
    """

    reader: Callable[[int], list[Clip]]
    licence: str
    packages: tuple[str, ...] = ()

    def __call__(self, seed: int) -> list[Clip]:
        return self.reader(seed)
