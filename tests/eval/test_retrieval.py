"""``audioseek evaluate`` on a generated Clotho-layout folder with a tiny saved model."""

from __future__ import annotations

import json
import logging

import pytest
import torch

from audioseek.cli import main
from audioseek.data.clotho import load_clotho
from audioseek.errors import DatasetError
from audioseek.eval.metrics import retrieval_metrics
from audioseek.eval.retrieval import evaluate_model, load_eval_items
from audioseek.models.dual_encoder import DualEncoder


def reference_metrics(model, items):
    """Embed each clip and each caption on its own (no batching), score, naive relevance."""
    from audioseek.audio.io import load_audio
    from audioseek.audio.windows import pad_or_crop_center

    n = int(round(model.clip_seconds * model.sample_rate))
    with torch.inference_mode():
        audio = torch.cat(
            [
                model.encode_audio(
                    torch.from_numpy(
                        pad_or_crop_center(load_audio(it["audio_path"], model.sample_rate), n)
                    )[None]
                )
                for it in items
            ]
        )
        caps = [(c, i) for i, it in enumerate(items) for c in it["captions"]]
        text = torch.cat([model.encode_text([c]) for c, _ in caps])
    scores = (text @ audio.T).numpy()
    t2a = retrieval_metrics(scores, [{i} for _, i in caps])
    a2t = retrieval_metrics(
        scores.T, [{t for t, (_, i) in enumerate(caps) if i == a} for a in range(len(items))]
    )
    return {"text_to_audio": t2a, "audio_to_text": a2t}


def assert_metrics_close(got, want, tol=1e-5):
    for direction in ("text_to_audio", "audio_to_text"):
        for k, v in want[direction].items():
            assert got[direction][k] == pytest.approx(v, abs=tol), (direction, k)


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    return DualEncoder.from_pretrained(tiny_model_dir, device="cpu")


@pytest.fixture(scope="module")
def reference(model, clotho_root):
    return reference_metrics(model, load_clotho(clotho_root, "evaluation"))


def test_evaluate_model_matches_unbatched_reference(model, clotho_root, reference):
    items = load_clotho(clotho_root, "evaluation")
    res = evaluate_model(model, items, batch_size=3, device="cpu", progress=False)
    assert res.n_clips == 7 and res.n_captions == 35
    assert res.oom_retries == 0 and res.final_batch_size == 3
    assert_metrics_close(res.metrics, reference)
    assert all(0 <= v <= 1 for d in res.metrics.values() for v in d.values())
    # every number has its sampling interval around it (7 clips: wide, but around it)
    assert set(res.intervals) == set(res.metrics)
    for direction, ci in res.intervals.items():
        assert set(ci) == set(res.metrics[direction])
        for key, (lo, hi) in ci.items():
            value = res.metrics[direction][key]
            assert 0 <= lo <= value + 1e-9 and value - 1e-9 <= hi <= 1
    again = evaluate_model(model, items, batch_size=32, device="cpu", progress=False)
    assert_metrics_close(again.metrics, res.metrics)  # batch size does not matter
    assert again.intervals == res.intervals


def test_out_of_memory_halves_the_batch_and_says_so(model, clotho_root, caplog, monkeypatch):
    items = load_clotho(clotho_root, "evaluation")
    want = evaluate_model(model, items, batch_size=4, device="cpu", progress=False).metrics
    real = model.encode_audio

    def picky(waves, normalize=True):
        if waves.shape[0] > 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(waves, normalize)

    monkeypatch.setattr(model, "encode_audio", picky)
    with caplog.at_level(logging.WARNING):
        res = evaluate_model(model, items, batch_size=4, device="cpu", progress=False)
    assert res.oom_retries == 1 and res.final_batch_size == 2
    oom = [r for r in caplog.records if "retrying with batch size 2" in r.getMessage()]
    assert len(oom) == 1
    assert_metrics_close(res.metrics, want)


