"""Add a caption memory to a heads-only offline model (offline model v4).

The memory (:mod:`audioseek.models.memory`) is the training split of the corpus: per clip
the frozen aisfx output (from the feature cache, i.e. the model's own audio encoder) and
the mean of its captions' vectors from the model's own text encoder (with v3's trained
MiniLM layer). Nothing is trained: ``k`` and ``tau`` are chosen on the validation split
with each validation clip's own source removed from the bank (``--select``), so that the
choice favours describing recordings of sources the bank does not hold (what the held-out
test measures); ``alpha`` (how much the heads count against the memory) is fixed at 0.5
beforehand rather than chosen. The text side's path through the bank (``reverse_k``,
``reverse_tau``: :class:`audioseek.models.memory.MemoryTextHead`) is chosen the same way,
its weight ``beta`` fixed at 0.5 beforehand.

    python scripts/offline_memory.py --model runs/offline_v3_model --select \\
        --out runs/offline_v4_model --json benchmarks/results/offline_v4_memory_select.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from offline_features import (  # noqa: E402
    DEFAULT_DIR,
    audio_features,
    captions_of,
    read_manifest,
    text_features,
)

GRID_K = (10, 20, 50, 100)
GRID_TAU = (0.02, 0.05, 0.1)
GRID_REVERSE_K = (5, 20, 50)
GRID_REVERSE_TAU = (0.02, 0.05)


def caption_bank(rows, audio: dict, text: dict):
    """(keys, values, sources): per clip its audio vector and its mean caption vector."""
    import torch
    import torch.nn.functional as F

    keys = torch.stack([audio[r["path"]] for r in rows]).float()
    values = torch.stack(
        [
            F.normalize(torch.stack([text[c] for c in captions_of(r)]).float().mean(0), dim=0)
            for r in rows
        ]
    )
    return keys, values, [r["source"] for r in rows]


def _queries(val_rows, text: dict):
    """Every caption of the validation clips as a query: (unit vectors, the clip each one
    belongs to as relevance lists, its clip's source)."""
    import torch
    import torch.nn.functional as F

    rows = [(j, r, c) for j, r in enumerate(val_rows) for c in captions_of(r)]
    queries = F.normalize(torch.stack([text[c].float() for _, _, c in rows]), dim=-1)
    return queries, [[j] for j, _, _ in rows], [r["source"] for _, r, _ in rows]


def _own_source_left_out(sims, query_sources: list[str], bank_sources: list[str]):
    """``sims`` (queries x bank) with each query's own source's bank rows pushed below
    every other row (cosines are >= -1), so no query is described by its own source."""
    import torch

    names = {s: i for i, s in enumerate(sorted(set(bank_sources) | set(query_sources)))}
    q = torch.tensor([names[s] for s in query_sources])
    b = torch.tensor([names[s] for s in bank_sources])
    return sims.masked_fill(q[:, None] == b[None, :], -2.0)


def _grid(name: str, grid_k, grid_tau, score) -> list:
    """``score(k, tau)`` -> retrieval metrics, for every pair, logged and listed."""
    out = []
    for k in grid_k:
        for tau in grid_tau:
            m = score(k, tau)
            out.append(
                {f"{name}k": k, f"{name}tau": tau, "val_map10": m["map@10"], "val_r10": m["r@10"]}
            )
            print(
                f"{name.replace('_', ' ')}k {k:>3} tau {tau:<5}: val (own source left out) "
                f"mAP@10 {m['map@10']:.3f} R@10 {m['r@10']:.3f}",
                file=sys.stderr,
                flush=True,
            )
    return out


def select(bank, val_rows, audio: dict, text: dict, grid_k=GRID_K, grid_tau=GRID_TAU) -> list:
    """Validation mAP@10 (text -> audio, the memory alone) for every (k, tau), each
    validation clip described by bank clips of other sources only."""
    import torch
    import torch.nn.functional as F

    from audioseek.eval.metrics import retrieval_metrics
    from audioseek.models.memory import soft_recall

    keys, values, sources = bank
    q = F.normalize(torch.stack([audio[r["path"]] for r in val_rows]).float(), dim=-1)
    sims = _own_source_left_out(
        q @ F.normalize(keys, dim=-1).T, [r["source"] for r in val_rows], sources
    )
    queries, owner, _ = _queries(val_rows, text)

    def score(k, tau):
        return retrieval_metrics(queries @ soft_recall(sims, values, k, tau).T, owner)

    return _grid("", grid_k, grid_tau, score)


def select_reverse(
    bank,
    val_rows,
    audio: dict,
    text: dict,
    audio_head,
    grid_k=GRID_REVERSE_K,
    grid_tau=GRID_REVERSE_TAU,
) -> list:
    """Validation mAP@10 of the text side's path alone (query -> nearest bank captions ->
    their clips' audio through ``audio_head`` -> validation clips' audio through it), for
    every (reverse_k, reverse_tau), bank clips of the query's own source left out."""
    import torch
    import torch.nn.functional as F

    from audioseek.eval.metrics import retrieval_metrics
    from audioseek.models.memory import soft_recall

    keys, values, sources = bank
    with torch.inference_mode():
        bank_audio = F.normalize(audio_head(keys), dim=-1)
        val_audio = F.normalize(
            audio_head(torch.stack([audio[r["path"]] for r in val_rows]).float()), dim=-1
        )
    queries, owner, q_src = _queries(val_rows, text)
    sims = _own_source_left_out(queries @ F.normalize(values, dim=-1).T, q_src, sources)

    def score(k, tau):
        return retrieval_metrics(soft_recall(sims, bank_audio, k, tau) @ val_audio.T, owner)

    return _grid("reverse_", grid_k, grid_tau, score)


def with_memory(
    base,
    bank,
    k: int,
    tau: float,
    alpha: float,
    reverse_k: int = 20,
    reverse_tau: float = 0.05,
    beta: float = 1.0,
    model_id: str = "offline",
):
    """A copy of ``base`` (a DualEncoder) with a caption memory of ``bank``, named
    ``model_id`` (the bundled model's id: ``offline``)."""
    import torch

    from audioseek.models.factory import build_model

    keys, values, _ = bank
    cfg = dict(base.config)
    cfg["memory"] = {
        "size": int(keys.shape[0]),
        "k": int(k),
        "tau": float(tau),
        "alpha": float(alpha),
        "text_dim": int(values.shape[1]),
        "reverse_k": int(reverse_k),
        "reverse_tau": float(reverse_tau),
        "beta": float(beta),
    }
    model = build_model(cfg)
    model.audio_head.proj.load_state_dict(base.audio_head.state_dict())
    model.text_head.proj.load_state_dict(base.text_head.state_dict())
    model.audio_encoder.load_state_dict(base.audio_encoder.state_dict())
    model.text_encoder.load_state_dict(base.text_encoder.state_dict())
    with torch.no_grad():
        model.logit_scale.copy_(base.logit_scale)
    model.audio_head.fill(keys, values)
    model.model_id = model_id
    return model.eval()


def bank_splits_of(text: str) -> set[str]:
    """``"train,val"`` -> ``{"train", "val"}``; only training and validation clips may fill
    the bank (test and held-out clips measure the model)."""
    splits = {s.strip() for s in text.split(",") if s.strip()}
    if not splits or not splits <= {"train", "val"}:
        raise SystemExit(f"--bank-splits: expected train or train,val, got {text!r}")
    return splits


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="a heads-only DualEncoder folder")
    ap.add_argument("--manifest", type=Path, default=Path("data/offline_v2/manifest.csv"))
    ap.add_argument("--features", type=Path, default=DEFAULT_DIR)
    ap.add_argument("--out", type=Path, default=None, help="save the model with its memory")
    ap.add_argument("--k", type=int, default=None, help="default: chosen by --select")
    ap.add_argument("--tau", type=float, default=None)
    ap.add_argument("--alpha", type=float, default=0.5)
    ap.add_argument("--beta", type=float, default=0.5, help="1 = no text-side path")
    ap.add_argument("--reverse-k", type=int, default=None, help="default: chosen by --select")
    ap.add_argument("--reverse-tau", type=float, default=None)
    ap.add_argument("--select", action="store_true", help="choose k and tau on validation")
    ap.add_argument(
        "--bank-splits",
        default="train",
        help="comma-separated splits whose clips fill the bank (train,val for a model "
        "trained with fold_val)",
    )
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    given = (args.k, args.tau, args.reverse_k, args.reverse_tau)
    if not args.select and any(x is None for x in given):
        ap.error("give --k, --tau, --reverse-k and --reverse-tau, or --select")
    bank_splits = bank_splits_of(args.bank_splits)
    if args.select and "val" in bank_splits:
        ap.error("--select chooses on the validation split: it cannot also be in the bank")
    import torch

    from audioseek.models.dual_encoder import DualEncoder

    torch.set_num_threads(args.threads)
    t0 = time.time()
    base = DualEncoder.from_pretrained(args.model).eval()
    base_cfg = json.loads((Path(args.model) / "config.json").read_text())
    rows = read_manifest(args.manifest)
    bank_rows = [r for r in rows if r["split"] in bank_splits]
    val = [r for r in rows if r["split"] == "val"]
    root = args.manifest.parent
    seen = list({r["path"]: r for r in bank_rows + val}.values())  # val may be in the bank
    audio = audio_features(root, [r["path"] for r in seen], args.features / "audio.pt")
    strings = list(dict.fromkeys(c for r in seen for c in captions_of(r)))
    with tempfile.TemporaryDirectory() as tmp:  # the model's own text tower, not the cache
        text = text_features(strings, Path(tmp) / "text.pt", model=base)
    bank = caption_bank(bank_rows, audio, text)
    report = {
        "model": args.model,
        "bank_clips": len(bank_rows),
        "bank_splits": sorted(bank_splits),
        "alpha": args.alpha,
        "load_average": os.getloadavg(),
    }
    k, tau, rk, rt = given
    if args.select:
        grid = select(bank, val, audio, text)
        best = max(grid, key=lambda g: g["val_map10"])
        k = best["k"] if k is None else k
        tau = best["tau"] if tau is None else tau
        rgrid = select_reverse(bank, val, audio, text, base.audio_head)
        rbest = max(rgrid, key=lambda g: g["val_map10"])
        rk = rbest["reverse_k"] if rk is None else rk
        rt = rbest["reverse_tau"] if rt is None else rt
        report["grid"], report["reverse_grid"] = grid, rgrid
    report.update(
        k=k,
        tau=tau,
        reverse_k=rk,
        reverse_tau=rt,
        beta=args.beta,
        seconds=round(time.time() - t0, 1),
    )
    print(
        f"bank {len(bank_rows)} clips, k {k}, tau {tau}, alpha {args.alpha}, reverse_k {rk}, "
        f"reverse_tau {rt}, beta {args.beta}",
        file=sys.stderr,
    )
    if args.out:
        model = with_memory(base, bank, k, tau, args.alpha, rk, rt, args.beta)
        also = [
            p
            for p in base_cfg.get("stored_prefixes", ())
            if p.startswith(("audio_encoder.", "text_encoder."))
        ]
        model.save_pretrained(args.out, heads_only=True, also_store=also)
        report["out"] = str(args.out)
        report["fingerprint"] = model.fingerprint
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
