"""``--engine ray``: a local Ray cluster (2 CPUs) gives exactly the local engine's index,
survives a killed embedding actor and a killed driver, and re-embeds only changed files."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("ray")

from audioseek import Index  # noqa: E402
from audioseek.index.ray_engine import RayOptions  # noqa: E402

pytestmark = pytest.mark.slow

FREEDESKTOP = Path("/usr/share/sounds/freedesktop/stereo")


def stored(db: Path) -> dict[tuple[str, int], tuple]:
    """(path, window index) -> (start, end, vector bytes) of complete files."""
    conn = sqlite3.connect(f"file:{db / 'index.sqlite'}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT f.path, w.idx, w.start_s, w.end_s, w.vector FROM windows w "
            "JOIN files f ON f.id = w.file_id WHERE f.complete = 1"
        ).fetchall()
    finally:
        conn.close()
    return {(p, i): (s, e, v) for p, i, s, e, v in rows}


@pytest.fixture(scope="module")
def ray_cluster():
    import ray
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    yield ray
    ray.shutdown()


@pytest.fixture
def library(tmp_path) -> Path:
    """Real recordings (freedesktop sound theme, CC BY-SA / GPL, see its copyright file) plus
    a corrupt file."""
    if not FREEDESKTOP.is_dir():
        pytest.skip("sound-theme-freedesktop is not installed")
    lib = tmp_path / "lib"
    lib.mkdir()
    for name in sorted(p.name for p in FREEDESKTOP.glob("*.oga"))[:10]:
        shutil.copy(FREEDESKTOP / name, lib / name)
    (lib / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot audio")
    return lib


def _add(db, lib, model, engine, **kw):
    opts = kw.pop("ray_options", None)
    return Index(db, model=model, device="cpu").add(
        [lib],
        window=2.0,
        hop=1.0,
        workers=0,
        batch_size=4,
        progress=False,
        engine=engine,
        ray_options=opts,
        **kw,
    )


def test_ray_index_equals_local_index(ray_cluster, library, tmp_path, tiny_model_dir):
    local = _add(tmp_path / "local", library, str(tiny_model_dir), "local")
    remote = _add(
        tmp_path / "ray",
        library,
        str(tiny_model_dir),
        "ray",
        ray_options=RayOptions(
            actors=2, actor_cpus=0.5, batch_size=5, threads=2,
            actor_hook=RecordThreads(str(tmp_path / "threads")),
        ),
    )  # fmt: skip
    assert remote.embedded == local.embedded == 10
    # torch threads in the actors, and the actors run at nice 0 (not Ray's default 15)
    assert (tmp_path / "threads").read_text() == "2 0"
    assert [c["path"] for c in remote.corrupt] == [c["path"] for c in local.corrupt]
    a, b = stored(tmp_path / "local"), stored(tmp_path / "ray")
    assert a.keys() == b.keys() and len(a) > 10
    assert a == b  # same spans, bit-identical float16 vectors

    # incremental: one file changed -> only it is embedded again, on Ray
    victim = sorted(library.glob("*.oga"))[0]
    data = victim.read_bytes()
    shutil.copy(FREEDESKTOP / "bell.oga", victim) if (FREEDESKTOP / "bell.oga").exists() else None
    if victim.read_bytes() == data:  # no bell.oga: use another file's content
        shutil.copy(sorted(FREEDESKTOP.glob("*.oga"))[-1], victim)
    again = _add(tmp_path / "ray", library, str(tiny_model_dir), "ray")
    assert again.embedded == 1 and again.unchanged == 9
    ref = _add(tmp_path / "local", library, str(tiny_model_dir), "local")
    assert ref.embedded == 1
    assert stored(tmp_path / "local") == stored(tmp_path / "ray")


def test_ray_actors_embed_at_the_index_precision(ray_cluster, library, tmp_path, tiny_model_dir):
    """The actors load the model at the index's precision (they once loaded it at fp32 and
    wrote fp32 vectors into a bf16 index) and for audio only."""

    def add(db, engine, precision):
        opts = RayOptions(actors=1, actor_cpus=1.0, batch_size=4, threads=1)
        return Index(db, model=str(tiny_model_dir), device="cpu", precision=precision).add(
            [library], window=2.0, hop=1.0, workers=0, batch_size=4, progress=False,
            engine=engine, ray_options=opts if engine == "ray" else None, threads=1,
        )  # fmt: skip

    add(tmp_path / "ray", "ray", "bf16")
    add(tmp_path / "local", "local", "bf16")
    add(tmp_path / "fp32", "local", "fp32")
    ray_rows, local_rows = stored(tmp_path / "ray"), stored(tmp_path / "local")
    assert ray_rows == local_rows and len(ray_rows) > 10
    assert ray_rows != stored(tmp_path / "fp32")  # bf16 vectors are not the fp32 ones


def test_actor_model_factory_loads_the_audio_side_at_a_precision(tiny_model_dir):
    from audioseek.index.ray_engine import model_factory_for

    model = model_factory_for(None, str(tiny_model_dir), "cpu", "bf16")()
    assert model.precision == "bf16" and not model.has_text


class RecordThreads:
    """Embedding-actor hook: writes the actor's torch thread count and niceness to ``path``."""

    def __init__(self, path: str):
        self.path = path

    def __call__(self, done: int) -> None:
        import torch

        Path(self.path).write_text(f"{torch.get_num_threads()} {os.nice(0)}")


