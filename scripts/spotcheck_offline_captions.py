"""Spot-check offline-corpus captions without listening: print, for random clips, the
caption next to what the package says (the file's origin path) and measurements that act
as a listening proxy, and flag measurable mismatches.

    python scripts/spotcheck_offline_captions.py data/offline_v2 --n 100 --seed 0 > spot.tsv
    python scripts/spotcheck_offline_captions.py data/offline_v3 --n 60 \
        --sources flare simutrans torcs unknown_horizons lmms btanks freedink  # v3's new ones

Flags (a flag is a reason to look closer, not a verdict):
``short-ambience``  an ambience / music caption on a clip under 2 s
``long-oneshot``    "a single ..." / "a click" / "a footstep" caption on a clip over 4 s
``steady-speech``   a speech caption on a clip with an almost flat loudness envelope
                    (speech has syllables: its frame-loudness varies strongly)
``tonal-noise``     rain / wind / water caption on a strongly tonal clip (a noise-like
                    sound has a flat spectrum; spectral flatness < 0.01 is a tone)
``silent-tail``     more than half of the clip is 40 dB below its peak
"""

from __future__ import annotations

import argparse
import csv
import random
import re
from pathlib import Path

import numpy as np
import soundfile as sf


def measure(path: Path) -> dict:
    wave, sr = sf.read(str(path), dtype="float32")
    frame = max(1, int(0.02 * sr))
    n = wave.size // frame
    rms = np.sqrt(np.mean(wave[: n * frame].reshape(n, frame) ** 2, axis=1) + 1e-12)
    db = 20 * np.log10(rms / rms.max())
    spec = np.abs(np.fft.rfft(wave[: min(wave.size, 8 * sr)] * 1.0)) ** 2 + 1e-12
    freqs = np.fft.rfftfreq(min(wave.size, 8 * sr), 1 / sr)
    return {
        "duration": wave.size / sr,
        "centroid_hz": float((spec * freqs).sum() / spec.sum()),
        "flatness": float(np.exp(np.mean(np.log(spec))) / np.mean(spec)),
        "loudness_sd_db": float(np.std(db[db > -60])) if np.any(db > -60) else 0.0,
        "quiet_fraction": float(np.mean(db < -40)),
    }


def flags(row: dict, m: dict) -> list[str]:
    cap = row["caption_1"]
    out = []
    ambient = row["category"] == "music" or "ambience" in cap or "flowing" in cap
    if ambient and m["duration"] < 2:
        out.append("short-ambience")
    if re.search(r"\b(single|a click|a footstep|a tick)\b", cap) and m["duration"] > 4:
        out.append("long-oneshot")
    if row["category"] == "speech" and m["loudness_sd_db"] < 2.0:
        out.append("steady-speech")
    if row["category"] in ("rain", "wind", "water") and m["flatness"] < 0.01:
        out.append("tonal-noise")
    if m["quiet_fraction"] > 0.5:
        out.append("silent-tail")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sources", nargs="+", default=None, help="draw only from these sources")
    args = ap.parse_args()
    with (args.corpus / "manifest.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    if args.sources:
        rows = [r for r in rows if r["source"] in args.sources]
    sample = random.Random(args.seed).sample(rows, min(args.n, len(rows)))
    cols = ["i", "source", "category", "caption_1", "origin", "duration", "centroid_hz"]
    cols += ["flatness", "loudness_sd_db", "flags"]
    print("\t".join(cols))
    for i, row in enumerate(sample):
        m = measure(args.corpus / row["path"])
        origin = row["origin"].replace("/usr/share/games/", "").replace("/usr/share/", "")
        print(
            "\t".join(
                [
                    str(i),
                    row["source"],
                    row["category"],
                    row["caption_1"],
                    origin,
                    f"{m['duration']:.1f}",
                    f"{m['centroid_hz']:.0f}",
                    f"{m['flatness']:.3f}",
                    f"{m['loudness_sd_db']:.1f}",
                    ",".join(flags(row, m)) or "-",
                ]
            )
        )


if __name__ == "__main__":
    main()
