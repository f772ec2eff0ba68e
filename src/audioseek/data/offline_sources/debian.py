"""Readers for real recorded sounds shipped in Debian packages.

Each reader takes the package's install root (the default is where Debian puts it),
returns ``[]`` with a log line when the package is not installed, and turns the package's
own descriptions (file names, ``.txt`` descriptions, ``drumkit.xml`` instrument names)
into descriptive phrases. Packages (all DFSG-free):

=========================  ====================================================
``sonic-pi-samples``       ~170 samples with descriptive names (``drum_snare_hard``)
``tuxpaint-stamps-default`` everyday sounds with one-line ``.txt`` descriptions
``hydrogen-drumkits``      sampled drum kits, instrument names in ``drumkit.xml``
``sound-theme-freedesktop`` desktop event sounds (bell, phone ringing, camera shutter)
``minetest-data``          footsteps on materials, doors, fire, water, glass, explosions
``wesnoth-1.16-data``      weapons, creatures, voices, ambience (``wolf-growl-1.ogg``)
=========================  ====================================================
"""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from audioseek.data.offline_sources.base import Clip
from audioseek.data.offline_sources.captions import with_article

logger = logging.getLogger(__name__)

SONIC_PI_ROOT = Path("/usr/share/sonic-pi/samples")
TUXPAINT_ROOT = Path("/usr/share/tuxpaint/stamps")
HYDROGEN_ROOT = Path("/usr/share/hydrogen/data/drumkits")
FREEDESKTOP_ROOT = Path("/usr/share/sounds/freedesktop/stereo")
MINETEST_ROOT = Path("/usr/share/games/minetest")
WESNOTH_ROOT = Path("/usr/share/games/wesnoth")


def _missing(root: Path, package: str) -> bool:
    if not root.is_dir():
        logger.warning("%s not found (install the Debian package %s); skipping", root, package)
        return True
    return False


# ---- sonic-pi-samples -------------------------------------------------------------------

_SONIC_PREFIX = {
    "ambi": ("sfx", "an ambient {rest}", ["an atmospheric sound", "ambient texture"]),
    "bass": ("instrument", "a {rest} synth bass note", ["a bass sound"]),
    "bd": ("drum", "a bass drum kick", ["a kick drum", "a drum hit"]),
    "drum": ("drum", "a {rest}", ["a drum hit", "acoustic drums"]),
    "elec": ("sfx", "an electronic {rest}", ["a synthesized sound", "an electronic sound"]),
    "glitch": ("sfx", "a glitchy {rest}", ["a digital glitch", "an electronic sound"]),
    "guit": (
        "instrument",
        "an electric guitar playing {rest}",
        ["a guitar", "a string instrument"],
    ),
    "loop": ("music", "a {rest} loop", ["a rhythmic loop", "a drum beat"]),
    "mehackit": ("sfx", "a {rest} sound", ["an electronic sound"]),
    "misc": ("sfx", "a {rest}", []),
    "perc": ("drum", "a percussive {rest}", ["a percussion sound"]),
    "sn": ("drum", "a snare drum hit", ["a snare drum", "a drum hit"]),
    "tabla": ("drum", "a tabla drum stroke", ["an indian tabla", "a hand drum"]),
    "vinyl": ("sfx", "a vinyl record {rest}", ["a turntable", "a record player"]),
}
_SONIC_WORDS = {
    "hh": "hi-hat",
    "bd": "bass drum",
    "sn": "snare",
    "dnb": "drum and bass",
    "woosh": "whoosh",
    "filt": "filtered",
    "lo": "low",
    "hi": "high",
    "em9": "an e minor ninth chord",
    "e": "e",
    "voxy": "vocal",
    "amen": "amen break",
    "cineboom": "cinematic boom",
    "compus": "computer",
    "perc": "percussion",
    "3d": "3d",
    "tek": "techno",
    "haus": "house",
    "klub": "club",
    "boom": "boomy",
    "fat": "fat",
    "hard": "hard",
    "soft": "soft",
}
_SONIC_NAMES = {
    "misc_burp": ["a burp", "a person burping"],
    "misc_crow": ["a crow cawing", "a crow", "a bird call"],
    "misc_cineboom": ["a cinematic boom", "a deep booming impact"],
    "vinyl_hiss": ["vinyl record hiss", "crackling noise from a record"],
    "vinyl_scratch": ["a dj scratching a vinyl record", "a record scratch"],
    "vinyl_rewind": ["a vinyl record rewinding", "a tape rewind effect"],
    "vinyl_backspin": ["a record backspin", "a turntable spinning backwards"],
    "drum_roll": ["a snare drum roll", "a drum roll"],
    "drum_cowbell": ["a cowbell hit", "a cowbell"],
    "perc_door": ["a door knock", "a knock on wood"],
    "perc_snap": ["a finger snap", "someone snapping their fingers"],
    "perc_snap2": ["a finger snap", "a snapping sound"],
    "perc_till": ["a cash register till", "a till ringing"],
    "perc_swoosh": ["a swoosh", "a fast whoosh"],
    "perc_swash": ["a cymbal swash", "a swishing cymbal"],
    "ambi_choir": ["a choir singing a chord", "voices singing"],
    "ambi_piano": ["an ambient piano chord", "a piano"],
    "ambi_lunar_land": ["a spacey sci-fi landing sound", "a space ambience"],
    "ambi_sauna": ["a hissing sauna", "steam hissing"],
    "loop_safari": ["an african percussion loop", "a safari drum loop"],
    "loop_tabla": ["a tabla drum loop", "indian tabla drumming"],
    "loop_amen": ["the amen break drum loop", "a breakbeat"],
    "loop_amen_full": ["the full amen break drum loop", "a breakbeat"],
    "loop_3d_printer": ["a 3d printer whirring", "a machine working"],
    "loop_industrial": ["an industrial loop", "machine noise rhythm"],
    "mehackit_phone1": ["a phone ringing", "a telephone"],
    "mehackit_phone2": ["a phone beeping", "a telephone"],
    "mehackit_phone3": ["a phone dial tone", "a telephone"],
    "mehackit_phone4": ["a phone ringtone", "a telephone"],
}


