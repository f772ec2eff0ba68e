"""FolderLock: one holder per folder, a pid in the message, nothing followed through a
symlink."""

from __future__ import annotations

import os

import pytest

from audioseek.utils.locks import FolderLock


class Busy(Exception):
    pass


def _lock(folder):
    return FolderLock(
        folder, "x.lock", busy="busy {folder} pid {pid}", cannot="cannot {reason}", error=Busy
    )


def test_second_holder_fails_naming_the_first_and_release_frees_it(tmp_path):
    with _lock(tmp_path):
        assert (tmp_path / "x.lock").read_text() == f"{os.getpid()}\n"
        with pytest.raises(Busy, match=f"busy '{tmp_path}' pid {os.getpid()}"):
            _lock(tmp_path).acquire()
    assert (tmp_path / "x.lock").read_text() == ""
    with _lock(tmp_path):  # free again
        pass


def test_a_lock_file_swapped_for_a_symlink_is_refused_and_its_target_kept(tmp_path):
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me\n")
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "x.lock").symlink_to(victim)
    with pytest.raises(Busy, match="cannot"):
        _lock(folder).acquire()
    assert victim.read_text() == "keep me\n"
