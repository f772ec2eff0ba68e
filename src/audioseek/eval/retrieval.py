"""``audioseek evaluate``: embed every clip and every caption once, score both directions.

Relies only on the model contract (``encode_audio``, ``encode_text``, ``sample_rate``,
``clip_seconds``): clips are decoded at ``model.sample_rate`` and, when
``model.clip_seconds`` is set, centre padded / cropped to that length (without it, clips
of different lengths are embedded in separate forward passes, never zero-padded together).
On an out-of-memory error the batch is halved and retried, with a warning (the paper hit
one with PANN).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from audioseek.errors import ConfigError, DatasetError

log = logging.getLogger(__name__)

DATA_SOURCES = ("clotho", "audiocaps", "manifest")


@dataclass
class EvalResults:
    """What ``evaluate`` measured. ``metrics``: ``{"text_to_audio": {...}, "audio_to_text":
    {...}}`` with keys ``mrr, map@10, r@1, r@5, r@10, recall@1, recall@5, recall@10``
    (fractions; ``r@K`` hit rate, ``recall@K`` fraction of relevant found); ``intervals``:
    the same keys' 95 % bootstrap intervals ``[low, high]``, clips resampled whole
    (:func:`audioseek.eval.metrics.bidirectional_intervals`)."""

    metrics: dict
    n_clips: int
    n_captions: int
    model: str = ""
    data: str = ""
    split: str = ""
    batch_size: int = 0  # requested
    final_batch_size: int = 0  # after out-of-memory halvings
    oom_retries: int = 0
    device: str = ""
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)
    intervals: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The fields, plus ``metric_definitions``: what each metric key means (``r@K`` is
        the hit rate, ``recall@K`` the fraction of relevant items found)."""
        from audioseek.eval.metrics import metric_definitions

        return {**asdict(self), "metric_definitions": metric_definitions(self.metrics)}


def load_eval_items(data: str, root, split: str | None = None, **options) -> list[dict]:
    """Items of ``split`` of source ``data`` from the data-source registry
    (:mod:`audioseek.data.sources`), the same loader training uses.

    ``split=None``: the source's default test split (Clotho ``evaluation``, or ``test`` in
    the paper view; AudioCaps ``test``; a manifest's ``test`` rows, or the whole file when it
    has no split column). ``options`` are the source's (Clotho: ``version``, ``view``; a
    train/val/test split name selects the paper view). A named split that a manifest without
    a split column cannot have is an error, as in training.
    """
    from audioseek.data.sources import load_split, test_split

    if data not in DATA_SOURCES:
        raise ConfigError(f"unknown evaluation data {data!r}; expected one of {DATA_SOURCES}")
    return load_split(data, root, test_split(data, root, split, **options), **options)


# ---- batching with out-of-memory backoff -----------------------------------------------


def _is_oom(e: BaseException) -> bool:
    import torch

    if isinstance(e, torch.OutOfMemoryError | MemoryError):
        return True
    return isinstance(e, RuntimeError) and "out of memory" in str(e).lower()


