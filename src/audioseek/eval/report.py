"""Table 5 of the paper as data, and retrieval tables as markdown, rich and JSON.

The paper ("Good, Fast, Cheap", Table 5) reports MRR, MAP@10 and R@10 on Clotho's test
set for six runs and two reference models, without saying which retrieval direction the
numbers are for; we therefore report both directions next to them. MRR is printed as a
fraction (0.0411), MAP@10 and R@K as percentages (0.84%), as in the paper.

Note on the paper's numbers: for ViT, MAP@10 (10.92%, 13.15%) exceeds R@10 (8.21%,
7.84%). Under our definitions that is impossible (AP@10 of a query is 0 unless a relevant
item is in the top 10, and at most 1), in either direction. It is possible if R@10 means
the fraction of the 5 relevant captions retrieved and AP@10 is normalised by the number
found (torchmetrics' ``RetrievalRecall`` / ``RetrievalMAP`` on audio->text), so the paper's
columns are probably not the DCASE definitions; compare with care.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from audioseek.errors import ConfigError

#: Column keys in the paper's order, then the extra recalls we add.
TABLE5_COLUMNS = ("mrr", "map@10", "r@10", "r@1", "r@5")
COLUMN_TITLES = {"mrr": "MRR", "map@10": "MAP@10", "r@1": "R@1", "r@5": "R@5", "r@10": "R@10"}
DIRECTIONS = {"text_to_audio": "text->audio", "audio_to_text": "audio->text"}

#: The paper's Table 5 exactly as printed (fractions; None where the paper says N/A).
PAPER_TABLE5: tuple[dict, ...] = (
    {"model": "ResNet (Baseline)", "mrr": 0.0411, "map@10": 0.0084, "r@10": 0.0771},
    {"model": "ResNet (Fine-Tuned)", "mrr": 0.0391, "map@10": 0.0085, "r@10": 0.0786},
    {"model": "ViT (Baseline)", "mrr": 0.0294, "map@10": 0.1092, "r@10": 0.0821},
    {"model": "ViT (Fine-Tuned)", "mrr": 0.0297, "map@10": 0.1315, "r@10": 0.0784},
    {"model": "PANN (Baseline)", "mrr": 0.0262, "map@10": 0.0309, "r@10": 0.1942},
    {"model": "PANN (Fine-Tuned)", "mrr": 0.1294, "map@10": 0.0322, "r@10": 0.3142},
    {"model": "MusCALL", "mrr": None, "map@10": 0.360, "r@10": 0.633},
    {"model": "AudioCLIP", "mrr": None, "map@10": 0.3079, "r@10": None},
)

#: Our paper configs (configs/paper/<stem>.yaml) -> the Table 5 row they reproduce.
CONFIG_TO_PAPER_ROW = {
    "resnet50_baseline": "ResNet (Baseline)",
    "resnet50_finetune": "ResNet (Fine-Tuned)",
    "vit_b_16_baseline": "ViT (Baseline)",
    "vit_b_16_finetune": "ViT (Fine-Tuned)",
    "cnn14_baseline": "PANN (Baseline)",
    "cnn14_finetune": "PANN (Fine-Tuned)",
}


def paper_row(model: str) -> dict | None:
    """The paper's Table 5 row for a row label or a config stem, or None."""
    label = CONFIG_TO_PAPER_ROW.get(model, model)
    for row in PAPER_TABLE5:
        if row["model"] == label:
            return row
    return None


