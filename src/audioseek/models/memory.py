"""Caption memory: a non-parametric second path into the shared space (offline model v4 and later).

A bank of training clips holds, per clip, its audio encoder output (the *key*) and the
mean of its captions' text-encoder vectors (the *value*). A new clip is described by the
values of its ``k`` nearest keys (cosine), weighted by a softmax of the similarities at
temperature ``tau``: a vector in the text encoder's own space, compared there with the
query's text vector. The heads' embedding and this one are concatenated, scaled by
``sqrt(alpha)`` and ``sqrt(1 - alpha)``, so that the cosine of two such embeddings is
``alpha * cos(heads) + (1 - alpha) * cos(memory)``: one vector per clip or query, which
every index, ANN and search path handles unchanged (the shared space is
``head_dim + text_dim`` wide).

The text side can also go through the bank the other way (:class:`MemoryTextHead`,
``beta < 1``): a query recalls the audio of the clips whose captions are nearest.

The bank is stored as int8 rows with one scale each (cosine error about 1e-3), so 5,608
clips (version 5) of 512 + 384 numbers take 5.0 MB.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from audioseek.errors import ConfigError
from audioseek.models.heads import ProjectionHead

MEMORY_KEYS = ("size", "k", "tau", "alpha", "text_dim")
MEMORY_OPTIONAL = {"reverse_k": 20, "reverse_tau": 0.05, "beta": 1.0}


def check_memory(memory: dict) -> dict:
    """``memory`` of a model config, checked and completed: ``{size, k, tau, alpha,
    text_dim}`` (``text_dim``: the text encoder's width, so that an audio-only build knows
    it) and optionally ``reverse_k``, ``reverse_tau``, ``beta`` (the text side's path
    through the bank, :class:`MemoryTextHead`; ``beta = 1`` turns it off)."""
    if not isinstance(memory, dict):
        raise ConfigError(f"model.memory must be a mapping, got {memory!r}")
    unknown = sorted(set(memory) - set(MEMORY_KEYS) - set(MEMORY_OPTIONAL))
    missing = [k for k in MEMORY_KEYS if k not in memory]
    if unknown or missing:
        raise ConfigError(
            f"model.memory needs {list(MEMORY_KEYS)} (and may set {list(MEMORY_OPTIONAL)}); "
            f"unknown {unknown}, missing {missing}"
        )
    m = {**MEMORY_OPTIONAL, **memory}
    ints = ("size", "k", "text_dim", "reverse_k")
    if not all(isinstance(m[x], int) and not isinstance(m[x], bool) and m[x] > 0 for x in ints):
        raise ConfigError(
            f"model.memory size, k, text_dim and reverse_k must be positive integers, got "
            f"{memory!r}"
        )
    for x in ("tau", "reverse_tau"):  # similarities / tau must stay finite in float32
        if not (isinstance(m[x], int | float) and not isinstance(m[x], bool) and m[x] >= 1e-4):
            raise ConfigError(f"model.memory.{x} must be a number >= 1e-4, got {m[x]!r}")
    for x in ("alpha", "beta"):
        if not (isinstance(m[x], int | float) and not isinstance(m[x], bool) and 0 <= m[x] <= 1):
            raise ConfigError(f"model.memory.{x} must be in [0, 1], got {m[x]!r}")
    return {
        **{x: m[x] for x in ints},
        **{x: float(m[x]) for x in ("tau", "reverse_tau", "alpha", "beta")},
    }


def soft_recall(sims: torch.Tensor, values: torch.Tensor, k: int, tau: float) -> torch.Tensor:
    """The memory's read: for each row of ``sims`` (similarities to the bank's rows), the
    ``k`` most similar bank rows, softmax of their similarities at ``tau``, weighted mean of
    their ``values``, L2-normalised. Both heads read the bank this way, in either direction."""
    top, idx = sims.topk(min(k, sims.shape[-1]), dim=-1)
    w = torch.softmax(top / tau, dim=-1)
    return F.normalize((w.unsqueeze(-1) * values[idx]).sum(dim=-2), dim=-1)


def check_stored_bank(memory: dict, state: dict, where: str) -> None:
    """Before a model with ``memory`` is built (which allocates ``size`` rows): the stored
    bank ``audio_head.keys`` must have ``size`` rows, so a config that claims a huge bank
    fails here, naming ``where``, and allocates nothing; and its rows must be int8."""
    from audioseek.errors import ModelLoadError

    keys = state.get("audio_head.keys")
    rows = None if keys is None else int(keys.shape[0])
    if rows != memory.get("size"):
        raise ModelLoadError(
            f"{where}: model.memory.size is {memory.get('size')!r} but the stored bank has "
            f"{'no rows' if rows is None else f'{rows} rows'}"
        )
    # loading would cast silently: float rows into the int8 bank become zeros
    for name in ("keys", "values"):
        t = state.get(f"audio_head.{name}")
        if t is not None and t.dtype != torch.int8:
            raise ModelLoadError(
                f"{where}: the memory bank's {name} are {str(t.dtype).replace('torch.', '')}, "
                "not int8 rows (save the bank with CaptionMemoryHead.fill)"
            )


def quantize_rows(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 per row: ``x ~= q * scale[:, None]``."""
    x = x.detach().float()
    scale = x.abs().amax(dim=1).clamp_min(1e-12) / 127.0
    q = torch.round(x / scale[:, None]).clamp(-127, 127).to(torch.int8)
    return q, scale


