"""Indexing pipeline: scan -> plan -> read (decode, worker processes) -> embed -> write.

Each stage is a small callable joined by :func:`index_paths` (the runner):

* :func:`audioseek.index.scan.scan_audio` lists the audio files under the roots;
* :func:`plan` compares them with the store: unchanged (size + mtime), touched (same hash,
  new mtime), reused (a renamed or copied file whose hash is already indexed: its vectors
  are copied, not re-embedded), resumed (a file whose windows were partly written when a
  previous run was killed), embedded (new or changed) and deleted;
* :func:`read_file` decodes one file to mono float32 at the model's rate (in ``--workers``
  spawn-safe processes, in order, with a bounded prefetch);
* :func:`embed_windows` embeds windows with a fixed-size computation (always
  :data:`EMBED_CHUNK` windows per forward pass, zero-padded), so a window's vector does not
  depend on the batch size, the worker count or its neighbours in the batch;
* :class:`Writer` commits windows one batch per transaction and marks a file complete in the
  transaction that writes its last window, so ``kill -9`` loses at most the batch in flight
  and a re-run continues from the stored prefix of windows.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from audioseek.errors import AudioDecodeError, ConfigError, SearchIndexError
from audioseek.index.scan import resolve_roots, scan_audio, under_roots
from audioseek.index.store import FileRecord, Store, file_hash

log = logging.getLogger(__name__)

EMBED_CHUNK = 8
# Test hook: seconds to sleep after each committed batch (lets a test kill a run mid-way).
DELAY_ENV = "AUDIOSEEK_INDEX_BATCH_DELAY"


# ---- model helpers (shared with search) ---------------------------------------------------
def is_model(obj) -> bool:
    return hasattr(obj, "encode_audio") and hasattr(obj, "encode_text")


def load_index_model(spec: str | None, device: str = "auto"):
    """``audioseek.models.hub.load_model(spec, device)`` in eval mode."""
    from audioseek.models.hub import load_model

    model = load_model(spec, device=device)
    if hasattr(model, "eval"):
        model.eval()
    return model


def spec_id(spec, model) -> str:
    """The string recorded in the index to reload ``model`` later (``load_model`` of it gives
    the model back): the model's ``model_id`` (a resolved folder for saved models), else
    the spec it was loaded from."""
    value = getattr(model, "model_id", None) if model is not None else None
    if value:
        return str(value)
    if spec is not None and not is_model(spec):
        path = Path(str(spec)).expanduser()
        return str(path.resolve()) if path.exists() else str(spec)
    return type(model).__name__


def model_fingerprint(model) -> str:
    fp = getattr(model, "fingerprint", None)
    if not fp:
        raise SearchIndexError(f"model {spec_id(None, model)!r} has no fingerprint; cannot index")
    return str(fp)


def model_device(model):
    import torch

    try:
        return next(model.parameters()).device
    except (AttributeError, StopIteration, TypeError):
        return torch.device("cpu")


def embed_windows(model, windows: np.ndarray) -> np.ndarray:
    """Embed ``windows (n, samples)`` float32 -> ``(n, dim)`` float32, L2-normalised.

    The model always sees exactly :data:`EMBED_CHUNK` rows (the last chunk zero-padded), so
    every window goes through the same fixed-shape computation whatever ``n`` is.
    """
    import torch

    device = model_device(model)
    out = []
    with torch.inference_mode():
        for lo in range(0, len(windows), EMBED_CHUNK):
            chunk = windows[lo : lo + EMBED_CHUNK]
            m = len(chunk)
            if m < EMBED_CHUNK:
                pad = np.zeros((EMBED_CHUNK - m, chunk.shape[1]), np.float32)
                chunk = np.concatenate([chunk, pad])
            x = torch.from_numpy(np.ascontiguousarray(chunk, dtype=np.float32)).to(device)
            emb = model.encode_audio(x, normalize=True)[:m]
            out.append(emb.detach().float().cpu().numpy())
    if not out:
        return np.zeros((0, 0), np.float32)
    return np.concatenate(out)


def cut_windows(wave: np.ndarray, sr: int, window_s: float, hop_s: float):
    """``(windows, size)``: the :class:`audioseek.audio.windows.Window` list of ``wave``
    and the fixed window length in samples (see :func:`window_samples`)."""
    from audioseek.audio.windows import sliding_windows

    wins = sliding_windows(len(wave), sr, window_s, hop_s)
    size = int(round(window_s * sr))
    return wins, size


def window_samples(wave: np.ndarray, win, size: int) -> np.ndarray:
    """Samples of window ``win``, zero-padded on the right to exactly ``size``."""
    seg = np.asarray(wave[win.start : win.stop], dtype=np.float32)
    if len(seg) < size:
        seg = np.concatenate([seg, np.zeros(size - len(seg), np.float32)])
    return seg[:size]


# ---- reader ---------------------------------------------------------------------------------
@dataclass
class Decoded:
    path: str
    wave: np.ndarray | None
    info: dict
    error: str | None = None


def read_file(path: str, sr: int) -> Decoded:
    """Decode ``path`` to mono float32 at ``sr`` plus its tags; errors are returned, not raised
    (a corrupt file must never abort a run)."""
    from audioseek.audio.io import audio_info, load_audio

    try:
        info = audio_info(path)
        wave = load_audio(path, sr)
        if wave is None or len(wave) == 0:
            return Decoded(path, None, {}, "no audio samples")
        tags = dict(getattr(info, "tags", None) or {})
        meta = {
            "duration": len(wave) / sr,
            "sample_rate": getattr(info, "sample_rate", None),
            "channels": getattr(info, "channels", None),
            "format": getattr(info, "format", None) or Path(path).suffix.lstrip(".").lower(),
        }
        for tag in ("title", "artist", "album", "genre"):
            value = tags.get(tag)
            meta[tag] = str(value) if value not in (None, "") else None
        return Decoded(path, np.ascontiguousarray(wave, dtype=np.float32), meta)
    except AudioDecodeError as e:
        return Decoded(path, None, {}, e.reason)
    except Exception as e:  # decoders raise many types on damaged files; report, go on
        return Decoded(path, None, {}, f"{type(e).__name__}: {e}")


def _exit_with_parent(parent_pid: int) -> None:
    """Worker initializer: exit when the indexer dies (e.g. ``kill -9``) instead of lingering."""
    import threading

    def watch():
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()


def iter_decoded(paths: list[str], sr: int, workers: int) -> Iterator[Decoded]:
    """Decoded files in the order of ``paths``; ``workers`` spawn processes (0 = inline)."""
    if workers <= 0:
        for p in paths:
            yield read_file(p, sr)
        return
    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=_exit_with_parent, initargs=(os.getpid(),)
    ) as pool:
        pending: collections.deque = collections.deque()
        it = iter(paths)
        for p in it:
            pending.append(pool.submit(read_file, p, sr))
            if len(pending) >= 2 * workers:
                break
        while pending:
            result = pending.popleft().result()
            nxt = next(it, None)
            if nxt is not None:
                pending.append(pool.submit(read_file, nxt, sr))
            yield result


# ---- plan -----------------------------------------------------------------------------------
@dataclass
class Job:
    path: str
    size: int
    mtime_ns: int
    hash: str
    record: FileRecord | None = None  # existing row for this path
    donor: FileRecord | None = None  # reuse: indexed file with the same content
    resume_from: int = 0  # windows already stored (resumed file)


@dataclass
class Plan:
    unchanged: int = 0
    touched: list[Job] = field(default_factory=list)
    reuse: list[Job] = field(default_factory=list)
    embed: list[Job] = field(default_factory=list)
    reuse_later: list[Job] = field(default_factory=list)  # copies of files in ``embed``
    delete: list[FileRecord] = field(default_factory=list)


def plan(store: Store, files: list[Path], roots: list[Path]) -> Plan:
    """Decide what to do with each scanned file (see the module docstring)."""
    result = Plan()
    seen, embedding = set(), set()
    for path in files:
        p = str(path)
        seen.add(p)
        try:
            st = path.stat()
        except OSError:
            continue
        rec = store.get_file_by_path(p)
        if rec and rec.complete and rec.size == st.st_size and rec.mtime_ns == st.st_mtime_ns:
            result.unchanged += 1
            continue
        try:
            digest = file_hash(path)
        except OSError as e:
            log.warning("cannot read %r: %s", p, e)
            continue
        job = Job(p, st.st_size, st.st_mtime_ns, digest, record=rec)
        if rec and rec.hash == digest and rec.complete:
            result.touched.append(job)
            continue
        donor = store.find_complete_by_hash(digest, exclude_id=rec.id if rec else None)
        if donor is not None:
            job.donor = donor
            result.reuse.append(job)
            continue
        if digest in embedding:  # a second copy of a file embedded in this run
            result.reuse_later.append(job)
            continue
        if rec and rec.hash == digest:
            job.resume_from = store.window_count(rec.id)
        embedding.add(digest)
        result.embed.append(job)
    for rec in store.files():
        if rec.path in seen:
            continue
        if under_roots(rec.path, roots) or not os.path.exists(rec.path):
            result.delete.append(rec)
    return result


# ---- writer ---------------------------------------------------------------------------------
class Writer:
    """Buffers windows and commits them ``batch_size`` at a time, one transaction each."""

    def __init__(self, store: Store, model, batch_size: int, on_commit: Callable | None = None):
        self.store = store
        self.model = model
        self.batch_size = batch_size
        self.on_commit = on_commit
        self.pending: list[tuple[int, int, float, float, np.ndarray]] = []
        self.last_index: dict[int, int] = {}
        self.windows_embedded = 0
        self.delay = float(os.environ.get(DELAY_ENV, "0") or 0)

    def start_file(self, job: Job, meta: dict, n_windows: int) -> int:
        fields = {
            "path": job.path,
            "hash": job.hash,
            "size": job.size,
            "mtime_ns": job.mtime_ns,
            "n_windows": n_windows,
            "complete": 0,
            **meta,
        }
        with self.store.transaction() as c:
            file_id = Store.upsert_file(c, fields)
            if job.resume_from == 0:
                Store.clear_windows(c, file_id)
            if job.resume_from >= n_windows:
                Store.mark_complete(c, file_id)
        self.last_index[file_id] = n_windows - 1
        return file_id

    def add(self, file_id: int, idx: int, start: float, end: float, samples: np.ndarray):
        self.pending.append((file_id, idx, start, end, samples))
        if len(self.pending) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        vectors = embed_windows(self.model, np.stack([p[4] for p in self.pending]))
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
        self.windows_embedded += len(self.pending)
        self.pending = []
        if self.on_commit:
            self.on_commit(done)
        if self.delay:
            time.sleep(self.delay)


# ---- runner ---------------------------------------------------------------------------------
@dataclass
class IndexSummary:
    db: str
    model: str
    files_scanned: int = 0
    unchanged: int = 0
    touched: int = 0
    embedded: int = 0
    resumed: int = 0
    reused: int = 0
    deleted: int = 0
    windows_embedded: int = 0
    audio_seconds: float = 0.0
    elapsed_s: float = 0.0
    corrupt: list[dict] = field(default_factory=list)
    ann: bool = False

    @property
    def corrupt_count(self) -> int:
        return len(self.corrupt)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["corrupt_count"] = self.corrupt_count
        d["audio_hours"] = self.audio_seconds / 3600
        d["realtime_factor"] = self.audio_seconds / self.elapsed_s if self.elapsed_s else None
        return d


def open_or_create(db: str | os.PathLike, model, spec: str, window: float, hop: float) -> Store:
    """Open the index at ``db`` for ``model`` (or create it, recording the model).

    A model other than the recorded one, or other window/hop settings, raise
    :class:`SearchIndexError` naming both.
    """
    fingerprint = model_fingerprint(model)
    if Store.exists(db):
        store = Store.open(db)
        try:
            store.check_model(spec, fingerprint)
            have = (float(store.get_meta("window", "nan")), float(store.get_meta("hop", "nan")))
            if have != (float(window), float(hop)):
                raise SearchIndexError(
                    f"index {str(db)!r} uses --window {have[0]:g} --hop {have[1]:g}, "
                    f"not --window {window:g} --hop {hop:g}; use the same values or a new --db"
                )
        except BaseException:
            store.close()
            raise
        return store
    meta = {
        "model_spec": spec,
        "model_id": getattr(model, "model_id", None) or spec,
        "model_fingerprint": fingerprint,
        "sample_rate": int(model.sample_rate),
        "window": float(window),
        "hop": float(hop),
        "dim": 0,
    }
    return Store.create(db, meta)


def resolve_model(db, model, device: str = "auto"):
    """``(model, spec)``: ``model`` as given if already loaded; else load the spec, or the
    index's recorded model for an existing index, or the hub default for a new one."""
    if is_model(model):
        return model, spec_id(None, model)
    wanted = model
    if wanted is None and Store.exists(db):
        with Store.open(db) as store:
            wanted = store.get_meta("model_spec")
    obj = load_index_model(wanted, device=device)
    return obj, spec_id(wanted, obj)


