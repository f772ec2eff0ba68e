"""Readers for sounds packed inside container files (offline corpus v2).

=====================  ===============================  ====================================
source                 Debian package                   container
=====================  ===============================  ====================================
``opensfx``            ``openttd-opensfx``              ``opensfx.cat``: 73 WAV files, each
                                                        named with its description and the
                                                        credit of the original recording
``gcompris``           ``gcompris-qt-data``             Qt ``.rcc`` resource bundles of the
                                                        activities: instruments, farm
                                                        animals, the sound-memory game
=====================  ===============================  ====================================

Both are decoded in memory; nothing is unpacked to disk.
"""

from __future__ import annotations

import functools
import io
import logging
import re
import struct
import zlib
from pathlib import Path

import numpy as np

from audioseek.data.offline_sources.base import Clip, Source
from audioseek.data.offline_sources.decode import decode_mono
from audioseek.data.offline_sources.games import R, Rule, fix_articles, match

logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=4)
def _read_bytes(path: str) -> bytes:
    return Path(path).read_bytes()


def _decode(data: bytes, origin: str, sr: int) -> np.ndarray:
    return decode_mono(io.BytesIO(data), sr, origin)


def container_entries(path: Path, package: str, parse) -> list[tuple[str, bytes]]:
    """``parse(bytes)`` of the container file ``path`` (its ``(name, bytes)`` members), or
    ``[]`` with a one-line warning naming the file when it is missing (``package`` not
    installed) or broken."""
    if not path.is_file():
        logger.warning("%s not found (install the Debian package %s); skipping", path, package)
        return []
    try:
        return parse(_read_bytes(str(path)))
    except (ValueError, struct.error, zlib.error) as e:
        logger.warning("skipping %s: %s", path, e)
        return []


def blob_clip(
    key: str, label: str, found: tuple[Rule, tuple[str, ...]], blob: bytes, origin: str
) -> Clip:
    """A clip of audio bytes held in memory (a member of a container file), described by
    the rule :func:`~audioseek.data.offline_sources.games.match` found (``{g1}``... = its
    groups); ``origin`` names the container and member in decode errors."""
    rule, groups = found
    fmt = {f"g{i + 1}": g for i, g in enumerate(groups)}
    return Clip(
        source=key.split("/", 1)[0],
        key=key,
        label=label,
        kind=rule.kind,
        phrases=[fix_articles(p.format(**fmt)) for p in rule.phrases],
        category=rule.category,
        max_segments=rule.segments,
        render=functools.partial(_decode, blob, origin),
        origin=origin,
    )


# ---- OpenTTD OpenSFX (openttd-opensfx) ------------------------------------------------------

OPENSFX_CAT = Path("/usr/share/games/openttd/baseset/opensfx/opensfx.cat")


