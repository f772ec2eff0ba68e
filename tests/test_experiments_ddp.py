"""``audioseek experiments`` with several processes (``trainer.strategy: ddp``).

Lightning re-runs the whole command in every rank. Every rank trains every config that is
not reused, and all ranks decide which configs are reused from the files present before
any training; global rank 0 alone evaluates the export it has just written (every rank
waits for the export), writes ``evaluation.json`` and Table 5, and prints the table.

The fast tests fake ``run_training`` as a rank other than 0 (it returns the real
``TrainResult``); the slow one runs two CPU processes over gloo through the real CLI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from audioseek.cli import main
from audioseek.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "configs/smoke/small_cnn_minilm.yaml"


# ---- fast: a rank other than 0, with training faked ---------------------------------


def _tiny_config(folder: Path, name: str, data: Path, seed: int = 0) -> Path:
    cfg = {
        "seed": seed,
        "model": {"audio_encoder": "small_cnn", "text_encoder": "minilm"},
        "data": {
            "source": "synthetic",
            "synthetic": {"root": str(data), "n_clips": 8, "duration": 0.5},
        },
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture
def as_rank_one(monkeypatch):
    """Training faked as global rank 1 of 2 (rank 0 writes the export, so the fake leaves
    a model folder); evaluating or loading a model on this rank fails the test. Returns
    (the run folders trained, in order; a list of hooks called with each run folder)."""
    import audioseek.eval.retrieval as retrieval
    import audioseek.models.hub as hub
    import audioseek.train.run as run
    from audioseek.train.run import TrainResult

    trained: list[Path] = []
    hooks: list = []

    def fake_run_training(config, out_dir=None, overrides=(), device="auto", resume=None):
        out = Path(out_dir)
        (out / "model").mkdir(parents=True, exist_ok=True)
        trained.append(out)
        for hook in hooks:
            hook(out)
        return TrainResult(
            model_dir=out / "model",
            best_ckpt=None,
            last_ckpt=None,
            metrics={"val/loss": 1.0},
            global_rank=1,
            world_size=2,
        )

    def refuse(*args, **kwargs):
        raise AssertionError("a rank other than 0 loaded or evaluated a model")

    monkeypatch.setattr(run, "run_training", fake_run_training)
    monkeypatch.setattr(hub, "load_model", refuse)
    monkeypatch.setattr(retrieval, "evaluate_model", refuse)
    return trained, hooks


def test_a_rank_other_than_0_trains_every_config_and_writes_or_prints_nothing(
    tmp_path, as_rank_one, capsys
):
    trained, _ = as_rank_one
    configs, out = tmp_path / "configs", tmp_path / "out"
    for name in ("a", "b"):
        _tiny_config(configs, name, tmp_path / "data")
    assert main(["experiments", str(configs), "--out", str(out), "--device", "cpu"]) == 0
    assert trained == [out / "a", out / "b"]  # it took part in every training
    assert capsys.readouterr().out == ""  # rank 0 prints the table
    assert not list(out.glob("*/evaluation.json"))
    assert not list(out.glob("table5.*"))


def test_run_one_returns_none_on_a_rank_other_than_0(tmp_path, as_rank_one):
    from audioseek.experiments import run_one

    trained, _ = as_rank_one
    config = _tiny_config(tmp_path / "configs", "a", tmp_path / "data")
    assert run_one(config, tmp_path / "out", device="cpu") is None
    assert trained == [tmp_path / "out" / "a"]
    assert not (tmp_path / "out" / "a" / "evaluation.json").exists()


def test_reuse_is_decided_before_any_training(tmp_path, as_rank_one):
    """A finished, matching run is reused and a stale record is not; a record that
    appears during the grid (here: written while config a trains) does not change the
    decision taken at the start, which is the decision every rank takes."""
    from audioseek.experiments import _fingerprint, run_grid

    trained, hooks = as_rank_one
    configs, out = tmp_path / "configs", tmp_path / "out"
    a, b, c = (_tiny_config(configs, n, tmp_path / "data") for n in ("a", "b", "c"))

    def record(config: Path, fingerprint: str) -> None:
        (out / config.stem / "model").mkdir(parents=True, exist_ok=True)
        rec = {
            "name": config.stem,
            "fingerprint": fingerprint,
            "model_dir": str(out / config.stem / "model"),
        }
        (out / config.stem / "evaluation.json").write_text(json.dumps(rec))

    record(a, "0" * 16)  # stale: another config text
    record(c, _fingerprint(c, []))  # finished
    hooks.append(lambda run_dir: record(b, _fingerprint(b, [])) if run_dir.name == "a" else None)
    assert run_grid(configs, out, device="cpu") is None
    assert trained == [out / "a", out / "b"]


def test_configs_sharing_a_run_folder_are_refused(tmp_path):
    from audioseek.experiments import find_configs

    (tmp_path / "x.yaml").write_text("seed: 0\n")
    (tmp_path / "x.yml").write_text("seed: 1\n")
    with pytest.raises(ConfigError, match="would share the run folder 'x'") as e:
        find_configs(tmp_path)
    assert "\n" not in str(e.value)


# ---- slow: two CPU processes through the real CLI ------------------------------------

TINY = (
    "model.audio_encoder_args={sample_rate: 16000, clip_seconds: 1.0, channels: [4, 8]}",
    "data.clip_seconds=1.0",
    "data.synthetic.duration=1.0",
    "data.synthetic.n_clips=16",  # 12 training clips (6 per rank), 4 held-out test clips
    "data.batch_size=3",
    "augment.spec_augment=false",
    "augment.text_prob=0",
    "trainer.max_epochs=1",
    "trainer.max_steps=2",
    "trainer.num_threads=1",
)
DDP = ("trainer.strategy=ddp", "trainer.accelerator=cpu", "trainer.devices=2")


def _experiments(configs: Path, out: Path, sets, env_extra=None):
    cmd = [sys.executable, "-m", "audioseek.cli", "-v", "experiments", str(configs)]
    cmd += ["--out", str(out), "--device", "cpu"]
    for s in sets:
        cmd += ["--set", s]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **(env_extra or {})}
    env.pop("MASTER_PORT", None)
    # a rank waiting forever in a collective shows up as this timeout
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout, proc.stderr


def _grid_config(folder: Path, name: str, seed: int) -> Path:
    cfg = yaml.safe_load(SMOKE.read_text())
    cfg["seed"] = seed
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _exported_fingerprint(model_dir) -> str:
    return json.loads(Path(model_dir, "config.json").read_text())["fingerprint"]


@pytest.mark.slow
def test_ddp_grid_is_evaluated_and_reported_once_by_rank_0_and_resumes_on_every_rank(
    tmp_path,
):
    configs, out, data = tmp_path / "configs", tmp_path / "out", tmp_path / "data"
    configs.mkdir()
    _grid_config(configs, "a", seed=0)
    _grid_config(configs, "b", seed=0)
    sets = (f"data.synthetic.root={data}", *TINY, *DDP)

    stdout, stderr = _experiments(configs, out, sets)
    assert stderr.count("trained (rank 1 of 2); rank 0 evaluates") == 2  # both configs
    assert stderr.count(": evaluated the export on 4 clips") == 2  # once per config
    assert stdout.count("wrote markdown:") == 1 and stdout.count("wrote png:") == 1
    assert stdout.count("PANN (Fine-Tuned) [paper]") == 1
    first = {}
    for name in ("a", "b"):
        record = json.loads((out / name / "evaluation.json").read_text())
        assert record["world_size"] == 2 and record["evaluated"] == "export"
        # the weights evaluated are the ones exported by this run
        assert record["model_fingerprint"] == _exported_fingerprint(record["model_dir"])
        first[name] = record
    table = json.loads((out / "table5.json").read_text())
    assert [r["name"] for r in table["runs"]] == ["a", "b"]

    # b's config changes: a is reused by both ranks (rank 1 starts only when rank 0
    # trains b, and re-runs the grid from the start), b retrains into its old folder
    a_bytes = (out / "a" / "evaluation.json").read_bytes()
    a_model_mtime = (out / "a" / "model" / "config.json").stat().st_mtime_ns
    _grid_config(configs, "b", seed=1)
    stdout, stderr = _experiments(configs, out, sets)
    assert stderr.count("a: already trained and evaluated") == 2  # rank 0 and rank 1
    assert stderr.count("trained (rank 1 of 2); rank 0 evaluates") == 1
    assert stderr.count("b: evaluated the export on 4 clips") == 1
    assert stderr.count(": evaluated the ") == 1
    assert stdout.count("wrote markdown:") == 1
    assert (out / "a" / "evaluation.json").read_bytes() == a_bytes
    assert (out / "a" / "model" / "config.json").stat().st_mtime_ns == a_model_mtime
    b = json.loads((out / "b" / "evaluation.json").read_text())
    assert b["model_fingerprint"] == _exported_fingerprint(b["model_dir"])
    assert b["model_fingerprint"] != first["b"]["model_fingerprint"]  # not the old model
    assert b["metrics"] == _evaluate_in_process(b)  # what is in the folder now
    table = json.loads((out / "table5.json").read_text())
    assert table["runs"] == [first["a"], b]

    # everything reused, in a process its launcher made rank 1 (torchrun / srun start
    # every rank; no training, so no strategy tells it): it writes and prints nothing
    table_mtime = (out / "table5.json").stat().st_mtime_ns
    stdout, stderr = _experiments(configs, out, sets, {"RANK": "1", "WORLD_SIZE": "2"})
    assert stdout == ""
    assert stderr.count("already trained and evaluated") == 2
    assert (out / "table5.json").stat().st_mtime_ns == table_mtime


def _evaluate_in_process(record: dict) -> dict:
    from audioseek.data.sources import load_split
    from audioseek.eval.retrieval import evaluate_model
    from audioseek.models.hub import load_model

    items = load_split(record["data"], record["root"], record["split"], **record["options"])
    model = load_model(record["model_dir"], device="cpu")
    return evaluate_model(model, items, batch_size=8, device="cpu", progress=False).metrics
