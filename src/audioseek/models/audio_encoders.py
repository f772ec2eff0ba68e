"""Audio encoders: waveform ``(batch, samples)`` -> embedding ``(batch, output_dim)``.

Every encoder is ``frontend -> augment -> backbone``:

* ``frontend`` turns waveforms into features ``(batch, freq, time)`` (linear spectrogram,
  log-mel, ...), including the fixed-length centre pad/crop when the encoder has one;
* ``augment`` is ``nn.Identity`` here; training replaces it with a feature augmentation
  that is the identity in eval mode;
* ``backbone`` maps the features to the embedding.

Builders register under the keys of :mod:`audioseek.models.registry`; this module holds
``resnet50``, ``vit_b_16``, ``aisfx`` and ``small_cnn`` (``cnn14`` lives in
:mod:`audioseek.models.pann`, ``clap-htsat`` in :mod:`audioseek.models.clap`).
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from audioseek.errors import ModelLoadError, first_line
from audioseek.models.registry import register_audio_encoder

log = logging.getLogger(__name__)

GroupSpec = Sequence[tuple[str, Sequence[nn.Module | nn.Parameter]]]


class AudioEncoder(nn.Module):
    """``frontend -> augment -> backbone`` with the metadata the rest of the system reads.

    Args:
        name: registry key.
        frontend: waveforms ``(batch, samples)`` -> features ``(batch, freq, time)``.
        backbone: features -> ``(batch, output_dim)``.
        output_dim: embedding size.
        sample_rate: rate the waveforms must have.
        clip_seconds: fixed input length the frontend pads/crops to (``None``: any length).
        groups: ``(name, modules or parameters)`` early -> late, for freezing and
            layer-wise learning rates. Must cover every parameter of the backbone.
        init_args: the builder arguments (recorded in saved configs).
    """

    def __init__(
        self,
        name: str,
        frontend: nn.Module,
        backbone: nn.Module,
        output_dim: int,
        sample_rate: int,
        clip_seconds: float | None = None,
        groups: GroupSpec | None = None,
        init_args: dict | None = None,
    ):
        super().__init__()
        self.name = name
        self.frontend = frontend
        self.augment: nn.Module = nn.Identity()
        self.backbone = backbone
        self.output_dim = int(output_dim)
        self.sample_rate = int(sample_rate)
        self.clip_seconds = clip_seconds
        self._groups = list(groups) if groups is not None else [("backbone", [backbone])]
        self.init_args = dict(init_args or {})

    def features(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Frontend only: ``(batch, samples)`` -> ``(batch, freq, time)``."""
        return self.frontend(waveforms)

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        if waveforms.dim() == 1:
            waveforms = waveforms.unsqueeze(0)
        feats = self.augment(self.frontend(waveforms))
        return self.backbone(feats)

    def block_groups(self) -> list[tuple[str, list[nn.Parameter]]]:
        """Parameter groups early -> late; every trainable backbone parameter exactly once."""
        out: list[tuple[str, list[nn.Parameter]]] = []
        seen: set[int] = set()
        for gname, members in self._groups:
            params: list[nn.Parameter] = []
            for m in members:
                ps = [m] if isinstance(m, nn.Parameter) else list(m.parameters())
                for p in ps:
                    if id(p) not in seen:
                        seen.add(id(p))
                        params.append(p)
            out.append((gname, params))
        rest = [p for p in self.parameters() if id(p) not in seen]
        if rest:  # frontend parameters (e.g. learnable filters) go with the first group
            out[0] = (out[0][0], rest + out[0][1])
        return out

    def restore_spec(self, asset_dir: Path) -> tuple[str, dict]:
        """``(registry key, builder arguments)`` that rebuild this architecture without
        loading pretrained weights (the caller then loads a full state dict). Encoders that
        need files to do so (configs, feature extractors) write them into ``asset_dir``."""
        return self.name, {**self.init_args, "pretrained": False, "weights_path": None}


