"""The runner: wires scan -> read -> embed -> store and owns progress, batching and
commits. The distributed engine (Ray, :mod:`audioseek.index.ray_engine`) swaps the read and
embed stages for a :class:`~audioseek.index.ray_engine.RayReader` that runs the same
:func:`~audioseek.index.reader.read_file` / :func:`~audioseek.index.embedder.embed_windows`
on the cluster, and commits through the same :class:`Writer` in this process.

Crash safety: windows are committed one batch per transaction and a file is marked complete
in the transaction that writes its last window, so ``kill -9`` loses at most the batch in
flight and a re-run continues from the stored prefix of windows. Files that disappeared are
deleted before any embedding starts, so a killed run never leaves more stale rows than there
were before it. One run writes an index at a time (:class:`~audioseek.index.store.WriteLock`).
"""

from __future__ import annotations

import collections
import logging
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from audioseek.errors import ConfigError, SearchIndexError
from audioseek.index import textfields
from audioseek.index.embedder import (
    ONNX_TEXT_DIR,
    Embedder,
    check_index_precision,
    check_index_rule,
    check_loaded_precision,
    check_precision_arg,
    index_precision,
    is_model,
    load_index_model,
    spec_id,
)
from audioseek.index.query import check_window_hop
from audioseek.index.reader import Reader
from audioseek.index.scan import Job, Plan, plan, resolve_roots, scan
from audioseek.index.store import FileRecord, Store, WriteLock, make_index_dir
from audioseek.index.textfields import file_text
from audioseek.index.types import BatchDone, IndexSummary

log = logging.getLogger(__name__)

DEFAULT_WINDOW = 10.0
DEFAULT_HOP = 5.0
ENGINES = ("local", "ray")


# ---- writer ---------------------------------------------------------------------------------
class Writer:
    """Buffers windows and commits them ``batch_size`` at a time, one transaction each,
    embedding each batch with ``embed`` just before its commit."""

    def __init__(
        self,
        store: Store,
        embed: Callable[[np.ndarray], np.ndarray],
        batch_size: int,
        on_commit: Callable[[list[int], int], None] | None = None,
    ):
        self.store = store
        self.embed = embed
        self.batch_size = batch_size
        self.on_commit = on_commit
        self.pending: list[tuple[int, int, float, float, np.ndarray]] = []
        self.last_index: dict[int, int] = {}
        self.windows_embedded = 0
        self.roots = store.roots()

    def start_file(self, job: Job, meta: dict | None = None, n_windows: int | None = None) -> int:
        """The file's row (incomplete; its windows cleared unless resumed). With
        ``n_windows`` (a whole file) this is also :meth:`finish_file`."""
        fields = {
            "path": job.path,
            "hash": job.hash,
            "size": job.size,
            "mtime_ns": job.mtime_ns,
            "n_windows": 0,
            "complete": 0,
        }
        with self.store.transaction() as c:
            file_id = Store.upsert_file(c, fields)
            Store.forget_failed(c, [job.path])
            if job.resume_from == 0:
                Store.clear_windows(c, file_id)
                Store.drop_file_extras(c, file_id)  # tags and peaks of the old content
        if n_windows is not None:
            self.finish_file(job, file_id, meta or {}, n_windows)
        return file_id

    def finish_file(self, job: Job, file_id: int, meta: dict, n_windows: int) -> None:
        """The file has ``n_windows`` windows (its last part is about to be added): record
        its metadata; the batch that writes its last window marks it complete."""
        meta = dict(meta)
        peaks = meta.pop("peaks", None)
        fields = file_text(job.path, self.roots)
        with self.store.transaction() as c:
            Store.update_file(c, file_id, {**meta, "n_windows": n_windows})
            textfields.upsert(c, file_id, fields)
            if peaks:
                Store.set_peaks(c, file_id, bytes.fromhex(peaks))
            if job.resume_from >= n_windows:
                Store.mark_complete(c, file_id)
        self.last_index[file_id] = n_windows - 1

    def discard(self, file_id: int) -> None:
        """Drop the windows of ``file_id`` not committed yet (the file failed mid-way)."""
        self.pending = [p for p in self.pending if p[0] != file_id]
        self.last_index.pop(file_id, None)

    def add(self, file_id: int, idx: int, start: float, end: float, samples: np.ndarray):
        self.pending.append((file_id, idx, start, end, samples))
        if len(self.pending) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        vectors = self.embed(np.stack([p[4] for p in self.pending]))
        done = []
        with self.store.transaction() as c:
            if self.store.dim == 0:
                self.store.set_meta(c, "dim", vectors.shape[1])
            by_file: dict[int, list] = collections.defaultdict(list)
            for (file_id, idx, start, end, _), vec in zip(self.pending, vectors, strict=True):
                by_file[file_id].append((idx, start, end, vec))
            for file_id, rows in by_file.items():
                Store.add_windows(c, file_id, rows)
                if rows[-1][0] == self.last_index.get(file_id):
                    Store.mark_complete(c, file_id)
                    done.append(file_id)
        n = len(self.pending)
        self.windows_embedded += n
        self.pending = []
        if self.on_commit:
            self.on_commit(done, n)


