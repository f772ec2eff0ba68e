"""Train the offline model's projection heads from cached frozen-encoder features, fast.

The same recipe as ``audioseek train`` with ``feature_cache.enabled`` (baseline policy:
aisfx and MiniLM frozen; heads + temperature trained with symmetric InfoNCE, AdamW, linear
warmup + cosine, gradient clipping 1.0, the epoch with the best validation mAP@10 kept),
as a plain torch loop over the per-clip / per-string caches of
scripts/offline_features.py. Made for measuring recipe candidates with several seeds on a
loaded 2-core machine, where one Lightning run over the v2 corpus costs minutes and this
loop seconds. Candidates (``--set``-like keyword arguments of :class:`Recipe`):

- ``head``: ``linear`` (the paper's) or ``mlp`` (Linear-GELU-Dropout-Linear);
- ``text_prob`` / ``text_views``: the paper's text augmentation: ``text_prob`` of each
  batch's captions replaced by one of ``text_views`` cached paraphrases (every paraphrase
  is an edit: WordNet synonym / hypernym or misspelling, :class:`TextAugmenter`);
- ``captions``: ``one`` (one random caption per clip per epoch) or ``all`` (every pair);
- ``hard_negatives``: batches drawn from ``hard_groups`` categories at a time, so most
  negatives are of the clip's own coarse category;
- ``text_head``: ``train`` (a head learned from scratch, the paper's), ``identity`` (the
  text head is fixed to the identity, so the shared space is MiniLM's own and only the audio
  head learns: ``embed_dim`` becomes the text width, 384), or ``anchored`` (a linear text
  head that starts at the identity and is pulled back to it by
  ``text_anchor * ||W - I||^2``): words never seen in training keep MiniLM's neighbours;
- ``audio_parts``: which pooled aisfx layers feed the audio head, ``+``-joined names of
  ``offline_features.LAYER_PARTS`` (``b4max`` = the encoder's own output; ``b3mean`` = conv
  block 3, mean over time, ...), from the ``layers`` cache; ``audio_norm``: ``standard``
  standardises each input dimension with the training clips' mean and spread (foldable
  into a linear head);
- ``category_cap``: at most this many clips of one ``category`` per epoch (a new random
  draw each epoch), so music (1,900 training clips) and speech do not dominate the batches;
- ``text_layers``: MiniLM's last ``text_layers`` transformer layers are trained too (at
  ``text_lr``), from hidden states cached before them (``offline_features.text_states``,
  computed on first use): :class:`TextTail`. A saved model then stores those layers beside
  the heads (``save_pretrained(..., also_store=...)``);
- ``fold_val``: the validation split is trained on too and the last epoch is kept (for a
  final model once a recipe is chosen; its logged validation mAP@10 is then on seen clips).

    python scripts/offline_heads.py --manifest data/offline_v2/manifest.csv --seeds 0 1 2 \\
        --recipe head=mlp text_prob=0.2 --json benchmarks/results/offline_v2_heads.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import random
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from offline_features import (  # noqa: E402
    DEFAULT_DIR,
    LAYER_PARTS,
    _load,
    captions_of,
    read_manifest,
    text_features,
)


@dataclass
class Recipe:
    head: str = "linear"
    embed_dim: int = 256
    head_dropout: float = 0.0
    epochs: int = 60
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 20
    temperature_init: float = 0.07
    text_prob: float = 0.2
    text_views: int = 2
    captions: str = "one"
    hard_negatives: bool = False
    hard_groups: int = 4
    text_head: str = "train"
    text_anchor: float = 1.0
    audio_parts: str = "b4max"
    audio_norm: str = "none"
    text_layers: int = 0
    text_lr: float = 3e-5
    category_cap: int = 0
    ema: float = 0.0
    #: train on the validation split too (the last epoch is kept: no unseen split is left
    #: to choose one by; validation mAP@10 is still logged, on trained-on clips)
    fold_val: bool = False

    @classmethod
    def parse(cls, pairs) -> Recipe:
        kinds = {f.name: f.type for f in fields(cls)}
        kw = {}
        for pair in pairs or ():
            k, _, v = pair.partition("=")
            if k not in kinds:
                raise SystemExit(f"unknown recipe key {k!r}; expected one of {sorted(kinds)}")
            t = kinds[k]
            if t == "bool":
                if v.lower() not in ("1", "true", "yes", "0", "false", "no"):
                    raise SystemExit(f"recipe key {k}: expected true or false, got {v!r}")
                kw[k] = v.lower() in ("1", "true", "yes")
            else:
                kw[k] = eval(t)(v)  # noqa: S307
        return cls(**kw)


@dataclass
class Split:
    audio: object  # (N, Da)
    categories: list[str]
    clip_captions: list[list[int]]  # clip -> caption rows of ``text``
    paraphrases: list[list[int]]  # caption row -> paraphrase rows of ``text``
    text: object  # (M, Dt): captions then paraphrases
    strings: list = dataclasses.field(default_factory=list)  # row -> the string
    states: list | None = None  # row -> MiniLM states before the tail (text_layers > 0)


class TextTail(nn.Module):
    """MiniLM's last ``text_layers`` transformer layers, trained: cached hidden states of
    the layer before them (``offline_features.text_states``) -> those layers -> mean over
    the tokens -> L2 norm, i.e. exactly the frozen encoder's output at initialisation."""

    def __init__(self, layers):
        super().__init__()
        self.layers = nn.ModuleList(layers)

    @classmethod
    def from_minilm(cls, n: int) -> TextTail:
        import copy

        from offline_features import _encoders

        body = _encoders().text_encoder.model
        return cls([copy.deepcopy(x) for x in body.encoder.layer[-n:]])

    def forward(self, states: list) -> torch.Tensor:
        lengths = torch.tensor([len(x) for x in states])
        h = nn.utils.rnn.pad_sequence([x.float() for x in states], batch_first=True)
        mask = (torch.arange(h.shape[1])[None, :] < lengths[:, None]).float()
        additive = (1.0 - mask[:, None, None, :]) * torch.finfo(torch.float32).min
        for layer in self.layers:
            h = layer(h, attention_mask=additive)
            h = h[0] if isinstance(h, tuple) else h
        pooled = (h * mask[..., None]).sum(dim=1) / mask.sum(dim=1, keepdim=True)
        return nn.functional.normalize(pooled, dim=-1)

    def encode(self, states: list, batch: int = 256) -> torch.Tensor:
        with torch.inference_mode():
            return torch.cat([self(states[i : i + batch]) for i in range(0, len(states), batch)])


