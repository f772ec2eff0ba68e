"""The ONNX text encoder gives the torch path's vectors without importing torch."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from audioseek.errors import ModelLoadError
from audioseek.models.factory import ModelConfig, build_model
from audioseek.models.hub import load_model, offline_model_dir
from audioseek.models.onnx_text import OnnxTextEncoder, export_text_encoder

QUERIES = [
    "a dog barks",
    "rain falls on a tin roof while birds sing and an engine revs " * 4,  # truncated
    "",
    "Water DRIPS into a metal bucket!!",
    "café ünïcode ☂",
]


def _gallery(dim: int, n: int = 300) -> np.ndarray:
    g = np.random.default_rng(0).standard_normal((n, dim)).astype(np.float32)
    return g / np.linalg.norm(g, axis=1, keepdims=True)


def _check_same_as_torch(model, enc: OnnxTextEncoder) -> None:
    with torch.inference_mode():
        ref = model.encode_text(QUERIES).numpy()
        tok = model.text_encoder.tokenize(QUERIES)
    ours_tok = enc.tokenize(QUERIES)
    assert np.array_equal(ours_tok["input_ids"], tok["input_ids"].numpy())
    assert np.array_equal(ours_tok["attention_mask"], tok["attention_mask"].numpy())
    out = enc.encode_text(QUERIES)
    assert out.dtype == np.float32 and out.shape == ref.shape == (len(QUERIES), enc.embed_dim)
    assert np.abs(out - ref).max() <= 1e-3
    assert ((out * ref).sum(1) >= 0.9999).all()
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    gallery = _gallery(enc.embed_dim)
    top = np.argsort(-(out @ gallery.T), axis=1, kind="stable")[:, :10]
    top_ref = np.argsort(-(ref @ gallery.T), axis=1, kind="stable")[:, :10]
    assert np.array_equal(top, top_ref)
    for q, row in zip(QUERIES, out, strict=True):  # a query alone == in the batch
        np.testing.assert_allclose(enc.encode_text([q])[0], row, atol=1e-6)


@pytest.fixture(scope="module")
def small_model(tiny_roberta_dir):
    """RoBERTa tower with mean pooling + a linear head (the trained-model layout)."""
    torch.manual_seed(0)
    cfg = ModelConfig(
        audio_encoder="small_cnn",
        audio_encoder_args={"channels": [8, 8], "clip_seconds": 1.0},
        text_encoder=str(tiny_roberta_dir),
        text_encoder_args={"pooling": "mean"},
        embed_dim=24,
    )
    return build_model(cfg).eval()


def test_export_with_head_matches_torch(small_model, tmp_path):
    folder = export_text_encoder(small_model, tmp_path / "onnx")
    enc = OnnxTextEncoder(folder)
    assert enc.fingerprint == small_model.fingerprint and enc.embed_dim == 24
    _check_same_as_torch(small_model, enc)


def test_clap_text_tower_export_matches_torch(tiny_clap_dir, tmp_path):
    model = load_model(str(tiny_clap_dir), device="cpu")
    enc = OnnxTextEncoder(export_text_encoder(model, tmp_path / "clap"))
    assert enc.max_length == 77
    _check_same_as_torch(model, enc)


@pytest.mark.slow
def test_loader_runs_without_torch_or_transformers(small_model, tmp_path):
    folder = export_text_encoder(small_model, tmp_path / "onnx")
    code = (
        "import json, sys\n"
        "from audioseek.models.onnx_text import OnnxTextEncoder\n"
        f"v = OnnxTextEncoder({str(folder)!r}).encode_text({QUERIES[:2]!r})\n"
        "heavy = [m for m in ('torch', 'transformers') if m in sys.modules]\n"
        "print(json.dumps({'heavy': heavy, 'v': v.tolist()}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["heavy"] == []
    with torch.inference_mode():
        ref = small_model.encode_text(QUERIES[:2]).numpy()
    np.testing.assert_allclose(np.array(res["v"], dtype=np.float32), ref, atol=1e-3)


@pytest.mark.slow
def test_offline_model_export_matches_torch(tmp_path):
    if not (offline_model_dir() / "config.json").is_file():
        pytest.skip("the bundled offline model has not been built yet")
    model = load_model("offline", device="cpu")
    enc = OnnxTextEncoder(export_text_encoder(model, tmp_path / "offline"))
    assert enc.model_id == "offline" and enc.fingerprint == model.fingerprint
    _check_same_as_torch(model, enc)


def test_bad_folders_and_converted_models_are_refused(small_model, tiny_clap_dir, tmp_path):
    with pytest.raises(ModelLoadError, match="not an ONNX text encoder folder"):
        OnnxTextEncoder(tmp_path / "missing")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "onnx_text.json").write_text('{"format": "something"}')
    with pytest.raises(ModelLoadError, match="is not an audioseek.OnnxTextEncoder"):
        OnnxTextEncoder(tmp_path / "other")
    bf16 = load_model(str(tiny_clap_dir), device="cpu", precision="bf16")
    with pytest.raises(ModelLoadError, match="not a bf16 one"):
        export_text_encoder(bf16, tmp_path / "x")
    (tmp_path / "file").write_text("")
    with pytest.raises(ModelLoadError, match="is not a folder"):
        export_text_encoder(small_model, tmp_path / "file")


def test_queries_run_at_their_own_length_and_old_exports_still_work(small_model, tmp_path):
    """A query runs at its length rounded up to LENGTH_STEP tokens, not at max_length: the
    vectors equal the full-length run's; a folder exported before (no ``dynamic_length``)
    is run at max_length as it was."""
    from audioseek.models import onnx_text

    folder = export_text_encoder(small_model, tmp_path / "onnx")
    enc = OnnxTextEncoder(folder)
    assert enc.meta["dynamic_length"] is True
    runs = []
    real_run = enc.session.run
    enc.session = type("Recorder", (), {})()
    enc.session.run = lambda names, feed: (
        runs.append(feed["input_ids"].shape) or real_run(names, feed)
    )
    out = enc.encode_text(QUERIES)
    assert max(shape[1] for shape in runs) == enc.max_length  # the truncated query
    assert min(shape[1] for shape in runs) == onnx_text.LENGTH_STEP  # "a dog barks", ""
    assert sum(shape[0] for shape in runs) == len(QUERIES)
    (full,) = real_run(["embeddings"], enc.tokenize(QUERIES))
    np.testing.assert_allclose(out, full, atol=1e-6)

    meta = json.loads((folder / "onnx_text.json").read_text())
    del meta["dynamic_length"]
    (folder / "onnx_text.json").write_text(json.dumps(meta))
    old = OnnxTextEncoder(folder)
    np.testing.assert_allclose(old.encode_text(QUERIES), full, atol=1e-6)
