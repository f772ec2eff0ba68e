"""The data-source registry: the one place that knows how a named dataset is loaded.

Training (``train/datamodule.py``), evaluation (``eval/retrieval.py``) and the experiment
grid (``audioseek.experiments``) all ask this module, so a split means the same thing
everywhere::

    load_split("clotho", "data/clotho", "evaluation", version="v1")
    default_splits("clotho", version="v2.1", view="paper")   # Splits("train", "val", "test")

Each source registers with :func:`register_source` and gives ``load(root, split, **options)``
and ``default_splits(**options)`` (train / val / test names).

Split rule (the same in training, evaluation and experiments): a split is selected by
name; ``split=None`` means *every item the source holds* and only a manifest accepts it.
A manifest without a ``split`` column is one unsplit pool: asking it for a named split is
an error (:class:`DatasetError` naming the file), never a silent "use the whole file".
So training on such a manifest needs ``data.val_manifest`` (the whole of ``root`` trains,
the whole of ``val_manifest`` validates); evaluating it works without ``--split`` (its
default test split is the whole file) and fails with one.

Sources:

``clotho``     options ``version`` (``"v2.1"`` | ``"v1"``) and ``view`` (``"official"`` |
               ``"paper"``; ``None``: paper when ``split`` is one of train/val/test). Defaults:
               v2.1 official development / validation / evaluation; paper view
               train / val / test (the 60/20/20 re-split). Clotho v1 has no validation
               split, so its official view has no default validation split: pass one, or use
               the paper view.
``audiocaps``  train / val / test.
``manifest``   ``root`` is the manifest file (or its folder); defaults train / val / test,
               and for a manifest without a split column the test split is the whole file.
``synthetic``  generated clips (:mod:`audioseek.data.synthetic`) written once under
               ``root``; train / val, and, having no test split, the held-out ``val`` clips
               as its test split.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audioseek.data import AudioCaptionItem
from audioseek.errors import ConfigError, DatasetError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Splits:
    """Default split names of a source; ``None``: the source has no such split."""

    train: str | None
    val: str | None
    test: str | None


@dataclass(frozen=True)
class DataSource:
    """A registered source: ``load(root, split, **options)``, ``default_splits(**options)``."""

    name: str
    load: Callable[..., list[AudioCaptionItem]]
    default_splits: Callable[..., Splits]
    options: tuple[str, ...] = ()  # the option names ``load`` accepts


_SOURCES: dict[str, DataSource] = {}


def register_source(name: str, *, splits: Callable[..., Splits], options: tuple[str, ...] = ()):
    """Decorator registering ``load(root, split, **options)`` as source ``name``."""

    def wrap(load: Callable[..., list[AudioCaptionItem]]):
        if name in _SOURCES:
            raise ValueError(f"data source {name!r} is already registered")
        _SOURCES[name] = DataSource(name, load, splits, tuple(options))
        return load

    return wrap


def source_names() -> tuple[str, ...]:
    return tuple(_SOURCES)


def get_source(name: str) -> DataSource:
    if name not in _SOURCES:
        raise ConfigError(f"unknown data source {name!r}; expected one of {source_names()}")
    return _SOURCES[name]


def _check_options(source: DataSource, options: dict[str, Any]) -> dict[str, Any]:
    bad = sorted(set(options) - set(source.options))
    if bad:
        raise ConfigError(
            f"data source {source.name!r} takes no option {bad[0]!r}; "
            f"expected some of {source.options}"
        )
    return options


def default_splits(name: str, **options) -> Splits:
    source = get_source(name)
    return source.default_splits(**_check_options(source, options))


def load_split(name: str, root, split: str | None, **options) -> list[AudioCaptionItem]:
    """Items of ``split`` of source ``name`` under ``root``; never empty."""
    source = get_source(name)
    if root is None or str(root) == "":
        raise ConfigError(f"data source {name!r} needs a root folder or file")
    items = source.load(root, split, **_check_options(source, options))
    if not items:
        raise DatasetError(f"no clips in {name} split {split!r} at {str(root)!r}")
    return items


# ---- clotho ---------------------------------------------------------------------------


def _clotho_view(split: str | None, view: str | None) -> str:
    from audioseek.data.clotho import PAPER_SPLITS, SPLITS

    if view is not None:
        return view
    return "paper" if split in PAPER_SPLITS and split not in SPLITS else "official"


def _clotho_splits(version: str = "v2.1", view: str | None = "official") -> Splits:
    from audioseek.data.clotho import VERSION_SPLITS, VERSIONS

    if version not in VERSION_SPLITS:
        raise ConfigError(f"unknown Clotho version {version!r}; expected one of {VERSIONS}")
    if view == "paper":
        return Splits("train", "val", "test")
    has = VERSION_SPLITS[version]
    return Splits("development", "validation" if "validation" in has else None, "evaluation")


@register_source("clotho", splits=_clotho_splits, options=("version", "view"))
def _load_clotho(root, split, version: str = "v2.1", view: str | None = None):
    from audioseek.data.clotho import load_clotho

    if split is None:
        raise DatasetError("Clotho needs a split name (e.g. 'development', 'evaluation')")
    return load_clotho(root, split, version=version, view=_clotho_view(split, view))


# ---- audiocaps ------------------------------------------------------------------------


@register_source("audiocaps", splits=lambda: Splits("train", "val", "test"))
def _load_audiocaps(root, split):
    from audioseek.data.audiocaps import load_audiocaps

    if split is None:
        raise DatasetError("AudioCaps needs a split name ('train', 'val' or 'test')")
    return load_audiocaps(root, split)


# ---- manifest -------------------------------------------------------------------------


@register_source("manifest", splits=lambda: Splits("train", "val", "test"))
def _load_manifest(root, split):
    from audioseek.data.manifest import load_manifest

    return load_manifest(root, split=split)


def manifest_has_splits(path) -> bool:
    """Whether a manifest's rows carry a ``split`` (else it is one unsplit pool)."""
    from audioseek.data.manifest import load_manifest

    return any(it["split"] for it in load_manifest(path, check_audio=False))


