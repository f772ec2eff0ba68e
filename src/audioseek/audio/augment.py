"""SpecAugment masks and time stretch on spectrograms ``(batch, freq, time)``.

The paper augments audio with time masks, frequency masks and time stretching, "uniformly
distributed across a batch as originally proposed in SpecAugment" (Park et al., 2019): every item
of a batch draws its own parameters, uniformly, from the configured ranges. Inputs may also be
``(batch, channels, freq, time)``; the channels of one item share its masks and stretch.

Pure functions take explicit parameters (:func:`apply_masks`, :func:`time_stretch`); samplers
(:func:`sample_masks`, :func:`sample_rates`) draw them from an explicit ``torch.Generator`` (on
the CPU, so a seed gives the same augmentation on any device). The modules are the identity when
``.training`` is False, as every train-only augmentation must be.

Mask sizes (``time_mask_param``, ``freq_mask_param``) are an ``int`` (frames / bins, Park's
``T`` and ``F``) or a ``float`` in ``(0, 1]`` (that fraction of the item's axis), so one default
fits both a 513-bin linear spectrogram and a 64-bin log-mel. A mask of width ``w ~ U{0..W}``
starts at ``s ~ U{0..size - w}``; masked cells take ``mask_value``: ``"mean"`` (the item's mean,
the equivalent of Park's zero after mean normalisation; default), ``"min"`` or a number.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

__all__ = [
    "SpecAugment",
    "SpectrogramAugment",
    "TimeStretch",
    "apply_masks",
    "resolve_mask_param",
    "sample_masks",
    "sample_rates",
    "time_stretch",
]


def _check_spec(spec: Tensor) -> None:
    if spec.ndim not in (3, 4):
        raise ValueError(
            f"expected a spectrogram (batch, freq, time) or (batch, channels, freq, time), "
            f"got shape {tuple(spec.shape)}"
        )


def resolve_mask_param(param: int | float, size: int, max_proportion: float = 1.0) -> int:
    """Largest mask width on an axis of ``size``: ``param`` frames/bins if an int, else
    ``floor(param * size)``; never more than ``floor(max_proportion * size)``."""
    if isinstance(param, bool) or not isinstance(param, int | float) or param < 0:
        raise ValueError(f"mask parameter must be an int >= 0 or a fraction, got {param!r}")
    if isinstance(param, float):
        if param > 1:
            raise ValueError(f"fractional mask parameter must be in [0, 1], got {param!r}")
        width = math.floor(param * size)
    else:
        width = param
    return int(min(width, math.floor(max_proportion * size), size))


def sample_masks(
    batch: int,
    size: int,
    num_masks: int,
    max_width: int,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Per-item masks ``(starts, widths)``, both ``(batch, num_masks)`` int64 on the CPU.

    ``width ~ U{0, ..., max_width}``, ``start ~ U{0, ..., size - width}``, independently per item
    and mask.
    """
    u = torch.rand((batch, num_masks), generator=generator, dtype=torch.float64)
    v = torch.rand((batch, num_masks), generator=generator, dtype=torch.float64)
    widths = torch.floor(u * (max_width + 1)).long().clamp(max=max_width)
    starts = torch.floor(v * (size - widths + 1).double()).long()
    starts = torch.minimum(starts, size - widths)
    return starts, widths


def _fill_value(spec: Tensor, mask_value: str | float) -> Tensor:
    dims = tuple(range(1, spec.ndim))
    shape = (-1,) + (1,) * (spec.ndim - 1)
    if mask_value == "mean":
        return spec.mean(dim=dims).reshape(shape)
    if mask_value == "min":
        return spec.amin(dim=dims).reshape(shape)
    if isinstance(mask_value, int | float) and not isinstance(mask_value, bool):
        return torch.full((1,) * spec.ndim, float(mask_value), dtype=spec.dtype, device=spec.device)
    raise ValueError(f"unknown mask_value {mask_value!r}; expected 'mean', 'min' or a number")


def apply_masks(
    spec: Tensor,
    starts: Tensor,
    widths: Tensor,
    axis: str,
    mask_value: str | float = "mean",
) -> Tensor:
    """Set ``[start, start + width)`` of ``axis`` (``"time"`` or ``"freq"``) to ``mask_value``.

    ``spec`` ``(batch, [channels,] freq, time)``; ``starts``/``widths`` ``(batch, num_masks)``.
    The fill value is computed from the unmasked input.
    """
    _check_spec(spec)
    if axis not in ("time", "freq"):
        raise ValueError(f"unknown axis {axis!r}; expected 'time' or 'freq'")
    hit = _axis_hits(spec, starts, widths, axis)
    return torch.where(hit, _fill_value(spec, mask_value).to(spec.dtype), spec)


