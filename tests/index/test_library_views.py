"""Zero-shot tags, the library map and waveform peaks through ``audioseek.Index``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from audioseek import Index
from audioseek.errors import QueryError


@pytest.fixture
def library(tmp_path, band_model, kit):
    lib = tmp_path / "lib"
    for name, hz in [("Low/a.wav", 300), ("Low/b.wav", 320), ("High/c.wav", 3300)]:
        kit.write_wav(lib / name, kit.tone(hz, 2.0) + kit.noise(2.0))
    burst = np.zeros(8000 * 4, np.float32)
    burst[8000 * 3 : 8000 * 4] = kit.tone(1500, 1.0)
    kit.write_wav(lib / "High/late_burst.wav", burst)
    index = Index(tmp_path / "db", model=band_model)
    index.add([lib], window=2.0, hop=1.0, workers=0, progress=False)
    return lib, index


def _by_name(index, name):
    return next(h for h in index.search("tone 300", k=10, mode="audio") if h.path.endswith(name))


def test_tags_with_a_custom_vocabulary_are_stored_filterable_and_kept_current(
    library, tmp_path, kit
):
    lib, index = library
    labels = tmp_path / "labels.txt"
    labels.write_text("low: tone 300\nhigh: tone 3300\nmid: tone 1500\n")
    summary = index.tag(labels, top=1)
    assert summary.files_tagged == 4 and summary.labels == 3
    a = _by_name(index, "a.wav")
    assert [t.label for t in index.tags(a.file_id)] == ["tone 300"]
    c = _by_name(index, "c.wav")
    assert [t.label for t in index.tags(c.file_id)] == ["tone 3300"]
    assert {Path(h.path).name for h in index.search("tone 300", k=10, tag="low")} == {
        "a.wav",
        "b.wav",
    }
    # a new file is tagged by the next add with the recorded vocabulary
    kit.write_wav(lib / "High/d.wav", kit.tone(3300, 2.0))
    index.add([lib], progress=False, workers=0)
    d = _by_name(index, "d.wav")
    assert [t.label for t in index.tags(d.file_id)] == ["tone 3300"]
    with pytest.raises(QueryError, match="top must be"):
        index.tag(labels, top=0)


def test_bundled_vocabulary_tags_every_file(library):
    _, index = library
    summary = index.tag(top=3)
    assert summary.files_tagged == 4 and summary.labels > 100
    hit = index.search("tone 300", k=1, mode="audio")[0]
    assert len(hit.tags) == 3


def test_map_has_every_file_and_is_cached(library):
    _, index = library
    points = index.map()
    assert len(points) == 4 and all(0 <= p.x <= 1 and 0 <= p.y <= 1 for p in points)
    assert {p.group for p in points} == {"Low", "High"}  # folders colour an untagged library
    assert (Path(index.db) / "map.npz").exists()
    assert [(p.file_id, p.x, p.y) for p in index.map()] == [(p.file_id, p.x, p.y) for p in points]


def test_peaks_locate_the_sound(library):
    _, index = library
    hit = _by_name(index, "late_burst.wav")
    peaks = np.array(index.peaks(hit.file_id))
    assert peaks.shape[1] == 2 and len(peaks) > 8
    loud = np.flatnonzero(peaks[:, 1] > 0.1) / len(peaks)
    assert loud.min() >= 0.7  # the burst fills the last quarter of the file
    assert index.peaks(10**9) is None
