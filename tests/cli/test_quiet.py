"""No third-party noise on the terminal: transformers' "Loading weights 0/N ... N/N" bar and
Hugging Face advisory warnings are off while a command runs, and back with -v."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import pytest

from audioseek.cli.common import quiet_third_party

LOAD = """
import sys
from audioseek.cli.common import quiet_third_party
with quiet_third_party(enabled=sys.argv[2] == "quiet"):
    from transformers import AutoModel
    AutoModel.from_pretrained(sys.argv[1])
print("loaded")
"""


@pytest.mark.slow  # two subprocesses importing transformers
@pytest.mark.parametrize(("mode", "bar"), [("quiet", False), ("verbose", True)])
def test_first_model_load_in_a_fresh_process(tiny_roberta_dir, mode, bar):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_HUB_DISABLE", "TRANSF"))}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    proc = subprocess.run(
        [sys.executable, "-c", LOAD, str(tiny_roberta_dir), mode],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0 and proc.stdout == "loaded\n", proc.stderr[-2000:]
    assert ("Loading weights" in proc.stderr) is bar, proc.stderr[-2000:]
    if not bar:
        assert proc.stderr == ""


def test_already_imported_transformers_is_switched_and_restored(tiny_roberta_dir, capfd):
    from transformers import AutoModel
    from transformers.utils import logging as tf_logging

    with warnings.catch_warnings():  # the state transformers starts in, whatever ran before
        warnings.simplefilter("ignore")
        tf_logging.enable_progress_bar()
    verbosity = tf_logging.get_verbosity()
    before = {
        k: os.environ.get(k) for k in ("HF_HUB_DISABLE_PROGRESS_BARS", "TRANSFORMERS_VERBOSITY")
    }
    with quiet_third_party():
        assert not tf_logging.is_progress_bar_enabled()
        assert tf_logging.get_verbosity() == tf_logging.ERROR
        AutoModel.from_pretrained(str(tiny_roberta_dir))
    assert "Loading weights" not in capfd.readouterr().err
    assert tf_logging.is_progress_bar_enabled() and tf_logging.get_verbosity() == verbosity
    assert {k: os.environ.get(k) for k in before} == before

    AutoModel.from_pretrained(str(tiny_roberta_dir))  # the test can fail: the bar is real
    assert "Loading weights" in capfd.readouterr().err


def test_a_user_setting_wins(monkeypatch):
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "0")
    monkeypatch.setenv("TRANSFORMERS_VERBOSITY", "info")
    with quiet_third_party():
        assert os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "0"
        assert os.environ["TRANSFORMERS_VERBOSITY"] == "info"
    assert os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "0"
