"""The embedding stage: load the model, name it (spec + fingerprint), embed windows in
fixed-shape batches.

:func:`embed_windows` always hands the model exactly :data:`EMBED_CHUNK` rows (the last
chunk zero-padded), so a window's vector does not depend on the batch size, the worker
count or its neighbours in the batch: an index built in any batching is bit-identical.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from audioseek.errors import SearchIndexError

EMBED_CHUNK = 8


def is_model(obj) -> bool:
    """Whether ``obj`` is a loaded model (has ``encode_audio`` and ``encode_text``)."""
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


def embed_windows(model, windows: np.ndarray) -> np.ndarray:
    """Embed ``windows (n, samples)`` float32 -> ``(n, dim)`` float32, L2-normalised, in
    fixed chunks of :data:`EMBED_CHUNK` rows (see the module docstring)."""
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
        self.model = model
        self.spec = spec or spec_id(None, model)
        self.fingerprint = model_fingerprint(model)
        self.sample_rate = int(model.sample_rate)

    @classmethod
    def load(cls, spec, device: str = "auto") -> Embedder:
        """From a loaded model (used as is) or a ``load_model`` spec (``None``: the default)."""
        if is_model(spec):
            return cls(spec)
        model = load_index_model(spec, device=device)
        return cls(model, spec_id(spec, model))

    def __call__(self, windows: np.ndarray) -> np.ndarray:
        return embed_windows(self.model, windows)


__all__ = [
    "EMBED_CHUNK",
    "Embedder",
    "embed_texts",
    "embed_windows",
    "is_model",
    "load_index_model",
    "model_fingerprint",
    "spec_id",
]
