"""The offline model's training corpus: real, well-described sounds from Debian packages
(sound libraries, free games, an educational suite) plus sampled-instrument, sound-effect
and speech renders, each with five captions and a coarse category.

``audioseek data prepare offline --out DIR`` writes::

    DIR/audio/<source>/<name>.flac    mono, 44.1 kHz, at most 10 s, peak-normalised;
                                      long files give several ``__partN`` pieces
    DIR/manifest.csv                  path, caption_1..caption_5, source, label,
                                      category, split, duration, origin, licence
    DIR/corpus_stats.json             per source: clips, seconds, minutes, licence,
                                      packages, clips per split; categories; skipped
                                      files; removed duplicates; missing packages

``manifest.csv`` is a generic manifest (:func:`audioseek.data.manifest.load_manifest`).
Splits: whole held-out sources (default ``tuxpaint`` and ``widelands``: everyday sounds,
animals and crafts, the closest to what users search for) are ``heldout``; every other
clip is ``train`` / ``val`` / ``test`` by a hash of its file's key (80/10/10), so all
pieces of one file share a split. Exact and near duplicates are removed, keeping the
held-out copy (:func:`find_duplicates`). The sources' Debian packages are installed by
``scripts/setup.sh --corpus``; missing ones are skipped with a warning. Everything is
deterministic for a given ``seed`` and set of installed packages.

Versions (``--corpus-version``, :func:`version_sources`): 6 (default, 38 sources), 5 (34:
the corpus of the bundled model's version 8), 4 (32: version 7's), 3 (31: version 5's), 2
(24 sources: versions 2-4's) and 1 (8 sources, tuxpaint alone held out). A clip of an older
version has the same path, audio and captions in a newer one.
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

from audioseek.data.offline_sources import (
    debian,
    education,
    games,
    games_v3,
    openclonk,
    packed,
    renders,
    simulations,
)
from audioseek.data.offline_sources.base import Clip, Source
from audioseek.data.offline_sources.captions import (
    N_CAPTIONS,
    categorize,
    make_captions,
    wordnet_available,
)
from audioseek.data.offline_sources.decode import decode_mono
from audioseek.errors import AudioseekError, DatasetError
from audioseek.utils.locks import FolderLock

logger = logging.getLogger(__name__)

SAMPLE_RATE = 44100
MAX_SECONDS = 10.0
MIN_SECONDS = 0.1
#: peak below this (about -60 dBFS) counts as silence
SILENCE_PEAK = 1e-3
TRIM_DB = -50.0
PEAK_TARGET = 0.89  # -1 dBFS
DEFAULT_HOLDOUT = ("tuxpaint", "widelands")
SPLIT_FRACTIONS = {"test": 0.1, "val": 0.1}
SPLITS = ("train", "val", "test", "heldout")
#: lock file of a build in its output folder (one build per folder at a time)
PREPARE_LOCK = "prepare.lock"


def _licence(source: str, registry: dict | None = None) -> str:
    s = (SOURCES if registry is None else registry).get(source)
    return s.licence if isinstance(s, Source) else "unknown"


#: source name -> :class:`Source`; one entry per Debian package or renderer. A plain
#: callable ``seed -> clips`` is accepted too (licence ``"unknown"``).
SOURCES: dict[str, Source | Callable[[int], list[Clip]]] = {
    "sonic_pi": Source(lambda seed: debian.read_sonic_pi(), "CC0-1.0", ("sonic-pi-samples",)),
    "tuxpaint": Source(lambda seed: debian.read_tuxpaint(), "GPL-2", ("tuxpaint-stamps-default",)),
    "hydrogen": Source(
        lambda seed: debian.read_hydrogen(),
        "GPL-2+ / CC-BY-SA-3.0 / CC-BY-3.0 / CC0 (per kit)",
        ("hydrogen-drumkits",),
    ),
    "freedesktop": Source(
        lambda seed: debian.read_freedesktop(),
        "GPL-2+ / CC-BY-3.0 / CC-BY-SA-3.0 (per file)",
        ("sound-theme-freedesktop",),
    ),
    "minetest": Source(
        lambda seed: debian.read_minetest(),
        "CC-BY-SA-3.0 / CC-BY-3.0 / CC0-1.0 (per file)",
        ("minetest-data",),
    ),
    "wesnoth": Source(
        lambda seed: debian.read_wesnoth(), "GPL-2+ / CC-BY-SA-4.0", ("wesnoth-1.16-data",)
    ),
    "fluidsynth": Source(
        lambda seed: (
            renders.instrument_clips(seed) + renders.drum_clips(seed) + renders.sfx_clips(seed)
        ),
        "MIT (FluidR3 GM soundfont)",
        ("fluidsynth", "fluid-soundfont-gm"),
    ),
    "espeak": Source(
        lambda seed: renders.speech_clips(seed), "GPL-3+ (espeak-ng voices)", ("espeak-ng",)
    ),
    **games.SOURCES_V2,
    **packed.SOURCES_PACKED,
    **games_v3.SOURCES_V3,
    **openclonk.SOURCES_V4,
    **education.SOURCES_V5,
    **simulations.SOURCES_V6,
}

#: the corpus ``build_offline_corpus(version=...)`` builds by default
LATEST_VERSION = 6
#: corpus v1's sources (the bundled model's version 1 was trained on it; tuxpaint held out)
V1_SOURCES = (
    "sonic_pi",
    "tuxpaint",
    "hydrogen",
    "freedesktop",
    "minetest",
    "wesnoth",
    "fluidsynth",
    "espeak",
)


def version_sources(version: int = LATEST_VERSION) -> dict[str, Source]:
    """The sources of corpus ``version``: 1 (8 sources), 2 (24: what versions 2-4 of the
    bundled model were trained on), 3 (31: v2 plus :mod:`games_v3` and their soundtracks;
    version 5's), 4 (32: v3 plus OpenClonk's effects, :mod:`openclonk`; version 7's), 5 (34:
    v4 plus two children's sound libraries, :mod:`education`), 6 (38: v5 plus four
    simulation games' effects, :mod:`simulations`).
    Every source reads the same files in every version; only v2's ``game_music`` leaves
    out the soundtracks of v3's packages."""
    if version == 6:
        return dict(SOURCES)
    v5 = {n: s for n, s in SOURCES.items() if n not in simulations.SOURCES_V6}
    if version == 5:
        return v5
    v4 = {n: s for n, s in v5.items() if n not in education.SOURCES_V5}
    if version == 4:
        return v4
    v3 = {n: s for n, s in v4.items() if n not in openclonk.SOURCES_V4}
    if version == 3:
        return v3
    if version == 2:
        out = {n: s for n, s in v3.items() if n not in games_v3.SOURCES_V3}
        return out | {"game_music": games.GAME_MUSIC_V2}
    if version == 1:
        return {n: SOURCES[n] for n in V1_SOURCES}
    raise DatasetError(f"unknown offline corpus version {version!r}; expected 1, 2, 3, 4, 5 or 6")


def version_holdout(version: int = LATEST_VERSION) -> tuple[str, ...]:
    """The sources held out of corpus ``version`` (v1 held out tuxpaint only)."""
    return ("tuxpaint",) if version == 1 else DEFAULT_HOLDOUT


MANIFEST_COLUMNS = (
    ["path"]
    + [f"caption_{i + 1}" for i in range(N_CAPTIONS)]
    + ["source", "label", "category", "split", "duration", "origin", "licence"]
)


# ---- audio -----------------------------------------------------------------------------


def decode_file(path: Path, sr: int) -> np.ndarray:
    """Decode ``path`` to mono float32 at ``sr`` (at most
    :data:`~audioseek.data.offline_sources.decode.MAX_DECODE_SECONDS`); raises
    :class:`~audioseek.errors.AudioDecodeError`."""
    return decode_mono(str(path), sr, path)


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


def _check_max_per_source(max_per_source: int | None) -> None:
    if max_per_source is not None and max_per_source < 1:
        raise DatasetError(f"max_per_source must be >= 1, got {max_per_source!r}")


def collect_clips(
    seed: int = 0,
    sources: Sequence[str] | None = None,
    max_per_source: int | None = None,
    version: int = LATEST_VERSION,
) -> list[Clip]:
    """All clips of the chosen sources of corpus ``version`` (default: all of them;
    a deterministic subset of at most ``max_per_source`` each)."""
    registry = version_sources(version)
    names = list(registry) if sources is None else list(sources)
    unknown = [s for s in names if s not in registry]
    if unknown:
        raise DatasetError(
            f"unknown offline corpus source {unknown[0]!r} (corpus v{version}); "
            f"expected one of {sorted(registry)}"
        )
    _check_max_per_source(max_per_source)
    clips: list[Clip] = []
    for name in names:
        found = sorted(registry[name](seed), key=lambda c: c.key)
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


def segment_audio(
    wave: np.ndarray, sr: int, max_seconds: float, max_segments: int
) -> list[np.ndarray]:
    """Cut a long recording into clips of at most ``max_seconds``.

    Silence is trimmed first; a recording longer than the cap is cut into
    ``n = ceil(length / max_seconds)`` pieces of equal length (so every piece is between
    half the cap and the cap), and at most ``max_segments`` of them, evenly spread over
    the recording, are kept. Each piece is cleaned with :func:`clean_audio` (silent
    pieces drop out). ``max_segments == 1`` keeps only the first ``max_seconds``.
    """
    if max_segments <= 1:
        one = clean_audio(wave, sr, max_seconds=max_seconds)
        return [] if one is None else [one]
    whole = clean_audio(wave, sr, max_seconds=wave.size / sr + 1.0)
    if whole is None:
        return []
    cap = int(max_seconds * sr)
    if whole.size <= cap:
        return [whole]
    n = int(np.ceil(whole.size / cap))
    size = int(np.ceil(whole.size / n))
    chosen = sorted({int(round(i)) for i in np.linspace(0, n - 1, min(n, max_segments))})
    out = []
    for i in chosen:
        piece = clean_audio(whole[i * size : (i + 1) * size], sr, max_seconds=max_seconds)
        if piece is not None:
            out.append(piece)
    return out


#: envelope frames + spectrum bands of the near-duplicate fingerprint
_FP_FRAMES, _FP_BANDS = 48, 32


def fingerprint(wave: np.ndarray, sr: int) -> np.ndarray:
    """A small unit vector describing a clip's loudness envelope and spectrum.

    Two encodings of the same recording (another sample rate, codec or gain) give
    fingerprints with a cosine near 1; different sounds rarely do. ``wave``: (samples,).
    """
    frames = np.array_split(wave.astype(np.float64), _FP_FRAMES)
    env = np.log1p(100 * np.array([np.sqrt(np.mean(f**2)) if f.size else 0.0 for f in frames]))
    n_fft = 2048
    usable = (
        wave[: (wave.size // n_fft) * n_fft].reshape(-1, n_fft)
        if wave.size >= n_fft
        else (np.pad(wave, (0, n_fft - wave.size))[None])
    )
    power = (np.abs(np.fft.rfft(usable * np.hanning(n_fft), axis=1)) ** 2).mean(axis=0)
    edges = np.geomspace(2, power.size, _FP_BANDS + 1).astype(int)
    bands = np.log1p(
        np.array(
            [
                power[lo : max(hi, lo + 1)].mean()
                for lo, hi in zip(edges[:-1], edges[1:], strict=True)
            ]
        )
    )
    parts = []
    for v in (env, bands):
        v = v - v.mean()
        parts.append(v / (np.linalg.norm(v) + 1e-9))
    vec = np.concatenate(parts) / np.sqrt(2)
    return vec.astype(np.float32)


def _materialise(clip: Clip, out: Path, sr: int, max_seconds: float) -> list[dict] | str:
    """Decode or render ``clip``, cut and clean it, write FLAC. Returns one record per
    written piece (``rel``, ``duration``, ``sha1``, ``fp``) or a reason string when the
    clip is skipped."""
    import soundfile as sf

    try:
        raw = decode_file(clip.path, sr) if clip.path is not None else clip.render(sr)
    except AudioseekError as e:
        return f"broken: {e}"
    pieces = segment_audio(raw, sr, max_seconds, clip.max_segments)
    if not pieces:
        return "silent or too short"
    records = []
    for i, wave in enumerate(pieces):
        key = clip.key if len(pieces) == 1 else f"{clip.key}__part{i + 1}"
        rel = _file_name(key)
        dst = out / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(dst.name + ".part")
        pcm = np.round(wave * 32767).astype("<i2")
        sf.write(str(tmp), pcm, sr, format="FLAC", subtype="PCM_16")
        os.replace(tmp, dst)
        records.append(
            {
                "rel": rel,
                "duration": wave.size / sr,
                "sha1": hashlib.sha1(pcm.tobytes()).hexdigest(),
                "fp": fingerprint(wave, sr),
            }
        )
    return records


def find_duplicates(
    rows: list[dict], fps: list[np.ndarray], priority: Sequence[str], threshold: float = 0.995
) -> dict[int, tuple[int, str]]:
    """Indices of ``rows`` to drop -> (index kept instead, ``"exact"`` / ``"near"``).

    Exact: the same 16-bit samples (``sha1``) anywhere. Near: clips of *different*
    sources whose durations agree within 2 % and whose :func:`fingerprint` cosine is at
    least ``threshold`` (the same recording shipped by two packages, re-encoded). The
    clip kept is the one whose source comes first in ``priority`` (held-out sources
    first, so a held-out sound never has a copy in training), then the first by path.
    """
    rank = {s: i for i, s in enumerate(priority)}
    order = sorted(
        range(len(rows)), key=lambda i: (rank.get(rows[i]["source"], 1 << 30), rows[i]["path"])
    )
    drop: dict[int, tuple[int, str]] = {}
    first: dict[str, int] = {}
    for i in order:
        h = rows[i]["sha1"]
        if h in first:
            drop[i] = (first[h], "exact")
        else:
            first[h] = i
    kept = [i for i in order if i not in drop]
    pos = {i: k for k, i in enumerate(kept)}
    dur = np.array([float(rows[i]["duration"]) for i in kept])
    src = np.array([rows[i]["source"] for i in kept])
    mat = np.stack([fps[i] for i in kept]) if kept else np.zeros((0, 2 * _FP_FRAMES))
    by_dur = np.argsort(dur, kind="stable")
    # sweep over clips sorted by duration; compare each with the next ones within 2 %
    start = 0
    for a in range(len(by_dur)):
        i = by_dur[a]
        while dur[by_dur[start]] < dur[i] / 1.02:
            start += 1
        b = np.searchsorted(dur[by_dur], dur[i] * 1.02, side="right")
        cand = by_dur[start:b]
        cand = cand[(cand != i) & (src[cand] != src[i])]
        if cand.size == 0:
            continue
        sims = mat[cand] @ mat[i]
        for j in cand[sims >= threshold]:
            ki, kj = kept[i], kept[j]
            if ki in drop or kj in drop:
                continue
            loser, winner = (kj, ki) if pos[ki] < pos[kj] else (ki, kj)
            drop[loser] = (winner, "near")
    return drop


def build_offline_corpus(
    out: str | Path,
    seed: int = 0,
    max_per_source: int | None = None,
    sources: Sequence[str] | None = None,
    holdout: Sequence[str] | None = None,
    sr: int = SAMPLE_RATE,
    max_seconds: float = MAX_SECONDS,
    workers: int = 2,
    version: int = LATEST_VERSION,
) -> Path:
    """Build corpus ``version`` (:func:`version_sources`; ``sources`` picks some of its
    sources) in ``out``; returns the path of ``manifest.csv``. ``holdout`` defaults to the
    version's held-out sources.

    Duplicates (:func:`find_duplicates`) are removed, keeping held-out sources' copies.
    The manifest is written last and atomically, so an interrupted run never leaves a
    manifest that points at missing files; a second build into the same folder while one
    runs is refused (:class:`~audioseek.utils.locks.FolderLock` on :data:`PREPARE_LOCK`).
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DatasetError(f"output path {str(out)!r} exists and is not a folder")
    registry = version_sources(version)
    holdout = version_holdout(version) if holdout is None else tuple(holdout)
    _check_max_per_source(max_per_source)  # before anything is written
    out.mkdir(parents=True, exist_ok=True)
    lock = FolderLock(
        out,
        PREPARE_LOCK,
        busy="another corpus build is writing to {folder} (pid {pid})",
        cannot="cannot lock {folder} for writing: {reason}",
        error=DatasetError,
    )
    with lock:  # two builds into one folder would race on its files
        return _build(
            out, seed, max_per_source, sources, holdout, sr, max_seconds, workers, version, registry
        )


def _build(
    out: Path,
    seed: int,
    max_per_source: int | None,
    sources: Sequence[str] | None,
    holdout: tuple[str, ...],
    sr: int,
    max_seconds: float,
    workers: int,
    version: int,
    registry: dict[str, Source],
) -> Path:
    from tqdm import tqdm

    missing = missing_packages(sources, registry)
    if missing:
        logger.warning(
            "Debian packages not installed, their sources are skipped: %s "
            "(install them with: scripts/setup.sh --corpus)",
            " ".join(missing),
        )
    clips = collect_clips(seed, sources, max_per_source, version)
    if not clips:
        raise DatasetError(
            "no offline corpus source produced any clip; install the Debian "
            "packages with scripts/setup.sh --corpus"
        )
    if not wordnet_available():
        logger.warning("building captions without WordNet synonyms/hypernyms")

    def work(clip: Clip):
        return clip, _materialise(clip, out, sr, max_seconds)

    rows, fps, skipped = [], [], []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for clip, res in tqdm(
            pool.map(work, clips), total=len(clips), desc="offline corpus", unit="clip"
        ):
            if isinstance(res, str):
                skipped.append({"key": clip.key, "origin": clip.origin, "reason": res})
                logger.info("skipping %s (%s): %s", clip.key, clip.origin, res)
                continue
            captions = make_captions(clip, random.Random(f"{seed}-{clip.key}"))
            category = clip.category or categorize(clip)
            for rec in res:
                rows.append(
                    {
                        "path": rec["rel"],
                        **{f"caption_{i + 1}": c for i, c in enumerate(captions)},
                        "source": clip.source,
                        "label": clip.label,
                        "category": category,
                        "split": split_for(clip.key, clip.source, seed, holdout),
                        "duration": f"{rec['duration']:.3f}",
                        "origin": clip.origin,
                        "licence": _licence(clip.source, registry),
                        "sha1": rec["sha1"],
                    }
                )
                fps.append(rec["fp"])
    order = list(holdout) + [s for s in registry if s not in holdout]
    drop = find_duplicates(rows, fps, order)
    duplicates = []
    for i, (kept, how) in sorted(drop.items()):
        duplicates.append(
            {
                "path": rows[i]["path"],
                "origin": rows[i]["origin"],
                "kept": rows[kept]["path"],
                "how": how,
            }
        )
        (out / rows[i]["path"]).unlink(missing_ok=True)
    rows = [
        {k: v for k, v in r.items() if k != "sha1"} for i, r in enumerate(rows) if i not in drop
    ]
    manifest = out / "manifest.csv"
    tmp = manifest.with_name("manifest.csv.part")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=MANIFEST_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, manifest)
    stats = corpus_stats(rows, registry)
    stats.update(
        version=version,
        seed=seed,
        holdout=list(holdout),
        skipped=skipped,
        duplicates=duplicates,
        missing_packages=missing,
        sample_rate=sr,
        max_seconds=max_seconds,
        wordnet=wordnet_available(),
    )
    (out / "corpus_stats.json").write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
    return manifest


def corpus_stats(rows: list[dict], registry: dict | None = None) -> dict:
    """Totals plus a per-source table: clips, seconds, minutes, licence, clips per split."""
    registry = SOURCES if registry is None else registry
    by_source: dict[str, dict] = {}
    for r in rows:
        s = by_source.setdefault(
            r["source"],
            {
                "clips": 0,
                "seconds": 0.0,
                "minutes": 0.0,
                "licence": r.get("licence") or _licence(r["source"], registry),
                "packages": list(getattr(registry.get(r["source"]), "packages", ())),
                **{k: 0 for k in SPLITS},
            },
        )
        s["clips"] += 1
        s["seconds"] = round(s["seconds"] + float(r["duration"]), 3)
        s["minutes"] = round(s["seconds"] / 60, 2)
        s[r["split"]] += 1
    return {
        "clips": len(rows),
        "hours": round(sum(float(r["duration"]) for r in rows) / 3600, 3),
        "sources": len(by_source),
        "by_source": by_source,
        "by_split": dict(Counter(r["split"] for r in rows)),
        "by_category": dict(Counter(r.get("category", "") for r in rows).most_common()),
    }


def missing_packages(
    sources: Sequence[str] | None = None, registry: dict | None = None
) -> list[str]:
    """Debian packages of ``sources`` (default: all of ``registry``, default
    :data:`SOURCES`) that are not installed."""
    import shutil
    import subprocess

    registry = SOURCES if registry is None else registry
    names = list(registry) if sources is None else list(sources)
    wanted = sorted({p for n in names for p in getattr(registry.get(n), "packages", ())})
    if not wanted or shutil.which("dpkg-query") is None:
        return []
    res = subprocess.run(
        ["dpkg-query", "-W", "-f=${Package} ${Status}\\n", *wanted],
        capture_output=True,
        text=True,
        check=False,
    )
    ok = {
        line.split()[0] for line in res.stdout.splitlines() if line.endswith("install ok installed")
    }
    return [p for p in wanted if p not in ok]