def _axis_hits(spec: Tensor, starts: Tensor, widths: Tensor, axis: str) -> Tensor:
    """Boolean map, broadcastable to ``spec``, of the cells the masks cover on ``axis``."""
    dim = -1 if axis == "time" else -2
    size = spec.shape[dim]
    pos = torch.arange(size, device=spec.device)
    s, w = starts.to(spec.device)[..., None], widths.to(spec.device)[..., None]
    hit = ((pos >= s) & (pos < s + w)).any(dim=1)  # (batch, size)
    shape = [spec.shape[0]] + [1] * (spec.ndim - 1)
    shape[dim] = size
    return hit.reshape(shape)


def sample_rates(
    batch: int, low: float, high: float, generator: torch.Generator | None = None
) -> Tensor:
    """Stretch rates ``(batch,)`` float64, uniform in ``[low, high]`` (CPU)."""
    u = torch.rand((batch,), generator=generator, dtype=torch.float64)
    return low + (high - low) * u


def time_stretch(spec: Tensor, rates: Tensor | Sequence[float], pad_value: str | float = "min"):
    """Stretch each item in time by its rate, keeping the length.

    ``rate > 1`` speeds up (shorter), ``rate < 1`` slows down, as in librosa/torchaudio. Item
    ``i`` is linearly interpolated along time to ``max(1, round(T / rate_i))`` frames, then
    centre-cropped or centre-padded back to ``T`` (padding with ``pad_value``: ``"min"`` = the
    item's minimum, i.e. the silence the paper pads clips with, or a number). A magnitude or
    log spectrogram has no phase, so this is interpolation, not a phase vocoder.
    ``spec`` ``(batch, [channels,] freq, time)`` -> same shape.
    """
    _check_spec(spec)
    rates = torch.as_tensor(rates, dtype=torch.float64).flatten()
    if rates.numel() != spec.shape[0]:
        raise ValueError(f"need one rate per item: {rates.numel()} rates, batch {spec.shape[0]}")
    if not bool((rates > 0).all()):
        raise ValueError(f"stretch rates must be > 0, got {rates.tolist()!r}")
    t = spec.shape[-1]
    fills = _fill_value(spec, pad_value)
    out = []
    for i in range(spec.shape[0]):
        item = spec[i]
        length = max(1, int(round(t / float(rates[i]))))
        if length == t:
            out.append(item)
            continue
        flat = item.reshape(1, -1, t)
        res = nn.functional.interpolate(flat, size=length, mode="linear", align_corners=False)
        res = res.reshape(*item.shape[:-1], length)
        if length > t:
            a = (length - t) // 2
            out.append(res[..., a : a + t])
        else:
            left = (t - length) // 2
            new = torch.empty_like(item).copy_(fills[i].expand_as(item))
            new[..., left : left + length] = res
            out.append(new)
    return torch.stack(out)


class _RandomAugment(nn.Module):
    """Holds the generator: ``seed=None`` uses torch's global RNG (``torch.manual_seed``,
    Lightning's ``seed_everything``); an int gives the module its own CPU generator."""

    def __init__(self, p: float = 1.0, seed: int | None = None):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {p!r}")
        self.p = float(p)
        self.generator: torch.Generator | None = None
        if seed is not None:
            self.reseed(seed)

    def reseed(self, seed: int) -> None:
        """(Re)start this module's random stream from ``seed``."""
        self.generator = torch.Generator(device="cpu")
        self.generator.manual_seed(int(seed))

    def _apply_mask(self, batch: int, apply: Tensor | None) -> Tensor:
        if apply is not None:
            return apply.to("cpu", torch.bool)
        if self.p >= 1.0:
            return torch.ones(batch, dtype=torch.bool)
        return torch.rand((batch,), generator=self.generator, dtype=torch.float64) < self.p


class SpecAugment(_RandomAugment):
    """Time and frequency masks (Park et al. 2019) with per-item parameters.

    ``(batch, [channels,] freq, time)`` -> same shape; identity in eval mode. Each item (with
    probability ``p``) gets ``time_masks`` masks of width ``U{0..time_mask_param}`` frames (at
    most ``max_time_proportion`` of the frames, Park's ``p``) and ``freq_masks`` masks of width
    ``U{0..freq_mask_param}`` bins.
    """

    def __init__(
        self,
        time_masks: int = 2,
        time_mask_param: int | float = 0.1,
        freq_masks: int = 2,
        freq_mask_param: int | float = 0.15,
        max_time_proportion: float = 1.0,
        mask_value: str | float = "mean",
        p: float = 1.0,
        seed: int | None = None,
    ):
        super().__init__(p, seed)
        if time_masks < 0 or freq_masks < 0:
            raise ValueError(f"mask counts must be >= 0, got {time_masks!r}, {freq_masks!r}")
        resolve_mask_param(time_mask_param, 1)  # validate early
        resolve_mask_param(freq_mask_param, 1)
        _fill_value(torch.zeros(1, 1, 1), mask_value)
        self.time_masks, self.time_mask_param = int(time_masks), time_mask_param
        self.freq_masks, self.freq_mask_param = int(freq_masks), freq_mask_param
        self.max_time_proportion = float(max_time_proportion)
        self.mask_value = mask_value

    def sample(self, spec: Tensor, apply: Tensor | None = None) -> dict[str, Tensor]:
        """Draw this batch's masks: ``time_starts``, ``time_widths``, ``freq_starts``,
        ``freq_widths`` (each ``(batch, n_masks)``; width 0 for items not augmented)."""
        b, f, t = spec.shape[0], spec.shape[-2], spec.shape[-1]
        on = self._apply_mask(b, apply)
        tw = resolve_mask_param(self.time_mask_param, t, self.max_time_proportion)
        fw = resolve_mask_param(self.freq_mask_param, f)
        ts, tws = sample_masks(b, t, self.time_masks, tw, self.generator)
        fs, fws = sample_masks(b, f, self.freq_masks, fw, self.generator)
        return {
            "time_starts": ts,
            "time_widths": tws * on[:, None],
            "freq_starts": fs,
            "freq_widths": fws * on[:, None],
        }

    def forward(self, spec: Tensor, apply: Tensor | None = None) -> Tensor:
        if not self.training:
            return spec
        _check_spec(spec)
        m = self.sample(spec, apply)
        fill = _fill_value(spec, self.mask_value).to(spec.dtype)
        hit = _axis_hits(spec, m["time_starts"], m["time_widths"], "time")
        hit = hit | _axis_hits(spec, m["freq_starts"], m["freq_widths"], "freq")
        return torch.where(hit, fill, spec)

    def extra_repr(self) -> str:
        return (
            f"time_masks={self.time_masks}, time_mask_param={self.time_mask_param}, "
            f"freq_masks={self.freq_masks}, freq_mask_param={self.freq_mask_param}, p={self.p}"
        )