# ---- opening ----------------------------------------------------------------------------------
def open_or_create(db: str | os.PathLike, embedder: Embedder, window: float, hop: float) -> Store:
    """Open the index at ``db`` for ``embedder``'s model (or create it, recording the model).

    A model other than the recorded one, or other window/hop settings, raise
    :class:`SearchIndexError` naming both.
    """
    if Store.exists(db):
        store = Store.open(db)
        try:
            check_index_precision(
                db,
                store.get_meta("precision"),
                store.get_meta("model_fingerprint"),
                embedder.model,
            )
            store.check_model(embedder.spec, embedder.fingerprint)
            check_index_rule(db, store.get_meta("embed_rule"), embedder.rule)
            have = index_window_hop(store)
            if have != (float(window), float(hop)):
                raise SearchIndexError(
                    f"index {str(db)!r} uses --window {have[0]:g} --hop {have[1]:g}, "
                    f"not --window {window:g} --hop {hop:g}; use the same values or a new --db"
                )
            store.ensure_schema()
        except BaseException:
            store.close()
            raise
        return store
    meta = {
        "model_spec": embedder.spec,
        "model_id": getattr(embedder.model, "model_id", None) or embedder.spec,
        "model_fingerprint": embedder.fingerprint,
        "precision": embedder.precision,
        "embed_rule": embedder.rule,
        "sample_rate": embedder.sample_rate,
        "window": float(window),
        "hop": float(hop),
        "dim": 0,
    }
    return Store.create(db, meta)


def index_window_hop(store: Store) -> tuple[float, float]:
    return float(store.get_meta("window", "nan")), float(store.get_meta("hop", "nan"))


def resolve_embedder(db, model, device: str = "auto", precision: str | None = None) -> Embedder:
    """The embedding stage for ``model``: used as is if already loaded (``precision`` must
    be its own); else the spec loaded, or the index's recorded model for an existing index,
    or the hub default, at ``precision`` (``None``: the index's precision, fp32 for a new
    index)."""
    precision = check_precision_arg(precision)
    if is_model(model):
        check_loaded_precision(model, precision)
        return Embedder(model, spec_id(None, model))
    wanted = model
    if (wanted is None or precision is None) and Store.exists(db) and not Store.unfinished(db):
        with Store.open(db) as store:
            if wanted is None:
                wanted = store.get_meta("model_spec")
            if precision is None:
                precision = index_precision(
                    store.get_meta("precision"), store.get_meta("model_fingerprint")
                )
    obj = load_index_model(wanted, device=device, precision=precision)
    return Embedder(obj, spec_id(wanted, obj))