def _words(tokens: list[str], table: dict[str, str]) -> str:
    out = []
    for t in tokens:
        t = re.sub(r"\d+$", "", t)
        if not t or t in ("mehackit", "ada", "gas", "pure", "sone", "zome", "zum", "dolf"):
            continue
        out.append(table.get(t, t))
    return " ".join(out)


def read_sonic_pi(root: Path = SONIC_PI_ROOT) -> list[Clip]:
    if _missing(root, "sonic-pi-samples"):
        return []
    clips = []
    for path in sorted(root.glob("*.flac")):
        stem = path.stem
        prefix, _, rest = stem.partition("_")
        kind, pattern, hyper = _SONIC_PREFIX.get(prefix, ("sfx", "a {rest}", []))
        rest_tokens = rest.split("_")
        if kind == "instrument" and prefix == "bass" and len(rest_tokens) > 1:
            rest_tokens = rest_tokens[:-1]  # trailing note name: bass_woodsy_c
        if prefix == "mehackit" and rest.startswith("robot"):
            phrases = ["a robot voice", "a robotic electronic sound"]
        elif stem in _SONIC_NAMES:
            phrases = list(_SONIC_NAMES[stem])
        else:
            words = _words(rest_tokens, _SONIC_WORDS)
            if prefix == "drum":
                words = (
                    words.replace("cymbal closed", "closed hi-hat")
                    .replace("cymbal open", "open hi-hat")
                    .replace("cymbal pedal", "pedal hi-hat")
                )
                words = re.sub(r"^(\w+) (\w+) (\w+)$", r"\3 \2 \1", words)  # tom hi hard
                words = re.sub(r"^(\w+) (hard|soft)$", r"\2 \1", words)  # snare hard
                phrase = with_article(f"{words} drum hit" if "cymbal" not in words else words)
                phrases = [phrase.replace("bass drum hit", "bass drum kick")]
            else:
                phrase = pattern.format(rest=words or "sound").replace("  ", " ")
                phrases = [with_article(phrase)]
        clips.append(
            Clip(
                source="sonic_pi",
                key=f"sonic_pi/{stem}",
                label=stem,
                kind=kind,
                phrases=phrases,
                hypernyms=list(hyper),
                path=path,
            )
        )
    return clips


# ---- tuxpaint-stamps-default ------------------------------------------------------------

