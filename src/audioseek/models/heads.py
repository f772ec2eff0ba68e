"""Projection heads f_a and f_t: encoder output -> shared embedding space (paper, section 3)."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from audioseek.errors import ConfigError

HeadKind = Literal["linear", "mlp", "identity"]
HEAD_KINDS = ("linear", "mlp", "identity")


class ProjectionHead(nn.Module):
    """Map ``(batch, in_dim)`` to ``(batch, out_dim)``.

    ``kind="linear"``: one fully connected layer (the paper's head).
    ``kind="mlp"``: Linear -> GELU -> Dropout -> Linear (hidden size = ``out_dim``).
    ``kind="identity"``: no parameters; requires ``in_dim == out_dim`` (used for models
    whose towers already project to the shared space, e.g. CLAP).
    """

    def __init__(self, in_dim: int, out_dim: int, kind: HeadKind = "linear", dropout: float = 0.0):
        super().__init__()
        if kind not in HEAD_KINDS:
            raise ConfigError(
                f"unknown projection head kind {kind!r}; expected one of {HEAD_KINDS}"
            )
        if in_dim <= 0 or out_dim <= 0:
            raise ConfigError(f"projection head sizes must be positive, got {in_dim} -> {out_dim}")
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"head dropout must be in [0, 1), got {dropout!r}")
        self.in_dim, self.out_dim, self.kind = in_dim, out_dim, kind
        if kind == "identity":
            if in_dim != out_dim:
                raise ConfigError(
                    f"identity head needs in_dim == out_dim, got {in_dim} -> {out_dim}"
                )
            self.net = nn.Identity()
        elif kind == "linear":
            self.net = nn.Sequential(nn.Dropout(dropout), nn.Linear(in_dim, out_dim))
        else:
            self.net = nn.Sequential(
                nn.Linear(in_dim, out_dim),
                nn.GELU(),
                nn.Dropout(dropout),
                nn.Linear(out_dim, out_dim),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
