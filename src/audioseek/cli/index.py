"""``index``, ``search``, ``similar``, ``duplicates``, ``info``: parse the flags, call the
library, print the result (text or JSON lines)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from audioseek.cli.common import add_device, add_model
from audioseek.errors import QueryError


def register(sub) -> None:
    p = sub.add_parser("index", help="index audio files (incremental)")
    p.add_argument("paths", nargs="+", help="folders or files to index")
    p.add_argument("--db", required=True, help="index folder")
    add_model(p)
    p.add_argument("--window", type=float, default=10.0, help="window length in seconds")
    p.add_argument("--hop", type=float, default=5.0, help="hop between windows in seconds")
    p.add_argument("--workers", type=int, default=2, help="decoding worker processes")
    p.add_argument("--batch-size", type=int, default=16, help="windows per embedding batch")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    add_device(p)
    p.set_defaults(func=cli_index)

    p = sub.add_parser("search", help="search the index by text")
    p.add_argument("query", nargs="?", default=None, help="what to look for")
    p.add_argument("--db", required=True, help="index folder")
    p.add_argument("-k", type=int, default=10, help="number of results")
    p.add_argument("--queries", default=None, help="file: one query per line, or JSONL with 'text'")
    p.add_argument(
        "--agg",
        default="max",
        help="file score from window scores: 'max' or 'topN-mean' (e.g. top3-mean)",
    )
    p.add_argument("--json", action="store_true", help="JSON output (one line per query)")
    add_model(p)
    add_device(p)
    p.set_defaults(func=cli_search)

    p = sub.add_parser("similar", help="search the index by example audio file")
    p.add_argument("file", help="audio file, indexed or not")
    p.add_argument("--db", required=True, help="index folder")
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--json", action="store_true")
    add_model(p)
    add_device(p)
    p.set_defaults(func=cli_similar)

    p = sub.add_parser("duplicates", help="groups of recordings of the same audio")
    p.add_argument("--db", required=True, help="index folder")
    p.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="window-embedding similarity linking two files (default 0.85, confirmed on the "
        "audio; 0.98 when the audio cannot tell)",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cli_duplicates)

    p = sub.add_parser("info", help="what the index holds")
    p.add_argument("--db", required=True, help="index folder")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cli_info)


def _fmt_time(seconds: float) -> str:
    m, s = divmod(float(seconds), 60)
    return f"{int(m)}:{s:04.1f}"


def _hit_line(rank: int, hit) -> str:
    tags = " - ".join(t for t in (hit.artist, hit.title) if t)
    extra = f"  [{tags}]" if tags else ""
    return (
        f"{rank:3d}. {hit.score:.3f}  {_fmt_time(hit.start)}-{_fmt_time(hit.end)}  "
        f"{hit.path}{extra}"
    )


def read_queries(path: str) -> list[dict]:
    """Queries from a file: one per line, or JSONL objects with a ``text`` key (other keys,
    e.g. ``id``, are echoed in the JSON output). Blank lines are skipped."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise QueryError(f"cannot read queries file {path!r}: {e}") from None
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if line.lstrip().startswith("{"):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise QueryError(f"{path!r} line {n}: invalid JSON ({e.msg})") from None
            if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                raise QueryError(f"{path!r} line {n}: JSON object without a 'text' string")
            out.append(obj)
        else:
            out.append({"text": line.strip()})
    if not out:
        raise QueryError(f"queries file {path!r} holds no queries")
    return out


def cli_index(args: argparse.Namespace) -> int:
    from audioseek.index.indexer import index_paths, index_summary_text

    summary = index_paths(
        args.paths,
        args.db,
        model=args.model,
        window=args.window,
        hop=args.hop,
        workers=args.workers,
        batch_size=args.batch_size,
        device=args.device,
        progress=None if sys.stderr.isatty() else False,
    )
    if args.json:
        print(json.dumps(summary.to_dict()))
    else:
        print(index_summary_text(summary))
    return 0


def cli_search(args: argparse.Namespace) -> int:
    from audioseek.index.search import Searcher

    if (args.query is None) == (args.queries is None):
        raise QueryError("give a QUERY or --queries FILE (exactly one)")
    items = [{"text": args.query}] if args.queries is None else read_queries(args.queries)
    searcher = Searcher(args.db, model=args.model, device=args.device)
    results = searcher.search([q["text"] for q in items], k=args.k, agg=args.agg)
    for item, hits in zip(items, results, strict=True):
        if args.json:
            print(
                json.dumps({**item, "query": item["text"], "results": [h.to_dict() for h in hits]})
            )
        else:
            if len(items) > 1:
                print(f"# {item['text']}")
            if not hits:
                print("no results")
            for i, hit in enumerate(hits, 1):
                print(_hit_line(i, hit))
    return 0


def cli_similar(args: argparse.Namespace) -> int:
    from audioseek.index.search import Searcher

    searcher = Searcher(args.db, model=args.model, device=args.device)
    hits = searcher.similar(path=args.file, k=args.k)
    if args.json:
        print(json.dumps({"file": args.file, "results": [h.to_dict() for h in hits]}))
    else:
        if not hits:
            print("no results")
        for i, hit in enumerate(hits, 1):
            print(_hit_line(i, hit))
    return 0


def cli_duplicates(args: argparse.Namespace) -> int:
    from audioseek.index.search import Searcher

    groups = Searcher(args.db).duplicates(threshold=args.threshold)
    if args.json:
        print(json.dumps({"groups": [g.to_dict() for g in groups]}))
        return 0
    if not groups:
        print("no duplicates found")
    for n, g in enumerate(groups, 1):
        print(f"group {n} (score {g.score:.3f}):")
        for f in g.files:
            print(f"  {f.path}  ({f.format}, {f.duration or 0:.1f} s)")
    return 0


def cli_info(args: argparse.Namespace) -> int:
    from audioseek.index.search import Searcher

    info = Searcher(args.db).info()
    if args.json:
        print(json.dumps(info))
        return 0
    print(f"index      {info['db']}")
    print(f"model      {info['model']} (fingerprint {str(info['model_fingerprint'])[:12]})")
    print(f"windows    {info['windows']} ({info['window_s']:g} s, hop {info['hop_s']:g} s)")
    print(
        f"files      {info['files']}"
        + (f" (+{info['incomplete_files']} incomplete)" if info["incomplete_files"] else "")
    )
    print(f"audio      {info['audio_hours']:.2f} h")
    print(
        f"disk       {info['size_bytes'] / 1e6:.1f} MB" + ("  (ANN index)" if info["ann"] else "")
    )
    return 0
