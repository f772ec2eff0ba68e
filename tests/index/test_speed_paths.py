"""Issue 12 paths: short windows embedded at their own (bucketed) length, the embedding rule
and the precision recorded and checked, automatic workers/threads, and the ONNX text encoder
beside the index answering one-shot searches without torch."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from audioseek.errors import ConfigError, SearchIndexError
from audioseek.index.embedder import (
    BUCKET_CHUNK,
    ONNX_TEXT_DIR,
    RULE_BUCKETED,
    RULE_PADDED,
    bucket_lengths,
    content_lengths,
    embed_rule,
    embed_windows,
)
from audioseek.index.runner import auto_threads, auto_workers, index_paths
from audioseek.index.service import Index
from audioseek.index.store import DB_NAME, Store


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    """The small_cnn + 1-layer BERT DualEncoder (any input length), loaded once."""
    from audioseek.models.hub import load_model

    return load_model(str(tiny_model_dir), device="cpu")


def _rows(kit, lengths_s: list[float], window_s: float = 10.0, seed: int = 0) -> np.ndarray:
    """Zero-padded window rows with ``lengths_s`` seconds of noisy tones."""
    size = int(window_s * kit.SR)
    out = np.zeros((len(lengths_s), size), np.float32)
    for i, sec in enumerate(lengths_s):
        wave = kit.tone(200 + 150 * i, sec) + kit.noise(sec, seed=seed + i, amp=0.05)
        out[i, : len(wave)] = wave
        out[i, len(wave) - 1] = 0.25  # the last sample is not zero: the length is exact
    return out


def _stored(db) -> dict[str, np.ndarray]:
    with Store.open(db) as store:
        return {
            rec.path.rsplit("/", 1)[-1]: store.file_vectors(rec.id)[0].astype(np.float16)
            for rec in store.files(complete_only=True)
        }


# ---- the rule ----------------------------------------------------------------------------
def test_rule_follows_the_audio_encoder(tiny, band_model):
    assert embed_rule(tiny) == RULE_BUCKETED  # small_cnn: clip_seconds None
    assert embed_rule(band_model) == RULE_PADDED  # no clip_seconds: fixed-length
    band_model.clip_seconds = 10.0
    assert embed_rule(band_model) == RULE_PADDED
    band_model.variable_length = True  # an explicit flag wins
    assert embed_rule(band_model) == RULE_BUCKETED


def test_content_lengths_and_buckets():
    rows = np.zeros((4, 50), np.float32)
    rows[1, 0] = 1.0
    rows[2, :23] = 0.5
    rows[3, :] = -1.0
    assert content_lengths(rows).tolist() == [0, 1, 23, 50]
    # sample rate 10: whole seconds are 10 samples, at least 1 s, at most the window
    assert bucket_lengths(np.array([0, 1, 10, 11, 23, 50]), 10, 50).tolist() == [
        10,
        10,
        10,
        20,
        30,
        50,
    ]
    assert bucket_lengths(np.array([49]), 10, 45).tolist() == [45]


def test_bucketed_vectors_do_not_depend_on_the_batch(tiny, kit):
    rows = _rows(kit, [0.4, 10.0, 2.5, 0.9, 7.2, 10.0, 1.0, 3.1, 0.2, 9.5, 2.2])
    whole = embed_windows(tiny, rows)
    assert whole.shape == (len(rows), tiny.embed_dim)
    one_by_one = np.concatenate([embed_windows(tiny, rows[i : i + 1]) for i in range(len(rows))])
    perm = np.random.default_rng(0).permutation(len(rows))
    shuffled = np.empty_like(whole)
    shuffled[perm] = embed_windows(tiny, rows[perm])
    assert np.array_equal(whole, one_by_one)
    assert np.array_equal(whole, shuffled)


def test_short_rows_are_embedded_at_their_bucket(tiny, kit):
    rows = _rows(kit, [0.4, 2.5, 10.0])
    got = embed_windows(tiny, rows, RULE_BUCKETED)
    sr = kit.SR
    for i, size in enumerate([sr, 3 * sr, 10 * sr]):  # 0.4 s -> 1 s, 2.5 s -> 3 s, full
        chunk = np.zeros((BUCKET_CHUNK, size), np.float32)
        chunk[0] = rows[i, :size]
        with torch.inference_mode():
            want = tiny.encode_audio(torch.from_numpy(chunk))[0].numpy()
        assert np.array_equal(got[i], want)
    padded = embed_windows(tiny, rows, RULE_PADDED)
    assert np.allclose(got[2], padded[2], atol=1e-4)  # a full window: the same computation
    assert not np.allclose(got[0], padded[0], atol=1e-4)  # a short one: no longer padded
    with pytest.raises(ConfigError, match="embedding rule"):
        embed_windows(tiny, rows, "whatever")


# ---- index and similar agree -------------------------------------------------------------
@pytest.mark.slow
def test_short_file_vector_same_in_index_and_similar(tiny, kit, tmp_path):
    lib = tmp_path / "lib"
    short = kit.write_wav(lib / "hit.wav", kit.tone(900, 0.7) + kit.noise(0.7, amp=0.05))
    kit.write_wav(lib / "long.wav", kit.tone(400, 23.0) + kit.noise(23.0, seed=3, amp=0.05))
    kit.write_wav(lib / "mid.wav", kit.tone(1500, 3.3) + kit.noise(3.3, seed=4, amp=0.05))
    stored = {}
    for name, workers, batch in (("a", 0, 1), ("b", 2, 16), ("c", 1, 5)):
        db = tmp_path / f"db-{name}"
        with Index(db, model=tiny) as index:
            index.add([lib], workers=workers, batch_size=batch, progress=False)
            assert index.store.get_meta("embed_rule") == RULE_BUCKETED
        stored[name] = _stored(db)
    for name in ("b", "c"):  # bit-identical whatever the workers and batch size
        assert stored[name].keys() == stored["a"].keys()
        for f in stored["a"]:
            assert np.array_equal(stored[name][f], stored["a"][f]), (name, f)
    outside = kit.write_wav(tmp_path / "elsewhere" / "hit-copy.wav", kit.tone(900, 0.7) * 0)
    outside.write_bytes(short.read_bytes())  # same audio, not indexed
    with Index(tmp_path / "db-a", model=tiny) as index:  # the store keeps float16 vectors
        f16 = np.float16
        assert np.array_equal(index.embed_file(outside).astype(f16), stored["a"]["hit.wav"])
        assert np.array_equal(
            index.embed_file(lib / "long.wav").astype(f16), stored["a"]["long.wav"]
        )
        hits = index.similar(outside, k=3)
    assert hits[0].path == str(short.resolve())
    assert hits[0].score == pytest.approx(1.0, abs=1e-3)  # float16 store


def test_index_of_another_rule_is_refused(tiny, kit, tmp_path):
    lib = tmp_path / "lib"
    kit.write_wav(lib / "hit.wav", kit.tone(900, 0.7))
    db = tmp_path / "db"
    index_paths([lib], db, model=tiny, workers=0, progress=False, export_onnx=False)
    with sqlite3.connect(db / DB_NAME) as c:  # what an index from before the rule holds
        c.execute("DELETE FROM meta WHERE key IN ('embed_rule', 'precision')")
    kit.write_wav(lib / "more.wav", kit.tone(300, 1.5))
    with pytest.raises(SearchIndexError, match="'padded-window', not 'bucketed-1s'") as e:
        index_paths([lib], db, model=tiny, workers=0, progress=False)
    assert "\n" not in str(e.value)
    with Index(db, model=tiny) as index:
        with pytest.raises(SearchIndexError, match="rule"):
            index.similar(lib / "more.wav")
        assert index.search("tone 900", k=1)  # its stored vectors still answer text queries


def test_fixed_length_model_keeps_padded_windows(band_model, kit, tmp_path):
    lib = tmp_path / "lib"
    kit.write_wav(lib / "hit.wav", kit.tone(900, 0.7))
    db = tmp_path / "db"
    index_paths([lib], db, model=band_model, workers=0, progress=False)
    with Store.open(db) as store:
        assert store.get_meta("embed_rule") == RULE_PADDED
        vec = store.file_vectors(store.files()[0].id)[0]
    row = np.zeros((1, 10 * kit.SR), np.float32)
    row[0, : int(0.7 * kit.SR)] = kit.tone(900, 0.7)
    assert np.allclose(vec, embed_windows(band_model, row, RULE_PADDED), atol=1e-3)


# ---- precision ---------------------------------------------------------------------------
@pytest.mark.slow
def test_precision_recorded_and_other_precision_refused(tiny_model_dir, kit, tmp_path):
    lib = tmp_path / "lib"
    kit.make_library(lib, n=2, seconds=6.0)
    spec = str(tiny_model_dir)
    db32, db8 = tmp_path / "fp32", tmp_path / "int8"
    with Index(db32, model=spec, device="cpu") as index:
        index.add([lib], workers=0, progress=False)
        assert index.store.get_meta("precision") == "fp32"
    s8 = index_paths([lib], db8, model=spec, device="cpu", workers=0, precision="int8")
    assert s8.embedded == 2
    with Store.open(db8) as store:
        assert store.get_meta("precision") == "int8"
        assert store.get_meta("model_fingerprint").endswith("+int8")
    assert not (db8 / ONNX_TEXT_DIR).exists()  # an int8 text tower is not the fp32 export
    # another precision is refused, by the Index and by a run, in one line naming both
    with pytest.raises(SearchIndexError, match="precision 'fp32', not 'int8'") as e:
        Index(db32, model=spec, device="cpu", precision="int8").search("tone 300")
    assert "\n" not in str(e.value)
    with pytest.raises(SearchIndexError, match="precision 'int8', not 'fp32'"):
        index_paths([lib], db8, model=spec, device="cpu", workers=0, precision="fp32")
    with pytest.raises(ConfigError, match="precision"):
        Index(db32, precision="fp16")
    # without a precision, an index's own is used: int8 here, and it searches
    with Index(db8, device="cpu") as index:
        hits = index.search("tone 300", k=2)
        assert index.model.precision == "int8"
    assert len(hits) == 2
    # int8 vectors are bit-identical whatever the batching too
    db8b = tmp_path / "int8-b"
    index_paths([lib], db8b, model=spec, device="cpu", workers=1, batch_size=3, precision="int8")
    a, b = _stored(db8), _stored(db8b)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_a_loaded_model_is_not_converted(tiny, tmp_path):
    with pytest.raises(ConfigError, match="precision 'fp32', not 'int8'"):
        Index(tmp_path / "db", model=tiny, precision="int8")


# ---- automatic settings ------------------------------------------------------------------
def test_auto_workers_and_threads_follow_the_cores():
    assert [auto_workers(c) for c in (1, 2, 4, 8, 16, 64)] == [1, 1, 1, 2, 4, 4]
    assert [auto_threads(c) for c in (1, 2, 8, 64)] == [1, 2, 8, 16]


def test_auto_settings_used_and_torch_threads_restored(band_model, kit, tmp_path):
    kit.make_library(tmp_path / "lib", n=1, seconds=3.0)
    before = torch.get_num_threads()
    timings: dict = {}
    index_paths(
        [tmp_path / "lib"], tmp_path / "db", model=band_model, progress=False, timings=timings
    )
    assert timings["workers"] == auto_workers() and timings["threads"] == auto_threads()
    assert {"read_wait_s", "embed_s", "write_s", "model_load_s"} <= timings.keys()
    assert torch.get_num_threads() == before
    with pytest.raises(ConfigError, match="threads"):
        index_paths([tmp_path / "lib"], tmp_path / "db", model=band_model, threads=0)


# ---- one-shot search without torch -------------------------------------------------------
CHILD = textwrap.dedent(
    """
    import json, sys
    from audioseek.index.service import Index
    index = Index(sys.argv[1])
    hits = index.search(sys.argv[2], k=10)
    print(json.dumps({
        "torch": "torch" in sys.modules,
        "onnx": index._onnx_text is not None and index._onnx_text is not False,
        "hits": [[h.file_id, h.score] for h in hits],
    }))
    """
)


@pytest.mark.slow
def test_search_uses_the_onnx_text_encoder_without_torch(tiny_model_dir, kit, tmp_path):
    lib = tmp_path / "lib"
    kit.make_library(lib, n=12, seconds=3.0)
    db = tmp_path / "db"
    with Index(db, model=str(tiny_model_dir), device="cpu") as index:
        index.add([lib], workers=0, progress=False)
    meta = json.loads((db / ONNX_TEXT_DIR / "onnx_text.json").read_text())
    with Store.open(db) as store:
        assert meta["fingerprint"] == store.get_meta("model_fingerprint")
    query = "a tone 700 over noise"
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(db), query], capture_output=True, text=True, check=True
    )
    child = json.loads(out.stdout.strip().splitlines()[-1])
    assert child["onnx"] and not child["torch"]
    with Index(db, model=str(tiny_model_dir), device="cpu") as index:
        _ = index.model  # loaded: the torch path
        ref = index.search(query, k=10)
    assert [h[0] for h in child["hits"]] == [h.file_id for h in ref]
    assert np.allclose([h[1] for h in child["hits"]], [h.score for h in ref], atol=1e-3)


def test_onnx_export_of_another_model_is_not_used(tiny_model_dir, kit, tmp_path):
    lib = tmp_path / "lib"
    kit.make_library(lib, n=2, seconds=2.0)
    db = tmp_path / "db"
    index_paths([lib], db, model=str(tiny_model_dir), device="cpu", workers=0)
    meta_path = db / ONNX_TEXT_DIR / "onnx_text.json"
    meta = json.loads(meta_path.read_text())
    meta["fingerprint"] = "0" * 64  # an export left by another model
    meta_path.write_text(json.dumps(meta))
    with Index(db, device="cpu") as index:
        index.search("tone 300", k=1)
        assert index._onnx_text is False and index._model is not None  # torch answered


def test_cli_precision_flags_parse():
    from audioseek.cli.main import build_parser

    parser = build_parser()
    for argv in (
        ["index", "lib", "--db", "d", "--precision", "int8"],
        ["search", "a dog", "--db", "d", "--precision", "int8"],
        ["similar", "f.wav", "--db", "d", "--precision", "int8"],
        ["serve", "--db", "d", "--precision", "int8"],
    ):
        assert parser.parse_args(argv).precision == "int8"
    assert parser.parse_args(["index", "lib", "--db", "d"]).workers is None  # auto
    with pytest.raises(SystemExit):
        parser.parse_args(["search", "a dog", "--db", "d", "--precision", "fp16"])
