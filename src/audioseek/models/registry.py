"""Encoder registries: each encoder registers a builder under a string key.

New encoders are added with a decorator, never with an if/elif chain::

    @register_audio_encoder("resnet50")
    def resnet50(pretrained: bool = True, weights_path=None, ...) -> AudioEncoder: ...

``build_audio_encoder(name, **kwargs)`` calls the builder; unknown names raise
:class:`~audioseek.errors.ConfigError` listing the known keys. ``build_text_encoder``
treats a name that is not registered as a Hugging Face id or a local
``save_pretrained`` directory. The modules that register builders are imported on
first use, so importing this module stays cheap.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from audioseek.errors import ConfigError

AUDIO_ENCODERS: dict[str, Callable[..., Any]] = {}
TEXT_ENCODERS: dict[str, Callable[..., Any]] = {}

# Modules whose import registers the built-in encoders.
_BUILTIN_MODULES = (
    "audioseek.models.audio_encoders",
    "audioseek.models.pann",
    "audioseek.models.text_encoders",
    "audioseek.models.clap",
)


def _register(table: dict[str, Callable[..., Any]], kind: str, name: str):
    def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
        if name in table and table[name] is not fn:
            raise ConfigError(f"{kind} encoder {name!r} is already registered")
        table[name] = fn
        return fn

    return decorator


def register_audio_encoder(name: str):
    """Decorator: register ``fn(**kwargs) -> AudioEncoder`` under ``name``."""
    return _register(AUDIO_ENCODERS, "audio", name)


def register_text_encoder(name: str):
    """Decorator: register ``fn(**kwargs) -> TextEncoder`` under ``name``."""
    return _register(TEXT_ENCODERS, "text", name)


def _load_builtins() -> None:
    for mod in _BUILTIN_MODULES:
        importlib.import_module(mod)


def audio_encoder_names() -> list[str]:
    _load_builtins()
    return sorted(AUDIO_ENCODERS)


def text_encoder_names() -> list[str]:
    _load_builtins()
    return sorted(TEXT_ENCODERS)


def build_audio_encoder(name: str, **kwargs):
    """Build the audio encoder registered as ``name`` with the builder's keyword arguments."""
    _load_builtins()
    try:
        builder = AUDIO_ENCODERS[name]
    except (KeyError, TypeError):
        raise ConfigError(
            f"unknown audio encoder {name!r}; known: {', '.join(sorted(AUDIO_ENCODERS))}"
        ) from None
    return _call(builder, "audio", name, kwargs)


def build_text_encoder(name_or_path: str, **kwargs):
    """Build a registered text encoder, or any Hugging Face encoder id / local directory."""
    _load_builtins()
    if not isinstance(name_or_path, str) or not name_or_path:
        raise ConfigError(
            f"invalid text encoder {name_or_path!r}; expected one of "
            f"{', '.join(sorted(TEXT_ENCODERS))} or a Hugging Face id / local path"
        )
    builder = TEXT_ENCODERS.get(name_or_path)
    if builder is None:
        from audioseek.models.text_encoders import HFTextEncoder

        return _call(HFTextEncoder, "text", name_or_path, {"source": name_or_path, **kwargs})
    return _call(builder, "text", name_or_path, kwargs)


def _call(builder, kind: str, name: str, kwargs: dict):
    import inspect

    try:
        inspect.signature(builder).bind(**kwargs)
    except TypeError as e:
        raise ConfigError(f"bad arguments for {kind} encoder {name!r}: {e}") from None
    return builder(**kwargs)
