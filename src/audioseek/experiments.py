"""``audioseek experiments configs/paper/``: the paper's grid, trained and evaluated.

An application on top of both ``train`` and ``eval`` (``eval`` never imports ``train``).
For every YAML config of the folder (sorted by name): train with
:func:`audioseek.train.run.run_training` into ``<out>/<config stem>/``, evaluate the
exported model on the config's test split with :func:`audioseek.eval.retrieval.evaluate_model`,
and finally write one combined Table 5 (ours in both directions beside the paper's
numbers) as ``table5.md``, ``table5.json`` and ``table5.png``.

A run whose ``evaluation.json`` records the same config text and overrides is not
repeated, so an interrupted grid resumes where it stopped.

Several processes (``trainer.strategy: ddp``). Lightning's launcher re-runs the whole
command in every rank (the subprocess launcher starts ranks 1.. when rank 0 reaches its
first ``fit``; srun / torchrun start them all), so every rank walks the same grid:

* Which configs are reused is decided once, before any config is trained, from the
  ``evaluation.json`` files already on disk (:func:`reusable_record`). Every rank sees
  the same files then (rank 0 writes records only after a training, and ranks 1.. start
  no later than that training), so all ranks train the same configs in the same order:
  a rank that skipped a config the others train would leave them waiting in a collective.
  The output folder must be on a file system every rank sees (so must checkpoints).
* Every rank takes part in each config's training; :func:`run_training` returns on every
  rank only after rank 0 has written the export.
* Global rank 0 alone evaluates the export on the test split, writes
  ``evaluation.json`` and Table 5; :func:`run_one` returns ``None`` and :func:`run_grid`
  returns ``None`` on the other ranks (the command prints nothing there).
* Ranks 1.. do not wait for rank 0's evaluation: they go on to the next config's
  training, whose first collective (the feature-cache barrier or DDP's first weight
  broadcast) holds them until rank 0 arrives, and after the last config they exit. A
  barrier after each evaluation would only make them wait longer in a collective; either
  way rank 0's evaluation of one config must finish within the process group's timeout
  (Lightning's ``ddp`` default: 30 minutes); it embeds each test clip and caption once,
  without gradients, a small share of one training epoch's work.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path

from audioseek.errors import AudioseekError, ConfigError, DatasetError, ModelLoadError

log = logging.getLogger(__name__)

CONFIG_SUFFIXES = (".yaml", ".yml")


def find_configs(config_dir: str | Path) -> list[Path]:
    d = Path(config_dir).expanduser()
    if d.is_file() and d.suffix in CONFIG_SUFFIXES:
        return [d]
    if not d.is_dir():
        raise ConfigError(f"config folder {str(d)!r} does not exist")
    found = sorted(p for p in d.iterdir() if p.suffix in CONFIG_SUFFIXES and p.is_file())
    if not found:
        raise ConfigError(f"no .yaml configs in {str(d)!r}")
    seen: dict[str, Path] = {}
    for p in found:  # each config trains into <out>/<stem>/: two would share one folder
        if p.stem in seen:
            raise ConfigError(
                f"configs {str(seen[p.stem])!r} and {str(p)!r} would share the run folder "
                f"{p.stem!r}; rename one"
            )
        seen[p.stem] = p
    return found


def config_test_split(cfg, run_dir: str | Path) -> tuple[str, str, str | None, dict]:
    """(source, root, split, options) a config is tested on, from the data-source registry
    (:func:`audioseek.data.sources.test_split`) with the config's own options, so a Clotho
    v1 run is tested on Clotho v1.

    Clotho: ``evaluation`` (official view) or ``test`` (the paper's 60/20/20 view);
    AudioCaps and manifests with a split column: ``test``, a manifest without one: the
    whole file; synthetic data has no test split, so its held-out ``val`` clips are used
    (and the split is recorded as such).
    """
    from audioseek.data.sources import test_split
    from audioseek.train.datamodule import source_options, source_root

    d = cfg.data
    root = source_root(d, run_dir)
    options = source_options(d)
    if d.source == "synthetic":
        log.warning("synthetic data has no test split; evaluating on its held-out 'val' clips")
    if d.source == "manifest" and not Path(root).exists():
        split = "test"  # not there yet: load_split reports it
    else:  # a manifest is read to see whether it has a split column
        split = test_split(d.source, root, None, **options)
    return d.source, root, split, options


def _fingerprint(config_path: Path, overrides) -> str:
    h = hashlib.sha256(config_path.read_bytes())
    h.update(json.dumps(list(overrides or ())).encode())
    return h.hexdigest()[:16]


def load_checkpoint_weights(model, ckpt) -> None:
    """Load the DualEncoder weights (``model.*`` keys) of a Lightning checkpoint into
    ``model``; other keys (training-only modules of the LightningModule) are not the model's."""
    import torch

    try:
        state = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]
    except (OSError, KeyError, RuntimeError) as e:
        raise ModelLoadError(f"cannot read checkpoint {str(ckpt)!r}: {e}") from None
    sub = {k[len("model.") :]: v for k, v in state.items() if k.startswith("model.")}
    own = model.state_dict()
    missing = [k for k in own if k not in sub]
    unexpected = [k for k in sub if k not in own]
    if missing or unexpected:
        raise ModelLoadError(
            f"checkpoint {str(ckpt)!r} does not fit the exported model: missing {missing[:3]}, "
            f"unexpected {unexpected[:3]}"
        )
    model.load_state_dict(sub)


