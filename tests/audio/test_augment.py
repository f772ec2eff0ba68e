"""SpecAugment masks and time stretch: eval identity, seeds, limits, per-item randomness."""

from __future__ import annotations

import pytest
import torch

from audioseek.audio.augment import (
    SpecAugment,
    SpectrogramAugment,
    TimeStretch,
    apply_masks,
    resolve_mask_param,
    sample_masks,
    time_stretch,
)

MODULES = [
    lambda: SpecAugment(seed=0),
    lambda: TimeStretch(seed=0),
    lambda: SpectrogramAugment(seed=0),
]


def spec(b=4, f=64, t=200, seed=0, channels=None) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    shape = (b, f, t) if channels is None else (b, channels, f, t)
    return torch.randn(shape, generator=g)


def runs(mask_1d: torch.Tensor) -> list[int]:
    """Lengths of the runs of True in a 1-D boolean tensor."""
    out, n = [], 0
    for v in mask_1d.tolist() + [False]:
        if v:
            n += 1
        elif n:
            out.append(n)
            n = 0
    return out


@pytest.mark.parametrize("make", MODULES)
@pytest.mark.parametrize("channels", [None, 3])
def test_identity_in_eval_mode_and_batched_equals_per_item(make, channels):
    m = make().eval()
    x = spec(channels=channels)
    assert m(x) is x
    for i in range(x.shape[0]):
        assert torch.equal(m(x[i : i + 1]), x[i : i + 1])


@pytest.mark.parametrize("make", MODULES)
def test_seeded_reproducible_and_shape_kept(make):
    x = spec()
    a, b = make().train(), make().train()
    ya, yb = a(x), b(x)
    assert ya.shape == x.shape and ya.dtype == x.dtype
    assert torch.equal(ya, yb)  # same seed, same augmentation
    assert not torch.equal(ya, x)
    assert not torch.equal(a(x), ya)  # the stream moves on between batches
    a.reseed(0)
    assert torch.equal(a(x), ya)  # reseeding restarts it


def test_global_seed_when_no_seed_given():
    x = spec()
    torch.manual_seed(123)
    y1 = SpectrogramAugment().train()(x)
    torch.manual_seed(123)
    y2 = SpectrogramAugment().train()(x)
    assert torch.equal(y1, y2)


def test_mask_sampling_within_limits_and_uniform_across_batch():
    g = torch.Generator().manual_seed(0)
    starts, widths = sample_masks(4000, 100, 2, 20, g)
    assert starts.shape == widths.shape == (4000, 2)
    assert widths.min() >= 0 and widths.max() == 20  # U{0..20}: both ends reached
    assert starts.min() >= 0 and (starts + widths).max() <= 100
    assert float(widths.float().mean()) == pytest.approx(10.0, abs=0.5)  # uniform: mean W/2
    counts = torch.bincount(widths.flatten(), minlength=21).float()
    assert counts.min() > 0.7 * counts.mean()  # every width about equally likely
    assert len({tuple(r) for r in widths[:50].tolist()}) > 30  # items draw their own masks


def test_mask_param_resolution():
    assert resolve_mask_param(27, 64) == 27
    assert resolve_mask_param(0.1, 200) == 20  # a float is a fraction of the axis
    assert resolve_mask_param(100, 50) == 50
    assert resolve_mask_param(100, 200, max_proportion=0.2) == 40  # Park's upper bound p
    for bad in (-1, 1.5, "x", True):
        with pytest.raises(ValueError):
            resolve_mask_param(bad, 10)


def test_spec_augment_masks_are_within_limits():
    x = spec(b=64, f=64, t=200) + 10.0  # nothing in the input equals the fill value 0
    m = SpecAugment(
        time_masks=2, time_mask_param=15, freq_masks=3, freq_mask_param=8, mask_value=0.0, seed=1
    ).train()
    y = m(x)
    masked = y == 0
    for i in range(x.shape[0]):
        cols = masked[i].all(dim=0)  # time-masked frames: the whole column is filled
        rows = masked[i].all(dim=1)
        assert cols.sum() <= 2 * 15 and all(r <= 2 * 15 for r in runs(cols))
        assert rows.sum() <= 3 * 8 and all(r <= 3 * 8 for r in runs(rows))
        assert len(runs(cols)) <= 2 and len(runs(rows)) <= 3
        # every masked cell lies in a masked row or column; the rest is untouched
        assert torch.equal(masked[i], cols[None, :] | rows[:, None])
        assert torch.equal(y[i][~masked[i]], x[i][~masked[i]])
    assert masked.any(dim=(1, 2)).float().mean() > 0.8  # nearly every item got masks


