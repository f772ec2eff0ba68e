"""The search engine: index a library of audio files, search it by text or by example, find
duplicate recordings. The public entry point is :class:`audioseek.index.service.Index`
(``audioseek.Index``).

The indexing pipeline, one stage per module (reader -> embedder -> writer):

* :mod:`~audioseek.index.scan`: which files exist and what each needs (the plan);
* :mod:`~audioseek.index.reader`: decode + cut into windows (``audio.windows.frame``);
* :mod:`~audioseek.index.embedder`: model loading, model fingerprint, fixed-shape batches;
* :mod:`~audioseek.index.store`: the SQLite index folder (files, windows, float16 vectors);
* :mod:`~audioseek.index.runner`: the local engine wiring them (progress, batching,
  commits); :mod:`~audioseek.index.ray_engine` runs the same stages on Ray.

Reading: :mod:`~audioseek.index.search` (ranking, exact or :mod:`~audioseek.index.ann`),
:mod:`~audioseek.index.dedupe` (duplicate groups), :mod:`~audioseek.index.query`
(parameter validation shared with the CLI and the HTTP API), :mod:`~audioseek.index.types`
(the public result types and the ``SearchService`` protocol).

Nothing heavy is imported here; torch and faiss load when a command needs them.
"""