def format_value(key: str, value) -> str:
    """MRR as a 4-decimal fraction, the others as percentages with 2 decimals; N/A for None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "N/A"
    if key == "mrr":
        return f"{value:.4f}"
    return f"{100 * value:.2f}%"


def results_rows(
    metrics: Mapping[str, Mapping[str, float]], model: str, source: str = "ours"
) -> list[dict]:
    """One row per direction from ``bidirectional_metrics`` output."""
    rows = []
    for key, label in DIRECTIONS.items():
        if key in metrics:
            rows.append({"model": model, "direction": label, "source": source, **metrics[key]})
    return rows


def _columns(rows: Sequence[Mapping], columns: Sequence[str]) -> list[str]:
    return [c for c in columns if any(c in r for r in rows)]


def markdown_table(
    rows: Sequence[Mapping],
    columns: Sequence[str] = TABLE5_COLUMNS,
    label_columns: Sequence[str] = ("model", "direction"),
) -> str:
    """A GitHub markdown table: label columns, then metric columns formatted like Table 5."""
    labels = [c for c in label_columns if any(c in r for r in rows)]
    metrics = _columns(rows, columns)
    head = [c.capitalize() for c in labels] + [COLUMN_TITLES.get(c, c) for c in metrics]
    lines = [
        "| " + " | ".join(head) + " |",
        "|" + "|".join(["---"] * len(labels) + ["---:"] * len(metrics)) + "|",
    ]
    for r in rows:
        cells = [str(r.get(c, "")) for c in labels]
        cells += [format_value(c, r.get(c)) for c in metrics]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def rich_table(
    rows: Sequence[Mapping],
    columns: Sequence[str] = TABLE5_COLUMNS,
    label_columns: Sequence[str] = ("model", "direction"),
    title: str | None = None,
):
    """The same table as a ``rich.table.Table`` for terminals."""
    from rich.table import Table

    labels = [c for c in label_columns if any(c in r for r in rows)]
    metrics = _columns(rows, columns)
    table = Table(title=title)
    for c in labels:
        table.add_column(c.capitalize())
    for c in metrics:
        table.add_column(COLUMN_TITLES.get(c, c), justify="right")
    for r in rows:
        table.add_row(
            *[str(r.get(c, "")) for c in labels], *[format_value(c, r.get(c)) for c in metrics]
        )
    return table


def write_json(path: str | Path, data) -> Path:
    """Write ``data`` as indented JSON atomically (temp file + rename); parents created."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise ConfigError(f"JSON output {str(path)!r} is a directory; give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=False)
            f.write("\n")
        os.replace(tmp, path)
    except OSError as e:
        raise ConfigError(f"cannot write {str(path)!r}: {e.strerror or e}") from None
    return path


def write_text(path: str | Path, text: str) -> Path:
    path = Path(path).expanduser()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as e:
        raise ConfigError(f"cannot write {str(path)!r}: {e.strerror or e}") from None
    return path


def table5_comparison_rows(ours: Sequence[Mapping]) -> list[dict]:
    """Rows for the combined table: for each of our runs its two directions, followed by the
    paper's reported row for the same configuration (direction "paper (unstated)")."""
    rows: list[dict] = []
    for run in ours:
        name = run["name"]
        label = CONFIG_TO_PAPER_ROW.get(name, name)
        for r in results_rows(run["metrics"], f"{label} [ours]" if label != name else name):
            rows.append(r)
        paper = paper_row(name)
        if paper is not None:
            rows.append({**paper, "model": f"{paper['model']} [paper]", "direction": "unstated"})
    covered = {CONFIG_TO_PAPER_ROW.get(r["name"], r["name"]) for r in ours}
    for paper in PAPER_TABLE5:  # reference models and runs we did not reproduce
        if paper["model"] not in covered:
            rows.append({**paper, "model": f"{paper['model']} [paper]", "direction": "unstated"})
    return rows


def bar_chart(
    ours: Sequence[Mapping],
    path: str | Path,
    metrics: Sequence[str] = ("mrr", "map@10", "r@10"),
) -> Path:
    """PNG: one panel per metric, our runs (both directions) beside the paper's numbers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = [CONFIG_TO_PAPER_ROW.get(r["name"], r["name"]) for r in ours]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 4.2), squeeze=False)
    x = np.arange(len(ours))
    width = 0.27
    for ax, key in zip(axes[0], metrics, strict=True):
        scale = 1.0 if key == "mrr" else 100.0
        t2a = [r["metrics"]["text_to_audio"][key] * scale for r in ours]
        a2t = [r["metrics"]["audio_to_text"][key] * scale for r in ours]
        paper_vals = []
        for r in ours:
            p = paper_row(r["name"])
            v = p.get(key) if p else None
            paper_vals.append(np.nan if v is None else v * scale)
        ax.bar(x - width, t2a, width, label="ours text->audio")
        ax.bar(x, a2t, width, label="ours audio->text")
        ax.bar(x + width, paper_vals, width, label="paper (Table 5)")
        ax.set_xticks(x)
        ax.set_xticklabels(names, rotation=35, ha="right", fontsize=8)
        ax.set_title(COLUMN_TITLES.get(key, key) + ("" if key == "mrr" else " (%)"))
        ax.grid(axis="y", alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
