"""Procedural captioned sounds, for tests and smoke runs. NOT a benchmark.

Each clip is one of six kinds -- ``tone``, ``chord``, ``sweep``, ``noise``, ``rhythm``,
``mixture`` (two of the others played together) -- with random attributes: pitch
register and note name, waveform / timbre (sine, square, sawtooth, triangle; bright or
dark noise), loudness, duration of the event (brief or sustained), sweep direction and
rhythm tempo. Every clip gets 5 different captions written from templates and
paraphrases of those attributes, so the kind and most attributes of a clip can be read
from any of its captions: a retrieval model trained on these clips beats random by a
wide margin, which is what a smoke run needs to show that learning happens.

Generation is deterministic: clip ``i`` of ``seed`` depends only on ``(seed, i)``, so
``make_synthetic_items(10, seed)[:5] == make_synthetic_items(5, seed)``. Waveforms are
band-limited (additive synthesis below Nyquist) and written as 16-bit PCM wav.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from audioseek.errors import ConfigError

KINDS: tuple[str, ...] = ("tone", "chord", "sweep", "noise", "rhythm", "mixture")
NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
SPOKEN = {"#": " sharp"}
REGISTERS = {"low": (36, 55), "middle": (57, 71), "high": (76, 93)}  # MIDI note ranges
LOUDNESS = {"quiet": 0.08, "moderate": 0.3, "loud": 0.85}  # peak amplitude
TIMBRES = ("sine", "square", "sawtooth", "triangle")
NOISE_COLOURS = ("white", "pink", "brown")
TEMPI = {"slow": (55, 75), "moderate": (95, 120), "fast": (160, 200)}  # BPM
DEFAULT_SPLITS = (("train", 0.8), ("val", 0.1), ("test", 0.1))

WORDS: dict[str, dict[str, list[str]]] = {
    "loud": {
        "quiet": ["quiet", "soft", "faint", "gentle"],
        "moderate": ["moderately loud", "medium-volume", "steady", "clear"],
        "loud": ["loud", "strong", "powerful", "blaring"],
    },
    "loud_adv": {
        "quiet": ["quietly", "softly", "faintly"],
        "moderate": ["at a medium volume", "at a moderate level", "clearly"],
        "loud": ["loudly", "very loud", "at high volume"],
    },
    "register": {
        "low": ["low", "low-pitched", "deep"],
        "middle": ["mid-range", "medium-pitched", "middle"],
        "high": ["high", "high-pitched", "shrill"],
    },
    "timbre": {
        "sine": ["pure sine", "smooth sine-wave", "clean pure"],
        "square": ["square-wave", "hollow buzzy", "hollow square"],
        "sawtooth": ["sawtooth", "bright buzzing sawtooth", "harsh bright"],
        "triangle": ["triangle-wave", "mellow", "soft flute-like"],
    },
    "length": {
        "brief": ["brief", "short", "quick"],
        "sustained": ["long", "sustained", "continuous"],
    },
    "length_noun": {
        "brief": ["beep", "blip", "short note"],
        "sustained": ["tone", "drone", "held note"],
    },
    "length_verb": {
        "brief": ["stops almost at once", "lasts only a moment", "is over quickly"],
        "sustained": ["holds steadily", "keeps sounding", "goes on without a break"],
    },
    "direction": {
        "up": ["rising", "upward", "ascending"],
        "down": ["falling", "downward", "descending"],
    },
    "direction_verb": {
        "up": ["rises from low to high", "glides upward in pitch", "climbs up"],
        "down": ["falls from high to low", "glides downward in pitch", "drops down"],
    },
    "speed": {"fast": ["fast", "quick", "rapid"], "slow": ["slow", "gradual", "lazy"]},
    "quality": {"major": ["major", "bright happy"], "minor": ["minor", "sad dark"]},
    "colour": {
        "white": ["white", "bright hissing", "harsh static"],
        "pink": ["pink", "rushing", "even rushing"],
        "brown": ["brown", "dark rumbling", "deep rumbling"],
    },
    "colour_noun": {
        "white": ["hiss", "static", "hissing noise"],
        "pink": ["rushing noise", "whoosh", "noise like rain"],
        "brown": ["rumble", "low roar", "rumbling noise"],
    },
    "tempo": {
        "slow": ["slow", "relaxed", "unhurried"],
        "moderate": ["moderate", "medium", "walking-pace"],
        "fast": ["fast", "rapid", "quick"],
    },
    "hit": {
        "click": ["click", "tick", "sharp tap"],
        "thump": ["thump", "thud", "kick drum hit"],
    },
}

TEMPLATES: dict[str, list[str]] = {
    "tone": [
        "a {loud} {length} {timbre} tone at {note}",
        "{length} {register} {timbre} note, {spoken}, played {loud_adv}",
        "the note {letter} sounds {loud_adv} as a {timbre} {length_noun}",
        "a {register} pitched {length_noun} with a {timbre} sound",
        "{loud} {timbre} {length_noun} at about {freq} hertz",
        "a single {register} tone, {timbre} and {loud}, that {length_verb}",
        "someone plays a {length} {register} {letter} on a {timbre} synthesizer",
    ],
    "chord": [
        "a {loud} {quality} chord on {root} with a {timbre} sound",
        "three {register} notes played together as a {quality} chord",
        "a {length} {timbre} {quality} triad rooted on {spoken}",
        "{loud} {register} chord, {quality}, played on a {timbre} synth",
        "several notes ring together {loud_adv} in a {quality} harmony",
        "a {timbre} synthesizer plays a {length} {register} {quality} chord",
    ],
    "sweep": [
        "a {loud} {direction} {timbre} sweep",
        "a {speed} {direction} chirp that {direction_verb}",
        "the pitch of a {timbre} tone {direction_verb}",
        "a {loud} siren-like sound, {direction} and {speed}",
        "a {timbre} glide that {direction_verb} {loud_adv}",
        "one {speed} {direction} frequency sweep with a {timbre} sound",
    ],
    "noise": [
        "a {loud} {length} burst of {colour} noise",
        "{colour_noun} plays {loud_adv} and {length_verb}",
        "a {length} {colour} {colour_noun}",
        "{loud} broadband {colour_noun} with no pitch",
        "a burst of {colour} noise that {length_verb}",
        "unpitched {colour} noise, {loud} and {length}",
    ],
    "rhythm": [
        "{loud} {hit}s repeating at a {tempo} tempo",
        "a steady {tempo} beat of {hit}s at about {bpm} beats per minute",
        "a metronome-like {hit} repeats {loud_adv} at a {tempo} pace",
        "regular {hit}s, {tempo} and {loud}",
        "a {tempo} rhythm of {loud} {hit}s",
        "{hit} after {hit} at a {tempo} steady pulse",
    ],
}
# word slots that paraphrase another slot's attribute
SLOT_ATTRIBUTE = {
    "loud_adv": "loud",
    "length_noun": "length",
    "length_verb": "length",
    "direction_verb": "direction",
    "colour_noun": "colour",
}
MIXTURE_FRAMES = [
    "{a} together with {b}",
    "{a}, while {b}",
    "{b} mixed with {a}",
    "{a} over {b}",
    "{a} and at the same time {b}",
    "two sounds: {a} and {b}",
]


@dataclass
class SyntheticClip:
    """One generated clip: mono float32 ``wave`` (samples,), 5 ``captions``, ``kind`` and
    the attribute values the captions describe."""

    wave: np.ndarray
    captions: list[str]
    kind: str
    attributes: dict = field(default_factory=dict)


def note_name(midi: int) -> str:
    """MIDI number -> scientific pitch name, e.g. 69 -> 'A4'."""
    return f"{NOTE_NAMES[midi % 12]}{midi // 12 - 1}"


def midi_to_hz(midi: float) -> float:
    return 440.0 * 2.0 ** ((midi - 69) / 12)


# ---- signal helpers -------------------------------------------------------------------


def _harmonics(timbre: str, max_k: int) -> list[tuple[int, float]]:
    if timbre == "sine":
        return [(1, 1.0)]
    if timbre == "sawtooth":
        return [(k, 1.0 / k) for k in range(1, max_k + 1)]
    if timbre == "square":
        return [(k, 1.0 / k) for k in range(1, max_k + 1, 2)]
    if timbre == "triangle":
        return [(k, (-1) ** ((k - 1) // 2) / k**2) for k in range(1, max_k + 1, 2)]
    raise ConfigError(f"unknown timbre {timbre!r}; expected one of {TIMBRES}")


TABLE_SIZE = 4096


def _wavetable(timbre: str, max_k: int) -> np.ndarray:
    """One cycle (TABLE_SIZE + 1 points, closed) of the band-limited waveform."""
    theta = 2 * np.pi * np.arange(TABLE_SIZE + 1) / TABLE_SIZE
    table = np.zeros(TABLE_SIZE + 1)
    for k, a in _harmonics(timbre, max_k):
        table += a * np.sin(k * theta)
    return table


def _oscillator(freq: np.ndarray, timbre: str, sr: int) -> np.ndarray:
    """Band-limited oscillator following the instantaneous frequency ``freq`` (samples,).

    Harmonics stop below 0.9 x Nyquist at the highest frequency (at most 40); the cycle
    is read from a wavetable with linear interpolation, so cost does not grow with them.
    """
    max_k = max(1, int((sr / 2 * 0.9) // max(float(freq.max()), 1.0)))
    cycles = np.cumsum(freq) / sr  # phase in cycles
    pos = (cycles - np.floor(cycles)) * TABLE_SIZE
    return np.interp(pos, np.arange(TABLE_SIZE + 1), _wavetable(timbre, min(max_k, 40)))


def _envelope(n: int, sr: int, fade_s: float = 0.01) -> np.ndarray:
    env = np.ones(n)
    f = min(int(fade_s * sr), n // 2)
    if f > 0:
        ramp = np.linspace(0.0, 1.0, f)
        env[:f] = ramp
        env[n - f :] = ramp[::-1]
    return env


def _place(event: np.ndarray, total: int, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros(total)
    n = min(len(event), total)
    start = int(rng.integers(0, total - n + 1))
    out[start : start + n] = event[:n]
    return out


def _normalise(x: np.ndarray, peak: float) -> np.ndarray:
    m = float(np.max(np.abs(x)))
    return x * (peak / m) if m > 0 else x


def _event_samples(length: str, total: int, sr: int, rng: np.random.Generator) -> int:
    if length == "brief":
        return max(1, min(total, int(rng.uniform(0.15, 0.4) * sr)))
    return max(1, int(total * rng.uniform(0.85, 1.0)))


def _colored_noise(n: int, colour: str, rng: np.random.Generator) -> np.ndarray:
    white = rng.standard_normal(n)
    if colour == "white":
        return white
    alpha = {"pink": 1.0, "brown": 2.0}[colour]
    size = 1 << max(0, n - 1).bit_length()  # power of two: fast FFT for any n
    spec = np.fft.rfft(white, size)
    f = np.arange(len(spec), dtype=float)
    f[0] = 1.0
    spec = spec / f ** (alpha / 2)
    spec[0] = 0.0
    return np.fft.irfft(spec, size)[:n]


# ---- the kinds ------------------------------------------------------------------------


def _pick(rng: np.random.Generator, options) -> str:
    options = list(options)
    return options[int(rng.integers(len(options)))]


def _tone(rng, sr, n):
    timbre, register = _pick(rng, TIMBRES), _pick(rng, REGISTERS)
    loud, length = _pick(rng, LOUDNESS), _pick(rng, ("brief", "sustained"))
    lo, hi = REGISTERS[register]
    midi = int(rng.integers(lo, hi + 1))
    m = _event_samples(length, n, sr, rng)
    wave = _oscillator(np.full(m, midi_to_hz(midi)), timbre, sr) * _envelope(m, sr)
    wave = _place(_normalise(wave, LOUDNESS[loud]), n, rng)
    name = note_name(midi)
    attrs = dict(timbre=timbre, register=register, loud=loud, length=length, note=name)
    values = dict(
        attrs,
        letter=name.rstrip("0123456789").replace("#", " sharp"),
        spoken=name.replace("#", " sharp "),
        freq=int(round(midi_to_hz(midi))),
    )
    return wave, attrs, values


def _chord(rng, sr, n):
    timbre, register = _pick(rng, TIMBRES), _pick(rng, REGISTERS)
    loud, length = _pick(rng, LOUDNESS), _pick(rng, ("brief", "sustained"))
    quality = _pick(rng, ("major", "minor"))
    lo, hi = REGISTERS[register]
    root = int(rng.integers(lo, hi - 6))
    third = 4 if quality == "major" else 3
    m = max(_event_samples(length, n, sr, rng), int(0.4 * sr) if length == "brief" else 0)
    m = min(m, n)
    wave = sum(
        _oscillator(np.full(m, midi_to_hz(root + iv)), timbre, sr) for iv in (0, third, 7)
    ) * _envelope(m, sr)
    wave = _place(_normalise(wave, LOUDNESS[loud]), n, rng)
    name = note_name(root)
    attrs = dict(
        timbre=timbre, register=register, loud=loud, length=length, quality=quality, root=name
    )
    values = dict(attrs, spoken=name.replace("#", " sharp "))
    return wave, attrs, values


def _sweep(rng, sr, n):
    timbre, loud = _pick(rng, TIMBRES), _pick(rng, LOUDNESS)
    direction, speed = _pick(rng, ("up", "down")), _pick(rng, ("fast", "slow"))
    f_lo, f_hi = rng.uniform(100, 250), rng.uniform(1500, 4000)
    m = int(min(n, (rng.uniform(0.3, 0.6) if speed == "fast" else rng.uniform(0.9, 1.0)) * n))
    m = max(m, 1)
    t = np.linspace(0.0, 1.0, m)
    freq = f_lo * (f_hi / f_lo) ** (t if direction == "up" else 1 - t)  # exponential sweep
    wave = _oscillator(freq, timbre, sr) * _envelope(m, sr)
    wave = _place(_normalise(wave, LOUDNESS[loud]), n, rng)
    attrs = dict(timbre=timbre, loud=loud, direction=direction, speed=speed)
    return wave, attrs, dict(attrs)


def _noise(rng, sr, n):
    colour, loud = _pick(rng, NOISE_COLOURS), _pick(rng, LOUDNESS)
    length = _pick(rng, ("brief", "sustained"))
    m = _event_samples(length, n, sr, rng)
    wave = _colored_noise(m, colour, rng) * _envelope(m, sr, 0.005)
    wave = _place(_normalise(wave, LOUDNESS[loud]), n, rng)
    attrs = dict(colour=colour, loud=loud, length=length)
    return wave, attrs, dict(attrs)


def _rhythm(rng, sr, n):
    tempo, loud, hit = _pick(rng, TEMPI), _pick(rng, LOUDNESS), _pick(rng, ("click", "thump"))
    lo, hi = TEMPI[tempo]
    bpm = int(rng.integers(lo, hi + 1))
    period = int(round(60.0 / bpm * sr))
    if hit == "click":
        m = int(0.03 * sr)
        t = np.arange(m) / sr
        one = np.sin(2 * np.pi * rng.uniform(1800, 3000) * t) * np.exp(-t / 0.004)
    else:
        m = int(0.15 * sr)
        t = np.arange(m) / sr
        f = 50 + 100 * np.exp(-t / 0.02)  # pitch-dropping kick
        one = np.sin(2 * np.pi * np.cumsum(f) / sr) * np.exp(-t / 0.05)
    wave = np.zeros(n)
    start = int(rng.integers(0, max(1, min(period, n))))
    for s in range(start, n, period):
        e = min(n, s + m)
        wave[s:e] += one[: e - s]
    wave = _normalise(wave, LOUDNESS[loud])
    attrs = dict(tempo=tempo, loud=loud, hit=hit, bpm=bpm)
    return wave, attrs, dict(attrs)


_MAKERS: dict[str, Callable] = {
    "tone": _tone,
    "chord": _chord,
    "sweep": _sweep,
    "noise": _noise,
    "rhythm": _rhythm,
}


def _fill(template: str, values: Mapping, rng: np.random.Generator) -> str:
    chosen: dict[str, str] = {}  # a slot used twice reads the same both times

    def sub(match: re.Match) -> str:
        key = match.group(1)
        if key not in chosen:
            if key in WORDS:
                chosen[key] = _pick(rng, WORDS[key][values[SLOT_ATTRIBUTE.get(key, key)]])
            else:
                chosen[key] = str(values[key])
        return chosen[key]

    text = re.sub(r"\{(\w+)\}", sub, template)
    return re.sub(r"\b([Aa]) (?=[aeiou])", r"\1n ", text)


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return text[0].upper() + text[1:] + "."


def _phrases(kind: str, values: Mapping, rng: np.random.Generator, k: int) -> list[str]:
    """``k`` distinct paraphrases (lower case, no full stop) for one kind."""
    order = rng.permutation(len(TEMPLATES[kind]))
    out: list[str] = []
    for idx in order:
        text = _fill(TEMPLATES[kind][idx], values, rng)
        if text not in out:
            out.append(text)
        if len(out) == k:
            break
    return out


def make_clip(index: int, seed: int, sr: int, duration: float) -> SyntheticClip:
    """Clip ``index`` of the stream ``seed``: depends only on ``(seed, index, sr, duration)``."""
    if sr <= 0 or duration <= 0:
        raise ConfigError(
            f"sample rate and duration must be positive, got sr={sr!r}, duration={duration!r}"
        )
    rng = np.random.default_rng([int(seed), int(index)])
    n = int(round(sr * duration))
    kind = KINDS[int(rng.integers(len(KINDS)))]
    if kind == "mixture":
        a_kind, b_kind = (str(k) for k in rng.choice(list(_MAKERS), size=2, replace=False))
        wa, attrs_a, va = _MAKERS[a_kind](rng, sr, n)
        wb, attrs_b, vb = _MAKERS[b_kind](rng, sr, n)
        wave = wa + wb
        wave = _normalise(wave, min(0.95, max(float(np.abs(wa).max()), float(np.abs(wb).max()))))
        pa, pb = _phrases(a_kind, va, rng, 5), _phrases(b_kind, vb, rng, 5)
        frames = rng.permutation(len(MIXTURE_FRAMES))[:5]
        captions = [
            _sentence(MIXTURE_FRAMES[f].format(a=pa[i % len(pa)], b=pb[i % len(pb)]))
            for i, f in enumerate(frames)
        ]
        attrs = {"parts": [a_kind, b_kind], a_kind: attrs_a, b_kind: attrs_b}
    else:
        wave, attrs, values = _MAKERS[kind](rng, sr, n)
        captions = [_sentence(p) for p in _phrases(kind, values, rng, 5)]
    return SyntheticClip(wave.astype(np.float32), captions, kind, attrs)


def make_synthetic_items(
    n_clips: int, seed: int = 0, sr: int = 22050, duration: float = 4.0
) -> list[tuple[np.ndarray, list[str]]]:
    """``n_clips`` clips as ``(wave float32 (samples,), 5 captions)``; deterministic."""
    return [
        (c.wave, c.captions) for c in (make_clip(i, seed, sr, duration) for i in range(n_clips))
    ]


def _write_wav(path: Path, wave: np.ndarray, sr: int) -> None:
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.clip(wave, -1.0, 1.0), sr, subtype="PCM_16")


def _assign_splits(n: int, splits, rng: np.random.Generator) -> list[str]:
    names = [s for s, _ in splits]
    fracs = np.array([f for _, f in splits], dtype=float)
    if (fracs < 0).any() or fracs.sum() <= 0:
        raise ConfigError(f"split fractions must be non-negative with a positive sum: {splits!r}")
    counts = np.floor(fracs / fracs.sum() * n).astype(int)
    for i in np.argsort(-(fracs / fracs.sum() * n - counts))[: n - counts.sum()]:
        counts[i] += 1  # largest remainders
    labels = [name for name, c in zip(names, counts, strict=True) for _ in range(c)]
    return [labels[i] for i in rng.permutation(n)]


def write_synthetic_manifest(
    root: str | Path,
    n_clips: int,
    seed: int = 0,
    sr: int = 22050,
    duration: float = 4.0,
    splits: tuple[tuple[str, float], ...] = DEFAULT_SPLITS,
) -> Path:
    """Write ``n_clips`` wavs under ``root/audio/`` and ``root/manifest.csv``.

    The manifest has ``path`` (relative), ``caption_1..caption_5``, ``split`` (80/10/10
    ``train``/``val``/``test`` by default, largest-remainder rounding, seeded) and
    ``kind``; it loads with :func:`audioseek.data.manifest.load_manifest`. Returns the
    manifest path.
    """
    from audioseek.data.manifest import write_manifest

    root = Path(root)
    labels = _assign_splits(n_clips, splits, np.random.default_rng([int(seed), 1 << 20]))
    rows = []
    for i in tqdm(range(n_clips), desc="synthetic clips", unit="clip", disable=None, leave=False):
        clip = make_clip(i, seed, sr, duration)
        rel = Path("audio") / f"{clip.kind}_{i:05d}.wav"
        _write_wav(root / rel, clip.wave, sr)
        rows.append(
            {
                "path": rel.as_posix(),
                "captions": clip.captions,
                "split": labels[i],
                "kind": clip.kind,
            }
        )
    return write_manifest(root / "manifest.csv", rows, n_captions=5)


def write_clotho_layout(
    root: str | Path,
    n_per_split: Mapping[str, int] | None = None,
    seed: int = 0,
    sr: int = 22050,
    duration: float = 4.0,
    encoding: str = "iso-8859-1",
) -> Path:
    """Write a valid Clotho-layout folder of synthetic clips and return ``root``.

    ``n_per_split`` maps Clotho split names to clip counts (default development 12,
    validation 6, evaluation 6). Audio goes to ``root/<split>/`` with Clotho-like file
    names containing spaces; captions to ``clotho_captions_<split>.csv`` with columns
    ``file_name, caption_1..caption_5`` in ``encoding`` (Clotho v2.1's is ISO-8859-1).
    Clip indices run on across splits, so no two clips are the same.
    """
    import csv

    from audioseek.data.clotho import CAPTION_COLUMNS, SPLITS

    counts = (
        dict(n_per_split)
        if n_per_split is not None
        else {
            "development": 12,
            "validation": 6,
            "evaluation": 6,
        }
    )
    bad = [s for s in counts if s not in SPLITS]
    if bad:
        raise ConfigError(f"unknown Clotho split {bad[0]!r}; expected one of {SPLITS}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    index = 0
    for split in SPLITS:
        if split not in counts:
            continue
        with open(root / f"clotho_captions_{split}.csv", "w", newline="", encoding=encoding) as f:
            writer = csv.writer(f)
            writer.writerow(["file_name", *CAPTION_COLUMNS])
            for _ in tqdm(range(counts[split]), desc=split, unit="clip", disable=None, leave=False):
                clip = make_clip(index, seed, sr, duration)
                name = f"synthetic {clip.kind} {index:05d}.wav"
                _write_wav(root / split / name, clip.wave, sr)
                writer.writerow([name, *clip.captions])
                index += 1
    return root
