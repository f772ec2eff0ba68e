"""Fine-tune aisfx's last conv block on corpus v2, from cached block-3 outputs (measured for
issue 16; not adopted: docs/offline_model.md, "Fine-tuning the last audio block on corpus v2").

aisfx's ``conv_block4`` (3.5 M parameters, about a quarter of the encoder's work) is the
only part of the audio tower that trains, so the output of blocks 1-3 of every clip (the
5-s centre crop of the feature caches, float16, 256 x 27 x 12 numbers: 166 KB a clip) is
computed once (``cache``, in shards that can run in parallel) and each training step runs
only block 4, the pooling (mean over frequency, max over time: the encoder's own), the
heads and InfoNCE (``train``). BatchNorm keeps aisfx's statistics (eval mode), so at the
start the model is exactly the frozen one (the cached maps reproduce the encoder's output,
``tests/offline/test_offline_finetune.py``).

``train`` starts from a heads-only model (default ``runs/offline_v2_model``: linear heads on
frozen aisfx and MiniLM, the cached MiniLM vectors), trains block 4 at ``--lr-block`` and the
heads at ``--lr-heads`` (AdamW, cosine, clipping 1.0), and evaluates after every epoch:
validation and held-out text -> audio (heads only), then, on the final weights, the memory of
offline model v4 rebuilt with the fine-tuned block (keys = its outputs on the training clips;
k 20, tau 0.05, reverse 5 / 0.05, alpha = beta = 0.5; validation with each clip's own source
left out of the bank) and zero-shot accuracy (validation: the coarse categories; held-out:
the 13-class labelled set of scripts/eval_offline.py). ``--lr-block 0`` is the control:
the same loop with the block frozen.

    python scripts/offline_finetune_block4.py cache --shard 0/2 &   # ~13 min per shard here
    python scripts/offline_finetune_block4.py cache --shard 1/2
    python scripts/offline_finetune_block4.py train --lr-block 1e-4 --epochs 3 \\
        --json benchmarks/results/offline_v2_block4_finetune.jsonl
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from offline_features import (  # noqa: E402
    CLIP_SECONDS,
    DEFAULT_DIR,
    _encoders,
    _load,
    captions_of,
    read_manifest,
)

CACHE_DIR = Path("runs/offline_v2_block3")
SPLITS = ("train", "val", "heldout")
MAP_SHAPE = (256, 27, 12)  # conv_block3 output of a 5-s crop: channels, frames / 8, mels / 8


def block3(encoder, waves):
    """aisfx blocks 1-3 of ``waves`` (batch, samples): (batch, 256, frames / 8, 12)."""
    import torch.nn.functional as F

    from audioseek.models.audio_encoders import AISFX_BLOCK_FRAMES

    net = encoder.backbone
    spec = encoder.frontend(waves)
    if spec.shape[-1] < AISFX_BLOCK_FRAMES:  # as AisfxNet.forward
        spec = F.pad(spec, (0, AISFX_BLOCK_FRAMES - spec.shape[-1]))
    x = spec.transpose(1, 2).unsqueeze(1)
    return net.conv_block3(net.conv_block2(net.conv_block1(x)))


def pool(x4):
    """The encoder's pooling of a block-4 map: mean over frequency, max over time."""
    return x4.mean(dim=3).amax(dim=2)