class FixedLength(nn.Module):
    """Centre pad with zeros / centre crop the last axis to ``length`` samples."""

    def __init__(self, length: int | None):
        super().__init__()
        self.length = length

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        if self.length is None or wave.shape[-1] == self.length:
            return wave
        from audioseek.audio.windows import pad_or_crop_center

        return pad_or_crop_center(wave, self.length)

    def extra_repr(self) -> str:
        return f"length={self.length}"


def _n_samples(sample_rate: int, clip_seconds: float | None) -> int | None:
    return None if clip_seconds is None else int(round(sample_rate * clip_seconds))


def load_state_dict_file(path, *, key: str | None = None, allow_pickle: bool = False) -> dict:
    """Load a ``torch.save``'d state dict (``key``: take ``ckpt[key]``); ModelLoadError on failure."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise ModelLoadError(f"checkpoint file not found: {str(p)!r}")
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as e:
        if not allow_pickle or not isinstance(e, pickle.UnpicklingError):
            raise ModelLoadError(f"cannot read checkpoint {str(p)!r}: {first_line(e)}") from None
        log.warning("checkpoint %s needs full unpickling; loading it as a trusted file", p)
        try:
            ckpt = torch.load(p, map_location="cpu", weights_only=False)
        except Exception as e2:  # noqa: BLE001 - any unpickling failure is a bad checkpoint
            raise ModelLoadError(f"cannot read checkpoint {str(p)!r}: {first_line(e2)}") from None
    if key is not None:
        if not isinstance(ckpt, dict) or key not in ckpt:
            raise ModelLoadError(f"checkpoint {str(p)!r} has no {key!r} entry")
        ckpt = ckpt[key]
    if not isinstance(ckpt, dict) or not all(isinstance(v, torch.Tensor) for v in ckpt.values()):
        raise ModelLoadError(f"checkpoint {str(p)!r} does not hold a state dict of tensors")
    return ckpt


def load_into(module: nn.Module, state_dict: dict, source, strict: bool = True) -> None:
    """``module.load_state_dict`` with a one-line ModelLoadError naming ``source``."""
    try:
        module.load_state_dict(state_dict, strict=strict)
    except RuntimeError as e:
        msg = " ".join(str(e).split())
        if len(msg) > 300:
            msg = msg[:300] + "..."
        raise ModelLoadError(f"checkpoint {str(source)!r} does not fit the model: {msg}") from None


# --------------------------------------------------------------------------------------
# torchvision image models on the paper's linear log-magnitude spectrogram
# --------------------------------------------------------------------------------------


def _spectrogram_frontend(sample_rate, clip_seconds, n_fft, hop_length) -> nn.Module:
    from audioseek.audio.features import Spectrogram

    return nn.Sequential(
        FixedLength(_n_samples(sample_rate, clip_seconds)),
        Spectrogram(n_fft=n_fft, hop_length=hop_length),
    )


def _torchvision_model(arch: str, weights_enum: str, pretrained: bool, weights_path):
    import torchvision

    ctor = getattr(torchvision.models, arch)
    if weights_path is not None:
        model = ctor(weights=None)
        load_into(model, load_state_dict_file(weights_path), weights_path)
        return model
    if pretrained:
        enum_cls, member = weights_enum.split(".")
        weights = getattr(getattr(torchvision.models, enum_cls), member)
        try:
            return ctor(weights=weights)
        except Exception as e:  # noqa: BLE001 - network/cache failures of the download
            raise ModelLoadError(
                f"cannot load torchvision weights {weights_enum!r}: {first_line(e)}"
            ) from None
    return ctor(weights=None)


class ImageBackbone(nn.Module):
    """``(batch, freq, time)`` spectrogram -> image adapter (3 x 224 x 224) -> network."""

    def __init__(self, net: nn.Module):
        super().__init__()
        from audioseek.audio.features import ImageAdapter

        self.adapter = ImageAdapter()
        self.net = net

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        return self.net(self.adapter(spec))


@register_audio_encoder("resnet50")
def resnet50(
    pretrained: bool = True,
    weights_path: str | None = None,
    sample_rate: int = 44100,
    clip_seconds: float | None = 40.0,
    n_fft: int = 1024,
    hop_length: int = 512,
) -> AudioEncoder:
    """ResNet-50 (ImageNet, ``ResNet50_Weights.IMAGENET1K_V1``) on the linear log-magnitude
    spectrogram; embedding = the FC layer output, 1000-d (paper, Table 1).

    ``weights_path``: a torchvision state dict (``torch.save(model.state_dict())``).
    Groups: stem, layer1..layer4, fc ("the final two groups" = layer4 + fc).
    """
    args = dict(locals())
    net = _torchvision_model("resnet50", "ResNet50_Weights.IMAGENET1K_V1", pretrained, weights_path)
    backbone = ImageBackbone(net)
    groups = [
        ("stem", [net.conv1, net.bn1]),
        ("layer1", [net.layer1]),
        ("layer2", [net.layer2]),
        ("layer3", [net.layer3]),
        ("layer4", [net.layer4]),
        ("fc", [net.fc]),
    ]
    return AudioEncoder(
        "resnet50",
        _spectrogram_frontend(sample_rate, clip_seconds, n_fft, hop_length),
        backbone,
        output_dim=net.fc.out_features,
        sample_rate=sample_rate,
        clip_seconds=clip_seconds,
        groups=groups,
        init_args=args,
    )


class ViTLayer11MLP(nn.Module):
    """torchvision ViT-B/16 up to the MLP of ``encoder.layers.encoder_layer_11``.

    The embedding is the MLP's output (the residual branch, before it is added back), as
    in the paper's Table 1. ``pooling="cls"`` (default) takes the class token: it is the
    token the ImageNet classifier reads, so it is the summary the pretrained network
    learned to build; ``pooling="mean"`` averages over all tokens instead. The final
    LayerNorm and the classification head are never run and are removed.
    """

    def __init__(self, vit: nn.Module, pooling: str = "cls"):
        super().__init__()
        if pooling not in ("cls", "mean"):
            from audioseek.errors import ConfigError

            raise ConfigError(f"unknown ViT pooling {pooling!r}; expected 'cls' or 'mean'")
        self.pooling = pooling
        self.conv_proj = vit.conv_proj
        self.class_token = vit.class_token
        self.patch_size = vit.patch_size
        self.hidden_dim = vit.hidden_dim
        self.pos_embedding = vit.encoder.pos_embedding
        self.dropout = vit.encoder.dropout
        layers = list(vit.encoder.layers.children())
        self.layers = nn.ModuleList(layers[:-1])
        self.last = layers[-1]

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        n = img.shape[0]
        x = self.conv_proj(img)  # (n, hidden, h/p, w/p)
        x = x.reshape(n, self.hidden_dim, -1).permute(0, 2, 1)
        x = torch.cat([self.class_token.expand(n, -1, -1), x], dim=1)
        x = self.dropout(x + self.pos_embedding)
        for layer in self.layers:
            x = layer(x)
        last = self.last  # torchvision EncoderBlock, written out to stop at the MLP
        y = last.ln_1(x)
        y, _ = last.self_attention(y, y, y, need_weights=False)
        x = last.dropout(y) + x
        y = last.mlp(last.ln_2(x))  # (n, tokens, 768): output of encoder_layer_11.mlp
        return y[:, 0] if self.pooling == "cls" else y.mean(dim=1)


@register_audio_encoder("vit_b_16")
def vit_b_16(
    pretrained: bool = True,
    weights_path: str | None = None,
    pooling: str = "cls",
    sample_rate: int = 44100,
    clip_seconds: float | None = 40.0,
    n_fft: int = 1024,
    hop_length: int = 512,
) -> AudioEncoder:
    """ViT-B/16 (ImageNet, ``ViT_B_16_Weights.IMAGENET1K_V1``); embedding = output of encoder
    layer 11's MLP, 768-d (Table 1), class token (see :class:`ViTLayer11MLP`).

    Groups: embed (patch projection, class token, position embedding), encoder_layer_0..11.
    """
    args = dict(locals())
    vit = _torchvision_model("vit_b_16", "ViT_B_16_Weights.IMAGENET1K_V1", pretrained, weights_path)
    body = ViTLayer11MLP(vit, pooling=pooling)
    groups = [("embed", [body.conv_proj, body.class_token, body.pos_embedding])]
    groups += [(f"encoder_layer_{i}", [layer]) for i, layer in enumerate(body.layers)]
    groups.append((f"encoder_layer_{len(body.layers)}", [body.last]))
    return AudioEncoder(
        "vit_b_16",
        _spectrogram_frontend(sample_rate, clip_seconds, n_fft, hop_length),
        ImageBackbone(body),
        output_dim=body.hidden_dim,
        sample_rate=sample_rate,
        clip_seconds=clip_seconds,
        groups=groups,
        init_args=args,
    )


# --------------------------------------------------------------------------------------
# aisfx: the PANN-family CNN of the `aisfx` wheel (audio tower of the offline model)
# --------------------------------------------------------------------------------------

AISFX_SAMPLE_RATE = 44100
AISFX_N_FFT = 2048
AISFX_HOP = 1024
AISFX_N_MELS = 96
AISFX_NORM_MAX = 9.457798957824707
AISFX_BLOCK_FRAMES = 100  # aisfx.inference.EMB_BLOCK_LENGTH (~2.3 s)


def htk_mel_filterbank(sr: int, n_fft: int, n_mels: int, f_min: float, f_max: float) -> np.ndarray:
    """HTK-scale triangular filters, each row normalised to unit sum (librosa
    ``filters.mel(htk=True, norm=1.0)``, Essentia ``MelBands(normalize='unit_sum')``).
    Returns ``(n_mels, n_fft // 2 + 1)`` float32."""

    def hz_to_mel(f):
        return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)

    def mel_to_hz(m):
        return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)

    fft_freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    sums = weights.sum(axis=1, keepdims=True)
    weights = np.where(
        sums > np.finfo(np.float64).tiny, weights / np.maximum(sums, 1e-300), weights
    )
    return weights.astype(np.float32)


