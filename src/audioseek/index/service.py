"""The public Python API: :class:`Index`, exported as ``audioseek.Index``.

>>> import audioseek                                        # doctest: +SKIP
>>> with audioseek.Index("my-index") as index:              # doctest: +SKIP
...     index.add(["~/Music"])                               # creates the index on first add
...     for hit in index.search("rain on a tin roof", k=5):
...         print(f"{hit.score:.3f} {hit.start:.0f}-{hit.end:.0f} s {hit.path}")

It composes the stages of :mod:`audioseek.index` (scan, reader, embedder, store, runner,
search, dedupe) and returns the dataclasses of :mod:`audioseek.index.types`; it implements
:class:`~audioseek.index.types.SearchService`, the protocol the HTTP server calls. ``info``,
``duplicates`` and ``file`` never load the model. Safe to share between threads: the ranking
snapshot is swapped atomically when the store's generation changes and model calls are
serialised by a lock.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from audioseek.errors import AudioDecodeError, QueryError, SearchIndexError
from audioseek.index.ann import ANN_FILE, ANN_THRESHOLD
from audioseek.index.embedder import (
    ONNX_TEXT_DIR,
    check_index_precision,
    check_index_rule,
    check_loaded_precision,
    check_precision_arg,
    embed_rule,
    embed_texts,
    embed_windows,
    index_precision,
    is_model,
    load_index_model,
    model_fingerprint,
    spec_id,
)
from audioseek.index.library import LibraryViews
from audioseek.index.query import check_k, check_queries, check_threshold, parse_agg
from audioseek.index.reader import stream_file
from audioseek.index.search import Snapshot, rank
from audioseek.index.store import Store
from audioseek.index.types import (
    BatchDone,
    DuplicateGroup,
    Hit,
    IndexedFile,
    IndexInfo,
    IndexSummary,
)


class Index(LibraryViews):
    """An index folder ``db``: add audio to it, search it by text or by example, find
    duplicate recordings.

    ``model`` is a loaded model, a ``load_model`` spec, or ``None``: the model recorded in
    the index (the default model for a new one), loaded on first use on ``device``. A model
    other than the index's is refused (:class:`SearchIndexError` naming both), for searches
    and for ``similar`` on indexed files alike. ``precision`` (``"fp32" | "bf16" | "int8"``,
    for a model loaded from a spec): ``None`` is the index's own (fp32 for a new index);
    another than the index's is refused like another model.

    Text searches use the ONNX export of the model's text side that ``add`` leaves beside
    the index (``text_onnx/``) when the model is not loaded yet and the export is of the
    index's model: no torch import, no model load (see :meth:`encode_text`).
    """

    def __init__(
        self,
        db: str | os.PathLike,
        model=None,
        device: str = "auto",
        *,
        ann_threshold: int = ANN_THRESHOLD,
        precision: str | None = None,
    ):
        self.db = Path(db)
        self.device = device
        self.ann_threshold = ann_threshold
        self.precision = check_precision_arg(precision)
        if is_model(model):
            check_loaded_precision(model, self.precision)
        self._model_arg = model
        self._model = None
        self._onnx_text = None  # the ONNX text encoder, once loaded (False: none usable)
        self._store: Store | None = None
        self._lock = threading.RLock()
        self._model_lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        if is_model(model) and Store.exists(self.db) and not Store.unfinished(self.db):
            self._check_model(model, spec_id(None, model))

    # ---- lifecycle --------------------------------------------------------------------
    @property
    def store(self) -> Store:
        """The open store (opened on first use; :class:`SearchIndexError` if none exists)."""
        with self._lock:
            if self._store is None:
                self._store = Store.open(self.db)
            return self._store

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None
            self._snapshot = None

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Index({str(self.db)!r})"

    # ---- model ------------------------------------------------------------------------
    def _check_model(self, model, spec) -> None:
        store = self.store
        meta_fp = store.get_meta("model_fingerprint")
        check_index_precision(self.db, store.get_meta("precision"), meta_fp, model)
        store.check_model(spec, model_fingerprint(model))
        self._model = model

    def _load_precision(self) -> str:
        """The precision to load a model at: the one asked for, else the index's."""
        if self.precision is not None:
            return self.precision
        store = self.store
        return index_precision(store.get_meta("precision"), store.get_meta("model_fingerprint"))

    @property
    def model(self):
        """The index's model, loaded (and checked against the index) on first use."""
        with self._lock:
            if self._model is None:
                if is_model(self._model_arg):
                    self._check_model(self._model_arg, spec_id(None, self._model_arg))
                else:
                    spec = self._model_arg or self.store.get_meta("model_spec")
                    model = load_index_model(
                        spec, device=self.device, precision=self._load_precision()
                    )
                    self._check_model(model, spec_id(spec, model))
            return self._model

    def _onnx_text_encoder(self):
        """The ONNX text encoder beside the index, if it may answer instead of the model:
        the model is not loaded yet, the export is of the index's model (same fingerprint,
        so an fp32 index), and no other model or precision was asked for. Else ``None``."""
        with self._lock:
            if self._onnx_text is not None or self._model is not None:
                return self._onnx_text or None
            self._onnx_text = False
            if is_model(self._model_arg) or self.precision not in (None, "fp32"):
                return None
            folder = self.db / ONNX_TEXT_DIR
            meta_path = folder / "onnx_text.json"
            if not meta_path.is_file():
                return None
            store = self.store
            if self._model_arg is not None and str(self._model_arg) != store.get_meta("model_spec"):
                return None
            try:
                import json

                exported = json.loads(meta_path.read_text()).get("fingerprint")
            except (OSError, ValueError, AttributeError):
                return None
            if not exported or exported != store.get_meta("model_fingerprint"):
                return None
            from audioseek.errors import ModelLoadError

            try:
                from audioseek.models.onnx_text import OnnxTextEncoder

                self._onnx_text = OnnxTextEncoder(folder)
            except (ModelLoadError, ImportError) as e:
                import logging

                logging.getLogger(__name__).info("ONNX text encoder not used: %s", e)
                return None
            return self._onnx_text

    def encode_text(self, queries: list[str]) -> np.ndarray:
        """``(len(queries), dim)`` float32 L2-normalised text embeddings: by the ONNX text
        encoder beside the index when it may answer (see :meth:`_onnx_text_encoder`;
        equal to the model's to ~1e-6), else by the model (loaded on first use)."""
        onnx = self._onnx_text_encoder()
        if onnx is not None:
            with self._model_lock:
                return onnx.encode_text(list(queries))
        model = self.model
        with self._model_lock:
            return embed_texts(model, queries)

    def embed_file(self, path: str | os.PathLike) -> np.ndarray:
        """Window vectors ``(n, dim)`` of any audio file, cut like the index's windows.
        Decoded as a stream, part by part: memory is a few windows, whatever the duration
        (only the vectors grow with it)."""
        model = self.model
        sr = int(model.sample_rate)
        rule = embed_rule(model)  # the index's vectors must have been made the same way
        check_index_rule(self.db, self.store.get_meta("embed_rule"), rule)
        window, hop = float(self.store.get_meta("window")), float(self.store.get_meta("hop"))
        parts = []
        for item in stream_file(str(path), sr, window, hop):
            if item.error is not None:
                raise AudioDecodeError(path, item.error)
            with self._model_lock:
                parts.append(embed_windows(model, item.windows, rule))
        vecs = np.concatenate(parts)
        self._check_dim(vecs)
        return vecs

    def _check_dim(self, vecs: np.ndarray) -> None:
        dim = self.store.dim
        if dim and vecs.shape[1] != dim:
            raise SearchIndexError(
                f"model gives {vecs.shape[1]}-d vectors but index {str(self.db)!r} holds {dim}-d"
            )

    # ---- writing ----------------------------------------------------------------------
    def add(
        self,
        paths: str | os.PathLike | Iterable[str | os.PathLike],
        *,
        window: float | None = None,
        hop: float | None = None,
        workers: int | None = None,
        batch_size: int = 16,
        progress: bool | None = None,
        on_batch: Callable[[BatchDone], None] | None = None,
        engine: str = "local",
        ray_options=None,
        threads: int | None = None,
        export_onnx: bool = True,
        timings: dict | None = None,
    ) -> IndexSummary:
        """Index (incrementally) the audio files under ``paths``, creating the index on the
        first call. ``engine="ray"`` reads and embeds on a Ray cluster (``ray_options``: a
        :class:`audioseek.index.ray_engine.RayOptions`); the result is the same index. ``window``/``hop`` (seconds) are fixed when the index is created (default
        10 and 5); later calls may omit them, and other values are refused. ``on_batch`` is
        called after every committed batch of windows with a :class:`BatchDone`.
        ``workers`` (decoding processes) and ``threads`` (torch threads while embedding):
        ``None`` chooses from the core count. The model is loaded at the Index's
        ``precision``. At the end the text side is exported to ONNX beside the index (unless
        ``export_onnx`` is False). ``timings`` (a dict) receives where the run's time went."""
        from audioseek.index.runner import (
            DEFAULT_HOP,
            DEFAULT_WINDOW,
            existing_window_hop,
            index_paths,
        )

        if isinstance(paths, str | os.PathLike):
            paths = [paths]
        have = existing_window_hop(self.db) if window is None or hop is None else None
        if window is None:
            window = have[0] if have else DEFAULT_WINDOW
        if hop is None:
            hop = have[1] if have else DEFAULT_HOP
        model = self._model if self._model is not None else self._model_arg
        # the run writes through its own connection (WAL): searches on this Index go on
        # meanwhile and see each committed batch (the store's generation changes)
        summary = index_paths(
            list(paths),
            self.db,
            model=model,
            window=window,
            hop=hop,
            workers=workers,
            batch_size=batch_size,
            device=self.device,
            progress=progress,
            ann_threshold=self.ann_threshold,
            on_batch=on_batch,
            engine=engine,
            ray_options=ray_options,
            precision=None if is_model(model) else self.precision,
            threads=threads,
            export_onnx=export_onnx,
            timings=timings,
        )
        self._retag_after_add()
        return summary

    # ---- reading ----------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        """The ranking snapshot of the store's current generation."""
        store = self.store
        gen = store.generation
        with self._lock:
            if self._snapshot is None or self._snapshot.generation != gen:
                self._snapshot = Snapshot(store, self.ann_threshold)
            return self._snapshot

    def search(
        self,
        queries: str | list[str],
        k: int = 10,
        agg: str = "max",
        mode: str = "hybrid",
        fusion: str = "rrf",
        **filters,
    ) -> list[Hit] | list[list[Hit]]:
        """Ranked files for a text query (a ``str``: one list of hits) or for each of a list
        of queries (a list of hit lists). ``agg``: ``"max"`` or ``"topN-mean"``.

        ``mode``: ``"hybrid"`` (default: the audio embedding ranking fused with the BM25
        ranking of file names, folders and embedded metadata; exactly the audio ranking when
        no query word matches any file), ``"audio"`` or ``"text"`` (no model needed).
        ``filters``: ``min_duration``, ``max_duration``, ``format``, ``sample_rate``,
        ``channels``, ``folder``, ``tag`` (:class:`audioseek.index.filters.Filters`). Each hit
        says why it matched (``audio_score``, ``text_score``, ``matched_terms``) and whether
        it is ``weak`` (its score does not stand out from the index's for this query)."""
        from audioseek.index.filters import Filters
        from audioseek.index.hybrid import FUSIONS, MODES, search_one

        single = isinstance(queries, str)
        texts = check_queries(queries)
        k, top_n = check_k(k), parse_agg(agg)
        if mode not in MODES:
            raise QueryError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
        if fusion not in FUSIONS:
            raise QueryError(f"unknown fusion {fusion!r}; expected one of {', '.join(FUSIONS)}")
        flt = Filters.from_mapping(filters)
        qvecs = None
        if mode != "text":
            qvecs = self.encode_text(texts)
            self._check_dim(qvecs)
        st = self.snapshot()
        allowed = flt.allowed(st.records, self.store.roots(), self.store)
        out = [
            search_one(
                st,
                self.store,
                text,
                None if qvecs is None else qvecs[i : i + 1],
                k,
                top_n,
                mode=mode,
                allowed=allowed,
                fusion=fusion,
            )
            for i, text in enumerate(texts)
        ]
        return out[0] if single else out

    def similar(self, query: int | str | os.PathLike, k: int = 10, **filters) -> list[Hit]:
        """Files most similar to an indexed file (an ``int`` file id) or to an audio file
        (a path, indexed or not); a file scores its best window pair with the query. The
        query file itself is excluded."""
        k = check_k(k)
        if self._model_arg is not None:
            _ = self.model  # an explicit model must be the index's, stored vectors or not
        exclude: set[int] = set()
        if isinstance(query, bool) or not isinstance(query, int | str | os.PathLike):
            raise QueryError(f"similar needs a file id or an audio file path, got {query!r}")
        if isinstance(query, int):
            rec = self.store.get_file(query)
            if rec is None or not rec.complete:
                raise QueryError(f"no indexed file with id {query!r}")
            vecs = self.store.file_vectors(rec.id)[0]
            exclude.add(rec.id)
        else:
            p = Path(query).expanduser()
            if not p.is_file():
                raise QueryError(f"no such audio file {str(query)!r}")
            rec = self.store.get_file_by_path(str(p.resolve()))
            st_ = p.stat()
            if rec is not None:
                exclude.add(rec.id)
            if (
                rec is not None
                and rec.complete
                and rec.size == st_.st_size
                and rec.mtime_ns == st_.st_mtime_ns
            ):
                vecs = self.store.file_vectors(rec.id)[0]
            else:
                vecs = self.embed_file(p)
        from audioseek.index.filters import Filters

        st = self.snapshot()
        allowed = Filters.from_mapping(filters).allowed(st.records, self.store.roots(), self.store)
        if allowed is not None:
            exclude |= set(st.records) - allowed
        return rank(st, vecs, k, 1, exclude)

    def duplicates(
        self, threshold: float | None = None, *, verify_audio: bool = True
    ) -> list[DuplicateGroup]:
        """Groups of files that hold the same recording (see :mod:`audioseek.index.dedupe`);
        no model needed."""
        from audioseek.index.dedupe import find_duplicates

        threshold = check_threshold(threshold)
        return find_duplicates(self.store, threshold, verify_audio=verify_audio)

    def info(self) -> IndexInfo:
        """Model, counts, audio hours, size on disk; damaged pages are reported as a
        :class:`SearchIndexError`. No model needed."""
        store = self.store
        from audioseek.index.ann import ann_status

        store.quick_check()
        meta = store.meta()
        counts = store.counts()
        ann_state = ann_status(store)
        return IndexInfo(
            db=str(self.db.resolve()),
            model=meta.get("model_spec"),
            model_id=meta.get("model_id"),
            model_fingerprint=meta.get("model_fingerprint"),
            sample_rate=int(meta.get("sample_rate", 0)),
            dim=int(meta.get("dim", 0)),
            window_s=float(meta.get("window", "nan")),
            hop_s=float(meta.get("hop", "nan")),
            files=int(counts["complete_files"]),
            incomplete_files=int(counts["files"] - counts["complete_files"]),
            windows=int(counts["windows"]),
            audio_hours=counts["audio_seconds"] / 3600,
            size_bytes=store.size_on_disk(),
            ann=(self.db / ANN_FILE).exists(),
            roots=store.roots(),
            read_only=store.read_only,
            ann_kind=ann_state.get("kind") if ann_state["present"] else None,
            ann_stale=bool(ann_state["stale"]),
        )

    def file(self, file_id: int) -> IndexedFile | None:
        """The complete indexed file with this id, or ``None``."""
        from audioseek.index.dedupe import indexed_file

        if isinstance(file_id, bool) or not isinstance(file_id, int | np.integer):
            return None
        if not 0 <= int(file_id) < 2**63:
            return None
        rec = self.store.get_file(int(file_id))
        return indexed_file(rec) if rec is not None and rec.complete else None

    def path_allowed(self, path: str | os.PathLike) -> bool:
        """Whether ``path`` is an indexed file (what a server may serve)."""
        return self.store.path_allowed(path)


class Searcher(Index):
    """Deprecated: the pre-``Index`` interface the HTTP server still calls
    (``search(list)``, ``similar(path=..., file_id=...)``, ``info()`` as a dict, ``.store``).
    Opens the index at once (:class:`SearchIndexError` if there is none). Use :class:`Index`.
    """

    def __init__(self, db, model=None, device="auto", ann_threshold: int = ANN_THRESHOLD):
        super().__init__(db, model=model, device=device, ann_threshold=ann_threshold)
        _ = self.store

    def state(self) -> Snapshot:
        return self.snapshot()

    def similar(self, path=None, file_id=None, k: int = 10) -> list[Hit]:  # type: ignore[override]
        if (path is None) == (file_id is None):
            raise QueryError("give exactly one of an audio file path or an indexed file id")
        return super().similar(int(file_id) if file_id is not None else path, k=k)

    def info(self) -> dict:  # type: ignore[override]
        return super().info().to_dict()


__all__ = ["Index", "Searcher"]
