"""``audioseek experiments``: the paper's grid end to end on synthetic Clotho-layout data
with tiny encoders, and the Table 5 report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audioseek.cli import main
from audioseek.errors import ConfigError
from audioseek.eval.report import (
    PAPER_TABLE5,
    format_value,
    markdown_table,
    paper_row,
    table5_comparison_rows,
)
from audioseek.experiments import find_configs

PAPER_CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "paper"


@pytest.fixture(scope="module")
def clotho_root(tmp_path_factory):
    from audioseek.data.synthetic import write_clotho_layout

    root = tmp_path_factory.mktemp("clotho")
    return write_clotho_layout(
        root, {"development": 2, "validation": 2, "evaluation": 7}, seed=3, sr=16000, duration=1.5
    )


@pytest.fixture(scope="module")
def small_cnn_weights(tmp_path_factory):
    """A small_cnn backbone state dict saved with torch.save (its real weights format), so
    a baseline run's heads-only export reloads exactly the encoder it was trained with."""
    import torch

    from audioseek.models.audio_encoders import SmallCNN

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("small_cnn") / "small_cnn.pt"
    torch.save(SmallCNN([4, 8]).state_dict(), path)
    return path


def tiny_overrides(text_dir, clotho_root, weights) -> list[str]:
    audio_args = (
        "{sample_rate: 16000, clip_seconds: 1.0, channels: [4, 8], n_mels: 16, "
        f"weights_path: '{weights}'}}"
    )
    text_args = "{pretrained: true, pooling: mean, max_length: 16}"
    return [
        "model.audio_encoder=small_cnn",
        f"model.audio_encoder_args={audio_args}",
        f"model.text_encoder={text_dir}",
        f"model.text_encoder_args={text_args}",
        "model.embed_dim=16",
        f"data.root={clotho_root}",
        "data.clip_seconds=1.0",
        "data.clotho_view=official",  # the paper configs re-split 60/20/20; the fixture is tiny
        "data.batch_size=4",
        "data.eval_batch_size=8",
        "data.num_workers=0",
        "trainer.max_epochs=1",
        "trainer.max_steps=2",
        "trainer.progress_bar=false",
        "logging.loggers=[csv]",
    ]


def test_paper_table5_data_is_the_papers():
    assert len(PAPER_TABLE5) == 8
    assert paper_row("cnn14_finetune") == {
        "model": "PANN (Fine-Tuned)",
        "mrr": 0.1294,
        "map@10": 0.0322,
        "recall@10": 0.3142,  # the paper defines its R@10 as the share of relevant found
    }
    assert paper_row("AudioCLIP")["recall@10"] is None
    assert format_value("mrr", 0.0411) == "0.0411"
    assert format_value("map@10", 0.0084) == "0.84%"
    assert format_value("r@10", None) == "N/A"
    md = markdown_table([dict(PAPER_TABLE5[0])])
    assert md.splitlines()[2] == "| ResNet (Baseline) | 0.0411 | 0.84% | 7.71% |"


def test_rich_table_has_the_same_cells():
    from rich.console import Console

    from audioseek.eval.report import results_rows, rich_table

    m = {"mrr": 0.04112, "map@10": 0.0084, "r@1": 0.01, "r@5": 0.05, "r@10": 0.0771}
    rows = results_rows({"text_to_audio": m, "audio_to_text": m}, "tiny")
    console = Console(record=True, width=120)
    console.print(rich_table(rows))
    text = console.export_text()
    for cell in (
        "MRR",
        "MAP@10",
        "Hit@10",
        "text->audio",
        "audio->text",
        "0.0411",
        "0.84%",
        "7.71%",
    ):
        assert cell in text


def test_every_paper_config_has_a_table5_row():
    configs = find_configs(PAPER_CONFIGS)
    assert len(configs) == 6
    assert all(paper_row(p.stem) is not None for p in configs)


def test_comparison_rows_put_the_paper_beside_ours():
    m = {"mrr": 0.5, "map@10": 0.4, "r@1": 0.3, "r@5": 0.6, "r@10": 0.9}
    rows = table5_comparison_rows(
        [{"name": "vit_b_16_baseline", "metrics": {"text_to_audio": m, "audio_to_text": m}}]
    )
    labels = [(r["model"], r["direction"]) for r in rows]
    assert labels[:3] == [
        ("ViT (Baseline) [ours]", "text->audio"),
        ("ViT (Baseline) [ours]", "audio->text"),
        ("ViT (Baseline) [paper]", "unstated"),
    ]
    assert ("MusCALL [paper]", "unstated") in labels
    assert len(rows) == 3 + 7  # ours x2, its paper row, the other 7 paper rows


