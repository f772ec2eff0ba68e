"""Table 5 report: both recall definitions labelled, the paper's R@10 under the paper's
definition, the validation-loss column, markdown / rich / PNG."""

from __future__ import annotations

import pytest

from audioseek.eval.metrics import bidirectional_metrics
from audioseek.eval.report import (
    column_title,
    legend,
    markdown_table,
    paper_row,
    run_val_loss,
    table5_comparison_rows,
)


def _metrics():
    import torch

    # 2 clips, 2 captions each; each clip's two captions rank 1st and 3rd of 4 for it
    audio = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    text = torch.nn.functional.normalize(
        torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0], [0.8, 0.6]]), dim=1
    )
    return bidirectional_metrics(audio, text, [0, 0, 1, 1])


def test_hit_rate_and_recall_are_separate_labelled_columns():
    m = _metrics()
    a2t = m["audio_to_text"]
    # clip 0: captions ranked 1 (caption 0) and 3 (caption 1 at 0.6, below caption 3 at 0.8)
    assert a2t["r@1"] == 1.0 and a2t["recall@1"] == pytest.approx(0.5)
    rows = table5_comparison_rows([{"name": "mine", "metrics": m}])
    md = markdown_table(rows)
    head = md.splitlines()[0]
    assert "| Recall@10 |" in head and "| Hit@10 |" in head and "| Hit@1 |" in head
    assert "R@10" not in head  # never the ambiguous name
    ours = next(ln for ln in md.splitlines() if ln.startswith("| mine | audio->text |"))
    cells = [c.strip() for c in ours.strip("|").split("|")]
    titles = [c.strip() for c in head.strip("|").split("|")]
    assert cells[titles.index("Hit@1")] == "100.00%"
    assert "- **Hit@K**: hit rate" in md and "- **Recall@K**: fraction of relevant found" in md
    assert column_title("r@5") == "Hit@5" and column_title("recall@5") == "Recall@5"


def test_the_papers_r10_is_its_recall_definition():
    row = paper_row("resnet50_baseline")
    assert row["recall@10"] == 0.0771 and "r@10" not in row
    md = markdown_table(table5_comparison_rows([]))
    head = [c.strip() for c in md.splitlines()[0].strip("|").split("|")]
    line = next(ln for ln in md.splitlines() if ln.startswith("| ResNet (Baseline) [paper]"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[head.index("Recall@10")] == "7.71%"
    assert "Hit@10" not in head  # the paper reports no hit rate


def test_validation_loss_column_when_a_run_records_it():
    m = _metrics()
    assert run_val_loss({"val_loss": 2.5}) == 2.5
    assert run_val_loss({"validation": {"val/loss": 3.25, "val/t2a_map10": 0.1}}) == 3.25
    assert run_val_loss({"validation": {}}) is None
    without = markdown_table(table5_comparison_rows([{"name": "a", "metrics": m}]))
    assert "Val loss" not in without
    rows = table5_comparison_rows(
        [
            {"name": "a", "metrics": m, "validation": {"val/loss": 3.25}},
            {"name": "b", "metrics": m},
        ]
    )
    md = markdown_table(rows)
    assert md.splitlines()[0].rstrip().endswith("| Val loss |")
    assert "| a | text->audio |" in md and md.count("| 3.250 |") == 2  # both directions
    b_line = next(ln for ln in md.splitlines() if ln.startswith("| b | text->audio |"))
    assert b_line.endswith("| N/A |")
    assert "- **Val loss**:" in md


def test_legend_has_one_line_per_metric_family():
    text = legend(["mrr", "map@10", "recall@10", "r@10", "r@1", "r@5"])
    assert [ln.split("**")[1] for ln in text.splitlines()] == ["MRR", "MAP@K", "Recall@K", "Hit@K"]
    assert markdown_table([{"model": "x", "mrr": 0.5}], with_legend=False).count("\n") == 3


def test_rich_table_and_png_carry_both_recalls(tmp_path):
    from rich.console import Console

    from audioseek.eval.report import bar_chart, results_rows, rich_table

    m = _metrics()
    console = Console(record=True, width=200)
    console.print(rich_table(results_rows(m, "tiny")))
    text = console.export_text()
    for cell in ("Recall@10", "Hit@10", "Hit@K: hit rate", "Recall@K: fraction"):
        assert cell in text
    runs = [{"name": "cnn14_finetune", "metrics": m, "validation": {"val/loss": 3.0}}]
    png = bar_chart(runs, tmp_path / "t5.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_intervals_table_lists_our_runs_and_skips_old_records():
    from audioseek.eval.report import intervals_table

    ci = {"mrr": [0.1, 0.2], "map@10": [0.05, 0.07], "r@10": [0.3, 0.4]}
    runs = [
        {"name": "a", "intervals": {"text_to_audio": ci, "audio_to_text": {"mrr": [0.2, 0.3]}}},
        {"name": "old"},  # recorded before intervals existed
    ]
    table = intervals_table(runs).splitlines()
    assert table[0] == "| Model | Direction | MRR | MAP@10 | Hit@10 |"
    assert table[2] == "| a | text->audio | 0.1000 - 0.2000 | 5.00% - 7.00% | 30.00% - 40.00% |"
    assert table[3] == "| a | audio->text | 0.2000 - 0.3000 | N/A | N/A |"
    assert len(table) == 4 and intervals_table([{"name": "old"}]) == ""
