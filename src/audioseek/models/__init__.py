"""Model layer: audio/text encoders (registry), projection heads, the dual encoder, its
factory and export. Importing this package is cheap; submodules import torch."""

from __future__ import annotations

from importlib import import_module

_EXPORTS = {
    "AudioEncoder": "audioseek.models.audio_encoders",
    "TextEncoder": "audioseek.models.text_encoders",
    "HFTextEncoder": "audioseek.models.text_encoders",
    "ProjectionHead": "audioseek.models.heads",
    "DualEncoder": "audioseek.models.dual_encoder",
    "DualEncoderOutput": "audioseek.models.dual_encoder",
    "ModelConfig": "audioseek.models.factory",
    "build_model": "audioseek.models.factory",
    "load_model": "audioseek.models.hub",
    "model_spec_id": "audioseek.models.hub",
    "register_audio_encoder": "audioseek.models.registry",
    "register_text_encoder": "audioseek.models.registry",
    "build_audio_encoder": "audioseek.models.registry",
    "build_text_encoder": "audioseek.models.registry",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'audioseek.models' has no attribute {name!r}")
