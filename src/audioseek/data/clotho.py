"""Clotho (Drossos et al., 2019) in its real on-disk layout.

Layout under ``root`` (what ``audioseek data download clotho`` produces)::

    clotho_captions_development.csv   file_name, caption_1 .. caption_5
    clotho_captions_validation.csv    (v2.1 only)
    clotho_captions_evaluation.csv
    development/<file_name>           the audio (44.1 kHz mono wav, 15-30 s)
    validation/<file_name>
    evaluation/<file_name>

Versions: ``"v2.1"`` has development / validation / evaluation (3839 / 1045 / 1045
clips); ``"v1"`` has development / evaluation (2893 / 1045). The captions CSVs of v2 and
v2.1 are ISO-8859-1, v1's are UTF-8: every CSV is read as UTF-8 and falls back to
ISO-8859-1 when its bytes are not valid UTF-8 (:func:`audioseek.data.manifest.read_text`).

Views:
    ``view="official"``  the dataset's own splits (``split`` in :data:`SPLITS`).
    ``view="paper"``     all clips of the version pooled and re-split 60/20/20 into
                         ``"train"`` / ``"val"`` / ``"test"`` like the paper's Table 3
                         (2989 / 996 / 996 of 4981 clips). The shuffle uses the fixed seed
                         :data:`PAPER_SEED`, so the view is the same on every machine; with
                         v2.1 it has 3557 / 1186 / 1186 clips, with v1 2362 / 788 / 788.
"""

from __future__ import annotations

import logging
import random
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, get_args

from audioseek.data import AudioCaptionItem
from audioseek.data.manifest import read_csv_rows
from audioseek.errors import DatasetError

log = logging.getLogger(__name__)

ClothoSplit = Literal["development", "validation", "evaluation"]
PaperSplit = Literal["train", "val", "test"]
ClothoVersion = Literal["v1", "v2.1"]
View = Literal["official", "paper"]

SPLITS: tuple[str, ...] = get_args(ClothoSplit)
PAPER_SPLITS: tuple[str, ...] = get_args(PaperSplit)
VERSIONS: tuple[str, ...] = get_args(ClothoVersion)
VIEWS: tuple[str, ...] = get_args(View)

#: splits each version publishes, and their official sizes (clips)
VERSION_SPLITS: dict[str, dict[str, int]] = {
    "v2.1": {"development": 3839, "validation": 1045, "evaluation": 1045},
    "v1": {"development": 2893, "evaluation": 1045},
}
N_CAPTIONS = 5
CAPTION_COLUMNS: tuple[str, ...] = tuple(f"caption_{i}" for i in range(1, N_CAPTIONS + 1))
REQUIRED_COLUMNS: tuple[str, ...] = ("file_name", *CAPTION_COLUMNS)
#: fixed seed of the paper view's shuffle; changing it changes every paper-view result
PAPER_SEED = 4981
PAPER_FRACTIONS = (0.6, 0.2, 0.2)


def captions_csv(root: str | Path, split: str) -> Path:
    """Path of the captions CSV of an official split."""
    return Path(root) / f"clotho_captions_{split}.csv"


def _check_version(version: str) -> dict[str, int]:
    if version not in VERSION_SPLITS:
        raise DatasetError(f"unknown Clotho version {version!r}; expected one of {VERSIONS}")
    return VERSION_SPLITS[version]


def _unicode_variant(audio_dir: Path, name: str, listing: dict[str, str]) -> Path | None:
    """The file in ``audio_dir`` whose name equals ``name`` up to Unicode normalisation
    (archives extracted on macOS store NFD names; the CSVs hold NFC), else ``None``."""
    if not listing:
        listing.update((unicodedata.normalize("NFC", p.name), p.name) for p in audio_dir.iterdir())
    found = listing.get(unicodedata.normalize("NFC", name))
    return audio_dir / found if found is not None else None


