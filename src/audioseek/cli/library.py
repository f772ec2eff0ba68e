"""``tag`` and ``watch``, and what ``search``/``similar`` share with them: the filter flags
(``--min-duration --max-duration --format --sample-rate --channels --folder --tag``), why a
hit matched in the text output, and the exports (``--m3u``, ``--csv``, ``--copy-to``).

Flags become the keyword arguments of :class:`audioseek.Index` (the names of
:data:`audioseek.index.filters.FILTER_NAMES`); values are checked by
:class:`audioseek.index.filters.Filters`, so the CLI, the HTTP API and Python refuse the
same values with the same messages.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import sys
import threading
from pathlib import Path

from audioseek.cli.common import (
    UsageError,
    add_db,
    add_device,
    add_model,
    escape_text,
    int_range,
)
from audioseek.errors import QueryError

FILTER_FLAGS = {  # flag -> (Index keyword, metavar, help)
    "--min-duration": ("min_duration", "SECONDS", "only files at least this long"),
    "--max-duration": ("max_duration", "SECONDS", "only files at most this long"),
    "--format": ("format", "EXTS", "only these formats/extensions, comma separated: wav,flac"),
    "--sample-rate": ("sample_rate", "HZ", "only files at this sample rate"),
    "--channels": ("channels", "N", "only files with this many channels"),
    "--folder": ("folder", "DIR", "only files under this folder (absolute, or below a root)"),
    "--tag": ("tag", "TAG", "only files with this category tag or group ('audioseek tag')"),
}
MODES = ("hybrid", "audio", "text")  # audioseek.index.hybrid.MODES (not imported: --help)
NO_GOOD_MATCH = "no good match"


def _filter_value(name: str):
    """An argparse type: the value as ``Filters`` reads it; refused values are usage errors
    with the library's message."""

    def parse(text: str):
        from audioseek.errors import AudioseekError
        from audioseek.index.filters import Filters

        try:
            checked = Filters.from_mapping({name: text}).to_dict()
        except AudioseekError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
        value = checked.get(name)
        return ",".join(value) if isinstance(value, tuple) else value

    parse.__name__ = name
    return parse


