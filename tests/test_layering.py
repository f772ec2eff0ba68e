"""STYLE.md's layering, enforced: who may import whom inside the package."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "src" / "audioseek"

# package -> audioseek sub-packages it must never import
FORBIDDEN = {
    "audio": {"text", "data", "models", "train", "eval", "index", "serve", "cli"},
    "text": {"audio", "data", "models", "train", "eval", "index", "serve", "cli"},
    "models": {"data", "train", "eval", "index", "serve", "cli"},
    "eval": {"train", "index", "serve", "cli"},
    "index": {"train", "data", "eval", "serve", "cli"},
    "data": {"train", "index", "serve", "cli", "eval"},
    "train": {"index", "serve", "cli"},
    "serve": {"train", "cli"},
}
# no exceptions: the experiment grid (train + evaluate) is audioseek/experiments.py, an
# application above both packages, not a module of eval
ALLOWED: set[tuple[str, str]] = set()


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "audioseek" and len(parts) > 1:
                found.add(parts[1])
    return found


def test_layering():
    violations = []
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG)
        top = rel.parts[0] if len(rel.parts) > 1 else None
        if top not in FORBIDDEN:
            continue
        for target in _imports(path) & FORBIDDEN[top]:
            if (rel.as_posix(), target) not in ALLOWED:
                violations.append(f"{rel} imports audioseek.{target}")
    assert not violations, "\n".join(sorted(violations))


def test_eval_never_imports_train_even_lazily():
    """Imports inside functions count too (``_imports`` walks the whole tree)."""
    offenders = [
        str(p.relative_to(PKG)) for p in (PKG / "eval").rglob("*.py") if "train" in _imports(p)
    ]
    assert offenders == []
    assert not (PKG / "eval" / "experiments.py").exists()


def _in_cli(path: Path) -> bool:
    return path.relative_to(PKG).parts[0] == "cli"


def test_nothing_imports_cli():
    offenders = [
        str(p.relative_to(PKG))
        for p in PKG.rglob("*.py")
        if not _in_cli(p) and "cli" in _imports(p)
    ]
    assert offenders == []


def test_only_cli_parses_command_lines():
    """No library module takes an ``argparse.Namespace`` or builds a parser."""
    offenders = []
    for path in PKG.rglob("*.py"):
        if _in_cli(path):
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Import)
                and any(a.name == "argparse" for a in node.names)
                or isinstance(node, ast.ImportFrom)
                and node.module == "argparse"
            ):
                offenders.append(str(path.relative_to(PKG)))
    assert offenders == []
