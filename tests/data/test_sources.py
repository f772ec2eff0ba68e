"""The data-source registry: one loader and one split rule for training, evaluation and
experiments."""

from __future__ import annotations

import csv

import pytest

from audioseek.data.sources import (
    Splits,
    default_splits,
    load_split,
    register_source,
    source_names,
    test_split,
)
from audioseek.errors import ConfigError, DatasetError


def _write_wav(path, seconds=0.2, sr=8000):
    import numpy as np
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.zeros(int(seconds * sr), dtype="float32"), sr)


def _manifest(tmp_path, with_split: bool):
    rows = [
        ("a.wav", "one", "train"),
        ("d.wav", "four", "train"),
        ("b.wav", "two", "val"),
        ("c.wav", "three", "test"),
    ]
    path = tmp_path / ("split.csv" if with_split else "plain.csv")
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "caption", "split"] if with_split else ["path", "caption"])
        for name, cap, split in rows:
            _write_wav(tmp_path / name)
            w.writerow([name, cap, split] if with_split else [name, cap])
    return path


def test_registered_sources_and_their_default_splits():
    assert {"clotho", "audiocaps", "manifest", "synthetic"} <= set(source_names())
    assert default_splits("clotho") == Splits("development", "validation", "evaluation")
    assert default_splits("clotho", version="v2.1", view="paper") == Splits("train", "val", "test")
    # Clotho v1 has no validation split: no default, and the paper view pools what it has
    assert default_splits("clotho", version="v1") == Splits("development", None, "evaluation")
    assert default_splits("clotho", version="v1", view="paper") == Splits("train", "val", "test")
    assert default_splits("audiocaps") == Splits("train", "val", "test")
    assert default_splits("synthetic").test == "val"  # no test split: the held-out clips


def test_unknown_source_option_and_version_are_one_line_errors():
    with pytest.raises(ConfigError, match=r"unknown data source 'clothoo'"):
        default_splits("clothoo")
    with pytest.raises(ConfigError, match=r"source 'audiocaps' takes no option 'version'"):
        default_splits("audiocaps", version="v1")
    with pytest.raises(ConfigError, match=r"unknown Clotho version 'v3'"):
        default_splits("clotho", version="v3")
    with pytest.raises(ValueError, match="already registered"):
        register_source("clotho", splits=lambda: Splits("a", "b", "c"))(lambda root, split: [])


def test_clotho_version_is_passed_through(tmp_path):
    from audioseek.data.synthetic import write_clotho_layout

    root = write_clotho_layout(
        tmp_path, {"development": 3, "evaluation": 2}, sr=8000, duration=0.3, encoding="utf-8"
    )
    assert len(load_split("clotho", root, "evaluation", version="v1")) == 2
    paper = [load_split("clotho", root, s, version="v1") for s in ("train", "val", "test")]
    assert sorted(it["item_id"] for part in paper for it in part) == sorted(
        it["item_id"]
        for s in ("development", "evaluation")
        for it in load_split("clotho", root, s, version="v1")
    )
    # v2.1 pools validation too, which this v1 layout does not have
    with pytest.raises(DatasetError, match="clotho_captions_validation.csv"):
        load_split("clotho", root, "test", version="v2.1")


def test_manifest_split_rule_is_the_same_for_training_and_evaluation(tmp_path):
    """A manifest without a split column is one unsplit pool: asking it for a named split
    is an error in training and in evaluation; its default test split is the whole file."""
    from audioseek.eval.retrieval import load_eval_items
    from audioseek.train.config import load_config
    from audioseek.train.datamodule import load_items

    plain = _manifest(tmp_path, with_split=False)
    split = _manifest(tmp_path, with_split=True)
    model = {"audio_encoder": "small_cnn", "text_encoder": "minilm"}

    # evaluation
    assert len(load_eval_items("manifest", plain)) == 4  # default: the whole file
    assert test_split("manifest", plain) is None
    with pytest.raises(DatasetError, match=r"has no 'split' column, so split 'test' cannot"):
        load_eval_items("manifest", plain, "test")
    assert [it["item_id"] for it in load_eval_items("manifest", split)] == ["c.wav"]

    # training
    cfg = load_config({"model": model, "data": {"source": "manifest", "root": str(plain)}})
    with pytest.raises(DatasetError, match=r"no 'split' column.*data\.val_manifest"):
        load_items(cfg.data, tmp_path)
    cfg = load_config(
        {
            "model": model,
            "data": {"source": "manifest", "root": str(plain), "val_manifest": str(split)},
        }
    )
    train, val = load_items(cfg.data, tmp_path)
    assert len(train) == 4 and len(val) == 4  # both whole files
    cfg = load_config({"model": model, "data": {"source": "manifest", "root": str(split)}})
    train, val = load_items(cfg.data, tmp_path)
    assert [it["item_id"] for it in train] == ["a.wav", "d.wav"]
    assert [it["item_id"] for it in val] == ["b.wav"]


def test_training_refuses_clotho_v1_without_a_validation_split():
    from audioseek.train.config import load_config

    model = {"audio_encoder": "small_cnn", "text_encoder": "minilm"}
    data = {"source": "clotho", "root": "/d", "clotho_version": "v1"}
    with pytest.raises(ConfigError, match=r"Clotho v1 has no validation split"):
        load_config({"model": model, "data": data})
    assert load_config({"model": model, "data": {**data, "clotho_view": "paper"}})
    assert load_config({"model": model, "data": {**data, "val_split": "evaluation"}})


def test_synthetic_source_writes_once_and_splits(tmp_path):
    opts = {"n_clips": 8, "val_fraction": 0.25, "sample_rate": 8000, "duration": 0.3, "seed": 1}
    train = load_split("synthetic", tmp_path, "train", **opts)
    val = load_split("synthetic", tmp_path, "val", **opts)
    assert len(train) == 6 and len(val) == 2
    assert not {it["item_id"] for it in train} & {it["item_id"] for it in val}
    manifests = list(tmp_path.rglob("manifest.csv"))
    mtime = manifests[0].stat().st_mtime_ns
    load_split("synthetic", tmp_path, "train", **opts)
    assert len(manifests) == 1 and manifests[0].stat().st_mtime_ns == mtime