class _Backoff:
    """Runs ``fn`` over sub-batches of at most ``size`` inputs, halving ``size`` on OOM."""

    def __init__(self, size: int, what: str):
        if size < 1:
            raise ConfigError(f"batch size must be >= 1, got {size!r}")
        self.size = int(size)
        self.what = what
        self.retries = 0

    def run(self, fn: Callable, inputs: Sequence) -> list:
        import torch

        out = []
        i = 0
        while i < len(inputs):
            chunk = inputs[i : i + self.size]
            try:
                out.append(fn(chunk))
            except Exception as e:
                if not _is_oom(e):
                    raise
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                if self.size == 1:
                    raise ConfigError(
                        f"out of memory embedding {self.what} even with batch size 1; "
                        "try --device cpu"
                    ) from None
                new = max(1, self.size // 2)
                msg = f"out of memory embedding {self.what} with batch size {self.size}; "
                msg += f"retrying with batch size {new}"
                log.warning(msg)  # the CLI's logging prints it once on stderr
                self.size = new
                self.retries += 1
                continue
            i += len(chunk)
        return out


# ---- embedding ---------------------------------------------------------------------------


def _collate(batch):
    return batch


def embed_clips(
    model,
    items: Sequence[dict],
    batch_size: int = 32,
    num_workers: int = 0,
    progress: bool = True,
    backoff: _Backoff | None = None,
):
    """(A, D) L2-normalised audio embeddings, one per item, in item order."""
    import torch
    from torch.utils.data import DataLoader
    from tqdm.auto import tqdm

    from audioseek.data.dataset import AudioCaptionDataset

    backoff = backoff or _Backoff(batch_size, "clips")
    ds = AudioCaptionDataset(items, int(model.sample_rate), model.clip_seconds, caption="all")
    loader = DataLoader(
        ds, batch_size=batch_size, shuffle=False, num_workers=num_workers, collate_fn=_collate
    )

    def encode(waves):
        if model.clip_seconds is not None or len({w.shape[0] for w in waves}) == 1:
            return model.encode_audio(torch.stack(list(waves)))
        # different lengths: never zero-pad clips together (it would change embeddings)
        return torch.cat([model.encode_audio(w[None]) for w in waves])

    out = []
    with (
        torch.inference_mode(),
        tqdm(total=len(ds), desc="clips", unit="clip", disable=not progress) as bar,
    ):
        for batch in loader:
            waves = [b["waveform"] for b in batch]
            out.extend(e.float().cpu() for e in backoff.run(encode, waves))
            bar.update(len(batch))
    return torch.cat(out) if out else torch.empty(0)


def embed_captions(
    model,
    captions: Sequence[str],
    batch_size: int = 32,
    progress: bool = True,
    backoff: _Backoff | None = None,
):
    """(T, D) L2-normalised caption embeddings in order (batched ``encode_text``)."""
    import torch
    from tqdm.auto import tqdm

    backoff = backoff or _Backoff(batch_size, "captions")
    out = []
    with (
        torch.inference_mode(),
        tqdm(total=len(captions), desc="captions", unit="caption", disable=not progress) as bar,
    ):
        for i in range(0, len(captions), batch_size):
            chunk = list(captions[i : i + batch_size])
            out.extend(e.float().cpu() for e in backoff.run(model.encode_text, chunk))
            bar.update(len(chunk))
    return torch.cat(out) if out else torch.empty(0)


def evaluate_model(
    model,
    items: Sequence[dict],
    batch_size: int = 32,
    device="auto",
    *,
    ks: Sequence[int] = (1, 5, 10),
    map_k: int = 10,
    num_workers: int = 0,
    progress: bool = True,
) -> EvalResults:
    """Embed every clip and caption of ``items`` once and compute both directions' metrics.

    Relevance: a caption's clip (text->audio); a clip's captions (audio->text).
    """
    from audioseek.eval.metrics import bidirectional_intervals, bidirectional_metrics
    from audioseek.utils.device import resolve_device

    if batch_size < 1:
        raise ConfigError(f"batch size must be >= 1, got {batch_size!r}")
    items = list(items)
    if not items:
        raise DatasetError("nothing to evaluate: no clips")
    captions: list[str] = []
    caption_to_audio: list[int] = []
    for i, it in enumerate(items):
        caps = [c for c in it["captions"] if isinstance(c, str) and c.strip()]
        if not caps:
            raise DatasetError(
                f"clip {it.get('item_id', i)!r} ({it['audio_path']!r}) has no caption"
            )
        captions.extend(caps)
        caption_to_audio.extend([i] * len(caps))
    dev = resolve_device(device)
    model = model.to(dev).eval()
    t0 = time.perf_counter()
    audio_backoff = _Backoff(batch_size, "clips")
    text_backoff = _Backoff(batch_size, "captions")
    audio = embed_clips(model, items, batch_size, num_workers, progress, audio_backoff)
    text = embed_captions(model, captions, batch_size, progress, text_backoff)
    metrics = bidirectional_metrics(audio, text, caption_to_audio, ks=ks, map_k=map_k)
    intervals = bidirectional_intervals(audio, text, caption_to_audio, ks=ks, map_k=map_k)
    return EvalResults(
        metrics=metrics,
        intervals=intervals,
        n_clips=len(items),
        n_captions=len(captions),
        model=str(getattr(model, "model_id", "") or type(model).__name__),
        batch_size=batch_size,
        final_batch_size=min(audio_backoff.size, text_backoff.size),
        oom_retries=audio_backoff.retries + text_backoff.retries,
        device=str(dev),
        seconds=time.perf_counter() - t0,
    )


def check_reproduces_export(model, model_dir) -> None:
    """Raise :class:`ModelLoadError` if ``model`` loaded from the ``save_pretrained`` folder
    ``model_dir`` does not have the weights it was saved with (config.json ``fingerprint``).

    This happens when a model is exported heads-only although its encoders are not what
    their source gives: random init (``small_cnn`` without ``weights_path``), or a "frozen"
    encoder whose BatchNorm running statistics were updated in training. Its metrics would
    be those of a different model.
    """
    import json

    from audioseek.errors import ModelLoadError

    cfg_path = Path(model_dir) / "config.json"
    try:
        saved = json.loads(cfg_path.read_text(encoding="utf-8")).get("fingerprint")
    except (OSError, ValueError, AttributeError):
        return
    current = getattr(model, "fingerprint", None)
    if saved and current and saved != current:
        raise ModelLoadError(
            f"model {str(model_dir)!r} does not reproduce the weights it was saved with "
            f"(fingerprint {current[:12]} != saved {saved[:12]}); it was exported heads-only but "
            "its encoders differ from their source (random init, or buffers such as BatchNorm "
            "statistics changed in training), so loading did not restore them"
        )


def format_results(results: EvalResults, label: str | None = None) -> str:
    """Markdown table in the format of the paper's Table 5 (+ R@1, R@5), both directions."""
    from audioseek.eval.report import markdown_table, results_rows

    rows = results_rows(results.metrics, label or results.model)
    return markdown_table(rows)


def format_intervals(results: EvalResults, keys=("r@10", "map@10", "mrr")) -> str:
    """One line per direction: the 95 % intervals of ``keys`` (empty without intervals)."""
    from audioseek.eval.report import DIRECTIONS

    lines = []
    for direction, label in DIRECTIONS.items():
        ci = results.intervals.get(direction, {})
        cells = [f"{k} {ci[k][0]:.3f}-{ci[k][1]:.3f}" for k in keys if k in ci]
        if cells:
            lines.append(f"95% interval, clips resampled, {label}: " + ", ".join(cells))
    return "".join(line + "\n" for line in lines)


def evaluate_spec(
    model_spec: str,
    data: str,
    root: str,
    split: str | None = None,
    *,
    batch_size: int = 32,
    device: str = "auto",
    progress: bool = False,
    options: dict | None = None,
) -> EvalResults:
    """Load ``model_spec`` (a DualEncoder directory or model id) and evaluate it on
    ``split`` of dataset ``data`` (``clotho``, ``audiocaps`` or ``manifest``) under ``root``
    (``None``: the source's test split; ``options``: the source's, e.g. Clotho ``version``).

    An exported model directory whose weights do not reproduce its fingerprint is refused
    (:func:`check_reproduces_export`). ``model``, ``data`` and ``split`` are recorded in the
    result.
    """
    from audioseek.models.hub import load_model

    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch size must be an integer >= 1, got {batch_size!r}")
    options = dict(options or {})
    from audioseek.data.sources import test_split

    split = test_split(data, root, split, **options)
    items = load_eval_items(data, root, split, **options)
    model = load_model(model_spec, device=device)
    if Path(model_spec).expanduser().is_dir():
        check_reproduces_export(model, Path(model_spec).expanduser())
    workers = 0 if len(items) < 64 else 2
    results = evaluate_model(
        model,
        items,
        batch_size=batch_size,
        device=device,
        num_workers=workers,
        progress=progress,
    )
    results.model = str(model_spec)
    results.data = data
    results.split = split if split is not None else "all"
    if options:
        results.extra["options"] = options
    return results
