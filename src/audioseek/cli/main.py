"""The ``audioseek`` entry point: builds the parser from the command-group modules and
runs the chosen command's function.

Heavy imports (torch, transformers, lightning) happen inside the command functions, so
``audioseek --help`` stays instant. Every command function receives the parsed
``argparse.Namespace`` and returns an exit status.

Exit status: 0 success; 2 usage error (argparse, a flag value refused by its ``type=``
function, :class:`~audioseek.cli.common.UsageError`); 1 runtime failure
(:class:`audioseek.errors.AudioseekError`: missing index, model mismatch, a file that
does not decode..., printed as one line ``error: ...``); 130 on Ctrl-C.
"""

from __future__ import annotations

import logging
import os
import sys

from audioseek import __version__
from audioseek.cli import data, evaluate, index, library, merge, serve, train
from audioseek.cli.common import (
    AudioseekParser,
    UsageError,
    check_db,
    quiet_third_party,
    verbosity,
)
from audioseek.errors import AudioseekError

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def build_parser() -> AudioseekParser:
    parser = AudioseekParser(
        prog="audioseek",
        description="Find sounds and music by describing them in plain language.",
        epilog="-v/-q work before or after the command. Exit status: 0 ok, 1 failure, "
        "2 usage error, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"audioseek {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    for module in (data, train, evaluate, index, merge, serve, library):
        module.register(sub)
    return parser


def _exit_code(code) -> int:
    """``SystemExit.code`` as an int (argparse: 0 after --help/--version, 2 on errors)."""
    if code is None:
        return EXIT_OK
    return code if isinstance(code, int) else EXIT_FAILURE


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit status (usage errors included: it does not raise
    ``SystemExit``)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return _exit_code(e.code)
    level = verbosity(args)
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(min(max(logging.WARNING - 10 * level, logging.DEBUG), 50))
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return EXIT_OK if args.command is None else EXIT_USAGE
    try:
        check_db(args)
        with quiet_third_party(enabled=level <= 0):
            return int(func(args) or 0)
    except UsageError as e:
        command_parser = getattr(args, "_parser", parser)
        command_parser.print_usage(sys.stderr)
        print(f"{command_parser.prog}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except AudioseekError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `audioseek search ... | head -1`: stop quietly
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes
        except (OSError, ValueError):
            pass
        return EXIT_FAILURE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
