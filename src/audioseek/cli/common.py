"""What the command-group modules share: the parser class, shared flags, argparse ``type=``
functions (a bad value is a usage error, exit status 2, naming the value), terminal-safe
text, and the switch that keeps third-party progress bars off the terminal.

Everything here is cheap to import (stdlib only): ``audioseek --help`` builds every parser.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
from collections.abc import Callable, Iterator

DB_ENV = "AUDIOSEEK_DB"


class UsageError(Exception):
    """A command's flags do not make sense together (e.g. neither QUERY nor --queries).
    :func:`audioseek.cli.main.main` prints it with the command's usage and exits 2."""


class AudioseekParser(argparse.ArgumentParser):
    """``allow_abbrev=False`` (``--mode`` must not be taken as ``--model``) and ``-v``/``-q``
    on every parser, the top-level one and each subcommand's: ``audioseek -v search ...``
    and ``audioseek search ... -v`` both work. Subparsers made with ``add_subparsers`` are
    of this class too (argparse uses the parent's class).

    Each parser counts ``-v``/``-q`` under its own dest (argparse copies a subcommand's
    values over the ones parsed before it), and :func:`verbosity` adds them up.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
        self.add_argument(
            "-v",
            "--verbose",
            action="count",
            default=0,
            dest=f"_verbose[{self.prog}]",
            help="more output: third-party progress bars and warnings, debug logging (-vv)",
        )
        self.add_argument(
            "-q",
            "--quiet",
            action="count",
            default=0,
            dest=f"_quiet[{self.prog}]",
            help="less output: errors only, no progress bars",
        )
        self.set_defaults(_parser=self)


def verbosity(args: argparse.Namespace) -> int:
    """Number of ``-v`` minus number of ``-q``, wherever they were given."""
    n = 0
    for key, value in vars(args).items():
        if key.startswith("_verbose["):
            n += value
        elif key.startswith("_quiet["):
            n -= value
    return n


# ---------------------------------------------------------------- shared flags


def add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--device",
        default="auto",
        help="torch device: auto (CUDA if present, else CPU), cpu, cuda, cuda:N, mps",
    )


def add_model(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        default=None,
        help="model: 'clap' (LAION-CLAP, default when loadable), 'offline' (bundled), "
        "a DualEncoder directory, or a Hugging Face id",
    )


def add_db(p: argparse.ArgumentParser) -> None:
    """``--db``: required unless the environment variable ``AUDIOSEEK_DB`` names the index
    (:func:`check_db` says so as a usage error after parsing)."""
    default = os.environ.get(DB_ENV) or None
    p.add_argument(
        "--db",
        default=default,
        help=f"index folder (default: ${DB_ENV}"
        + (f", now {default!r})" if default else ", not set)"),
    )
    p.set_defaults(_db_required=True)


def check_db(args: argparse.Namespace) -> None:
    """Raise :class:`UsageError` when the command needs ``--db`` and it is neither given
    nor set by ``AUDIOSEEK_DB``."""
    if getattr(args, "_db_required", False) and not getattr(args, "db", None):
        raise UsageError(f"the index folder is required: give --db DB or set {DB_ENV}")


# ---------------------------------------------------------------- argparse types


def _number(text: str, kind: type, what: str):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: expected {what}") from None


def positive_seconds(text: str) -> float:
    """A finite duration > 0 (``--window``, ``--hop``): ``inf``, ``nan``, ``0``, ``-1`` are
    refused."""
    what = "a finite number of seconds > 0"
    value = _number(text, float, what)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: expected {what}")
    return value


def int_range(lo: int, hi: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number from ``lo`` to ``hi`` (inclusive; no upper bound
    when ``hi`` is None)."""
    what = f"a whole number from {lo} to {hi}" if hi is not None else f"a whole number >= {lo}"

    def parse(text: str) -> int:
        value = _number(text.strip(), int, what)
        if value < lo or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"invalid value {text!r}: expected {what}")
        return value

    parse.__name__ = "int"  # argparse names the type in some messages
    return parse


