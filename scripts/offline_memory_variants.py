"""Variants of offline model v4's caption memory, measured for issue 16 (none adopted:
docs/offline_model.md, "After version 4: variants of the memory").

Every variant is v4 (v3's heads, the memory of the 5,185 training clips, k 20, tau 0.05,
reverse 5 / 0.05, alpha = beta = 0.5) with one thing changed, scored like
``scripts/offline_memory.py --select``: on the validation split with each clip's own source
left out of the bank (both paths), then on the held-out sources (whole bank):

- ``keys``: how clips are compared with the bank's keys: ``raw`` (v4: cosine of aisfx's
  outputs), ``center`` (the bank's mean removed first), ``whiten<eps>`` (PCA whitening of
  the bank's keys, eigenvalues floored at eps x the largest), ``head`` (cosine in the audio
  head's space), ``rawhead`` (both, concatenated);
- ``tcenter``: the bank values and the queries' text vectors centred on the values' mean
  (hubness reduction on the text side);
- ``db_gamma`` < 1: database-side augmentation, the audio side's head vector mixed with the
  head vectors of its nearest bank clips (the text side's path, the other way);
- ``qb``: querybank normalisation of the scores (inverted softmax over the training
  captions at temperature ``qb``; Bogolin et al., CVPR 2022) - a per-clip score offset,
  so not one vector per clip any more, measured to see if it would be worth that.

    python scripts/offline_memory_variants.py --json benchmarks/results/offline_v4_variants.jsonl
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from offline_features import (  # noqa: E402
    DEFAULT_DIR,
    audio_features,
    captions_of,
    read_manifest,
    text_features,
)
from offline_memory import _own_source_left_out, caption_bank  # noqa: E402

VARIANTS = [
    {"keys": "raw"},  # v4
    {"keys": "center"},
    {"keys": "whiten0.01"},
    {"keys": "whiten0.1"},
    {"keys": "head"},
    {"keys": "rawhead"},
    {"keys": "raw", "tcenter": True},
    {"keys": "head", "tcenter": True},
    {"keys": "raw", "db_gamma": 0.7},
    {"keys": "raw", "db_gamma": 0.5},
    {"keys": "raw", "qb": 0.1},
    {"keys": "raw", "qb": 0.2},
]


class Variant:
    """v4's two paths with one change (see the module docstring)."""

    def __init__(self, model, bank, keys="raw", tcenter=False, db_gamma=1.0, qb=0.0):
        import torch
        import torch.nn.functional as F

        # the heads of a model without a memory (v3), or the projections of one with it
        self.ah = getattr(model.audio_head, "proj", model.audio_head)
        self.th = getattr(model.text_head, "proj", model.text_head)
        self.keys, self.values, self.sources = bank
        self.db_gamma, self.qb = db_gamma, qb
        with torch.inference_mode():
            self.bank_audio = F.normalize(self.ah(self.keys), dim=-1)
        self.vmu = self.values.mean(0) if tcenter else torch.zeros(self.values.shape[1])
        self.vals = F.normalize(self.values - self.vmu, dim=-1)
        self.space = self._key_space(keys)
        self.bank_keys = self.space(self.keys)

    def _key_space(self, mode: str):
        import torch
        import torch.nn.functional as F

        mu = self.keys.mean(0)
        if mode == "raw":
            return lambda x: F.normalize(x, dim=-1)
        if mode == "center":
            return lambda x: F.normalize(x - mu, dim=-1)
        if mode.startswith("whiten"):
            xc = self.keys - mu
            ev, u = torch.linalg.eigh(xc.T @ xc / len(xc))
            w = u / torch.sqrt(ev.clamp_min(0) + float(mode[6:]) * ev.max())
            return lambda x: F.normalize((x - mu) @ w, dim=-1)
        if mode == "head":
            return lambda x: F.normalize(self.ah(x), dim=-1)
        if mode == "rawhead":
            return lambda x: F.normalize(
                torch.cat([F.normalize(x, dim=-1), F.normalize(self.ah(x), dim=-1)], -1), dim=-1
            )
        raise SystemExit(f"unknown keys {mode!r}")

    def audio(self, x, sources=None):
        import torch
        import torch.nn.functional as F

        from audioseek.models.memory import soft_recall

        with torch.inference_mode():
            sims = self.space(x) @ self.bank_keys.T
            if sources is not None:
                sims = _own_source_left_out(sims, sources, self.sources)
            h = F.normalize(self.ah(x), dim=-1)
            if self.db_gamma < 1:
                raw = F.normalize(x, dim=-1) @ F.normalize(self.keys, dim=-1).T
                if sources is not None:
                    raw = _own_source_left_out(raw, sources, self.sources)
                near = soft_recall(raw, self.bank_audio, 20, 0.05)
                h = F.normalize(self.db_gamma * h + (1 - self.db_gamma) * near, dim=-1)
            m = soft_recall(sims, self.vals, 20, 0.05)
            return torch.cat([math.sqrt(0.5) * h, math.sqrt(0.5) * m], -1)

    def text(self, t, sources=None):
        import torch
        import torch.nn.functional as F

        from audioseek.models.memory import soft_recall

        with torch.inference_mode():
            t = t.float()
            h = F.normalize(self.th(t), dim=-1)
            sims = F.normalize(t - self.vmu, dim=-1) @ self.vals.T
            if sources is not None:
                sims = _own_source_left_out(sims, sources, self.sources)
            h = F.normalize(0.5 * h + 0.5 * soft_recall(sims, self.bank_audio, 5, 0.05), dim=-1)
            own = F.normalize(t - self.vmu, dim=-1)
            return torch.cat([math.sqrt(0.5) * h, math.sqrt(0.5) * own], -1)


