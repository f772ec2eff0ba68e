"""Generic manifests: a folder of audio plus a CSV or JSONL file of captions.

Columns / keys
    ``path``        required; relative to the manifest's folder, or absolute.
    captions        one or more of: ``caption``; ``caption_1`` .. ``caption_N``; in JSONL
                    also ``captions`` (a list of strings). Empty cells are ignored; every
                    row needs at least one caption.
    ``split``       optional; ``load_manifest(path, split=...)`` keeps matching rows.
    ``id``          optional item id (default: ``path`` as written in the manifest).
Other columns are ignored. CSV files are read as UTF-8 (a BOM is accepted) and fall back
to ISO-8859-1 when the bytes are not valid UTF-8 (see :func:`read_text`).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from audioseek.data import AudioCaptionItem
from audioseek.errors import DatasetError

CAPTION_COLUMN = re.compile(r"^caption(_\d+)?$")
CSV_SUFFIXES = (".csv", ".tsv")
JSONL_SUFFIXES = (".jsonl", ".ndjson")


def read_text(path: str | Path) -> str:
    """Read a text file as UTF-8 (BOM stripped), falling back to ISO-8859-1.

    ISO-8859-1 maps every byte to a character, so the fallback never fails; it is the
    encoding of the Clotho v2/v2.1 caption CSVs. A file that decodes as UTF-8 is UTF-8
    (ISO-8859-1 text with accented letters is almost never valid UTF-8).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DatasetError(f"file not found: {str(path)!r}") from None
    except OSError as e:
        raise DatasetError(f"cannot read {str(path)!r}: {e.strerror or e}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("iso-8859-1")


def read_csv_rows(path: str | Path, required: Sequence[str] = ()) -> tuple[list[str], list[dict]]:
    """Parse a CSV (or TSV by suffix) into ``(columns, rows)``; check required columns.

    Raises :class:`DatasetError` naming the file, the missing columns and the columns found.
    """
    path = Path(path)
    text = read_text(path)
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
        columns = [c.strip() for c in (reader.fieldnames or [])]
        reader.fieldnames = columns
        rows = list(reader)
    except csv.Error as e:
        raise DatasetError(f"malformed CSV {str(path)!r}: {e}") from None
    missing = [c for c in required if c not in columns]
    if missing:
        raise DatasetError(
            f"{str(path)!r} is missing column(s) {missing}; columns found: {columns}"
        )
    return columns, rows


def _caption_sort_key(column: str) -> tuple[int, int]:
    return (0, 0) if column == "caption" else (1, int(column.split("_")[1]))


def caption_columns(columns: Iterable[str]) -> list[str]:
    """The caption columns among ``columns``: ``caption`` first, then ``caption_N`` by N."""
    return sorted((c for c in columns if CAPTION_COLUMN.match(c)), key=_caption_sort_key)


def _resolve(base: Path, raw: str) -> Path:
    p = Path(raw).expanduser()
    return p if p.is_absolute() else (base / p)


def _jsonl_rows(path: Path) -> list[tuple[int, dict]]:
    rows = []
    for lineno, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DatasetError(f"{str(path)!r} line {lineno}: invalid JSON ({e.msg})") from None
        if not isinstance(obj, dict):
            raise DatasetError(
                f"{str(path)!r} line {lineno}: expected a JSON object, got {type(obj).__name__}"
            )
        rows.append((lineno, obj))
    return rows


def _jsonl_captions(path: Path, lineno: int, obj: dict) -> list[str]:
    caps: list[str] = []
    if "captions" in obj:
        value = obj["captions"]
        if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
            raise DatasetError(
                f"{str(path)!r} line {lineno}: 'captions' must be a list of strings, got {value!r}"
            )
        caps.extend(value)
    for key in caption_columns(obj):
        value = obj[key]
        if value is None:
            continue
        if not isinstance(value, str):
            raise DatasetError(
                f"{str(path)!r} line {lineno}: {key!r} must be a string, got {value!r}"
            )
        caps.append(value)
    return caps


def load_manifest(
    path: str | Path, split: str | None = None, *, check_audio: bool = True
) -> list[AudioCaptionItem]:
    """Load a CSV/TSV or JSONL manifest (see the module docstring for the columns).

    ``split=None`` returns every row (items without a split column get ``split=""``);
    otherwise only rows whose ``split`` equals ``split``. With ``check_audio`` every
    referenced file must exist. Errors name the manifest, the row and the bad value.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        for name in ("manifest.csv", "manifest.jsonl"):
            if (path / name).is_file():
                path = path / name
                break
        else:
            raise DatasetError(f"no manifest.csv or manifest.jsonl in folder {str(path)!r}")
    if not path.is_file():
        raise DatasetError(f"manifest not found: {str(path)!r}")
    base = path.parent.resolve()
    suffix = path.suffix.lower()

    records: list[tuple[str, dict, list[str]]] = []  # (where, row, captions)
    has_split = False
    if suffix in CSV_SUFFIXES:
        columns, rows = read_csv_rows(path)
        caps_cols = caption_columns(columns)
        missing = [] if "path" in columns else ["path"]
        if not caps_cols:
            missing.append("caption (or caption_1..caption_N)")
        if missing:
            raise DatasetError(
                f"manifest {str(path)!r} is missing column(s) {missing}; columns found: {columns}"
            )
        has_split = "split" in columns
        for lineno, row in enumerate(rows, start=2):
            caps = [row[c] for c in caps_cols if row.get(c) is not None]
            records.append((f"row {lineno}", row, caps))
    elif suffix in JSONL_SUFFIXES:
        rows_j = _jsonl_rows(path)
        for lineno, obj in rows_j:
            missing = [] if "path" in obj else ["path"]
            if "captions" not in obj and not caption_columns(obj):
                missing.append("caption / caption_N / captions")
            if missing:
                raise DatasetError(
                    f"manifest {str(path)!r} line {lineno} is missing key(s) {missing}; "
                    f"keys found: {sorted(obj)}"
                )
            has_split = has_split or "split" in obj
            records.append((f"line {lineno}", obj, _jsonl_captions(path, lineno, obj)))
    else:
        raise DatasetError(
            f"unsupported manifest format {suffix!r} for {str(path)!r}; "
            f"expected one of {CSV_SUFFIXES + JSONL_SUFFIXES}"
        )

    if not records:
        raise DatasetError(f"manifest {str(path)!r} lists no audio files")
    if split is not None and not has_split:
        raise DatasetError(
            f"manifest {str(path)!r} has no 'split' column, so split {split!r} cannot be selected"
        )

    items: list[AudioCaptionItem] = []
    seen: dict[str, str] = {}
    splits_found: set[str] = set()
    for where, row, caps in records:
        row_split = str(row.get("split") or "").strip()
        splits_found.add(row_split)
        if split is not None and row_split != split:
            continue
        raw_path = str(row.get("path") or "").strip()
        if not raw_path:
            raise DatasetError(f"manifest {str(path)!r} {where}: empty 'path'")
        caps = [c.strip() for c in caps if c and c.strip()]
        if not caps:
            raise DatasetError(f"manifest {str(path)!r} {where}: no caption for {raw_path!r}")
        audio = _resolve(base, raw_path)
        if check_audio and not audio.is_file():
            raise DatasetError(
                f"manifest {str(path)!r} {where}: audio file not found: {str(audio)!r}"
            )
        item_id = str(row.get("id") or raw_path)
        if item_id in seen:
            raise DatasetError(
                f"manifest {str(path)!r} {where}: duplicate item {item_id!r} "
                f"(first at {seen[item_id]})"
            )
        seen[item_id] = where
        items.append(
            AudioCaptionItem(audio_path=str(audio), captions=caps, split=row_split, item_id=item_id)
        )
    if split is not None and not items:
        raise DatasetError(
            f"manifest {str(path)!r} has no rows with split {split!r}; "
            f"splits found: {sorted(splits_found)}"
        )
    return items


def write_manifest(path: str | Path, rows: Sequence[dict], n_captions: int | None = None) -> Path:
    """Write a CSV manifest with ``path``, ``caption_1..N`` and any extra keys of ``rows``.

    Each row is a dict with ``path``, ``captions`` (list) and optional extra columns
    (``split``, ``id``, ...). Paths are written as given (make them relative to the
    manifest's folder for a relocatable dataset).
    """
    path = Path(path)
    n = n_captions or max((len(r["captions"]) for r in rows), default=1)
    extras: list[str] = []
    for r in rows:
        for k in r:
            if k not in ("path", "captions") and k not in extras:
                extras.append(k)
    fields = ["path", *[f"caption_{i + 1}" for i in range(n)], *extras]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for r in rows:
            out = {"path": str(r["path"])}
            caps = list(r["captions"])
            out.update({f"caption_{i + 1}": caps[i] if i < len(caps) else "" for i in range(n)})
            out.update({k: r[k] for k in extras if k in r})
            writer.writerow(out)
    return path
