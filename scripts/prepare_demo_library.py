"""Build the demo's sample library of real sounds (``scripts/demo.sh`` runs this).

Writes into ``--out`` (default ``demo/library``):

- ``sonic-pi/``  samples of the Debian package ``sonic-pi-samples`` (FLAC copied, some
  converted to Ogg Vorbis / MP3 / WAV with ffmpeg, so several formats are indexed);
- ``tuxpaint/``  everyday sounds of ``tuxpaint-stamps-default`` (animals, household,
  instruments), named after the stamp;
- ``generated/`` a few procedural sounds of :mod:`audioseek.data.synthetic`;
- ``mixtape.wav`` one long file of several sounds back to back, and ``mixtape.txt`` with
  the start time of each, so the search results' timestamps can be checked;
- ``copies/``    a second copy of two sounds in another format, for ``duplicates``.

Deterministic; nothing is downloaded. Only files that exist are used, and a missing
package is reported with the command that installs it.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

log = logging.getLogger("prepare_demo_library")

SONIC_PI = Path("/usr/share/sonic-pi/samples")
TUXPAINT = Path("/usr/share/tuxpaint/stamps")
SR = 44100

SONIC_PI_FILES = [
    "ambi_choir", "ambi_drone", "ambi_glass_rub", "ambi_lunar_land", "bass_woodsy_c",
    "bd_boom", "drum_cymbal_open", "drum_roll", "drum_snare_hard", "drum_cowbell",
    "elec_bell", "elec_blip", "guit_e_fifths", "guit_harmonics", "loop_amen", "loop_safari",
    "loop_tabla", "loop_industrial", "misc_crow", "misc_burp", "perc_door", "perc_snap",
    "tabla_na", "vinyl_scratch", "vinyl_hiss", "mehackit_robot1", "mehackit_phone1",
]  # fmt: skip
TUXPAINT_FILES = [
    "animals/mammals/dogs/dog", "animals/birds/duck", "animals/birds/rooster",
    "animals/birds/owl", "animals/insects/bee", "animals/insects/mosquito",
    "animals/amphibians/frog", "animals/mammals/equines/horse", "animals/mammals/bovines/cow",
    "animals/mammals/bovines/sheep", "animals/mammals/pig", "animals/mammals/elephant",
    "animals/mammals/cats/lion", "animals/mammals/equines/donkey", "household/vacuum_cleaner", "household/toilet",
    "household/kettle", "household/tools/hammer", "household/tools/saw",
    "household/Washing-machine", "household/rubberduck", "hobbies/music/string/violin",
    "hobbies/music/string/cello", "hobbies/music/wind/bassoon",
    "hobbies/music/percussion/cymbal_crash", "seasonal/newyears/fireworks",
    "space/apollo_lander", "hobbies/camera_35mm",
]  # fmt: skip
#: converted formats: every third sonic-pi sample becomes ogg, mp3 or wav
CONVERT = {0: None, 1: ".ogg", 2: ".mp3"}
#: (source file, label) for the mixtape, in order
MIXTAPE = [
    ("tuxpaint", "animals/mammals/dogs/dog", "a dog"),
    ("sonic-pi", "loop_amen", "a drum loop (amen break)"),
    ("tuxpaint", "animals/birds/rooster", "a rooster"),
    ("sonic-pi", "ambi_choir", "a choir"),
    ("tuxpaint", "household/vacuum_cleaner", "a vacuum cleaner"),
    ("tuxpaint", "animals/insects/bee", "a bee"),
    ("sonic-pi", "guit_e_fifths", "an electric guitar"),
    ("tuxpaint", "seasonal/newyears/fireworks", "fireworks"),
]
SEGMENT_S = 7.5  # each mixtape sound is padded / cut to this length


def _ffmpeg(src: Path, dst: Path) -> None:
    cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(src), "-ac", "1", str(dst)]
    subprocess.run(cmd, check=True)


def _existing(root: Path, names: list[str], suffix: str, package: str) -> list[Path]:
    if not root.is_dir():
        log.warning("%s missing: apt-get install %s (skipping its sounds)", root, package)
        return []
    found = [root / f"{n}{suffix}" for n in names]
    missing = [p for p in found if not p.is_file()]
    for p in missing:
        log.warning("not found, skipped: %s", p)
    return [p for p in found if p.is_file()]


def copy_sonic_pi(out: Path) -> int:
    dst_dir = out / "sonic-pi"
    dst_dir.mkdir(parents=True, exist_ok=True)
    n = 0
    for i, src in enumerate(_existing(SONIC_PI, SONIC_PI_FILES, ".flac", "sonic-pi-samples")):
        suffix = CONVERT[i % 3]
        if suffix is None:
            shutil.copyfile(src, dst_dir / src.name)
        else:
            _ffmpeg(src, dst_dir / f"{src.stem}{suffix}")
        n += 1
    return n


def copy_tuxpaint(out: Path) -> int:
    dst_dir = out / "tuxpaint"
    dst_dir.mkdir(parents=True, exist_ok=True)
    files = _existing(TUXPAINT, TUXPAINT_FILES, ".ogg", "tuxpaint-stamps-default")
    for src in files:
        shutil.copyfile(src, dst_dir / f"{src.stem.lower().replace('-', '_')}.ogg")
    return len(files)


def write_generated(out: Path, n: int, seed: int) -> int:
    import soundfile as sf

    from audioseek.data.synthetic import make_synthetic_items

    dst_dir = out / "generated"
    dst_dir.mkdir(parents=True, exist_ok=True)
    lines = []
    for i, (wave, captions) in enumerate(make_synthetic_items(n, seed=seed, sr=22050)):
        name = f"generated_{i:02d}.wav"
        sf.write(str(dst_dir / name), wave, 22050, subtype="PCM_16")
        lines.append(f"{name}\t{captions[0]}")
    (dst_dir / "captions.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return n


def _load(path: Path) -> np.ndarray:
    import soundfile as sf

    data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    mono = data.mean(axis=1)
    if sr != SR:
        import soxr

        mono = soxr.resample(mono, sr, SR)
    peak = float(np.max(np.abs(mono))) or 1.0
    return (0.8 * mono / peak).astype(np.float32)


def write_mixtape(out: Path) -> int:
    import soundfile as sf

    seg = int(SEGMENT_S * SR)
    parts, lines, t = [], [], 0.0
    for pkg, name, label in MIXTAPE:
        src = SONIC_PI / f"{name}.flac" if pkg == "sonic-pi" else TUXPAINT / f"{name}.ogg"
        if not src.is_file():
            log.warning("mixtape: %s not found, skipped", src)
            continue
        wave = _load(src)[:seg]
        parts.append(np.pad(wave, (0, seg - wave.size)))
        lines.append(f"{int(t // 60):02d}:{t % 60:04.1f}\t{label}\t({src.name})")
        t += SEGMENT_S
    if not parts:
        return 0
    sf.write(str(out / "mixtape.wav"), np.concatenate(parts), SR, subtype="PCM_16")
    (out / "mixtape.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(parts)


def write_copies(out: Path) -> int:
    dst_dir = out / "copies"
    dst_dir.mkdir(parents=True, exist_ok=True)
    n = 0
    for src in (out / "tuxpaint" / "dog.ogg", out / "sonic-pi" / "ambi_choir.flac"):
        if src.is_file():
            _ffmpeg(src, dst_dir / f"{src.stem}_copy.wav")
            n += 1
    return n


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="demo/library", help="library folder (default demo/library)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-generated", type=int, default=6)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if shutil.which("ffmpeg") is None:
        log.error("error: ffmpeg not found; run scripts/setup.sh (apt-get install ffmpeg)")
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    counts = {
        "sonic-pi": copy_sonic_pi(out),
        "tuxpaint": copy_tuxpaint(out),
        "generated": write_generated(out, args.n_generated, args.seed),
        "mixtape segments": write_mixtape(out),
        "copies": write_copies(out),
    }
    total = counts["sonic-pi"] + counts["tuxpaint"] + counts["generated"] + counts["copies"]
    if total == 0:
        log.error("error: no sounds found; run scripts/setup.sh to install the Debian packages")
        return 2
    print(f"{out}: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
