"""Output folders for commands: created on demand, or one ConfigError naming the path."""

from __future__ import annotations

from pathlib import Path

from audioseek.errors import ConfigError


def make_dir(path: str | Path, what: str = "output folder") -> Path:
    """Create folder ``path`` (and parents) if needed; a file in the way, or no permission,
    is a :class:`ConfigError` naming ``what`` and the path."""
    path = Path(path).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"cannot create {what} {str(path)!r}: {e.strerror or e}") from None
    return path
