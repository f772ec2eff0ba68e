"""Frozen-encoder features of the offline corpus, computed once and reused by every
head-training experiment and every evaluation of the bundled offline model.

Both encoders of the offline model (aisfx CNN, MiniLM) are frozen, so a model differs from
another only by its heads: audio features are computed once per clip (5-s centre crop, as
in training: ``AudioCaptionDataset`` with ``clip_seconds=5``) and text features once per
distinct string (captions, paraphrases, zero-shot prompts). Both caches are dicts
(relative clip path / string -> float32 vector) saved with ``torch.save`` and extended
incrementally, so an interrupted run resumes.

    python scripts/offline_features.py audio --root data/offline_v2 [--glob 'audio/*/*.flac']
    python scripts/offline_features.py text --manifest data/offline_v2/manifest.csv

Used by scripts/eval_offline.py and scripts/offline_heads.py (docs/offline_model.md, v2).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

CLIP_SECONDS = 5.0
DEFAULT_DIR = Path("runs/offline_v2_features")
HELD_OUT = ("tuxpaint", "widelands")


def _encoders():
    """The frozen encoders from their wheels (aisfx, MiniLM), not the shipped model: since
    version 3 it stores a trained MiniLM layer, and the caches hold the frozen outputs."""
    from audioseek.models.factory import ModelConfig, build_model

    cfg = ModelConfig(
        audio_encoder="aisfx",
        text_encoder="minilm",
        audio_encoder_args={"pretrained": True},
        text_encoder_args={"max_length": 30},
    )
    return build_model(cfg).eval()


def _load(path: Path) -> dict:
    """The cache at ``path`` merged with its shards (``audio.pt`` + ``audio.*.pt``)."""
    import torch

    out = {}
    for p in [path, *sorted(path.parent.glob(f"{path.stem}.*{path.suffix}"))]:
        if p.is_file():
            out.update(torch.load(p, weights_only=True))
    return out


def _save(obj: dict, path: Path) -> None:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    torch.save(obj, tmp)
    tmp.replace(path)


def audio_features(
    root: Path,
    rel_paths: list[str],
    out: Path,
    model=None,
    batch: int = 16,
    every: int = 160,
    embed=None,
) -> dict:
    """``{rel_path: (512,) tensor}`` of the aisfx encoder for every clip (cached in ``out``);
    ``embed(model, waves)`` replaces the encoder's output (e.g. :func:`pooled_layers`)."""
    import torch

    from audioseek.data.dataset import AudioCaptionDataset

    merged = _load(out)
    todo = [p for p in dict.fromkeys(rel_paths) if p not in merged]
    if not todo:
        return merged
    # this file holds only its own work (one shard); _load merges the shards
    feats = torch.load(out, weights_only=True) if out.is_file() else {}
    model = model or _encoders()
    items = [
        {"audio_path": str(root / p), "captions": ["x"], "item_id": p, "clip_index": i}
        for i, p in enumerate(todo)
    ]
    ds = AudioCaptionDataset(items, int(model.sample_rate), CLIP_SECONDS, caption="all")
    t0, done = time.time(), 0
    with torch.inference_mode():
        for i in range(0, len(todo), batch):
            idx = range(i, min(i + batch, len(todo)))
            waves = torch.stack([ds.load_waveform(j) for j in idx])
            emb = (embed(model, waves) if embed else model.audio_encoder(waves)).float()
            for j, e in zip(idx, emb, strict=True):
                feats[todo[j]] = e.clone()
            done += len(idx)
            if done % every < batch or done == len(todo):
                _save(feats, out)
                rate = done / (time.time() - t0)
                print(f"audio {done}/{len(todo)} ({rate:.1f} clips/s)", file=sys.stderr, flush=True)
    merged.update(feats)
    return merged


LAYER_PARTS = {  # name -> (start, end) in the vectors of ``audio_layer_features``
    "b4max": (0, 512),
    "b4mean": (512, 1024),
    "b3max": (1024, 1280),
    "b3mean": (1280, 1536),
    "b2max": (1536, 1664),
    "b2mean": (1664, 1792),
}


def pooled_layers(encoder, waves):
    """(batch, 1792): aisfx conv blocks 4, 3 and 2, each averaged over frequency, then max-
    and mean-pooled over time (``b4max`` is the encoder's own output)."""
    import torch
    import torch.nn.functional as F

    from audioseek.models.audio_encoders import AISFX_BLOCK_FRAMES

    net = encoder.backbone
    spec = encoder.frontend(waves)
    if spec.shape[-1] < AISFX_BLOCK_FRAMES:
        spec = F.pad(spec, (0, AISFX_BLOCK_FRAMES - spec.shape[-1]))
    x = spec.transpose(1, 2).unsqueeze(1)
    x2 = net.conv_block2(net.conv_block1(x))
    x3 = net.conv_block3(x2)
    x4 = net.conv_block4(x3)
    parts = []
    for t in (x4, x3, x2):
        f = t.mean(dim=3)  # (batch, channels, frames)
        parts += [f.amax(dim=2), f.mean(dim=2)]
    return torch.cat(parts, dim=1)


def audio_layer_features(root: Path, rel_paths: list[str], out: Path, batch: int = 16) -> dict:
    """``{rel_path: (1792,) tensor}``: :func:`pooled_layers` of every clip (5-s centre crop,
    as :func:`audio_features`), cached in ``out`` like the other caches."""
    return audio_features(
        root, rel_paths, out, batch=batch, embed=lambda m, w: pooled_layers(m.audio_encoder, w)
    )


