"""A model loaded for audio only (``text=False``, what Ray's embedding actors load) cannot
build an index: the index would record a fingerprint no whole model matches and could never
be searched by text."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from audioseek import Index
from audioseek.errors import ConfigError
from audioseek.models.dual_encoder import DualEncoder


def test_indexing_with_an_audio_only_model_is_one_error_and_writes_nothing(
    tmp_path, tiny_model_dir
):
    lib = tmp_path / "lib"
    lib.mkdir()
    rng = np.random.default_rng(0)
    sf.write(lib / "noise.wav", (0.1 * rng.standard_normal(16000)).astype(np.float32), 16000)
    audio_only = DualEncoder.from_pretrained(tiny_model_dir, text=False)
    with pytest.raises(ConfigError, match="audio only"):
        Index(tmp_path / "db", model=audio_only, device="cpu").add([lib], workers=0, progress=False)
    assert not (tmp_path / "db" / "index.sqlite").exists()
    whole = Index(tmp_path / "db", model=str(tiny_model_dir), device="cpu")
    assert whole.add([lib], workers=0, progress=False).embedded == 1