def _load_official(
    root: Path, split: str, version: str, check_audio: bool
) -> list[AudioCaptionItem]:
    splits = _check_version(version)
    if split not in SPLITS:
        raise DatasetError(f"unknown Clotho split {split!r}; expected one of {SPLITS}")
    if split not in splits:
        raise DatasetError(
            f"Clotho {version} has no split {split!r}; expected one of {tuple(splits)}"
        )
    csv_path = captions_csv(root, split)
    if not csv_path.is_file():
        raise DatasetError(
            f"Clotho captions file not found: {str(csv_path)!r} "
            f"(download with: audioseek data download clotho --root {str(root)!r})"
        )
    _, rows = read_csv_rows(csv_path, required=REQUIRED_COLUMNS)
    audio_dir = root / split
    if check_audio and not audio_dir.is_dir():
        raise DatasetError(
            f"Clotho audio folder not found: {str(audio_dir)!r} (expected next to {csv_path.name!r})"
        )
    items: list[AudioCaptionItem] = []
    seen: set[str] = set()
    missing: list[str] = []
    listing: dict[str, str] = {}  # NFC name -> name on disk, filled on first miss
    for lineno, row in enumerate(rows, start=2):
        name = (row.get("file_name") or "").strip()
        if not name:
            raise DatasetError(f"{str(csv_path)!r} row {lineno}: empty 'file_name'")
        if name in seen:
            raise DatasetError(f"{str(csv_path)!r} row {lineno}: duplicate file_name {name!r}")
        seen.add(name)
        caps = [(row.get(c) or "").strip() for c in CAPTION_COLUMNS]
        empty = [c for c, text in zip(CAPTION_COLUMNS, caps, strict=True) if not text]
        if empty:
            raise DatasetError(f"{str(csv_path)!r} row {lineno} ({name!r}): empty {empty}")
        audio = audio_dir / name
        if check_audio and not audio.is_file():
            audio = _unicode_variant(audio_dir, name, listing)
            if audio is None:
                missing.append(name)
                audio = audio_dir / name
        items.append(
            AudioCaptionItem(
                audio_path=str(audio.resolve()), captions=caps, split=split, item_id=name
            )
        )
    if not items:
        raise DatasetError(f"Clotho captions file {str(csv_path)!r} lists no clips")
    if missing:
        raise DatasetError(
            f"{len(missing)} audio file(s) listed in {str(csv_path)!r} are missing from "
            f"{str(audio_dir)!r}, e.g. {missing[0]!r}"
        )
    expected = splits[split]
    if len(items) != expected:
        log.debug("Clotho %s %s: %d clips (official: %d)", version, split, len(items), expected)
    return items


def paper_split(
    items: Sequence[AudioCaptionItem],
    seed: int = PAPER_SEED,
    fractions: tuple[float, float, float] = PAPER_FRACTIONS,
) -> dict[str, list[AudioCaptionItem]]:
    """Deterministic ``train/val/test`` re-split of ``items`` (fractions 60/20/20).

    ``n_val = round(f_val * n)``, ``n_test = round(f_test * n)``, train takes the rest
    (4981 clips -> 2989 / 996 / 996, the paper's Table 3). Items are first sorted by
    ``item_id`` so the result does not depend on the input order. Returned items are
    copies whose ``split`` is the new split name.
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise DatasetError(
            f"paper split fractions must be 3 non-negative values summing to 1, got {fractions!r}"
        )
    ordered = sorted(items, key=lambda it: it["item_id"])
    random.Random(seed).shuffle(ordered)
    n = len(ordered)
    n_val = round(fractions[1] * n)
    n_test = round(fractions[2] * n)
    n_train = n - n_val - n_test
    bounds = {
        "train": (0, n_train),
        "val": (n_train, n_train + n_val),
        "test": (n_train + n_val, n),
    }
    return {
        name: [AudioCaptionItem(**{**it, "split": name}) for it in ordered[a:b]]
        for name, (a, b) in bounds.items()
    }


def load_clotho(
    root: str | Path,
    split: str,
    version: str = "v2.1",
    view: str = "official",
    *,
    check_audio: bool = True,
) -> list[AudioCaptionItem]:
    """Load one split of Clotho from ``root`` (see the module docstring for the layout).

    ``view="official"``: ``split`` is one of :data:`SPLITS` available in ``version``.
    ``view="paper"``: ``split`` is one of :data:`PAPER_SPLITS`; all of the version's
    official splits must be present. With ``check_audio`` every listed audio file must
    exist. Raises :class:`DatasetError` naming the file / value on any problem.
    """
    root = Path(root).expanduser()
    if view not in VIEWS:
        raise DatasetError(f"unknown Clotho view {view!r}; expected one of {VIEWS}")
    if not root.is_dir():
        raise DatasetError(f"Clotho root folder not found: {str(root)!r}")
    if view == "official":
        return _load_official(root, split, version, check_audio)
    if split not in PAPER_SPLITS:
        raise DatasetError(
            f"unknown split {split!r} for Clotho's paper view; expected one of {PAPER_SPLITS}"
        )
    pooled: list[AudioCaptionItem] = []
    ids: dict[str, str] = {}
    for official in _check_version(version):
        for it in _load_official(root, official, version, check_audio):
            if it["item_id"] in ids:
                raise DatasetError(
                    f"Clotho file name {it['item_id']!r} appears in both {ids[it['item_id']]!r} "
                    f"and {official!r}; the paper view needs unique names"
                )
            ids[it["item_id"]] = official
            pooled.append(it)
    return paper_split(pooled)[split]
