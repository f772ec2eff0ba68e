"""``index``, ``search``, ``similar``, ``duplicates``, ``info``: parse the flags, call
:class:`audioseek.Index`, print its dataclasses (text with file names escaped, or JSON
lines)."""

from __future__ import annotations

import argparse
import json
import sys

from audioseek.cli import library
from audioseek.cli.common import (
    UsageError,
    add_db,
    add_device,
    add_model,
    agg_value,
    escape_text,
    float_range,
    int_range,
    k_value,
    positive_seconds,
    query_value,
    threshold_value,
    verbosity,
)
from audioseek.errors import QueryError

MAX_QUERIES_BYTES = 10_000_000  # a --queries file larger than this is refused
MAX_WORKERS = 64
MAX_BATCH_SIZE = 4096
PRECISIONS = ("fp32", "bf16", "int8")


def add_precision(p) -> None:
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=None,
        help="inference precision of the model (default: the index's own, fp32 for a new "
        "index); an index built at one precision refuses another",
    )


def register(sub) -> None:
    p = sub.add_parser("index", help="index audio files (incremental)")
    p.add_argument("paths", nargs="+", help="folders or files to index")
    add_db(p)
    add_model(p)
    p.add_argument(
        "--window",
        type=positive_seconds,
        default=None,
        help="window length in seconds (default 10 for a new index; an index keeps its own)",
    )
    p.add_argument(
        "--hop",
        type=positive_seconds,
        default=None,
        help="hop between windows in seconds (default 5 for a new index)",
    )
    p.add_argument(
        "--workers",
        type=int_range(0, MAX_WORKERS),
        default=None,
        help="decoding worker processes (default: from the core count)",
    )
    p.add_argument(
        "--batch-size",
        type=int_range(1, MAX_BATCH_SIZE),
        default=16,
        help="windows per embedding batch",
    )
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.add_argument(
        "--engine",
        choices=["local", "ray"],
        default="local",
        help="local (this machine) or ray (read and embed on a Ray cluster; pip install "
        "'audioseek[ray]'; every node must see the files at the same paths)",
    )
    p.add_argument(
        "--ray-address",
        default=None,
        help="Ray cluster: 'auto' (the one 'ray start' made), HOST:PORT, or none for a "
        "local cluster in this process",
    )
    p.add_argument(
        "--ray-actors", type=int_range(1, 4096), default=None, help="embedding actors (models)"
    )
    p.add_argument(
        "--ray-threads",
        type=int_range(1, 1024),
        default=None,
        help="torch threads per embedding actor (default: a local cluster shares this "
        "machine's cores among the actors; a remote one gives each actor its CPU share)",
    )
    p.add_argument(
        "--ray-gpus",
        type=float_range(0.0, 64.0),
        default=0.0,
        help="GPUs per embedding actor (0 on CPU-only clusters)",
    )
    add_device(p)
    add_precision(p)
    p.set_defaults(func=cli_index)

    p = sub.add_parser("search", help="search the index by text")
    p.add_argument("query", nargs="?", type=query_value, default=None, help="what to look for")
    add_db(p)
    p.add_argument("-k", type=k_value, default=10, help="number of results")
    p.add_argument("--queries", default=None, help="file: one query per line, or JSONL with 'text'")
    p.add_argument(
        "--agg",
        default="max",
        type=agg_value,
        help="file score from window scores: 'max' or 'topN-mean' (e.g. top3-mean)",
    )
    p.add_argument("--json", action="store_true", help="JSON output (one line per query)")
    library.add_mode(p)
    library.add_filters(p)
    library.add_exports(p)
    add_model(p)
    add_device(p)
    add_precision(p)
    p.set_defaults(func=cli_search)

    p = sub.add_parser("similar", help="search the index by example audio file")
    p.add_argument("file", help="audio file, indexed or not")
    add_db(p)
    p.add_argument("-k", type=k_value, default=10, help="number of results")
    p.add_argument("--json", action="store_true")
    library.add_filters(p)
    library.add_exports(p)
    add_model(p)
    add_device(p)
    add_precision(p)
    p.set_defaults(func=cli_similar)

    p = sub.add_parser("duplicates", help="groups of recordings of the same audio")
    add_db(p)
    p.add_argument(
        "--threshold",
        type=threshold_value,
        default=None,
        help="window-embedding similarity linking two files (default 0.85, confirmed on the "
        "audio; 0.98 when the audio cannot tell)",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cli_duplicates)

    p = sub.add_parser("info", help="what the index holds")
    add_db(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cli_info)


