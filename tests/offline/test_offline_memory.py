"""scripts/offline_memory.py, which made offline model v4 from v3: the bank it builds, the
choice of k and tau on validation with each clip's own source left out, and the model it
saves (v3's heads kept exactly, the memory beside them)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F


@pytest.fixture(scope="module")
def om(import_script):
    return import_script("offline_memory")


def _rows(n, source, split):
    return [
        {
            "path": f"{source}/{i}.flac",
            "source": source,
            "split": split,
            **{f"caption_{j}": f"{source} sound {i} take {j}" for j in range(1, 6)},
        }
        for i in range(n)
    ]


def _features(rows, dim, seed):
    g = torch.Generator().manual_seed(seed)
    return {r["path"]: torch.randn(dim, generator=g) for r in rows}


def test_bank_values_are_the_mean_caption_vector(om):
    rows = _rows(3, "a", "train")
    audio = _features(rows, 6, 0)
    text = {r[f"caption_{j}"]: torch.randn(4) for r in rows for j in range(1, 6)}
    keys, values, sources = om.caption_bank(rows, audio, text)
    assert keys.shape == (3, 6) and values.shape == (3, 4) and sources == ["a"] * 3
    want = F.normalize(
        torch.stack([text[rows[1][f"caption_{j}"]] for j in range(1, 6)]).mean(0), dim=0
    )
    assert torch.allclose(values[1], want)


def test_selection_never_describes_a_clip_by_its_own_source(om):
    # validation clips of source "a" have exact copies in the bank (same audio, captions):
    # with its own source left out, a clip cannot be recalled by its copy
    train = _rows(20, "a", "train") + _rows(20, "b", "train")
    val = [dict(r, path=r["path"], split="val") for r in train[:10]]
    audio = _features(train, 8, 0)
    base = _features(train, 5, 1)  # a clip's captions are near one another
    text = {
        r[f"caption_{j}"]: base[r["path"]] + 0.1 * torch.randn(5)
        for r in train
        for j in range(1, 6)
    }
    bank = om.caption_bank(train, audio, text)
    grid = om.select(bank, val, audio, text, grid_k=(1,), grid_tau=(0.01,))
    assert len(grid) == 1 and grid[0]["k"] == 1
    # the same data without leaving sources out finds every copy: mAP@10 near 1
    only_b = [dict(r, source="z") for r in val]  # a source the bank does not hold
    leak = om.select(bank, only_b, audio, text, grid_k=(1,), grid_tau=(0.01,))
    assert leak[0]["val_map10"] > 0.9 > grid[0]["val_map10"]


def _tiny_base(tiny_roberta_dir):
    """A small DualEncoder (24-d heads) standing in for v3."""
    from audioseek.models.factory import build_model

    torch.manual_seed(0)
    return build_model(
        {
            "audio_encoder": "small_cnn",
            "audio_encoder_args": {"channels": [8, 8, 16, 16], "clip_seconds": 1.0},
            "text_encoder": str(tiny_roberta_dir),
            "text_encoder_args": {"pooling": "mean"},
            "embed_dim": 24,
        }
    ).eval()


def test_with_memory_keeps_the_heads_and_adds_the_bank(om, tiny_roberta_dir):
    base = _tiny_base(tiny_roberta_dir)
    g = torch.Generator().manual_seed(3)
    bank = (torch.randn(10, 16, generator=g), torch.randn(10, 32, generator=g), ["s"] * 10)
    model = om.with_memory(base, bank, k=3, tau=0.05, alpha=0.5)
    assert model.config["memory"] == {
        "size": 10,
        "k": 3,
        "tau": 0.05,
        "alpha": 0.5,
        "text_dim": 32,
        "reverse_k": 20,
        "reverse_tau": 0.05,
        "beta": 1.0,
    }
    wave = torch.randn(2, 16000)
    with torch.inference_mode():
        a_base, a = base.encode_audio(wave), model.encode_audio(wave)
        t_base, t = base.encode_text(["rain"]), model.encode_text(["rain"])
    # the first 24 numbers are the base model's embedding, scaled by sqrt(alpha)
    assert torch.allclose(a[:, :24] / 0.5**0.5, a_base, atol=1e-5)
    assert torch.allclose(t[:, :24] / 0.5**0.5, t_base, atol=1e-5)
    assert model.embed_dim == 24 + 32


def test_the_variants_scripts_v4_row_is_the_shipped_memory(om, tiny_roberta_dir):
    # scripts/offline_memory_variants.py scores "v4 with one change": its unchanged variant
    # must give the vectors of a model built by with_memory (up to the int8 bank)
    import offline_memory_variants as mv

    base = _tiny_base(tiny_roberta_dir)
    g = torch.Generator().manual_seed(4)
    bank = (torch.randn(40, 16, generator=g), torch.randn(40, 32, generator=g), ["s"] * 40)
    model = om.with_memory(base, bank, 20, 0.05, 0.5, reverse_k=5, reverse_tau=0.05, beta=0.5)
    var = mv.Variant(model, bank, keys="raw")
    x, t = torch.randn(6, 16, generator=g), torch.randn(3, 32, generator=g)
    with torch.inference_mode():
        want_a, want_t = model.audio_head(x), model.text_head(t)
    assert torch.allclose(var.audio(x), want_a, atol=5e-3)
    assert torch.allclose(var.text(t), want_t, atol=5e-3)
    # and a changed variant is a different read
    assert not torch.allclose(mv.Variant(model, bank, keys="head").audio(x), want_a, atol=5e-3)


def test_bank_splits_train_or_train_and_val_and_never_with_selection(om, capsys):
    assert om.bank_splits_of("train") == {"train"}
    assert om.bank_splits_of("train, val") == {"train", "val"}
    for bad in ("test", "train,heldout", ""):
        with pytest.raises(SystemExit, match="--bank-splits"):
            om.bank_splits_of(bad)
    # choosing k and tau on validation clips the bank holds would be choosing on the answer
    with pytest.raises(SystemExit) as e:
        om.main(["--model", "unused", "--select", "--bank-splits", "train,val"])
    assert e.value.code == 2 and "cannot also be in the bank" in capsys.readouterr().err