def text_of(split: Split, rows: list[int], tail=None):
    """Text-head inputs of ``split``'s string rows: cached features, or the tail's output."""
    return split.text[rows] if tail is None else tail([split.states[k] for k in rows])


def audio_inputs(features: Path, parts: str) -> dict:
    """``{clip path: audio head input}`` for ``parts`` (see ``Recipe.audio_parts``)."""
    import torch

    names = parts.split("+")
    if any(n in UCS_PARTS for n in names):  # functions of the encoder's output (b4max)
        base = _load(features / "audio.pt")
        extra = [n for n in names if n not in UCS_PARTS]
        if extra and extra != ["b4max"]:
            raise SystemExit(f"UCS parts combine with b4max only, not {extra}")
        fc = ucs_classifiers()
        keys = list(base)
        emb = torch.stack([base[k] for k in keys]).float()
        with torch.inference_mode():
            cols = [emb if n == "b4max" else ucs_features(fc, emb, n) for n in names]
        out = torch.cat(cols, dim=1)
        return {k: out[i] for i, k in enumerate(keys)}
    unknown = [n for n in names if n not in LAYER_PARTS]
    if unknown:
        raise SystemExit(f"unknown audio_parts {unknown}; expected {sorted(LAYER_PARTS)}")
    if names == ["b4max"]:
        return _load(features / "audio.pt")
    layers = _load(features / "layers.pt")
    cols = torch.cat([torch.arange(*LAYER_PARTS[n]) for n in names])
    return {p: v[cols] for p, v in layers.items()}


UCS_PARTS = ("ucs_h1", "ucs_h2", "ucs_logits", "ucs_prob")


