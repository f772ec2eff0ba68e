"""The ``audioseek`` entry point: builds the parser from the command-group modules and
runs the chosen command's function.

Heavy imports (torch, transformers, lightning) happen inside the command functions, so
``audioseek --help`` stays instant. Every command function receives the parsed
``argparse.Namespace`` and returns an exit status. Errors that are the user's input
(:class:`audioseek.errors.AudioseekError`) print as one line: ``error: ...``.
"""

from __future__ import annotations

import argparse
import logging
import sys

from audioseek import __version__
from audioseek.cli import data, evaluate, index, merge, serve, train
from audioseek.errors import AudioseekError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="audioseek",
        description="Find sounds and music by describing them in plain language.",
    )
    parser.add_argument("--version", action="version", version=f"audioseek {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    for module in (data, train, evaluate, index, merge, serve):
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(levelname)s %(name)s: %(message)s",
    )
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 0 if args.command is None else 2
    try:
        return int(func(args) or 0)
    except AudioseekError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
