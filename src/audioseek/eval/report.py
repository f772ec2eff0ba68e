"""Table 5 of the paper as data, and retrieval tables as markdown, rich, JSON and PNG.

The paper ("Good, Fast, Cheap", Table 5) reports MRR, MAP@10 and R@10 on Clotho's test
set for six runs and two reference models, without saying which retrieval direction the
numbers are for; we therefore report both directions next to them. MRR is printed as a
fraction (0.0411), MAP@10 and R@K as percentages (0.84%), as in the paper.

Two recall definitions, both reported and labelled (see :mod:`audioseek.eval.metrics`):
``Hit@K`` (key ``r@K``) is the share of queries with at least one relevant item in the top
K, the R@K of the retrieval literature; ``Recall@K`` (key ``recall@K``) is the share of a
query's relevant items found in the top K, which is how the paper's section 5 defines its
R@10, so the paper's R@10 sits in our ``Recall@10`` column. They agree for text->audio
(one relevant clip) and differ for audio->text (five relevant captions). A run that
records its validation loss (``val_loss``, or ``val/loss`` in its ``validation`` metrics)
gets a ``Val loss`` column, as the paper's Table 4 shows one.

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

#: Column keys in the paper's order (its R@10 is our recall@10), then the hit rates and
#: the validation loss.
TABLE5_COLUMNS = ("mrr", "map@10", "recall@10", "r@10", "r@1", "r@5", "val_loss")
DIRECTIONS = {"text_to_audio": "text->audio", "audio_to_text": "audio->text"}
VAL_LOSS_DEFINITION = (
    "validation loss of the best checkpoint (the training loss on the validation set)"
)


def column_title(key: str) -> str:
    """Display title of a column key: ``r@10`` -> ``Hit@10``, ``recall@10`` ->
    ``Recall@10``, ``map@10`` -> ``MAP@10``, ``mrr`` -> ``MRR``, ``val_loss`` -> ``Val loss``."""
    name, _, k = key.partition("@")
    if not k:
        return {"mrr": "MRR", "val_loss": "Val loss"}.get(key, key)
    return {"r": "Hit", "recall": "Recall", "map": "MAP"}.get(name, name) + "@" + k


def column_definition(key: str) -> str:
    """One line saying what a column means (the metric definitions of eval.metrics)."""
    from audioseek.eval.metrics import metric_definition

    if key == "val_loss":
        return VAL_LOSS_DEFINITION
    return metric_definition(key)


#: The paper's Table 5 exactly as printed (fractions; None where the paper says N/A). Its
#: R@10 is defined in section 5 as the share of relevant items found: key ``recall@10``.
PAPER_TABLE5: tuple[dict, ...] = (
    {"model": "ResNet (Baseline)", "mrr": 0.0411, "map@10": 0.0084, "recall@10": 0.0771},
    {"model": "ResNet (Fine-Tuned)", "mrr": 0.0391, "map@10": 0.0085, "recall@10": 0.0786},
    {"model": "ViT (Baseline)", "mrr": 0.0294, "map@10": 0.1092, "recall@10": 0.0821},
    {"model": "ViT (Fine-Tuned)", "mrr": 0.0297, "map@10": 0.1315, "recall@10": 0.0784},
    {"model": "PANN (Baseline)", "mrr": 0.0262, "map@10": 0.0309, "recall@10": 0.1942},
    {"model": "PANN (Fine-Tuned)", "mrr": 0.1294, "map@10": 0.0322, "recall@10": 0.3142},
    {"model": "MusCALL", "mrr": None, "map@10": 0.360, "recall@10": 0.633},
    {"model": "AudioCLIP", "mrr": None, "map@10": 0.3079, "recall@10": None},
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
    """MRR as a 4-decimal fraction, the validation loss with 3 decimals (as the paper's
    Table 4), the others as percentages with 2 decimals; N/A for None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "N/A"
    if key == "mrr":
        return f"{value:.4f}"
    if key == "val_loss":
        return f"{value:.3f}"
    return f"{100 * value:.2f}%"


def run_val_loss(run: Mapping) -> float | None:
    """A run record's validation loss: ``val_loss``, else ``validation["val/loss"]``."""
    value = run.get("val_loss")
    if value is None:
        value = (run.get("validation") or {}).get("val/loss")
    return None if value is None else float(value)


def results_rows(
    metrics: Mapping[str, Mapping[str, float]],
    model: str,
    source: str = "ours",
    val_loss: float | None = None,
) -> list[dict]:
    """One row per direction from ``bidirectional_metrics`` output (plus the run's
    ``val_loss`` on each row when given)."""
    rows = []
    extra = {} if val_loss is None else {"val_loss": float(val_loss)}
    for key, label in DIRECTIONS.items():
        if key in metrics:
            rows.append(
                {"model": model, "direction": label, "source": source, **metrics[key], **extra}
            )
    return rows


def legend(columns: Sequence[str]) -> str:
    """Markdown lines defining the metric columns, one per metric family
    (``- **Hit@K**: hit rate: share of queries with at least one relevant item in the top K``).
    """
    lines: dict[str, str] = {}
    for c in columns:
        name, at, _ = c.partition("@")
        family = f"{name}@K" if at else c
        if family not in lines:
            lines[family] = f"- **{column_title(family)}**: {column_definition(family)}\n"
    return "".join(lines.values())


def _columns(rows: Sequence[Mapping], columns: Sequence[str]) -> list[str]:
    return [c for c in columns if any(c in r for r in rows)]