def test_cli_prints_table5_and_writes_json(
    tiny_model_dir, clotho_root, tmp_path, capsys, reference
):
    out = tmp_path / "deep" / "res.json"
    argv = ["evaluate", "--model", str(tiny_model_dir), "--data", "clotho"]
    argv += ["--root", str(clotho_root), "--split", "evaluation", "--batch-size", "4"]
    assert main([*argv, "--json", str(out), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    lines = [ln for ln in printed.splitlines() if ln.startswith("|")]
    header = "|Model|Direction|MRR|MAP@10|Recall@10|Hit@10|Hit@1|Hit@5|"
    assert lines[0].replace(" ", "") == header
    assert "text->audio" in lines[2] and "audio->text" in lines[3]
    assert "7 clips, 35 captions" in printed
    data = json.loads(out.read_text())
    assert data["n_clips"] == 7 and data["n_captions"] == 35
    assert data["data"] == "clotho" and data["split"] == "evaluation"
    assert_metrics_close(data["metrics"], reference)
    labels = data["metric_definitions"]  # both recall definitions, labelled
    assert "at least one relevant" in labels["r@10"] and "relevant found" in labels["recall@10"]
    # the printed numbers are the JSON's, formatted like the paper
    cells = [c.strip() for c in lines[2].strip("|").split("|")]
    t2a = data["metrics"]["text_to_audio"]
    assert cells[2] == f"{t2a['mrr']:.4f}"
    assert cells[3] == f"{100 * t2a['map@10']:.2f}%"
    assert cells[4] == f"{100 * t2a['recall@10']:.2f}%"
    assert cells[5] == f"{100 * t2a['r@10']:.2f}%"
    lo, hi = data["intervals"]["text_to_audio"]["map@10"]
    line = [ln for ln in printed.splitlines() if ln.startswith("95% interval")][0]
    assert "text->audio" in line and f"map@10 {lo:.3f}-{hi:.3f}" in line


def test_manifest_split_selection(tmp_path):
    from audioseek.data.synthetic import write_synthetic_manifest

    path = write_synthetic_manifest(
        tmp_path, 6, seed=0, sr=8000, duration=0.5, splits=(("train", 0.5), ("test", 0.5))
    )
    test_items = load_eval_items("manifest", path, "test")
    assert test_items and all(it["split"] == "test" for it in test_items)
    with pytest.raises(DatasetError, match="no rows with split 'evaluation'"):
        load_eval_items("manifest", path, "evaluation")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--root", "/nonexistent/clotho"], "/nonexistent/clotho"),
        (["--split", "training"], "'training'"),
        (["--batch-size", "0"], "--batch-size"),
    ],
)
def test_cli_bad_input_is_one_line_error(tiny_model_dir, clotho_root, capsys, extra, message):
    argv = [
        "evaluate",
        "--model",
        str(tiny_model_dir),
        "--data",
        "clotho",
        "--root",
        str(clotho_root),
    ]
    assert main([*argv, *extra, "--device", "cpu"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err
    assert len(err.splitlines()) == 1


def test_cli_missing_model_and_json_dir(clotho_root, tmp_path, capsys, tiny_model_dir):
    argv = ["evaluate", "--data", "clotho", "--root", str(clotho_root), "--device", "cpu"]
    assert main([*argv, "--model", str(tmp_path / "nomodel")]) == 1
    assert "nomodel" in capsys.readouterr().err
    assert main([*argv, "--model", str(tiny_model_dir), "--json", str(tmp_path)]) == 1
    assert "is a directory" in capsys.readouterr().err
    (tmp_path / "afile").write_text("keep me")
    json_out = tmp_path / "afile" / "out.json"
    assert main([*argv, "--model", str(tiny_model_dir), "--json", str(json_out)]) == 1
    err = capsys.readouterr().err
    assert "error: cannot create folder for --json" in err and len(err.splitlines()) == 1


def test_a_heads_only_export_of_a_random_encoder_is_refused(
    tiny_text_dir, clotho_root, tmp_path, capsys
):
    """Loading re-initialises a random encoder: evaluating it would score another model."""
    from audioseek.models.factory import build_model

    from .conftest import tiny_model_config

    torch.manual_seed(1)
    build_model(tiny_model_config(tiny_text_dir)).save_pretrained(tmp_path / "m", heads_only=True)
    argv = ["evaluate", "--model", str(tmp_path / "m"), "--data", "clotho"]
    assert main([*argv, "--root", str(clotho_root), "--device", "cpu"]) == 1
    assert "does not reproduce the weights it was saved with" in capsys.readouterr().err