def cache(manifest: Path, out: Path, shard: int, shards: int, batch: int = 16) -> Path:
    """Block-3 maps of every ``SPLITS`` clip of the shard: ``block3.<k>.npy`` (float16) and
    ``block3.<k>.paths`` (one manifest path per row, written last: a shard is done when it
    exists)."""
    import numpy as np
    import torch

    from audioseek.data.dataset import AudioCaptionDataset

    rows = [r for r in read_manifest(manifest) if r["split"] in SPLITS]
    paths = [r["path"] for r in rows][shard::shards]
    model = _encoders()
    items = [
        {"audio_path": str(manifest.parent / p), "captions": ["x"], "item_id": p, "clip_index": i}
        for i, p in enumerate(paths)
    ]
    ds = AudioCaptionDataset(items, int(model.sample_rate), CLIP_SECONDS, caption="all")
    out.mkdir(parents=True, exist_ok=True)
    maps = np.lib.format.open_memmap(
        out / f"block3.{shard}.npy", mode="w+", dtype=np.float16, shape=(len(paths), *MAP_SHAPE)
    )
    t0 = time.time()
    with torch.inference_mode():
        for i in range(0, len(paths), batch):
            idx = range(i, min(i + batch, len(paths)))
            x3 = block3(model.audio_encoder, torch.stack([ds.load_waveform(j) for j in idx]))
            maps[i : i + len(idx)] = x3.numpy().astype(np.float16)
            if (i // batch) % 20 == 0:
                rate = (i + len(idx)) / (time.time() - t0)
                print(f"block3 {i + len(idx)}/{len(paths)} ({rate:.1f}/s)", file=sys.stderr)
    maps.flush()
    done = out / f"block3.{shard}.paths"
    done.write_text("\n".join(paths))
    return done


class Block3Cache:
    """The cached maps of every shard under a folder, read by manifest path."""

    def __init__(self, folder: Path):
        import numpy as np

        self.maps, self.where = [], {}
        for done in sorted(folder.glob("block3.*.paths")):
            arr = np.load(done.with_suffix(".npy"), mmap_mode="r")
            for i, p in enumerate(done.read_text().split("\n")):
                self.where[p] = (len(self.maps), i)
            self.maps.append(arr)
        if not self.where:
            raise SystemExit(f"no finished block3 shards in {str(folder)!r}; run `cache` first")

    def __contains__(self, path: str) -> bool:
        return path in self.where

    def __call__(self, paths):
        import numpy as np
        import torch

        rows = [self.maps[s][i] for s, i in (self.where[p] for p in paths)]
        return torch.from_numpy(np.stack(rows).astype(np.float32))


class Tower:
    """Block 4 (trainable or frozen), the encoder's pooling and the two heads."""

    def __init__(self, start: str, text: dict):
        import copy

        import torch

        from audioseek.models.dual_encoder import DualEncoder

        base = DualEncoder.from_pretrained(start).eval()
        self.ah, self.th = copy.deepcopy(base.audio_head), copy.deepcopy(base.text_head)
        self.scale = torch.nn.Parameter(base.logit_scale.detach().clone().reshape(()))
        self.block = copy.deepcopy(_encoders().audio_encoder.backbone.conv_block4).eval()
        self.text = text

    def pooled(self, maps, paths, batch: int = 128):
        import torch

        with torch.inference_mode():
            return torch.cat(
                [pool(self.block(maps(paths[i : i + batch]))) for i in range(0, len(paths), batch)]
            )

    def audio(self, maps, paths):
        import torch
        import torch.nn.functional as F

        x = self.pooled(maps, paths)
        with torch.inference_mode():
            return F.normalize(self.ah(x), dim=-1)

    def captions(self, strings):
        import torch
        import torch.nn.functional as F

        with torch.inference_mode():
            return F.normalize(self.th(self.raw(strings)), dim=-1)

    def raw(self, strings):
        import torch

        return torch.stack([self.text[s] for s in strings]).float()


def retrieval(rows: dict, paths, audio, text_of) -> dict:
    """text -> audio over ``paths`` (each caption's own clip relevant)."""
    from audioseek.eval.metrics import retrieval_metrics

    qs = [(j, c) for j, p in enumerate(paths) for c in captions_of(rows[p])]
    m = retrieval_metrics(text_of([c for _, c in qs]) @ audio.T, [[j] for j, _ in qs])
    return {k: round(m[k], 4) for k in ("map@10", "r@10", "mrr")}


def train(tower: Tower, maps, rows: dict, splits: dict, args, log) -> list[dict]:
    import torch
    import torch.nn.functional as F

    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    heads = [*tower.ah.parameters(), *tower.th.parameters(), tower.scale]
    groups = [{"params": heads, "lr": args.lr_heads}]
    if args.lr_block > 0:
        groups.append({"params": list(tower.block.parameters()), "lr": args.lr_block})
    for p in tower.block.parameters():
        p.requires_grad_(args.lr_block > 0)
    params = [p for g in groups for p in g["params"]]
    opt = torch.optim.AdamW(groups, weight_decay=1e-4)
    train_paths = splits["train"]
    steps = max(1, (len(train_paths) // args.batch) * args.epochs)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(1.0, s / steps)))
    )

    def measure(epoch, seconds=None):
        e = {"epoch": epoch, "seconds": seconds}
        for name in ("val", "heldout"):
            e[name] = retrieval(rows, splits[name], tower.audio(maps, splits[name]), tower.captions)
        log(json.dumps(e))
        return e

    epochs = [measure(0)]
    for epoch in range(args.epochs):
        t0 = time.time()
        order = train_paths[:]
        rng.shuffle(order)
        tower.ah.train()
        tower.th.train()  # block 4 stays in eval mode: aisfx's BatchNorm statistics
        for i in range(0, len(order) - args.batch + 1, args.batch):
            ps = order[i : i + args.batch]
            caps = [rng.choice(captions_of(rows[p])) for p in ps]
            a = F.normalize(tower.ah(pool(tower.block(maps(ps)))), dim=-1)
            t = F.normalize(tower.th(tower.raw(caps)), dim=-1)
            logits = tower.scale.clamp(max=math.log(100)).exp() * a @ t.T
            target = torch.arange(len(ps))
            loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
        tower.ah.eval()
        tower.th.eval()
        epochs.append(measure(epoch + 1, round(time.time() - t0)))
    return epochs


def with_memory(tower: Tower, maps, rows: dict, splits: dict) -> dict:
    """Offline model v4's memory rebuilt on the tower's block 4; retrieval and zero-shot."""
    import torch
    import torch.nn.functional as F
    from eval_offline import label_sets
    from offline_features import text_features
    from offline_memory import _own_source_left_out

    from audioseek.eval.metrics import retrieval_metrics
    from audioseek.index.tagging import PROMPTS
    from audioseek.models.memory import soft_recall

    prompts = [
        p.format(ls.names[c])
        for name in ("val", "heldout")
        for ls in label_sets([rows[x] for x in splits[name]]).values()
        for c in ls.classes
        for p in PROMPTS
    ]
    missing = [s for s in dict.fromkeys(prompts) if s not in tower.text]
    if missing:  # class prompts the caption cache does not hold: the frozen MiniLM's vectors
        with tempfile.TemporaryDirectory() as tmp:
            tower.text.update(text_features(missing, Path(tmp) / "text.pt"))
    bank = splits["train"]
    bank_x = tower.pooled(maps, bank)
    keys = F.normalize(bank_x, dim=-1)
    values = F.normalize(
        torch.stack([tower.raw(captions_of(rows[p])).mean(0) for p in bank]), dim=-1
    )
    bank_src = [rows[p]["source"] for p in bank]
    with torch.inference_mode():
        bank_audio = F.normalize(tower.ah(bank_x), dim=-1)
    half = math.sqrt(0.5)

    def audio(paths, leave_out):
        x = tower.pooled(maps, paths)
        sims = F.normalize(x, dim=-1) @ keys.T
        if leave_out:
            sims = _own_source_left_out(sims, [rows[p]["source"] for p in paths], bank_src)
        with torch.inference_mode():
            h = F.normalize(tower.ah(x), dim=-1)
        return torch.cat([half * h, half * soft_recall(sims, values, 20, 0.05)], -1)

    def text(strings, sources=None):
        t = tower.raw(strings)
        sims = F.normalize(t, dim=-1) @ values.T
        if sources is not None:
            sims = _own_source_left_out(sims, sources, bank_src)
        h = tower.captions(strings)
        h = F.normalize(0.5 * h + 0.5 * soft_recall(sims, bank_audio, 5, 0.05), dim=-1)
        return torch.cat([half * h, half * F.normalize(t, dim=-1)], -1)

    def zero_shot(paths, a, text_of, name):
        ls = label_sets([rows[p] for p in paths])[name]
        keep = [i for i, c in enumerate(ls.clip_class) if c is not None]
        truth = torch.tensor([ls.classes.index(ls.clip_class[i]) for i in keep])
        classes = torch.stack(
            [
                F.normalize(text_of([p.format(ls.names[c]) for p in PROMPTS]).mean(0), dim=-1)
                for c in ls.classes
            ]
        )
        return round(((a[keep] @ classes.T).argmax(1) == truth).float().mean().item(), 4)

    out = {}
    for name, leave_out, classes in (("val", True, "category"), ("heldout", False, "labelled")):
        paths = splits[name]
        a = audio(paths, leave_out)
        qs = [(j, c, rows[p]["source"]) for j, p in enumerate(paths) for c in captions_of(rows[p])]
        t = text([c for _, c, _ in qs], [s for _, _, s in qs] if leave_out else None)
        m = retrieval_metrics(t @ a.T, [[j] for j, _, _ in qs])
        res = {k: round(m[k], 4) for k in ("map@10", "r@10", "mrr")}
        res["zero_shot"] = zero_shot(paths, a, text, classes)
        res["zero_shot_heads_only"] = zero_shot(
            paths, tower.audio(maps, paths), tower.captions, classes
        )
        for source in sorted({rows[p]["source"] for p in paths}) if name == "heldout" else ():
            idx = [j for j, p in enumerate(paths) if rows[p]["source"] == source]
            local = {j: i for i, j in enumerate(idx)}
            qi = [n for n, (j, _, _) in enumerate(qs) if j in local]
            rel = [[local[qs[n][0]]] for n in qi]
            res[f"{source}_map@10"] = round(retrieval_metrics(t[qi] @ a[idx].T, rel)["map@10"], 4)
        out[name] = res
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("cache", help="block-3 maps of the train / val / held-out clips")
    c.add_argument("--shard", default="0/1", help="K/N: every Nth clip from the Kth")
    t = sub.add_parser("train", help="fine-tune block 4 and the heads, then evaluate")
    t.add_argument("--start", default="runs/offline_v2_model", help="heads-only model folder")
    t.add_argument("--lr-block", type=float, default=1e-4, help="0: block 4 frozen (control)")
    t.add_argument("--lr-heads", type=float, default=1e-4)
    t.add_argument("--epochs", type=int, default=3)
    t.add_argument("--batch", type=int, default=64)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--json", type=Path, default=None, help="append the run's record (JSONL)")
    for p in (c, t):
        p.add_argument("--manifest", type=Path, default=Path("data/offline_v2/manifest.csv"))
        p.add_argument("--cache-dir", type=Path, default=CACHE_DIR)
        p.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    if args.cmd == "cache":
        k, n = (int(x) for x in args.shard.split("/"))
        cache(args.manifest, args.cache_dir, k, n)
        return 0
    maps = Block3Cache(args.cache_dir)
    rows = {r["path"]: r for r in read_manifest(args.manifest)}
    splits = {s: [p for p, r in rows.items() if r["split"] == s and p in maps] for s in SPLITS}
    tower = Tower(args.start, _load(DEFAULT_DIR / "text.pt"))
    record = {
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "load_average": os.getloadavg(),
        "clips": {s: len(v) for s, v in splits.items()},
    }
    record["epochs"] = train(tower, maps, rows, splits, args, lambda s: print(s, flush=True))
    record["memory_v4_recipe"] = with_memory(tower, maps, rows, splits)
    print(json.dumps(record["memory_v4_recipe"]), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        with open(args.json, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
