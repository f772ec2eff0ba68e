import subprocess
import sys
import time

import pytest

from audioseek.cli import main


def test_help_is_fast_and_lists_commands():
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "audioseek.cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    elapsed = time.perf_counter() - t0
    for cmd in ["index", "search", "similar", "duplicates", "info", "serve", "train", "evaluate"]:
        assert cmd in out.stdout
    assert elapsed < 3.0  # generous for a loaded CI box; the real figure is ~0.1 s


def test_help_does_not_import_torch():
    code = (
        "import sys; from audioseek.cli import build_parser; build_parser(); "
        "print('torch' in sys.modules, 'transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_group_without_action_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        main(["data"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "audioseek data: error:" in err and "ACTION" in err