_LANG_SUFFIX = re.compile(r"_(?:[a-z]{2,3})(?:_[A-Za-z]{2,4})?$")
_TUX_SKIP_DIRS = ("symbols/alphabets", "symbols/math", "town/roadsigns", "seasonal/hanukkah")
_TUX_CATEGORY = {
    "insects": "an insect",
    "mammals": "an animal",
    "birds": "a bird",
    "amphibians": "an animal",
    "reptiles": "a reptile",
    "lizards": "a reptile",
    "sea": "a sea creature",
    "marsupials": "an animal",
    "rodents": "a small animal",
    "dinosaurs": "a dinosaur",
    "household": "a household object",
    "tools": "a tool",
    "vehicles": "a vehicle",
    "music": "a musical instrument",
    "percussion": "a drum",
    "string": "a string instrument",
    "wind": "a wind instrument",
    "dishes": "kitchenware",
    "camel": "an animal",
}


def _tux_description(txt: Path) -> str | None:
    try:
        first = txt.read_text(encoding="utf-8", errors="replace").splitlines()[0].strip()
    except (OSError, IndexError):
        return None
    first = re.split(r"(?<=[.!?])\s", first)[0].strip().rstrip(".!").strip()
    return first or None


def read_tuxpaint(root: Path = TUXPAINT_ROOT) -> list[Clip]:
    """Stamp sounds ``<name>.ogg`` described by ``<name>.txt`` (English first line).

    Language variants (``frog_fr.ogg``) and spoken descriptions (``frog_desc*.ogg``) are
    skipped; so are spoken letters and digits.
    """
    if _missing(root, "tuxpaint-stamps-default"):
        return []
    clips = []
    for path in sorted(root.rglob("*.ogg")):
        rel = path.relative_to(root).as_posix()
        if (
            "_desc" in path.stem
            or _LANG_SUFFIX.search(path.stem)
            and not (path.with_suffix(".txt").is_file() or path.with_suffix(".png").is_file())
        ):
            continue
        if rel.startswith(_TUX_SKIP_DIRS):
            continue
        name = re.sub(r"[-_]+", " ", path.stem).strip().lower()
        name = re.sub(r"\s*\d+$", "", name)
        desc = _tux_description(path.with_suffix(".txt"))
        phrases = []
        if desc and len(desc.split()) <= 8:
            phrases.append(desc[0].lower() + desc[1:])
        phrases.append(with_article(name))
        parents = [p for p in path.parent.relative_to(root).parts]
        hyper = [_TUX_CATEGORY[p] for p in reversed(parents) if p in _TUX_CATEGORY][:2]
        clips.append(
            Clip(
                source="tuxpaint",
                key=f"tuxpaint/{rel[:-4]}",
                label=name,
                kind="sfx",
                phrases=list(dict.fromkeys(phrases)),
                hypernyms=hyper,
                path=path,
                wordnet_noun=name.split()[-1] if len(name.split()) <= 2 else None,
            )
        )
    return clips


# ---- hydrogen-drumkits ------------------------------------------------------------------

_HYDROGEN_WORDS = [
    (r"\b(hi|high)[ -]?hat\b|\bhh\d*\b|\bhihat\b|\bhat\b", "HIHAT"),
    (r"\bbass ?drum\b|\bbd\b|\bkick\b", "kick drum"),
    (r"\bsn\b|\bsnare\b", "snare drum"),
    (r"\bhi\b", "high"),
    (r"\bcl\b", "closed"),
    (r"\bop\b", "open"),
    (r"\blo\b", "low"),
    (r"\bstick\b", "rim click"),
    (r"\bcrash\b", "crash cymbal"),
    (r"\bride\b", "ride cymbal"),
    (r"\bsplash\b", "splash cymbal"),
    (r"\bchina\b", "china cymbal"),
    (r"\bclap\b", "hand clap"),
]


def hydrogen_phrase(name: str) -> str | None:
    """``"Open HH"`` -> ``"open hi-hat"``; ``None`` for unnamed instruments (``"23"``)."""
    name = re.sub(r"[(\"].*$", "", name)  # 'Kick (Superstar 22")' -> 'Kick'
    words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name)  # BassDrum -> Bass Drum
    words = re.sub(r"[_\-.]+|\d+", " ", words).lower()
    words = re.sub(r"\b(zildjian|sabian|paiste|meinl|tama|pearl|ludwig)\b", "", words)
    words = " ".join(words.split())
    if len(words) < 3 or re.search(r"\b(sample|flac|wav|beats?|instrument|noname)\b", words):
        return None
    for pat, rep in _HYDROGEN_WORDS:
        words = re.sub(pat, rep, words)
    words = words.replace("HIHAT", "hi-hat").replace("opened", "open")
    words = words.replace("hand hand clap", "hand clap").replace("cymbal cymbal", "cymbal")
    words = words.replace("tom tom", "tom")
    if re.search(r"\btom\b", words) and "drum" not in words:
        words = words.replace("tom", "tom drum")
    return " ".join(words.split())