def ucs_classifiers() -> nn.ModuleList:
    """The aisfx wheel's 9 frozen classifiers (one per training library of the aisfx paper:
    Pro Sound Effects, Soundly, UCS Mixed, ... with 3-81 UCS categories each), each
    Linear(512, 256)-ReLU-Linear(256, 128)-ReLU-Linear(128, classes), as in the checkpoint."""
    from audioseek.models.audio_encoders import aisfx_checkpoint_path

    weights, ds = torch.load(aisfx_checkpoint_path(), map_location="cpu", weights_only=False)
    heads = nn.ModuleList()
    for _name, (idx, n) in sorted(ds.items(), key=lambda kv: int(kv[1][0])):
        h = nn.Sequential(
            nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, int(n))
        )
        h.load_state_dict(
            {
                k[len(f"fc.{int(idx)}.") :]: v
                for k, v in weights.items()
                if k.startswith(f"fc.{int(idx)}.")
            }
        )
        heads.append(h.eval())
    return heads


def ucs_features(heads: nn.ModuleList, emb: torch.Tensor, part: str) -> torch.Tensor:
    """The classifiers' first / second hidden layer, logits or softmax, concatenated."""
    stop = {"ucs_h1": 2, "ucs_h2": 4, "ucs_logits": 5, "ucs_prob": 5}[part]
    out = [h[:stop](emb) for h in heads]
    if part == "ucs_prob":
        out = [x.softmax(-1) for x in out]
    return torch.cat(out, dim=1)


def paraphrase(captions: list[str], views: int, seed: int = 0) -> list[list[str]]:
    """``views`` edited versions of every caption (TextAugmenter.augment_text, seeded per
    caption and view); a caption no edit applies to keeps no paraphrase."""
    from audioseek.text.augment import TextAugmenter

    aug = TextAugmenter(prob=1.0, seed=seed)
    out = []
    for c in captions:
        alts = []
        for v in range(views):
            r = aug.augment_text(c, random.Random(f"{seed}:{v}:{c}"))
            if r is not None and r[0] != c:
                alts.append(r[0])
        out.append(list(dict.fromkeys(alts)))
    return out


def load_split(rows, audio_feats: dict, text_cache: Path, views: int, cached_only=False) -> Split:
    """Features of the clips of ``rows`` that have audio features. ``cached_only``: also
    skip clips with an uncached caption and paraphrases not in the text cache (no encoder
    run); otherwise missing strings are encoded (and cached)."""
    import torch

    rows = [r for r in rows if r["path"] in audio_feats]
    if cached_only:
        have = _load(text_cache)
        rows = [r for r in rows if all(c in have for c in captions_of(r))]
    caps_per_clip = [captions_of(r) for r in rows]
    flat = list(dict.fromkeys(c for caps in caps_per_clip for c in caps))
    para = paraphrase(flat, views) if views else [[] for _ in flat]
    if cached_only:
        para = [[p for p in ps if p in have] for ps in para]
    strings: dict[str, int] = {}

    def idx(s: str) -> int:
        return strings.setdefault(s, len(strings))

    clip_captions = [[idx(c) for c in caps] for caps in caps_per_clip]
    para_rows = {c: [idx(p) for p in ps] for c, ps in zip(flat, para, strict=True)}
    paraphrases = [[] for _ in range(len(strings))]
    for c, ps in para_rows.items():
        paraphrases[strings[c]] = ps
    t = have if cached_only else text_features(list(strings), text_cache)
    return Split(
        audio=torch.stack([audio_feats[r["path"]] for r in rows]).float(),
        categories=[r.get("category") or "other" for r in rows],
        clip_captions=clip_captions,
        paraphrases=paraphrases,
        text=torch.stack([t[s] for s in strings]).float(),
        strings=list(strings),
    )


def fit_rows(rows: list[dict], recipe: Recipe) -> list[dict]:
    """The manifest rows a recipe trains on: the training split, plus validation with
    ``fold_val``."""
    fit = ("train", "val") if recipe.fold_val else ("train",)
    return [r for r in rows if r["split"] in fit]