def test_mask_value_mean_is_the_items_mean():
    x = spec(b=2) + torch.tensor([3.0, -5.0])[:, None, None]
    starts, widths = torch.tensor([[10], [50]]), torch.tensor([[5], [7]])
    y = apply_masks(x, starts, widths, "time", "mean")
    for i, (s, w) in enumerate([(10, 5), (50, 7)]):
        assert torch.allclose(y[i, :, s : s + w], x[i].mean().expand(64, w))
        assert torch.equal(y[i, :, :s], x[i, :, :s]) and torch.equal(
            y[i, :, s + w :], x[i, :, s + w :]
        )
    yf = apply_masks(x, starts, widths, "freq", "min")
    assert torch.allclose(yf[0, 10:15], x[0].min().expand(5, 200))


def test_time_stretch_exact_cases():
    ramp = torch.arange(100, dtype=torch.float32).expand(2, 3, 100).clone()
    assert torch.equal(time_stretch(ramp, [1.0, 1.0]), ramp)
    fast = time_stretch(ramp, [2.0, 0.5], pad_value="min")
    assert fast.shape == ramp.shape
    # rate 2: 50 frames, centred in 100, padded with the item's minimum (0)
    assert torch.equal(fast[0, :, :25], torch.zeros(3, 25))
    assert torch.equal(fast[0, :, 75:], torch.zeros(3, 25))
    inner = fast[0, 0, 25:75]
    assert torch.all(inner[1:] > inner[:-1])  # the ramp, squeezed, increasing
    assert float(inner[0]) == pytest.approx(0.5) and float(inner[-1]) == pytest.approx(98.5)
    # rate 0.5: 200 frames, centre 100 kept -> the middle half of the ramp, slope 1/2
    slow = fast[1, 0]
    assert torch.allclose(slow[1:] - slow[:-1], torch.full((99,), 0.5), atol=1e-5)
    assert float(slow.mean()) == pytest.approx(49.5, abs=0.3)


def test_time_stretch_module_rates_uniform_per_item():
    m = TimeStretch(stretch_range=(0.8, 1.25), seed=0).train()
    x = spec(b=2000, f=2, t=20)
    rates = m.sample(x)
    assert rates.min() >= 0.8 and rates.max() <= 1.25
    assert float(rates.mean()) == pytest.approx((0.8 + 1.25) / 2, abs=0.02)
    assert len(set(rates[:100].tolist())) == 100


def test_composite_probability_and_per_item_randomness():
    x = spec(b=8)
    assert torch.equal(SpectrogramAugment(p=0.0, seed=0).train()(x), x)  # p=0: nothing
    y = SpectrogramAugment(p=1.0, seed=0).train()(x)
    changed = [(y[i] != x[i]).float().mean().item() for i in range(8)]
    assert min(changed) > 0
    # items are augmented differently from each other: same input, different outputs
    same = spec(b=1).expand(8, -1, -1).contiguous()
    z = SpectrogramAugment(seed=0).train()(same)
    assert len({tuple(z[i].flatten()[:50].tolist()) for i in range(8)}) == 8
    many = spec(b=400, f=8, t=20)
    half = SpectrogramAugment(p=0.5, seed=0, stretch_range=None).train()(many)
    untouched = sum(torch.equal(half[i], many[i]) for i in range(400))
    assert 120 < untouched < 280


def test_composite_inserted_in_a_model_follows_train_eval():
    net = torch.nn.Sequential(SpectrogramAugment(seed=0), torch.nn.Flatten())
    x = spec(b=2, f=8, t=16)
    net.eval()
    assert torch.equal(net(x), x.flatten(1))
    net.train()
    assert not torch.equal(net(x), x.flatten(1))
    assert net.state_dict() == {}  # nothing for checkpoints to carry


def test_bad_arguments():
    with pytest.raises(ValueError, match="stretch_range"):
        TimeStretch(stretch_range=(1.2, 0.8))
    with pytest.raises(ValueError, match="p must"):
        SpectrogramAugment(p=1.5)
    with pytest.raises(ValueError, match="mask_value"):
        SpecAugment(mask_value="median")
    with pytest.raises(ValueError, match="spectrogram"):
        SpectrogramAugment().train()(torch.zeros(10, 10))
