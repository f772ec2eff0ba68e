"""``make_dir``: creates nested folders; a file in the way is one ConfigError."""

from __future__ import annotations

import pytest

from audioseek.errors import ConfigError
from audioseek.utils.paths import make_dir


def test_creates_nested_and_accepts_existing(tmp_path):
    d = make_dir(tmp_path / "a" / "b")
    assert d.is_dir() and make_dir(d) == d


def test_file_in_the_way(tmp_path):
    f = tmp_path / "f"
    f.write_text("x")
    with pytest.raises(ConfigError, match=r"cannot create run folder '.*f'"):
        make_dir(f, "run folder")
    with pytest.raises(ConfigError, match="Not a directory"):
        make_dir(f / "sub")
    assert f.read_text() == "x"
