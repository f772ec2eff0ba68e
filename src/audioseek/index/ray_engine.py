"""The Ray engine: the same read and embed stages as the local runner, run on a Ray cluster.

``audioseek index PATHS --db DB --engine ray [--ray-address auto|HOST:PORT]``. The driver
scans and plans exactly as the local engine does (size + mtime, then content hash; renames
and copies reuse vectors); only the files to embed go to Ray:

* **read** (Ray Data ``flat_map`` on CPU workers): :func:`audioseek.index.reader.read_file`
  and :func:`audioseek.index.reader.cut` decode a file and cut it into the index's windows,
  one row per window (a file that cannot be decoded gives one row with its reason);
* **embed** (Ray Data ``map_batches`` over an actor pool, one model per actor, ``num_gpus``
  per actor when the cluster has GPUs): :func:`audioseek.index.embedder.embed_windows`,
  whose fixed-shape chunks make every vector independent of the batch it travels in, so
  the vectors are bit-identical to the local engine's on the same device;
* **write** (the driver, the one writer): rows come back in plan order
  (``preserve_order``), are regrouped per file and handed to the local runner's writer,
  which commits them in batches, one transaction each.

Ray restarts an embedding actor that dies (``max_restarts``) and retries its batch
(``max_task_retries``), so a killed actor or worker does not fail the run. Killing the
driver loses at most the batch in flight: a re-run plans again from what was committed.

The workers read the audio at the same paths as the driver: the library must be on storage
that every node mounts at the same place.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from audioseek.errors import ConfigError

log = logging.getLogger(__name__)

INSTALL_HINT = "the Ray engine needs Ray: pip install 'audioseek[ray]' (or pip install 'ray[data]')"


@dataclass
class EmbeddedFile:
    """One file back from the cluster: its windows' spans and vectors, or its error."""

    path: str
    info: dict = field(default_factory=dict)
    #: ``(index, start_s, end_s, start, stop)`` of each embedded window, in order (plus the
    #: last window's, vector-less, for a file whose windows were all stored already)
    spans: list = field(default_factory=list)
    vectors: np.ndarray | None = None  # (embedded windows, dim) float32
    seconds: float = 0.0
    error: str | None = None


@dataclass
class RayOptions:
    """How to run on Ray. ``address``: ``None`` starts a local cluster in this process,
    ``"auto"`` joins the cluster started with ``ray start``, ``"HOST:PORT"`` a given one.
    ``actors``: embedding actors (models), each reserving ``actor_cpus`` CPUs (the
    decoding tasks need the rest: at least one CPU must stay free); ``num_gpus``: GPUs per
    actor (0 on CPU); ``threads``: torch threads per actor (default: on a local cluster this
    machine's cores shared among the actors, as the local engine uses them all; on a remote
    one what Ray gives a task of ``actor_cpus`` CPUs, 1 for a fraction: see
    :func:`actor_threads`); ``num_cpus``: CPUs of a local cluster (default: all)."""

    address: str | None = None
    actors: int = 1
    actor_cpus: float = 1.0  # CPUs reserved by each embedding actor
    num_gpus: float = 0.0
    threads: int | None = None
    num_cpus: int | None = None
    #: files read by one Ray task (streamed one after the other): fewer, longer tasks
    #: amortise Ray's per-task cost over a library of many short samples
    files_per_task: int = 16
    batch_size: int = 16
    #: niceness of the decoding and embedding workers. Ray starts its workers at nice 15 so
    #: that its own processes stay responsive; an embedding actor at nice 15 then loses its
    #: cores to every nice-0 process (the driver's writer, Ray's raylet and GCS), and with
    #: two torch threads a preempted thread stalls the other: measured here, the actor
    #: embedded 15-25% slower than the local engine's model on the same cores. 0 runs them
    #: at the priority the local engine runs its decoding process and model at; ``None``
    #: keeps Ray's default.
    niceness: int | None = 0
    #: test hook: called in each embedding actor with the number of windows it has embedded
    #: (lets a test kill an actor mid-run); ``None`` in normal use
    actor_hook: Callable[[int], None] | None = None


def import_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise ConfigError(INSTALL_HINT) from None
    return ray


def init_ray(options: RayOptions):
    """Connect to (or start) the cluster once per process."""
    ray = import_ray()
    if not ray.is_initialized():
        kwargs = {"ignore_reinit_error": True, "log_to_driver": False, "include_dashboard": False}
        if options.address is not None:
            kwargs["address"] = options.address
        elif options.num_cpus is not None:
            kwargs["num_cpus"] = options.num_cpus
        try:
            ray.init(**kwargs)
        except ConnectionError as e:
            raise ConfigError(f"cannot reach the Ray cluster at {options.address!r}: {e}") from None
    return ray


