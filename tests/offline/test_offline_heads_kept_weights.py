"""Which weights a run of scripts/offline_heads.py returns: with ``Recipe.ema`` validation, the
best epoch and the returned heads use an exponential moving average of the weights; with
``Recipe.fold_val`` the validation rows are trained on and the last epoch is kept, whatever
validation says."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="module")
def heads(import_script):
    return import_script("offline_heads")


def _split(heads, n: int = 48, seed: int = 0):
    # two captions per clip, each a noisy linear function (the same for every split) of
    # the clip's audio
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
    base = {"embed_dim": 8, "epochs": 3, "batch_size": 16, "warmup_steps": 2, "text_prob": 0.0}
    base["lr"] = 0.05
    return heads.Recipe(**(base | kw))


def test_ema_near_one_keeps_the_initial_weights_and_zero_trains(heads):
    from audioseek.models.heads import ProjectionHead

    train, val = _split(heads, seed=0), _split(heads, seed=1)
    torch.manual_seed(3)  # train_heads builds the audio head first from the seed
    init = ProjectionHead(12, 8, "linear", 0.0)
    slow = heads.train_heads(train, val, _recipe(heads, ema=0.999999), seed=3)
    plain = heads.train_heads(train, val, _recipe(heads), seed=3)
    w_init = init.state_dict()
    w_slow = slow["audio_head"].state_dict()
    w_plain = plain["audio_head"].state_dict()
    for k in w_init:
        assert torch.allclose(w_slow[k], w_init[k], atol=1e-4), k
    assert max(float((w_plain[k] - w_init[k]).abs().max()) for k in w_init) > 1e-2
    # a plain run is reproducible: ema=0 changes nothing about the old recipe
    again = heads.train_heads(train, val, _recipe(heads), seed=3)
    assert all(torch.equal(again["audio_head"].state_dict()[k], w_plain[k]) for k in w_plain)


def test_ema_learns_and_rejects_out_of_range_values(heads):
    train, val = _split(heads, seed=0), _split(heads, seed=1)
    res = heads.train_heads(train, val, _recipe(heads, ema=0.5, epochs=20), seed=0)
    # chance mAP@10 on 48 clips is about 0.09; the linear relation is easy to learn
    assert res["val_map10"] > 0.3 and 1 <= res["best_epoch"] <= 20
    with pytest.raises(SystemExit, match="ema must be in"):
        heads.train_heads(train, val, _recipe(heads, ema=1.0), seed=0)


def test_fold_val_trains_on_validation_rows_too(heads):
    rows = [{"split": s, "path": f"{s}{i}"} for i, s in enumerate(["train", "val", "test"] * 2)]
    plain = heads.fit_rows(rows, heads.Recipe())
    folded = heads.fit_rows(rows, heads.Recipe(fold_val=True))
    assert {r["split"] for r in plain} == {"train"} and len(plain) == 2
    assert {r["split"] for r in folded} == {"train", "val"} and len(folded) == 4
    assert heads.Recipe.parse(["fold_val=true"]).fold_val is True
    assert heads.Recipe.parse(["fold_val=no"]).fold_val is False
    with pytest.raises(SystemExit, match="fold_val: expected true or false, got 'ture'"):
        heads.Recipe.parse(["fold_val=ture"])


def test_fold_val_keeps_the_last_epoch_even_when_validation_peaked_earlier(heads):
    train, val = _split(heads, seed=0), _split(heads, seed=1)
    # validation whose captions are shifted against its clips: its best epoch is an
    # accident, here not the last one
    val.clip_captions = val.clip_captions[1:] + val.clip_captions[:1]
    logs = {"plain": [], "fold": []}

    def logger(key):
        return lambda line: logs[key].append(float(line.rsplit(" ", 1)[-1]))

    picked = heads.train_heads(train, val, _recipe(heads, epochs=6), seed=0, log=logger("plain"))
    folded = heads.train_heads(
        train, val, _recipe(heads, epochs=6, fold_val=True), seed=0, log=logger("fold")
    )
    assert logs["plain"] == logs["fold"]  # the same run; only the kept epoch differs
    best = max(range(6), key=lambda i: logs["plain"][i]) + 1
    assert picked["best_epoch"] == best != 6
    assert folded["best_epoch"] == 6 and folded["val_map10"] == pytest.approx(
        logs["fold"][-1], abs=5e-4
    )
    a, b = picked["audio_head"].state_dict(), folded["audio_head"].state_dict()
    assert any(not torch.equal(a[k], b[k]) for k in a)