def _record_path(config_path: Path, out_dir) -> Path:
    return Path(out_dir) / config_path.stem / "evaluation.json"


def _log_reuse(config_path: Path, out_dir) -> None:
    where = _record_path(config_path, out_dir)
    log.warning("%s: already trained and evaluated (%s); reusing", config_path.stem, where)


def reusable_record(config_path: Path, out_dir: Path, overrides=()) -> dict | None:
    """The stored ``evaluation.json`` record of a finished run of ``config_path`` with
    ``overrides`` under ``out_dir`` (same config text and overrides, model folder still
    there), or None when the config is to be trained."""
    record_path = _record_path(config_path, out_dir)
    if not record_path.is_file():
        return None
    try:
        old = json.loads(record_path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(old, dict) or old.get("fingerprint") != _fingerprint(config_path, overrides):
        return None
    if not Path(old.get("model_dir", "")).is_dir():
        return None
    return old


def run_one(config_path: Path, out_dir: Path, overrides=(), device="auto") -> dict | None:
    """Train + evaluate one config; returns the run record stored in ``evaluation.json``
    (the stored one if the run is already finished, see :func:`reusable_record`).

    With several processes every rank trains; global rank 0 alone evaluates and writes the
    record, and the other ranks return None once the export is written."""
    previous = reusable_record(config_path, out_dir, overrides)
    if previous is not None:
        _log_reuse(config_path, out_dir)
        return previous
    return _train_and_evaluate(config_path, out_dir, overrides, device)


def _train_and_evaluate(config_path: Path, out_dir: Path, overrides, device) -> dict | None:
    from audioseek.data.sources import load_split
    from audioseek.eval.report import write_json
    from audioseek.eval.retrieval import check_reproduces_export, evaluate_model
    from audioseek.models.hub import load_model
    from audioseek.train.config import load_config
    from audioseek.train.run import run_training

    name = config_path.stem
    run_dir = out_dir / name
    record_path = _record_path(config_path, out_dir)
    cfg = load_config(config_path, overrides)
    if cfg.data.source != "synthetic" and not cfg.data.root:
        raise DatasetError(f"config {str(config_path)!r} has no data.root to evaluate on")
    data, root, split, options = config_test_split(cfg, run_dir)
    items = load_split(data, root, split, **options)  # fails before training if missing
    result = run_training(config_path, run_dir, overrides=overrides, device=device)
    if not result.is_global_zero:
        log.info(
            "%s: trained (rank %d of %d); rank 0 evaluates",
            name,
            result.global_rank,
            result.world_size,
        )
        return None
    model = load_model(str(result.model_dir), device=device)
    evaluated = "export"
    try:
        check_reproduces_export(model, result.model_dir)
    except ModelLoadError as e:
        # evaluate what was trained and validated, and say that the export differs
        ckpt = result.best_ckpt or result.last_ckpt
        if ckpt is None:
            raise
        log.warning("%s: %s; evaluating the checkpoint %s instead", name, e, ckpt)
        load_checkpoint_weights(model, ckpt)
        evaluated = f"checkpoint {ckpt}"
    batch = cfg.data.eval_batch_size or cfg.data.batch_size
    res = evaluate_model(model, items, batch_size=batch, device=device, progress=False)
    record = {
        "name": name,
        "config": str(config_path),
        "overrides": list(overrides or ()),
        "fingerprint": _fingerprint(config_path, overrides),
        "model_dir": str(result.model_dir),
        "evaluated": evaluated,
        "model_fingerprint": model.fingerprint,  # the weights evaluated
        "world_size": result.world_size,  # processes that trained it
        "data": data,
        "root": str(root),
        "split": split,
        "options": options,
        "n_clips": res.n_clips,
        "n_captions": res.n_captions,
        "metrics": res.metrics,
        "intervals": res.intervals,  # 95 % bootstrap, test clips resampled whole
        "validation": result.metrics,
        "eval_seconds": res.seconds,
        "oom_retries": res.oom_retries,
    }
    write_json(record_path, record)
    log.info(
        "%s: evaluated the %s on %d clips; wrote %s", name, evaluated, res.n_clips, record_path
    )
    return record


def write_table5(runs: list[dict], out_dir: str | Path) -> dict[str, Path]:
    """``table5.md``, ``table5.json`` and ``table5.png`` in ``out_dir``."""
    from audioseek.eval.report import (
        PAPER_TABLE5,
        bar_chart,
        intervals_table,
        markdown_table,
        table5_comparison_rows,
        write_json,
        write_text,
    )

    out_dir = Path(out_dir)
    rows = table5_comparison_rows(runs)
    md = (
        "# Table 5: text-audio retrieval, ours vs the paper\n\n"
        "Ours: each config trained with `audioseek experiments` and evaluated on its test "
        "split in both directions. The paper does not state the direction of its numbers.\n\n"
        + markdown_table(rows)
    )
    spread = intervals_table(runs)
    if spread:
        md += (
            "\n## How precise our numbers are\n\n"
            "95 % bootstrap intervals of our runs' numbers (the test clips resampled whole, "
            "a clip's captions together): a gap to the paper smaller than its interval is "
            "within the test set's sampling.\n\n" + spread
        )
    paths = {
        "markdown": write_text(out_dir / "table5.md", md),
        "json": write_json(
            out_dir / "table5.json", {"runs": runs, "paper": list(PAPER_TABLE5), "rows": rows}
        ),
        "png": bar_chart(runs, out_dir / "table5.png"),
    }
    return paths


def run_grid(
    config_dir, out, overrides: Sequence[str] = (), device: str = "auto"
) -> tuple[list[dict], dict[str, Path]] | None:
    """Train and evaluate every config in ``config_dir`` (with ``overrides``) under ``out``;
    write Table 5 (markdown, JSON, PNG). Every config is checked, and which finished runs
    are reused is decided, before any training.
    Returns ``(runs, {"markdown"|"json"|"png": path})`` in global rank 0, and None in the
    other ranks of a multi-process run (they train; rank 0 evaluates and writes the table).
    """
    from tqdm.auto import tqdm

    from audioseek.train.config import load_config
    from audioseek.train.run import process_rank
    from audioseek.utils.paths import make_dir

    overrides = list(overrides or ())
    configs = find_configs(config_dir)
    for path in configs:  # a bad config or --set fails now, not after hours of training
        load_config(path, overrides)
    out_dir = make_dir(out, "experiments folder")
    # decided from the files present before any rank trains: every rank decides the same
    plan = [(path, reusable_record(path, out_dir, overrides)) for path in configs]
    runs: list[dict | None] = []
    bar = tqdm(plan, desc="experiments", unit="config", disable=process_rank() != 0)
    for path, previous in bar:
        bar.set_postfix_str(path.stem)
        if previous is not None:
            _log_reuse(path, out_dir)
            runs.append(previous)
            continue
        log.info("%s: training and evaluating", path.stem)
        try:
            runs.append(_train_and_evaluate(path, out_dir, overrides, device))
        except AudioseekError:
            log.error("experiment grid stopped at %s (finished runs are kept)", path)
            raise
    if any(r is None for r in runs) or process_rank() != 0:
        return None  # not global rank 0: rank 0 evaluated and writes the table
    return runs, write_table5(runs, out_dir)