def _batches(split: Split, recipe: Recipe, rng: random.Random) -> list[list[tuple[int, int]]]:
    """One epoch of (clip, caption row) batches."""
    clips = list(range(len(split.clip_captions)))
    if recipe.category_cap:  # at most category_cap clips of a category per epoch, drawn anew
        by: dict[str, list[int]] = {}
        for c in clips:
            by.setdefault(split.categories[c], []).append(c)
        clips = sorted(
            c
            for v in by.values()
            for c in (v if len(v) <= recipe.category_cap else rng.sample(v, recipe.category_cap))
        )
    if recipe.captions == "all":
        pairs = [(c, k) for c in clips for k in split.clip_captions[c]]
    else:
        pairs = [(c, rng.choice(split.clip_captions[c])) for c in clips]
    bs = recipe.batch_size
    if not recipe.hard_negatives:
        rng.shuffle(pairs)
        return [pairs[i : i + bs] for i in range(0, len(pairs) - bs + 1, bs)] or [pairs]
    by_cat: dict[str, list] = {}
    for p in pairs:
        by_cat.setdefault(split.categories[p[0]], []).append(p)
    for v in by_cat.values():
        rng.shuffle(v)
    batches = []
    per = bs // recipe.hard_groups
    while sum(len(v) for v in by_cat.values()) >= bs:
        cats = [c for c, v in by_cat.items() if v]
        weights = [len(by_cat[c]) for c in cats]
        chosen = set()
        while len(chosen) < min(recipe.hard_groups, len(cats)):
            chosen.add(rng.choices(cats, weights)[0])
        batch = []
        for c in chosen:
            batch += by_cat[c][:per]
            del by_cat[c][:per]
        rest = [p for v in by_cat.values() for p in v]
        while len(batch) < bs and rest:  # fill up from anywhere
            p = rest.pop(rng.randrange(len(rest)))
            by_cat[split.categories[p[0]]].remove(p)
            batch.append(p)
        batches.append(batch)
    rng.shuffle(batches)
    return batches


def val_map10(audio_head, text_head, split: Split, tail=None) -> float:
    import torch
    import torch.nn.functional as F

    from audioseek.eval.metrics import retrieval_metrics

    with torch.inference_mode():
        a = F.normalize(audio_head(split.audio), dim=-1)
        rows = [k for ks in split.clip_captions for k in ks]
        owner = [c for c, ks in enumerate(split.clip_captions) for _ in ks]
        t = F.normalize(text_head(text_of(split, rows, tail)), dim=-1)
        return retrieval_metrics(t @ a.T, [[o] for o in owner])["map@10"]


