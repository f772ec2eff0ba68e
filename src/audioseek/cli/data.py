"""``audioseek data download`` and ``audioseek data prepare``."""

from __future__ import annotations

import argparse
import json


def register(sub) -> None:
    p_data = sub.add_parser("data", help="download and prepare datasets")
    data_sub = p_data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    p = data_sub.add_parser("download", help="download a dataset with checksum verification")
    p.add_argument("dataset", choices=["clotho"], help="dataset name")
    p.add_argument("--root", required=True, help="folder to download and extract into")
    p.add_argument("--version", dest="dataset_version", default="v2.1", choices=["v1", "v2.1"])
    p.add_argument(
        "--splits",
        nargs="+",
        default=None,
        help="splits to fetch (default: all of the version's splits)",
    )
    p.add_argument("--base-url", default=None, help="mirror base URL (default: Zenodo)")
    p.add_argument("--keep-archives", action="store_true", help="keep .7z files after extraction")
    p.set_defaults(func=run_download)
    p = data_sub.add_parser(
        "prepare", help="build the offline training corpus from Debian packages and renders"
    )
    p.add_argument("corpus", choices=["offline"], help="which corpus to build")
    p.add_argument("--out", required=True, help="output folder (audio + manifest.csv)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-per-source", type=int, default=None)
    p.add_argument(
        "--corpus-version",
        type=int,
        choices=[1, 2, 3, 4, 5, 6],
        default=6,
        help="6 (default: 38 sources), 5 (34: the bundled model's version 8), 4 (32: its "
        "version 7), 3 (31: its version 5), 2 (24: its versions 2-4) or 1",
    )
    p.set_defaults(func=run_prepare)


def run_download(args: argparse.Namespace) -> int:
    from audioseek.data.clotho import load_clotho
    from audioseek.data.download import clotho_files, download_clotho

    version = args.dataset_version
    root = download_clotho(
        args.root,
        version=version,
        splits=args.splits,
        base_url=args.base_url,
        keep_archives=args.keep_archives,
    )
    splits = args.splits or list(dict.fromkeys(f.split for f in clotho_files(version)))
    counts = {s: len(load_clotho(root, s, version=version)) for s in splits}
    summary = ", ".join(f"{s} {n} clips" for s, n in counts.items())
    print(f"Clotho {version} ready in {str(root)!r}: {summary}")
    return 0


def run_prepare(args: argparse.Namespace) -> int:
    from audioseek.data.offline_corpus import SPLITS, build_offline_corpus

    manifest = build_offline_corpus(
        args.out,
        seed=args.seed,
        max_per_source=args.max_per_source,
        version=args.corpus_version,
    )
    stats = json.loads((manifest.parent / "corpus_stats.json").read_text(encoding="utf-8"))
    print(
        f"{manifest}: {stats['clips']} clips, {stats['hours']:.2f} h, "
        f"{len(stats['skipped'])} skipped"
    )
    for name, s in sorted(stats["by_source"].items()):
        splits = " ".join(f"{k}={s[k]}" for k in SPLITS if s.get(k))
        licence = f"  {s['licence']}" if s.get("licence") else ""
        print(f"  {name:<12} {s['clips']:>5} clips {s['seconds'] / 60:7.1f} min  {splits}{licence}")
    return 0