def test_split(name: str, root, split: str | None = None, **options) -> str | None:
    """The split to evaluate on: ``split`` if given, else the source's default test split;
    ``None`` (the whole file) for a manifest without a split column."""
    if split:
        return split
    if name == "manifest" and not manifest_has_splits(root):
        return None
    test = default_splits(name, **options).test
    if test is None:
        raise DatasetError(f"data source {name!r} has no test split; pass one")
    return test


test_split.__test__ = False  # not a pytest test


# ---- synthetic ------------------------------------------------------------------------


@dataclass(frozen=True)
class SyntheticSpec:
    """Options of the ``synthetic`` source (mirrors ``train.config.SyntheticConfig``)."""

    n_clips: int = 96
    val_fraction: float = 0.25
    sample_rate: int = 16000
    duration: float = 2.0
    seed: int = 0

    @property
    def tag(self) -> str:
        return (
            f"n{self.n_clips}_s{self.seed}_sr{self.sample_rate}_d{self.duration}"
            f"_v{self.val_fraction}"
        )


def synthetic_manifest(root, **options) -> Path:
    """Write (once) the synthetic corpus described by ``options`` under ``root`` and return
    its manifest. The folder is named by the options, so different corpora never mix."""
    from audioseek.data.synthetic import write_synthetic_manifest

    spec = SyntheticSpec(**options)
    folder = Path(root) / spec.tag
    manifest = folder / "manifest.csv"
    if not manifest.is_file():
        splits = (("train", 1.0 - spec.val_fraction), ("val", spec.val_fraction))
        write_synthetic_manifest(
            folder,
            spec.n_clips,
            seed=spec.seed,
            sr=spec.sample_rate,
            duration=spec.duration,
            splits=splits,
        )
    return manifest


_SYNTHETIC_OPTIONS = ("n_clips", "val_fraction", "sample_rate", "duration", "seed")


@register_source(
    "synthetic", splits=lambda **_: Splits("train", "val", "val"), options=_SYNTHETIC_OPTIONS
)
def _load_synthetic(root, split, **options):
    from audioseek.data.manifest import load_manifest

    return load_manifest(synthetic_manifest(root, **options), split=split)
