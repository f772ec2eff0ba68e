"""Inference precision benchmark: fp32 vs bf16 vs int8 (``load_model(..., precision=...)``).

Measured in one run, fp32 being the same-run reference, written to
``benchmarks/results/bench_precision.json``:

* the bundled offline model (``load_model("offline")``: real aisfx + MiniLM weights, trained
  heads): audio-seconds per wall-second on 10 s windows of real recordings (the Debian
  sonic-pi samples played end to end), captions per second, each window's / caption's cosine
  to its fp32 vector, and retrieval quality (text -> audio mAP@10 through
  ``audioseek.eval.metrics``) on (a) the procedural captioned set of
  ``audioseek.data.synthetic`` and (b) the sonic-pi recordings captioned from their file
  names (``bd_808`` -> "bass drum 808");
* the LAION-CLAP architecture (``transformers`` ClapModel, DEFAULT config, RANDOM weights:
  no weights can be downloaded here) through the models layer's ``clap-htsat`` wrapper:
  audio-seconds per wall-second and per-window cosine to fp32.

The machine is shared with other jobs: ``load_average`` (before / after each section) says
how busy it was; such numbers are not final.

Usage: ``python benchmarks/bench_precision.py [--windows 8] [--reps 2] [--skip-clap]``.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import platform
import re
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

log = logging.getLogger("bench_precision")
RESULTS = Path(__file__).resolve().parent / "results" / "bench_precision.json"
SONIC_PI = Path("/usr/share/sonic-pi/samples")
PRECISIONS = ("fp32", "bf16", "int8")
WINDOW_S = 10.0

WORDS = {
    "ambi": "ambient", "bd": "bass drum", "sn": "snare drum", "drum": "drum", "elec": "electronic",
    "perc": "percussion", "guit": "guitar", "misc": "miscellaneous", "loop": "drum loop",
    "vinyl": "vinyl", "tabla": "tabla", "glitch": "glitch", "bass": "bass", "hat": "hi-hat",
    "mehackit": "", "arovane": "", "tbd": "", "cymbal": "cymbal", "sd": "snare drum",
    "lo": "low", "hi": "high", "fx": "effect",
}  # fmt: skip


def load_avg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def caption_from_name(stem: str) -> str:
    words = [WORDS.get(w, w) for w in re.split(r"[_\-\s]+", stem.lower())]
    return " ".join(w for w in words if w and not re.fullmatch(r"\d+|[a-g]|[a-g]s", w)) or stem


def real_recordings(sr: int, max_files: int | None = None) -> list[tuple[str, np.ndarray]]:
    from audioseek.audio.io import load_audio

    files = sorted(SONIC_PI.glob("*.flac"))[:max_files]
    if not files:
        raise SystemExit(f"no real recordings found in {SONIC_PI} (install sonic-pi-samples)")
    return [(f.stem, load_audio(f, sr)) for f in files]


def stream_windows(clips: list[np.ndarray], sr: int, n: int) -> np.ndarray:
    """``n`` windows of ``WINDOW_S`` seconds cut from the recordings played end to end."""
    size = int(WINDOW_S * sr)
    stream = np.concatenate(clips)
    while stream.size < n * size:
        stream = np.concatenate([stream, stream])
    return stream[: n * size].reshape(n, size).astype(np.float32)


def timed(fn, reps: int) -> tuple[float, object]:
    out = fn()  # warm-up (and the result)
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def cos_stats(x: np.ndarray, ref: np.ndarray) -> dict:
    c = (x * ref).sum(1) / (np.linalg.norm(x, axis=1) * np.linalg.norm(ref, axis=1))
    return {"min": float(c.min()), "mean": float(c.mean()), "p5": float(np.percentile(c, 5))}


def map10(model, waves: list[np.ndarray], captions: list[list[str]]) -> float:
    import torch

    from audioseek.eval.metrics import retrieval_metrics

    with torch.inference_mode():
        gallery = torch.cat([model.encode_audio(w[None]) for w in waves]).numpy()
        queries, rel = [], []
        for i, caps in enumerate(captions):
            queries += caps
            rel += [{i}] * len(caps)
        q = model.encode_text(queries).numpy()
    return float(retrieval_metrics(q @ gallery.T, rel)["map@10"])


def embed_all(model, windows: np.ndarray, batch: int):
    import torch

    def run():
        with torch.inference_mode():
            return torch.cat(
                [model.encode_audio(windows[i : i + batch]) for i in range(0, len(windows), batch)]
            ).numpy()

    return run


def precisions(args) -> list[str]:
    return ["fp32"] + [p for p in args.precisions if p != "fp32"]


def offline_section(args) -> dict:
    import torch

    from audioseek.data.synthetic import make_synthetic_items
    from audioseek.models.hub import load_model

    sr = 44100
    recs = real_recordings(sr)
    windows = stream_windows([w for _, w in recs], sr, args.windows)
    synth = make_synthetic_items(args.synthetic, seed=0, sr=sr, duration=4.0)
    recs = recs[:: max(1, len(recs) // args.real_clips)][: args.real_clips]
    real_caps = [[caption_from_name(n)] for n, _ in recs]
    texts = [c for _, caps in synth for c in caps][: args.texts]
    out = {"model": "offline (aisfx + MiniLM, bundled trained heads)", "windows": len(windows)}
    ref_a = ref_t = None
    for p in precisions(args):
        la0 = load_avg()
        model = load_model("offline", device="cpu", precision=p)
        t_audio, emb = timed(embed_all(model, windows, args.batch), args.reps)

        def text_run(model=model):
            with torch.inference_mode():
                return model.encode_text(texts).numpy()

        t_text, temb = timed(text_run, args.reps)
        ref_a = emb if p == "fp32" else ref_a
        ref_t = temb if p == "fp32" else ref_t
        row = {
            "fingerprint": model.fingerprint,
            "audio_s_per_wall_s": len(windows) * WINDOW_S / t_audio,
            "audio_wall_s": t_audio,
            "captions_per_s": len(texts) / t_text,
            "audio_cosine_to_fp32": cos_stats(emb, ref_a),
            "text_cosine_to_fp32": cos_stats(temb, ref_t),
            "map@10_synthetic": map10(model, [w for w, _ in synth], [c for _, c in synth]),
            "map@10_sonic_pi_names": map10(
                model, [w[: int(sr * WINDOW_S)] for _, w in recs], real_caps
            ),
            "load_average": [la0, load_avg()],
        }
        log.info("offline %s: %s", p, json.dumps(row))
        out[p] = row
        del model
        gc.collect()
    out["n_synthetic_clips"] = len(synth)
    out["n_sonic_pi_clips"] = len(recs)
    return out


def clap_dir(root: Path) -> Path:
    """A ClapModel folder with the DEFAULT config (no weights: built at random), the unfused
    checkpoints' feature extractor, and a small byte-level BPE tokenizer."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import ClapConfig, ClapFeatureExtractor, RobertaTokenizer

    root.mkdir(parents=True, exist_ok=True)
    corpus = ["a dog barks", "rain on a tin roof", "a bass drum hit", "birds sing", "glass"] * 20
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(corpus, vocab_size=300, min_frequency=1,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])  # fmt: skip
    bpe.save_model(str(root))
    RobertaTokenizer.from_pretrained(str(root)).save_pretrained(root)
    ClapConfig().save_pretrained(root)
    ClapFeatureExtractor(
        truncation="rand_trunc", padding="repeatpad", frequency_min=50, frequency_max=14000
    ).save_pretrained(root)
    return root