def _part_batch(path, order, parts_rows, info="", error="") -> dict:
    """One output batch of the read stage: ``parts_rows`` are ``(index, start_s, end_s,
    start, stop, samples or None)``."""
    n = len(parts_rows)
    return {
        "order": np.full(n, order, np.int64),
        "path": np.array([path] * n, dtype=object),
        "idx": np.array([r[0] for r in parts_rows], np.int64),
        "start": np.array([r[1] for r in parts_rows], np.float64),
        "end": np.array([r[2] for r in parts_rows], np.float64),
        "s0": np.array([r[3] for r in parts_rows], np.int64),
        "s1": np.array([r[4] for r in parts_rows], np.int64),
        "info": np.array([info] * n, dtype=object),
        "error": np.array([error] * n, dtype=object),
        "samples": _trimmed(np.stack([r[5] for r in parts_rows]))
        if parts_rows[0][5] is not None
        else np.zeros((n, 1), np.float32),
    }


def _trimmed(samples: np.ndarray) -> np.ndarray:
    """``samples (n, size)`` without the columns of zero padding every row ends with (at
    least one column). A short file's window is mostly padding: sending only its content
    through the object store is ~7x less data for a library of one-shots; the actor pads
    it back (:func:`_padded`), so what it embeds is bit-identical."""
    used = np.flatnonzero(np.any(samples != 0, axis=0))
    width = int(used[-1]) + 1 if len(used) else 1
    return np.ascontiguousarray(samples[:, :width], dtype=np.float32)


def _padded(samples, size: int) -> np.ndarray:
    """The ``(n, size)`` float32 windows of a batch whose rows were :func:`_trimmed` (a 2-D
    array, or Ray's object array of rows when the widths in a batch differ)."""
    ragged = not isinstance(samples, np.ndarray) or samples.ndim != 2 or samples.dtype == object
    if not ragged and samples.shape[1] == size:
        return np.asarray(samples, np.float32)
    out = np.zeros((len(samples), size), np.float32)
    for i, row in enumerate(samples):
        row = np.asarray(row, np.float32).ravel()
        out[i, : len(row)] = row
    return out


def _concat(batches: list[dict]) -> dict:
    """One batch of the rows of ``batches``, in order; ``samples`` padded with zero columns
    to the widest (what :func:`_padded` pads back to the window size anyway)."""
    if len(batches) == 1:
        return batches[0]
    width = max(b["samples"].shape[1] for b in batches)
    out = {k: np.concatenate([b[k] for b in batches]) for k in batches[0] if k != "samples"}
    out["samples"] = np.concatenate([_padded(b["samples"], width) for b in batches])
    return out


def _read_parts(
    batch: dict, sr: int, window: float, hop: float, rows_per_block: int = 16
) -> Iterator[dict]:
    """Ray ``map_batches`` generator over a few files, one after the other, each streamed in
    parts (:func:`audioseek.index.reader.stream_file`, a few windows of memory), one row per
    window, sent on in blocks of at least ``rows_per_block`` rows (a library of one-shots
    would otherwise make one Ray block per file: ~8x the blocks, each a trip through the
    object store and the batcher). Windows already stored (``resume_from``) are not sent
    on; a file that fails gives one row with ``idx = -1`` and the reason; a file whose
    windows are all stored gives one row with ``idx = -2`` carrying its last window's span."""
    pending: list[dict] = []
    rows = 0
    for part in _file_parts(batch, sr, window, hop):
        pending.append(part)
        rows += len(part["order"])
        if rows >= rows_per_block:
            yield _concat(pending)
            pending, rows = [], 0
    if pending:
        yield _concat(pending)


def _file_parts(batch: dict, sr: int, window: float, hop: float) -> Iterator[dict]:
    """The rows of :func:`_read_parts`, one batch per part of each file."""
    from audioseek.index.reader import stream_file

    for path, order, first in zip(batch["path"], batch["order"], batch["resume_from"], strict=True):
        path, order, first = str(path), int(order), int(first)
        last = None
        for part in stream_file(path, sr, window, hop):
            if part.error is not None:
                yield _part_batch(path, order, [(-1, 0.0, 0.0, 0, 0, None)], error=part.error)
                break
            info = json.dumps(part.info) if part.final else ""
            rows = [
                (w.index, w.start_s, w.end_s, w.start, w.stop, part.windows[i])
                for i, w in enumerate(part.spans)
                if w.index >= first
            ]
            last = part.spans[-1]
            if rows:
                yield _part_batch(path, order, rows, info=info)
            elif part.final:  # nothing left to embed: a marker with the last span and the info
                w = last
                marker = [(-2, w.start_s, w.end_s, w.start, w.stop, None)]
                marker_batch = _part_batch(path, order, marker, info=info)
                marker_batch["idx"] = np.array([-2 - w.index], np.int64)  # -2 - last index
                yield marker_batch