def test_missing_or_empty_config_folder(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        find_configs(tmp_path / "nope")
    with pytest.raises(ConfigError, match="no .yaml configs"):
        find_configs(tmp_path)


@pytest.mark.parametrize("bad", ["trainer.max_steps", "optim.lrr=1", "model.x={bad"])
def test_bad_override_fails_before_any_run(tmp_path, capsys, bad):
    out = tmp_path / "grid"
    argv = ["experiments", str(PAPER_CONFIGS), "--out", str(out), "--set", bad]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    assert not out.exists()


def test_out_is_a_file_is_one_line_error(tmp_path, capsys):
    out = tmp_path / "afile"
    out.write_text("keep me")
    assert main(["experiments", str(PAPER_CONFIGS), "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: cannot create experiments folder") and "\n" not in err
    assert out.read_text() == "keep me"


@pytest.mark.slow
def test_experiments_grid_end_to_end(
    tiny_roberta_dir, clotho_root, small_cnn_weights, tmp_path, capsys
):
    out = tmp_path / "grid"
    argv = ["experiments", str(PAPER_CONFIGS), "--out", str(out), "--device", "cpu"]
    for o in tiny_overrides(tiny_roberta_dir, clotho_root, small_cnn_weights):
        argv += ["--set", o]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    for name in ("ResNet (Baseline) [ours]", "PANN (Fine-Tuned) [paper]", "AudioCLIP [paper]"):
        assert name in printed
    md = (out / "table5.md").read_text()
    assert "| ViT (Fine-Tuned) [ours] | text->audio |" in md
    assert "| PANN (Fine-Tuned) [paper] | unstated | 0.1294 | 3.22% | 31.42% |" in md
    # each of our runs' intervals, as the JSON records them
    assert "## How precise our numbers are" in md
    resnet = json.loads((out / "table5.json").read_text())["runs"][0]
    lo, hi = resnet["intervals"]["text_to_audio"]["r@10"]
    assert (
        f"| {resnet['name']} | text->audio |" in md and f"{100 * lo:.2f}% - {100 * hi:.2f}%" in md
    )
    data = json.loads((out / "table5.json").read_text())
    assert [r["name"] for r in data["runs"]] == sorted(p.stem for p in PAPER_CONFIGS.glob("*.yaml"))
    for run in data["runs"]:
        assert run["split"] == "evaluation" and run["n_clips"] == 7 and run["n_captions"] == 35
        assert run["options"] == {"version": "v2.1", "view": "official"}
        assert Path(run["model_dir"], "config.json").is_file()
        # full exports reproduce the trained model; a heads-only export that does not (see
        # check_reproduces_export) is replaced by the trained checkpoint, and recorded
        if run["name"].endswith("finetune"):
            assert run["evaluated"] == "export"
        else:
            assert run["evaluated"] == "export" or run["evaluated"].startswith("checkpoint ")
        for direction in ("text_to_audio", "audio_to_text"):
            vals = run["metrics"][direction]
            assert set(vals) == {"mrr", "map@10", "r@1", "r@5", "r@10"} | {
                "recall@1",
                "recall@5",
                "recall@10",
            }
            assert all(0.0 < v <= 1.0 for v in vals.values())
    png = (out / "table5.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    # re-running with the same configs and overrides reuses the finished runs
    before = {r["name"]: Path(r["model_dir"]).stat().st_mtime_ns for r in data["runs"]}
    assert main(argv) == 0
    after = json.loads((out / "table5.json").read_text())
    assert after["runs"] == data["runs"]
    assert {r["name"]: Path(r["model_dir"]).stat().st_mtime_ns for r in after["runs"]} == before


V21 = {"version": "v2.1", "view": "official"}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"source": "clotho", "root": "/d/clotho"}, ("clotho", "/d/clotho", "evaluation", V21)),
        (
            {"source": "clotho", "root": "/d/clotho", "clotho_view": "paper"},
            ("clotho", "/d/clotho", "test", {**V21, "view": "paper"}),
        ),
        (
            {"source": "clotho", "root": "/d/c", "clotho_version": "v1", "val_split": "evaluation"},
            ("clotho", "/d/c", "evaluation", {**V21, "version": "v1"}),
        ),
        ({"source": "audiocaps", "root": "/d/ac"}, ("audiocaps", "/d/ac", "test", {})),
        ({"source": "manifest", "root": "/d/m.csv"}, ("manifest", "/d/m.csv", "test", {})),
    ],
)
def test_each_data_source_is_tested_on_its_test_split(data, expected, tmp_path):
    from audioseek.experiments import config_test_split
    from audioseek.train.config import load_config

    cfg = load_config({"model": {"audio_encoder": "small_cnn", "text_encoder": "x"}, "data": data})
    assert config_test_split(cfg, tmp_path) == expected


@pytest.mark.slow
def test_clotho_v1_run_is_trained_and_tested_on_v1(tiny_roberta_dir, small_cnn_weights, tmp_path):
    """A clotho_version: v1 config trains on v1 and is evaluated on v1's test split (the
    version used to be dropped at evaluation, which then looked for v2.1's validation CSV)."""
    import yaml

    from audioseek.data.clotho import load_clotho
    from audioseek.data.synthetic import write_clotho_layout
    from audioseek.experiments import run_one

    v1 = write_clotho_layout(
        tmp_path / "clotho_v1",
        {"development": 6, "evaluation": 4},  # v1: no validation split
        seed=5,
        sr=16000,
        duration=1.0,
        encoding="utf-8",  # v1's CSVs are UTF-8
    )
    config = tmp_path / "v1.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model": {"audio_encoder": "small_cnn", "text_encoder": "minilm"},
                "data": {"source": "clotho", "clotho_version": "v1", "clotho_view": "paper"},
                "freeze": {"policy": "finetune", "audio_groups": "all"},
            }
        )
    )
    overrides = [
        o
        for o in tiny_overrides(tiny_roberta_dir, v1, small_cnn_weights)
        if not o.startswith(("data.root=", "data.clotho_view="))
    ]
    record = run_one(config, tmp_path / "out", [*overrides, f"data.root={v1}"], device="cpu")
    assert record["split"] == "test" and record["options"]["version"] == "v1"
    test = load_clotho(v1, "test", version="v1", view="paper")
    assert record["n_clips"] == len(test) == 2 and record["n_captions"] == 10
    assert Path(record["model_dir"], "config.json").is_file()
    assert all(0.0 <= v <= 1.0 for v in record["metrics"]["text_to_audio"].values())
    lo, hi = record["intervals"]["text_to_audio"]["map@10"]  # the sampling error beside it
    assert lo - 1e-9 <= record["metrics"]["text_to_audio"]["map@10"] <= hi + 1e-9
    # the run's validation split is v1's paper-view "val", never a v2.1 file
    assert record["validation"]["val/t2a_map10"] >= 0.0
