"""``Recipe.fold_val`` of scripts/offline_heads.py: validation rows are trained on and the
last epoch is kept, whatever validation says."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="module")
def heads(import_script):
    return import_script("offline_heads")


def _split(heads, n: int = 48, seed: int = 0):
    mix = torch.randn(12, 10, generator=torch.Generator().manual_seed(99))
    g = torch.Generator().manual_seed(seed)
    audio = torch.randn(n, 12, generator=g)
    text = torch.cat([audio @ mix + 0.1 * torch.randn(n, 10, generator=g) for _ in range(2)])
    return heads.Split(
        audio=audio,
        categories=["a" if i % 2 else "b" for i in range(n)],
        clip_captions=[[i, n + i] for i in range(n)],
        paraphrases=[[] for _ in range(2 * n)],
        text=text,
    )


def _recipe(heads, **kw):
    base = {"embed_dim": 8, "epochs": 6, "batch_size": 16, "warmup_steps": 2, "text_prob": 0.0}
    return heads.Recipe(**(base | {"lr": 0.05} | kw))


def test_fold_val_trains_on_validation_rows_too(heads):
    rows = [{"split": s, "path": f"{s}{i}"} for i, s in enumerate(["train", "val", "test"] * 2)]
    plain = heads.fit_rows(rows, heads.Recipe())
    folded = heads.fit_rows(rows, heads.Recipe(fold_val=True))
    assert {r["split"] for r in plain} == {"train"} and len(plain) == 2
    assert {r["split"] for r in folded} == {"train", "val"} and len(folded) == 4
    assert heads.Recipe.parse(["fold_val=true"]).fold_val is True


def test_fold_val_keeps_the_last_epoch_even_when_validation_peaked_earlier(heads):
    train, val = _split(heads, seed=0), _split(heads, seed=1)
    # validation whose captions are shifted against its clips: its best epoch is an
    # accident, here not the last one
    val.clip_captions = val.clip_captions[1:] + val.clip_captions[:1]
    logs = {"plain": [], "fold": []}

    def logger(key):
        return lambda line: logs[key].append(float(line.rsplit(" ", 1)[-1]))

    picked = heads.train_heads(train, val, _recipe(heads), seed=0, log=logger("plain"))
    folded = heads.train_heads(
        train, val, _recipe(heads, fold_val=True), seed=0, log=logger("fold")
    )
    assert logs["plain"] == logs["fold"]  # the same run; only the kept epoch differs
    best = max(range(6), key=lambda i: logs["plain"][i]) + 1
    assert picked["best_epoch"] == best != 6
    assert folded["best_epoch"] == 6 and folded["val_map10"] == pytest.approx(
        logs["fold"][-1], abs=5e-4
    )
    a, b = picked["audio_head"].state_dict(), folded["audio_head"].state_dict()
    assert any(not torch.equal(a[k], b[k]) for k in a)