def float_range(lo: float, hi: float, *, lo_open: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite number in ``[lo, hi]`` (``(lo, hi]`` when ``lo_open``)."""
    what = f"a number in {'(' if lo_open else '['}{lo:g}, {hi:g}]"

    def parse(text: str) -> float:
        value = _number(text, float, what)
        low_ok = value > lo if lo_open else value >= lo
        if not (math.isfinite(value) and low_ok and value <= hi):
            raise argparse.ArgumentTypeError(f"invalid value {text!r}: expected {what}")
        return value

    parse.__name__ = "float"
    return parse


def checked(
    convert: Callable[[str], object], check_name: str, what: str
) -> Callable[[str], object]:
    """An argparse type that converts the text (``int``/``float``/``str``) and then runs the
    library's own check ``audioseek.index.query.<check_name>`` on it, so the CLI and the
    HTTP API refuse the same values (the check is imported when the flag is given, not by
    ``--help``). A refused value is a usage error naming it."""

    def parse(text: str):
        from audioseek.errors import AudioseekError
        from audioseek.index import query

        value = _number(text, convert, what) if convert is not str else text
        try:
            return getattr(query, check_name)(value)
        except AudioseekError as e:
            raise argparse.ArgumentTypeError(f"invalid value {text!r}: {e}") from None

    parse.__name__ = getattr(convert, "__name__", "value")
    return parse


def k_value(text: str) -> int:
    """``-k``: a whole number from 1 to ``audioseek.index.query.MAX_K``."""
    return checked(int, "check_k", "a whole number")(text.strip())


def agg_value(text: str) -> str:
    """``--agg``: ``max`` or ``topN-mean``."""
    checked(str, "parse_agg", "max or topN-mean")(text)
    return text


def query_value(text: str) -> str:
    """A text query: not blank, at most ``audioseek.index.query.MAX_QUERY_CHARS``."""
    return checked(str, "check_query", "a text query")(text)


def threshold_value(text: str) -> float:
    """``--threshold``: a similarity in (-1, 1]."""
    return checked(float, "check_threshold", "a number in (-1, 1]")(text)


# ---------------------------------------------------------------- terminal-safe text


def escape_text(text: str) -> str:
    """``text`` with every non-printable character written as a Python escape (``\\n``,
    ``\\x1b``, ``\\u202e``), so that a file name cannot move the cursor, recolour the
    terminal or fake extra output lines. Bytes of a name that is not valid UTF-8 (decoded by
    Python as lone surrogates ``\\udc80``-``\\udcff``) are written as the byte, ``\\xff``.
    Printable text, including non-ASCII letters, is unchanged."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch.isprintable():
            out.append(ch)
        elif 0xDC80 <= ord(ch) <= 0xDCFF:  # surrogateescape'd byte of a non-UTF-8 name
            out.append(f"\\x{ord(ch) - 0xDC00:02x}")
        else:
            out.append(repr(ch)[1:-1])
    return "".join(out)


# ---------------------------------------------------------------- third-party noise

_QUIET_ENV = {
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",  # huggingface_hub downloads and transformers' bars
    "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
}


@contextlib.contextmanager
def quiet_third_party(enabled: bool = True) -> Iterator[None]:
    """Keep Hugging Face's progress bars ("Loading weights 0/103 ... 103/103", downloads)
    and advisory warnings off the terminal while a command runs.

    Nothing is imported here: the environment variables are read by transformers and
    huggingface_hub when a command first imports them (a model load); when they are
    already imported (a caller running several commands in one process), their switches
    are flipped directly. Environment and switches are restored afterwards (a library
    first imported inside the block keeps its bars off for the rest of the process).
    A variable the user set is left as it is.
    """
    if not enabled:
        yield
        return
    saved_env = {k: os.environ.get(k) for k in _QUIET_ENV}
    user_bars = saved_env["HF_HUB_DISABLE_PROGRESS_BARS"] is not None  # theirs decides
    for key, value in _QUIET_ENV.items():
        os.environ.setdefault(key, value)
    hub = None if user_bars else sys.modules.get("huggingface_hub.utils")
    tf_logging = sys.modules.get("transformers.utils.logging")
    hub_was_on = hub is not None and not hub.are_progress_bars_disabled()
    tf_bars_were_on = (
        tf_logging is not None and not user_bars and tf_logging.is_progress_bar_enabled()
    )
    tf_verbosity = tf_logging.get_verbosity() if tf_logging is not None else None
    if hub_was_on:
        hub.disable_progress_bars()
    if tf_bars_were_on:
        tf_logging.disable_progress_bar()
    if tf_logging is not None:
        tf_logging.set_verbosity_error()
    try:
        yield
    finally:
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if tf_logging is not None:
            tf_logging.set_verbosity(tf_verbosity)
        if tf_bars_were_on:
            tf_logging.enable_progress_bar()  # huggingface_hub's too
        elif hub_was_on:
            hub.enable_progress_bars()
        tf_new = None if tf_logging else sys.modules.get("transformers.utils.logging")
        if tf_new is not None:  # first imported inside the block: back to its defaults
            if saved_env["TRANSFORMERS_VERBOSITY"] is None:
                tf_new.set_verbosity_warning()
            hub_now = sys.modules.get("huggingface_hub.utils")
            if hub_now is not None and not hub_now.are_progress_bars_disabled():
                tf_new.enable_progress_bar()
