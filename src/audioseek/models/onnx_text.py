"""A text encoder that runs without torch: the model's text tower exported to ONNX.

A one-shot ``audioseek search "a dog barking"`` spends seconds importing torch and
transformers and loading the model, for one query. :func:`export_text_encoder` writes the
text tower + text head + L2 normalisation of a :class:`DualEncoder` to ONNX, with its
tokenizer as a ``tokenizers`` JSON file (padding and truncation built in), into one folder:

* ``text_encoder.onnx``: ``input_ids (N, L) int64, attention_mask (N, L) int64 ->
  embeddings (N, D) float32`` (L2-normalised); the batch axis is dynamic;
* ``tokenizer.json``: pads/truncates every caption to the model's ``max_length`` tokens,
  exactly as the torch path's tokenizer does;
* ``onnx_text.json``: format tag, ``fingerprint`` and ``model_id`` of the exported model (an
  index compares the fingerprint with its own before trusting the export), ``embed_dim``,
  ``max_length``, opset, versions.

:class:`OnnxTextEncoder` loads such a folder with ``onnxruntime`` and ``tokenizers`` only:
this module imports neither torch nor transformers at import time, and the loader never does.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from audioseek.errors import ModelLoadError, first_line

log = logging.getLogger(__name__)

FORMAT = "audioseek.OnnxTextEncoder"
FORMAT_VERSION = 1
LENGTH_STEP = 8  # tokens: a query runs at its length rounded up to a multiple of this
MODEL_FILE = "text_encoder.onnx"
TOKENIZER_FILE = "tokenizer.json"
META_FILE = "onnx_text.json"
OPSET = 17


def export_text_encoder(model, folder, *, opset: int = OPSET) -> Path:
    """Export ``model``'s text side (tokenizer, text encoder, head, normalisation) to
    ``folder`` (created; files replaced). ``model`` is an fp32 DualEncoder whose text encoder
    has a fast (``tokenizers``-backed) tokenizer. Returns the folder.

    Uses torch's TorchScript-based exporter (``dynamo=False``): the dynamo exporter, torch
    2.14's default, needs the ``onnxscript`` package."""
    import torch

    folder = Path(folder).expanduser()
    if folder.exists() and not folder.is_dir():
        raise ModelLoadError(f"cannot export the text encoder: {str(folder)!r} is not a folder")
    precision = getattr(model, "precision", "fp32")
    if precision != "fp32":
        raise ModelLoadError(
            f"export the fp32 model, not a {precision} one (ONNX Runtime runs the fp32 graph)"
        )
    text = model.text_encoder
    backend = getattr(getattr(text, "tokenizer", None), "backend_tokenizer", None)
    if backend is None:
        raise ModelLoadError(
            f"text encoder {getattr(text, 'name', type(text).__name__)!r} has no fast "
            "tokenizer (tokenizers library); it cannot be exported"
        )
    max_length = int(text.max_length)
    probe = text.tokenize(["probe"])
    pad_id = int(probe["input_ids"][0, -1]) if int(probe["attention_mask"][0, -1]) == 0 else None
    if pad_id is None:
        pad_id = int(getattr(text.tokenizer, "pad_token_id", 0) or 0)
    folder.mkdir(parents=True, exist_ok=True)

    tok = _copy_tokenizer(backend)
    tok.no_padding()
    tok.no_truncation()
    tok.enable_truncation(max_length=max_length)
    pad_token = str(getattr(text.tokenizer, "pad_token", None) or "[PAD]")
    tok.enable_padding(length=max_length, pad_id=pad_id, pad_token=pad_token)
    tok.save(str(folder / TOKENIZER_FILE))

    class _TextSide(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask):
            return self.m.encode_text_tokens(input_ids, attention_mask, normalize=True)

    device = model.device
    was_training = model.training
    model.eval()
    example = text.tokenize(["a dog barks in the distance", "rain"])
    args = (example["input_ids"].to(device), example["attention_mask"].to(device))
    tmp = folder / (MODEL_FILE + ".tmp")
    import warnings

    try:
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TracerWarnings from transformers' shape checks
            torch.onnx.export(
                _TextSide(model),
                args,
                str(tmp),
                input_names=["input_ids", "attention_mask"],
                output_names=["embeddings"],
                dynamic_axes={  # any batch, and any length up to max_length
                    "input_ids": {0: "batch", 1: "length"},
                    "attention_mask": {0: "batch", 1: "length"},
                    "embeddings": {0: "batch"},
                },
                opset_version=opset,
                dynamo=False,
                do_constant_folding=True,
            )
    except Exception as e:  # noqa: BLE001 - tracing/export errors come in many types
        tmp.unlink(missing_ok=True)
        raise ModelLoadError(f"cannot export the text encoder to ONNX: {first_line(e)}") from None
    finally:
        model.train(was_training)
    ort_version = _preoptimize(tmp, folder / MODEL_FILE)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "fingerprint": model.fingerprint,
        "model_id": str(getattr(model, "model_id", "") or ""),
        "embed_dim": int(model.embed_dim),
        "max_length": max_length,
        # the graph takes any length: a query runs at its length rounded up to a multiple
        # of LENGTH_STEP tokens, not at max_length (exports without the key: max_length)
        "dynamic_length": True,
        "pad_id": pad_id,
        "opset": int(opset),
        "torch_version": torch.__version__,
        # the graph is stored after ONNX Runtime's portable (extended) optimisations; the
        # loader skips re-optimising it when its onnxruntime has this version
        "ort_optimized_by": ort_version,
    }
    (folder / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return folder


def _preoptimize(raw: Path, target: Path) -> str | None:
    """Write ``raw`` to ``target`` after ONNX Runtime's extended graph optimisations (portable
    fusions; no hardware-specific layout changes), so loading can skip them; returns the
    onnxruntime version that did it, or None when it could not (the raw graph is kept)."""
    try:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        opts.optimized_model_filepath = str(target) + ".opt"
        opts.log_severity_level = 3
        ort.InferenceSession(str(raw), opts, providers=["CPUExecutionProvider"])
        Path(str(target) + ".opt").replace(target)
        raw.unlink(missing_ok=True)
        return str(ort.__version__)
    except Exception as e:  # noqa: BLE001 - keep the plain export
        log.warning("ONNX Runtime could not pre-optimise %s (%s); keeping it as exported", raw, e)
        Path(str(target) + ".opt").unlink(missing_ok=True)
        raw.replace(target)
        return None


def _copy_tokenizer(backend):
    from tokenizers import Tokenizer

    return Tokenizer.from_str(backend.to_str())


class OnnxTextEncoder:
    """``encode_text(list[str]) -> (N, D)`` float32 L2-normalised, from an export folder.

    Attributes: ``fingerprint``, ``model_id``, ``embed_dim``, ``max_length`` (from
    ``onnx_text.json``). ``threads``: ONNX Runtime intra-op threads (None: its default)."""

    def __init__(self, folder, threads: int | None = None):
        self.folder = Path(folder).expanduser()
        meta_path = self.folder / META_FILE
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError) as e:
            raise ModelLoadError(
                f"not an ONNX text encoder folder: {str(meta_path)!r} ({first_line(e)})"
            ) from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ModelLoadError(f"{str(meta_path)!r} is not an {FORMAT} description")
        if int(meta.get("format_version", 0)) > FORMAT_VERSION:
            raise ModelLoadError(
                f"{str(meta_path)!r} has format version {meta.get('format_version')!r}; this "
                f"audioseek reads up to {FORMAT_VERSION}"
            )
        self.meta = meta
        self.fingerprint = str(meta["fingerprint"])
        self.model_id = str(meta.get("model_id", ""))
        self.embed_dim = int(meta["embed_dim"])
        self.max_length = int(meta["max_length"])
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer

            self.tokenizer = Tokenizer.from_file(str(self.folder / TOKENIZER_FILE))
            opts = ort.SessionOptions()
            if threads is not None:
                opts.intra_op_num_threads = int(threads)
            opts.log_severity_level = 3
            if meta.get("ort_optimized_by") == ort.__version__:
                opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            self.session = ort.InferenceSession(
                str(self.folder / MODEL_FILE), opts, providers=["CPUExecutionProvider"]
            )
        except Exception as e:  # noqa: BLE001 - ORT/tokenizers raise their own types
            raise ModelLoadError(
                f"cannot load the ONNX text encoder in {str(self.folder)!r}: {first_line(e)}"
            ) from None

    def tokenize(self, texts: list[str]) -> dict[str, np.ndarray]:
        """``input_ids`` and ``attention_mask``, each ``(N, max_length)`` int64."""
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            from audioseek.errors import QueryError

            raise QueryError(f"encode_text expects a list of strings, got {texts!r:.80}")
        enc = self.tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in enc], dtype=np.int64).reshape(len(enc), -1)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64).reshape(len(enc), -1)
        return {"input_ids": ids, "attention_mask": mask}

    def encode_text(self, texts: list[str]) -> np.ndarray:
        """Captions -> ``(N, embed_dim)`` float32, L2-normalised (as ``DualEncoder.encode_text``)."""
        if isinstance(texts, str):
            texts = [texts]
        if not texts:
            return np.zeros((0, self.embed_dim), np.float32)
        tok = self.tokenize(texts)
        if not self.meta.get("dynamic_length"):
            (out,) = self.session.run(["embeddings"], tok)
            return np.ascontiguousarray(out, dtype=np.float32)
        # each text at its own length rounded up to LENGTH_STEP tokens (its padding beyond is
        # masked out, so only the work changes): texts of one length run together, and a
        # text's vector does not depend on the others in the call
        lengths = tok["attention_mask"].sum(axis=1)
        runs = np.minimum(-(-np.maximum(lengths, 1) // LENGTH_STEP) * LENGTH_STEP, self.max_length)
        out = np.zeros((len(texts), self.embed_dim), np.float32)
        for n in np.unique(runs):
            rows = np.flatnonzero(runs == n)
            part = {k: np.ascontiguousarray(v[rows, : int(n)]) for k, v in tok.items()}
            (vecs,) = self.session.run(["embeddings"], part)
            out[rows] = vecs
        return out
