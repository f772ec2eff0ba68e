"""The embedding stage: load the model, name it (spec + fingerprint + precision), embed
windows in fixed-shape batches.

:func:`embed_windows` always hands the model exactly :data:`EMBED_CHUNK` rows of one shape
(the last chunk zero-padded), so a window's vector does not depend on the batch size, the
worker count or its neighbours in the batch: an index built in any batching is bit-identical.

The *embedding rule* (:func:`embed_rule`, recorded in the index meta as ``embed_rule``) says
at which length a window is embedded:

* ``"padded-window"`` (:data:`RULE_PADDED`; indexes without the key): every window at the
  full window length, a short one zero-padded. Models with a fixed input length (CLAP HTS-AT:
  ``clip_seconds`` set) keep this rule, and with it their own padding rule.
* ``"bucketed-1s"`` (:data:`RULE_BUCKETED`): for audio encoders that accept any length
  (``clip_seconds is None``, or ``variable_length = True``: aisfx, CNN14, the small CNN), a
  window is embedded at its own length rounded up to whole seconds (at least 1 s, at most
  the window): a 0.5 s drum hit costs a 1 s forward pass, not a 10 s one. Its length is the
  row without its trailing zero samples (the reader's padding, or digital silence), so the
  vector is a function of the padded row alone, whoever cut it (reader, ``similar``'s query
  file, another engine). Rows of one bucket are embedded together, :data:`BUCKET_CHUNK` at a
  time at the bucket's length (a fixed shape per bucket), so vectors stay bit-identical
  whatever the batching. The chunk is small because a batch of a mixed library spreads over
  many buckets, and each bucket's last chunk is zero-padded: with 8 rows per chunk, a batch
  of 16 windows computed more than the padded rule did (simulated on the benchmark library).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from audioseek.errors import ConfigError, SearchIndexError

EMBED_CHUNK = 8
BUCKET_CHUNK = 2  # rows per forward pass under the bucketed rule (see the module docstring)
RULE_PADDED = "padded-window"
RULE_BUCKETED = "bucketed-1s"
EMBED_RULES = (RULE_PADDED, RULE_BUCKETED)
ONNX_TEXT_DIR = "text_onnx"  # the exported text encoder, beside index.sqlite


def is_model(obj) -> bool:
    """Whether ``obj`` is a loaded model (has ``encode_audio`` and ``encode_text``)."""
    return hasattr(obj, "encode_audio") and hasattr(obj, "encode_text")


def load_index_model(
    spec: str | None, device: str = "auto", precision: str | None = None, text: bool = True
):
    """``audioseek.models.hub.load_model(spec, device, precision, text)`` in eval mode
    (``precision=None``: fp32; ``text=False``: the audio side only, for embedding workers)."""
    from audioseek.models.hub import load_model

    model = load_model(spec, device=device, precision=precision or "fp32", text=text)
    if hasattr(model, "eval"):
        model.eval()
    return model


def model_precision(model) -> str:
    """The inference precision of a loaded model (``"fp32"`` unless converted)."""
    return str(getattr(model, "precision", None) or "fp32")


def check_precision_arg(precision) -> str | None:
    """``None`` or one of ``fp32 / bf16 / int8`` (lower case); else ConfigError."""
    if precision is None:
        return None
    p = str(precision).strip().lower() if isinstance(precision, str) else None
    if p not in ("fp32", "bf16", "int8"):
        raise ConfigError(
            f"unknown precision {precision!r}; expected one of ('fp32', 'bf16', 'int8')"
        )
    return p


def check_loaded_precision(model, precision: str | None) -> None:
    """A loaded model cannot be converted here: ``precision`` must be its own (or None)."""
    have = model_precision(model)
    if precision is not None and precision != have:
        raise ConfigError(
            f"the model passed in runs at precision {have!r}, not {precision!r}; pass a model "
            f"spec (loaded at that precision) or a model loaded with precision={precision!r}"
        )


def index_precision(meta_precision: str | None, fingerprint: str | None) -> str:
    """The precision an index was built at: its ``precision`` meta key, else the suffix of
    its model fingerprint (``<fp32>+int8``), else fp32 (indexes from before precisions)."""
    if meta_precision:
        return str(meta_precision)
    if fingerprint and "+" in fingerprint:
        return fingerprint.rsplit("+", 1)[1]
    return "fp32"


def check_index_precision(db, meta_precision, fingerprint, model) -> None:
    """SearchIndexError (one line) when ``model`` runs at another precision than the index
    at ``db`` was built at (the fingerprints differ too; this says why in plain words)."""
    have = index_precision(meta_precision, fingerprint)
    want = model_precision(model)
    if have != want:
        raise SearchIndexError(
            f"index {str(db)!r} was built at precision {have!r}, not {want!r}; "
            f"use precision {have!r} or another index folder"
        )


def variable_length(model) -> bool:
    """Whether the model's audio encoder accepts clips of any length: a ``variable_length``
    attribute if it has one, else ``clip_seconds is None`` (models without ``clip_seconds``,
    or with a fixed one like CLAP's 10 s, are fixed-length)."""
    flag = getattr(model, "variable_length", None)
    if flag is not None:
        return bool(flag)
    if not hasattr(model, "clip_seconds"):
        return False
    return model.clip_seconds is None


def embed_rule(model) -> str:
    """The embedding rule the index records for ``model`` (see the module docstring)."""
    return RULE_BUCKETED if variable_length(model) else RULE_PADDED


def check_index_rule(db, recorded: str | None, rule: str) -> None:
    """SearchIndexError (one line) unless the index at ``db`` was embedded by ``rule``;
    ``recorded`` is its ``embed_rule`` meta value (``None``: an index from before the key,
    i.e. the padded rule)."""
    have = recorded or RULE_PADDED
    if have != rule:
        raise SearchIndexError(
            f"index {str(db)!r} was embedded with the rule {have!r}, not {rule!r} (this "
            f"audioseek embeds short windows of this model at their own length); its vectors "
            "cannot be mixed with new ones: index into a new folder (or remove this one)"
        )


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
    """The model's weights fingerprint (what the index records to refuse another model)."""
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


def content_lengths(windows: np.ndarray) -> np.ndarray:
    """``(n,)`` samples of each row up to and including its last non-zero sample."""
    windows = np.asarray(windows)
    if windows.size == 0:
        return np.zeros(len(windows), np.int64)
    nonzero = windows[:, ::-1] != 0
    last = windows.shape[1] - np.argmax(nonzero, axis=1)
    return np.where(nonzero.any(axis=1), last, 0).astype(np.int64)


def bucket_lengths(lengths: np.ndarray, sample_rate: int, window_samples: int) -> np.ndarray:
    """Each length rounded up to whole seconds of ``sample_rate``, at least 1 s, at most
    ``window_samples``: the lengths the bucketed rule embeds at."""
    sr = int(sample_rate)
    seconds = np.maximum(1, -(-np.asarray(lengths, np.int64) // sr))
    return np.minimum(seconds * sr, int(window_samples)).astype(np.int64)


def _embed_fixed(model, rows: np.ndarray, device, size: int = EMBED_CHUNK) -> np.ndarray:
    """``rows (n, samples)`` in chunks of exactly ``size`` rows of that shape."""
    import torch

    out = []
    for lo in range(0, len(rows), size):
        chunk = rows[lo : lo + size]
        m = len(chunk)
        if m < size:
            pad = np.zeros((size - m, chunk.shape[1]), np.float32)
            chunk = np.concatenate([chunk, pad])
        x = torch.from_numpy(np.ascontiguousarray(chunk, dtype=np.float32)).to(device)
        emb = model.encode_audio(x, normalize=True)[:m]
        out.append(emb.detach().float().cpu().numpy())
    return np.concatenate(out)


def embed_windows(model, windows: np.ndarray, rule: str | None = None) -> np.ndarray:
    """Embed ``windows (n, samples)`` float32 -> ``(n, dim)`` float32, L2-normalised, in
    fixed chunks of :data:`EMBED_CHUNK` rows, by ``rule`` (default: :func:`embed_rule` of
    ``model``; see the module docstring)."""
    import torch

    rule = embed_rule(model) if rule is None else rule
    if rule not in EMBED_RULES:
        raise ConfigError(f"unknown embedding rule {rule!r}; expected one of {EMBED_RULES}")
    windows = np.asarray(windows, dtype=np.float32)
    if len(windows) == 0:
        return np.zeros((0, 0), np.float32)
    device = model_device(model)
    with torch.inference_mode():
        if rule == RULE_PADDED:
            return _embed_fixed(model, windows, device)
        buckets = bucket_lengths(content_lengths(windows), int(model.sample_rate), windows.shape[1])
        out: np.ndarray | None = None
        for size in np.unique(buckets):  # one shape per bucket, rows in their order
            rows = np.flatnonzero(buckets == size)
            vecs = _embed_fixed(model, windows[rows, : int(size)], device, BUCKET_CHUNK)
            if out is None:
                out = np.zeros((len(windows), vecs.shape[1]), np.float32)
            out[rows] = vecs
        return out


def embed_texts(model, texts: list[str]) -> np.ndarray:
    """``(len(texts), dim)`` float32 L2-normalised text embeddings."""
    import torch

    with torch.inference_mode():
        emb = model.encode_text(list(texts), normalize=True)
    return emb.detach().float().cpu().numpy()


class Embedder:
    """The embedding stage as a callable: ``embedder(windows (n, samples)) -> (n, dim)``.

    Holds a loaded model and what the index records about it (``spec``, ``fingerprint``,
    ``sample_rate``). A distributed runner builds one per actor from the same ``spec``.
    """

    def __init__(self, model, spec: str | None = None):
        if getattr(model, "has_text", True) is False:
            raise ConfigError(
                "this model was loaded for audio only (text=False): an index records the "
                "whole model's fingerprint and searches with its text side; load it whole"
            )
        self.model = model
        self.spec = spec or spec_id(None, model)
        self.fingerprint = model_fingerprint(model)
        self.sample_rate = int(model.sample_rate)
        self.precision = model_precision(model)
        self.rule = embed_rule(model)

    @classmethod
    def load(cls, spec, device: str = "auto", precision: str | None = None) -> Embedder:
        """From a loaded model (used as is; ``precision`` must be its own) or a
        ``load_model`` spec (``None``: the default) loaded at ``precision``."""
        if is_model(spec):
            check_loaded_precision(spec, precision)
            return cls(spec)
        model = load_index_model(spec, device=device, precision=precision)
        return cls(model, spec_id(spec, model))

    def __call__(self, windows: np.ndarray) -> np.ndarray:
        return embed_windows(self.model, windows, self.rule)


__all__ = [
    "BUCKET_CHUNK",
    "EMBED_CHUNK",
    "EMBED_RULES",
    "ONNX_TEXT_DIR",
    "RULE_BUCKETED",
    "RULE_PADDED",
    "Embedder",
    "bucket_lengths",
    "check_index_precision",
    "check_index_rule",
    "content_lengths",
    "embed_rule",
    "embed_texts",
    "embed_windows",
    "is_model",
    "load_index_model",
    "model_fingerprint",
    "model_precision",
    "spec_id",
    "variable_length",
]
