"""``audioseek evaluate`` reads its data through the data-source registry: the Clotho version
is passed through (v1 has no validation split), and the default split is the source's test
split."""

from __future__ import annotations

import json

import pytest

from audioseek.cli import main


@pytest.fixture(scope="module")
def clotho_v1(tmp_path_factory):
    from audioseek.data.synthetic import write_clotho_layout

    root = tmp_path_factory.mktemp("clotho_v1")
    return write_clotho_layout(
        root, {"development": 3, "evaluation": 4}, seed=2, sr=16000, duration=1.0, encoding="utf-8"
    )


def _evaluate(model_dir, root, tmp_path, *extra):
    out = tmp_path / "res.json"
    argv = ["evaluate", "--model", str(model_dir), "--data", "clotho", "--root", str(root)]
    code = main([*argv, *extra, "--batch-size", "4", "--device", "cpu", "--json", str(out)])
    return code, (json.loads(out.read_text()) if code == 0 else None)


def test_evaluate_clotho_v1_default_and_paper_split(tiny_model_dir, clotho_v1, tmp_path, capsys):
    from audioseek.data.clotho import load_clotho

    code, res = _evaluate(tiny_model_dir, clotho_v1, tmp_path, "--clotho-version", "v1")
    assert code == 0
    assert res["split"] == "evaluation" and res["n_clips"] == 4  # the default test split
    assert res["extra"]["options"] == {"version": "v1"}
    code, res = _evaluate(
        tiny_model_dir, clotho_v1, tmp_path, "--clotho-version", "v1", "--split", "test"
    )
    assert code == 0
    want = load_clotho(clotho_v1, "test", version="v1", view="paper")
    assert res["split"] == "test" and res["n_clips"] == len(want)
    capsys.readouterr()
    # without the version, the paper view pools v2.1's splits: one error line naming the file
    code, _ = _evaluate(tiny_model_dir, clotho_v1, tmp_path, "--split", "test")
    err = capsys.readouterr().err.strip()
    assert code == 1 and "clotho_captions_validation.csv" in err and "\n" not in err