def _fmt_time(seconds: float) -> str:
    m, s = divmod(float(seconds), 60)
    return f"{int(m)}:{s:04.1f}"


def _hit_line(rank: int, hit) -> str:
    tags = " - ".join(t for t in (hit.artist, hit.title) if t)
    extra = f"  [{escape_text(tags)}]" if tags else ""
    return (
        f"{rank:3d}. {hit.score:.3f}  {_fmt_time(hit.start)}-{_fmt_time(hit.end)}  "
        f"{escape_text(hit.path)}{extra}{library.why(hit)}"
    )


def read_queries(path: str, max_bytes: int = MAX_QUERIES_BYTES) -> list[dict]:
    """Queries from a file: one per line, or JSONL objects with a ``text`` key (other keys,
    e.g. ``id``, are echoed in the JSON output). Blank lines are skipped.

    At most ``max_bytes`` are read (one bounded read, so ``/dev/zero`` or a huge file stops
    at once) and at most ``audioseek.index.query.MAX_QUERIES`` queries are accepted."""
    from audioseek.index.query import MAX_QUERIES

    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as e:
        raise QueryError(f"cannot read queries file {path!r}: {e.strerror or e}") from None
    if len(data) > max_bytes:
        raise QueryError(f"queries file {path!r} is larger than {max_bytes:,} bytes")
    try:
        lines = data.decode("utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise QueryError(f"queries file {path!r} is not UTF-8 text (byte {e.start})") from None
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if len(out) == MAX_QUERIES:
            raise QueryError(f"queries file {path!r} holds more than {MAX_QUERIES:,} queries")
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


def _progress(args: argparse.Namespace) -> bool | None:
    """Our own progress bar: on a terminal (None: the library decides), never with -q."""
    return False if verbosity(args) < 0 else (None if sys.stderr.isatty() else False)


def _summary_text(s) -> str:
    lines = [
        f"indexed {s.files_scanned} files into {s.db!r} with model {s.model!r}: "
        f"{s.embedded} embedded, {s.resumed} resumed, {s.reused} reused (renamed/copied), "
        f"{s.unchanged + s.touched} unchanged, {s.deleted} removed, "
        f"{s.windows_embedded} windows, {s.audio_seconds / 3600:.2f} h audio "
        f"in {s.elapsed_s:.1f} s",
    ]
    for kind, items in (("could not decode", s.corrupt), ("could not read", s.skipped)):
        if items:
            lines.append(f"{len(items)} skipped ({kind}):")
            lines += [f"  {escape_text(c['path'])}: {escape_text(c['reason'])}" for c in items]
    return "\n".join(lines)


def _check_window_hop(args: argparse.Namespace) -> None:
    """``--hop`` longer than ``--window`` is a usage error (each is checked by its type)."""
    from audioseek.errors import AudioseekError
    from audioseek.index.query import check_window_hop

    if args.window is not None and args.hop is not None:
        try:
            check_window_hop(args.window, args.hop)
        except AudioseekError as e:
            raise UsageError(str(e)) from None


def _open_index(args: argparse.Namespace, with_model: bool = True):
    from audioseek import Index

    if with_model:
        extra = {"precision": args.precision} if getattr(args, "precision", None) else {}
        return Index(args.db, model=args.model, device=args.device, **extra)
    return Index(args.db)


def cli_index(args: argparse.Namespace) -> int:
    _check_window_hop(args)
    with _open_index(args) as index:
        ray_options = None
        if args.engine == "ray":
            from audioseek.index.ray_engine import RayOptions, default_actors

            ray_options = RayOptions(
                address=args.ray_address,
                actors=args.ray_actors or default_actors(),
                actor_cpus=0.5 if args.ray_address is None else 1.0,
                num_gpus=args.ray_gpus,
                threads=args.ray_threads,
                batch_size=args.batch_size,
            )
        summary = index.add(
            args.paths,
            window=args.window,
            hop=args.hop,
            workers=args.workers,
            batch_size=args.batch_size,
            progress=_progress(args),
            engine=args.engine,
            ray_options=ray_options,
        )
    if args.json:
        print(json.dumps(summary.to_dict()))
    else:
        print(_summary_text(summary))
    return 0


def _print_hits(hits) -> None:
    if not hits:
        print("no results")
    elif library.all_weak(hits):
        print(f"{library.NO_GOOD_MATCH} (the closest files, all weak:)")
    for i, hit in enumerate(hits, 1):
        print(_hit_line(i, hit))


def cli_search(args: argparse.Namespace) -> int:
    if (args.query is None) == (args.queries is None):
        raise UsageError("give a QUERY or --queries FILE (exactly one)")
    items = [{"text": args.query}] if args.queries is None else read_queries(args.queries)
    options = library.filters_of(args)
    if args.mode is not None:
        options["mode"] = args.mode
    with _open_index(args) as index:
        results = index.search([q["text"] for q in items], k=args.k, agg=args.agg, **options)
    library.export(
        args,
        [
            (q["text"], n, h)
            for q, hits in zip(items, results, strict=True)
            for n, h in enumerate(hits, 1)
        ],
    )
    for item, hits in zip(items, results, strict=True):
        if args.json:
            print(
                json.dumps({**item, "query": item["text"], "results": [h.to_dict() for h in hits]})
            )
        else:
            if len(items) > 1:
                print(f"# {escape_text(item['text'])}")
            _print_hits(hits)
    return 0


def cli_similar(args: argparse.Namespace) -> int:
    with _open_index(args) as index:
        hits = index.similar(args.file, k=args.k, **library.filters_of(args))
    library.export(args, [(args.file, n, h) for n, h in enumerate(hits, 1)])
    if args.json:
        print(json.dumps({"file": args.file, "results": [h.to_dict() for h in hits]}))
    else:
        _print_hits(hits)
    return 0


def cli_duplicates(args: argparse.Namespace) -> int:
    with _open_index(args, with_model=False) as index:
        groups = index.duplicates(threshold=args.threshold)
    if args.json:
        print(json.dumps({"groups": [g.to_dict() for g in groups]}))
        return 0
    if not groups:
        print("no duplicates found")
    for n, g in enumerate(groups, 1):
        print(f"group {n} (score {g.score:.3f}, confirmed by {escape_text(str(g.confirmed))}):")
        for f in g.files:
            print(
                f"  {escape_text(f.path)}  ({escape_text(str(f.format))}, {f.duration or 0:.1f} s)"
            )
    return 0


def cli_info(args: argparse.Namespace) -> int:
    with _open_index(args, with_model=False) as index:
        info = index.info()
    if args.json:
        print(json.dumps(info.to_dict()))
        return 0
    fingerprint = (info.model_fingerprint or "")[:12]
    print(f"index      {escape_text(info.db)}")
    print(f"model      {escape_text(str(info.model))} (fingerprint {escape_text(fingerprint)})")
    print(f"windows    {info.windows} ({info.window_s:g} s, hop {info.hop_s:g} s)")
    incomplete = f" (+{info.incomplete_files} incomplete)" if info.incomplete_files else ""
    print(f"files      {info.files}{incomplete}")
    print(f"audio      {info.audio_hours:.2f} h")
    print(f"disk       {info.size_bytes / 1e6:.1f} MB" + ("  (ANN index)" if info.ann else ""))
    return 0