def train_heads(train: Split, val: Split, recipe: Recipe, seed: int, log=None, tail=None) -> dict:
    """Returns {audio_head, text_head, logit_scale, best_epoch, val_map10} (and ``tail``, a
    trained copy of ``tail``, with ``recipe.text_layers``)."""
    import copy

    import torch
    import torch.nn.functional as F

    from audioseek.models.heads import ProjectionHead

    torch.manual_seed(seed)
    rng = random.Random(seed)
    if recipe.text_layers and tail is None:
        raise SystemExit("text_layers needs the MiniLM tail (TextTail.from_minilm)")
    tail = copy.deepcopy(tail) if recipe.text_layers else None
    if recipe.text_head not in ("train", "identity", "anchored"):
        raise SystemExit(f"unknown text_head {recipe.text_head!r}")
    dim = recipe.embed_dim if recipe.text_head == "train" else int(train.text.shape[1])
    ah = ProjectionHead(train.audio.shape[1], dim, recipe.head, recipe.head_dropout)
    text_kind = recipe.head if recipe.text_head == "train" else "linear"
    th = ProjectionHead(train.text.shape[1], dim, text_kind, recipe.head_dropout)
    eye = None
    if recipe.text_head != "train":
        lin = th.net[-1]
        eye = torch.eye(dim)
        with torch.no_grad():
            lin.weight.copy_(eye)
            lin.bias.zero_()
        if recipe.text_head == "identity":
            for p in th.parameters():
                p.requires_grad_(False)
    scale = torch.nn.Parameter(torch.tensor(math.log(1 / recipe.temperature_init)))
    text_params = [p for p in th.parameters() if p.requires_grad]
    params = [*ah.parameters(), *text_params, scale]
    groups = [{"params": [*ah.parameters(), scale]}]
    if text_params:  # the anchored head decays towards the identity, not towards zero
        decay = 0.0 if recipe.text_head == "anchored" else recipe.weight_decay
        groups.append({"params": text_params, "weight_decay": decay})
    if tail is not None:
        params += list(tail.parameters())
        groups.append({"params": list(tail.parameters()), "lr": recipe.text_lr})
    opt = torch.optim.AdamW(groups, lr=recipe.lr, weight_decay=recipe.weight_decay)
    steps_per_epoch = len(_batches(train, recipe, random.Random(0)))
    total = steps_per_epoch * recipe.epochs

    def lr_at(step):
        if step < recipe.warmup_steps:
            return (step + 1) / recipe.warmup_steps
        p = (step - recipe.warmup_steps) / max(1, total - recipe.warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, p)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, [lr_at] * len(groups))
    # ``ema`` > 0: validation, the best epoch and the result use an exponential moving
    # average of the weights (heads and MiniLM's layers) updated after every step
    if not 0.0 <= recipe.ema < 1.0:
        raise SystemExit(f"ema must be in [0, 1), got {recipe.ema!r}")
    live = [net for net in (ah, th, tail) if net is not None]
    shadow = [copy.deepcopy(net) for net in live] if recipe.ema else live
    best = {"val_map10": -1.0}
    for epoch in range(recipe.epochs):
        ah.train()
        th.train()
        if tail is not None:
            tail.train()
        for batch in _batches(train, recipe, rng):
            clips = [c for c, _ in batch]
            caps = []
            for _, k in batch:
                alts = train.paraphrases[k]
                caps.append(rng.choice(alts) if alts and rng.random() < recipe.text_prob else k)
            a = F.normalize(ah(train.audio[clips]), dim=-1)
            t = F.normalize(th(text_of(train, caps, tail)), dim=-1)
            logits = scale.clamp(max=math.log(100)).exp() * a @ t.T
            # rows of the same clip (captions="all") are not negatives of each other
            same = torch.tensor(clips)[:, None] == torch.tensor(clips)[None, :]
            logits = logits.masked_fill(same & ~torch.eye(len(clips), dtype=torch.bool), -1e4)
            target = torch.arange(len(clips))
            loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
            if recipe.text_head == "anchored":
                loss = loss + recipe.text_anchor * (th.net[-1].weight - eye).pow(2).sum()
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            if recipe.ema:
                with torch.no_grad():
                    for m_live, m_ema in zip(live, shadow, strict=True):
                        for p_live, p_ema in zip(
                            m_live.parameters(), m_ema.parameters(), strict=True
                        ):
                            p_ema.lerp_(p_live, 1.0 - recipe.ema)
        for net in (*live, *shadow):
            net.eval()
        e_ah, e_th = shadow[0], shadow[1]
        e_tail = shadow[2] if tail is not None else None
        m = val_map10(e_ah, e_th, val, e_tail)
        if m > best["val_map10"] or (recipe.fold_val and epoch + 1 == recipe.epochs):
            best = {
                "val_map10": m,
                "best_epoch": epoch + 1,
                "audio_head": copy.deepcopy(e_ah),
                "text_head": copy.deepcopy(e_th),
                "logit_scale": scale.detach().clone(),
                "tail": copy.deepcopy(e_tail),
            }
        if log:
            log(f"epoch {epoch + 1} loss {loss.item():.3f} val mAP@10 {m:.3f}")
    return best


def save_model(result: dict, recipe: Recipe, out: Path) -> Path:
    """A heads-only DualEncoder directory (the bundled model's format, model id offline)."""
    import torch

    from audioseek.models.factory import build_model

    cfg = {
        "audio_encoder": "aisfx",
        "text_encoder": "minilm",
        "audio_encoder_args": {"pretrained": True},
        "text_encoder_args": {"max_length": 30},
        "embed_dim": int(result["text_head"].out_dim),
        "head": recipe.head,
        "head_dropout": recipe.head_dropout,
        "temperature_init": recipe.temperature_init,
        "learn_temperature": True,
    }
    model = build_model(cfg)
    model.audio_head.load_state_dict(result["audio_head"].state_dict())
    model.text_head.load_state_dict(result["text_head"].state_dict())
    with torch.no_grad():
        model.logit_scale.copy_(result["logit_scale"])
    also = []
    if result.get("tail") is not None:  # the trained last MiniLM layer(s) replace the wheel's
        layers = model.text_encoder.model.encoder.layer
        n = len(result["tail"].layers)
        for i, trained in zip(
            range(len(layers) - n, len(layers)), result["tail"].layers, strict=True
        ):
            layers[i].load_state_dict(trained.state_dict())
            also.append(f"text_encoder.model.encoder.layer.{i}.")
    model.model_id = "offline"
    model.eval()
    return model.save_pretrained(out, heads_only=True, also_store=also)