def add_filters(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group("filters")
    for flag, (name, metavar, help_text) in FILTER_FLAGS.items():
        group.add_argument(
            flag, dest=f"filter_{name}", metavar=metavar, type=_filter_value(name), help=help_text
        )


def filters_of(args: argparse.Namespace) -> dict:
    """The filters given on the command line, as ``Index.search``/``similar`` keywords (the
    pair checked together: ``--min-duration`` above ``--max-duration`` is a usage error)."""
    from audioseek.errors import AudioseekError
    from audioseek.index.filters import Filters

    given = {
        name: getattr(args, f"filter_{name}")
        for name, _, _ in FILTER_FLAGS.values()
        if getattr(args, f"filter_{name}", None) is not None
    }
    try:
        Filters.from_mapping(given)
    except AudioseekError as e:
        raise UsageError(str(e)) from None
    return given


def add_mode(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--mode",
        choices=MODES,
        default=None,
        help="hybrid (default: the audio ranking fused with names, folders and metadata), "
        "audio (embedding only) or text (names and metadata only, no model)",
    )


def add_exports(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group("export the results")
    group.add_argument("--m3u", metavar="FILE", help="write the results as an M3U playlist")
    group.add_argument("--csv", metavar="FILE", help="write the results as CSV")
    group.add_argument("--copy-to", metavar="DIR", help="copy the result files into this folder")


# ---- text output ------------------------------------------------------------------------


def why(hit) -> str:
    """Why a hit matched, for the text output: matched words, tags, a weak mark."""
    parts = []
    if hit.matched_terms:
        parts.append("matched: " + ", ".join(escape_text(t) for t in hit.matched_terms))
    if hit.tags:
        parts.append("tags: " + ", ".join(escape_text(t) for t in hit.tags))
    if hit.weak:
        parts.append("weak")
    return f"  ({'; '.join(parts)})" if parts else ""


def all_weak(hits) -> bool:
    return bool(hits) and all(h.weak for h in hits)


# ---- exports ----------------------------------------------------------------------------

CSV_FIELDS = (
    "query",
    "rank",
    "score",
    "audio_score",
    "text_score",
    "weak",
    "start",
    "end",
    "duration",
    "format",
    "matched_terms",
    "tags",
    "path",
)


def write_m3u(path: str | os.PathLike, hits) -> None:
    """An extended M3U playlist (UTF-8): ``#EXTINF:<seconds>,<name>`` then the file's path."""
    lines = ["#EXTM3U"]
    for h in hits:
        seconds = round(h.duration) if h.duration is not None else -1
        name = "".join(c if c.isprintable() else " " for c in h.title or Path(h.path).name)
        lines += [f"#EXTINF:{seconds},{name}", h.path]
    _write_text(path, "\n".join(lines) + "\n")


def write_csv(path: str | os.PathLike, rows) -> None:
    """One row per hit: ``rows`` are ``(query, rank, hit)``; lists joined with ``;``."""
    import io

    buf = io.StringIO()
    out = csv.writer(buf)
    out.writerow(CSV_FIELDS)
    for query, rank, h in rows:
        out.writerow(
            [
                query,
                rank,
                f"{h.score:.6f}",
                "" if h.audio_score is None else f"{h.audio_score:.6f}",
                "" if h.text_score is None else f"{h.text_score:.6f}",
                int(h.weak),
                f"{h.start:.3f}",
                f"{h.end:.3f}",
                "" if h.duration is None else f"{h.duration:.3f}",
                h.format or "",
                ";".join(h.matched_terms),
                ";".join(h.tags),
                h.path,
            ]
        )
    _write_text(path, buf.getvalue())


def _write_text(path, text: str) -> None:
    try:
        with open(path, "w", encoding="utf-8", errors="surrogateescape", newline="") as f:
            f.write(text)
    except OSError as e:
        raise QueryError(f"cannot write {str(path)!r}: {e.strerror or e}") from None


def copy_files(folder: str | os.PathLike, hits) -> list[Path]:
    """Copy each hit's file into ``folder`` (created); a name already taken by another file
    gets ``_2``, ``_3``... before its extension. Returns the copies."""
    dest = Path(folder).expanduser()
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise QueryError(f"cannot create folder {str(folder)!r}: {e.strerror or e}") from None
    out, seen = [], set()
    for h in hits:
        src = Path(h.path)
        if src in seen:
            continue
        seen.add(src)
        target, n = dest / src.name, 1
        while target.exists():
            n += 1
            target = dest / f"{src.stem}_{n}{src.suffix}"
        try:
            shutil.copy2(src, target)
        except OSError as e:
            raise QueryError(f"cannot copy {str(src)!r}: {e.strerror or e}") from None
        out.append(target)
    return out


def export(args: argparse.Namespace, rows) -> None:
    """Write the exports asked for: ``rows`` are ``(query, rank, hit)``, in output order."""
    hits = [h for _, _, h in rows]
    if getattr(args, "m3u", None):
        write_m3u(args.m3u, hits)
    if getattr(args, "csv", None):
        write_csv(args.csv, rows)
    if getattr(args, "copy_to", None):
        copies = copy_files(args.copy_to, hits)
        print(f"copied {len(copies)} files to {escape_text(str(args.copy_to))}", file=sys.stderr)


# ---- commands ---------------------------------------------------------------------------


def register(sub) -> None:
    p = sub.add_parser("tag", help="sort every file into categories (zero-shot, with the model)")
    add_db(p)
    p.add_argument(
        "--labels",
        default=None,
        metavar="FILE",
        help="label vocabulary: one label per line, or 'group: label' (default: the one "
        "this index was tagged with, else the bundled everyday-sounds vocabulary)",
    )
    p.add_argument(
        "--top", type=int_range(1, 20), default=3, help="labels kept per file (default 3)"
    )
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    add_model(p)
    add_device(p)
    p.set_defaults(func=cli_tag)

    p = sub.add_parser(
        "watch", help="keep an index current while files are added, changed, moved or deleted"
    )
    p.add_argument("paths", nargs="+", help="folders (or files) to watch and index")
    add_db(p)
    p.add_argument(
        "--debounce",
        type=_debounce,
        metavar="SECONDS",
        default=2.0,
        help="seconds of quiet after a change before re-indexing (default 2)",
    )
    p.add_argument("--workers", type=int_range(0, 64), default=2, help="decoding worker processes")
    add_model(p)
    add_device(p)
    p.set_defaults(func=cli_watch)


def _debounce(text: str) -> float:
    import math

    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (math.isfinite(value) and 0 <= value <= 3600):
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: expected seconds from 0 to 3600")
    return value


def cli_tag(args: argparse.Namespace) -> int:
    import json

    from audioseek import Index

    if args.labels is not None and not Path(args.labels).expanduser().is_file():
        raise QueryError(f"no such labels file {args.labels!r}")
    with Index(args.db, model=args.model, device=args.device) as index:
        summary = index.tag(labels=args.labels, top=args.top)
    if args.json:
        print(json.dumps(summary.to_dict()))
    else:
        print(
            f"tagged {summary.files_tagged} files with their top {summary.top} of "
            f"{summary.labels} labels from {escape_text(summary.vocabulary)}"
        )
    return 0


def run_line(summary) -> str:
    """One line per re-index run (``watch`` and ``serve --watch``)."""
    s = summary
    parts = [
        f"{s.embedded} embedded",
        f"{s.reused} moved/copied",
        f"{s.deleted} removed",
        f"{s.unchanged + s.touched} unchanged",
    ]
    failed = len(s.corrupt) + len(s.skipped)
    if failed:
        parts.append(f"{failed} skipped")
    return f"re-indexed {s.files_scanned} files: " + ", ".join(parts) + f" in {s.elapsed_s:.1f} s"


def cli_watch(args: argparse.Namespace) -> int:
    """Index now, then after every burst of changes; Ctrl-C stops (exit status 0)."""
    from audioseek import Index
    from audioseek.index.watch import watch

    for p in args.paths:
        if not Path(p).expanduser().exists():
            raise QueryError(f"no such folder or file {p!r}")

    def on_run(summary) -> None:
        print(run_line(summary), flush=True)

    with Index(args.db, model=args.model, device=args.device) as index:
        watcher = watch(
            index,
            args.paths,
            debounce=args.debounce,
            on_run=on_run,
            workers=args.workers,
        )
        print(
            f"watching {len(watcher.paths)} path(s) for changes; Ctrl-C stops",
            file=sys.stderr,
            flush=True,
        )
        stop = threading.Event()
        try:
            while not stop.wait(0.25):
                pass
        except KeyboardInterrupt:
            print("stopped watching", file=sys.stderr)
        finally:
            watcher.stop()
    return 0