class AisfxFrontend(nn.Module):
    """aisfx's (librosa) front end in torch: peak normalisation, |STFT|^2 (2048 / 1024, hann,
    centred, zero padded), 96 HTK mel bands (unit sum, 0-22050 Hz), ``log10(1e4 x + 1)``,
    divided by the corpus maximum 9.4578 (``spec_norm='original'``).

    ``(batch, samples)`` at 44.1 kHz -> ``(batch, 96, frames)``, frames = samples // 1024 + 1.
    """

    def __init__(self, clip_samples: int | None = None):
        super().__init__()
        self.fixed = FixedLength(clip_samples)
        self.register_buffer("window", torch.hann_window(AISFX_N_FFT), persistent=False)
        fb = htk_mel_filterbank(AISFX_SAMPLE_RATE, AISFX_N_FFT, AISFX_N_MELS, 0.0, 22050.0)
        self.register_buffer("mel_fb", torch.from_numpy(fb), persistent=False)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        wave = self.fixed(wave).float()
        peak = wave.abs().amax(dim=-1, keepdim=True)
        wave = wave / torch.where(peak > 0, peak, torch.ones_like(peak))
        stft = torch.stft(
            wave,
            AISFX_N_FFT,
            AISFX_HOP,
            window=self.window,
            center=True,
            pad_mode="constant",
            return_complex=True,
        )
        power = stft.real.square() + stft.imag.square()  # (batch, 1025, frames)
        mel = torch.matmul(self.mel_fb, power)
        return torch.log10(mel * 10000.0 + 1.0) / AISFX_NORM_MAX


