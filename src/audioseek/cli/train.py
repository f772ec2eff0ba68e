"""``audioseek train``: one call into :func:`audioseek.train.run.run_training`."""

from __future__ import annotations

import argparse
import json

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
    print(
        json.dumps(
            {
                "model_dir": str(result.model_dir),
                "best_ckpt": str(result.best_ckpt) if result.best_ckpt else None,
                "last_ckpt": str(result.last_ckpt) if result.last_ckpt else None,
                "metrics": result.metrics,
            }
        )
    )
    return 0
