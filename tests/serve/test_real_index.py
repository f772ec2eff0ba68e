"""The API on a real index (``audioseek.index`` + its search service) built with a tiny
model, and the ``audioseek serve`` entry point."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from audioseek.serve.app import create_app


@pytest.fixture
def rclient(real_service):
    with TestClient(create_app(real_service), base_url="http://localhost") as c:
        yield c


def _id_of(client, path) -> int:
    hits = client.get("/api/search", params={"q": "hum whistle beep", "k": 10}).json()["hits"]
    return next(h["file_id"] for h in hits if h["path"] == str(path))


def test_search_finds_the_described_sound(rclient, real_index):
    _, files = real_index
    for query, name in [("a whistle", "whistle"), ("low hum", "hum"), ("beep", "beep")]:
        hits = rclient.get("/api/search", params={"q": query, "k": 4}).json()["hits"]
        assert len(hits) == 4
        assert hits[0]["path"] in (str(files[name]), str(files.get(name + "_copy")))
        scores = [h["score"] for h in hits]
        assert scores == sorted(scores, reverse=True)


def test_best_window_of_late_whistle(rclient, real_index):
    _, files = real_index
    top = rclient.get("/api/search", params={"q": "whistle"}).json()["hits"][0]
    assert top["path"] == str(files["whistle"])
    assert (top["start"], top["end"]) == (6.0, 10.0)
    assert top["duration"] == pytest.approx(12.0)
    assert top["sample_rate"] == 8000 and top["format"] == "wav"


def test_tags_and_format_from_the_index(rclient, real_index):
    _, files = real_index
    top = rclient.get("/api/search", params={"q": "beep"}).json()["hits"][0]
    assert top["path"] == str(files["beep"]) and top["format"] == "flac"
    assert (top["title"], top["artist"], top["genre"]) == ("Test Beep", "Signal Lab", "Electronic")


def test_post_batch_matches_get(rclient):
    batch = rclient.post("/api/search", json={"queries": ["whistle", "beep"], "k": 2}).json()
    for result in batch["results"]:
        single = rclient.get("/api/search", params={"q": result["query"], "k": 2}).json()
        assert [h["file_id"] for h in result["hits"]] == [h["file_id"] for h in single["hits"]]


def test_similar_by_id_and_by_upload(rclient, real_index):
    _, files = real_index
    hum_id = _id_of(rclient, files["hum"])
    by_id = rclient.post("/api/similar", json={"file_id": hum_id, "k": 3}).json()["hits"]
    assert by_id[0]["path"] == str(files["hum_copy"])  # the query file itself is excluded
    assert hum_id not in [h["file_id"] for h in by_id]
    with open(files["whistle"], "rb") as f:
        r = rclient.post("/api/similar", files={"file": ("w.wav", f, "audio/wav")}, data={"k": "2"})
    assert r.status_code == 200
    hits = r.json()["hits"]
    assert len(hits) == 2 and hits[0]["path"] == str(files["whistle"])


def test_similar_upload_garbage_is_422(rclient, err):
    r = rclient.post("/api/similar", files={"file": ("x.mp3", b"\x00" * 2048, "audio/mpeg")})
    assert r.status_code == 422
    assert "'x.mp3'" in err(r)


def test_duplicates_group_the_copy(rclient, real_index):
    _, files = real_index
    groups = rclient.get("/api/duplicates").json()["groups"]
    assert len(groups) == 1
    assert sorted(f["path"] for f in groups[0]["files"]) == sorted(
        [str(files["hum"]), str(files["hum_copy"])]
    )
    assert groups[0]["score"] >= 0.97


def test_duplicates_are_the_real_groups(rclient, real_service):
    from dataclasses import asdict

    body = rclient.get("/api/duplicates").json()
    expected = real_service.duplicates()
    assert len(body["groups"]) == len(expected) == 1
    for got, want in zip(body["groups"], expected, strict=True):
        assert got["score"] == pytest.approx(want.score)
        assert got["confirmed"] == want.confirmed
        assert got["pairs"] == [asdict(p) for p in want.pairs]
        files = zip(got["files"], want.files, strict=True)
        assert [{k: f[k] for k in asdict(w)} for f, w in files] == [asdict(w) for w in want.files]


def test_info(rclient, real_service, real_index):
    from dataclasses import asdict

    db, files = real_index
    info = rclient.get("/api/info").json()
    assert info == asdict(real_service.info())  # the real IndexInfo, field for field
    assert info["files"] == 4 and info["windows"] == 18
    assert info["model_id"] == "serve-test-tone-model"
    assert info["db"] == str(db.resolve()) and info["roots"] == [str(files["hum"].parent)]
    assert info["window_s"] == 4.0 and info["hop_s"] == 2.0


def test_audio_of_every_indexed_file(rclient, real_index):
    _, files = real_index
    for path in files.values():
        file_id = _id_of(rclient, path)
        assert rclient.get(f"/api/files/{file_id}").json()["path"] == str(path)
        data = Path(path).read_bytes()
        r = rclient.get(f"/api/audio/{file_id}")
        assert r.status_code == 200 and r.content == data
        r = rclient.get(f"/api/audio/{file_id}", headers={"Range": "bytes=1000-1999"})
        assert r.status_code == 206 and r.content == data[1000:2000]


def test_real_store_refuses_file_swapped_for_symlink_out(real_index, tone_model_cls, err, tmp_path):
    """Copy the index, then replace an indexed file by a symlink to a secret outside."""
    from audioseek.index.indexer import index_paths
    from audioseek.index.service import Index

    db0, files = real_index
    lib = tmp_path / "lib"
    shutil.copytree(files["hum"].parent, lib)
    db = tmp_path / "db"
    index_paths([lib], db, model=tone_model_cls(), window=4.0, hop=2.0, workers=1, progress=False)
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    with TestClient(
        create_app(Index(db, model=tone_model_cls())), base_url="http://localhost"
    ) as c:
        hits = c.get("/api/search", params={"q": "beep", "k": 4}).json()["hits"]
        victim = next(h for h in hits if h["path"].endswith("beep.flac"))
        os.remove(victim["path"])
        os.symlink(secret, victim["path"])
        r = c.get(f"/api/audio/{victim['file_id']}")
    assert r.status_code == 403
    assert b"TOP SECRET" not in r.content
    assert "outside the indexed library" in err(r)


# ---- the entry point ----------------------------------------------------------------------------


def _args(db, host="127.0.0.1", port=0):
    """``audioseek serve`` flags as the real parser reads them (every default included)."""
    from audioseek.cli.main import build_parser

    argv = ["serve", "--db", str(db), "--host", host, "--port", str(port), "--device", "cpu"]
    return build_parser().parse_args(argv)


def test_cli_serve_missing_index_is_one_line_error(tmp_path, capsys):
    from audioseek.cli import main

    assert main(["serve", "--db", str(tmp_path / "nowhere"), "--port", "0"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no index at") and "nowhere" in err and "\n" not in err


def test_cli_serve_port_in_use_is_one_line_error(real_index, capsys):
    from audioseek.cli import main
    from audioseek.serve.app import bind_socket

    taken = bind_socket("127.0.0.1", 0)
    try:
        port = taken.getsockname()[1]
        assert main(["serve", "--db", str(real_index[0]), "--port", str(port)]) == 1
    finally:
        taken.close()
    assert f"port {port}" in capsys.readouterr().err


@pytest.fixture
def fake_uvicorn(monkeypatch, tone_model_cls):
    """Run ``audioseek serve`` up to ``uvicorn.Server.run`` with the real ``Index`` and the
    tiny model; record what would be served instead of serving forever."""
    import torch
    import uvicorn

    import audioseek.index.service as service_mod

    real_cls = service_mod.Index
    ran = {}
    # keep this pytest process's torch thread count as it is (serve sets it globally)
    monkeypatch.setenv("AUDIOSEEK_SERVE_THREADS", str(torch.get_num_threads()))
    monkeypatch.setattr(
        service_mod,
        "Index",
        lambda db, model=None, device="auto", **kw: real_cls(
            db, model=tone_model_cls(), device=device, **kw
        ),
    )

    def run(self, sockets=None):
        ran["app"], ran["sockets"] = self.config.app, sockets
        ran["addr"] = sockets[0].getsockname()
        ran["threads"] = self.config.app.state.worker.run(lambda s: torch.get_num_threads())
        settings = self.config.app.state.settings
        ran["settings"] = settings
        # lifespan runs: closes the worker afterwards
        with TestClient(self.config.app, base_url="http://localhost") as c:
            ran["anonymous"] = c.get("/api/search", params={"q": "whistle", "k": 1})
            headers = {"Authorization": f"Bearer {settings.token}"} if settings.token else {}
            ran["search"] = c.get(
                "/api/search", params={"q": "whistle", "k": 1}, headers=headers
            ).json()

    monkeypatch.setattr(uvicorn.Server, "run", run)
    return ran


def test_cli_serve_loopback(fake_uvicorn, real_index, caplog):
    from audioseek.cli.serve import run

    with caplog.at_level(logging.WARNING, logger="audioseek.serve.app"):
        assert run(_args(real_index[0])) == 0
    assert fake_uvicorn["addr"][0] == "127.0.0.1"
    assert fake_uvicorn["search"]["hits"][0]["path"].endswith("late_whistle.wav")
    assert not [r for r in caplog.records if "not loopback" in r.getMessage()]
    assert fake_uvicorn["sockets"][0].fileno() == -1  # closed after the server stops
    assert fake_uvicorn["threads"] == int(os.environ["AUDIOSEEK_SERVE_THREADS"])


def test_serve_threads_setting(monkeypatch):
    from audioseek.errors import ConfigError
    from audioseek.serve.app import serve_threads

    monkeypatch.delenv("AUDIOSEEK_SERVE_THREADS", raising=False)
    assert serve_threads() == 1
    monkeypatch.setenv("AUDIOSEEK_SERVE_THREADS", "3")
    assert serve_threads() == 3
    assert serve_threads(2) == 2  # an explicit value wins
    for bad in ("0", "two", "-1", ""):
        monkeypatch.setenv("AUDIOSEEK_SERVE_THREADS", bad)
        with pytest.raises(ConfigError, match="AUDIOSEEK_SERVE_THREADS"):
            serve_threads()
    with pytest.raises(ConfigError, match="threads 0"):
        serve_threads(0)


def test_cli_serve_beyond_loopback_generates_a_token_printed_once(
    fake_uvicorn, real_index, caplog, capsys, monkeypatch
):
    from audioseek.cli.serve import run

    monkeypatch.delenv("AUDIOSEEK_TOKEN", raising=False)
    with caplog.at_level(logging.WARNING, logger="audioseek.serve.app"):
        assert run(_args(real_index[0], host="0.0.0.0")) == 0
    token = fake_uvicorn["settings"].token
    assert token and len(token) >= 32
    assert fake_uvicorn["anonymous"].status_code == 401  # a request without the token
    assert fake_uvicorn["search"]["hits"][0]["path"].endswith("late_whistle.wav")
    err = capsys.readouterr().err
    assert err.count(token) == 1 and f"?token={token}" in err
    assert not [r for r in caplog.records if "not loopback" in r.getMessage()]


def test_cli_serve_token_from_environment(fake_uvicorn, real_index, capsys, monkeypatch):
    from audioseek.cli.serve import run

    monkeypatch.setenv("AUDIOSEEK_TOKEN", "from-the-environment")
    assert run(_args(real_index[0], host="0.0.0.0")) == 0
    assert fake_uvicorn["settings"].token == "from-the-environment"
    assert fake_uvicorn["anonymous"].status_code == 401
    assert "from-the-environment" not in capsys.readouterr().err  # a given token is not echoed


def test_cli_serve_no_auth_warns_once(fake_uvicorn, real_index, caplog, capsys, monkeypatch):
    from audioseek.cli.serve import run

    monkeypatch.delenv("AUDIOSEEK_TOKEN", raising=False)
    args = _args(real_index[0], host="0.0.0.0")
    args.no_auth = True
    with caplog.at_level(logging.WARNING, logger="audioseek.serve.app"):
        assert run(args) == 0
    warnings = [r.getMessage() for r in caplog.records if "not loopback" in r.getMessage()]
    assert len(warnings) == 1 and "'0.0.0.0'" in warnings[0] and "without a token" in warnings[0]
    assert fake_uvicorn["settings"].token is None
    assert fake_uvicorn["anonymous"].status_code == 200
    # said once: the log line only (caplog captures it; nothing else repeats it)
    assert "not loopback" not in capsys.readouterr().err


def test_cli_serve_no_auth_with_a_token_is_refused(real_index, monkeypatch):
    from audioseek.cli.serve import run
    from audioseek.errors import ConfigError

    args = _args(real_index[0], host="0.0.0.0")
    args.no_auth, args.token = True, "t"
    with pytest.raises(ConfigError, match="--no-auth"):
        run(args)


def test_cli_serve_upload_limit_from_args(fake_uvicorn, real_index):
    from audioseek.cli.serve import run
    from audioseek.errors import ConfigError

    args = _args(real_index[0])
    args.max_upload_mb = 0.5
    assert run(args) == 0
    assert fake_uvicorn["app"].state.settings.max_upload_bytes == 512 * 1024
    args.max_upload_mb = 0
    with pytest.raises(ConfigError, match="--max-upload-mb 0"):
        run(args)


def test_cli_serve_host_and_cors_flags(fake_uvicorn, real_index, monkeypatch):
    from audioseek.cli.serve import run

    monkeypatch.delenv("AUDIOSEEK_TOKEN", raising=False)
    args = _args(real_index[0])
    args.allow_host, args.cors = ["box.lan", "::1"], ["https://app.example"]
    assert run(args) == 0
    settings = fake_uvicorn["settings"]
    assert settings.allowed_hosts == ["localhost", "127.0.0.1", "[::1]", "box.lan", "::1"]
    assert not settings.allow_ip_hosts and settings.token is None  # loopback: no token needed
    assert settings.cors_origins == ["https://app.example"]
    assert fake_uvicorn["anonymous"].status_code == 200


@pytest.mark.parametrize("bad", ["evil.com/x", "a b", ""])
def test_cli_serve_refuses_a_bad_allow_host(fake_uvicorn, real_index, bad):
    from audioseek.cli.serve import run
    from audioseek.errors import ConfigError

    args = _args(real_index[0])
    args.allow_host = [bad]
    with pytest.raises(ConfigError, match="invalid host name"):
        run(args)
