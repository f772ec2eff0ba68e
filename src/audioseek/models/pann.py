"""PANN CNN14 (Kong et al. 2020) with the official parameter names, and its encoder entry.

The architecture follows ``pytorch/models.py:Cnn14`` of the PANNs repository
(``bn0``, ``conv_block1..6`` with ``conv1/conv2/bn1/bn2``, ``fc1``, ``fc_audioset``) so the
official checkpoint ``Cnn14_mAP=0.431.pth`` (``{"model": state_dict, ...}``) loads strictly.
Its torchlibrosa ``spectrogram_extractor.*`` / ``logmel_extractor.*`` buffers are ignored:
the log-mel front end is :data:`audioseek.audio.features.PANN_LOGMEL` (32 kHz, 64 mels).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from audioseek.errors import ModelLoadError
from audioseek.models.audio_encoders import (
    AudioEncoder,
    FixedLength,
    _n_samples,
    load_into,
    load_state_dict_file,
)
from audioseek.models.registry import register_audio_encoder

log = logging.getLogger(__name__)

CNN14_URL = "https://zenodo.org/record/3987831/files/Cnn14_mAP%3D0.431.pth?download=1"
CNN14_FILENAME = "Cnn14_mAP=0.431.pth"
IGNORED_PREFIXES = ("spectrogram_extractor.", "logmel_extractor.")


class ConvBlock(nn.Module):
    """PANN ConvBlock: 2 x (conv3x3 -> BN -> ReLU) then pooling."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, 1, 1, bias=False)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
        for conv in (self.conv1, self.conv2):
            nn.init.xavier_uniform_(conv.weight)

    def forward(self, x, pool_size=(2, 2), pool_type="avg"):
        x = F.relu_(self.bn1(self.conv1(x)))
        x = F.relu_(self.bn2(self.conv2(x)))
        if pool_type == "max":
            return F.max_pool2d(x, kernel_size=pool_size)
        if pool_type == "avg":
            return F.avg_pool2d(x, kernel_size=pool_size)
        return F.avg_pool2d(x, kernel_size=pool_size) + F.max_pool2d(x, kernel_size=pool_size)


class Cnn14(nn.Module):
    """CNN14 on a log-mel ``(batch, mel_bins, frames)``; returns the 2048-d ``fc1`` embedding
    (``relu(fc1(x))``, PANN's "embedding" output). ``fc_audioset`` (527 AudioSet classes) is
    kept so checkpoints load strictly; :meth:`drop_classifier` removes it once loaded."""

    def __init__(self, mel_bins: int = 64, classes_num: int = 527):
        super().__init__()
        self.bn0 = nn.BatchNorm2d(mel_bins)
        self.conv_block1 = ConvBlock(1, 64)
        self.conv_block2 = ConvBlock(64, 128)
        self.conv_block3 = ConvBlock(128, 256)
        self.conv_block4 = ConvBlock(256, 512)
        self.conv_block5 = ConvBlock(512, 1024)
        self.conv_block6 = ConvBlock(1024, 2048)
        self.fc1 = nn.Linear(2048, 2048, bias=True)
        self.fc_audioset: nn.Module | None = nn.Linear(2048, classes_num, bias=True)
        nn.init.constant_(self.bn0.weight, 1.0)
        nn.init.constant_(self.bn0.bias, 0.0)
        for fc in (self.fc1, self.fc_audioset):
            nn.init.xavier_uniform_(fc.weight)
            fc.bias.data.fill_(0.0)
        self.output_dim = 2048

    def drop_classifier(self) -> None:
        self.fc_audioset = None

    def forward(self, logmel: torch.Tensor) -> torch.Tensor:
        x = logmel.transpose(1, 2).unsqueeze(1)  # (batch, 1, frames, mel_bins), PANN layout
        x = x.transpose(1, 3)
        x = self.bn0(x)
        x = x.transpose(1, 3)
        for i in range(1, 6):
            x = getattr(self, f"conv_block{i}")(x, pool_size=(2, 2), pool_type="avg")
            x = F.dropout(x, p=0.2, training=self.training)
        x = self.conv_block6(x, pool_size=(1, 1), pool_type="avg")
        x = F.dropout(x, p=0.2, training=self.training)
        x = torch.mean(x, dim=3)
        x = torch.amax(x, dim=2) + torch.mean(x, dim=2)
        x = F.dropout(x, p=0.5, training=self.training)
        return F.relu_(self.fc1(x))


def default_cache_dir() -> Path:
    base = os.environ.get("AUDIOSEEK_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "audioseek"
    )
    return Path(base) / "checkpoints"


def fetch_cnn14_checkpoint(cache_dir: str | Path | None = None) -> Path:
    """Path of ``Cnn14_mAP=0.431.pth`` in ``cache_dir``, downloading it from Zenodo if absent."""
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    dest = cache / CNN14_FILENAME
    if dest.is_file():
        return dest
    cache.mkdir(parents=True, exist_ok=True)
    log.info("downloading PANN CNN14 weights from %s to %s", CNN14_URL, dest)
    try:
        torch.hub.download_url_to_file(CNN14_URL, str(dest), progress=True)
    except Exception as e:  # noqa: BLE001 - network errors of any kind
        raise ModelLoadError(
            f"cannot download CNN14 weights from {CNN14_URL!r} to {str(dest)!r}: {e}"
        ) from None
    return dest


def load_cnn14_checkpoint(model: Cnn14, path: str | Path) -> None:
    """Load the official checkpoint format ``{"model": state_dict}`` strictly, ignoring the
    torchlibrosa extractor buffers."""
    sd = load_state_dict_file(path, key="model", allow_pickle=True)
    sd = {k: v for k, v in sd.items() if not k.startswith(IGNORED_PREFIXES)}
    load_into(model, sd, path)


@register_audio_encoder("cnn14")
def cnn14(
    pretrained: bool = True,
    weights_path: str | None = None,
    cache_dir: str | None = None,
    clip_seconds: float | None = None,
) -> AudioEncoder:
    """PANN CNN14 on PANN's log-mel (32 kHz, 64 mels, 1024/320, 50-14000 Hz); 2048-d fc1.

    ``weights_path``: a checkpoint in the official format; with ``pretrained=True`` and no
    path, the official file is downloaded from Zenodo into ``cache_dir`` (default
    ``~/.cache/audioseek/checkpoints``). Groups: bn0+conv_block1, conv_block2..6, fc1.
    """
    args = dict(locals())
    from audioseek.audio.features import PANN_LOGMEL, LogMel

    net = Cnn14(mel_bins=PANN_LOGMEL["n_mels"])
    if weights_path is None and pretrained:
        weights_path_ = fetch_cnn14_checkpoint(cache_dir)
    else:
        weights_path_ = weights_path
    if weights_path_ is not None:
        load_cnn14_checkpoint(net, weights_path_)
    net.drop_classifier()
    sr = int(PANN_LOGMEL["sample_rate"])
    frontend = nn.Sequential(FixedLength(_n_samples(sr, clip_seconds)), LogMel(**PANN_LOGMEL))
    groups = [("conv_block1", [net.bn0, net.conv_block1])]
    groups += [(f"conv_block{i}", [getattr(net, f"conv_block{i}")]) for i in range(2, 7)]
    groups.append(("fc1", [net.fc1]))
    return AudioEncoder(
        "cnn14",
        frontend,
        net,
        output_dim=net.output_dim,
        sample_rate=sr,
        clip_seconds=clip_seconds,
        groups=groups,
        init_args=args,
    )
