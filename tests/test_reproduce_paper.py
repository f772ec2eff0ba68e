"""scripts/reproduce_paper.sh: syntax, argument handling, --dry-run, the multi-GPU / SLURM
options, and the final Table 5 step run for real on recorded grid results (the downloads and
training need the internet and a GPU, so a fake ``audioseek`` command stands in for them)."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "reproduce_paper.sh"
BASH = shutil.which("bash")
pytestmark = pytest.mark.skipif(BASH is None, reason="needs bash")


def _run(*args: str, env: dict | None = None, cwd: Path | None = None):
    return subprocess.run(
        [BASH, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=120,
    )


def _commands(stdout: str) -> list[list[str]]:
    return [shlex.split(ln[2:]) for ln in stdout.splitlines() if ln.startswith("+ ")]


def test_syntax_is_valid():
    assert subprocess.run([BASH, "-n", str(SCRIPT)]).returncode == 0


def test_dry_run_prints_download_train_and_report_commands(tmp_path):
    res = _run("--dry-run", "--data", str(tmp_path / "clotho"), "--out", str(tmp_path / "o"))
    assert res.returncode == 0, res.stderr
    cmds = _commands(res.stdout)
    assert [c[1:3] for c in cmds[:1]] == [["data", "download"]]
    assert cmds[0][3:] == ["clotho", "--root", str(tmp_path / "clotho"), "--version", "v2.1"]
    assert (
        cmds[1][1:3] == ["-c", "<fetch-weights>"] and "541141fa2ee191a88f24a3219fff024e" in cmds[1]
    )
    grids = [c for c in cmds if c[1:2] == ["experiments"]]
    assert [Path(c[2]).relative_to(ROOT).as_posix() for c in grids] == [
        "configs/paper",
        "configs/beyond",
    ]
    for c, name in zip(grids, ("paper", "beyond"), strict=True):
        assert c[c.index("--out") + 1] == str(tmp_path / "o" / name)
        sets = [c[i + 1] for i, a in enumerate(c) if a == "--set"]
        assert sets == [f"data.root={tmp_path / 'clotho'}", "data.clotho_version=v2.1"]
    assert cmds[-1][1:3] == ["-c", "<table5>"] and cmds[-1][3:] == [
        str(tmp_path / "o"),
        "paper",
        "beyond",
    ]
    assert "GPU" in res.stdout and "GPU-hours" in res.stdout  # says what it needs
    assert not (tmp_path / "o").exists() and not (tmp_path / "clotho").exists()


def test_multi_gpu_nodes_and_extra_overrides(tmp_path):
    res = _run(
        "--dry-run", "--skip-download", "--only", "paper", "--gpus", "4", "--nodes", "2",
        "--set", "trainer.max_epochs=3", "--version", "v1",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    cmds = _commands(res.stdout)
    assert [c[1] for c in cmds] == ["experiments", "-c"]  # no download, one grid
    sets = [cmds[0][i + 1] for i, a in enumerate(cmds[0]) if a == "--set"]
    assert sets[1:] == [
        "data.clotho_version=v1",
        "data.clotho_view=paper",  # v1 has no validation split
        "trainer.devices=4",
        "trainer.strategy=ddp",
        "trainer.num_nodes=2",
        "trainer.max_epochs=3",
    ]


def test_download_only_trains_nothing():
    res = _run("--dry-run", "--download-only", "--only", "paper")
    assert res.returncode == 0, res.stderr
    cmds = _commands(res.stdout)
    assert cmds[0][1:3] == ["data", "download"] and len(cmds) == 2
    assert cmds[1][-1] == "0"  # paper only: no CLAP weights


def test_print_slurm_fills_in_the_options():
    res = _run("--print-slurm", "--gpus", "8", "--nodes", "3", "--set", "seed=1")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "#!/bin/bash"
    assert "#SBATCH --nodes=3" in lines and "#SBATCH --ntasks-per-node=8" in lines
    assert "#SBATCH --gres=gpu:8" in lines
    srun = shlex.split(next(ln for ln in lines if ln.startswith("srun ")))
    assert srun[1] == str(SCRIPT)
    assert srun[srun.index("--gpus") + 1] == "8" and srun[srun.index("--nodes") + 1] == "3"
    assert "--skip-download" in srun and srun[srun.index("--set") + 1] == "seed=1"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--gpus", "0"], "--gpus must be a positive integer, got '0'"),
        (["--nodes", "two"], "--nodes must be a positive integer, got 'two'"),
        (["--version", "v3"], "--version must be v2.1 or v1, got 'v3'"),
        (["--only", "some"], "--only must be paper, beyond or all, got 'some'"),
        (["--set", "nokey"], "--set needs KEY=VALUE, got 'nokey'"),
        (["--data"], "--data needs a value"),
        (["--out", "--dry-run"], "--out needs a value"),
        (["--frobnicate"], "unknown option '--frobnicate'"),
        (["--skip-download", "--download-only"], "leave nothing to do"),
    ],
)
def test_bad_arguments_are_one_error_line(args, message):
    res = _run(*args, "--dry-run")
    assert res.returncode == 2
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert errors == [f"error: {message}"] or (len(errors) == 1 and message in errors[0])
    assert "+ " not in res.stdout  # nothing would have run


def test_help_lists_every_option():
    res = _run("--help")
    assert res.returncode == 0
    for opt in ("--data", "--version", "--cache", "--out", "--only", "--gpus", "--nodes",
                "--device", "--set", "--skip-download", "--download-only", "--print-slurm",
                "--dry-run"):  # fmt: skip
        assert opt in res.stdout, opt


def _metrics(v: float) -> dict:
    d = {"mrr": v, "map@10": v / 2, "r@1": v, "r@5": v, "r@10": v, "recall@10": v / 3}
    return {"text_to_audio": d, "audio_to_text": d}


def test_table5_step_combines_both_grids_beside_the_paper(tmp_path):
    """With a fake audioseek (it records its arguments; the grids' table5.json are already
    there), the script's own last step writes the combined Table 5 for real."""
    out = tmp_path / "out"
    for grid, name, loss in (("paper", "cnn14_finetune", 3.5), ("beyond", "clip_recipe", 2.0)):
        (out / grid).mkdir(parents=True)
        run = {"name": name, "metrics": _metrics(0.4), "validation": {"val/loss": loss}}
        (out / grid / "table5.json").write_text(json.dumps({"runs": [run]}))
    log = tmp_path / "calls.log"
    fake = tmp_path / "audioseek"
    fake.write_text(f'#!/usr/bin/env bash\necho "$*" >> {shlex.quote(str(log))}\n')
    fake.chmod(0o755)
    res = _run("--skip-download", "--out", str(out), env={"AUDIOSEEK": str(fake)}, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    calls = log.read_text().splitlines()
    assert [c.split()[:2] for c in calls] == [
        ["experiments", str(ROOT / "configs/paper")],
        ["experiments", str(ROOT / "configs/beyond")],
    ]
    md = (out / "table5.md").read_text()
    assert (
        "| PANN (Fine-Tuned) [ours] | text->audio |" in md and "| clip_recipe | audio->text |" in md
    )
    assert "| PANN (Fine-Tuned) [paper] | unstated | 0.1294 | 3.22% | 31.42% |" in md
    head = next(ln for ln in md.splitlines() if ln.startswith("| Model |"))
    for title in ("Recall@10", "Hit@10", "Val loss"):
        assert f"| {title} |" in head, title
    assert "| 3.500 |" in md and "| 2.000 |" in md
    data = json.loads((out / "table5.json").read_text())
    assert [r["name"] for r in data["runs"]] == ["cnn14_finetune", "clip_recipe"]
    assert "at least one relevant" in data["column_definitions"]["r@10"]
    assert "relevant found" in data["column_definitions"]["recall@10"]
    assert (out / "table5.png").read_bytes()[:4] == b"\x89PNG"


def test_table5_step_names_a_missing_grid(tmp_path):
    fake = tmp_path / "audioseek"
    fake.write_text("#!/usr/bin/env bash\nexit 0\n")
    fake.chmod(0o755)
    res = _run("--skip-download", "--only", "beyond", "--out", str(tmp_path / "o"),
               env={"AUDIOSEEK": str(fake)})  # fmt: skip
    assert res.returncode != 0
    assert "beyond/table5.json is missing; did the beyond grid finish?" in res.stderr