def _encode_strings(strings: list[str], out: Path, encode, label: str, model, batch: int) -> dict:
    """``{string: tensor}`` cached in ``out``: the strings not there yet, sorted by length
    (similar lengths per batch: less padding), tokenised by the model's MiniLM and given to
    ``encode(model, ids, mask)`` (one tensor per row); saved every 20 batches."""
    import torch

    feats = _load(out)
    todo = [s for s in dict.fromkeys(strings) if s not in feats]
    if not todo:
        return feats
    model = model or _encoders()
    todo.sort(key=len)
    t0 = time.time()
    with torch.inference_mode():
        for i in range(0, len(todo), batch):
            chunk = todo[i : i + batch]
            tok = model.text_encoder.tokenize(chunk)
            # the tokenizer pads to max_length; masked padding does not change the output,
            # so drop the all-padding columns (2-3x less work for short captions)
            width = int(tok["attention_mask"].sum(dim=1).max())
            ids, mask = tok["input_ids"][:, :width], tok["attention_mask"][:, :width]
            for s, e in zip(chunk, encode(model, ids, mask), strict=True):
                feats[s] = e.clone()
            if (i // batch) % 20 == 19 or i + batch >= len(todo):
                _save(feats, out)
                n = min(i + batch, len(todo))
                rate = n / (time.time() - t0)
                print(f"{label} {n}/{len(todo)} ({rate:.0f}/s)", file=sys.stderr, flush=True)
    return feats


def text_features(strings: list[str], out: Path, model=None, batch: int = 128) -> dict:
    """``{string: (384,) tensor}`` of the frozen MiniLM encoder (cached in ``out``)."""

    def encode(model, ids, mask):
        return model.text_encoder(ids, mask).float()

    return _encode_strings(strings, out, encode, "text", model, batch)


def text_states(strings: list[str], out: Path, layers: int, model=None, batch: int = 128) -> dict:
    """``{string: (tokens, 384) float16 tensor}``: MiniLM's hidden states *before* its last
    ``layers`` transformer layers (padding dropped), cached in ``out``; what a candidate
    that trains those layers starts from (:class:`offline_heads.TextTail`)."""
    import torch

    def encode(model, ids, mask):
        body = model.text_encoder.model
        index = body.config.num_hidden_layers - layers  # hidden_states[0]: the embeddings
        h = body(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
        lengths = mask.sum(dim=1).tolist()
        return [row[:n].to(torch.float16) for row, n in zip(h[index], lengths, strict=True)]

    return _encode_strings(strings, out, encode, "states", model, batch)


def interleaved(paths: list[str]) -> list[str]:
    """Held-out sources first, then round-robin over sources (each in a fixed shuffled
    order), so that any prefix of the work is a balanced sample of every source."""
    import random

    by_source: dict[str, list[str]] = {}
    for p in sorted(paths):
        by_source.setdefault(Path(p).parent.name, []).append(p)
    first = [p for s in HELD_OUT for p in by_source.pop(s, [])]
    for i, ps in enumerate(by_source.values()):
        random.Random(f"interleave-{i}").shuffle(ps)
    rest = [p for group in zip_longest_all(list(by_source.values())) for p in group]
    return first + rest


def zip_longest_all(lists: list[list[str]]):
    for i in range(max((len(x) for x in lists), default=0)):
        yield [x[i] for x in lists if i < len(x)]


def read_manifest(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def captions_of(row: dict) -> list[str]:
    return [row[k] for k in sorted(row) if k.startswith("caption_") and (row[k] or "").strip()]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("what", choices=["audio", "layers", "text"])
    ap.add_argument("--root", type=Path, default=Path("data/offline_v2"))
    ap.add_argument("--manifest", type=Path, default=None)
    ap.add_argument("--glob", default="audio/*/*.flac")
    ap.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--splits", nargs="+", default=["heldout", "train", "val"])
    ap.add_argument("--shard", default="0/1", help="K/N: every Nth clip from the Kth")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    if args.what in ("audio", "layers"):
        if args.manifest is not None:
            rows = read_manifest(args.manifest)
            paths = [r["path"] for r in rows if r["split"] in args.splits]
        else:
            paths = sorted(str(p.relative_to(args.root)) for p in args.root.glob(args.glob))
        k, n = (int(x) for x in args.shard.split("/"))
        paths = interleaved(paths)[k::n]
        stem = "audio" if args.what == "audio" else "layers"
        name = f"{stem}.pt" if n == 1 else f"{stem}.{k}.pt"
        if args.what == "audio":
            audio_features(args.root, paths, args.dir / name)
        else:
            audio_layer_features(args.root, paths, args.dir / name)
    else:
        rows = [r for r in read_manifest(args.manifest) if r["split"] in args.splits]
        by_path = {r["path"]: r for r in rows}
        order = interleaved(list(by_path))  # the audio job's order: any prefix is balanced
        strings = [c for p in order for c in captions_of(by_path[p])]
        block = 1024  # blocks in that order, each sorted by length inside text_features
        model = _encoders()
        for i in range(0, len(strings), block):
            text_features(strings[i : i + block], args.dir / "text.pt", model=model)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