class CaptionMemoryHead(nn.Module):
    """Audio side: ``(batch, in_dim)`` encoder output -> ``(batch, head_dim + text_dim)``,
    the projection head's unit vector and the memory's, scaled as the module docstring says.
    The bank is filled by :meth:`fill` (or loaded with the model's weights)."""

    def __init__(
        self,
        in_dim: int,
        head_dim: int,
        text_dim: int,
        size: int,
        k: int,
        tau: float,
        alpha: float,
        kind: str = "linear",
        dropout: float = 0.0,
    ):
        super().__init__()
        check_memory({"size": size, "k": k, "tau": tau, "alpha": alpha, "text_dim": text_dim})
        self.proj = ProjectionHead(in_dim, head_dim, kind, dropout)
        self.in_dim, self.text_dim, self.out_dim = in_dim, text_dim, head_dim + text_dim
        self.k, self.tau, self.alpha = k, float(tau), float(alpha)
        self.register_buffer("keys", torch.zeros(size, in_dim, dtype=torch.int8))
        self.register_buffer("key_scale", torch.zeros(size))
        self.register_buffer("values", torch.zeros(size, text_dim, dtype=torch.int8))
        self.register_buffer("value_scale", torch.zeros(size))

    @property
    def size(self) -> int:
        return int(self.keys.shape[0])

    def fill(self, keys: torch.Tensor, values: torch.Tensor) -> None:
        """Store the bank: ``keys`` (size, in_dim) encoder outputs of the bank's clips (as
        they are), ``values`` (size, text_dim) their caption vectors (L2-normalised here)."""
        if tuple(keys.shape) != tuple(self.keys.shape) or tuple(values.shape) != tuple(
            self.values.shape
        ):
            raise ConfigError(
                f"memory bank shapes {tuple(keys.shape)} / {tuple(values.shape)} do not fit "
                f"{tuple(self.keys.shape)} / {tuple(self.values.shape)}"
            )
        # keys keep their length: the text side's path runs them through the audio head,
        # which must see what it sees for any clip (the encoder's raw output)
        for name, x in (("keys", keys.float()), ("values", F.normalize(values.float(), dim=-1))):
            q, s = quantize_rows(x)
            getattr(self, name).copy_(q)
            (self.key_scale if name == "keys" else self.value_scale).copy_(s)

    def recall(self, x: torch.Tensor) -> torch.Tensor:
        """The memory's unit vector (text space) for encoder outputs ``x``."""
        keys = F.normalize(self.keys.float() * self.key_scale[:, None], dim=-1)
        sims = F.normalize(x.float(), dim=-1) @ keys.T
        values = self.values.float() * self.value_scale[:, None]
        return soft_recall(sims, values, self.k, self.tau)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.normalize(self.proj(x).float(), dim=-1)
        m = self.recall(x)
        return torch.cat([math.sqrt(self.alpha) * h, math.sqrt(1.0 - self.alpha) * m], dim=-1)