def cat_entries(data: bytes) -> list[tuple[str, bytes]]:
    """``(name, wav_bytes)`` of every sound of an OpenTTD ``.cat`` file.

    Layout (OpenTTD's ``soundloader``): a table of ``(offset, size)`` little-endian
    uint32 pairs (the first offset / 8 is the count; the top bit of an offset is a flag),
    and at each offset a length byte, the NUL-terminated name, then a RIFF/WAVE file.
    """
    first = struct.unpack_from("<I", data, 0)[0] & 0x7FFFFFFF
    out = []
    for i in range(first // 8):
        off, _size = struct.unpack_from("<II", data, 8 * i)
        off &= 0x7FFFFFFF
        n = data[off]
        name = data[off + 1 : off + 1 + n].rstrip(b"\0").decode("latin-1")
        riff = off + 1 + n
        if data[riff : riff + 4] != b"RIFF":
            continue
        length = struct.unpack_from("<I", data, riff + 4)[0] + 8
        out.append((name, data[riff : riff + length]))
    return out


#: rules over the sound's own name (the part in quotes before the credit), lower-cased
OPENSFX_RULES = [
    R(r"factory whistle", "a factory whistle blowing|a steam whistle", category="bell"),
    R(
        r"steam train station departure",
        "a steam train whistling as it departs|a steam locomotive",
        category="train",
    ),
    R(
        r"steam engine going in tunnel",
        "a steam train whistle echoing in a tunnel|a steam locomotive",
        category="train",
    ),
    R(r"ship horn", "a ship's horn blowing|a large ship sounding its horn", category="vehicle"),
    R(r"ferry horn", "a ferry horn blowing|a ship's horn", category="vehicle"),
    R(
        r"propeller plane start",
        "a small propeller plane starting its engine|a cessna engine",
        category="aircraft",
    ),
    R(
        r"(early|modern|mach 1\+) jet take off",
        "a jet taking off|a jet airliner roaring",
        category="aircraft",
    ),
    R(
        r"diesel/electric train station departure",
        "a diesel locomotive horn|a train horn in the distance",
        category="train",
    ),
    R(r"mining machinery", "mining machinery rumbling|an old elevator", category="machine"),
    R(r"electric sparking", "electric sparks crackling|a high voltage spark", category="machine"),
    R(r"steam \(of steam engine\)", "a steam engine hissing|steam escaping", category="machine"),
    R(
        r"level crossing",
        "a railroad crossing bell ringing|a level crossing signal",
        category="bell",
    ),
    R(
        r"road vehicle breakdown",
        "a heavy metal object dropping|a clunk of metal",
        category="other",
    ),
    R(r"train/ship breakdown", "metal rubbish clattering|scrap metal banging", category="other"),
    R(r"(big )?crash", "a car crash|metal crashing", category="vehicle"),
    R(r"explosion", "an explosion|a blast", category="explosion"),
    R(r"cash till", "a cash register till|a till drawer opening", category="bell"),
    R(r"morse", "morse code beeping|a telegraph signal", category="ui"),
    R(
        r"plane wheels touching ground",
        "aircraft wheels screeching on touchdown|a tyre screech",
        category="vehicle",
    ),
    R(r"helicopter", "a helicopter flying|helicopter rotor blades", category="aircraft"),
    R(
        r"truck/old bus start, pull away( with horn)?",
        "an old truck starting and pulling away|a diesel engine revving",
        category="vehicle",
    ),
    R(
        r"(modern|old) bus start",
        "a bus starting and driving away|a bus engine",
        category="vehicle",
    ),
    R(r"applause", "an audience applauding|a crowd clapping and cheering", category="human_sound"),
    R(r"oooh sound", "a crowd going oooh|people gasping in amazement", category="human_sound"),
    R(r"jackhammer", "a jackhammer|a pneumatic drill breaking concrete", category="machine"),
    R(r"modern car horn", "a car horn honking|a car horn", category="vehicle"),
    R(r"sheep", "sheep bleating in a field|a sheep", category="animal"),
    R(r"cow", "a cow mooing|a cow", category="animal"),
    R(r"horse", "a horse neighing|a horse", category="animal"),
    R(r"building bridge", "hammering in a smithy|metal work", category="machine"),
    R(r"sawmill", "a circular saw cutting wood|a sawmill", category="machine"),
    R(r"(heavy )?wind", "wind blowing|a strong wind", "ambience", "wind"),
    R(
        r"lumber mill: crashing tree",
        "a tree falling and crashing down|a falling tree",
        category="nature",
    ),
    R(
        r"lumber mill: falling tree",
        "a tree being cut down|an axe cutting a tree",
        category="nature",
    ),
    R(r"lumber mill: chainsaw", "a chainsaw cutting|a chainsaw running", category="machine"),
    R(
        r"maglev train station departure",
        "a metro train leaving a station|an electric train",
        category="train",
    ),
    R(r"monorail train station departure", "a train passing by|a train", category="train"),
    R(r"tropical: bird", "a tropical bird calling|a bird", category="bird"),
    R(r"tropical: lion roar", "a big cat growling|a lion roaring", category="animal"),
    R(r"tropical: monkeys", "monkeys screaming|a monkey calling", category="animal"),
]


def _opensfx_name(full: str) -> str:
    """``'"Cow". Original "Cow - Moan 2.wav" by ...'`` -> ``"cow"``."""
    m = re.match(r'^\s*"([^"]+)"', full)
    return (m.group(1) if m else full).strip().lower()


def read_opensfx(cat: Path = OPENSFX_CAT) -> list[Clip]:
    """OpenSFX sounds whose name a rule describes; the credit line is kept as origin."""
    clips = []
    for i, (full, wav) in enumerate(container_entries(cat, "openttd-opensfx", cat_entries)):
        name = _opensfx_name(full)
        found = match(OPENSFX_RULES, name)
        if found is None:
            continue
        slug = re.sub(r"[^a-z0-9]+", "_", name).strip("_")
        clip = blob_clip(f"opensfx/{i:02d}_{slug}", name, found, wav, f"{cat}#{i}")
        clip.origin += f": {full}"  # the credit line
        clips.append(clip)
    return clips


# ---- GCompris (gcompris-qt-data): Qt .rcc resource bundles ----------------------------------

GCOMPRIS_RCC = Path("/usr/share/gcompris-qt/rcc")


def rcc_entries(data: bytes) -> list[tuple[str, bytes]]:
    """``(path, bytes)`` of every file of a Qt binary resource (``.rcc``, format 1-3).

    Layout: ``qres``, version, tree / data / names offsets (big-endian uint32). Tree
    nodes are 14 bytes (22 from version 2): name offset, flags (2 = directory, 1 = zlib,
    4 = zstd), then child count + first child, or locale + data offset. Names are a
    uint16 length, a uint32 hash and UTF-16BE text; data is a uint32 size then bytes.
    """
    if data[:4] != b"qres":
        raise ValueError("not a Qt resource file")
    version, tree, dat, names = struct.unpack_from(">IIII", data, 4)
    node = 22 if version >= 2 else 14
    out: list[tuple[str, bytes]] = []

    def name(off: int) -> str:
        n = struct.unpack_from(">H", data, names + off)[0]
        return data[names + off + 6 : names + off + 6 + 2 * n].decode("utf-16-be")

    stack = [(0, "")]
    while stack:
        i, prefix = stack.pop()
        p = tree + i * node
        noff, flags = struct.unpack_from(">IH", data, p)
        here = name(noff) if i else ""
        if flags & 2:
            count, first = struct.unpack_from(">II", data, p + 6)
            path = f"{prefix}{here}/" if i else ""
            stack += [(first + k, path) for k in range(count)]
            continue
        doff = struct.unpack_from(">I", data, p + 10)[0]
        size = struct.unpack_from(">I", data, dat + doff)[0]
        blob = data[dat + doff + 4 : dat + doff + 4 + size]
        if flags & 4:
            continue  # zstd: not used by the audio of gcompris
        if flags & 1:
            blob = zlib.decompress(blob[4:])
        out.append((prefix + here, blob))
    return sorted(out)


GCOMPRIS_RULES = [
    R(r".*/instruments/resource/(maracas|castanets)", "{g1} being played|{g1}", "sfx", "drum"),
    R(
        r".*/instruments/resource/(snare_drum|bongo|timpani|drum_kit|cymbal|tambourine|triangle)",
        "a {g1} being played|a {g1}",
        "sfx",
        "drum",
    ),
    R(
        r".*/instruments/resource/flute_traversiere",
        "a flute playing|a transverse flute",
        "instrument",
        "instrument",
    ),
    R(
        r".*/instruments/resource/(\w+)",
        "a {g1} playing|a {g1}",
        "instrument",
        "instrument",
    ),
    R(
        r".*/explore_farm_animals/resource/animals/chickens",
        "chickens clucking|hens in a farmyard",
        category="bird",
    ),
    R(
        r".*/explore_farm_animals/resource/animals/(owl|duck)",
        "a {g1} calling|a bird",
        category="bird",
    ),
    R(r".*/explore_farm_animals/resource/animals/dog", "a dog barking|a dog", category="dog"),
    R(r".*/explore_farm_animals/resource/animals/cat", "a cat meowing|a cat", category="animal"),
    R(r".*/explore_farm_animals/resource/animals/(\w+)", "a {g1}|a farm animal", category="animal"),
    R(
        r".*/explore_world_music/resource/(australia|japan|middleeast|italy|ireland|america|africa|mexico)",
        "traditional music from {g1}|folk music",
        "music",
        "music",
    ),
    R(
        r".*/explore_world_music/resource/beethoven",
        "classical music by beethoven|an orchestra",
        "music",
        "music",
    ),
    R(
        r".*/memory-sound/resource/lrstartandstopcarengine\w*",
        "a car engine starting and stopping|a car",
        category="vehicle",
    ),
    R(r".*/memory-sound/resource/lrfireballs\w*", "a fireball whooshing|flames", category="fire"),
    R(
        r".*/memory-sound/resource/lrobject_falling\w*",
        "an object falling to the ground|a clatter",
        category="other",
    ),
    R(
        r".*/memory-sound/resource/lrbuddhist_gong\w*",
        "a buddhist gong|a gong ringing",
        category="bell",
    ),
    R(
        r".*/memory-sound/resource/lrfactory_noise\w*",
        "factory noise|machines in a factory",
        category="machine",
    ),
    R(r".*/memory-sound/resource/lrring\w*", "a bell ringing|a ring", category="bell"),
    R(
        r".*/memory-sound/resource/lrdoor_open\w*",
        "a door opening|a creaking door",
        category="door",
    ),
    R(
        r".*/memory-sound/resource/lrtrain_slowing_down\w*",
        "a train slowing down|a train braking",
        category="train",
    ),
    R(r".*/memory-sound/resource/lrhits\w*", "a hit|a thump", category="weapon"),
    R(
        r".*/memory-sound/resource/guitar_melody",
        "a guitar melody|an acoustic guitar",
        "instrument",
        "instrument",
    ),
    R(
        r".*/canal_lock/resource/door_(open|close)",
        "a heavy lock gate moving|a canal lock",
        category="door",
    ),
    R(
        r".*/canal_lock/resource/water_fill",
        "water rushing into a lock|water filling",
        category="water",
    ),
    R(
        r".*/railroad/resource/train|.*/core/resource/sounds/train",
        "a train|a train passing",
        category="train",
    ),
    R(r".*/traffic/resource/car", "a car driving|a car engine", category="vehicle"),
    R(
        r".*/guessnumber/resource/helicopter",
        "a helicopter|a helicopter flying",
        category="aircraft",
    ),
    R(r".*/watercycle/resource/harbor", "a harbour with boats|a port", category="water"),
    R(r".*/mining/resource/pickaxe", "a pickaxe hitting rock|mining", category="machine"),
    R(
        r".*/(clickgame|watercycle)/resource/(?:drip|bubble)",
        "water dripping and bubbling|a drop of water",
        category="water",
    ),
    R(r".*/core/resource/sounds/water", "water splashing|a splash", category="water"),
    R(
        r".*/erase/resource/eraser|.*/redraw/resource/eraser",
        "an eraser rubbing paper|rubbing",
        category="other",
    ),
    R(r".*/money/resource/money", "coins jingling|money", category="other"),
    R(r".*/target/resource/arrow", "an arrow hitting a target|an arrow", category="weapon"),
    R(
        r".*/melody/resource/xylofon_son",
        "a xylophone note|a xylophone",
        "instrument",
        "instrument",
    ),
    R(r".*/melody/resource/knock", "a knock on wood|a knock", category="door"),
    R(
        r".*/reversecount/resource/icy_walk",
        "footsteps on ice|walking on snow",
        category="footsteps",
    ),
    R(r".*/scalesboard/resource/metal_hit", "metal being hit|a metal clang", category="bell"),
]


def read_gcompris(root: Path = GCOMPRIS_RCC) -> list[Clip]:
    """Sounds of GCompris activities, named by their activity and file name."""
    if not root.is_dir():
        logger.warning("%s not found (install the Debian package gcompris-qt-data); skipping", root)
        return []
    clips = []
    for rcc in sorted(root.glob("*.rcc")):
        for path, blob in container_entries(rcc, "gcompris-qt-data", rcc_entries):
            if not path.lower().endswith((".ogg", ".wav")):
                continue
            found = match(GCOMPRIS_RULES, path)
            if found is None:
                continue
            rel = path.split("/activities/", 1)[-1].split("/src/", 1)[-1]
            key = f"gcompris/{rel.rsplit('.', 1)[0]}"
            clips.append(blob_clip(key, Path(path).stem.lower(), found, blob, f"{rcc}:{path}"))
    return clips


SOURCES_PACKED: dict[str, Source] = {
    "opensfx": Source(
        lambda seed: read_opensfx(),
        "CC-BY-3.0 / CC-BY-SA-3.0 / CC0-1.0 (per sound)",
        ("openttd-opensfx",),
    ),
    "gcompris": Source(
        lambda seed: read_gcompris(),
        "CC-BY-SA-3.0 / CC-BY / CC0 / GPL-3+ (per file)",
        ("gcompris-qt-data",),
    ),
}
