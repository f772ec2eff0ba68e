"""``audioseek evaluate`` and ``audioseek experiments``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from audioseek.cli.common import add_device
from audioseek.errors import ConfigError


def register(sub) -> None:
    p = sub.add_parser("evaluate", help="retrieval metrics (MRR, mAP@10, R@K) in both directions")
    p.add_argument("--model", required=True, help="DualEncoder directory or model id")
    p.add_argument("--data", required=True, choices=["clotho", "audiocaps", "manifest"])
    p.add_argument("--root", required=True, help="dataset folder (or manifest file)")
    p.add_argument(
        "--split",
        default=None,
        help="split to evaluate (default: the dataset's test split: Clotho 'evaluation', "
        "AudioCaps 'test', a manifest's 'test' rows or, without a split column, all of it)",
    )
    p.add_argument(
        "--clotho-version",
        default="v2.1",
        choices=["v1", "v2.1"],
        help="Clotho release under --root (v1 has no validation split)",
    )
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--json", dest="json_out", default=None, help="also write results here")
    add_device(p)
    p.set_defaults(func=run_evaluate)

    p = sub.add_parser("experiments", help="train + evaluate a grid of configs; write Table 5")
    p.add_argument("config_dir", help="folder of YAML configs, e.g. configs/paper/")
    p.add_argument("--out", default="runs/experiments", help="output folder")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    add_device(p)
    p.set_defaults(func=run_experiments)


def run_evaluate(args: argparse.Namespace) -> int:
    from audioseek.eval.report import results_rows, write_json
    from audioseek.eval.retrieval import evaluate_spec, format_intervals, format_results
    from audioseek.utils.paths import make_dir

    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {args.batch_size!r}")
    if args.json_out:  # fail before the expensive part
        if Path(args.json_out).expanduser().is_dir():
            raise ConfigError(f"--json {args.json_out!r} is a directory; give a file name")
        make_dir(Path(args.json_out).expanduser().parent, "folder for --json")
    options = {"version": args.clotho_version} if args.data == "clotho" else {}
    results = evaluate_spec(
        args.model,
        args.data,
        args.root,
        args.split,
        batch_size=args.batch_size,
        device=args.device,
        progress=sys.stderr.isatty(),
        options=options,
    )
    print(
        f"{args.data} {results.split}: {results.n_clips} clips, {results.n_captions} captions; "
        f"model {args.model} on {results.device}"
    )
    if sys.stdout.isatty():
        from rich.console import Console

        from audioseek.eval.report import rich_table

        Console().print(rich_table(results_rows(results.metrics, str(args.model))))
    else:
        print(format_results(results), end="")
    print(format_intervals(results), end="")
    if results.oom_retries:
        print(f"(batch size reduced to {results.final_batch_size} after out-of-memory errors)")
    if args.json_out:
        path = write_json(args.json_out, results.to_dict())
        print(f"wrote {path}")
    return 0


def run_experiments(args: argparse.Namespace) -> int:
    from audioseek.eval.report import markdown_table, table5_comparison_rows
    from audioseek.experiments import run_grid

    grid = run_grid(args.config_dir, args.out, overrides=args.overrides, device=args.device)
    if grid is None:  # a rank other than 0 of a multi-process run: rank 0 reports
        return 0
    runs, paths = grid
    print(markdown_table(table5_comparison_rows(runs)), end="")
    for kind, p in paths.items():
        print(f"wrote {kind}: {p}")
    return 0
