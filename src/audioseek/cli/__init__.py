"""The ``audioseek`` command line: one module per command group.

Each module parses its flags, calls the public Python API and prints. Nothing outside this
package knows a flag name or takes an ``argparse.Namespace``.
"""

from audioseek.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