def markdown_table(
    rows: Sequence[Mapping],
    columns: Sequence[str] = TABLE5_COLUMNS,
    label_columns: Sequence[str] = ("model", "direction"),
    with_legend: bool = True,
) -> str:
    """A GitHub markdown table: label columns, then metric columns formatted like Table 5
    (only the columns some row has). ``with_legend``: a definition list of the metric
    columns follows the table (after a blank line)."""
    labels = [c for c in label_columns if any(c in r for r in rows)]
    metrics = _columns(rows, columns)
    head = [c.capitalize() for c in labels] + [column_title(c) for c in metrics]
    lines = [
        "| " + " | ".join(head) + " |",
        "|" + "|".join(["---"] * len(labels) + ["---:"] * len(metrics)) + "|",
    ]
    for r in rows:
        cells = [str(r.get(c, "")) for c in labels]
        cells += [format_value(c, r.get(c)) for c in metrics]
        lines.append("| " + " | ".join(cells) + " |")
    table = "\n".join(lines) + "\n"
    return table + "\n" + legend(metrics) if with_legend else table


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
    table = Table(title=title, caption=legend(metrics).replace("**", "").strip() or None)
    for c in labels:
        table.add_column(c.capitalize())
    for c in metrics:
        table.add_column(column_title(c), justify="right")
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
    return _write_atomic(path, lambda f: (json.dump(data, f, indent=2), f.write("\n")))


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` atomically (temp file + rename); parents created."""
    return _write_atomic(Path(path).expanduser(), lambda f: f.write(text))


def _write_atomic(path: Path, write) -> Path:
    """``write(file)`` into a temp file beside ``path``, then rename it over ``path``: a
    failure (full disk, a kill) leaves the previous file whole, and no temp file behind."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            write(f)
        os.replace(tmp, path)
        tmp = None
    except OSError as e:
        raise ConfigError(f"cannot write {str(path)!r}: {e.strerror or e}") from None
    finally:  # whatever stopped the write (also data json cannot encode)
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
    return path


def table5_comparison_rows(ours: Sequence[Mapping]) -> list[dict]:
    """Rows for the combined table: for each of our runs its two directions (with the run's
    validation loss, see :func:`run_val_loss`), followed by the paper's reported row for the
    same configuration (direction "unstated")."""
    rows: list[dict] = []
    for run in ours:
        name = run["name"]
        label = CONFIG_TO_PAPER_ROW.get(name, name)
        model = f"{label} [ours]" if label != name else name
        rows.extend(results_rows(run["metrics"], model, val_loss=run_val_loss(run)))
        paper = paper_row(name)
        if paper is not None:
            rows.append({**paper, "model": f"{paper['model']} [paper]", "direction": "unstated"})
    covered = {CONFIG_TO_PAPER_ROW.get(r["name"], r["name"]) for r in ours}
    for paper in PAPER_TABLE5:  # reference models and runs we did not reproduce
        if paper["model"] not in covered:
            rows.append({**paper, "model": f"{paper['model']} [paper]", "direction": "unstated"})
    return rows


def intervals_table(
    runs: Sequence[Mapping], keys: Sequence[str] = ("mrr", "map@10", "r@10")
) -> str:
    """Markdown table of our runs' 95 % bootstrap intervals (``run["intervals"]``, test clips
    resampled whole), formatted like Table 5's cells; empty when no run has intervals (runs
    recorded before they were measured)."""
    rows = []
    for run in runs:
        ci = run.get("intervals") or {}
        for direction, label in DIRECTIONS.items():
            if direction in ci:
                cells = [
                    f"{format_value(k, ci[direction][k][0])} - {format_value(k, ci[direction][k][1])}"
                    if k in ci[direction]
                    else "N/A"
                    for k in keys
                ]
                rows.append(f"| {run['name']} | {label} | " + " | ".join(cells) + " |")
    if not rows:
        return ""
    head = "| Model | Direction | " + " | ".join(column_title(k) for k in keys) + " |"
    rule = "|---|---|" + "---:|" * len(keys)
    return "\n".join([head, rule, *rows]) + "\n"


def bar_chart(
    ours: Sequence[Mapping],
    path: str | Path,
    metrics: Sequence[str] = ("mrr", "map@10", "recall@10", "r@10"),
) -> Path:
    """PNG: one panel per metric, our runs (both directions) beside the paper's numbers,
    plus a panel of validation losses when some run records one."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = [CONFIG_TO_PAPER_ROW.get(r["name"], r["name"]) for r in ours]
    val_losses = [run_val_loss(r) for r in ours]
    panels = list(metrics) + (["val_loss"] if any(v is not None for v in val_losses) else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.2), squeeze=False)
    x = np.arange(len(ours))
    width = 0.27
    for ax, key in zip(axes[0], panels, strict=True):
        if key == "val_loss":
            ax.bar(x, [np.nan if v is None else v for v in val_losses], 2 * width, color="C3")
            ax.set_title(column_title(key))
        else:
            scale = 1.0 if key == "mrr" else 100.0
            t2a = [r["metrics"]["text_to_audio"].get(key, np.nan) * scale for r in ours]
            a2t = [r["metrics"]["audio_to_text"].get(key, np.nan) * scale for r in ours]
            paper_vals = []
            for r in ours:
                p = paper_row(r["name"])
                v = p.get(key) if p else None
                paper_vals.append(np.nan if v is None else v * scale)
            ax.bar(x - width, t2a, width, label="ours text->audio")
            ax.bar(x, a2t, width, label="ours audio->text")
            ax.bar(x + width, paper_vals, width, label="paper (Table 5)")
            ax.set_title(column_title(key) + ("" if key == "mrr" else " (%)"))
        ax.set_xticks(x)
        ax.set_xticklabels(names, rotation=35, ha="right", fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.text(
        0.5,
        0.005,
        "Hit@K: >= 1 relevant in the top K. Recall@K: share of the relevant found in the top K "
        "(the paper's R@10).",
        ha="center",
        fontsize=7,
    )
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