class _AisfxConvBlock(nn.Module):
    """aisfx ``ConvBlock`` (same parameter names): 2 x (conv3x3 -> BN -> ReLU) -> max pool."""

    def __init__(self, cin: int, cout: int, pool: tuple[int, int]):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1, bias=False)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.bn2 = nn.BatchNorm2d(cout)
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return F.max_pool2d(x, kernel_size=self.pool) if self.pool != (1, 1) else x


AISFX_POOLINGS = ("full", "block_mean", "block_max")


class AisfxNet(nn.Module):
    """aisfx ``EmbeddingNet('max', 3, 1, 64)``: 4 conv blocks (64..512), mean over frequency,
    max over time. Input ``(batch, n_mels, frames)`` -> ``(batch, 512)``.

    ``pooling="full"`` runs the whole clip at once; ``"block_mean"`` / ``"block_max"`` cut it
    into aisfx's blocks (100 frames, hop 50, partial last block dropped, as
    ``aisfx.inference`` does), embed each and average / max-pool the block embeddings."""

    def __init__(self, width: int = 64, pooling: str = "full"):
        super().__init__()
        if pooling not in AISFX_POOLINGS:
            from audioseek.errors import ConfigError

            raise ConfigError(
                f"unknown aisfx pooling {pooling!r}; expected one of {AISFX_POOLINGS}"
            )
        self.pooling = pooling
        w = [width, width * 2, width * 4, width * 8]
        self.conv_block1 = _AisfxConvBlock(1, w[0], (2, 2))
        self.conv_block2 = _AisfxConvBlock(w[0], w[1], (2, 2))
        self.conv_block3 = _AisfxConvBlock(w[1], w[2], (2, 2))
        self.conv_block4 = _AisfxConvBlock(w[2], w[3], (1, 1))
        self.output_dim = w[3]

    def embed(self, spec: torch.Tensor) -> torch.Tensor:
        x = spec.transpose(1, 2).unsqueeze(1)  # (batch, 1, frames, mels), aisfx's layout
        x = self.conv_block4(self.conv_block3(self.conv_block2(self.conv_block1(x))))
        return x.mean(dim=3).amax(dim=2)

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        if spec.shape[-1] < AISFX_BLOCK_FRAMES:  # aisfx zero-pads short clips to one block
            spec = F.pad(spec, (0, AISFX_BLOCK_FRAMES - spec.shape[-1]))
        if self.pooling == "full":
            return self.embed(spec)
        b, m, _ = spec.shape
        blocks = spec.unfold(-1, AISFX_BLOCK_FRAMES, AISFX_BLOCK_FRAMES // 2)  # (b, m, n, 100)
        n = blocks.shape[2]
        emb = self.embed(blocks.permute(0, 2, 1, 3).reshape(b * n, m, AISFX_BLOCK_FRAMES))
        emb = emb.reshape(b, n, -1)
        return emb.mean(dim=1) if self.pooling == "block_mean" else emb.amax(dim=1)


def aisfx_checkpoint_path() -> Path:
    try:
        from aisfx.inference import get_path_modelWeights
    except ImportError as e:
        raise ModelLoadError(f"the 'aisfx' package is not installed: {e}") from None
    return Path(get_path_modelWeights())


def load_aisfx_weights(net: AisfxNet, path: str | Path | None = None) -> None:
    """Load ``(state_dict, dataset_dict)`` from the wheel's ``models/checkpoint.pth`` (or
    ``path``); only the ``embedding_net.*`` entries are used (the classifiers are not)."""
    p = Path(path) if path is not None else aisfx_checkpoint_path()
    if not p.is_file():
        raise ModelLoadError(f"aisfx checkpoint not found: {str(p)!r}")
    try:  # (state_dict, ds_dict) with numpy ints: a trusted file shipped in the wheel
        obj = torch.load(p, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001
        raise ModelLoadError(f"cannot read aisfx checkpoint {str(p)!r}: {first_line(e)}") from None
    sd = obj[0] if isinstance(obj, (tuple, list)) else obj
    if not isinstance(sd, dict):
        raise ModelLoadError(f"aisfx checkpoint {str(p)!r} does not hold a state dict")
    prefix = "embedding_net."
    sub = {k[len(prefix) :]: v for k, v in sd.items() if k.startswith(prefix)}
    if not sub:
        raise ModelLoadError(f"aisfx checkpoint {str(p)!r} has no 'embedding_net.*' weights")
    load_into(net, sub, p)


@register_audio_encoder("aisfx")
def aisfx(
    pretrained: bool = True,
    weights_path: str | None = None,
    clip_seconds: float | None = None,
    pooling: str = "full",
) -> AudioEncoder:
    """The aisfx wheel's CNN (ISMIR 2022, X-Sequential-CE), 512-d, real weights offline.

    The network is fully convolutional with global pooling, so a clip of any length is
    embedded in one pass (clips shorter than one aisfx block, 100 frames ~ 2.3 s, are
    zero-padded to one block as aisfx does); for clips up to one block this equals aisfx's
    own ``model_get_embedding``. ``pooling="block_mean"``/``"block_max"`` instead embed
    aisfx's 100-frame blocks (hop 50) separately, exactly as aisfx does for longer files,
    and pool the block embeddings. ``clip_seconds`` optionally fixes the length.
    Groups: conv_block1..conv_block4.
    """
    args = dict(locals())
    net = AisfxNet(pooling=pooling)
    if pretrained or weights_path is not None:
        load_aisfx_weights(net, weights_path)
    groups = [(f"conv_block{i}", [getattr(net, f"conv_block{i}")]) for i in range(1, 5)]
    return AudioEncoder(
        "aisfx",
        AisfxFrontend(_n_samples(AISFX_SAMPLE_RATE, clip_seconds)),
        net,
        output_dim=net.output_dim,
        sample_rate=AISFX_SAMPLE_RATE,
        clip_seconds=clip_seconds,
        groups=groups,
        init_args=args,
    )


# --------------------------------------------------------------------------------------
# small_cnn: random-init log-mel CNN for CPU smoke runs
# --------------------------------------------------------------------------------------


class SmallCNN(nn.Module):
    """4 blocks of conv3x3 -> BN -> ReLU -> 2x2 avg pool; mean over frequency, then mean +
    max over time. ``(batch, n_mels, frames)`` -> ``(batch, channels[-1])``."""

    def __init__(self, channels: Sequence[int] = (16, 32, 64, 128)):
        super().__init__()
        self.bn0 = nn.BatchNorm2d(1)
        blocks, cin = [], 1
        for c in channels:
            blocks.append(
                nn.Sequential(nn.Conv2d(cin, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
            )
            cin = c
        self.blocks = nn.ModuleList(blocks)
        self.output_dim = cin

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        x = self.bn0(spec.unsqueeze(1))
        for block in self.blocks:
            x = F.relu(block(x))
            if min(x.shape[-2:]) >= 2:
                x = F.avg_pool2d(x, 2)
        x = x.mean(dim=2)  # over frequency
        return x.mean(dim=-1) + x.amax(dim=-1)


@register_audio_encoder("small_cnn")
def small_cnn(
    sample_rate: int = 16000,
    clip_seconds: float | None = None,
    n_mels: int = 64,
    n_fft: int = 512,
    hop_length: int = 256,
    channels: Sequence[int] = (16, 32, 64, 128),
    pretrained: bool = False,
    weights_path: str | None = None,
) -> AudioEncoder:
    """A small random-init log-mel CNN (128-d by default) for fast CPU runs and tests.

    ``pretrained`` is accepted for interface symmetry and must be False; ``weights_path``
    may name a state dict of the backbone saved with ``torch.save``.
    """
    args = dict(locals())
    args["channels"] = list(channels)
    from audioseek.audio.features import LogMel

    if pretrained:
        from audioseek.errors import ConfigError

        raise ConfigError("small_cnn has no pretrained weights; use pretrained=false")
    net = SmallCNN(channels)
    if weights_path is not None:
        load_into(net, load_state_dict_file(weights_path), weights_path)
    frontend = nn.Sequential(
        FixedLength(_n_samples(sample_rate, clip_seconds)),
        LogMel(
            sample_rate=sample_rate,
            n_fft=n_fft,
            hop_length=hop_length,
            n_mels=n_mels,
            f_min=0.0,
            f_max=sample_rate / 2,
        ),
    )
    groups = [("bn0", [net.bn0])] + [(f"block{i + 1}", [b]) for i, b in enumerate(net.blocks)]
    return AudioEncoder(
        "small_cnn",
        frontend,
        net,
        output_dim=net.output_dim,
        sample_rate=sample_rate,
        clip_seconds=clip_seconds,
        groups=groups,
        init_args=args,
    )