def cpu_count() -> int:
    """CPUs this process may run on (its affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def auto_workers(cpus: int | None = None) -> int:
    """Decoding processes for ``cpus`` cores: decoding costs a small fraction of embedding
    (see ``benchmarks/bench_index.py``), so one per 4 cores, at least 1 (it prefetches while
    the model embeds), at most 4."""
    cpus = cpu_count() if cpus is None else int(cpus)
    return max(1, min(4, cpus // 4))


def auto_threads(cpus: int | None = None) -> int:
    """Torch intra-op threads for the embedding model: every core (the decoding workers
    mostly wait on their bounded queues while the model runs), at most 16."""
    cpus = cpu_count() if cpus is None else int(cpus)
    return max(1, min(16, cpus))


def check_run_settings(workers, batch_size, threads=None) -> None:
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, int) or workers < 0
    ):
        raise ConfigError(f"workers must be None (auto) or an integer >= 0, got {workers!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if threads is not None and (
        isinstance(threads, bool) or not isinstance(threads, int) or threads < 1
    ):
        raise ConfigError(f"threads must be None (auto) or an integer >= 1, got {threads!r}")


class _TorchThreads:
    """``torch.set_num_threads(n)`` for a block, restored after (``n=None``: unchanged)."""

    def __init__(self, n: int | None):
        self.n = n
        self.before: int | None = None

    def __enter__(self):
        if self.n is not None:
            import torch

            self.before = torch.get_num_threads()
            if self.before != self.n:
                torch.set_num_threads(self.n)
        return self

    def __exit__(self, *exc):
        if self.before is not None and self.before != self.n:
            import torch

            torch.set_num_threads(self.before)


def export_text_onnx(db_dir: Path, model) -> Path | None:
    """Export ``model``'s text side to ONNX into ``db_dir/text_onnx`` (see
    :mod:`audioseek.models.onnx_text`) unless an export of the same fingerprint is there, so
    a one-shot search runs without torch. Only fp32 DualEncoders with a fast tokenizer can
    be exported; other models (or a failed export) leave no folder and searches use torch.
    Written under a temporary name and renamed. Returns the folder, or ``None``."""
    import json
    import shutil

    final = db_dir / ONNX_TEXT_DIR
    fingerprint = str(getattr(model, "fingerprint", "") or "")
    if not fingerprint or getattr(model, "precision", "fp32") != "fp32":
        return None
    if not hasattr(model, "encode_text_tokens") or not hasattr(model, "text_encoder"):
        return None
    try:
        meta = json.loads((final / "onnx_text.json").read_text())
        if (
            meta.get("fingerprint") == fingerprint
            and meta.get("dynamic_length")  # older exports ran every query at max_length
            and (final / "text_encoder.onnx").is_file()
        ):
            return final
    except (OSError, ValueError, AttributeError):
        pass
    from audioseek.models.onnx_text import export_text_encoder

    for left in db_dir.glob(f".{ONNX_TEXT_DIR}.*"):  # a killed export's (we hold the lock)
        shutil.rmtree(left, ignore_errors=True)
    tmp = db_dir / f".{ONNX_TEXT_DIR}.{os.getpid()}.tmp"
    old = db_dir / f".{ONNX_TEXT_DIR}.{os.getpid()}.old"
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        export_text_encoder(model, tmp)
        if final.exists():
            final.rename(old)
        tmp.rename(final)
    except Exception as e:  # noqa: BLE001 - optional: tracing/export errors come in many types
        log.info("text encoder not exported to ONNX (searches will load the model): %s", e)
        return None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return final


def existing_window_hop(db) -> tuple[float, float] | None:
    """The window and hop of the index at ``db``, or ``None`` if there is none yet."""
    if not Store.exists(db) or Store.unfinished(db):
        return None
    with Store.open(db) as store:
        return index_window_hop(store)


# ---- the run ------------------------------------------------------------------------------------
def index_paths(
    paths: Iterable[str | os.PathLike],
    db: str | os.PathLike,
    model=None,
    window: float = DEFAULT_WINDOW,
    hop: float = DEFAULT_HOP,
    workers: int | None = None,
    batch_size: int = 16,
    device: str = "auto",
    progress: bool | None = None,
    ann_threshold: int | None = None,
    on_batch: Callable[[BatchDone], None] | None = None,
    engine: str = "local",
    ray_options=None,
    *,
    precision: str | None = None,
    threads: int | None = None,
    export_onnx: bool = True,
    timings: dict | None = None,
) -> IndexSummary:
    """Index (incrementally) the audio files under ``paths`` into the index folder ``db``.

    ``model`` is a loaded model, a ``load_model`` spec, or ``None`` (the index's model, or the
    default for a new index). ``on_batch`` is called after every committed batch. At the end
    the ANN index is (re)built if the index holds ``ann_threshold`` windows or more (default
    :data:`audioseek.index.ann.ANN_THRESHOLD`) and the persisted one is stale.

    ``engine``: ``"local"`` (decoding processes + the model in this process) or ``"ray"``
    (the same read and embed stages on a Ray cluster, :mod:`audioseek.index.ray_engine`,
    configured by ``ray_options``, a :class:`~audioseek.index.ray_engine.RayOptions`); the
    writer is this process either way.

    ``precision``: ``"fp32" | "bf16" | "int8"`` for a model loaded from a spec (``None``: the
    index's own, fp32 for a new index); part of the recorded fingerprint, so an index built
    at one precision refuses another. ``workers`` (decoding processes) and ``threads``
    (torch intra-op threads while embedding) default to :func:`auto_workers` /
    :func:`auto_threads` of the core count. ``export_onnx``: at the end, export the model's
    text side to ONNX beside the index (:func:`export_text_onnx`) so one-shot searches run
    without torch. ``timings`` (a dict) receives where the run's time went, in seconds.
    """
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}; expected one of {ENGINES}")
    window, hop = check_window_hop(window, hop)
    check_run_settings(workers, batch_size, threads)
    precision = check_precision_arg(precision)
    workers = auto_workers() if workers is None else workers
    threads = auto_threads() if threads is None else threads
    times = timings if timings is not None else {}
    times.update(workers=workers, threads=threads)
    t0 = time.perf_counter()
    roots = resolve_roots(paths)
    db_dir = Path(db)
    if Store.exists(db_dir) and not Store.writable(db_dir):
        raise SearchIndexError(f"index {str(db)!r} is read-only; cannot add to it")
    make_index_dir(db_dir)
    with WriteLock(db_dir):
        if Store.unfinished(db_dir):  # left by a creation that was killed: only we write here
            log.warning("index %r was never finished; creating it again", str(db))
            Store.remove_unfinished(db_dir)
        Store.remove_temporary(db_dir)
        found = scan(roots)
        t1 = time.perf_counter()
        embedder = resolve_embedder(db_dir, model, device, precision)
        times["model_load_s"] = time.perf_counter() - t1
        store = open_or_create(db_dir, embedder, window, hop)
        summary = IndexSummary(
            db=str(db), model=embedder.spec, files_scanned=len(found.files), skipped=found.skipped
        )
        try:
            if engine == "ray":
                from audioseek.index.ray_engine import RayOptions, RayReader, model_factory_for

                options = ray_options or RayOptions(batch_size=batch_size)
                given = model if is_model(model) else None
                factory = model_factory_for(given, embedder.spec, device, embedder.precision)
                reader = RayReader(factory, embedder.sample_rate, window, hop, options)
                embed = reader.embed
            else:
                reader = Reader(embedder.sample_rate, window, hop, workers)
                embed = embedder
            t1 = time.perf_counter()
            with _TorchThreads(threads if engine == "local" else None):
                run(
                    store,
                    reader,
                    embed,
                    found.files,
                    roots,
                    batch_size,
                    summary,
                    progress,
                    on_batch,
                    timings=times,
                )
            times["run_s"] = time.perf_counter() - t1
            from audioseek.index.ann import ANN_THRESHOLD, ensure_ann

            t1 = time.perf_counter()
            threshold = ANN_THRESHOLD if ann_threshold is None else ann_threshold
            summary.ann = ensure_ann(store, threshold) is not None
            times["ann_s"] = time.perf_counter() - t1
            if export_onnx and store.dim:
                t1 = time.perf_counter()
                export_text_onnx(db_dir, embedder.model)
                times["onnx_export_s"] = time.perf_counter() - t1
        finally:
            summary.elapsed_s = time.perf_counter() - t0
            store.close()
    return summary


def _copy_from_donor(store: Store, job: Job, donor: FileRecord) -> None:
    """Index ``job.path`` with the vectors and metadata of ``donor`` (same content hash)."""
    fields = {k: getattr(donor, k) for k in ("duration", "sample_rate", "channels", "format")}
    fields.update({k: getattr(donor, k) for k in ("title", "artist", "album", "genre")})
    fields.update(
        path=job.path,
        hash=job.hash,
        size=job.size,
        mtime_ns=job.mtime_ns,
        n_windows=donor.n_windows,
        complete=0,
    )
    text = file_text(job.path, store.roots())  # its own name and folders
    with store.transaction() as c:
        file_id = Store.upsert_file(c, fields)
        Store.copy_windows(c, donor.id, file_id)
        Store.copy_peaks(c, donor.id, file_id)
        textfields.upsert(c, file_id, text)
        Store.mark_complete(c, file_id)
        Store.forget_failed(c, [job.path])


def _failed(store: Store, summary: IndexSummary, job: Job, reason: str) -> None:
    """``job`` could not be decoded: report it, drop its row (old, or written before the
    error), remember it by size+mtime."""
    summary.corrupt.append({"path": job.path, "reason": reason})
    log.warning("skipped %r: %s", job.path, reason)
    with store.transaction() as c:
        Store.delete_path(c, job.path)
        Store.remember_failed(c, job.path, job.size, job.mtime_ns, reason)


def run(
    store: Store,
    reader: Callable,
    embedder: Callable[[np.ndarray], np.ndarray],
    files: list[Path],
    roots: list[Path],
    batch_size: int,
    summary: IndexSummary,
    progress: bool | None = None,
    on_batch: Callable[[BatchDone], None] | None = None,
    timings: dict | None = None,
) -> Plan:
    """One incremental run over ``files`` (already scanned) into ``store``: plan, apply the
    cheap parts (touched, reused, deleted), then read -> embed -> write the rest.

    ``timings`` (a dict) receives ``read_wait_s`` (this process waiting for decoded parts:
    decoding that did not overlap embedding), ``embed_s`` and ``write_s`` (SQLite commits
    and the rest of the loop)."""
    from tqdm.auto import tqdm

    with store.transaction() as c:
        store.add_roots(c, roots)
    p = plan(store, files, roots)
    summary.unchanged = p.unchanged
    summary.skipped += p.skipped
    summary.corrupt += p.failed_before
    for job in p.touched:
        with store.transaction() as c:
            Store.touch_file(c, job.record.id, job.size, job.mtime_ns)
    summary.touched = len(p.touched)
    for job in p.reuse:
        _copy_from_donor(store, job, job.donor)
    summary.reused = len(p.reuse)
    if p.delete or p.forget_failed:  # before embedding: a killed run leaves no stale rows
        with store.transaction() as c:
            for rec in p.delete:
                Store.delete_file(c, rec.id)
            Store.forget_failed(c, p.forget_failed)
    summary.deleted = len(p.delete)

    jobs = {job.path: job for job in p.embed}
    if hasattr(reader, "resume_from"):  # a remote reader skips the windows already stored
        reader.resume_from = {job.path: job.resume_from for job in p.embed}
    bar = tqdm(
        total=len(jobs),
        unit="file",
        desc="indexing",
        disable=(not jobs) if progress is None else not progress,
        dynamic_ncols=True,
    )
    t_start = time.perf_counter()

    def on_commit(done_ids: list[int], n: int) -> None:
        elapsed = time.perf_counter() - t_start
        audio = summary.audio_seconds
        rate = audio / elapsed if elapsed > 0 else 0.0
        bar.set_postfix_str(f"{audio / 3600:.2f} h audio, {rate:.1f}x realtime")
        if on_batch is not None:
            on_batch(BatchDone(n, list(done_ids), writer.windows_embedded, audio))

    embed_s = [0.0]

    def timed_embed(windows: np.ndarray) -> np.ndarray:
        t = time.perf_counter()
        try:
            return embedder(windows)
        finally:
            embed_s[0] += time.perf_counter() - t

    def timed_items(items):
        it = iter(items)
        while True:
            t = time.perf_counter()
            item = next(it, None)
            waited = time.perf_counter() - t
            wait[0] += waited
            if len(wait) == 1:  # the first part: the decoding workers starting up
                wait.append(waited)
            if item is None:
                return
            yield item

    wait = [0.0]
    writer = Writer(store, timed_embed, batch_size, on_commit)
    file_id = None
    try:
        for item in timed_items(reader(list(jobs))):  # files in order, in one or more parts
            job = jobs[item.path]
            if item.error is not None:
                bar.update(1)
                if file_id is not None and not item.first:
                    writer.discard(file_id)
                file_id = None
                _failed(store, summary, job, item.error)
                continue
            if item.first:
                file_id = writer.start_file(job)
            if item.final:
                writer.finish_file(job, file_id, item.info, item.spans[-1].index + 1)
            for row, w in enumerate(item.spans):
                if w.index >= job.resume_from:
                    writer.add(file_id, w.index, w.start_s, w.end_s, item.windows[row])
            if item.final:
                bar.update(1)
                if job.resume_from:
                    summary.resumed += 1
                else:
                    summary.embedded += 1
                summary.audio_seconds += item.seconds
                file_id = None
        writer.flush()
    finally:
        bar.close()
        summary.windows_embedded = writer.windows_embedded
        if timings is not None:
            total = time.perf_counter() - t_start
            timings.update(
                read_wait_s=wait[0],
                first_part_wait_s=wait[1] if len(wait) > 1 else 0.0,
                embed_s=embed_s[0],
                write_s=max(0.0, total - wait[0] - embed_s[0]),
                loop_s=total,
            )
    for job in p.reuse_later:
        donor = store.find_complete_by_hash(job.hash)
        if donor is not None:
            _copy_from_donor(store, job, donor)
            summary.reused += 1
        else:  # same bytes as a file that could not be decoded
            _failed(store, summary, job, "same content as a corrupt file")
    return p


def index_summary_text(summary: IndexSummary) -> str:
    s = summary
    lines = [
        f"indexed {s.files_scanned} files into {s.db!r} with model {s.model!r}: "
        f"{s.embedded} embedded, {s.resumed} resumed, {s.reused} reused (renamed/copied), "
        f"{s.unchanged + s.touched} unchanged, {s.deleted} removed, "
        f"{s.windows_embedded} windows, {s.audio_seconds / 3600:.2f} h audio "
        f"in {s.elapsed_s:.1f} s",
    ]
    if s.corrupt:
        lines.append(f"{len(s.corrupt)} files skipped (could not decode):")
        lines += [f"  {c['path']}: {c['reason']}" for c in s.corrupt]
    if s.skipped:
        lines.append(f"{len(s.skipped)} files or folders skipped (could not read):")
        lines += [f"  {c['path']}: {c['reason']}" for c in s.skipped]
    return "\n".join(lines)


__all__ = [
    "DEFAULT_HOP",
    "DEFAULT_WINDOW",
    "Writer",
    "auto_threads",
    "auto_workers",
    "export_text_onnx",
    "index_paths",
    "index_summary_text",
    "open_or_create",
    "resolve_embedder",
    "run",
]
