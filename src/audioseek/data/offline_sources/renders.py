"""Rendered sounds: sampled instruments, drums and sound effects through fluidsynth with
the General MIDI sound font, and speech through espeak-ng.

Every render is a :class:`Clip` whose ``render(sr)`` writes a small MIDI file (bytes
written here, format 0) or a sentence, runs the real synthesiser, and returns mono
float32 audio. What was varied (instrument, register, dynamics, tempo, articulation,
voice, language) is what the captions say.
"""

from __future__ import annotations

import functools
import logging
import random
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from audioseek.data.offline_sources.base import Clip
from audioseek.data.offline_sources.captions import with_article
from audioseek.errors import DatasetError

logger = logging.getLogger(__name__)

SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")

# General MIDI level 1 program names, 0-based.
GM_PROGRAMS = (
    "acoustic grand piano",
    "bright acoustic piano",
    "electric grand piano",
    "honky-tonk piano",
    "electric piano",
    "electric piano",
    "harpsichord",
    "clavinet",
    "celesta",
    "glockenspiel",
    "music box",
    "vibraphone",
    "marimba",
    "xylophone",
    "tubular bells",
    "dulcimer",
    "drawbar organ",
    "percussive organ",
    "rock organ",
    "church organ",
    "reed organ",
    "accordion",
    "harmonica",
    "tango accordion",
    "nylon string acoustic guitar",
    "steel string acoustic guitar",
    "jazz electric guitar",
    "clean electric guitar",
    "muted electric guitar",
    "overdriven electric guitar",
    "distorted electric guitar",
    "guitar harmonics",
    "acoustic bass",
    "fingered electric bass",
    "picked electric bass",
    "fretless bass",
    "slap bass",
    "slap bass",
    "synth bass",
    "synth bass",
    "violin",
    "viola",
    "cello",
    "contrabass",
    "tremolo strings",
    "pizzicato strings",
    "orchestral harp",
    "timpani",
    "string ensemble",
    "string ensemble",
    "synth strings",
    "synth strings",
    "choir singing aah",
    "voice singing ooh",
    "synth voice",
    "orchestra hit",
    "trumpet",
    "trombone",
    "tuba",
    "muted trumpet",
    "french horn",
    "brass section",
    "synth brass",
    "synth brass",
    "soprano saxophone",
    "alto saxophone",
    "tenor saxophone",
    "baritone saxophone",
    "oboe",
    "english horn",
    "bassoon",
    "clarinet",
    "piccolo",
    "flute",
    "recorder",
    "pan flute",
    "blown bottle",
    "shakuhachi",
    "whistle",
    "ocarina",
    "square wave synth lead",
    "sawtooth synth lead",
    "calliope",
    "chiff synth lead",
    "charang synth lead",
    "synth voice lead",
    "fifths synth lead",
    "bass and lead synth",
    "new age synth pad",
    "warm synth pad",
    "polysynth pad",
    "choir pad",
    "bowed glass pad",
    "metallic synth pad",
    "halo synth pad",
    "sweeping synth pad",
    "rain synth effect",
    "soundtrack synth effect",
    "crystal synth effect",
    "atmosphere synth effect",
    "brightness synth effect",
    "goblins synth effect",
    "echoes synth effect",
    "sci-fi synth effect",
    "sitar",
    "banjo",
    "shamisen",
    "koto",
    "kalimba",
    "bagpipe",
    "fiddle",
    "shanai",
    "tinkle bell",
    "agogo bells",
    "steel drums",
    "woodblock",
    "taiko drum",
    "melodic tom",
    "synth drum",
    "reverse cymbal",
)
GM_FAMILIES = (
    "a piano",
    "a tuned percussion instrument",
    "an organ",
    "a guitar",
    "a bass guitar",
    "a string instrument",
    "an ensemble",
    "a brass instrument",
    "a reed instrument",
    "a wind instrument",
    "a synthesizer",
    "a synthesizer pad",
    "a synthesizer",
    "a folk instrument",
    "a percussion instrument",
    "a sound effect",
)
#: lowest and highest comfortable MIDI note per family (index = program // 8)
_FAMILY_RANGE = (
    (36, 96),
    (60, 96),
    (36, 84),
    (40, 84),
    (28, 55),
    (40, 88),
    (40, 84),
    (40, 80),
    (50, 84),
    (60, 96),
    (48, 84),
    (48, 84),
    (48, 84),
    (48, 84),
    (48, 84),
    (40, 80),
)
# programs 120-127: General MIDI sound effects (bank 0), phrased as what they imitate
GM_SFX = {
    120: (["guitar fret noise", "fingers sliding on guitar strings"], []),
    121: (["someone breathing", "breath noise"], ["a person"]),
    122: (["waves crashing on the seashore", "ocean surf"], ["water", "nature"]),
    123: (["a bird tweeting", "birds chirping"], ["a bird", "nature"]),
    124: (["a telephone ringing", "an old phone ringing"], ["a telephone"]),
    125: (["a helicopter flying", "helicopter rotor blades"], ["an aircraft", "a vehicle"]),
    126: (["applause", "a crowd clapping"], ["a crowd"]),
    127: (["a gunshot", "a gun firing"], ["a weapon"]),
}
# General MIDI percussion key map (channel 10), notes 35-81
GM_DRUMS = {
    35: "acoustic bass drum",
    36: "kick drum",
    37: "side stick",
    38: "acoustic snare drum",
    39: "hand clap",
    40: "electric snare drum",
    41: "low floor tom",
    42: "closed hi-hat",
    43: "high floor tom",
    44: "pedal hi-hat",
    45: "low tom",
    46: "open hi-hat",
    47: "low mid tom",
    48: "high mid tom",
    49: "crash cymbal",
    50: "high tom",
    51: "ride cymbal",
    52: "chinese cymbal",
    53: "ride bell",
    54: "tambourine",
    55: "splash cymbal",
    56: "cowbell",
    57: "crash cymbal",
    58: "vibraslap",
    59: "ride cymbal",
    60: "high bongo",
    61: "low bongo",
    62: "muted high conga",
    63: "open high conga",
    64: "low conga",
    65: "high timbale",
    66: "low timbale",
    67: "high agogo bell",
    68: "low agogo bell",
    69: "cabasa",
    70: "maracas",
    71: "short whistle",
    72: "long whistle",
    73: "short guiro",
    74: "long guiro",
    75: "claves",
    76: "high woodblock",
    77: "low woodblock",
    78: "muted cuica",
    79: "open cuica",
    80: "muted triangle",
    81: "open triangle",
}
# (name, tempo, steps of 16ths: list of (step, notes))
DRUM_PATTERNS = {
    "a rock drum beat": [
        (s, [42] + ([36] if s in (0, 8) else []) + ([38] if s in (4, 12) else []))
        for s in range(0, 16, 2)
    ],
    "a disco drum beat": [
        (
            s,
            ([36] if s % 4 == 0 else [])
            + ([46] if s % 4 == 2 else [42])
            + ([38] if s in (4, 12) else []),
        )
        for s in range(0, 16, 2)
    ],
    "a fast hi-hat rhythm": [(s, [42]) for s in range(16)],
    "a drum fill on the toms": [(s, [[50, 48, 47, 45, 43, 41][min(s // 3, 5)]]) for s in range(16)],
    "a conga and bongo rhythm": [
        (s, [[62, 63, 64, 60, 61][s % 5]]) for s in range(0, 16, 1) if s % 3 != 2
    ],
    "a shaker and tambourine groove": [(s, [70] if s % 2 else [54]) for s in range(16)],
    "a snare drum roll": [(s, [38]) for s in range(16)],
    "a cowbell pattern": [(s, [56]) for s in (0, 3, 6, 8, 11, 14)],
    "a kick drum pulse": [(s, [36]) for s in range(0, 16, 4)],
    "a jazz ride cymbal pattern": [
        (s, [51] + ([44] if s in (4, 12) else [])) for s in (0, 4, 6, 8, 12, 14)
    ],
}
DYNAMICS = {"soft": 40, "loud": 115}
REGISTER_WORDS = ("low", "middle", "high")


# ---- MIDI bytes ---------------------------------------------------------------------------


def _vlq(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def midi_file(events: list[tuple[int, bytes]], tempo_bpm: float = 120.0, tpq: int = 480) -> bytes:
    """A format-0 Standard MIDI File from ``(tick, message)`` events (any order)."""
    tempo_us = int(round(60_000_000 / tempo_bpm))
    track = _vlq(0) + b"\xff\x51\x03" + tempo_us.to_bytes(3, "big")
    now = 0
    for tick, msg in sorted(events, key=lambda e: (e[0], e[1][0] & 0xF0 != 0x80)):
        track += _vlq(tick - now) + msg
        now = tick
    track += _vlq(tpq) + b"\xff\x2f\x00"
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, tpq)
    return header + b"MTrk" + struct.pack(">I", len(track)) + track


def note_events(notes, program: int | None, channel: int = 0, tpq: int = 480):
    """``notes``: list of (start_beats, dur_beats, pitch, velocity) -> MIDI events."""
    ev: list[tuple[int, bytes]] = []
    if program is not None:
        ev.append((0, bytes([0xC0 | channel, program])))
    for start, dur, pitch, vel in notes:
        t0, t1 = int(start * tpq), int((start + dur) * tpq)
        ev.append((t0, bytes([0x90 | channel, pitch, vel])))
        ev.append((t1, bytes([0x80 | channel, pitch, 0])))
    return ev


@functools.lru_cache(maxsize=1)
def _tool(name: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        raise DatasetError(f"{name!r} not found on PATH; install the Debian package {name}")
    return exe


def _read_mono(path: Path, sr: int) -> np.ndarray:
    import soundfile as sf

    data, file_sr = sf.read(str(path), dtype="float32", always_2d=True)
    mono = data.mean(axis=1)
    if file_sr != sr:
        import soxr

        mono = soxr.resample(mono, file_sr, sr).astype(np.float32)
    return mono


def render_midi(midi: bytes, sr: int, soundfont: Path = SOUNDFONT) -> np.ndarray:
    """Render MIDI bytes with fluidsynth (real sampled instruments) to mono float32."""
    if not soundfont.is_file():
        raise DatasetError(
            f"sound font {str(soundfont)!r} not found; install the Debian package "
            "fluid-soundfont-gm"
        )
    with tempfile.TemporaryDirectory(prefix="audioseek-fs-") as tmp:
        mid, wav = Path(tmp) / "in.mid", Path(tmp) / "out.wav"
        mid.write_bytes(midi)
        cmd = [
            _tool("fluidsynth"),
            "-ni",
            "-q",
            "-g",
            "0.6",
            "-r",
            str(sr),
            "-F",
            str(wav),
            str(soundfont),
            str(mid),
        ]
        res = subprocess.run(cmd, capture_output=True, timeout=120)
        if res.returncode != 0 or not wav.is_file():
            raise DatasetError(f"fluidsynth failed on a render: {res.stderr.decode()[-200:]!r}")
        return _read_mono(wav, sr)


def render_speech(text: str, voice: str, sr: int, speed: int = 160, pitch: int = 50) -> np.ndarray:
    with tempfile.TemporaryDirectory(prefix="audioseek-tts-") as tmp:
        wav = Path(tmp) / "out.wav"
        cmd = [
            _tool("espeak-ng"),
            "-v",
            voice,
            "-s",
            str(speed),
            "-p",
            str(pitch),
            "-w",
            str(wav),
            text,
        ]
        res = subprocess.run(cmd, capture_output=True, timeout=60)
        if res.returncode != 0 or not wav.is_file():
            raise DatasetError(f"espeak-ng failed for voice {voice!r}: {res.stderr.decode()!r}")
        return _read_mono(wav, sr)


# ---- instruments, drums, effects ---------------------------------------------------------


def _instrument_variants(
    program: int, rng: random.Random, n: int
) -> list[tuple[str, list, float, list[str]]]:
    """``n`` (name, notes, tempo, phrases) variations for one GM program."""
    name = GM_PROGRAMS[program]
    inst = with_article(name)
    lo, hi = _FAMILY_RANGE[program // 8]
    out = []
    kinds = ["note", "chord", "melody", "note", "arpeggio", "melody"]
    rng.shuffle(kinds)
    for i in range(n):
        kind = kinds[i % len(kinds)]
        dyn = rng.choice(list(DYNAMICS))
        vel = DYNAMICS[dyn] + rng.randint(-8, 8)
        reg = rng.randrange(3)
        center = lo + (hi - lo) * (reg + 0.5) / 3
        root = int(center) + rng.randint(-2, 2)
        tempo = rng.choice([70, 100, 150])
        pace = {70: "slow", 100: "moderate", 150: "fast"}[tempo]
        if kind == "note":
            long = rng.random() < 0.5
            notes = [(0, 3.0 if long else 0.6, root, vel)]
            length = "long" if long else "short"
            phrases = [
                f"a {length} {dyn} {REGISTER_WORDS[reg]} note on {inst}",
                f"a single note played on {inst}",
                inst,
            ]
        elif kind == "chord":
            minor = rng.random() < 0.5
            third = 3 if minor else 4
            notes = [(0, 2.5, root + d, vel) for d in (0, third, 7)]
            quality = "minor" if minor else "major"
            phrases = [f"a {dyn} {quality} chord played on {inst}", f"{inst} playing a chord", inst]
        elif kind == "arpeggio":
            steps = [0, 4, 7, 12, 7, 4, 0]
            notes = [(i * 0.5, 0.5, root + s, vel) for i, s in enumerate(steps)]
            phrases = [f"{inst} playing a {pace} arpeggio", f"broken chord notes on {inst}", inst]
        else:
            scale = [0, 2, 4, 5, 7, 9, 11, 12]
            seq = [rng.choice(scale) for _ in range(8)]
            dur = 0.5 if tempo != 70 else 1.0
            notes = [(i * dur, dur, root + s, vel) for i, s in enumerate(seq)]
            phrases = [f"{inst} playing a {pace} melody", f"a {dyn} tune on {inst}", inst]
        out.append((f"{kind}{i}", notes, tempo, phrases))
    return out


def instrument_clips(seed: int = 0, variants_per_program: int = 4) -> list[Clip]:
    """GM programs 0-119 with several notes / chords / melodies each."""
    clips = []
    for program in range(120):
        rng = random.Random(f"{seed}-gm-{program}")
        for tag, notes, tempo, phrases in _instrument_variants(program, rng, variants_per_program):
            midi = midi_file(note_events(notes, program), tempo_bpm=tempo)
            clips.append(
                Clip(
                    source="fluidsynth",
                    key=f"fluidsynth/gm{program:03d}_{tag}",
                    label=GM_PROGRAMS[program],
                    kind="instrument",
                    phrases=phrases,
                    hypernyms=[GM_FAMILIES[program // 8], "a musical instrument"],
                    render=functools.partial(render_midi, midi),
                    origin=f"fluidsynth FluidR3_GM program {program} ({tag})",
                )
            )
    return clips


def drum_clips(seed: int = 0) -> list[Clip]:
    """Single GM percussion hits (soft and loud) and ten drum patterns at two tempos."""
    clips = []
    for note, name in GM_DRUMS.items():
        for dyn in ("soft", "loud") if note in (36, 38, 42, 49, 51, 54, 56) else ("loud",):
            notes = [(0, 1.0, note, DYNAMICS[dyn])]
            midi = midi_file(note_events(notes, None, channel=9))
            base = (
                name
                if name.endswith(("cymbal", "hi-hat", "clap", "bell", "stick"))
                else (f"{name} hit")
            )
            clips.append(
                Clip(
                    source="fluidsynth",
                    key=f"fluidsynth/drum{note}_{dyn}",
                    label=name,
                    kind="drum",
                    phrases=[f"a {dyn} {base}", with_article(base), with_article(name)],
                    hypernyms=["percussion", "a drum kit"],
                    render=functools.partial(render_midi, midi),
                    origin=f"fluidsynth GM drum note {note}",
                )
            )
    for i, (name, steps) in enumerate(DRUM_PATTERNS.items()):
        for tempo in (90, 140):
            notes = [
                (bar * 4 + s / 4, 0.25, n, 100 if s % 4 == 0 else 80)
                for bar in range(2)
                for s, ns in steps
                for n in ns
            ]
            midi = midi_file(note_events(notes, None, channel=9), tempo_bpm=tempo)
            pace = "slow" if tempo == 90 else "fast"
            clips.append(
                Clip(
                    source="fluidsynth",
                    key=f"fluidsynth/pattern{i}_{tempo}",
                    label=name,
                    kind="music",
                    phrases=[f"{name} at a {pace} tempo", name, "drums playing a rhythm"],
                    hypernyms=["percussion", "a drum kit"],
                    render=functools.partial(render_midi, midi),
                    origin=f"fluidsynth GM drum pattern {name!r} {tempo} bpm",
                )
            )
    return clips


def sfx_clips(seed: int = 0, variants: int = 5) -> list[Clip]:
    """GM sound effects 120-127 at several pitches and lengths."""
    clips = []
    for program, (phrases, hyper) in GM_SFX.items():
        rng = random.Random(f"{seed}-sfx-{program}")
        for i in range(variants):
            pitch = rng.randint(48, 72)
            dur = rng.choice([1.0, 2.5, 5.0])
            repeats = 2 if (program in (124, 127) and i % 2) else 1
            notes = [(r * (dur + 0.5), dur, pitch, rng.randint(70, 120)) for r in range(repeats)]
            midi = midi_file(note_events(notes, program), tempo_bpm=60)
            clips.append(
                Clip(
                    source="fluidsynth",
                    key=f"fluidsynth/sfx{program}_{i}",
                    label=phrases[0],
                    kind="sfx",
                    phrases=list(phrases),
                    hypernyms=list(hyper),
                    render=functools.partial(render_midi, midi),
                    origin=f"fluidsynth GM sound effect program {program}",
                )
            )
    return clips


# ---- speech --------------------------------------------------------------------------------

VOICES = {
    # espeak-ng variant -> (who, hypernym)
    "m1": ("a man", "a male voice"),
    "m3": ("a man", "a male voice"),
    "m5": ("a man", "a male voice"),
    "m7": ("a man", "a male voice"),
    "f1": ("a woman", "a female voice"),
    "f2": ("a woman", "a female voice"),
    "f3": ("a woman", "a female voice"),
    "f4": ("a woman", "a female voice"),
    "croak": ("an old man", "a male voice"),
}
WHISPER_VOICES = {"whisper": "a man whispering", "whisperf": "a woman whispering"}
LANGUAGES = {
    "en-us": ("english", "one two three four five six seven eight nine ten"),
    "de": ("german", "eins zwei drei vier fünf sechs sieben acht neun zehn"),
    "fr": ("french", "un deux trois quatre cinq six sept huit neuf dix"),
    "es": ("spanish", "uno dos tres cuatro cinco seis siete ocho nueve diez"),
    "it": ("italian", "uno due tre quattro cinque sei sette otto nove dieci"),
}
SENTENCES = {
    "en-us": [
        "The weather today is sunny with a light breeze.",
        "Please close the door when you leave the room.",
        "The train to the city leaves at half past seven.",
        "I would like a cup of coffee, please.",
        "Welcome to the museum, the tour begins in five minutes.",
        "Turn left at the next corner and walk straight ahead.",
        "The quick brown fox jumps over the lazy dog.",
        "Can you hear me clearly on this line?",
        "Dinner is ready, come to the table.",
        "This is a test of the announcement system.",
        "The library is open from nine to five.",
        "Thank you for calling, please hold the line.",
    ],
    "de": ["Guten Morgen, wie geht es Ihnen heute?", "Der Zug fährt um acht Uhr ab."],
    "fr": ["Bonjour, comment allez-vous aujourd'hui?", "Le train part à huit heures."],
    "es": ["Buenos días, ¿cómo estás hoy?", "El tren sale a las ocho."],
    "it": ["Buongiorno, come stai oggi?", "Il treno parte alle otto."],
}


def speech_clips(seed: int = 0) -> list[Clip]:
    """espeak-ng: counting in five languages, English sentences, whispering."""
    clips = []
    rng = random.Random(f"{seed}-speech")
    voices = list(VOICES)
    for lang, (language, counting) in LANGUAGES.items():
        for j, voice in enumerate(voices):
            if lang != "en-us" and j % 2:
                continue
            who, hyper = VOICES[voice]
            n = rng.choice([5, 10])
            text = " ".join(counting.split()[:n])
            clips.append(
                Clip(
                    source="espeak",
                    key=f"espeak/count_{lang}_{voice}",
                    label=f"counting in {language}",
                    kind="speech",
                    phrases=[
                        f"{who} counting in {language}",
                        f"{who} counting to {n}",
                        f"{hyper} counting numbers",
                    ],
                    hypernyms=["speech", "a voice"],
                    render=functools.partial(
                        render_speech, text, f"{lang}+{voice}", speed=rng.choice([130, 170])
                    ),
                    origin=f"espeak-ng {lang}+{voice}: {text}",
                    spoken=text if lang == "en-us" else None,
                )
            )
        for k, sentence in enumerate(SENTENCES[lang]):
            voice = voices[(k + len(lang)) % len(voices)]
            who, hyper = VOICES[voice]
            pace = rng.choice(["slowly", "quickly", ""])
            speed = {"slowly": 110, "quickly": 210, "": 160}[pace]
            verb = f"speaking {language} {pace}".strip()
            clips.append(
                Clip(
                    source="espeak",
                    key=f"espeak/say_{lang}_{k}_{voice}",
                    label=f"speech in {language}",
                    kind="speech",
                    phrases=[
                        f"{who} {verb}",
                        f"{who} reading a sentence aloud",
                        f"{hyper} talking",
                    ],
                    hypernyms=["speech", "a voice"],
                    render=functools.partial(
                        render_speech, sentence, f"{lang}+{voice}", speed=speed
                    ),
                    origin=f"espeak-ng {lang}+{voice}: {sentence}",
                    spoken=sentence.rstrip(".?!").lower() if lang == "en-us" else None,
                )
            )
    for voice, phrase in WHISPER_VOICES.items():
        for k, sentence in enumerate(SENTENCES["en-us"][::2]):
            clips.append(
                Clip(
                    source="espeak",
                    key=f"espeak/whisper_{voice}_{k}",
                    label="whispering",
                    kind="speech",
                    phrases=[phrase, "someone whispering quietly", "a hushed whisper"],
                    hypernyms=["speech", "a voice"],
                    render=functools.partial(render_speech, sentence, f"en-us+{voice}"),
                    origin=f"espeak-ng en-us+{voice}: {sentence}",
                    spoken=sentence.rstrip(".?!").lower(),
                )
            )
    return clips
