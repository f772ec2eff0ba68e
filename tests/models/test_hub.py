from __future__ import annotations

import logging

import pytest
import torch

from audioseek.errors import ModelLoadError
from audioseek.models import hub
from audioseek.models.factory import ModelConfig, build_model


@pytest.fixture
def empty_hf_cache(tmp_path, monkeypatch):
    """An unreachable hub: HF_HUB_OFFLINE=1 (conftest) and an empty cache under HF_HOME."""
    import huggingface_hub.constants as c

    home = tmp_path / "hf_home"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(c, "HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)
    return home


@pytest.fixture
def fake_offline_dir(tmp_path, monkeypatch, tiny_roberta_dir):
    d = tmp_path / "offline_model"
    torch.manual_seed(0)
    model = build_model(
        ModelConfig(
            audio_encoder="small_cnn",
            audio_encoder_args={"channels": [4, 4, 8, 8]},
            text_encoder=str(tiny_roberta_dir),
            embed_dim=8,
        )
    )
    model.save_pretrained(d)
    monkeypatch.setattr(hub, "offline_model_dir", lambda: d)
    return d, model.fingerprint


def test_default_falls_back_to_offline_with_one_warning(empty_hf_cache, fake_offline_dir, caplog):
    d, fingerprint = fake_offline_dir
    with caplog.at_level(logging.WARNING):
        model = hub.load_model(None, device="cpu")
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    msg = warnings[0].getMessage()
    assert hub.CLAP_ID in msg and str(d) in msg and "offline" in msg
    assert model.fingerprint == fingerprint and not model.training
    assert hub.model_spec_id(model) == "offline"
    again = hub.load_model(hub.model_spec_id(model), device="cpu")
    assert again.fingerprint == fingerprint


def test_hub_retry_warnings_do_not_add_lines(fake_offline_dir, caplog, monkeypatch):
    """No network: huggingface_hub logs a warning per retry; the user sees only ours."""
    import huggingface_hub

    def unreachable(repo_id, filename, **kwargs):
        for attempt in range(3):
            logging.getLogger("huggingface_hub.utils._http").warning("retry %d", attempt)
        raise OSError("Name or service not known")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", unreachable)
    level = logging.getLogger("huggingface_hub").level
    with caplog.at_level(logging.WARNING):
        hub.load_model(None, device="cpu")
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.name for r in warnings] == ["audioseek.models.hub"]
    with pytest.raises(ModelLoadError, match="'foo/bar'.*Name or service"):
        hub.load_model("foo/bar", device="cpu")
    assert logging.getLogger("huggingface_hub").level == level  # restored


def test_default_without_offline_model_names_both_failures(empty_hf_cache, tmp_path, monkeypatch):
    monkeypatch.setattr(hub, "offline_model_dir", lambda: tmp_path / "not-built")
    with pytest.raises(ModelLoadError) as ei:
        hub.load_model(None, device="cpu")
    assert hub.CLAP_ID in str(ei.value) and "not-built" in str(ei.value)
    with pytest.raises(ModelLoadError, match="not available"):
        hub.load_model("offline", device="cpu")


def test_explicit_specs(empty_hf_cache, fake_offline_dir, tmp_path, tiny_clap_dir):
    with pytest.raises(ModelLoadError, match="laion/clap-htsat-unfused"):
        hub.load_model("clap", device="cpu")  # explicit: no fallback
    with pytest.raises(ModelLoadError, match="not found"):
        hub.load_model(str(tmp_path / "missing-model"), device="cpu")
    with pytest.raises(ModelLoadError, match="empty model spec"):
        hub.load_model("  ", device="cpu")
    d, fingerprint = fake_offline_dir
    model = hub.load_model(str(d), device="cpu")
    assert model.fingerprint == fingerprint
    assert hub.model_spec_id(model) == str(d.resolve())
    clap = hub.load_model(str(tiny_clap_dir), device="cpu")
    assert clap.embed_dim == 16


def test_bundled_offline_model_if_built():
    if not (hub.offline_model_dir() / "config.json").is_file():
        pytest.skip("the bundled offline model has not been built yet")
    model = hub.load_model("offline", device="cpu")
    with torch.no_grad():
        emb = model.encode_text(["a dog barks"])
    assert emb.shape == (1, model.embed_dim)


def test_unreachable_hub_falls_back_without_waiting(
    tmp_path, fake_offline_dir, caplog, monkeypatch
):
    """No network and no cache: fall back at once instead of sitting through the retries."""
    import time

    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(c, "HF_HUB_OFFLINE", False)
    for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    probed = []
    monkeypatch.setattr(hub, "_reachable", lambda url, timeout: probed.append(url) or False)

    def no_hub(*args, **kwargs):
        raise AssertionError("the hub must not be tried when it cannot be reached")

    from audioseek.models.dual_encoder import DualEncoder

    real = DualEncoder.from_pretrained.__func__

    def guarded(cls, path_or_id, device=None, text=True):
        if str(path_or_id) == hub.CLAP_ID:
            no_hub()
        return real(cls, path_or_id, device=device, text=text)

    monkeypatch.setattr(DualEncoder, "from_pretrained", classmethod(guarded))
    t0 = time.perf_counter()
    with caplog.at_level(logging.WARNING):
        model = hub.load_model(None, device="cpu")
    assert time.perf_counter() - t0 < 20
    assert probed and hub.model_spec_id(model) == "offline"
    (warning,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "cannot be reached" in warning.getMessage()


def test_reachable_probe_is_real():
    import socket

    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        port = srv.getsockname()[1]
        assert hub._reachable(f"http://127.0.0.1:{port}", 2.0)
    # the port is closed now: connection refused
    assert not hub._reachable(f"http://127.0.0.1:{port}", 2.0)
