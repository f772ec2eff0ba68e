"""audioseek: find sounds and music by describing them.

The package is a library first: importing it is cheap (no torch import, no model
load). Heavy modules import their dependencies when used.

Public API (imported lazily on first use):

* :class:`audioseek.Index`: an index folder: ``add``, ``search``, ``similar``,
  ``duplicates``, ``info``, ``file``;
* :func:`audioseek.load_model`: a model by spec (``encode_text`` / ``encode_audio``);
* :class:`audioseek.Client`: the same search methods over the HTTP API;
* the result types ``Hit``, ``IndexedFile``, ``DuplicateGroup``, ``DuplicatePair``,
  ``IndexInfo``, ``IndexSummary`` and the ``SearchService`` protocol.
"""

__version__ = "0.1.0"

from audioseek.errors import AudioseekError  # noqa: E402  (cheap, stdlib only)

_LAZY = {
    "Index": "audioseek.index.service",
    "load_model": "audioseek.models.hub",
    "Client": "audioseek.client",
    "Hit": "audioseek.index.types",
    "IndexedFile": "audioseek.index.types",
    "DuplicateGroup": "audioseek.index.types",
    "DuplicatePair": "audioseek.index.types",
    "IndexInfo": "audioseek.index.types",
    "IndexSummary": "audioseek.index.types",
    "SearchService": "audioseek.index.types",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'audioseek' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = ["AudioseekError", "__version__", *_LAZY]
