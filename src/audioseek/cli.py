"""Command line: each subcommand is one call into the library; no logic lives here.

Heavy imports (torch, transformers, lightning) happen inside the called function, so
``audioseek --help`` stays instant. Every handler receives the parsed
``argparse.Namespace`` and returns an exit status. Errors that are the user's input
(:class:`audioseek.errors.AudioseekError`) print as one line: ``error: ...``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from audioseek import __version__
from audioseek.errors import AudioseekError

# subcommand -> "module:function" implementing it (called with the Namespace).
HANDLERS = {
    "data download": "audioseek.data.download:cli_download",
    "data prepare": "audioseek.data.offline_corpus:cli_prepare",
    "train": "audioseek.train.cli:cli_train",
    "evaluate": "audioseek.eval.retrieval:cli_evaluate",
    "experiments": "audioseek.eval.experiments:cli_experiments",
    "index": "audioseek.index.commands:cli_index",
    "search": "audioseek.index.commands:cli_search",
    "similar": "audioseek.index.commands:cli_similar",
    "duplicates": "audioseek.index.commands:cli_duplicates",
    "info": "audioseek.index.commands:cli_info",
    "serve": "audioseek.serve.app:cli_serve",
}


def _add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--device",
        default="auto",
        help="torch device: auto (CUDA if present, else CPU), cpu, cuda, cuda:N, mps",
    )


def _add_model(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        default=None,
        help="model: 'clap' (LAION-CLAP, default when loadable), 'offline' (bundled), "
        "a DualEncoder directory, or a Hugging Face id",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="audioseek",
        description="Find sounds and music by describing them in plain language.",
    )
    parser.add_argument("--version", action="version", version=f"audioseek {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    # ---- data ---------------------------------------------------------------------
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
    p.set_defaults(handler="data download")
    p = data_sub.add_parser(
        "prepare", help="build the offline training corpus from Debian packages and renders"
    )
    p.add_argument("corpus", choices=["offline"], help="which corpus to build")
    p.add_argument("--out", required=True, help="output folder (audio + manifest.csv)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-per-source", type=int, default=None)
    p.set_defaults(handler="data prepare")

    # ---- research -----------------------------------------------------------------
    p = sub.add_parser("train", help="train a dual encoder from a YAML config")
    p.add_argument("--config", required=True, help="YAML file in configs/")
    p.add_argument("--out", default=None, help="run folder (default: runs/<config name>)")
    p.add_argument("--resume", default=None, help="checkpoint to resume from ('last' = latest)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set trainer.max_steps=10",
    )
    _add_device(p)
    p.set_defaults(handler="train")

    p = sub.add_parser("evaluate", help="retrieval metrics (MRR, mAP@10, R@K) in both directions")
    p.add_argument("--model", required=True, help="DualEncoder directory or model id")
    p.add_argument("--data", required=True, choices=["clotho", "audiocaps", "manifest"])
    p.add_argument("--root", required=True, help="dataset folder (or manifest file)")
    p.add_argument("--split", default="evaluation")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--json", dest="json_out", default=None, help="also write results here")
    _add_device(p)
    p.set_defaults(handler="evaluate")

    p = sub.add_parser("experiments", help="train + evaluate a grid of configs; write Table 5")
    p.add_argument("config_dir", help="folder of YAML configs, e.g. configs/paper/")
    p.add_argument("--out", default="runs/experiments", help="output folder")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    _add_device(p)
    p.set_defaults(handler="experiments")

    # ---- product ------------------------------------------------------------------
    p = sub.add_parser("index", help="index audio files (incremental)")
    p.add_argument("paths", nargs="+", help="folders or files to index")
    p.add_argument("--db", required=True, help="index folder")
    _add_model(p)
    p.add_argument("--window", type=float, default=10.0, help="window length in seconds")
    p.add_argument("--hop", type=float, default=5.0, help="hop between windows in seconds")
    p.add_argument("--workers", type=int, default=2, help="decoding worker processes")
    p.add_argument("--batch-size", type=int, default=16, help="windows per embedding batch")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    _add_device(p)
    p.set_defaults(handler="index")

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
    _add_model(p)
    _add_device(p)
    p.set_defaults(handler="search")

    p = sub.add_parser("similar", help="search the index by example audio file")
    p.add_argument("file", help="audio file, indexed or not")
    p.add_argument("--db", required=True, help="index folder")
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--json", action="store_true")
    _add_model(p)
    _add_device(p)
    p.set_defaults(handler="similar")

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
    p.set_defaults(handler="duplicates")

    p = sub.add_parser("info", help="what the index holds")
    p.add_argument("--db", required=True, help="index folder")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler="info")

    p = sub.add_parser("serve", help="HTTP API and web page")
    p.add_argument("--db", required=True, help="index folder")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument(
        "--max-upload-mb",
        type=float,
        default=50.0,
        help="largest audio upload accepted by /api/similar, in MB",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads for the model (default 1; env AUDIOSEEK_SERVE_THREADS)",
    )
    _add_model(p)
    _add_device(p)
    p.set_defaults(handler="serve")
    return parser


def _call(target: str, args: argparse.Namespace) -> int:
    module_name, func_name = target.split(":")
    func = getattr(importlib.import_module(module_name), func_name)
    return int(func(args) or 0)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(levelname)s %(name)s: %(message)s",
    )
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0 if args.command is None else 2
    try:
        return _call(HANDLERS[handler], args)
    except AudioseekError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
