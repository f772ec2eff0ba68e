"""``audioseek train``: one call into :func:`audioseek.train.run.run_training`."""

from __future__ import annotations

import argparse
import io
import json
import os
import sys

from audioseek.cli.common import add_device


def register(sub) -> None:
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
    add_device(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Prints the exported model directory and the best model's validation metrics as JSON."""
    from audioseek.train.run import run_training

    result = run_training(
        args.config,
        out_dir=args.out,
        overrides=tuple(args.overrides or ()),
        device=args.device,
        resume=args.resume,
    )
    line = json.dumps(
        {
            "model_dir": str(result.model_dir),
            "best_ckpt": str(result.best_ckpt) if result.best_ckpt else None,
            "last_ckpt": str(result.last_ckpt) if result.last_ckpt else None,
            "metrics": result.metrics,
        }
    )
    _write_line(line)
    return 0


def _write_line(line: str) -> None:
    """``line`` and its newline in one write: every DDP rank prints its result to the same
    stdout at the same moment (they leave training together, after the export barrier), and
    a pipe write this short is atomic, so two ranks' lines never interleave."""
    sys.stdout.flush()
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, io.UnsupportedOperation, ValueError):  # captured, not a file
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
        return
    data = (line + "\n").encode()
    while data:  # a pipe takes a short line whole; a file or a long line may need more calls
        data = data[os.write(fd, data) :]
