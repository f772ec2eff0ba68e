"""The offline model's training corpus: real, well-described sounds from Debian packages
plus sampled-instrument, sound-effect and speech renders, each with five captions.

``audioseek data prepare offline --out DIR`` (:func:`cli_prepare`) writes::

    DIR/audio/<source>/<name>.flac    mono, 44.1 kHz, at most 10 s, peak-normalised
    DIR/manifest.csv                  path, caption_1..caption_5, source, label, split,
                                      duration, origin
    DIR/corpus_stats.json             clips per source and split, skipped files

``manifest.csv`` is a generic manifest (:func:`audioseek.data.manifest.load_manifest`).
Splits: whole held-out sources (default ``tuxpaint``: everyday sounds, the closest to
what users search for) are ``heldout``; every other clip is ``train`` / ``val`` / ``test``
by a hash of its key (80/10/10), i.e. a split by file. Everything is deterministic for a
given ``seed`` and set of installed packages.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import random
import re
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from audioseek.data.offline_sources import debian, renders
from audioseek.data.offline_sources.base import Clip
from audioseek.data.offline_sources.captions import N_CAPTIONS, make_captions, wordnet_available
from audioseek.errors import AudioDecodeError, AudioseekError, DatasetError

logger = logging.getLogger(__name__)

SAMPLE_RATE = 44100
MAX_SECONDS = 10.0
MIN_SECONDS = 0.1
#: peak below this (about -60 dBFS) counts as silence
SILENCE_PEAK = 1e-3
TRIM_DB = -50.0
PEAK_TARGET = 0.89  # -1 dBFS
DEFAULT_HOLDOUT = ("tuxpaint",)
SPLIT_FRACTIONS = {"test": 0.1, "val": 0.1}
SPLITS = ("train", "val", "test", "heldout")

#: source name -> reader(seed) -> clips; one entry per Debian package or renderer
SOURCES: dict[str, Callable[[int], list[Clip]]] = {
    "sonic_pi": lambda seed: debian.read_sonic_pi(),
    "tuxpaint": lambda seed: debian.read_tuxpaint(),
    "hydrogen": lambda seed: debian.read_hydrogen(),
    "freedesktop": lambda seed: debian.read_freedesktop(),
    "minetest": lambda seed: debian.read_minetest(),
    "wesnoth": lambda seed: debian.read_wesnoth(),
    "fluidsynth": lambda seed: (
        renders.instrument_clips(seed) + renders.drum_clips(seed) + renders.sfx_clips(seed)
    ),
    "espeak": lambda seed: renders.speech_clips(seed),
}

MANIFEST_COLUMNS = (
    ["path"]
    + [f"caption_{i + 1}" for i in range(N_CAPTIONS)]
    + ["source", "label", "split", "duration", "origin"]
)


# ---- audio -----------------------------------------------------------------------------


def decode_file(path: Path, sr: int) -> np.ndarray:
    """Decode ``path`` to mono float32 at ``sr``; raises :class:`AudioDecodeError`."""
    import soundfile as sf

    try:
        data, file_sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:  # noqa: BLE001 - libsndfile raises several types
        raise AudioDecodeError(
            path, str(e).splitlines()[0] if str(e) else type(e).__name__
        ) from None
    if data.size == 0:
        raise AudioDecodeError(path, "no audio samples")
    mono = data.mean(axis=1)
    if file_sr != sr:
        import soxr

        mono = soxr.resample(mono, file_sr, sr)
    return np.ascontiguousarray(mono, dtype=np.float32)


def clean_audio(
    wave: np.ndarray, sr: int, max_seconds: float = MAX_SECONDS, min_seconds: float = MIN_SECONDS
) -> np.ndarray | None:
    """Trim leading/trailing silence, cap the length (with a 50 ms fade), peak-normalise.

    Returns ``None`` for silent, too short or non-finite audio. ``wave``: (samples,).
    """
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim != 1 or not np.all(np.isfinite(wave)):
        return None
    peak = float(np.max(np.abs(wave))) if wave.size else 0.0
    if peak < SILENCE_PEAK:
        return None
    threshold = peak * 10 ** (TRIM_DB / 20)
    loud = np.flatnonzero(np.abs(wave) > threshold)
    wave = wave[loud[0] : loud[-1] + 1]
    cap = int(max_seconds * sr)
    if wave.size > cap:
        wave = wave[:cap].copy()
        fade = min(int(0.05 * sr), cap)
        wave[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    if wave.size < int(min_seconds * sr):
        return None
    return (wave * (PEAK_TARGET / float(np.max(np.abs(wave))))).astype(np.float32)


def split_for(key: str, source: str, seed: int, holdout: Sequence[str]) -> str:
    """``heldout`` for held-out sources, else train/val/test by a hash of (seed, key)."""
    if source in holdout:
        return "heldout"
    digest = hashlib.sha1(f"{seed}:{key}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < SPLIT_FRACTIONS["test"]:
        return "test"
    if u < SPLIT_FRACTIONS["test"] + SPLIT_FRACTIONS["val"]:
        return "val"
    return "train"


def _file_name(key: str) -> str:
    source, _, rest = key.partition("/")
    rest = re.sub(r"[^A-Za-z0-9._-]+", "_", rest.replace("/", "__"))
    return f"audio/{source}/{rest}.flac"


# ---- builder -----------------------------------------------------------------------------


def collect_clips(
    seed: int = 0,
    sources: Sequence[str] | None = None,
    max_per_source: int | None = None,
) -> list[Clip]:
    """All clips of the chosen sources (deterministic subset of at most ``max_per_source``)."""
    names = list(SOURCES) if sources is None else list(sources)
    unknown = [s for s in names if s not in SOURCES]
    if unknown:
        raise DatasetError(
            f"unknown offline corpus source {unknown[0]!r}; expected one of {sorted(SOURCES)}"
        )
    if max_per_source is not None and max_per_source < 1:
        raise DatasetError(f"max_per_source must be >= 1, got {max_per_source!r}")
    clips: list[Clip] = []
    for name in names:
        found = sorted(SOURCES[name](seed), key=lambda c: c.key)
        keys = [c.key for c in found]
        dup = [k for k, n in Counter(keys).items() if n > 1]
        if dup:
            raise DatasetError(f"source {name!r} yields duplicate clip key {dup[0]!r}")
        if max_per_source is not None and len(found) > max_per_source:
            rng = random.Random(f"{seed}-subset-{name}")
            found = sorted(rng.sample(found, max_per_source), key=lambda c: c.key)
        logger.info("source %s: %d clips", name, len(found))
        clips += found
    return clips


def _materialise(clip: Clip, out: Path, sr: int, max_seconds: float) -> tuple[str, float] | str:
    """Decode or render ``clip``, clean it, write FLAC. Returns (rel_path, duration) or a
    reason string when the clip is skipped."""
    import soundfile as sf

    try:
        raw = decode_file(clip.path, sr) if clip.path is not None else clip.render(sr)
    except AudioseekError as e:
        return f"broken: {e}"
    wave = clean_audio(raw, sr, max_seconds=max_seconds)
    if wave is None:
        return "silent or too short"
    rel = _file_name(clip.key)
    dst = out / rel
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".part")
    sf.write(str(tmp), wave, sr, format="FLAC", subtype="PCM_16")
    os.replace(tmp, dst)
    return rel, wave.size / sr


def build_offline_corpus(
    out: str | Path,
    seed: int = 0,
    max_per_source: int | None = None,
    sources: Sequence[str] | None = None,
    holdout: Sequence[str] = DEFAULT_HOLDOUT,
    sr: int = SAMPLE_RATE,
    max_seconds: float = MAX_SECONDS,
    workers: int = 2,
) -> Path:
    """Build the corpus in ``out``; returns the path of ``manifest.csv``.

    The manifest is written last and atomically, so an interrupted run never leaves a
    manifest that points at missing files.
    """
    from tqdm import tqdm

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DatasetError(f"output path {str(out)!r} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    clips = collect_clips(seed, sources, max_per_source)
    if not clips:
        raise DatasetError(
            "no offline corpus source produced any clip; install the Debian "
            "packages listed in scripts/setup.sh"
        )
    if not wordnet_available():
        logger.warning("building captions without WordNet synonyms/hypernyms")

    def work(clip: Clip):
        return clip, _materialise(clip, out, sr, max_seconds)

    rows, skipped = [], []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for clip, res in tqdm(
            pool.map(work, clips), total=len(clips), desc="offline corpus", unit="clip"
        ):
            if isinstance(res, str):
                skipped.append({"key": clip.key, "origin": clip.origin, "reason": res})
                logger.info("skipping %s (%s): %s", clip.key, clip.origin, res)
                continue
            rel, duration = res
            captions = make_captions(clip, random.Random(f"{seed}-{clip.key}"))
            rows.append(
                {
                    "path": rel,
                    **{f"caption_{i + 1}": c for i, c in enumerate(captions)},
                    "source": clip.source,
                    "label": clip.label,
                    "split": split_for(clip.key, clip.source, seed, holdout),
                    "duration": f"{duration:.3f}",
                    "origin": clip.origin,
                }
            )
    manifest = out / "manifest.csv"
    tmp = manifest.with_name("manifest.csv.part")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=MANIFEST_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, manifest)
    stats = corpus_stats(rows)
    stats.update(
        seed=seed,
        holdout=list(holdout),
        skipped=skipped,
        sample_rate=sr,
        max_seconds=max_seconds,
        wordnet=wordnet_available(),
    )
    (out / "corpus_stats.json").write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
    return manifest


def corpus_stats(rows: list[dict]) -> dict:
    by_source: dict[str, dict] = {}
    for r in rows:
        s = by_source.setdefault(
            r["source"], {"clips": 0, "seconds": 0.0, **{k: 0 for k in SPLITS}}
        )
        s["clips"] += 1
        s["seconds"] = round(s["seconds"] + float(r["duration"]), 3)
        s[r["split"]] += 1
    return {
        "clips": len(rows),
        "hours": round(sum(float(r["duration"]) for r in rows) / 3600, 3),
        "by_source": by_source,
        "by_split": dict(Counter(r["split"] for r in rows)),
    }


def cli_prepare(args) -> int:
    """``audioseek data prepare offline --out DIR [--seed N] [--max-per-source N]``."""
    if args.corpus != "offline":
        raise DatasetError(f"unknown corpus {args.corpus!r}; expected 'offline'")
    manifest = build_offline_corpus(args.out, seed=args.seed, max_per_source=args.max_per_source)
    stats = json.loads((manifest.parent / "corpus_stats.json").read_text(encoding="utf-8"))
    print(
        f"{manifest}: {stats['clips']} clips, {stats['hours']:.2f} h, "
        f"{len(stats['skipped'])} skipped"
    )
    for name, s in sorted(stats["by_source"].items()):
        splits = " ".join(f"{k}={s[k]}" for k in SPLITS if s[k])
        print(f"  {name:<12} {s['clips']:>5} clips {s['seconds'] / 60:7.1f} min  {splits}")
    return 0
