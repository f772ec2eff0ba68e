"""Device selection shared by every command: ``--device auto`` picks CUDA, then MPS, then CPU."""

from __future__ import annotations


def resolve_device(device: str | None = "auto"):
    """Return a ``torch.device`` for ``device`` ("auto", "cpu", "cuda", "cuda:1", "mps")."""
    import torch

    from audioseek.errors import ConfigError

    if device in (None, "", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(
            f"unknown device {device!r}; expected auto, cpu, cuda, cuda:N or mps"
        ) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} requested but CUDA is not available on this machine")
    return dev