def build_clap(folder: Path, precision: str):
    import torch

    from audioseek.models.factory import ModelConfig, build_model
    from audioseek.models.precision import apply_precision

    torch.manual_seed(0)  # same random weights for every precision
    cfg = ModelConfig(
        audio_encoder="clap-htsat",
        audio_encoder_args={"source": str(folder), "pretrained": False},
        text_encoder="clap-htsat",
        text_encoder_args={"source": str(folder), "pretrained": False},
        embed_dim=None,
        head="identity",
    )
    return apply_precision(build_model(cfg).eval(), precision)


def clap_section(args) -> dict:
    import torch

    sr = 48000
    windows = stream_windows([w for _, w in real_recordings(sr, 60)], sr, args.clap_windows)
    texts = ["a dog barks", "rain on a tin roof", "a bass drum hit", "birds sing"] * 4
    out = {
        "model": "transformers ClapModel(ClapConfig()): DEFAULT config, RANDOM weights",
        "windows": len(windows),
    }
    ref_a = ref_t = None
    with tempfile.TemporaryDirectory() as tmp:
        folder = clap_dir(Path(tmp) / "clap")
        for p in precisions(args):
            la0 = load_avg()
            model = build_clap(folder, p)
            t_audio, emb = timed(embed_all(model, windows, args.batch), args.reps)
            with torch.inference_mode():
                temb = model.encode_text(texts).numpy()
            ref_a = emb if p == "fp32" else ref_a
            ref_t = temb if p == "fp32" else ref_t
            row = {
                "audio_s_per_wall_s": len(windows) * WINDOW_S / t_audio,
                "audio_wall_s": t_audio,
                "audio_cosine_to_fp32": cos_stats(emb, ref_a),
                "text_cosine_to_fp32": cos_stats(temb, ref_t),
                "load_average": [la0, load_avg()],
            }
            log.info("clap %s: %s", p, json.dumps(row))
            out[p] = row
            del model
            gc.collect()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--windows", type=int, default=16, help="offline model: 10 s windows")
    ap.add_argument("--clap-windows", type=int, default=8, help="CLAP: 10 s windows")
    ap.add_argument("--batch", type=int, default=8, help="windows per forward pass")
    ap.add_argument("--reps", type=int, default=2, help="timed repetitions (best is kept)")
    ap.add_argument("--synthetic", type=int, default=60, help="synthetic captioned clips")
    ap.add_argument("--real-clips", type=int, default=166, help="sonic-pi clips for mAP@10")
    ap.add_argument("--texts", type=int, default=200, help="captions timed per precision")
    ap.add_argument("--skip-clap", action="store_true")
    ap.add_argument("--skip-offline", action="store_true")
    ap.add_argument(
        "--precisions",
        nargs="+",
        default=list(PRECISIONS),
        choices=PRECISIONS,
        help="fp32 (the reference) is always run first",
    )
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    import torch

    res = {
        "benchmark": "bench_precision",
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "mkldnn_bf16_supported": bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()),
        },
        "note": "shared machine: other jobs were running (see load_average); not final numbers",
        "load_average_start": load_avg(),
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    if not args.skip_offline:
        res["offline"] = offline_section(args)
    if not args.skip_clap:
        res["clap_random"] = clap_section(args)
    res["load_average_end"] = load_avg()
    res["peak_rss_mb"] = peak_rss_mb()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
