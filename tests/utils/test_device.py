"""``resolve_device``: auto picks a real device; bad names are one-line ConfigErrors."""

from __future__ import annotations

import pytest
import torch

from audioseek.errors import ConfigError
from audioseek.utils.device import resolve_device


def test_cpu():
    assert resolve_device("cpu") == torch.device("cpu")


def test_auto_picks_cuda_when_available(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device(None) == torch.device("cuda")
    assert resolve_device("cuda:1") == torch.device("cuda:1")


def test_auto_picks_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("mps")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")


@pytest.mark.parametrize("bad", ["bogus", "cpu:x", "cuda:-1:2"])
def test_unknown_device_names_value_and_choices(bad):
    with pytest.raises(ConfigError) as e:
        resolve_device(bad)
    msg = str(e.value)
    assert repr(bad) in msg and "expected auto, cpu, cuda" in msg and "\n" not in msg


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda():
    with pytest.raises(ConfigError, match="'cuda:1'.*not available"):
        resolve_device("cuda:1")
