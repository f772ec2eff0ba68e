"""Clotho loader on generated Clotho-layout folders (official splits, paper view, errors)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audioseek.data import AudioCaptionItem
from audioseek.data.clotho import PAPER_SPLITS, SPLITS, load_clotho, paper_split
from audioseek.data.synthetic import write_clotho_layout
from audioseek.errors import DatasetError

COUNTS = {"development": 12, "validation": 4, "evaluation": 4}


@pytest.fixture(scope="module")
def layout(tmp_path_factory) -> Path:
    return write_clotho_layout(
        tmp_path_factory.mktemp("clotho"), COUNTS, seed=1, sr=8000, duration=0.25
    )


def _write_split(root: Path, split: str, rows: list[list[str]], encoding: str, header=None):
    (root / split).mkdir(parents=True, exist_ok=True)
    header = header or ["file_name"] + [f"caption_{i}" for i in range(1, 6)]
    with open(root / f"clotho_captions_{split}.csv", "w", newline="", encoding=encoding) as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    for row in rows:
        sf.write(str(root / split / row[0]), np.zeros(800, np.float32), 8000)


def test_official_splits_read_the_layout(layout):
    for split, n in COUNTS.items():
        items = load_clotho(layout, split)
        assert len(items) == n
        for it in items:
            assert set(it) == set(AudioCaptionItem.__annotations__)
            assert it["split"] == split
            assert len(it["captions"]) == 5 and all(c.strip() for c in it["captions"])
            path = Path(it["audio_path"])
            assert path.is_absolute() and path.is_file()
            assert path.parent.name == split and path.name == it["item_id"]
    # the CSV rows are the files on disk, nothing more
    dev = {it["item_id"] for it in load_clotho(layout, "development")}
    assert dev == {p.name for p in (layout / "development").iterdir()}


@pytest.mark.parametrize("encoding", ["iso-8859-1", "utf-8", "utf-8-sig"])
def test_both_encodings(tmp_path, encoding):
    caps = ["a café door creaks", "naïve birds sing", "rain on a roof", "wind", "a crowd cheers"]
    _write_split(tmp_path, "evaluation", [["Café ambience.wav", *caps]], encoding)
    (item,) = load_clotho(tmp_path, "evaluation", version="v1")
    assert item["captions"] == caps
    assert item["item_id"] == "Café ambience.wav"
    assert Path(item["audio_path"]).is_file()


def test_paper_view_sizes_disjoint_deterministic(layout):
    views = {s: load_clotho(layout, s, view="paper") for s in PAPER_SPLITS}
    n = sum(COUNTS.values())  # 20 -> 12 / 4 / 4
    assert {s: len(v) for s, v in views.items()} == {"train": 12, "val": 4, "test": 4}
    ids = {s: {it["item_id"] for it in v} for s, v in views.items()}
    assert not ids["train"] & ids["val"] and not ids["train"] & ids["test"]
    assert not ids["val"] & ids["test"]
    assert len(ids["train"] | ids["val"] | ids["test"]) == n
    assert all(it["split"] == s for s, v in views.items() for it in v)
    assert load_clotho(layout, "val", view="paper") == views["val"]
    # a re-split, not the official order: the official dev set is not the paper's train
    dev = {it["item_id"] for it in load_clotho(layout, "development")}
    assert ids["train"] != dev


def test_paper_split_matches_table_3_and_ignores_input_order():
    items = [
        AudioCaptionItem(audio_path=f"/x/{i}.wav", captions=["c"], split="s", item_id=f"{i:04d}")
        for i in range(4981)
    ]
    parts = paper_split(items)
    assert [len(parts[s]) for s in PAPER_SPLITS] == [2989, 996, 996]  # the paper's Table 3
    shuffled = paper_split(list(reversed(items)))
    assert all(parts[s] == shuffled[s] for s in PAPER_SPLITS)
    assert paper_split(items, seed=1)["test"] != parts["test"]
    assert items[0]["split"] == "s"  # inputs are not modified


def test_bad_split_and_version_messages(layout):
    with pytest.raises(DatasetError) as e:
        load_clotho(layout, "train")
    assert str(e.value) == f"unknown Clotho split 'train'; expected one of {SPLITS}"
    with pytest.raises(DatasetError, match=r"Clotho v1 has no split 'validation'"):
        load_clotho(layout, "validation", version="v1")
    with pytest.raises(DatasetError, match=r"unknown Clotho version 'v3'"):
        load_clotho(layout, "development", version="v3")
    with pytest.raises(DatasetError, match=r"unknown split 'development' for Clotho's paper"):
        load_clotho(layout, "development", view="paper")
    with pytest.raises(DatasetError, match=r"unknown Clotho view 'random'"):
        load_clotho(layout, "development", view="random")


def test_missing_columns_named(tmp_path):
    header = ["file_name", "caption_1", "caption_2", "caption_3", "caption_4", "caption5"]
    _write_split(tmp_path, "development", [["a.wav", *"abcde"]], "utf-8", header=header)
    with pytest.raises(DatasetError) as e:
        load_clotho(tmp_path, "development")
    msg = str(e.value)
    assert "clotho_captions_development.csv" in msg
    assert "['caption_5']" in msg and "'caption5'" in msg  # missing, and what was found
    assert "\n" not in msg


def test_missing_audio_and_csv(tmp_path):
    rows = [[f"clip {i}.wav", *"abcde"] for i in range(3)]
    _write_split(tmp_path, "evaluation", rows, "iso-8859-1")
    (tmp_path / "evaluation" / "clip 1.wav").unlink()
    with pytest.raises(DatasetError) as e:
        load_clotho(tmp_path, "evaluation")
    assert "1 audio file(s)" in str(e.value) and "'clip 1.wav'" in str(e.value)
    # without the audio check the listed path is still returned
    assert len(load_clotho(tmp_path, "evaluation", check_audio=False)) == 3
    with pytest.raises(DatasetError, match=r"clotho_captions_development\.csv.*data download"):
        load_clotho(tmp_path, "development")
    _write_split(tmp_path, "validation", [], "utf-8")
    with pytest.raises(DatasetError, match=r"clotho_captions_validation\.csv' lists no clips"):
        load_clotho(tmp_path, "validation")
    with pytest.raises(DatasetError, match=r"root folder not found"):
        load_clotho(tmp_path / "nope", "development")


def test_empty_caption_and_duplicate_rows(tmp_path):
    _write_split(tmp_path, "evaluation", [["a.wav", "x", "", "y", "z", "w"]], "utf-8")
    with pytest.raises(DatasetError, match=r"row 2 \('a.wav'\): empty \['caption_2'\]"):
        load_clotho(tmp_path, "evaluation")
    _write_split(tmp_path, "evaluation", [["a.wav", *"abcde"], ["a.wav", *"fghij"]], "utf-8")
    with pytest.raises(DatasetError, match=r"row 3: duplicate file_name 'a.wav'"):
        load_clotho(tmp_path, "evaluation")


def test_v1_layout_and_paper_view(tmp_path):
    root = write_clotho_layout(
        tmp_path, {"development": 6, "evaluation": 4}, seed=2, sr=8000, duration=0.1
    )
    assert len(load_clotho(root, "development", version="v1")) == 6
    sizes = [len(load_clotho(root, s, version="v1", view="paper")) for s in PAPER_SPLITS]
    assert sizes == [6, 2, 2]
    # v2.1's paper view needs the validation split too
    with pytest.raises(DatasetError, match=r"clotho_captions_validation\.csv"):
        load_clotho(root, "train", view="paper")


def test_file_names_match_up_to_unicode_normalisation(tmp_path):
    import unicodedata

    nfc = "Caf\u00e9 door.wav"
    _write_split(tmp_path, "evaluation", [[nfc, *"abcde"]], "iso-8859-1")
    nfd = unicodedata.normalize("NFD", nfc)
    (tmp_path / "evaluation" / nfc).rename(tmp_path / "evaluation" / nfd)
    (item,) = load_clotho(tmp_path, "evaluation")
    assert Path(item["audio_path"]).name == nfd and item["item_id"] == nfc