def _validate(window: float, hop: float, workers: int, batch_size: int) -> None:
    if not window > 0:
        raise ConfigError(f"--window must be > 0 seconds, got {window!r}")
    if not hop > 0:
        raise ConfigError(f"--hop must be > 0 seconds, got {hop!r}")
    if hop > window:
        raise ConfigError(f"--hop {hop!r} is longer than --window {window!r}: gaps between windows")
    if workers < 0:
        raise ConfigError(f"--workers must be >= 0, got {workers!r}")
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {batch_size!r}")


def index_paths(
    paths: Iterable[str | os.PathLike],
    db: str | os.PathLike,
    model=None,
    window: float = 10.0,
    hop: float = 5.0,
    workers: int = 2,
    batch_size: int = 16,
    device: str = "auto",
    progress: bool | None = None,
    ann_threshold: int | None = None,
) -> IndexSummary:
    """Index (incrementally) the audio files under ``paths`` into the index folder ``db``.

    At the end the ANN index is (re)built if the index holds ``ann_threshold`` windows or
    more (default :data:`audioseek.index.ann.ANN_THRESHOLD`) and the persisted one is stale.
    """
    _validate(window, hop, workers, batch_size)
    t0 = time.perf_counter()
    roots = resolve_roots(paths)
    files = scan_audio(roots)
    model, spec = resolve_model(db, model, device)
    store = open_or_create(db, model, spec, window, hop)
    summary = IndexSummary(db=str(db), model=spec, files_scanned=len(files))
    try:
        _run(store, model, files, roots, window, hop, workers, batch_size, progress, summary)
        from audioseek.index.ann import ANN_THRESHOLD, ensure_ann

        threshold = ANN_THRESHOLD if ann_threshold is None else ann_threshold
        summary.ann = ensure_ann(store, threshold) is not None
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
    with store.transaction() as c:
        file_id = Store.upsert_file(c, fields)
        Store.copy_windows(c, donor.id, file_id)
        Store.mark_complete(c, file_id)