def summarize(path: Path) -> str:
    """A markdown table of a results file: mean and (min-max) over seeds per candidate."""
    lines = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    by: dict[str, list] = {}
    for x in lines:
        by.setdefault(x["name"], []).append(x)

    def cell(vals):
        m = sum(vals) / len(vals)
        return f"{m:.3f} ({min(vals):.3f}-{max(vals):.3f})" if len(vals) > 1 else f"{m:.3f}"

    cols = {
        "R@1": lambda x: x["retrieval"]["all held-out"]["r@1"],
        "R@10": lambda x: x["retrieval"]["all held-out"]["r@10"],
        "mAP@10": lambda x: x["retrieval"]["all held-out"]["map@10"],
        "MRR": lambda x: x["retrieval"]["all held-out"]["mrr"],
        "tuxpaint mAP@10": lambda x: x["retrieval"]["tuxpaint"]["map@10"],
        "widelands mAP@10": lambda x: x["retrieval"]["widelands"]["map@10"],
        "0-shot ensemble": lambda x: x["zero_shot"]["results"]["ensemble"]["accuracy"],
        "0-shot '{}'": lambda x: x["zero_shot"]["results"]["{}"]["accuracy"],
        "0-shot 'the sound of {}'": lambda x: x["zero_shot"]["results"]["the sound of {}"][
            "accuracy"
        ],
        "0-shot balanced (ens.)": lambda x: x["zero_shot"]["results"]["ensemble"]["balanced"],
        "5 categories (ens.)": lambda x: x["zero_shot_category"]["results"]["ensemble"]["accuracy"],
    }
    out = ["| candidate | seeds | train clips | " + " | ".join(cols) + " |"]
    out.append("| --- | ---: | ---: |" + " ---: |" * len(cols))
    for name, xs in by.items():
        row = [name, str(len(xs)), str(xs[0]["train_clips"])]
        row += [cell([f(x) for x in xs]) for f in cols.values()]
        out.append("| " + " | ".join(row) + " |")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--manifest", type=Path, default=Path("data/offline_v2/manifest.csv"))
    ap.add_argument("--features", type=Path, default=DEFAULT_DIR)
    ap.add_argument("--recipe", nargs="*", default=[], help="KEY=VALUE of Recipe")
    ap.add_argument("--name", default=None)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument(
        "--save",
        default=None,
        help="save the first seed's model here; a path with {seed} saves every seed's",
    )
    ap.add_argument("--json", type=Path, default=None, help="append results (JSON lines)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--summarize", type=Path, default=None, help="print a results table")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument(
        "--encode-paraphrases",
        action="store_true",
        help="encode the text_views paraphrases of the cached training captions, then exit",
    )
    ap.add_argument(
        "--cached-only", action="store_true", help="train on clips whose features are cached"
    )
    ap.add_argument(
        "--dev-sources",
        default="",
        help="comma-separated sources taken out of train and val and measured like the "
        "held-out ones (a development set of unseen sources, for choosing recipes)",
    )
    args = ap.parse_args(argv)
    if args.summarize:
        print(summarize(args.summarize))
        return 0
    import torch
    from eval_offline import evaluate_heads, load_heldout

    torch.set_num_threads(args.threads)
    recipe = Recipe.parse(args.recipe)
    rows = read_manifest(args.manifest)
    dev_sources = {x for x in args.dev_sources.split(",") if x}
    unknown = dev_sources - {r["source"] for r in rows}
    if unknown:
        raise SystemExit(f"--dev-sources: no such source in {args.manifest}: {sorted(unknown)}")
    if any(r["split"] == "heldout" and r["source"] in dev_sources for r in rows):
        raise SystemExit("--dev-sources: a held-out source cannot be a development source")
    rows = [r for r in rows if r["source"] not in dev_sources or r["split"] not in ("train", "val")]
    audio = audio_inputs(args.features, recipe.audio_parts)
    text_cache = args.features / "text.pt"
    t0 = time.time()
    if args.encode_paraphrases:
        have = _load(text_cache)
        caps = [
            c
            for r in rows
            if r["split"] == "train" and r["path"] in audio
            for c in captions_of(r)
            if c in have
        ]
        flat = list(dict.fromkeys(caps))
        para = [p for ps in paraphrase(flat, recipe.text_views) for p in ps]
        print(f"{len(flat)} captions -> {len(para)} paraphrases", file=sys.stderr)
        text_features(para, text_cache.with_name("text.para.pt"))  # own file: no race
        return 0
    train = load_split(
        fit_rows(rows, recipe),
        audio,
        text_cache,
        recipe.text_views,
        args.cached_only,
    )
    val = load_split(
        [r for r in rows if r["split"] == "val"], audio, text_cache, 0, args.cached_only
    )
    sets = {"held": load_heldout(args.manifest, args.features)}
    if dev_sources:
        sets["dev"] = load_heldout(args.manifest, args.features, None, sources=dev_sources)
    if recipe.audio_parts != "b4max":
        sets = {
            k: dataclasses.replace(h, audio=torch.stack([audio[p] for p in h.paths]))
            for k, h in sets.items()
        }
    if recipe.audio_norm == "standard":
        mean, std = train.audio.mean(0), train.audio.std(0).clamp_min(1e-6)
        train.audio = (train.audio - mean) / std
        val.audio = (val.audio - mean) / std
        sets = {k: dataclasses.replace(h, audio=(h.audio - mean) / std) for k, h in sets.items()}
    elif recipe.audio_norm != "none":
        raise SystemExit(f"unknown audio_norm {recipe.audio_norm!r}")
    tail = None
    if recipe.text_layers:
        from offline_features import text_states

        tail = TextTail.from_minilm(recipe.text_layers)
        extra = [x for h in sets.values() for x in h.captions + list(h.prompt_text)]
        states = text_states(
            train.strings + val.strings + extra,
            args.features / f"text_states_{recipe.text_layers}.pt",
            recipe.text_layers,
        )
        train.states = [states[x] for x in train.strings]
        val.states = [states[x] for x in val.strings]
    print(
        f"train {train.audio.shape[0]} clips, val {val.audio.shape[0]}, "
        + ", ".join(f"{k} {len(h.paths)}" for k, h in sets.items())
        + f"; features {time.time() - t0:.0f} s",
        file=sys.stderr,
    )
    for seed in args.seeds:
        t1 = time.time()
        res = train_heads(train, val, recipe, seed, log=print if args.verbose else None, tail=tail)
        seen = dict(sets)
        if tail is not None:  # the captions and prompts through the trained layers
            res["tail"].eval()
            for k, h in sets.items():
                p = res["tail"].encode([states[x] for x in h.prompt_text])
                seen[k] = dataclasses.replace(
                    h,
                    text=res["tail"].encode([states[x] for x in h.captions]),
                    prompt_text={x: p[i] for i, x in enumerate(h.prompt_text)},
                )
        ev = evaluate_heads(seen["held"], res["audio_head"], res["text_head"])
        if "dev" in seen:
            ev["dev"] = evaluate_heads(seen["dev"], res["audio_head"], res["text_head"])
        line = {
            "name": args.name or " ".join(args.recipe) or "default",
            "recipe": asdict(recipe),
            "seed": seed,
            "dev_sources": sorted(dev_sources),
            "train_clips": int(train.audio.shape[0]),
            "val_clips": int(val.audio.shape[0]),
            "best_epoch": res["best_epoch"],
            "val_map10": res["val_map10"],
            "seconds": round(time.time() - t1, 1),
            "load_average": os.getloadavg(),
            **ev,
        }
        r = ev["retrieval"]["all held-out"]
        z = ev["zero_shot"]["results"]
        print(
            f"{line['name']} seed {seed}: val {res['val_map10']:.3f} (epoch {res['best_epoch']}) "
            f"held-out mAP@10 {r['map@10']:.3f} R@10 {r['r@10']:.3f} "
            + " ".join(f"{k} {v['map@10']:.3f}" for k, v in ev["retrieval"].items())
            + (
                f" | dev mAP@10 {ev['dev']['retrieval']['all held-out']['map@10']:.3f}"
                if "dev" in ev
                else ""
            )
            + f" | zero-shot ens {z['ensemble']['accuracy']:.3f} "
            f"'{{}}' {z['{}']['accuracy']:.3f} ({line['seconds']} s)",
            flush=True,
        )
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            with open(args.json, "a") as f:
                f.write(json.dumps(line) + "\n")
        if args.save and ("{seed}" in args.save or seed == args.seeds[0]):
            save_model(res, recipe, Path(args.save.replace("{seed}", str(seed))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