class DieOnce:
    """Embedding-actor hook: the first actor to reach ``after`` windows exits (a crash, as
    when a node is lost); the marker file makes it happen once per test."""

    def __init__(self, marker: str, after: int):
        self.marker, self.after = marker, after

    def __call__(self, done: int) -> None:
        if done >= self.after and not os.path.exists(self.marker):
            Path(self.marker).touch()
            os._exit(1)


def test_killed_embedding_actor_is_retried(ray_cluster, library, tmp_path, tiny_model_dir):
    marker = tmp_path / "died"
    opts = RayOptions(
        actors=1, actor_cpus=0.5, batch_size=4, actor_hook=DieOnce(str(marker), after=4)
    )
    s = _add(tmp_path / "ray", library, str(tiny_model_dir), "ray", ray_options=opts)
    assert marker.exists(), "the actor should have died once"
    assert s.embedded == 10
    _add(tmp_path / "local", library, str(tiny_model_dir), "local")
    assert stored(tmp_path / "local") == stored(tmp_path / "ray")


def test_killed_driver_then_rerun_equals_uninterrupted(library, tmp_path, tiny_model_dir):
    """SIGKILL of the driver mid-run (its own local cluster), then a re-run with the Ray
    engine: the same index as an uninterrupted local run."""
    killed = tmp_path / "killed"
    script = (
        "import sys, time\n"
        "from audioseek import Index\n"
        "from audioseek.index.ray_engine import RayOptions\n"
        "lib, db, model = sys.argv[1:4]\n"
        "Index(db, model=model, device='cpu').add([lib], window=2.0, hop=1.0, workers=0,\n"
        "    batch_size=2, progress=False, engine='ray',\n"
        "    ray_options=RayOptions(num_cpus=2, actor_cpus=0.5, batch_size=2),\n"
        "    on_batch=lambda b: time.sleep(0.4))\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(library), str(killed), str(tiny_model_dir)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    written = 0
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.3)
        try:
            uri = f"{(killed / 'index.sqlite').as_uri()}?mode=ro"
            with sqlite3.connect(uri, uri=True, timeout=1) as c:
                written = c.execute("SELECT COUNT(*) FROM windows").fetchone()[0]
        except sqlite3.Error:
            continue
        if written >= 4:
            break
    assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    with contextlib.suppress(ProcessLookupError):  # its local cluster goes with its session
        os.killpg(proc.pid, signal.SIGKILL)
    assert written > 0
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    try:
        _add(killed, library, str(tiny_model_dir), "ray")
    finally:
        ray.shutdown()
    _add(tmp_path / "ref", library, str(tiny_model_dir), "local")
    assert stored(tmp_path / "ref") == stored(killed)


def test_cli_engine_ray(ray_cluster, library, tmp_path, tiny_model_dir, capsys):
    from audioseek.cli import main

    args = ["index", str(library), "--db", str(tmp_path / "cli"), "--model", str(tiny_model_dir)]
    args += ["--window", "2", "--hop", "1", "--engine", "ray", "--ray-actors", "1", "--json"]
    args += ["--ray-threads", "2"]
    assert main(args) == 0
    _add(tmp_path / "local", library, str(tiny_model_dir), "local")
    assert stored(tmp_path / "local") == stored(tmp_path / "cli")


def test_engine_without_ray_says_how_to_install(monkeypatch):
    import builtins

    from audioseek.errors import ConfigError
    from audioseek.index.ray_engine import import_ray

    real_import = builtins.__import__

    def no_ray(name, *a, **kw):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real_import(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(ConfigError, match=r"pip install 'audioseek\[ray\]'"):
        import_ray()