def read_hydrogen(root: Path = HYDROGEN_ROOT, layers_per_instrument: int = 1) -> list[Clip]:
    """Named instruments of every kit; the loudest and a soft velocity layer of each."""
    if _missing(root, "hydrogen-drumkits"):
        return []
    clips = []
    seen: set[Path] = set()
    for xml in sorted(root.glob("*/drumkit.xml")):
        try:
            tree = ET.parse(xml)
        except ET.ParseError as e:
            logger.warning("skipping %s: %s", xml, e)
            continue
        strip_ns = re.compile(r"^\{.*\}")
        for el in tree.iter():
            el.tag = strip_ns.sub("", el.tag)
        kit = (tree.findtext("name") or xml.parent.name).strip()
        for inst in tree.iter("instrument"):
            name = (inst.findtext("name") or "").strip()
            phrase = hydrogen_phrase(name)
            if phrase is None:
                continue
            layers = [
                (float(layer.findtext("max") or 1.0), layer.findtext("filename") or "")
                for layer in inst.iter("layer")
            ]
            if not layers and inst.findtext("filename"):
                layers = [(1.0, inst.findtext("filename"))]
            layers = sorted((v, f) for v, f in layers if f)
            chosen = [layers[-1]] + ([layers[len(layers) // 3]] if len(layers) > 2 else [])
            for vel, fname in chosen[:layers_per_instrument]:
                path = xml.parent / fname
                if not path.is_file() or path in seen:
                    continue
                seen.add(path)
                loud = "a loud" if vel > 0.7 else "a soft"
                base = (
                    phrase
                    if phrase.endswith(("cymbal", "hi-hat", "clap", "click"))
                    else (f"{phrase} hit")
                )
                clips.append(
                    Clip(
                        source="hydrogen",
                        key=f"hydrogen/{xml.parent.name}/{Path(fname).stem}",
                        label=phrase,
                        kind="drum",
                        phrases=[with_article(base), f"{loud} {base}", with_article(phrase)],
                        hypernyms=["a drum kit", "percussion"],
                        path=path,
                        origin=f"{path} ({kit})",
                    )
                )
    return clips


# ---- sound-theme-freedesktop ------------------------------------------------------------

_FREEDESKTOP = {
    "alarm-clock-elapsed": ["an alarm clock ringing", "an alarm going off"],
    "audio-channel-front-center": ["a voice saying front center", "a speaker test voice"],
    "audio-channel-front-left": ["a voice saying front left", "a speaker test voice"],
    "audio-channel-front-right": ["a voice saying front right", "a speaker test voice"],
    "audio-channel-rear-center": ["a voice saying rear center", "a speaker test voice"],
    "audio-channel-rear-left": ["a voice saying rear left", "a speaker test voice"],
    "audio-channel-rear-right": ["a voice saying rear right", "a speaker test voice"],
    "audio-channel-side-left": ["a voice saying side left", "a speaker test voice"],
    "audio-channel-side-right": ["a voice saying side right", "a speaker test voice"],
    "audio-test-signal": ["a test tone", "a steady beep"],
    "audio-volume-change": ["a short click", "a volume change blip"],
    "bell": ["a bell ringing", "a chime"],
    "camera-shutter": ["a camera shutter clicking", "a photo being taken"],
    "complete": ["a short happy chime", "a completion jingle"],
    "device-added": ["a rising electronic chime", "a device connected sound"],
    "device-removed": ["a falling electronic chime", "a device disconnected sound"],
    "dialog-error": ["an error beep", "a warning tone"],
    "dialog-information": ["a soft notification chime", "an information ding"],
    "dialog-warning": ["a warning chime", "an alert sound"],
    "message-new-instant": ["a new message notification", "a chat message pop"],
    "message": ["a message notification chime", "a soft ding"],
    "network-connectivity-established": ["a connection chime", "a positive electronic tone"],
    "network-connectivity-lost": ["a disconnection tone", "a negative electronic tone"],
    "phone-incoming-call": ["a phone ringing", "an incoming call ringtone"],
    "phone-outgoing-busy": ["a busy signal on the phone", "telephone busy tone"],
    "phone-outgoing-calling": ["a phone ringing tone", "a telephone calling signal"],
    "power-plug": ["a power plugged in chime", "a rising beep"],
    "power-unplug": ["a power unplugged chime", "a falling beep"],
    "screen-capture": ["a camera shutter click", "a screenshot sound"],
    "service-login": ["a login chime", "a welcome jingle"],
    "service-logout": ["a logout chime", "a goodbye jingle"],
    "suspend-error": ["an error buzz", "a failure tone"],
    "trash-empty": ["paper being crumpled", "a trash can being emptied"],
    "window-attention": ["an attention chime", "a notification ping"],
    "window-question": ["a question chime", "a notification ping"],
}


def read_freedesktop(root: Path = FREEDESKTOP_ROOT) -> list[Clip]:
    if _missing(root, "sound-theme-freedesktop"):
        return []
    clips = []
    for path in sorted(root.glob("*.oga")):
        phrases = _FREEDESKTOP.get(path.stem)
        if phrases is None:
            continue
        kind = "speech" if path.stem.startswith("audio-channel") else "ui"
        clips.append(
            Clip(
                source="freedesktop",
                key=f"freedesktop/{path.stem}",
                label=path.stem,
                kind=kind,
                phrases=list(phrases),
                hypernyms=["a computer sound"] if kind == "ui" else [],
                path=path,
            )
        )
    return clips


# ---- minetest-data ----------------------------------------------------------------------

_MINETEST = [
    (r"cart_moving", ["a mine cart rolling on rails", "a rolling cart"], ["a vehicle"]),
    (r"break_glass", ["glass breaking", "a window shattering"], []),
    (r"chest_open", ["a wooden chest opening", "a creaking lid opening"], []),
    (r"chest_close", ["a wooden chest closing", "a lid closing"], []),
    (r"cool_lava", ["lava hissing as it cools", "a hissing sizzle"], []),
    (r"dig_choppy", ["chopping wood with an axe", "an axe hitting wood"], []),
    (r"dig_cracky", ["a pickaxe hitting stone", "rock being mined"], []),
    (r"dig_crumbly|gravel_dig", ["digging in dirt with a shovel", "a shovel in soil"], []),
    (r"dig_metal|dug_metal", ["a tool hitting metal", "a metallic clank"], []),
    (r"dig_snappy", ["snapping leaves and twigs", "plants being cut"], []),
    (r"dig_immediate|oddly_breakable", ["a small object being picked up", "a light tap"], []),
    (r"dug_node|gravel_dug|ice_dug", ["a block breaking", "something crumbling"], []),
    (r"ice_dig", ["ice being chipped", "cracking ice"], []),
    (r"furnace_active", ["a fire burning in a furnace", "a crackling furnace"], []),
    (r"([a-z]+)_footstep", ["footsteps on {0}", "someone walking on {0}"], ["footsteps"]),
    (r"item_smoke", ["a puff of smoke", "a soft hiss"], []),
    (r"place_node_metal", ["a metal block being placed", "a metal clunk"], []),
    (r"place_node_hard", ["a stone block being placed", "a hard thud"], []),
    (r"place_node", ["a block being placed", "a soft thud"], []),
    (r"tool_breaks", ["a tool breaking", "something snapping"], []),
    (r"player_damage", ["a man grunting in pain", "a person getting hurt"], ["a person"]),
    (r"glass_door_open", ["a glass door opening", "a sliding door"], ["a door"]),
    (r"glass_door_close", ["a glass door closing", "a door shutting"], ["a door"]),
    (r"steel_(bar_)?door_open", ["a heavy metal door opening", "a creaking steel door"], []),
    (r"steel_(bar_)?door_close", ["a heavy metal door slamming shut", "a steel door"], []),
    (r"fencegate_open", ["a wooden gate opening", "a creaking gate"], ["a door"]),
    (r"fencegate_close", ["a wooden gate closing", "a gate shutting"], ["a door"]),
    (r"door_open", ["a wooden door opening", "a door creaking open"], []),
    (r"door_close", ["a wooden door closing", "a door shutting"], []),
    (r"sounds_lava", ["bubbling lava", "molten lava gurgling"], []),
    (r"sounds_water", ["flowing water", "a stream of running water"], ["water"]),
    (r"extinguish_flame", ["a flame being put out", "a hissing fire extinguished"], []),
    (r"fire_fire|fire_large", ["a crackling fire", "a fire burning"], ["fire"]),
    (r"fire_small", ["a small crackling fire", "a campfire"], ["fire"]),
    (r"flint_and_steel", ["striking flint and steel", "a lighter being struck"], []),
    (r"tnt_explode", ["an explosion", "a bomb going off"], []),
    (r"gunpowder_burning", ["a fuse burning", "a sizzling fuse"], []),
    (r"tnt_ignite", ["a fuse being lit", "a hissing ignition"], []),
]
_MATERIAL = {"hard": "a hard floor", "dirt": "dirt", "water": "shallow water", "ice": "ice"}


def read_minetest(root: Path = MINETEST_ROOT) -> list[Clip]:
    if _missing(root, "minetest-data"):
        return []
    clips = []
    for path in sorted(root.rglob("*.ogg")):
        stem = re.sub(r"\.\d+$", "", path.stem)
        for pat, phrases, hyper in _MINETEST:
            m = re.search(pat, stem)
            if m:
                groups = [_MATERIAL.get(g, g) for g in m.groups() if g and not g.endswith("_")]
                phrases = [p.format(*groups) if groups else p for p in phrases]
                clips.append(
                    Clip(
                        source="minetest",
                        key=f"minetest/{path.stem}",
                        label=stem,
                        kind="sfx",
                        phrases=phrases,
                        hypernyms=list(hyper),
                        path=path,
                    )
                )
                break
    return clips


# ---- wesnoth-1.16-data ------------------------------------------------------------------

_WESNOTH_CREATURES = {
    "human": ("a man", "a person"),
    "human-female": ("a woman", "a person"),
    "human-old": ("an old man", "a person"),
    "dwarf": ("a dwarf", "a man"),
    "elf": ("an elf", "a person"),
    "wolf": ("a wolf", "an animal"),
    "horse": ("a horse", "an animal"),
    "bat": ("a bat", "an animal"),
    "drake": ("a dragon", "a monster"),
    "gryphon": ("a griffin", "a large bird"),
    "orc": ("an orc", "a monster"),
    "orc-small": ("a goblin", "a monster"),
    "goblin": ("a goblin", "a monster"),
    "troll": ("a troll", "a monster"),
    "ogre": ("an ogre", "a monster"),
    "yeti": ("a yeti", "a monster"),
    "naga": ("a snake woman", "a monster"),
    "mermaid": ("a mermaid", "a woman"),
    "mermen": ("a merman", "a man"),
    "skeleton": ("a skeleton", "bones rattling"),
    "skeleton-big": ("a big skeleton", "bones rattling"),
    "zombie": ("a zombie", "a monster"),
    "lich": ("an undead sorcerer", "a monster"),
    "wose": ("a tree creature", "a monster"),
    "tusker": ("a wild boar", "an animal"),
    "hiss": ("a giant snake", "an animal"),
    "ghoul": ("a ghoul", "a monster"),
}
_WESNOTH_WEAPONS = {
    "axe": "an axe",
    "bow": "a bow and arrow",
    "bow-puny": "a small bow",
    "club": "a club",
    "crossbow": "a crossbow",
    "flail": "a flail",
    "mace": "a mace",
    "spear": "a spear",
    "staff": "a wooden staff",
    "sword": "a sword",
    "knife": "a knife",
    "dagger": "a dagger",
    "hatchet": "a hatchet",
    "sling": "a sling",
    "sling-big": "a big sling",
    "throwing-knife": "a throwing knife",
    "fist": "a punch",
    "claws": "claws",
    "bite": "a bite",
    "bite-small": "a small bite",
    "pincers": "pincers",
    "tail": "a tail",
    "torch": "a torch",
    "thunderstick": "a musket",
    "dragonstick": "a flintlock gun",
    "mud-fist": "a mud punch",
    "mud-glob": "a mud splat",
    "ink": "an ink splat",
}
_WESNOTH_MISC = {
    "birds": ["birds singing", "bird song in a forest"],
    "campfire": ["a crackling campfire", "a fire burning"],
    "morning": ["morning birds chirping", "dawn ambience"],
    "night": ["crickets chirping at night", "night ambience"],
    "ship": ["a wooden ship creaking at sea", "waves against a ship"],
    "wardrums": ["war drums beating", "tribal drums"],
    "explosion": ["an explosion", "a blast"],
    "fire": ["a fire whooshing", "flames"],
    "gunshot": ["a gunshot", "a gun firing"],
    "fuse": ["a fuse burning", "a hissing fuse"],
    "lightning": ["a lightning strike", "a thunderclap"],
    "rumble": ["a low rumble", "an earthquake rumble"],
    "cave-in": ["rocks collapsing", "a cave collapsing"],
    "gold": ["coins jingling", "gold coins clinking"],
    "open-chest": ["a chest opening", "a creaking lid"],
    "potion": ["a potion being drunk", "liquid gulping"],
    "heal": ["a magical healing chime", "a sparkle of magic"],
    "horse-canter": ["a horse galloping", "hooves on the ground"],
    "horse-elf-canter": ["a horse cantering", "hoofbeats"],
    "bat-flapping": ["wings flapping", "a bat flapping its wings"],
    "dwarf-laugh": ["a man laughing", "a deep laugh"],
    "witches-laugh": ["a witch cackling", "evil laughter"],
    "groan": ["a man groaning", "a groan"],
    "ugg": ["a grunt", "a man grunting"],
    "wail": ["a ghostly wail", "a wailing ghost"],
    "wail-long": ["a long ghostly wail", "a wail"],
    "wail-sml": ["a short ghostly wail", "a wail"],
    "water-blast": ["a splash of water", "a water blast"],
    "throw": ["something being thrown", "a whoosh of a throw"],
    "miss": ["a whoosh of a missed swing", "a swish"],
    "net": ["a net being thrown", "a swish"],
    "dart": ["a dart flying", "a whoosh"],
    "fanfare-short": ["a short trumpet fanfare", "a brass fanfare"],
    "bell": ["a bell ring", "a ding"],
    "button": ["a button click", "a click"],
    "checkbox": ["a click", "a tick"],
    "select": ["a click", "a selection tick"],
    "timer": ["a clock ticking", "a timer"],
    "gamestart": ["a gong", "a game start sound"],
    "horn": ["a horn signal", "a hunting horn blowing"],
}


def _wesnoth_phrases(stem: str) -> tuple[list[str], list[str]] | None:
    base = re.sub(r"-\d+$", "", stem)
    base_nomiss = re.sub(r"-miss(-\d+)?$", "", base)
    missed = base != base_nomiss
    if base in _WESNOTH_MISC:
        return list(_WESNOTH_MISC[base]), []
    m = re.match(r"^(.*)-(hit|die|growl|shriek|attack|charge)$", base)
    if m and m.group(1) in _WESNOTH_CREATURES:
        who, hyper = _WESNOTH_CREATURES[m.group(1)]
        verb = {
            "hit": "grunting in pain",
            "die": "dying with a scream",
            "growl": "growling",
            "shriek": "shrieking",
            "attack": "attacking",
            "charge": "charging",
        }[m.group(2)]
        if "skeleton" in m.group(1):  # skeletons rattle, they have no voice
            return [f"{who}'s bones rattling", "bones clattering"], ["a monster"]
        return [f"{who} {verb}", f"{hyper} {verb}"], [hyper]
    weapon = re.sub(r"-fire$", "", base_nomiss)
    if weapon in _WESNOTH_WEAPONS:
        w = _WESNOTH_WEAPONS[weapon]
        if missed:
            return [f"{w} swinging through the air", f"a miss with {w}"], ["a whoosh"]
        return [f"a hit with {w}", f"{w} striking"], ["a weapon"]
    if base_nomiss.startswith("magic"):
        return ["a magic spell", "a magical whoosh"], []
    return None


def read_wesnoth(root: Path = WESNOTH_ROOT) -> list[Clip]:
    if _missing(root, "wesnoth-1.16-data"):
        return []
    clips = []
    seen = set()
    for path in sorted(root.rglob("sounds/**/*")):
        if path.suffix.lower() not in (".ogg", ".wav") or "/music/" in path.as_posix():
            continue
        stem = path.stem
        stem_key = re.sub(r"^horn-\d+$", "horn", stem)
        found = _wesnoth_phrases(stem_key)
        if found is None:
            continue
        phrases, hyper = found
        key = f"wesnoth/{stem}"
        if key in seen:
            key = f"wesnoth/{stem}{path.suffix}"
        seen.add(key)
        clips.append(
            Clip(
                source="wesnoth",
                key=key,
                label=re.sub(r"-\d+$", "", stem),
                kind="sfx",
                phrases=phrases,
                hypernyms=hyper,
                path=path,
            )
        )
    return clips