def _run(store, model, files, roots, window, hop, workers, batch_size, progress, summary):
    from tqdm.auto import tqdm

    with store.transaction() as c:
        store.add_roots(c, roots)
    p = plan(store, files, roots)
    summary.unchanged = p.unchanged
    for job in p.touched:
        with store.transaction() as c:
            Store.touch_file(c, job.record.id, job.size, job.mtime_ns)
    summary.touched = len(p.touched)
    for job in p.reuse:
        _copy_from_donor(store, job, job.donor)
    summary.reused = len(p.reuse)

    sr = int(model.sample_rate)
    jobs = {job.path: job for job in p.embed}
    bar = tqdm(
        total=len(jobs),
        unit="file",
        desc="indexing",
        disable=(not jobs) if progress is None else not progress,
        dynamic_ncols=True,
    )
    t_start = time.perf_counter()
    audio_done = 0.0

    def on_commit(done_ids):
        elapsed = time.perf_counter() - t_start
        rate = audio_done / elapsed if elapsed > 0 else 0.0
        bar.set_postfix_str(f"{audio_done / 3600:.2f} h audio, {rate:.1f}x realtime")

    writer = Writer(store, model, batch_size, on_commit)
    changed_now_corrupt = []
    try:
        for dec in iter_decoded(list(jobs), sr, workers):
            job = jobs[dec.path]
            bar.update(1)
            if dec.error is not None:
                summary.corrupt.append({"path": dec.path, "reason": dec.error})
                log.warning("skipped %r: %s", dec.path, dec.error)
                if job.record is not None:
                    changed_now_corrupt.append(job.record)
                continue
            wins, size = cut_windows(dec.wave, sr, window, hop)
            if not wins:
                summary.corrupt.append({"path": dec.path, "reason": "no windows"})
                continue
            file_id = writer.start_file(job, dec.info, len(wins))
            if job.resume_from:
                summary.resumed += 1
            else:
                summary.embedded += 1
            for w in wins[job.resume_from :]:
                writer.add(file_id, w.index, w.start_s, w.end_s, window_samples(dec.wave, w, size))
            audio_done += len(dec.wave) / sr
            summary.audio_seconds = audio_done
        writer.flush()
    finally:
        bar.close()
    summary.windows_embedded = writer.windows_embedded
    for job in p.reuse_later:
        donor = store.find_complete_by_hash(job.hash)
        if donor is not None:
            _copy_from_donor(store, job, donor)
            summary.reused += 1
        else:  # same bytes as a file that could not be decoded
            summary.corrupt.append({"path": job.path, "reason": "same content as a corrupt file"})
            if job.record is not None:
                changed_now_corrupt.append(job.record)
    to_delete = p.delete + changed_now_corrupt
    if to_delete:
        with store.transaction() as c:
            for rec in to_delete:
                Store.delete_file(c, rec.id)
    summary.deleted = len(p.delete)


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
    return "\n".join(lines)


__all__ = [
    "EMBED_CHUNK",
    "IndexSummary",
    "embed_windows",
    "index_paths",
    "plan",
    "read_file",
]