class MemoryTextHead(nn.Module):
    """Text side: ``(batch, text_dim)`` -> the projection head's unit vector and the text
    vector itself (the memory's space), scaled to match :class:`CaptionMemoryHead`.

    With ``beta < 1`` the head's part also goes through the bank the other way: the query
    finds the ``reverse_k`` bank clips whose captions are nearest (softmax at
    ``reverse_tau``), and their audio, through the audio projection head, is mixed into the
    query's head vector (``beta`` of the query's own, ``1 - beta`` of theirs). Only the text
    side changes, so the audio vectors of an index stay valid. The bank is the audio head's
    (``audio_head``, not a submodule: it is stored once, with the audio head)."""

    def __init__(
        self,
        text_dim: int,
        head_dim: int,
        alpha: float,
        kind: str = "linear",
        dropout: float = 0.0,
        audio_head: CaptionMemoryHead | None = None,
        reverse_k: int = 20,
        reverse_tau: float = 0.05,
        beta: float = 1.0,
    ):
        super().__init__()
        self.proj = ProjectionHead(text_dim, head_dim, kind, dropout)
        self.in_dim, self.out_dim, self.alpha = text_dim, head_dim + text_dim, float(alpha)
        self.reverse_k, self.reverse_tau, self.beta = reverse_k, float(reverse_tau), float(beta)
        if self.beta < 1.0 and audio_head is None:
            raise ConfigError("a memory text head with beta < 1 needs the memory's audio head")
        self._bank = [audio_head]  # a list: not registered, so not stored twice
        self._cache: tuple | None = None

    def _bank_audio(self) -> torch.Tensor:
        """The bank clips' audio through the audio projection head (unit rows), cached until
        the head's or the bank's weights change."""
        a = self._bank[0]
        w = list(a.proj.parameters())
        stamp = (
            a.keys.data_ptr(),
            a.keys._version,
            a.key_scale._version,
            *[(p.data_ptr(), p._version) for p in w],
        )
        if self._cache is None or self._cache[0] != stamp:
            # a normal tensor even when first called under inference_mode (usable later
            # in any mode); no graph: the bank side is fixed
            with torch.inference_mode(False), torch.no_grad():
                keys = a.keys.float() * a.key_scale[:, None]
                self._cache = (stamp, F.normalize(a.proj(keys).float(), dim=-1))
        return self._cache[1]

    def reverse(self, t: torch.Tensor) -> torch.Tensor:
        """The head-space unit vector of the bank clips whose captions are nearest ``t``."""
        a = self._bank[0]
        values = F.normalize(a.values.float() * a.value_scale[:, None], dim=-1)
        sims = F.normalize(t.float(), dim=-1) @ values.T
        return soft_recall(sims, self._bank_audio(), self.reverse_k, self.reverse_tau)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        h = F.normalize(self.proj(t).float(), dim=-1)
        if self.beta < 1.0:
            h = F.normalize(self.beta * h + (1.0 - self.beta) * self.reverse(t), dim=-1)
        return torch.cat(
            [
                math.sqrt(self.alpha) * h,
                math.sqrt(1.0 - self.alpha) * F.normalize(t.float(), dim=-1),
            ],
            dim=-1,
        )
