"""Shared fixtures of the offline-model tests."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


@pytest.fixture(scope="module")
def import_script():
    """``import_script("offline_heads")``: a module of ``scripts/`` (which import each
    other by name), with ``scripts/`` on ``sys.path`` for the test module's duration."""
    sys.path.insert(0, str(SCRIPTS))
    try:
        yield importlib.import_module
    finally:
        sys.path.remove(str(SCRIPTS))
