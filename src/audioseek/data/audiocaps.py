"""AudioCaps (Kim et al., 2019) over a local folder of clips.

Layout under ``root``::

    train.csv, val.csv, test.csv      audiocap_id, youtube_id, start_time, caption
    <clips>                           one audio file per (youtube_id, start_time)

AudioCaps publishes only the CSVs; the 10 s clips are cut from YouTube by the user, so
their folder and names vary. The clip folder is the first that exists of
``root/<split>/``, ``root/audio/<split>/``, ``root/audio/`` and ``root/`` (or pass
``audio_dir``). A clip is found under either naming scheme:

* ``<youtube_id>_<start_time>.<ext>`` (``start_time`` as written in the CSV, or as an
  integer: ``abc_30.wav`` matches start time ``30`` and ``30.0``), or
* ``<audiocap_id>.<ext>`` for any of the clip's caption ids,

with ``<ext>`` any common audio extension (wav, flac, mp3, ogg, opus, m4a). Rows sharing
``(youtube_id, start_time)`` are one clip whose captions are grouped in CSV order (the
test and val splits have 5 per clip, train 1). Clips that cannot be found are skipped
with one warning, because parts of AudioCaps are no longer on YouTube; ``strict=True``
makes any missing clip an error. No clip at all is always an error.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal, get_args

from audioseek.data import AudioCaptionItem
from audioseek.data.manifest import read_csv_rows
from audioseek.errors import DatasetError

log = logging.getLogger(__name__)

AudioCapsSplit = Literal["train", "val", "test"]
SPLITS: tuple[str, ...] = get_args(AudioCapsSplit)
COLUMNS = ("audiocap_id", "youtube_id", "start_time", "caption")
EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a")


def _audio_dir(root: Path, split: str) -> Path:
    for cand in (root / split, root / "audio" / split, root / "audio", root):
        if cand.is_dir() and any(p.suffix.lower() in EXTENSIONS for p in cand.iterdir()):
            return cand
    return root


def _start_keys(start: str) -> list[str]:
    keys = [start]
    try:
        value = float(start)
    except ValueError:
        return keys
    if value.is_integer():
        keys.append(str(int(value)))
    keys.append(f"{value:g}")
    return list(dict.fromkeys(keys))


def load_audiocaps(
    root: str | Path,
    split: str,
    *,
    audio_dir: str | Path | None = None,
    strict: bool = False,
) -> list[AudioCaptionItem]:
    """Load one AudioCaps split (see the module docstring for layout and clip names)."""
    if split not in SPLITS:
        raise DatasetError(f"unknown AudioCaps split {split!r}; expected one of {SPLITS}")
    root = Path(root).expanduser()
    csv_path = root / f"{split}.csv"
    if not csv_path.is_file():
        raise DatasetError(f"AudioCaps captions file not found: {str(csv_path)!r}")
    _, rows = read_csv_rows(csv_path, required=COLUMNS)
    clips_dir = Path(audio_dir).expanduser() if audio_dir is not None else _audio_dir(root, split)
    if not clips_dir.is_dir():
        raise DatasetError(f"AudioCaps audio folder not found: {str(clips_dir)!r}")
    by_stem: dict[str, Path] = {}
    for p in sorted(clips_dir.iterdir()):
        if p.suffix.lower() in EXTENSIONS:
            by_stem.setdefault(p.stem, p)

    clips: dict[tuple[str, str], dict] = {}
    for lineno, row in enumerate(rows, start=2):
        yid = (row.get("youtube_id") or "").strip()
        start = (row.get("start_time") or "").strip()
        cap = (row.get("caption") or "").strip()
        if not yid or not start:
            raise DatasetError(f"{str(csv_path)!r} row {lineno}: empty youtube_id or start_time")
        if not cap:
            raise DatasetError(f"{str(csv_path)!r} row {lineno}: empty caption")
        clip = clips.setdefault((yid, start), {"ids": [], "captions": []})
        clip["ids"].append((row.get("audiocap_id") or "").strip())
        clip["captions"].append(cap)

    items: list[AudioCaptionItem] = []
    missing: list[str] = []
    for (yid, start), clip in clips.items():
        stems = [f"{yid}_{s}" for s in _start_keys(start)] + [i for i in clip["ids"] if i]
        path = next((by_stem[s] for s in stems if s in by_stem), None)
        item_id = f"{yid}_{_start_keys(start)[-1]}"
        if path is None:
            missing.append(item_id)
            continue
        items.append(
            AudioCaptionItem(
                audio_path=str(path.resolve()),
                captions=clip["captions"],
                split=split,
                item_id=item_id,
            )
        )
    if missing:
        msg = (
            f"{len(missing)} of {len(clips)} AudioCaps {split} clips listed in {str(csv_path)!r} "
            f"are missing from {str(clips_dir)!r}, e.g. {missing[0]!r}"
        )
        if strict or not items:
            raise DatasetError(msg)
        log.warning("%s; skipping them", msg)
    if not items:
        raise DatasetError(f"AudioCaps captions file {str(csv_path)!r} lists no clips")
    return items
