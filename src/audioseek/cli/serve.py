"""``audioseek serve``: the HTTP API and the web page."""

from __future__ import annotations

import argparse
import os

from audioseek.cli.common import add_device, add_model

TOKEN_ENV = "AUDIOSEEK_TOKEN"


def register(sub) -> None:
    p = sub.add_parser("serve", help="HTTP API and web page")
    p.add_argument("--db", required=True, help="index folder")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument(
        "--max-upload-mb",
        type=float,
        default=50.0,
        help="largest audio upload accepted by /api/similar, in MB",
    )
    p.add_argument(
        "--max-upload-seconds",
        type=float,
        default=600.0,
        help="longest audio (decoded duration) accepted by /api/similar, in seconds (default 600)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads for the model (default 1; env AUDIOSEEK_SERVE_THREADS)",
    )
    p.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also answer requests for this Host name (repeatable); by default only "
        "localhost, 127.0.0.1 and [::1] (DNS-rebinding protection), and beyond loopback "
        "also this machine's name and any IP address",
    )
    p.add_argument(
        "--cors",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="allow cross-origin requests from this origin, e.g. https://app.example "
        "(repeatable; default none)",
    )
    p.add_argument(
        "--token",
        default=None,
        help=f"access token required on every API request (env {TOKEN_ENV}); when serving "
        "beyond loopback without one, a token is generated and printed once",
    )
    p.add_argument(
        "--no-auth",
        action="store_true",
        help="serve beyond loopback without a token: anyone who can reach the port can "
        "search and download the library",
    )
    p.add_argument(
        "--watch",
        nargs="+",
        default=[],
        metavar="PATH",
        help="also watch these folders and re-index new, changed, moved and deleted files "
        "while serving (searches see each change once it is indexed)",
    )
    p.add_argument(
        "--debounce",
        type=float,
        default=2.0,
        help="with --watch: seconds of quiet after a change before re-indexing (default 2)",
    )
    add_model(p)
    add_device(p)
    p.add_argument(
        "--precision",
        choices=["fp32", "bf16", "int8"],
        default=None,
        help="inference precision of the model (default: the index's own)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from audioseek.errors import ConfigError
    from audioseek.serve.app import run_server

    if not args.max_upload_mb > 0:
        raise ConfigError(f"invalid --max-upload-mb {args.max_upload_mb!r}: must be > 0")
    if not 0 < args.max_upload_seconds < float("inf"):
        raise ConfigError(
            f"invalid --max-upload-seconds {args.max_upload_seconds!r}: must be a number > 0"
        )
    if args.threads is not None and args.threads < 1:
        raise ConfigError(f"invalid --threads {args.threads!r}: expected a whole number >= 1")
    token = args.token if args.token is not None else os.environ.get(TOKEN_ENV) or None
    if args.token is not None and not args.token.strip():
        raise ConfigError("invalid --token '': must not be empty")
    if not 0 <= args.debounce <= 3600:
        raise ConfigError(f"invalid --debounce {args.debounce!r}: expected 0 to 3600 seconds")
    for path in args.watch:
        if not os.path.exists(os.path.expanduser(path)):
            raise ConfigError(f"no such folder or file to watch {path!r}")
    if args.no_auth and token:
        raise ConfigError(
            "--no-auth and a token (--token or AUDIOSEEK_TOKEN) contradict each other"
        )

    run_server(
        args.db,
        host=args.host,
        port=args.port,
        model=args.model,
        device=args.device,
        threads=args.threads,
        max_upload_mb=args.max_upload_mb,
        max_upload_seconds=args.max_upload_seconds,
        allow_hosts=args.allow_host,
        cors_origins=args.cors,
        token=token,
        auth=not args.no_auth,
        watch_paths=args.watch,
        watch_debounce=args.debounce,
        precision=args.precision,
    )
    return 0
