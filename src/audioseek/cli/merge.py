"""``audioseek merge``: join index shards built on separate machines."""

from __future__ import annotations

import argparse
import json


def register(sub) -> None:
    p = sub.add_parser(
        "merge",
        help="merge index shards (same model, precision, window, hop) into one index",
    )
    p.add_argument("sources", nargs="+", help="index folders to merge")
    p.add_argument("--into", required=True, help="target index folder (created or extended)")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from audioseek.index.merge import merge_indexes

    s = merge_indexes(args.sources, args.into)
    if args.json:
        print(json.dumps(s.to_dict()))
    else:
        print(
            f"merged {len(s.sources)} index(es) into {s.into!r}: {s.files_added} files added, "
            f"{s.files_replaced} replaced by newer versions, {s.files_skipped} already there, "
            f"{s.windows_added} windows"
            + (f"; {s.incomplete_skipped} unfinished files skipped" if s.incomplete_skipped else "")
        )
    return 0
