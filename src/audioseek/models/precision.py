"""Inference precision of a :class:`~audioseek.models.dual_encoder.DualEncoder`.

``apply_precision(model, "fp32" | "bf16" | "int8")`` converts an eval-mode model in place
(``load_model(spec, precision=...)`` calls it). Whatever the precision, ``encode_audio`` /
``encode_text`` return float32, L2-normalised vectors, and the model's ``fingerprint`` becomes
``<fp32 fingerprint>+<precision>`` (fp32 keeps the plain fp32 fingerprint), so an index built
at one precision refuses a model at another.

* ``bf16``: the towers' networks (audio backbone, text encoder) run under
  ``torch.autocast(dtype=torch.bfloat16)``; the signal front ends (STFT, mel), the heads and
  the normalisation stay float32/float64, weights stay float32. Bit-exact batch invariance
  holds as for fp32: a row's vector depends only on that row at a fixed batch shape.
* ``int8``: ``torch.ao.quantization.quantize_dynamic`` on every ``nn.Linear`` of both towers
  (weights int8 per tensor, activations quantised per call from their range; CPU only).
  Because that range is taken over the whole input tensor, a batch would make one clip's
  vector depend on the other clips in it; so an int8 model embeds ONE item per forward pass
  (``encode_audio`` / ``encode_text_tokens`` loop over the batch), which makes every vector
  bit-identical whatever the batch (a tower without Linear layers keeps batching). Convolutions are not quantised (dynamic quantisation has
  no conv kernels; static quantisation needs calibration data): the conv-only aisfx audio
  tower of the offline model therefore runs fp32 under ``int8`` (only its text tower changes).

Measured on this project's 2-core AMD EPYC (Zen 3: AVX2, no AVX-512, no native bf16), see
``benchmarks/bench_precision.py`` (load 17-38, not final): bf16 is emulated and ~2.7x SLOWER
than fp32 (CLAP architecture); int8 is no faster for CLAP (one item per pass eats the gain;
cosine to fp32 0.9994) and, on the offline model, changes only MiniLM, whose int8 vectors have
cosine ~0.93 to fp32 (mAP@10 on sonic-pi names 0.584 -> 0.577). fp32 stays the default.
"""

from __future__ import annotations

import functools
import logging
from typing import Literal

import torch
from torch import nn

from audioseek.errors import ModelLoadError

log = logging.getLogger(__name__)

Precision = Literal["fp32", "bf16", "int8"]
PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "int8")


def check_precision(precision) -> str:
    """``precision`` as one of :data:`PRECISIONS` (case-insensitive), else ModelLoadError."""
    p = str(precision).strip().lower()
    if p not in PRECISIONS:
        raise ModelLoadError(f"unknown precision {precision!r}; expected one of {PRECISIONS}")
    return p


def fingerprint_suffix(precision: str) -> str:
    """What :func:`apply_precision` appends to the fp32 fingerprint: ``""`` or ``"+bf16"``..."""
    p = check_precision(precision)
    return "" if p == "fp32" else f"+{p}"


def apply_precision(model, precision: str = "fp32"):
    """Convert ``model`` (a DualEncoder, eval mode) to ``precision`` in place and return it.

    Sets ``model.precision``; the fp32 fingerprint is taken before converting and pinned
    (``model.fingerprint`` is then ``<fp32>+bf16`` / ``<fp32>+int8``). A model converted once
    cannot be converted again, trained or saved (convert a freshly loaded model instead).
    """
    p = check_precision(precision)
    current = getattr(model, "precision", "fp32")
    if current != "fp32":
        if p == current:
            return model
        raise ModelLoadError(
            f"model is already converted to {current!r}; load it again to use {p!r}"
        )
    if p == "fp32":
        return model
    if model.training:
        model.eval()
    base = model.fingerprint  # fp32 weights, before any change
    if p == "bf16":
        _to_bf16(model)
    else:
        _to_int8(model)
    model._base_fingerprint = base
    model.precision = p
    for prm in model.parameters():
        prm.requires_grad_(False)
    return model


# ---- bf16 -------------------------------------------------------------------------------


def _autocast_call(forward, device_type: str):
    @functools.wraps(forward)
    def run(*args, **kwargs):
        with torch.autocast(device_type=device_type, dtype=torch.bfloat16):
            out = forward(*args, **kwargs)
        return out.float()

    return run


def _to_bf16(model) -> None:
    dev = model.device.type
    if dev not in ("cpu", "cuda"):
        raise ModelLoadError(f"bf16 needs a CPU or CUDA device, the model is on {dev!r}")
    backbone = model.audio_encoder.backbone
    backbone.forward = _autocast_call(backbone.forward, dev)
    model.text_encoder.forward = _autocast_call(model.text_encoder.forward, dev)


# ---- int8 -------------------------------------------------------------------------------


def _quantize_linears(module: nn.Module) -> int:
    """Dynamic int8 quantisation of every ``nn.Linear`` below ``module`` (in place); returns
    how many were replaced."""
    import warnings

    n = sum(isinstance(m, nn.Linear) for m in module.modules())
    if n:
        with warnings.catch_warnings():  # torch 2.14 points eager-mode users to torchao
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", UserWarning)
            torch.ao.quantization.quantize_dynamic(
                module, {nn.Linear}, dtype=torch.qint8, inplace=True
            )
    return n


def _to_int8(model) -> None:
    if model.device.type != "cpu":
        raise ModelLoadError(
            f"int8 runs on the CPU only (dynamic quantisation), the model is on "
            f"{str(model.device)!r}; use device='cpu'"
        )
    n_audio = _quantize_linears(model.audio_encoder.backbone)
    n_text = _quantize_linears(model.text_encoder)
    log.info("int8: %d audio and %d text Linear layers quantised", n_audio, n_text)
    audio, text = model.encode_audio, model.encode_text_tokens
    if n_audio:
        model.encode_audio = _one_by_one_audio(audio)
    if n_text:
        model.encode_text_tokens = _one_by_one_text(text)


def _one_by_one_audio(audio):
    @functools.wraps(audio)
    def encode_audio(waveforms, normalize: bool = True):
        w = torch.as_tensor(waveforms)
        if w.dim() == 1 or w.shape[0] <= 1:
            return audio(w, normalize=normalize)
        return torch.cat([audio(w[i : i + 1], normalize=normalize) for i in range(w.shape[0])])

    return encode_audio


def _one_by_one_text(text):
    @functools.wraps(text)
    def encode_text_tokens(input_ids, attention_mask, normalize: bool = True):
        if input_ids.shape[0] <= 1:
            return text(input_ids, attention_mask, normalize=normalize)
        rows = [
            text(input_ids[i : i + 1], attention_mask[i : i + 1], normalize=normalize)
            for i in range(input_ids.shape[0])
        ]
        return torch.cat(rows)

    return encode_text_tokens