def score(var: Variant, rows, audio, text, leave_out: bool, classes, bank_captions) -> dict:
    import torch
    import torch.nn.functional as F

    from audioseek.eval.metrics import retrieval_metrics
    from audioseek.index.tagging import PROMPTS

    x = torch.stack([audio[r["path"]] for r in rows]).float()
    a = var.audio(x, [r["source"] for r in rows] if leave_out else None)
    qs = [(j, c, r["source"]) for j, r in enumerate(rows) for c in captions_of(r)]
    t = var.text(
        torch.stack([text[c] for _, c, _ in qs]), [s for *_, s in qs] if leave_out else None
    )
    s = t @ a.T
    if var.qb:
        bank_q = var.text(torch.stack([text[c] for c in bank_captions]))
        s = s / var.qb - torch.logsumexp(bank_q @ a.T / var.qb, dim=0)[None]
    m = retrieval_metrics(s, [[j] for j, *_ in qs])
    keep = [i for i, c in enumerate(classes.clip_class) if c is not None]
    truth = torch.tensor([classes.classes.index(classes.clip_class[i]) for i in keep])
    cv = torch.stack(
        [
            F.normalize(
                var.text(torch.stack([text[p.format(classes.names[c])] for p in PROMPTS])).mean(0),
                dim=-1,
            )
            for c in classes.classes
        ]
    )
    zs = ((a[keep] @ cv.T).argmax(1) == truth).float().mean().item()
    return {"map@10": m["map@10"], "r@10": m["r@10"], "mrr": m["mrr"], "zero_shot": zs}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="runs/offline_v3_model", help="v4's heads (v3)")
    ap.add_argument("--manifest", type=Path, default=Path("data/offline_v2/manifest.csv"))
    ap.add_argument("--features", type=Path, default=DEFAULT_DIR)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    import torch
    from eval_offline import label_sets

    from audioseek.index.tagging import PROMPTS
    from audioseek.models.dual_encoder import DualEncoder

    torch.set_num_threads(args.threads)
    model = DualEncoder.from_pretrained(args.model).eval()
    rows = read_manifest(args.manifest)
    split = {s: [r for r in rows if r["split"] == s] for s in ("train", "val", "heldout")}
    audio = audio_features(
        args.manifest.parent,
        [r["path"] for v in split.values() for r in v],
        args.features / "audio.pt",
    )
    classes = {"val": label_sets(split["val"])["category"]}
    classes["heldout"] = label_sets(split["heldout"])["labelled"]
    prompts = [
        p.format(ls.names[c]) for ls in classes.values() for c in ls.classes for p in PROMPTS
    ]
    captions = [c for v in split.values() for r in v for c in captions_of(r)]
    with tempfile.TemporaryDirectory() as tmp:  # the model's own text tower (v3's layer)
        text = text_features(
            list(dict.fromkeys(captions + prompts)), Path(tmp) / "t.pt", model=model
        )
    bank = caption_bank(split["train"], audio, text)
    bank_captions = [c for r in split["train"] for c in captions_of(r)]
    out = []
    for v in VARIANTS:
        var = Variant(model, bank, **v)
        rec = {"variant": v, "load_average": os.getloadavg()}
        for name, leave_out in (("val", True), ("heldout", False)):
            rec[name] = score(
                var, split[name], audio, text, leave_out, classes[name], bank_captions
            )
        print(json.dumps(rec), flush=True)
        out.append(rec)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text("".join(json.dumps(r) + "\n" for r in out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
