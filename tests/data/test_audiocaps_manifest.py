"""AudioCaps CSV layout and generic CSV / JSONL manifests."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audioseek.data.audiocaps import load_audiocaps
from audioseek.data.manifest import load_manifest
from audioseek.errors import DatasetError


def _wav(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.zeros(400, np.float32), 8000)
    return path


def _csv(path: Path, header: list[str], rows: list[list]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


AC = ["audiocap_id", "youtube_id", "start_time", "caption"]


@pytest.fixture
def audiocaps(tmp_path) -> Path:
    # test split: 5 captions per clip; one clip named <youtube_id>_<start>, one <audiocap_id>
    rows = [[100 + i, "abcDEF12345", 30, f"a dog barks {i}"] for i in range(5)]
    rows += [[200 + i, "zzz-_9XYZab", 0, f"rain falls {i}"] for i in range(5)]
    _csv(tmp_path / "test.csv", AC, rows)
    _wav(tmp_path / "test" / "abcDEF12345_30.wav")
    _wav(tmp_path / "test" / "203.wav")
    # train split: 1 caption per clip; one clip missing
    _csv(tmp_path / "train.csv", AC, [[1, "trainclip01", "10.0", "a car passes"],
                                      [2, "missingclip", "20", "a bird sings"]])  # fmt: skip
    _wav(tmp_path / "train" / "trainclip01_10.wav")
    return tmp_path


def test_audiocaps_groups_captions_and_finds_both_names(audiocaps):
    items = load_audiocaps(audiocaps, "test")
    assert [it["item_id"] for it in items] == ["abcDEF12345_30", "zzz-_9XYZab_0"]
    assert items[0]["captions"] == [f"a dog barks {i}" for i in range(5)]
    assert items[1]["captions"] == [f"rain falls {i}" for i in range(5)]
    assert Path(items[1]["audio_path"]).name == "203.wav"
    assert all(it["split"] == "test" for it in items)


def test_audiocaps_missing_clips_skipped_or_strict(audiocaps, caplog):
    with caplog.at_level(logging.WARNING):
        items = load_audiocaps(audiocaps, "train")
    assert [it["item_id"] for it in items] == ["trainclip01_10"]  # "10.0" matches _10.wav
    assert "1 of 2 AudioCaps train clips" in caplog.text and "'missingclip_20'" in caplog.text
    with pytest.raises(DatasetError, match=r"1 of 2 AudioCaps train clips .* 'missingclip_20'"):
        load_audiocaps(audiocaps, "train", strict=True)


def test_audiocaps_errors(audiocaps):
    with pytest.raises(DatasetError) as e:
        load_audiocaps(audiocaps, "validation")
    assert (
        str(e.value)
        == "unknown AudioCaps split 'validation'; expected one of ('train', 'val', 'test')"
    )
    with pytest.raises(DatasetError, match=r"val\.csv"):
        load_audiocaps(audiocaps, "val")
    _csv(audiocaps / "val.csv", ["youtube_id", "start", "caption"], [["a", 1, "x"]])
    with pytest.raises(DatasetError) as e:
        load_audiocaps(audiocaps, "val")
    msg = str(e.value)
    assert "val.csv" in msg and "['audiocap_id', 'start_time']" in msg and "'start'" in msg


def test_manifest_csv_paths_captions_splits(tmp_path):
    _wav(tmp_path / "audio" / "a.wav")
    absolute = _wav(tmp_path / "elsewhere" / "b.wav")
    _wav(tmp_path / "audio" / "c.wav")
    rows = [
        ["audio/a.wav", "first a", "second a", "train"],
        [str(absolute), "only b", "", "test"],
        ["audio/c.wav", "first c", "second c", "train"],
    ]
    m = _csv(tmp_path / "manifest.csv", ["path", "caption_1", "caption_2", "split"], rows)
    items = load_manifest(m)
    assert [it["captions"] for it in items] == [
        ["first a", "second a"],
        ["only b"],
        ["first c", "second c"],
    ]
    assert items[0]["audio_path"] == str((tmp_path / "audio" / "a.wav").resolve())
    assert items[1]["audio_path"] == str(absolute)
    assert items[0]["item_id"] == "audio/a.wav"
    assert [it["item_id"] for it in load_manifest(m, split="train")] == [
        "audio/a.wav",
        "audio/c.wav",
    ]
    assert load_manifest(tmp_path) == items  # a folder holding manifest.csv
    with pytest.raises(DatasetError) as e:
        load_manifest(m, split="val")
    assert "has no rows with split 'val'; splits found: ['test', 'train']" in str(e.value)


def test_manifest_single_caption_column_and_no_split(tmp_path):
    _wav(tmp_path / "x.wav")
    m = _csv(tmp_path / "m.csv", ["path", "caption", "extra"], [["x.wav", "a hum", "ignored"]])
    (item,) = load_manifest(m)
    assert item["captions"] == ["a hum"] and item["split"] == ""
    with pytest.raises(DatasetError, match=r"has no 'split' column, so split 'train' cannot"):
        load_manifest(m, split="train")


def test_manifest_jsonl(tmp_path):
    _wav(tmp_path / "a.wav")
    _wav(tmp_path / "b.wav")
    lines = [
        {"path": "a.wav", "captions": ["one", "two"], "split": "train", "id": "A"},
        {"path": "b.wav", "caption": "three", "split": "val"},
    ]
    m = tmp_path / "m.jsonl"
    m.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    items = load_manifest(m)
    assert [(it["item_id"], it["captions"], it["split"]) for it in items] == [
        ("A", ["one", "two"], "train"),
        ("b.wav", ["three"], "val"),
    ]
    m.write_text(json.dumps({"file": "a.wav", "text": "x"}) + "\n")
    with pytest.raises(DatasetError) as e:
        load_manifest(m)
    assert "line 1 is missing key(s) ['path', 'caption / caption_N / captions']" in str(e.value)
    assert "keys found: ['file', 'text']" in str(e.value)
    m.write_text('{"path": "a.wav", "caption": "x"}\n{not json\n')
    with pytest.raises(DatasetError, match=r"line 2: invalid JSON"):
        load_manifest(m)
    m.write_text('{"path": "a.wav", "captions": "not a list"}\n')
    with pytest.raises(DatasetError, match=r"'captions' must be a list of strings"):
        load_manifest(m)


def test_manifest_bad_columns_named(tmp_path):
    m = _csv(tmp_path / "m.csv", ["file", "text", "split"], [["a.wav", "x", "train"]])
    with pytest.raises(DatasetError) as e:
        load_manifest(m)
    msg = str(e.value)
    assert repr(str(m)) in msg
    assert "['path', 'caption (or caption_1..caption_N)']" in msg
    assert "columns found: ['file', 'text', 'split']" in msg


def test_manifest_bad_rows(tmp_path):
    m = _csv(tmp_path / "m.csv", ["path", "caption"], [["gone.wav", "x"]])
    with pytest.raises(DatasetError, match=r"row 2: audio file not found: '.*gone\.wav'"):
        load_manifest(m)
    assert len(load_manifest(m, check_audio=False)) == 1
    _wav(tmp_path / "a.wav")
    _csv(m, ["path", "caption"], [["a.wav", "  "]])
    with pytest.raises(DatasetError, match=r"row 2: no caption for 'a.wav'"):
        load_manifest(m)
    _csv(m, ["path", "caption"], [["a.wav", "x"], ["a.wav", "y"]])
    with pytest.raises(DatasetError, match=r"row 3: duplicate item 'a.wav' \(first at row 2\)"):
        load_manifest(m)
    with pytest.raises(DatasetError, match=r"unsupported manifest format '\.txt'"):
        (tmp_path / "m.txt").write_text("path,caption\n")
        load_manifest(tmp_path / "m.txt")
    _csv(m, ["path", "caption"], [])
    with pytest.raises(DatasetError, match=r"m\.csv' lists no audio files"):
        load_manifest(m)
    with pytest.raises(DatasetError, match=r"manifest not found"):
        load_manifest(tmp_path / "none.csv")
