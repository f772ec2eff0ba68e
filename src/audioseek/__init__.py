"""audioseek: find sounds and music by describing them.

The package is a library first: importing it is cheap (no torch import, no model
load). Heavy modules import their dependencies when used.
"""

__version__ = "0.1.0"

from audioseek.errors import AudioseekError  # noqa: E402  (cheap, stdlib only)

__all__ = ["AudioseekError", "__version__"]
