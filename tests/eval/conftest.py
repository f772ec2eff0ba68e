"""Tiny models saved in the real formats and generated Clotho-layout data (never downloaded)."""

from __future__ import annotations

import pytest

CORPUS = [
    "a dog barks loudly in the distance",
    "rain falls on a tin roof",
    "birds sing in the morning while cars pass by",
    "a high tone rises slowly",
    "a low hum with short clicks",
    "noise bursts and a whistle",
]


@pytest.fixture(scope="session")
def tiny_text_dir(tmp_path_factory):
    """A 2-layer RobertaModel + byte-level BPE tokenizer saved with ``save_pretrained``."""
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaConfig, RobertaModel, RobertaTokenizer

    d = tmp_path_factory.mktemp("tiny_text")
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        CORPUS * 5,
        vocab_size=300,
        min_frequency=1,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
    )
    bpe.save_model(str(d))
    tok = RobertaTokenizer.from_pretrained(str(d))
    cfg = RobertaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=64,
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(0)
    RobertaModel(cfg).save_pretrained(d)
    tok.save_pretrained(d)
    return d


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