class TimeStretch(_RandomAugment):
    """Per-item random time stretch, length kept (see :func:`time_stretch`).

    Rates are uniform in ``stretch_range``; each item is stretched with probability ``p``.
    ``(batch, [channels,] freq, time)`` -> same shape; identity in eval mode.
    """

    def __init__(
        self,
        stretch_range: tuple[float, float] = (0.8, 1.25),
        p: float = 1.0,
        pad_value: str | float = "min",
        seed: int | None = None,
    ):
        super().__init__(p, seed)
        low, high = (float(v) for v in stretch_range)
        if not 0 < low <= high:
            raise ValueError(f"stretch_range must satisfy 0 < low <= high, got {stretch_range!r}")
        self.stretch_range = (low, high)
        self.pad_value = pad_value

    def sample(self, spec: Tensor, apply: Tensor | None = None) -> Tensor:
        """This batch's rates ``(batch,)`` (1.0 for items not stretched)."""
        on = self._apply_mask(spec.shape[0], apply)
        rates = sample_rates(spec.shape[0], *self.stretch_range, generator=self.generator)
        return torch.where(on, rates, torch.ones_like(rates))

    def forward(self, spec: Tensor, apply: Tensor | None = None) -> Tensor:
        if not self.training:
            return spec
        _check_spec(spec)
        return time_stretch(spec, self.sample(spec, apply), self.pad_value)

    def extra_repr(self) -> str:
        return f"stretch_range={self.stretch_range}, p={self.p}"


class SpectrogramAugment(_RandomAugment):
    """The paper's audio augmentation: time stretch, then time and frequency masks.

    Inserted by training between the front end and the backbone (``AudioEncoder.augment``).
    Each item is augmented with probability ``p`` and then draws its own stretch rate and masks;
    ``stretch_range=None`` disables stretching. One generator (``seed``, or torch's global RNG
    when ``None``) drives both parts, so a seed reproduces the whole augmentation.
    ``(batch, [channels,] freq, time)`` -> same shape; identity in eval mode.
    """

    def __init__(
        self,
        time_masks: int = 2,
        time_mask_param: int | float = 0.1,
        freq_masks: int = 2,
        freq_mask_param: int | float = 0.15,
        stretch_range: tuple[float, float] | None = (0.8, 1.25),
        p: float = 1.0,
        max_time_proportion: float = 1.0,
        mask_value: str | float = "mean",
        seed: int | None = None,
    ):
        super().__init__(p)
        self.masks = SpecAugment(
            time_masks, time_mask_param, freq_masks, freq_mask_param,
            max_time_proportion, mask_value, p=1.0,
        )  # fmt: skip
        self.stretch = None if stretch_range is None else TimeStretch(stretch_range, p=1.0)
        if seed is not None:
            self.reseed(seed)

    def reseed(self, seed: int) -> None:
        """(Re)start the shared random stream from ``seed``."""
        super().reseed(seed)
        self._share()

    def _share(self) -> None:
        self.masks.generator = self.generator
        if self.stretch is not None:
            self.stretch.generator = self.generator

    def forward(self, spec: Tensor) -> Tensor:
        if not self.training:
            return spec
        _check_spec(spec)
        self._share()
        b = spec.shape[0]
        on = torch.rand((b,), generator=self.generator, dtype=torch.float64) < self.p
        if self.stretch is not None:
            spec = self.stretch(spec, apply=on)
        return self.masks(spec, apply=on)

    def extra_repr(self) -> str:
        return f"p={self.p}"
