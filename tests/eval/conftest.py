"""Tiny models saved in the real formats and generated Clotho-layout data (never downloaded)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_text_dir(tiny_roberta_dir):
    """A 2-layer RobertaModel + byte-level BPE tokenizer saved with ``save_pretrained``."""
    return tiny_roberta_dir


def tiny_model_config(text_dir, sample_rate=16000, clip_seconds=1.0) -> dict:
    return {
        "audio_encoder": "small_cnn",
        "audio_encoder_args": {
            "sample_rate": sample_rate,
            "clip_seconds": clip_seconds,
            "channels": [4, 8],
            "n_mels": 16,
        },
        "text_encoder": str(text_dir),
        "text_encoder_args": {"pretrained": True, "pooling": "mean", "max_length": 16},
        "embed_dim": 16,
    }


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_text_dir):
    """A random tiny DualEncoder exported with ``save_pretrained``."""
    import torch

    from audioseek.models.factory import build_model

    torch.manual_seed(0)
    model = build_model(tiny_model_config(tiny_text_dir))
    d = tmp_path_factory.mktemp("tiny_model") / "model"
    model.save_pretrained(d)
    return d


@pytest.fixture(scope="session")
def clotho_root(tmp_path_factory):
    from audioseek.data.synthetic import write_clotho_layout

    root = tmp_path_factory.mktemp("clotho")
    return write_clotho_layout(
        root, {"development": 2, "validation": 2, "evaluation": 7}, seed=3, sr=16000, duration=1.5
    )
