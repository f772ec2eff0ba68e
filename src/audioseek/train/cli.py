"""``audioseek train``: the CLI entry point (one call into :func:`run_training`)."""

from __future__ import annotations

import argparse
import json


def cli_train(args: argparse.Namespace) -> int:
    """``audioseek train --config FILE [--out DIR] [--resume CKPT|last] [--set k=v] [--device]``.

    Prints the exported model directory and the best model's validation metrics as JSON.
    """
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
