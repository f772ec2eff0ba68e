"""The search engine: index a library of audio files, search it by text or by example, find
duplicate recordings.

* :mod:`~audioseek.index.store`: SQLite index folder (files, windows, float16 vectors);
* :mod:`~audioseek.index.scan`: which files to index; :mod:`~audioseek.index.indexer`:
  incremental scan -> decode -> embed -> write pipeline;
* :mod:`~audioseek.index.search`: :class:`~audioseek.index.search.Searcher` (exact search,
  or :mod:`~audioseek.index.ann` past a size threshold);

Nothing heavy is imported here; torch and faiss load when a command needs them.
"""
