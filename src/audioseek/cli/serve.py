"""``audioseek serve``: the HTTP API and the web page."""

from __future__ import annotations

import argparse

from audioseek.cli.common import add_device, add_model


def register(sub) -> None:
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
    add_model(p)
    add_device(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from audioseek.errors import ConfigError
    from audioseek.serve.app import run_server

    if not args.max_upload_mb > 0:
        raise ConfigError(f"invalid --max-upload-mb {args.max_upload_mb!r}: must be > 0")
    if args.threads is not None and args.threads < 1:
        raise ConfigError(f"invalid --threads {args.threads!r}: expected a whole number >= 1")

    run_server(
        args.db,
        host=args.host,
        port=args.port,
        model=args.model,
        device=args.device,
        threads=args.threads,
        max_upload_mb=args.max_upload_mb,
    )
    return 0
