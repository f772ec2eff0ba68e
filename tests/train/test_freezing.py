"""Each freezing policy leaves exactly the intended parameters trainable."""

from __future__ import annotations

import io

import pytest
import torch
from torch import nn

from audioseek.errors import ConfigError
from audioseek.train.freezing import (
    FreezeConfig,
    apply_freezing,
    set_frozen_eval,
    trainable_table,
)


class _Encoder(nn.Module):
    """Four block groups (early -> late), a BatchNorm in the first, an augment slot."""

    def __init__(self, dim=4):
        super().__init__()
        self.augment = nn.Identity()
        self.blocks = nn.ModuleList(
            [nn.Sequential(nn.Linear(dim, dim), nn.BatchNorm1d(dim))]
            + [nn.Linear(dim, dim) for _ in range(3)]
        )

    def block_groups(self):
        return [(f"block{i}", list(b.parameters())) for i, b in enumerate(self.blocks)]


class _Dual(nn.Module):
    def __init__(self):
        super().__init__()
        self.audio_encoder = _Encoder()
        self.text_encoder = _Encoder()
        self.audio_head = nn.Linear(4, 3)
        self.text_head = nn.Linear(4, 3)
        self.logit_scale = nn.Parameter(torch.tensor(2.0))


def _trainable(model):
    return {n for n, p in model.named_parameters() if p.requires_grad}


def _names(model, module):
    ids = {id(p) for p in module.parameters()}
    return {n for n, p in model.named_parameters() if id(p) in ids}


def test_baseline_trains_only_heads_and_temperature():
    m = _Dual()
    groups = apply_freezing(m, FreezeConfig(policy="baseline"), lr=1e-3)
    expected = _names(m, m.audio_head) | _names(m, m.text_head) | {"logit_scale"}
    assert _trainable(m) == expected
    assert [g.name for g in groups] == ["heads+temperature"]
    assert groups[0].lr == 1e-3


def test_finetune_last_two_audio_groups():
    m = _Dual()
    groups = apply_freezing(m, FreezeConfig(policy="finetune", audio_groups=2), lr=1e-4)
    expected = (
        _names(m, m.audio_head)
        | _names(m, m.text_head)
        | {"logit_scale"}
        | _names(m, m.audio_encoder.blocks[2])
        | _names(m, m.audio_encoder.blocks[3])
    )
    assert _trainable(m) == expected
    assert [g.name for g in groups] == ["heads+temperature", "audio.block2", "audio.block3"]
    assert all(g.lr == 1e-4 for g in groups)


def test_finetune_all_layers_with_layerwise_decay_and_text_groups():
    m = _Dual()
    cfg = FreezeConfig(policy="finetune", audio_groups="all", layerwise_decay=0.1, text_groups=1)
    groups = apply_freezing(m, cfg, lr=1.0)
    lrs = {g.name: g.lr for g in groups}
    assert lrs["audio.block3"] == pytest.approx(1.0)
    assert lrs["audio.block2"] == pytest.approx(0.1)
    assert lrs["audio.block0"] == pytest.approx(1e-3)  # tiny for early layers
    assert lrs["text.block3"] == pytest.approx(1.0)
    assert "text.block2" not in lrs
    assert _names(m, m.audio_encoder) <= _trainable(m)
    assert not (_names(m, m.text_encoder.blocks[0]) & _trainable(m))
    # every trainable parameter sits in exactly one optimizer group
    listed = [id(p) for g in groups for p in g.params]
    assert len(listed) == len(set(listed))
    assert {id(p) for p in m.parameters() if p.requires_grad} == set(listed)


def test_bad_policy_values_raise():
    with pytest.raises(ConfigError, match="'partial'"):
        apply_freezing(_Dual(), FreezeConfig(policy="partial"), lr=1e-3)
    with pytest.raises(ConfigError, match="'some'"):
        apply_freezing(_Dual(), FreezeConfig(policy="finetune", audio_groups="some"), lr=1e-3)
    with pytest.raises(ConfigError, match="layerwise_decay"):
        apply_freezing(_Dual(), FreezeConfig(policy="finetune", layerwise_decay=2.0), lr=1e-3)


def test_frozen_parts_run_in_eval_mode_but_augment_trains():
    m = _Dual()
    apply_freezing(m, FreezeConfig(policy="finetune", audio_groups=2), lr=1e-3)
    m.train()
    set_frozen_eval(m)
    assert not m.text_encoder.training  # fully frozen
    assert m.audio_encoder.training
    assert not m.audio_encoder.blocks[0][1].training  # frozen BatchNorm keeps its statistics
    assert m.audio_encoder.augment.training
    m.eval()
    set_frozen_eval(m)
    assert not m.audio_encoder.augment.training


def test_table_lists_groups_and_totals():
    from rich.console import Console

    m = _Dual()
    groups = apply_freezing(m, FreezeConfig(policy="baseline"), lr=1e-3)
    console = Console(record=True, width=120, file=io.StringIO())
    console.print(trainable_table(m, groups))
    text = console.export_text()
    assert "heads+temperature" in text and "31 / 207" in text


def test_fixed_temperature_stays_frozen():
    m = _Dual()
    m.logit_scale.requires_grad_(False)  # built with learn_temperature=False
    apply_freezing(m, FreezeConfig(policy="baseline"), lr=1e-3)
    assert "logit_scale" not in _trainable(m)
    assert _names(m, m.audio_head) <= _trainable(m)
