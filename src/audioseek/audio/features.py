"""Spectrogram front ends on ``(batch, samples)`` waveforms, computed with ``torch.stft``.

Pure functions plus thin :class:`torch.nn.Module` wrappers (the modules hold the window and the
mel filterbank as non-persistent buffers, so they follow ``.to(device)`` and never enter a
checkpoint).

* :func:`spectrogram`: the paper's linear-frequency log-magnitude STFT spectrogram.
* :func:`log_mel`: power mel spectrogram in dB with librosa's conventions (``librosa.filters.mel``
  Slaney or HTK scale, ``librosa.power_to_db``), as in PANN's torchlibrosa front end.
  :data:`PANN_LOGMEL` and :data:`CLAP_LOGMEL` are ready-made keyword sets.
* :func:`image_adapter`: spectrogram -> ImageNet-style ``(batch, 3, 224, 224)`` input.
* :func:`clap_fit_length` + :class:`ClapLogMel`: LAION-CLAP's whole audio front end (its
  ``repeatpad`` / ``repeat`` / ``pad`` rule to 10 s, ``rand_trunc`` only while training, a
  deterministic centre crop otherwise, then the CLAP log-mel), equal to
  ``transformers.ClapFeatureExtractor`` to ~1e-5 dB, batched, on the input's device.

All functions also accept a single unbatched waveform ``(samples,)`` and then return no batch
axis. STFTs are centred (frame ``t`` is centred on sample ``t * hop_length``), so a waveform of
``n`` samples gives ``1 + n // hop_length`` frames.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn

__all__ = [
    "CLAP_LOGMEL",
    "CLAP_PADDINGS",
    "ClapLogMel",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "PANN_LOGMEL",
    "ImageAdapter",
    "LogMel",
    "Spectrogram",
    "hz_to_mel",
    "clap_fit_length",
    "image_adapter",
    "log_mel",
    "mel_filterbank",
    "mel_to_hz",
    "power_to_db",
    "spectrogram",
    "stft_magnitude",
]

PANN_LOGMEL: dict = {
    "sample_rate": 32000,
    "n_fft": 1024,
    "hop_length": 320,
    "n_mels": 64,
    "f_min": 50.0,
    "f_max": 14000.0,
    "window": "hann",
    "power": 2.0,
    "htk": False,
    "norm": "slaney",
    "ref": 1.0,
    "amin": 1e-10,
    "top_db": None,
    "pad_mode": "reflect",
}
"""PANN (Kong et al. 2020) CNN14 front end: 32 kHz, 64 Slaney mels 50-14000 Hz, window 1024,
hop 320, power spectrogram, ``10 log10(max(S, 1e-10))`` with ``ref=1``, no ``top_db``."""

CLAP_LOGMEL: dict = {**PANN_LOGMEL, "sample_rate": 48000, "hop_length": 480}
"""LAION-CLAP (HTSAT) style front end: 48 kHz, 64 Slaney mels 50-14000 Hz, window 1024, hop 480
(10 ms), same dB conversion as PANN. This is the filterbank of LAION-CLAP's torchlibrosa front end
and of ``transformers.ClapFeatureExtractor`` with ``truncation="rand_trunc"`` (the unfused
checkpoints); its ``"fusion"`` path uses HTK mels without normalisation
(``{**CLAP_LOGMEL, "htk": True, "norm": None}``)."""

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_WINDOWS = {
    "hann": torch.hann_window,
    "hamming": torch.hamming_window,
    "blackman": torch.blackman_window,
    "rect": torch.ones,
    "ones": torch.ones,
}


# --------------------------------------------------------------------------------------------
# STFT


def _window(window: str | Tensor, win_length: int, device, dtype) -> Tensor:
    if isinstance(window, Tensor):
        if window.shape != (win_length,):
            raise ValueError(f"window tensor has shape {tuple(window.shape)}, need ({win_length},)")
        return window.to(device=device, dtype=dtype)
    try:
        fn = _WINDOWS[window]
    except KeyError:
        raise ValueError(f"unknown window {window!r}; expected one of {sorted(_WINDOWS)}") from None
    if fn is torch.ones:
        return torch.ones(win_length, device=device, dtype=dtype)
    return fn(win_length, periodic=True, device=device, dtype=dtype)  # = scipy get_window(fftbins)


def _as_batch(wave: Tensor) -> tuple[Tensor, bool]:
    if not isinstance(wave, Tensor):
        wave = torch.as_tensor(np.asarray(wave))
    if not wave.is_floating_point():
        wave = wave.float()
    if wave.ndim == 1:
        return wave[None], True
    if wave.ndim != 2:
        raise ValueError(
            f"expected a waveform (batch, samples) or (samples,), got {tuple(wave.shape)}"
        )
    return wave, False


def stft_magnitude(
    wave: Tensor,
    n_fft: int = 1024,
    hop_length: int = 512,
    win_length: int | None = None,
    window: str | Tensor = "hann",
    power: float = 1.0,
    center: bool = True,
    pad_mode: str = "reflect",
) -> Tensor:
    """``|STFT(wave)| ** power``: ``(batch, samples)`` -> ``(batch, n_fft // 2 + 1, frames)``.

    Centred frames; ``pad_mode="reflect"`` (torch/torchlibrosa) falls back to zero padding when
    the waveform is too short to reflect (``samples <= n_fft // 2``).
    """
    x, single = _as_batch(wave)
    win_length = n_fft if win_length is None else win_length
    if x.shape[-1] == 0:
        raise ValueError("cannot compute a spectrogram of an empty waveform")
    if center and pad_mode == "reflect" and x.shape[-1] <= n_fft // 2:
        pad_mode = "constant"
    w = _window(window, win_length, x.device, x.dtype)
    spec = torch.stft(
        x,
        n_fft=n_fft,
        hop_length=hop_length,
        win_length=win_length,
        window=w,
        center=center,
        pad_mode=pad_mode,
        return_complex=True,
    ).abs()
    if power != 1.0:
        spec = spec.pow(power)
    return spec[0] if single else spec


def spectrogram(
    wave: Tensor,
    n_fft: int = 1024,
    hop_length: int = 512,
    win_length: int | None = None,
    window: str | Tensor = "hann",
    log: bool = True,
    eps: float = 1e-6,
    center: bool = True,
    pad_mode: str = "reflect",
) -> Tensor:
    """The paper's linear-frequency spectrogram.

    ``(batch, samples)`` -> ``(batch, n_fft // 2 + 1, 1 + samples // hop_length)``: the STFT
    magnitude ``|X|`` (periodic window, centred frames), as ``log(|X| + eps)`` (natural log)
    when ``log`` is true. Silence maps to ``log(eps)``.
    """
    mag = stft_magnitude(wave, n_fft, hop_length, win_length, window, 1.0, center, pad_mode)
    return torch.log(mag + eps) if log else mag


class Spectrogram(nn.Module):
    """Module form of :func:`spectrogram`: ``(batch, samples)`` -> ``(batch, freq, frames)``."""

    def __init__(
        self,
        n_fft: int = 1024,
        hop_length: int = 512,
        win_length: int | None = None,
        window: str = "hann",
        log: bool = True,
        eps: float = 1e-6,
        center: bool = True,
        pad_mode: str = "reflect",
    ):
        super().__init__()
        self.n_fft, self.hop_length = int(n_fft), int(hop_length)
        self.win_length = self.n_fft if win_length is None else int(win_length)
        self.window_name, self.log, self.eps = window, log, eps
        self.center, self.pad_mode = center, pad_mode
        self.register_buffer("window", _window(window, self.win_length, None, torch.float32), False)

    @property
    def n_freqs(self) -> int:
        return self.n_fft // 2 + 1

    def forward(self, wave: Tensor) -> Tensor:
        return spectrogram(
            wave,
            self.n_fft,
            self.hop_length,
            self.win_length,
            self.window.to(dtype=wave.dtype) if wave.is_floating_point() else self.window,
            self.log,
            self.eps,
            self.center,
            self.pad_mode,
        )

    def extra_repr(self) -> str:
        return (
            f"n_fft={self.n_fft}, hop_length={self.hop_length}, win_length={self.win_length}, "
            f"window={self.window_name!r}, log={self.log}"
        )


# --------------------------------------------------------------------------------------------
# mel


def hz_to_mel(freq, htk: bool = False):
    """Hz -> mel (librosa ``hz_to_mel``): Slaney (linear below 1 kHz, log above) or HTK."""
    f = np.asarray(freq, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = math.log(6.4) / 27.0
    lin = f / f_sp
    log_part = min_log_mel + np.log(np.maximum(f, min_log_hz) / min_log_hz) / logstep
    return np.where(f >= min_log_hz, log_part, lin)


def mel_to_hz(mels, htk: bool = False):
    """mel -> Hz, the inverse of :func:`hz_to_mel`."""
    m = np.asarray(mels, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = math.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def mel_filterbank(
    sample_rate: int,
    n_fft: int,
    n_mels: int = 64,
    f_min: float = 0.0,
    f_max: float | None = None,
    htk: bool = False,
    norm: str | None = "slaney",
) -> np.ndarray:
    """Triangular mel filterbank ``(n_mels, n_fft // 2 + 1)`` float32, as ``librosa.filters.mel``.

    ``n_mels + 2`` band edges equally spaced on the mel scale between ``f_min`` and ``f_max``
    (default ``sample_rate / 2``); filter ``i`` rises from edge ``i`` to ``i + 1`` and falls to
    ``i + 2``. ``norm="slaney"`` divides each triangle by its width in Hz (``2 / (f[i+2] - f[i])``)
    so every filter has equal area; ``norm=None`` leaves peak height 1.
    """
    f_max = sample_rate / 2.0 if f_max is None else float(f_max)
    if not 0 <= f_min < f_max <= sample_rate / 2.0 + 1e-9:
        raise ValueError(
            f"need 0 <= f_min < f_max <= sample_rate/2, got f_min={f_min!r} f_max={f_max!r} "
            f"sample_rate={sample_rate!r}"
        )
    if norm not in ("slaney", None):
        raise ValueError(f"unknown mel norm {norm!r}; expected 'slaney' or None")
    fft_freqs = np.fft.rfftfreq(n_fft, d=1.0 / sample_rate)
    mel_edges = np.linspace(hz_to_mel(f_min, htk), hz_to_mel(f_max, htk), n_mels + 2)
    hz = mel_to_hz(mel_edges, htk)
    fdiff = np.diff(hz)
    ramps = hz[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    if norm == "slaney":
        weights *= (2.0 / (hz[2:] - hz[:-2]))[:, None]
    return weights.astype(np.float32)


def power_to_db(
    spec: Tensor, ref: float = 1.0, amin: float = 1e-10, top_db: float | None = None
) -> Tensor:
    """``10 log10(max(S, amin)) - 10 log10(max(amin, ref))`` (``librosa.power_to_db``).

    With ``top_db``, each item along the first axis (``(batch, ...)``) is floored at its own
    maximum minus ``top_db`` (a 1-D input at its maximum), so batching does not change results.
    """
    db = 10.0 * torch.log10(spec.clamp_min(amin))
    db = db - 10.0 * math.log10(max(amin, ref))
    if top_db is not None:
        if top_db < 0:
            raise ValueError(f"top_db must be >= 0, got {top_db!r}")
        dims = tuple(range(1, db.ndim)) if db.ndim > 1 else (0,)
        db = torch.maximum(db, db.amax(dim=dims, keepdim=True) - top_db)
    return db


def log_mel(
    wave: Tensor,
    sample_rate: int,
    n_fft: int = 1024,
    hop_length: int = 320,
    n_mels: int = 64,
    f_min: float = 0.0,
    f_max: float | None = None,
    win_length: int | None = None,
    window: str | Tensor = "hann",
    power: float = 2.0,
    htk: bool = False,
    norm: str | None = "slaney",
    ref: float = 1.0,
    amin: float = 1e-10,
    top_db: float | None = None,
    center: bool = True,
    pad_mode: str = "reflect",
    *,
    filterbank: Tensor | None = None,
) -> Tensor:
    """Log-mel spectrogram in dB: ``(batch, samples)`` -> ``(batch, n_mels, frames)``.

    ``power_to_db(mel_fb @ |STFT| ** power)``; ``filterbank`` (``(n_mels, n_fft//2+1)``) skips
    recomputing :func:`mel_filterbank`.
    """
    x, single = _as_batch(wave)
    spec = stft_magnitude(x, n_fft, hop_length, win_length, window, power, center, pad_mode)
    if filterbank is None:
        fb = mel_filterbank(sample_rate, n_fft, n_mels, f_min, f_max, htk, norm)
        filterbank = torch.from_numpy(fb)
    mel = torch.matmul(filterbank.to(device=spec.device, dtype=spec.dtype), spec)
    out = power_to_db(mel, ref, amin, top_db)
    return out[0] if single else out


class LogMel(nn.Module):
    """Module form of :func:`log_mel`: ``(batch, samples)`` -> ``(batch, n_mels, frames)``.

    ``LogMel(**PANN_LOGMEL)`` is PANN's front end; ``sample_rate`` is kept as an attribute so an
    encoder can report the rate it expects.
    """

    def __init__(
        self,
        sample_rate: int = 32000,
        n_fft: int = 1024,
        hop_length: int = 320,
        n_mels: int = 64,
        f_min: float = 0.0,
        f_max: float | None = None,
        win_length: int | None = None,
        window: str = "hann",
        power: float = 2.0,
        htk: bool = False,
        norm: str | None = "slaney",
        ref: float = 1.0,
        amin: float = 1e-10,
        top_db: float | None = None,
        center: bool = True,
        pad_mode: str = "reflect",
    ):
        super().__init__()
        self.sample_rate, self.n_fft, self.hop_length = (
            int(sample_rate),
            int(n_fft),
            int(hop_length),
        )
        self.n_mels, self.f_min, self.f_max = int(n_mels), float(f_min), f_max
        self.win_length = self.n_fft if win_length is None else int(win_length)
        self.window_name, self.power, self.htk, self.norm = window, power, htk, norm
        self.ref, self.amin, self.top_db = ref, amin, top_db
        self.center, self.pad_mode = center, pad_mode
        fb = mel_filterbank(self.sample_rate, self.n_fft, self.n_mels, self.f_min, f_max, htk, norm)
        self.register_buffer("filterbank", torch.from_numpy(fb), False)
        self.register_buffer("window", _window(window, self.win_length, None, torch.float32), False)

    def forward(self, wave: Tensor) -> Tensor:
        return log_mel(
            wave,
            self.sample_rate,
            self.n_fft,
            self.hop_length,
            self.n_mels,
            win_length=self.win_length,
            window=self.window.to(dtype=wave.dtype) if wave.is_floating_point() else self.window,
            power=self.power,
            ref=self.ref,
            amin=self.amin,
            top_db=self.top_db,
            center=self.center,
            pad_mode=self.pad_mode,
            filterbank=self.filterbank,
        )

    def extra_repr(self) -> str:
        return (
            f"sample_rate={self.sample_rate}, n_fft={self.n_fft}, hop_length={self.hop_length}, "
            f"n_mels={self.n_mels}, f_min={self.f_min}, f_max={self.f_max}, htk={self.htk}"
        )


# --------------------------------------------------------------------------------------------
# image adapter


def image_adapter(
    spec: Tensor,
    size: int | tuple[int, int] = 224,
    mean: tuple[float, float, float] = IMAGENET_MEAN,
    std: tuple[float, float, float] = IMAGENET_STD,
    eps: float = 1e-8,
) -> Tensor:
    """Spectrogram ``(batch, freq, time)`` -> image ``(batch, 3, H, W)`` (default 224 x 224).

    1. Per-spectrogram min-max scaling to ``[0, 1]``: ``(S - min) / (max - min + eps)`` over the
       item's whole ``(freq, time)`` plane, so every clip uses the full dynamic range of an image
       whatever its loudness (a constant spectrogram, e.g. digital silence, becomes all zeros);
    2. bilinear resize to ``size`` (``align_corners=False``, antialiased as torchvision's
       ``Resize`` does when shrinking); frequency runs along the height, low bins at the top row;
    3. repeat to 3 channels and normalise with the ImageNet ``mean``/``std`` per channel, the
       statistics the torchvision weights were trained with.
    """
    if spec.ndim == 2:
        return image_adapter(spec[None], size, mean, std, eps)[0]
    if spec.ndim != 3:
        raise ValueError(f"expected (batch, freq, time), got {tuple(spec.shape)}")
    size = (size, size) if isinstance(size, int) else tuple(size)
    flat = spec.flatten(1)
    lo = flat.amin(dim=1)[:, None, None]
    hi = flat.amax(dim=1)[:, None, None]
    x = (spec - lo) / (hi - lo + eps)
    x = nn.functional.interpolate(
        x[:, None], size=size, mode="bilinear", align_corners=False, antialias=True
    )
    m = torch.tensor(mean, dtype=x.dtype, device=x.device)[None, :, None, None]
    s = torch.tensor(std, dtype=x.dtype, device=x.device)[None, :, None, None]
    return (x.expand(-1, 3, -1, -1) - m) / s


class ImageAdapter(nn.Module):
    """Module form of :func:`image_adapter`: ``(batch, freq, time)`` -> ``(batch, 3, 224, 224)``."""

    def __init__(
        self,
        size: int | tuple[int, int] = 224,
        mean: tuple[float, float, float] = IMAGENET_MEAN,
        std: tuple[float, float, float] = IMAGENET_STD,
    ):
        super().__init__()
        self.size, self.mean, self.std = size, tuple(mean), tuple(std)

    def forward(self, spec: Tensor) -> Tensor:
        return image_adapter(spec, self.size, self.mean, self.std)

    def extra_repr(self) -> str:
        return f"size={self.size}"


# --------------------------------------------------------------------------------------------
# LAION-CLAP front end (length rule + log-mel)

CLAP_PADDINGS = ("repeatpad", "repeat", "pad")


def clap_fit_length(
    wave: Tensor,
    max_samples: int,
    padding: str = "repeatpad",
    lengths: Tensor | None = None,
    random_crop: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """CLAP's length rule: ``(batch, samples)`` -> ``(batch, max_samples)``.

    Item ``i`` is ``wave[i, :lengths[i]]`` (default: every row is a whole clip). A clip longer
    than ``max_samples`` is cropped: at a uniformly random offset when ``random_crop``
    (LAION-CLAP's ``rand_trunc``, for training), else to its centre (deterministic inference).
    A shorter clip of ``n`` samples is padded as ``ClapFeatureExtractor`` pads it:

    * ``"repeatpad"``: tiled ``max_samples // n`` times, then zero-padded on the right;
    * ``"repeat"``: tiled until it fills ``max_samples``;
    * ``"pad"``: zero-padded on the right.

    Pure indexing (no arithmetic on samples), so each row depends only on its own clip.
    """
    x, single = _as_batch(wave)
    if padding not in CLAP_PADDINGS:
        raise ValueError(f"unknown CLAP padding {padding!r}; expected one of {CLAP_PADDINGS}")
    max_samples = int(max_samples)
    b, s = x.shape
    if lengths is None:
        n = torch.full((b,), s, dtype=torch.long, device=x.device)
    else:
        n = torch.as_tensor(lengths, dtype=torch.long, device=x.device).reshape(-1)
        if n.shape[0] != b or bool(((n < 1) | (n > s)).any()):
            raise ValueError(f"lengths must be {b} values in [1, {s}], got {n.tolist()!r}")
    if s == 0:
        raise ValueError("cannot fit an empty waveform")
    # crop offset for clips longer than max_samples
    over = (n - max_samples).clamp_min(0)
    if random_crop:
        u = torch.rand(b, generator=generator, dtype=torch.float64).to(x.device)
        start = torch.minimum((u * (over + 1).double()).floor().long(), over)
    else:
        start = over // 2
    idx = torch.arange(max_samples, device=x.device)[None, :]  # (1, max_samples)
    short = n < max_samples
    m = n.clamp(max=max_samples)[:, None]  # samples of real audio per row, at most max_samples
    if padding == "pad":
        src, keep = idx, idx < m
    else:
        src = idx % m
        if padding == "repeatpad":
            keep = idx < (max_samples // m) * m
        else:
            keep = torch.ones_like(idx, dtype=torch.bool).expand(b, -1)
    src = torch.where(short[:, None], src, idx) + start[:, None]
    keep = torch.where(short[:, None], keep, torch.ones_like(keep))
    out = torch.gather(x, 1, src.clamp(max=s - 1))
    out = torch.where(keep, out, torch.zeros((), dtype=out.dtype, device=out.device))
    return out[0] if single else out


class ClapLogMel(nn.Module):
    """LAION-CLAP's audio front end: ``(batch, samples)`` -> ``(batch, n_mels, frames)``
    (``fusion``: ``(batch, 4, n_mels, frames)``, four copies as the extractor gives a clip
    that needs no fusion), frames = ``max_samples // hop_length + 1``.

    :func:`clap_fit_length` (random crop only in ``training`` mode), then :func:`log_mel` with
    ``truncation="rand_trunc"``'s Slaney filters or ``"fusion"``'s HTK filters. The STFT and mel
    run in float64 (as the numpy extractor does: float32 is up to 0.04 dB off in quiet bands of
    real recordings) and the result is float32.

    Args mirror ``ClapFeatureExtractor``'s: sample_rate, n_fft (``fft_window_size``),
    hop_length, n_mels (``feature_size``), f_min, f_max, max_samples (``nb_max_samples``),
    padding, truncation, top_db. :meth:`from_extractor` copies them from one.
    """

    def __init__(
        self,
        sample_rate: int = 48000,
        n_fft: int = 1024,
        hop_length: int = 480,
        n_mels: int = 64,
        f_min: float = 50.0,
        f_max: float = 14000.0,
        max_samples: int = 480000,
        padding: str = "repeatpad",
        truncation: str = "rand_trunc",
        top_db: float | None = None,
    ):
        super().__init__()
        if truncation not in ("rand_trunc", "fusion"):
            raise ValueError(
                f"unknown CLAP truncation {truncation!r}; expected 'rand_trunc' or 'fusion'"
            )
        if padding not in CLAP_PADDINGS:
            raise ValueError(f"unknown CLAP padding {padding!r}; expected one of {CLAP_PADDINGS}")
        self.sample_rate, self.n_fft, self.hop_length = (
            int(sample_rate),
            int(n_fft),
            int(hop_length),
        )
        self.n_mels, self.f_min, self.f_max = int(n_mels), float(f_min), float(f_max)
        self.max_samples, self.padding, self.truncation = int(max_samples), padding, truncation
        self.top_db = top_db
        fusion = truncation == "fusion"
        fb = mel_filterbank(
            self.sample_rate,
            self.n_fft,
            self.n_mels,
            self.f_min,
            self.f_max,
            htk=fusion,
            norm=None if fusion else "slaney",
        )
        self.register_buffer("filterbank", torch.from_numpy(fb.astype(np.float64)), False)
        self.register_buffer("window", _window("hann", self.n_fft, None, torch.float64), False)

    @classmethod
    def from_extractor(cls, fe) -> ClapLogMel:
        """The same front end as a ``transformers.ClapFeatureExtractor`` instance."""
        return cls(
            sample_rate=int(fe.sampling_rate),
            n_fft=int(fe.fft_window_size),
            hop_length=int(fe.hop_length),
            n_mels=int(fe.feature_size),
            f_min=float(fe.frequency_min),
            f_max=float(fe.frequency_max),
            max_samples=int(fe.nb_max_samples),
            padding=str(fe.padding),
            truncation=str(fe.truncation),
        )  # fe.top_db is not passed on: the extractor's own dB conversion never applies it

    @property
    def frames(self) -> int:
        return self.max_samples // self.hop_length + 1

    def forward(self, wave: Tensor, lengths: Tensor | None = None) -> Tensor:
        x, single = _as_batch(wave)
        x = clap_fit_length(x.double(), self.max_samples, self.padding, lengths, self.training)
        mel = log_mel(
            x,
            self.sample_rate,
            self.n_fft,
            self.hop_length,
            self.n_mels,
            window=self.window.to(x.device),
            power=2.0,
            ref=1.0,
            amin=1e-10,
            top_db=self.top_db,
            filterbank=self.filterbank,
        ).float()
        if self.truncation == "fusion":
            mel = mel.unsqueeze(1).expand(-1, 4, -1, -1).contiguous()
        return mel[0] if single else mel

    def extra_repr(self) -> str:
        return (
            f"sample_rate={self.sample_rate}, n_mels={self.n_mels}, f_min={self.f_min}, "
            f"f_max={self.f_max}, max_samples={self.max_samples}, padding={self.padding!r}, "
            f"truncation={self.truncation!r}"
        )