class _Embedder:
    """Ray Data actor: one model per actor, loaded once."""

    def __init__(self, model_factory: Callable[[], object], size: int, hook=None, threads=None):
        self.size = int(size)
        if threads:
            import torch

            torch.set_num_threads(int(threads))
        self.model = model_factory()
        if hasattr(self.model, "eval"):
            self.model.eval()
        self.hook = hook
        self.done = 0

    def __call__(self, batch: dict) -> dict:
        from audioseek.index.embedder import embed_windows

        samples = _padded(batch["samples"], self.size)
        keep = np.asarray(batch["idx"]) >= 0
        vectors = None
        if keep.any():
            vectors = embed_windows(self.model, samples[keep])
        dim = vectors.shape[1] if vectors is not None else 1
        out = np.zeros((len(samples), dim), np.float32)
        if vectors is not None:
            out[keep] = vectors
        self.done += int(keep.sum())
        if self.hook is not None:
            self.hook(self.done)
        result = {k: v for k, v in batch.items() if k != "samples"}
        result["vector"] = out
        return result


def embed_on_ray(
    jobs: Iterable[tuple[str, int]],
    model_factory: Callable[[], object],
    sample_rate: int,
    window: float,
    hop: float,
    options: RayOptions,
) -> Iterator[EmbeddedFile]:
    """Read and embed ``jobs`` (``(path, first_window)`` pairs, in plan order) on Ray;
    yields one :class:`EmbeddedFile` per job, in the same order.

    ``model_factory`` builds the model inside each actor (a picklable callable, e.g. a
    ``functools.partial`` of ``load_index_model``)."""
    from audioseek.audio.windows import window_bounds

    jobs = list(jobs)
    if not jobs:
        return
    env = worker_env(options)  # a bad option fails before a cluster is started
    ray = init_ray(options)
    cpus = float(ray.cluster_resources().get("CPU", 0))
    reserved = max(1, int(options.actors)) * float(options.actor_cpus)
    if reserved > cpus - 1:  # a read task needs one whole CPU
        raise ConfigError(
            f"{options.actors} embedding actor(s) x {options.actor_cpus:g} CPU leave no CPU for "
            f"decoding on a Ray cluster of {cpus:g} CPUs; use fewer actors or smaller actor_cpus"
        )
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = False
    items = [{"path": p, "order": i, "resume_from": int(r)} for i, (p, r) in enumerate(jobs)]
    per_task = max(1, int(options.files_per_task))
    blocks = max(1, min(200, -(-len(items) // per_task)))
    ds = ray.data.from_items(items, override_num_blocks=blocks)
    ds = ds.map_batches(
        _read_parts,
        fn_kwargs={
            "sr": int(sample_rate),
            "window": window,
            "hop": hop,
            "rows_per_block": max(1, int(options.batch_size)),
        },
        batch_size=per_task,
        batch_format="numpy",
        **env,
    )
    remote_args = {"max_restarts": -1, "max_task_retries": -1, **env}
    ds = ds.map_batches(
        _Embedder,
        fn_constructor_kwargs={
            "model_factory": model_factory,
            "size": window_bounds(int(sample_rate), window, hop)[0],
            "hook": options.actor_hook,
            "threads": actor_threads(options),
        },
        batch_size=options.batch_size,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=max(1, int(options.actors))),
        num_cpus=float(options.actor_cpus),
        num_gpus=options.num_gpus or None,
        **remote_args,
    )
    current: EmbeddedFile | None = None
    vecs: list[np.ndarray] = []

    def finish(f: EmbeddedFile) -> EmbeddedFile:
        if vecs:
            f.vectors = np.stack(vecs).astype(np.float32, copy=False)
        return f

    for batch in ds.iter_batches(batch_size=options.batch_size, batch_format="numpy"):
        for i in range(len(batch["order"])):
            path = str(batch["path"][i])
            if current is None or current.path != path:
                if current is not None:
                    yield finish(current)
                vecs = []
                current = EmbeddedFile(path=path)
            idx = int(batch["idx"][i])
            if str(batch["error"][i]):
                current.error = str(batch["error"][i])
                continue
            if str(batch["info"][i]):
                current.info = json.loads(str(batch["info"][i]))
            span = (float(batch["start"][i]), float(batch["end"][i]))
            bounds = (int(batch["s0"][i]), int(batch["s1"][i]))
            if idx >= 0:
                current.spans.append((idx, *span, *bounds))
                vecs.append(np.asarray(batch["vector"][i], np.float32))
            else:  # the marker of a file whose windows are all stored already
                current.spans.append((-2 - idx, *span, *bounds))
            current.seconds = span[1]
    if current is not None:
        yield finish(current)


def worker_env(options: RayOptions) -> dict:
    """Ray remote arguments that start the workers at ``options.niceness`` (a runtime
    environment variable Ray reads when it starts a worker; Ray's job supervisor sets it the
    same way for a job's driver). Ray merges a task's runtime environment with the job's,
    so a job's own ``pip``, ``working_dir`` or variables still apply."""
    nice = options.niceness
    if nice is None:
        return {}
    if isinstance(nice, bool) or not isinstance(nice, int) or not -20 <= nice <= 19:
        raise ConfigError(f"Ray worker niceness must be an integer from -20 to 19, got {nice!r}")
    return {"runtime_env": {"env_vars": {"RAY_worker_niceness": str(nice)}}}


def actor_threads(options: RayOptions) -> int | None:
    """Torch threads per embedding actor: ``options.threads``; unset, a local cluster (no
    ``address``) shares this machine's cores among the actors, and on a remote cluster Ray's
    own setting applies (``None``: the actor's CPU reservation)."""
    if options.threads is not None or options.address is not None:
        return options.threads
    from audioseek.index.runner import auto_threads

    return max(1, auto_threads() // max(1, int(options.actors)))


def default_actors() -> int:
    """Embedding actors for a local cluster: one per two cores (decoding needs the rest)."""
    return max(1, (os.cpu_count() or 2) // 2)


class RayReader:
    """The read + embed stages on Ray, as one callable with the local
    :class:`~audioseek.index.reader.Reader`'s interface: ``reader(paths)`` yields one
    :class:`~audioseek.index.reader.ReadFile` per path, in order, whose ``windows`` already
    hold the window *vectors* ``(n, dim)``; the runner's writer then uses :meth:`embed`
    (the identity) instead of the model.

    ``resume_from`` maps a path to the number of its windows already stored (a resumed
    file): those are neither decoded into rows nor embedded again.
    """

    def __init__(
        self,
        model_factory: Callable[[], object],
        sample_rate: int,
        window: float,
        hop: float,
        options: RayOptions,
        resume_from: dict[str, int] | None = None,
    ):
        self.model_factory = model_factory
        self.sample_rate = int(sample_rate)
        self.window = float(window)
        self.hop = float(hop)
        self.options = options
        self.resume_from = dict(resume_from or {})

    @staticmethod
    def embed(vectors: np.ndarray) -> np.ndarray:
        """The writer's embedding step: the vectors were computed on the cluster."""
        return np.asarray(vectors, np.float32)

    def __call__(self, paths: Iterable[str]):
        from audioseek.audio.windows import Window
        from audioseek.index.reader import ReadFile

        jobs = [(str(p), self.resume_from.get(str(p), 0)) for p in paths]
        results = embed_on_ray(
            jobs, self.model_factory, self.sample_rate, self.window, self.hop, self.options
        )
        for (path, _first), ef in zip(jobs, results, strict=True):
            if ef.path != path:  # pragma: no cover - preserve_order is set
                raise RuntimeError(f"Ray returned {ef.path!r} where {path!r} was expected")
            if ef.error is not None:
                yield ReadFile(path, error=ef.error)
                continue
            spans = [
                Window(int(i), float(a), float(b), int(s), int(e)) for i, a, b, s, e in ef.spans
            ]
            n = 0 if ef.vectors is None else len(ef.vectors)
            dim = 1 if ef.vectors is None else ef.vectors.shape[1]
            vectors = np.zeros((len(spans), dim), np.float32)
            vectors[:n] = ef.vectors if n else vectors[:0]
            yield ReadFile(path, info=ef.info, windows=vectors, spans=spans, seconds=ef.seconds)


def model_factory_for(
    model, spec: str | None, device: str, precision: str | None = None
) -> Callable[[], object]:
    """What each actor calls to get its model: the loaded ``model`` itself (pickled to the
    actor) when the caller passed one, else a fresh load of ``spec`` on ``device`` at
    ``precision`` (the index's: an actor at another precision would embed other vectors),
    audio side only (an actor never encodes text; the text encoder is most of a load)."""
    import functools

    if model is not None:
        return functools.partial(_same, model)
    from audioseek.index.embedder import load_index_model

    return functools.partial(load_index_model, spec, device, precision, text=False)


def _same(obj):
    return obj
