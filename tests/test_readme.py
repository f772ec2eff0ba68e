"""The README's Python API example runs as written (on generated audio)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

README = Path(__file__).resolve().parents[1] / "README.md"


def _api_example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Python API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.mark.slow
def test_readme_python_example_runs(tmp_path, monkeypatch):
    code = _api_example()
    samples = tmp_path / "samples"
    samples.mkdir()
    sr = 22050
    rng = np.random.default_rng(0)
    t = np.arange(sr) / sr
    kick = np.sin(2 * np.pi * 60 * t) * np.exp(-8 * t)
    snare = rng.standard_normal(sr) * np.exp(-20 * t) * 0.5
    pad = 0.2 * np.sin(2 * np.pi * 220 * np.arange(4 * sr) / sr)
    for name, wave in [("Heavy_Kick.wav", kick), ("Snare_Tight.wav", snare), ("Warm_Pad.wav", pad)]:
        sf.write(samples / name, wave.astype(np.float32), sr)
    sf.write(samples / "Heavy_Kick_copy.flac", kick.astype(np.float32), sr)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)  # noqa: S102  (the README's own code)
    assert namespace["summary"].embedded == 4
    hits = namespace["hits"]
    assert hits and Path(hits[0].path).name.startswith("Heavy_Kick")
    assert [Path(h.path).name for h in namespace["short"]] == ["Snare_Tight.wav"]
    assert namespace["info"].files == 4
    groups = namespace["groups"]  # the FLAC copy of the kick is the same recording
    assert [sorted(Path(f.path).name for f in g.files) for g in groups] == [
        ["Heavy_Kick.wav", "Heavy_Kick_copy.flac"]
    ]
    assert len(namespace["points"]) == 4
    assert tuple(namespace["text_vecs"].shape) == (2, 640)
    assert tuple(namespace["file_vecs"].shape) == (1, 640)
