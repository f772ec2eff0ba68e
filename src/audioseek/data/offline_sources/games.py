"""Readers for the sounds of free games packaged in Debian (offline corpus v2).

Every reader works the same way: it lists a package's sound files and describes a file
only when one of the source's **rules** matches its path (precision over recall: a file
no rule describes is left out). A rule is a regular expression over the file's path
relative to the package root, lower-cased, without extension and without a trailing
number (``sounds/wolf-02.ogg`` -> ``sounds/wolf``), plus the phrases a person would use
for that sound. Phrases may use ``{name}`` (the file's own words, ``"city blues"``).
The rules were written by reading each package's file names, folder names and data files
(0 A.D.'s folder tree, Hedgewars' voice packs, Lincity-NG's building names...).

=====================  ==================================  =============================
source                 Debian package                      what
=====================  ==================================  =============================
``zeroad``             ``0ad-data`` (sounds in a zip)      animals, weather, water, steps,
                                                           crafts, weapons, 4 languages
``flightgear``         ``flightgear-data-base``            aircraft engines, rain, wind,
                                                           thunder, cockpit
``lincity``            ``lincity-ng-data``                 town ambiences: farms, traffic,
                                                           trains, crowds, schools
``widelands``          ``widelands-data``                  animals, farm and craft work
``lugaru``             ``lugaru-data``                     footsteps, dogs, wind, fights
``redeclipse``         ``redeclipse-data``                 ambiences (wind, water, crickets)
                                                           weapons, voices
``supertuxkart``       ``supertuxkart-data``               engines, horns, rain, birds
``hedgewars``          ``hedgewars-data``                  spoken phrases, weapons
``megaglest``          ``megaglest-data``                  voices, animals, tileset
                                                           ambiences, battle
``warmux``             ``warmux-data``                     weapons, explosions, voices
``supertux``           ``supertux-data``                   cartoon effects, weather
``scorched3d``         ``scorched3d-data``                 explosions, vehicles, animals
``freeciv``            ``freeciv-data``                    battle sounds
``game_music``         the packages above + ``colobot-     instrumental soundtracks, cut
                       common-sounds``, ``extremetuxracer  into <= 10 s pieces
                       -data``
=====================  ==================================  =============================
"""

from __future__ import annotations

import functools
import io
import logging
import re
import zipfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audioseek.data.offline_sources.base import Clip, Source
from audioseek.data.offline_sources.decode import decode_mono

logger = logging.getLogger(__name__)

GAMES = Path("/usr/share/games")
AUDIO_SUFFIXES = (".ogg", ".wav", ".flac")
#: how many <= 10 s pieces a long ambience / a music track may give
AMBIENCE_SEGMENTS = 12
MUSIC_SEGMENTS = 10


@dataclass(frozen=True)
class Rule:
    """``pattern`` (full match on the normalised path) -> phrases, most specific first."""

    pattern: str
    phrases: tuple[str, ...]
    kind: str = "sfx"
    category: str = ""
    segments: int = 1
    hypernyms: tuple[str, ...] = ()
    spoken: str | None = None


def R(pattern: str, phrases: str, kind: str = "sfx", category: str = "", **kw) -> Rule:
    """Compact rule: ``phrases`` separated by ``|``; ambiences get several segments."""
    if kind == "ambience":
        kw.setdefault("segments", AMBIENCE_SEGMENTS)
    if kind == "music":
        kw.setdefault("segments", MUSIC_SEGMENTS)
    return Rule(pattern, tuple(p.strip() for p in phrases.split("|")), kind, category, **kw)


def normalise(rel: str) -> str:
    """``"Sounds/Wolf-02.OGG"`` -> ``"sounds/wolf"`` (lower case, no suffix, no numbers)."""
    rel = rel.lower()
    rel = re.sub(r"\.(ogg|wav|flac|oga)$", "", rel)
    return re.sub(r"(?:[ _.-]*\d+[a-z]?)+$", "", rel)  # crickets1_01 -> crickets


def file_words(stem: str) -> str:
    """``"Harvest_Moon-2"`` -> ``"harvest moon"``; ``"CityBlues"`` -> ``"city blues"``."""
    stem = re.sub(r"^\d+\s*-\s*", "", stem)
    stem = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", stem)
    stem = re.sub(r"[_\-.]+|\d+", " ", stem)
    return " ".join(stem.lower().split())


#: words of file names that are written together or abbreviated
_WORDS = {
    "smg": "submachine gun",
    "med": "medium",
    "firetruck": "fire truck",
    "policecar": "police car",
    "gogogo": "go go go",
    "hangon": "hang on",
    "luckyshot": "lucky shot",
    "niceshot": "nice shot",
    "noproblem": "no problem",
    "suckit": "suck it",
    "damnit": "damn it",
}


_SUFFIX = re.compile(r"\.[A-Za-z0-9]+$")


def fix_articles(phrase: str) -> str:
    """``"a owl calling"`` -> ``"an owl calling"`` (after a group was filled in)."""
    return re.sub(r"\b([Aa]) (?=[aeiouAEIOU])", r"\1n ", phrase)


def _text(s: str) -> str:
    s = " ".join(re.sub(r"[_\-]+", " ", s).split())
    return _WORDS.get(s, s)


def match(rules: Iterable[Rule], rel: str) -> tuple[Rule, tuple[str, ...]] | None:
    """The first rule whose pattern fully matches ``normalise(rel)``, and its groups."""
    norm = normalise(rel)
    for rule in rules:
        m = re.fullmatch(rule.pattern, norm)
        if m:
            return rule, tuple(_text(g or "") for g in m.groups())
    return None


def _clip(
    source: str, rel: str, rule: Rule, stem: str, groups: tuple[str, ...] = (), **where
) -> Clip:
    """``{name}`` = the file's words; ``{g1}``, ``{g2}``... = the rule's regex groups."""
    fmt = {"name": _text(file_words(stem))} | {f"g{i + 1}": g for i, g in enumerate(groups)}
    phrases = [fix_articles(p.format(**fmt)) for p in rule.phrases]
    spoken = rule.spoken.format(**fmt) if rule.spoken else None
    return Clip(
        source=source,
        key=f"{source}/{_SUFFIX.sub('', rel)}",
        label=normalise(rel).rsplit("/", 1)[-1],
        kind=rule.kind,
        phrases=phrases,
        hypernyms=list(rule.hypernyms),
        spoken=spoken,
        category=rule.category,
        max_segments=rule.segments,
        **where,
    )


def read_rules(
    source: str, root: Path, rules: list[Rule], package: str, under: str = ""
) -> list[Clip]:
    """Clips of every audio file below ``root / under`` that one of ``rules`` describes.

    Paths matched by the rules are relative to ``root``. Returns ``[]`` with a warning
    when ``root`` is missing (package not installed).
    """
    if not root.is_dir():
        logger.warning("%s not found (install the Debian package %s); skipping", root, package)
        return []
    clips: list[Clip] = []
    seen: set[str] = set()
    for path in sorted((root / under).rglob("*")):
        if path.suffix.lower() not in AUDIO_SUFFIXES or not path.is_file():
            continue
        rel = path.relative_to(root).as_posix()
        found = match(rules, rel)
        if found is not None:
            clip = _clip(source, rel, found[0], path.stem, found[1], path=path)
            if clip.key in seen:  # splash.wav next to splash.ogg
                clip.key += path.suffix.lower()
            seen.add(clip.key)
            clips.append(clip)
    return clips


# ---- 0 A.D. (0ad-data): sounds inside mods/public/public.zip ---------------------------

ZEROAD_ZIP = GAMES / "0ad/mods/public/public.zip"
_LANG = {
    "greek": "ancient greek",
    "latin": "latin",
    "napatan": "an ancient nubian language",
    "persian": "old persian",
}
ZEROAD_RULES = [
    R(r"audio/actor/fauna/animal/camel", "a camel grunting|a camel", category="animal"),
    R(
        r"audio/actor/fauna/(animal|death)/(cattle|death_cattle)",
        "a cow mooing|cattle",
        category="animal",
    ),
    R(r"audio/actor/fauna/animal/chicken", "a chicken clucking|a hen", category="bird"),
    R(
        r"audio/actor/fauna/animal/elephant_(attack|select|order|trained)",
        "an elephant trumpeting|an elephant",
        category="animal",
    ),
    R(
        r"audio/actor/fauna/animal/elephant_death",
        "an elephant dying|an elephant trumpeting in pain",
        category="animal",
    ),
    R(r"audio/actor/fauna/animal/flamingo", "a flamingo calling|a water bird", category="bird"),
    R(
        r"audio/actor/fauna/animal/horse(_idle|_select)?",
        "a horse neighing|a horse whinnying",
        category="animal",
    ),
    R(
        r"audio/actor/fauna/animal/horse_attack",
        "an angry horse neighing|a horse",
        category="animal",
    ),
    R(
        r"audio/actor/fauna/(animal/horse_death|death/death_horse)|audio/actor/mounted/death/death_horse",
        "a horse dying|a horse screaming",
        category="animal",
    ),
    R(
        r"audio/actor/fauna/animal/lion_(attack|select)",
        "a lion roaring|a big cat growling",
        category="animal",
    ),
    R(
        r"audio/actor/fauna/animal/peacock_call",
        "a peacock calling|a loud bird call",
        category="bird",
    ),
    R(
        r"audio/actor/fauna/animal/pig(_squeal_move)?",
        "a pig grunting|a pig oinking",
        category="animal",
    ),
    R(r"audio/actor/fauna/animal/pig_death", "a pig squealing|a pig in pain", category="animal"),
    R(r"audio/actor/fauna/animal/sheep", "a sheep bleating|sheep", category="animal"),
    R(
        r"audio/actor/fauna/death/animal_death_generic",
        "an animal dying|an animal crying out",
        category="animal",
    ),
    R(r"audio/actor/fauna/death/death_camel", "a camel dying|a camel groaning", category="animal"),
    R(r"audio/actor/fauna/death/goat", "a goat bleating|a goat", category="animal"),
    R(r"audio/actor/fauna/movement/camel", "a camel walking|camel footsteps", category="footsteps"),
    R(
        r"audio/actor/gate/stonegate_open",
        "a heavy stone gate opening|a gate grinding open",
        category="door",
    ),
    R(
        r"audio/actor/gate/stonegate_close",
        "a heavy stone gate closing|a gate slamming shut",
        category="door",
    ),
    R(
        r"audio/actor/human/death/female_death",
        "a woman screaming as she dies|a female death scream",
        category="human_sound",
    ),
    R(
        r"audio/actor/human/death/(male_)?death",
        "a man screaming as he dies|a male death cry",
        category="human_sound",
    ),
    R(
        r"audio/actor/human/movement/hstep_dirt_mn",
        "footsteps on dirt|a person walking on a dirt path",
        category="footsteps",
    ),
    R(
        r"audio/actor/human/movement/hstep_run_dirt_mn",
        "someone running on dirt|running footsteps",
        category="footsteps",
    ),
    R(
        r"audio/actor/human/movement/footsteps/foo[rt]step_(\w+)_walking",
        "footsteps walking on {g1}|a person walking",
        category="footsteps",
    ),
    R(
        r"audio/actor/human/movement/footsteps/foo[rt]step_(\w+)_running",
        "someone running on {g1}|running footsteps",
        category="footsteps",
    ),
    R(
        r"audio/actor/singlesteps/fs_(grass|gravel|rock|sand|snow|wood)",
        "a single footstep on {g1}|a footstep",
        category="footsteps",
    ),
    R(
        r"audio/actor/mounted/movement/mstep",
        "a horse trotting|hooves on the ground",
        category="animal",
    ),
    R(
        r"audio/actor/ship/(ship|warship)_move|audio/actor/ship/smove",
        "a wooden ship sailing through water|oars and water splashing",
        category="water",
    ),
    R(
        r"audio/actor/ship/warship_death",
        "a ship breaking apart and sinking|wood cracking and water splashing",
        category="water",
    ),
    R(
        r"audio/ambient/building/amb_farm",
        "farm ambience with animals|a farmyard",
        "ambience",
        "nature",
    ),
    R(
        r"audio/ambient/building/amb_port",
        "a busy harbour with seagulls|a port",
        "ambience",
        "water",
    ),
    R(
        r"audio/ambient/building/amb_trade",
        "a busy market with people talking|a crowded market place",
        "ambience",
        "human_sound",
    ),
    R(
        r"audio/ambient/dayscape/day_temperate(_gen)?",
        "birds singing in a temperate forest|a daytime countryside ambience",
        "ambience",
        "bird",
    ),
    R(
        r"audio/ambient/dayscape/day_tropical",
        "a tropical jungle with birds and insects|jungle ambience",
        "ambience",
        "bird",
    ),
    R(
        r"audio/ambient/water/river_(fast|med|raging|slow)",
        "a {g1} flowing river|a river flowing|running water",
        "ambience",
        "water",
    ),
    R(
        r"audio/ambient/water/waterfall",
        "a waterfall|water falling and splashing",
        "ambience",
        "water",
    ),
    R(
        r"audio/ambient/water/wave(crash|rocky)?",
        "sea waves crashing on the shore|ocean waves",
        "ambience",
        "water",
    ),
    R(r"audio/ambient/weather/rain", "heavy rain falling|rain", "ambience", "rain"),
    R(r"audio/ambient/weather/snowstorm", "a howling snowstorm|a blizzard", "ambience", "wind"),
    R(r"audio/ambient/weather/thunder", "thunder rumbling|a thunderstorm", "ambience", "thunder"),
    R(r"audio/ambient/weather/wind(gust|storm)?", "wind blowing|a gusty wind", "ambience", "wind"),
    R(
        r"audio/ambient/weather/windleaves",
        "wind rustling the leaves of trees|leaves rustling",
        "ambience",
        "wind",
    ),
    R(
        r"audio/attack/destruction/building_collapse_large",
        "a large building collapsing|stone walls crumbling",
        category="explosion",
    ),
    R(
        r"audio/attack/destruction/explode_debris",
        "an explosion with falling debris|rubble falling",
        category="explosion",
    ),
    R(r"audio/attack/fire/\w+", "a fire burning|crackling flames", category="fire"),
    R(
        r"audio/attack/impact/arrow(_dirt|_metal|_stone|_wood)?",
        "an arrow hitting a target|an arrow impact",
        category="weapon",
    ),
    R(
        r"audio/attack/impact/flesh(imp|stab)",
        "a blade stabbing flesh|a stab wound",
        category="weapon",
    ),
    R(
        r"audio/attack/impact/shield_(metal|wood)",
        "a weapon striking a {g1} shield|a blow on a shield",
        category="weapon",
    ),
    R(
        r"audio/attack/impact/siegeprojectilehit",
        "a heavy stone hitting a wall|a boulder impact",
        category="weapon",
    ),
    R(
        r"audio/attack/impact/sling_(metal|stone|wood)",
        "a sling stone hitting {g1}|a small stone impact",
        category="weapon",
    ),
    R(
        r"audio/attack/siege/(ballist|ballist_rome)_attack",
        "a ballista firing|a large crossbow shooting",
        category="weapon",
    ),
    R(
        r"audio/attack/siege/onager_shooting",
        "a catapult launching a stone|a catapult firing",
        category="weapon",
    ),
    R(
        r"audio/attack/siege/(onager_moving|ram_move)",
        "a heavy wooden siege engine rolling|wooden wheels creaking",
        category="vehicle",
    ),
    R(
        r"audio/attack/siege/ram_attack(_order)?",
        "a battering ram hitting a gate|a heavy wooden thud",
        category="weapon",
    ),
    R(r"audio/attack/weapon/musket", "a musket firing|an old gun shot", category="gun"),
    R(
        r"audio/attack/weapon/(arrowfly|bow_attack)",
        "an arrow flying from a bow|a bow being shot",
        category="weapon",
    ),
    R(
        r"audio/attack/weapon/jav_attack",
        "a javelin being thrown|a whoosh of a spear",
        category="weapon",
    ),
    R(
        r"audio/attack/weapon/(pike|spear)_attack",
        "a spear thrust|a spear swinging",
        category="weapon",
    ),
    R(
        r"audio/attack/weapon/sling(_attack)?",
        "a sling whirling and releasing a stone|a sling shot",
        category="weapon",
    ),
    R(
        r"audio/attack/weapon/sword(_attack|hit\w*)",
        "swords clashing|a sword hitting metal",
        category="weapon",
    ),
    R(r"audio/resource/construction/con_saw", "someone sawing wood|a hand saw", category="machine"),
    R(
        r"audio/resource/construction/con_stone",
        "a chisel working stone|stone masonry",
        category="machine",
    ),
    R(
        r"audio/resource/construction/con_wood",
        "hammering wood|a carpenter hammering",
        category="machine",
    ),
    R(
        r"audio/resource/farming/hoe",
        "a hoe digging soil|someone working the earth",
        category="machine",
    ),
    R(
        r"audio/resource/foraging/leaves",
        "rustling leaves|someone picking through bushes",
        category="nature",
    ),
    R(
        r"audio/resource/gathering/gather_field",
        "grain being harvested|someone cutting crops",
        category="nature",
    ),
    R(
        r"audio/resource/gathering/gather_fruit",
        "fruit being picked from a bush|rustling branches",
        category="nature",
    ),
    R(
        r"audio/resource/gathering/gather_meat",
        "meat being butchered|a knife cutting meat",
        category="weapon",
    ),
    R(
        r"audio/resource/lumbering/lumber_tree",
        "an axe chopping wood|a woodcutter chopping a tree",
        category="machine",
    ),
    R(
        r"audio/resource/lumbering/lumber_treeexpire",
        "a tree falling|a tree crashing down",
        category="nature",
    ),
    R(
        r"audio/resource/mining/mine_metal",
        "a pickaxe striking metal ore|mining",
        category="machine",
    ),
    R(
        r"audio/resource/mining/mine_stone",
        "a pickaxe hitting stone|a miner breaking rocks",
        category="machine",
    ),
    R(r"audio/voice/global/civ_dog_bark", "a dog barking|a dog", category="dog"),
    R(r"audio/voice/global/civ_dog_move", "a dog panting and running|a dog", category="dog"),
    *[
        R(
            rf"audio/voice/{lang}/civ_female_\w+",
            f"a woman speaking {name}|a woman giving a short answer in {name}|"
            "a female voice speaking a foreign language",
            "speech",
            "speech",
        )
        for lang, name in _LANG.items()
    ],
    *[
        R(
            rf"audio/voice/{lang}/civ_male_\w+",
            f"a man speaking {name}|a soldier answering an order in {name}|"
            "a male voice speaking a foreign language",
            "speech",
            "speech",
        )
        for lang, name in _LANG.items()
    ],
    R(
        r"audio/music/[\w-]+",
        "instrumental music|a music track called {name}|background music",
        "music",
        "music",
    ),
]


@functools.lru_cache(maxsize=2)
def _zip(path: str) -> zipfile.ZipFile:
    return zipfile.ZipFile(path)


def _decode_member(zip_path: Path, member: str, sr: int) -> np.ndarray:
    from audioseek.errors import AudioDecodeError

    try:
        data = _zip(str(zip_path)).read(member)
    except Exception as e:  # noqa: BLE001 - zipfile raises several types
        raise AudioDecodeError(f"{zip_path}:{member}", str(e) or type(e).__name__) from None
    return decode_mono(io.BytesIO(data), sr, f"{zip_path}:{member}")


def read_zeroad(zip_path: Path = ZEROAD_ZIP) -> list[Clip]:
    """0 A.D.'s sounds, read from the (uncompressed) ``public.zip`` without unpacking."""
    if not zip_path.is_file():
        logger.warning("%s not found (install the Debian package 0ad-data); skipping", zip_path)
        return []
    clips = []
    with zipfile.ZipFile(zip_path) as z:
        members = sorted(n for n in z.namelist() if n.startswith("audio/"))
    for member in members:
        if not member.lower().endswith(AUDIO_SUFFIXES):
            continue
        found = match(ZEROAD_RULES, member)
        if found is None:
            continue
        rule, groups = found
        stem = member.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        if rule.kind == "music":
            continue  # soundtracks are read by the game_music source
        clips.append(
            _clip(
                "zeroad",
                member,
                rule,
                stem,
                groups,
                render=functools.partial(_decode_member, zip_path, member),
                origin=f"{zip_path}:{member}",
            )
        )
    return clips


# ---- FlightGear (flightgear-data-base) ----------------------------------------------------

FLIGHTGEAR_ROOT = GAMES / "flightgear"
FLIGHTGEAR_RULES = [
    R(
        r"sounds/(engine-prop|prop|p51d_rpm|r-1535slow)",
        "a propeller aircraft engine running|a piston airplane engine droning",
        "ambience",
        "aircraft",
    ),
    R(
        r"sounds/(engstart|p51d_startup|p51d_starter|starter_start|starter_loop|cranking)",
        "an aircraft engine starting up|a propeller engine cranking",
        category="aircraft",
    ),
    R(
        r"sounds/(starter_stop|exhaust_shutdown|turbine_shutdown)",
        "an aircraft engine shutting down|an engine spinning down",
        category="aircraft",
    ),
    R(
        r"sounds/(jet|turbojet_fan|turbine_loop|exhaust_loop|whine)",
        "a jet engine roaring|a jet turbine whining",
        "ambience",
        "aircraft",
    ),
    R(
        r"sounds/(turbine_start|exhaust_start)",
        "a jet engine spooling up|a turbine starting",
        category="aircraft",
    ),
    R(
        r"sounds/turboprop",
        "a turboprop engine running|an airliner propeller engine",
        "ambience",
        "aircraft",
    ),
    R(
        r"sounds/(helicopter|rotor|rotor-2blade|blade_vortex)",
        "a helicopter flying|helicopter rotor blades chopping",
        "ambience",
        "aircraft",
    ),
    R(
        r"sounds/(helicopter-skid|rotor_stall)",
        "a helicopter landing roughly|a helicopter rotor slowing",
        category="aircraft",
    ),
    R(r"sounds/rain", "rain falling|steady rain", "ambience", "rain"),
    R(
        r"sounds/rain-windshield",
        "rain drumming on an aircraft windshield|rain on a window",
        "ambience",
        "rain",
    ),
    R(r"sounds/thunder", "a thunderclap|thunder rumbling", category="thunder"),
    R(r"sounds/(wind|wind-8khz)", "wind blowing|rushing wind", "ambience", "wind"),
    R(r"sounds/wave", "waves breaking|sea waves", "ambience", "water"),
    R(
        r"sounds/(rumble|rumble-rough|rattleroll)",
        "aircraft wheels rumbling on a runway|a rough rumbling",
        category="aircraft",
    ),
    R(r"sounds/(squeal)", "tyres squealing on landing|a tyre screech", category="vehicle"),
    R(r"sounds/crash", "an aircraft crashing|a loud crash of metal", category="explosion"),
    R(
        r"sounds/(gear|gear-lck)",
        "landing gear extending with a thud|a hydraulic mechanism locking",
        category="aircraft",
    ),
    R(
        r"sounds/(gear-hrn|overspeed|stall|avionics-400hz)",
        "a cockpit warning horn|an aircraft alarm tone",
        category="bell",
    ),
    R(
        r"sounds/flaps",
        "aircraft flaps moving with an electric motor|a motor whirring",
        category="machine",
    ),
    R(r"sounds/gatling", "a gatling gun firing|a rapid machine gun", category="gun"),
    R(
        r"sounds/coughing",
        "an aircraft engine coughing and sputtering|an engine misfiring",
        category="aircraft",
    ),
    R(r"sounds/door_close", "an aircraft door closing|a door shutting", category="door"),
    R(r"sounds/fan", "a fan whirring|an electric fan", "ambience", "machine"),
    R(r"sounds/wasp", "a buzzing wasp|an insect buzzing", category="insect"),
    R(r"sounds/radionoise", "radio static|white noise from a radio", category="ui"),
    R(
        r"aircraft/c172p/sounds/(engine|engine-idle)",
        "a small propeller plane engine running|a cessna engine idling",
        "ambience",
        "aircraft",
    ),
    R(
        r"aircraft/c172p/sounds/(engine-start|engine-crank)",
        "a small plane engine starting|a propeller engine cranking",
        category="aircraft",
    ),
    R(
        r"aircraft/c172p/sounds/engine-cut",
        "a small plane engine stopping|an engine cutting out",
        category="aircraft",
    ),
    R(
        r"aircraft/c172p/sounds/(door|window)-(opening|closing)",
        "an aircraft {g1} {g2}|a small plane {g1} {g2}",
        category="door",
    ),
    R(
        r"aircraft/c172p/sounds/glove_compartment_(opening|closing)",
        "a glove compartment {g1}|a small plastic lid",
        category="door",
    ),
    R(
        r"aircraft/c172p/sounds/tires-rolling-(asphalt|gravel)",
        "aircraft tyres rolling on {g1}|wheels rolling",
        "ambience",
        "vehicle",
    ),
    R(
        r"aircraft/c172p/sounds/tires-screech-\w+",
        "tyres screeching|a tyre screech on landing",
        category="vehicle",
    ),
    R(
        r"aircraft/c172p/sounds/(crash|damage|damage-heavy)",
        "an aircraft crashing into the ground|metal crunching",
        category="explosion",
    ),
    R(
        r"aircraft/c172p/sounds/water-(fast|still)",
        "water rushing under a floatplane|water splashing against floats",
        "ambience",
        "water",
    ),
    R(r"aircraft/c172p/sounds/keys", "keys jingling|a bunch of keys", category="other"),
    R(
        r"aircraft/c172p/sounds/(click|double-click|flaps-click|lever|trim|rudder-trim)",
        "a switch clicking in a cockpit|a mechanical click",
        category="ui",
    ),
    R(
        r"aircraft/c172p/sounds/flaps-motor",
        "an electric motor moving the flaps|a motor whirring",
        category="machine",
    ),
    R(
        r"aircraft/c172p/sounds/stall",
        "a stall warning horn|a cockpit warning tone",
        category="bell",
    ),
]


def read_flightgear(root: Path = FLIGHTGEAR_ROOT) -> list[Clip]:
    return read_rules("flightgear", root, FLIGHTGEAR_RULES, "flightgear-data-base")


# ---- Lincity-NG (lincity-ng-data) ---------------------------------------------------------

LINCITY_ROOT = GAMES / "lincity-ng"
LINCITY_RULES = [
    R(
        r"sounds/blacksmith",
        "a blacksmith hammering on an anvil|metal being forged",
        category="machine",
    ),
    R(r"sounds/build", "construction work with hammers|a building site", category="machine"),
    R(
        r"sounds/(coalmine|oremine)",
        "a mine with machines and rocks|mining machinery",
        category="machine",
    ),
    # Commune (a 0.4 s take among 4 s ones) and PowerSolar (take 3 is GCompris's owl,
    # found as a near duplicate) are left out: their names do not say what is heard.
    R(r"sounds/dirttrack", "a cart on a dirt track|horses and carts on a road", category="vehicle"),
    R(r"sounds/(farm|organicfarm)", "a farm with animals|farmyard sounds", "ambience", "nature"),
    R(r"sounds/(fire|firewasteland)", "a building on fire|a large fire burning", category="fire"),
    R(r"sounds/firestation", "a fire engine siren|a fire station", category="vehicle"),
    R(r"sounds/green", "birds singing in a green park|a quiet park", "ambience", "bird"),
    R(r"sounds/harbor", "a harbour with boats and seagulls|a port", "ambience", "water"),
    R(r"sounds/health", "a busy hospital|a hospital ambience", "ambience", "human_sound"),
    R(
        r"sounds/(industryhigh|industrylight)",
        "factory machinery running|an industrial plant",
        "ambience",
        "machine",
    ),
    R(
        r"sounds/market(empty|full|low|med)",
        "a market place with people|shoppers in a market",
        "ambience",
        "human_sound",
    ),
    R(r"sounds/mill", "a mill grinding|a water mill turning", category="machine"),
    R(
        r"sounds/(monument|monumentconstruction)",
        "stonemasons building a monument|chisels on stone",
        category="machine",
    ),
    R(r"sounds/parklandlake", "a lake with ducks|water and birds in a park", "ambience", "water"),
    R(
        r"sounds/parklandplane",
        "a plane flying over a park|an airplane overhead",
        category="aircraft",
    ),
    R(r"sounds/pottery", "a potter's wheel turning|pottery being made", category="machine"),
    R(
        r"sounds/powercoal(empty|full|low|med)",
        "a coal power station humming|heavy machinery",
        "ambience",
        "machine",
    ),
    R(
        r"sounds/(powerline|substation)",
        "electricity humming in power lines|an electrical hum",
        category="machine",
    ),
    R(r"sounds/railtrain", "a train passing on a railway|a train", category="train"),
    R(r"sounds/raze", "a building being demolished|rubble crashing down", category="explosion"),
    R(
        r"sounds/recycle",
        "a recycling plant crushing rubbish|machines sorting scrap",
        category="machine",
    ),
    R(
        r"sounds/residential(high|low|lowlow|med)",
        "a residential street with people|a neighbourhood ambience",
        "ambience",
        "human_sound",
    ),
    R(
        r"sounds/rocket(takeoff)?",
        "a rocket taking off|a rocket engine roaring",
        category="aircraft",
    ),
    R(r"sounds/rocketexplosion", "a rocket exploding|a huge explosion", category="explosion"),
    R(
        r"sounds/(school|university)",
        "children playing in a school yard|students chatting",
        "ambience",
        "human_sound",
    ),
    R(r"sounds/shanty", "a poor shanty town|people in a slum", "ambience", "human_sound"),
    R(
        r"sounds/sportscroud",
        "a crowd cheering at a stadium|sports fans cheering",
        "ambience",
        "human_sound",
    ),
    R(r"sounds/tip", "a rubbish tip with trucks|garbage being dumped", category="vehicle"),
    R(
        r"sounds/trafic(high|low)",
        "road traffic with cars passing|city traffic",
        "ambience",
        "vehicle",
    ),
    R(r"sounds/water", "water flowing|running water", "ambience", "water"),
    R(r"sounds/windmill(htech)?", "a wind turbine turning|a windmill creaking", category="machine"),
    R(r"sounds/window(open|close)", "a short interface whoosh|a window sliding", category="ui"),
]


def read_lincity(root: Path = LINCITY_ROOT) -> list[Clip]:
    return read_rules("lincity", root, LINCITY_RULES, "lincity-ng-data", under="sounds")


# ---- Widelands (widelands-data) ------------------------------------------------------------

WIDELANDS_ROOT = GAMES / "widelands/data"
WIDELANDS_RULES = [
    R(r"sound/animals/bird", "a bird singing|bird song|a songbird", category="bird"),
    R(r"sound/animals/boar", "a wild boar grunting|a boar", category="animal"),
    R(r"sound/animals/coyote", "a coyote howling|a coyote", category="animal"),
    R(r"sound/animals/crickets", "crickets chirping|crickets at night", category="insect"),
    R(r"sound/animals/frog", "a frog croaking|a frog", category="animal"),
    R(r"sound/animals/moose", "a moose bellowing|a moose call", category="animal"),
    R(r"sound/animals/stag", "a stag roaring|a deer bellowing", category="animal"),
    R(r"sound/animals/wolf", "a wolf howling|a wolf", category="animal"),
    R(r"sound/farm/donkey", "a donkey braying|a donkey", category="animal"),
    R(r"sound/farm/farm_animal", "a farm animal calling|a cow mooing", category="animal"),
    R(r"sound/farm/horse", "a horse neighing|a horse", category="animal"),
    R(r"sound/farm/ox", "an ox lowing|cattle mooing", category="animal"),
    R(r"sound/farm/scythe", "a scythe cutting grass|a farmer mowing", category="nature"),
    R(r"sound/farm/sheep", "a sheep bleating|sheep", category="animal"),
    R(
        r"sound/fisher/fisher_(pull|throw)_net",
        "a fisherman {g1}ing a net|a net splashing in water",
        category="water",
    ),
    R(
        r"sound/hammering/(geologist_)?hammer(ing)?",
        "a hammer striking stone|hammering",
        category="machine",
    ),
    R(
        r"sound/(atlanteans/cutting|stonecutting)/stone(cutter|mason)",
        "a stonemason cutting stone|chiselling rock",
        category="machine",
    ),
    R(
        r"sound/atlanteans/saw/(benchsaw|sawing)|sound/sawmill/sawmill",
        "a saw cutting through wood|a sawmill",
        category="machine",
    ),
    R(r"sound/barbarians/stonegrind", "a millstone grinding|stones grinding", category="machine"),
    R(
        r"sound/barbarians/mortar",
        "a mortar and pestle grinding|pounding grain",
        category="machine",
    ),
    R(
        r"sound/barbarians/weaver|sound/mill/weaving",
        "a loom weaving cloth|a weaving loom clacking",
        category="machine",
    ),
    R(r"sound/mill/mill_turning", "a mill wheel turning|a creaking windmill", category="machine"),
    R(
        r"sound/(barbarians|empire)/taverns/\w+",
        "cooking in a tavern kitchen|pots and pans clattering",
        category="other",
    ),
    R(
        r"sound/empire/(beer|wine)bubble",
        "liquid bubbling in a vat|fermenting bubbles",
        category="water",
    ),
    R(r"sound/metal/furnace", "a furnace roaring|a blast furnace", category="fire"),
    R(r"sound/metal/(gold|iron)ping", "metal ringing when struck|a metal ping", category="bell"),
    R(r"sound/metal/fizzle", "hot metal fizzling in water|a sizzle", category="water"),
    R(
        r"sound/smiths/(smith|toolsmith)",
        "a smith hammering metal|a blacksmith at an anvil",
        category="machine",
    ),
    R(
        r"sound/smiths/sharpening",
        "a blade being sharpened on a whetstone|sharpening a knife",
        category="machine",
    ),
    R(
        r"sound/woodcutting/(fast_)?woodcutting",
        "an axe chopping a tree|a woodcutter at work",
        category="machine",
    ),
    R(r"sound/woodcutting/tree_falling", "a tree falling|a tree crashing down", category="nature"),
    R(
        r"sound/other/falling_tools",
        "tools falling on the ground|metal objects clattering",
        category="other",
    ),
]


def read_widelands(root: Path = WIDELANDS_ROOT) -> list[Clip]:
    return read_rules("widelands", root, WIDELANDS_RULES, "widelands-data", under="sound")


# ---- Lugaru (lugaru-data) -------------------------------------------------------------------

LUGARU_ROOT = GAMES / "lugaru"
LUGARU_RULES = [
    R(r"sounds/bark", "a dog barking|a big dog", category="dog"),
    R(r"sounds/barkgrowl", "a dog barking and growling|an angry dog", category="dog"),
    R(r"sounds/(growl|snarl)", "an animal growling|a wolf snarling", category="animal"),
    R(r"sounds/hawk", "a hawk screeching|a bird of prey calling", category="bird"),
    R(
        r"sounds/rabbit(attack|chitter|pain)",
        "a rabbit squeaking|a small animal squeal",
        category="animal",
    ),
    R(r"sounds/bushrustle", "a bush rustling|leaves rustling", category="nature"),
    R(r"sounds/desertambient", "desert wind blowing|a windy desert", "ambience", "wind"),
    R(r"sounds/wind", "wind blowing|a howling wind", "ambience", "wind"),
    R(r"sounds/fire(start|end)?", "a fire burning|flames crackling", category="fire"),
    R(r"sounds/footstepgrass", "footsteps on grass|walking on grass", category="footsteps"),
    R(r"sounds/footstepsnow", "footsteps in snow|crunching snow underfoot", category="footsteps"),
    R(r"sounds/footstepstone", "footsteps on stone|walking on a stone floor", category="footsteps"),
    R(r"sounds/(jump|land)", "someone {g1}ing|a thud of feet", category="footsteps"),
    R(
        r"sounds/(high|low|mid|move)?whoosh",
        "a whoosh|a fast swish through the air",
        category="weapon",
    ),
    R(r"sounds/(knifeslice|swordslice|clawslice)", "a blade slicing|a slash", category="weapon"),
    R(
        r"sounds/knife(draw|sheathe)",
        "a knife being drawn from a sheath|metal sliding",
        category="weapon",
    ),
    R(
        r"sounds/(knifeswish|whooshhit)",
        "a knife swishing through the air|a whoosh",
        category="weapon",
    ),
    R(r"sounds/flesh(stab|stabremove)", "a knife stabbing flesh|a gory stab", category="weapon"),
    R(r"sounds/(metalhit|clank)", "metal clanking|a metal hit", category="weapon"),
    R(
        r"sounds/(staffbody|staffhead|staffbreak|swordstaff)",
        "a wooden staff hitting|a stick strike",
        category="weapon",
    ),
    R(r"sounds/(heavyimpact|thud)", "a heavy thud|a body hitting the ground", category="weapon"),
    R(r"sounds/(break|broken)", "something breaking|a crack", category="other"),
    R(r"sounds/(skid|snowskid)", "feet skidding on the ground|a slide", category="footsteps"),
    R(r"sounds/splatter", "a wet splatter|blood splattering", category="water"),
    R(r"sounds/alarm", "an alarm|a warning signal", category="bell"),
]


def read_lugaru(root: Path = LUGARU_ROOT) -> list[Clip]:
    return read_rules("lugaru", root, LUGARU_RULES, "lugaru-data", under="Sounds")


# ---- Red Eclipse (redeclipse-data) ---------------------------------------------------------

REDECLIPSE_ROOT = GAMES / "redeclipse/data/sounds"
REDECLIPSE_RULES = [
    R(
        r"ambience/(alienwind|blowwind|dizzywind|hollowwind|wastewind|wind)|ambience/morph/(stormwind|wind)",
        "wind blowing|a howling wind",
        "ambience",
        "wind",
    ),
    R(r"ambience/cavedrip", "water dripping in a cave|drips echoing", "ambience", "water"),
    R(r"ambience/(creek|river)", "a creek flowing|a stream babbling", "ambience", "water"),
    R(r"ambience/water", "water lapping|flowing water", "ambience", "water"),
    R(
        r"ambience/waterfall(_deep|_huge|_indoor|_medium)?",
        "a waterfall|water crashing down",
        "ambience",
        "water",
    ),
    R(
        r"ambience/(cycadas|nightcrickets)",
        "cicadas and crickets chirping|insects at night",
        "ambience",
        "insect",
    ),
    R(r"ambience/forest", "a forest with birds|woodland ambience", "ambience", "bird"),
    R(
        r"ambience/distant_cars",
        "distant road traffic|cars passing far away",
        "ambience",
        "vehicle",
    ),
    R(r"ambience/(fire|lava)", "a fire roaring|flames burning", "ambience", "fire"),
    R(r"ambience/lavarumble", "a deep rumble|lava bubbling", "ambience", "fire"),
    R(r"ambience/(hum|electro)", "an electrical hum|a buzzing transformer", "ambience", "machine"),
    R(
        r"ambience/(machine|morph/machine|pneumatic)",
        "machinery running|an industrial machine",
        "ambience",
        "machine",
    ),
    R(
        r"ambience/morph/rain|ambience/morph/stormrain",
        "rain falling|a rain storm",
        "ambience",
        "rain",
    ),
    R(r"ambience/morph/stormbolts", "thunder and lightning|a thunderstorm", "ambience", "thunder"),
    R(r"ambience/(door|morph/door)", "a sliding metal door|an automatic door", category="door"),
    R(r"player/(concstep|footstep)", "a footstep on concrete|footsteps", category="footsteps"),
    R(r"player/swimstep", "someone swimming|splashing water", category="water"),
    R(r"player/(jump|land)", "a person {g1}ing|a grunt of effort", category="human_sound"),
    R(r"player/pain", "a man grunting in pain|a pained groan", category="human_sound"),
    R(r"player/death", "a man screaming as he dies|a death scream", category="human_sound"),
    R(
        r"sfx/(splashin|splashout|splosh)",
        "a splash of water|something splashing into water",
        category="water",
    ),
    R(r"sfx/underwater", "underwater bubbling|a muffled underwater sound", category="water"),
    R(r"sfx/(burnfire|burning|burndamage)", "flames burning|a fire whooshing", category="fire"),
    R(r"sfx/extinguish", "a fire being extinguished|a hiss of steam", category="fire"),
    R(r"sfx/debris", "debris falling|rubble clattering", category="explosion"),
    R(r"sfx/alarm", "an alarm sounding|a siren", category="bell"),
    R(r"sfx/(bounce|shell)", "a shell casing bouncing|a metal tinkle", category="gun"),
    R(r"voice/argh", 'a man shouting "argh"|a frustrated shout', "speech", "speech", spoken="argh"),
    R(r"voice/haha", "a man laughing|laughter", category="laughter"),
    R(
        r"voice/(boom|damnit|gogogo|hangon|luckyshot|niceshot|no|noproblem|sorry|suckit|thanks|yes)",
        'a man saying "{g1}"|a male voice',
        "speech",
        "speech",
        spoken="{g1}",
    ),
    R(r"weapons/(pistol|smg|rifle)/primary", "a {g1} firing|a gunshot", category="gun"),
    R(r"weapons/shotgun/primary", "a shotgun firing|a shotgun blast", category="gun"),
    R(r"weapons/(\w+/)?reload", "a gun being reloaded|a weapon reload click", category="gun"),
    R(
        r"weapons/(flamer/primary|burn)",
        "a flamethrower firing|a roaring jet of fire",
        category="fire",
    ),
    R(
        r"weapons/(explode|mine/explode|rifle/explode|shotgun/explode|rocket/primary)",
        "an explosion|a blast",
        category="explosion",
    ),
    R(r"weapons/ricochet", "a bullet ricochet|a ricochet", category="gun"),
    R(
        r"weapons/grenade/beep|weapons/mine/beep",
        "a beeping timer|an electronic beep",
        category="ui",
    ),
]


def read_redeclipse(root: Path = REDECLIPSE_ROOT) -> list[Clip]:
    return read_rules("redeclipse", root, REDECLIPSE_RULES, "redeclipse-data")


# ---- SuperTuxKart (supertuxkart-data) ------------------------------------------------------

STK_ROOT = GAMES / "supertuxkart/data"
STK_RULES = [
    R(r"sfx/wilhelmscream", "a man screaming|a scream", category="human_sound"),
    R(r"sfx/airplane_jetengine", "a jet airplane flying over|a jet engine", "ambience", "aircraft"),
    R(r"sfx/anvil", "a heavy anvil clanging|a metal clang", category="bell"),
    R(r"sfx/(ball_bounce|boing)", "a ball bouncing|a bouncy boing", category="other"),
    R(r"sfx/bowling_(roll|shoot)", "a bowling ball rolling|a heavy ball rolling", category="other"),
    R(r"sfx/car_(accel|revup)", "a car engine revving|a car accelerating", category="vehicle"),
    R(r"sfx/engine_(large|small)", "a {g1} engine running|an engine idling", "ambience", "vehicle"),
    R(r"sfx/crash", "a car crash|a collision", category="vehicle"),
    R(r"sfx/clock", "a clock ticking|ticking", category="bell"),
    R(r"sfx/exotic-birds", "exotic birds calling in a jungle|tropical birds", "ambience", "bird"),
    R(r"sfx/explosion", "an explosion|a blast", category="explosion"),
    R(r"sfx/fireworks_show", "fireworks exploding|a fireworks show", "ambience", "explosion"),
    R(r"sfx/horn", "a car horn honking|a horn", category="vehicle"),
    R(r"sfx/hammer", "a hammer hitting|a hammer blow", category="machine"),
    R(r"sfx/machine_sound", "a machine running|machinery", "ambience", "machine"),
    R(r"sfx/metal_clang", "metal clanging|a metal hit", category="bell"),
    R(r"sfx/rain", "rain falling|heavy rain", "ambience", "rain"),
    R(r"sfx/river_loop", "a river flowing|running water", "ambience", "water"),
    R(r"sfx/waterfall_loop", "a waterfall|water crashing down", "ambience", "water"),
    R(r"sfx/splash", "a splash|something falling into water", category="water"),
    R(r"sfx/skid", "tyres skidding|a car skidding", category="vehicle"),
    R(r"sfx/thunder", "thunder|a thunderclap", category="thunder"),
    R(r"sfx/static-radio", "radio static|a crackling radio", category="ui"),
    R(
        r"sfx/sara_airport_pa",
        "an airport announcement over a loudspeaker|a public address voice",
        "speech",
        "speech",
    ),
    R(
        r"sfx/lenautile_restaurant",
        "a busy restaurant with people talking|restaurant chatter",
        "ambience",
        "human_sound",
    ),
    R(r"sfx/gnu_flute", "a flute melody|someone playing a flute", "instrument", "instrument"),
    R(
        r"sfx/wooden_bridge",
        "a kart driving over a wooden bridge|wooden planks rattling",
        category="vehicle",
    ),
    R(r"sfx/parachute", "a parachute opening|fabric flapping", category="other"),
    R(r"sfx/inflate", "something being inflated|air pumping", category="other"),
    R(
        r"sfx/(race_finish|race_finish_victory|last_lap_fanfare|gp_end)",
        "a short victory fanfare|a jingle",
        "music",
        "music",
        segments=1,
    ),
    R(r"sfx/ugh", "a man grunting|ugh", category="human_sound"),
]


def read_supertuxkart(root: Path = STK_ROOT) -> list[Clip]:
    return read_rules("supertuxkart", root, STK_RULES, "supertuxkart-data", under="sfx")


# ---- Hedgewars (hedgewars-data) -------------------------------------------------------------

HEDGEWARS_ROOT = GAMES / "hedgewars/Data/Sounds"
#: English voice packs and how each sounds
_HEDGEWARS_VOICES = {
    "default": "a cartoon voice",
    "british": "a man with a british accent",
    "classic": "a cartoon voice",
    "hillbilly": "a man with a southern american accent",
    "mobster": "a gangster voice",
    "pirate": "a pirate voice",
    "robot": "a robotic voice",
    "singer": "a singing voice",
    "surfer": "a surfer voice",
}
_HEDGEWARS_WORDS = {
    "byebye": "bye bye",
    "comeonthen": "come on then",
    "cutitout": "cut it out",
    "enemydown": "enemy down",
    "firstblood": "first blood",
    "flyaway": "fly away",
    "gonnagetyou": "gonna get you",
    "illgetyou": "i'll get you",
    "justyouwait": "just you wait",
    "leavemealone": "leave me alone",
    "ohdear": "oh dear",
    "runaway": "run away",
    "sameteam": "same team",
    "solong": "so long",
    "takecover": "take cover",
    "thisoneismine": "this one is mine",
    "watchit": "watch it",
    "watchthis": "watch this",
    "whatthe": "what the",
    "yessir": "yes sir",
    "youllregretthat": "you'll regret that",
    "uh-oh": "uh oh",
    "nooo": "no",
}
_HEDGEWARS_NONWORDS = {
    "laugh": (["{v} laughing", "laughter"], "laughter"),
    "ooff": (["{v} grunting in pain", "an oof of pain"], "human_sound"),
    "ow": (["{v} crying out in pain", "an ow of pain"], "human_sound"),
    "ouch": (['{v} saying "ouch"', "a cry of pain"], "human_sound"),
    "poisoncough": (["{v} coughing", "someone coughing"], "human_sound"),
    "poisonmoan": (["{v} moaning", "a sick moan"], "human_sound"),
    "jump": (["{v} grunting while jumping", "a grunt of effort"], "human_sound"),
    "firepunch": (["{v} shouting a martial arts cry", "a fighting shout"], "human_sound"),
    "hmm": (['{v} saying "hmm"', "someone thinking aloud"], "speech"),
}
HEDGEWARS_RULES = [
    R(
        r"explosion|grenadeimpact|mineimpact|airmine_impact|melonimpact",
        "an explosion|a blast",
        category="explosion",
    ),
    R(r"shotgunfire", "a shotgun firing|a shotgun blast", category="gun"),
    R(r"(shotgun|sniper)reload", "a gun being reloaded|a reload click", category="gun"),
    R(r"minigun|gun|landgun", "a gun firing|gunfire", category="gun"),
    R(r"flamethrower|molotov|blowtorch", "fire burning|a flamethrower", category="fire"),
    R(r"bee", "a bee buzzing|an insect buzzing", category="insect"),
    R(r"plane|rcplane|ufo", "a small plane flying|a propeller plane", category="aircraft"),
    R(
        r"splash|droplet|beewater|planewater|rubberduck_water",
        "a splash of water|something dropping into water",
        category="water",
    ),
    R(r"rubberduck_die|rubberduck_drop", "a rubber duck squeaking|a squeaky toy", category="other"),
    R(r"pickhammer", "a jackhammer drilling|a pneumatic drill", category="machine"),
    R(r"drillgun", "a drill whirring|a power drill", category="machine"),
    R(r"hammer|baseballbat|homerun|bump", "a heavy thump|a whack", category="weapon"),
    R(r"whistle", "someone whistling|a whistle", category="human_sound"),
    R(r"kiss", "a kiss|a smooch", category="human_sound"),
    R(r"whipcrack", "a whip cracking|a whip", category="weapon"),
    R(r"shutterclick", "a camera shutter clicking|a camera", category="ui"),
    R(r"steps", "footsteps|small footsteps", category="footsteps"),
    R(r"minetick|countdown", "a clock ticking|a ticking timer", category="bell"),
    R(r"steam", "steam hissing|a hiss", category="water"),
    R(r"parachute", "a parachute opening|fabric flapping", category="other"),
    R(r"knife_impact", "a knife hitting wood|a thud of a blade", category="weapon"),
    R(
        r"ice_beam(_idle)?|hog_freeze|frozen_hog_impact",
        "ice cracking|a freezing sound",
        category="other",
    ),
    R(r"[1-9][a-g]", "a single piano note|a piano key", "instrument", "instrument"),
]


def read_hedgewars(root: Path = HEDGEWARS_ROOT) -> list[Clip]:
    """Effects by name, plus the spoken lines of the English voice packs (the file name
    is the line: ``Takecover.ogg`` -> "take cover")."""
    clips = read_rules("hedgewars", root, HEDGEWARS_RULES, "hedgewars-data")
    if not root.is_dir():
        return clips
    clips = [c for c in clips if "/voices/" not in c.key]
    for path in sorted((root / "voices").glob("*/*.ogg")):
        pack = path.parent.name.lower()
        if pack not in _HEDGEWARS_VOICES:
            continue  # Russian, Polish, Spanish, Ukrainian packs: the name is not the line
        voice = _HEDGEWARS_VOICES[pack]
        word = re.sub(r"\d+$", "", path.stem.lower())
        if word in _HEDGEWARS_NONWORDS:
            phrases, category = _HEDGEWARS_NONWORDS[word]
            rule = Rule("", tuple(p.format(v=voice) for p in phrases), "sfx", category)
        else:
            line = _HEDGEWARS_WORDS.get(word, word)
            verb = "singing" if pack == "singer" else "saying"
            rule = Rule(
                "",
                (f'{voice} {verb} "{line}"', f'someone saying "{line}"', voice),
                "speech",
                "speech",
                spoken=line,
            )
        rel = path.relative_to(root).as_posix()
        clips.append(_clip("hedgewars", rel, rule, path.stem, path=path))
    return clips


# ---- MegaGlest (megaglest-data) -------------------------------------------------------------

MEGAGLEST_ROOT = GAMES / "megaglest"
_MG_MEN = (
    "technician|horseman|archer|guard|swordman|swordman_berserk|stickfighter|worker|axe_thrower|"
    "archmage|summoner|battlemage|initiate|spearman|warrior|shaman|hero|pikeman|rider|"
    "slinger|defender|farmer|peasant|priest|scout"
)
_MG_WOMEN = "princess|cudgel_lady|cudgel|valkyrie|amazon|sorceress|priestess"
MEGAGLEST_RULES = [
    R(r"tilesets/\w+/sounds/chicken", "a chicken clucking|a hen", category="bird"),
    R(r"tilesets/\w+/sounds/wolf", "a wolf howling|a wolf", category="animal"),
    R(r"tilesets/\w+/sounds/rain", "rain falling|a rain shower", "ambience", "rain"),
    R(
        r"tilesets/(autumn|birch_forest|dark_forest|evergreen|fernland|forest)/sounds/day",
        "birds singing in a forest by day|forest ambience",
        "ambience",
        "bird",
    ),
    R(
        r"tilesets/(autumn|birch_forest|dark_forest|evergreen|fernland|forest)/sounds/night",
        "crickets and owls at night in a forest|night ambience",
        "ambience",
        "insect",
    ),
    R(
        r"tilesets/jungle/sounds/day",
        "a jungle with birds and insects|tropical forest ambience",
        "ambience",
        "bird",
    ),
    R(
        r"tilesets/jungle/sounds/night",
        "a jungle at night with insects|night ambience",
        "ambience",
        "insect",
    ),
    R(
        r"tilesets/desert\w*/sounds/(day|night)",
        "a desert ambience by {g1}|an outdoor ambience in a desert",
        "ambience",
        "nature",
    ),
    R(
        r"tilesets/\w+/sounds/(day|night)",
        "an outdoor ambience|nature sounds",
        "ambience",
        "nature",
    ),
    R(
        r"data/core/water_sounds/water",
        "a splash of water|something falling into water",
        category="water",
    ),
    R(r"techs/.*/(pig|cow|sheep)_(select|ack|die)", "a {g1}|a farm animal", category="animal"),
    R(r"techs/.*/sounds/sheep", "a sheep bleating|sheep", category="animal"),
    R(
        rf"techs/.*/({_MG_MEN})_(ack|select)",
        "a man's voice acknowledging an order|a soldier answering|a man speaking a short phrase",
        "speech",
        "speech",
    ),
    R(
        rf"techs/.*/({_MG_WOMEN})_(ack|select)",
        "a woman's voice acknowledging an order|a woman speaking a short phrase",
        "speech",
        "speech",
    ),
    R(
        rf"techs/.*/({_MG_MEN})_die",
        "a man screaming as he dies|a death cry",
        category="human_sound",
    ),
    R(
        rf"techs/.*/({_MG_WOMEN})_die",
        "a woman screaming|a female death cry",
        category="human_sound",
    ),
    R(
        r"techs/.*/(swordman|swordman_berserk|warrior|guard|spearman|pikeman)_attack",
        "swords clashing in a fight|metal weapons clanging",
        category="weapon",
    ),
    R(
        r"techs/.*/(archer|tower|defense_tower)_attack",
        "an arrow being shot|a bow twang",
        category="weapon",
    ),
    R(r"techs/.*/arrow_hit", "an arrow hitting its target|an arrow impact", category="weapon"),
    R(r"techs/.*/worker_mine", "a pickaxe hitting rock|mining", category="machine"),
    R(r"techs/.*/worker_harvest_wood", "an axe chopping wood|a woodcutter", category="machine"),
    R(
        r"techs/.*/(worker|technician)_build",
        "construction hammering|building work",
        category="machine",
    ),
    R(r"techs/.*/anvil", "a hammer striking an anvil|a blacksmith", category="machine"),
    R(r"techs/.*/tech_building_fall", "a building collapsing|rubble falling", category="explosion"),
    R(
        r"techs/.*/catapult_(walk|attack)",
        "a wooden catapult creaking|a catapult",
        category="weapon",
    ),
    R(r"techs/.*/horseman_walk", "horses trotting|hooves on the ground", category="animal"),
    R(r"techs/.*/music/\w+", "instrumental music|background music", "music", "music"),
]


#: MegaGlest has ~400 takes of units answering orders that share one description; more
#: than a few per unit would flood the corpus with one caption
MEGAGLEST_SPEECH_PER_UNIT = 3


def read_megaglest(root: Path = MEGAGLEST_ROOT) -> list[Clip]:
    clips = read_rules("megaglest", root, MEGAGLEST_RULES, "megaglest-data")
    out, per_unit = [], Counter()
    for c in clips:
        if c.kind == "music":
            continue  # soundtracks are read by the game_music source
        if c.kind == "speech":
            unit = c.key.rsplit("/", 1)[-1]
            unit = re.sub(r"\d+$", "", unit)
            per_unit[unit] += 1
            if per_unit[unit] > MEGAGLEST_SPEECH_PER_UNIT:
                continue
        out.append(c)
    return out


# ---- Warmux (warmux-data) -------------------------------------------------------------------

WARMUX_ROOT = GAMES / "warmux/sound/default"
WARMUX_RULES = [
    R(
        r"weapons/(dynamite_exp|explosion|riot_bomb_exp|cluzooka_hit)",
        "an explosion|a blast",
        category="explosion",
    ),
    R(r"weapons/dynamite_fuze", "a fuse burning|a hissing fuse", category="fire"),
    R(r"weapons/(gun|m16|shotgun)", "a gun firing|a gunshot", category="gun"),
    R(r"weapons/m16_cartridge", "bullet casings falling|brass shells tinkling", category="gun"),
    R(
        r"weapons/(aircraft_flying|aircraft_bomb_falling)",
        "a plane flying over|a bomb whistling down",
        category="aircraft",
    ),
    R(
        r"weapons/(rocket_flying|auto_rocket_flying|riot_flying)",
        "a rocket flying|a whoosh of a rocket",
        category="aircraft",
    ),
    R(r"weapons/(flame|embers|blowtorch)", "fire burning|a blowtorch hissing", category="fire"),
    R(r"weapons/jetpack", "a jetpack thrusting|a rocket thruster", category="aircraft"),
    R(r"weapons/airhammer_used", "a jackhammer drilling|a pneumatic hammer", category="machine"),
    R(
        r"weapons/(anvil_collision|anvil_fall)",
        "a heavy anvil landing|a metal clang",
        category="bell",
    ),
    R(r"weapons/baseball|weapons/homerun|weapons/slap", "a whack|a hit", category="weapon"),
    R(r"weapons/mine_beep", "a beeping timer|an electronic beep", category="ui"),
    R(r"weapons/ricoche", "a bullet ricochet|a ricochet", category="gun"),
    R(
        r"misc/box_(falling|hitting_ground)",
        "a wooden crate dropping|a box landing with a thud",
        category="other",
    ),
    R(r"misc/step", "a footstep|small steps", category="footsteps"),
    R(r"misc/sink", "something sinking into water|a gurgle", category="water"),
    R(r"voices/death", "a character dying with a cry|a death cry", category="human_sound"),
    R(
        r"voices/injured_(high|light|medium)",
        "a character crying out in pain|an ouch",
        category="human_sound",
    ),
    R(
        r"voices/(jump|backjump|superjump)",
        "a grunt while jumping|a small hup",
        category="human_sound",
    ),
]


def read_warmux(root: Path = WARMUX_ROOT) -> list[Clip]:
    return read_rules("warmux", root, WARMUX_RULES, "warmux-data")


# ---- SuperTux (supertux-data) ---------------------------------------------------------------

SUPERTUX_ROOT = GAMES / "supertux2"
SUPERTUX_RULES = [
    R(
        r"sounds/(brick|cracking|icecrash|crystallo-shatter)",
        "something cracking and breaking|a brick breaking",
        category="glass",
    ),
    R(r"sounds/(explosion|firecracker)", "an explosion|a firecracker bang", category="explosion"),
    R(r"sounds/fireworks", "fireworks exploding|fireworks", category="explosion"),
    R(r"sounds/(fire|flame|sizzle)", "a flame whooshing|fire", category="fire"),
    R(r"sounds/(lava)", "lava bubbling|molten rock bubbling", category="fire"),
    R(r"sounds/(rain)", "rain falling|rain", "ambience", "rain"),
    R(r"sounds/(thunder|lightning)", "thunder|a thunderclap", category="thunder"),
    R(r"sounds/(splash)", "a splash|water splashing", category="water"),
    R(r"sounds/waterfall", "a waterfall|rushing water", "ambience", "water"),
    R(r"sounds/(gulp)", "someone gulping|swallowing", category="human_sound"),
    R(r"sounds/(saw)", "a saw cutting|a sawing sound", category="machine"),
    R(r"sounds/(phone)", "a phone ringing|a telephone", category="bell"),
    R(r"sounds/(ticking)", "a clock ticking|ticking", category="bell"),
    R(r"sounds/(savebell|savebell_low)", "a bell ringing|a chime", category="bell"),
    R(r"sounds/(door)", "a door opening|a door", category="door"),
    R(r"sounds/(yeti_roar)", "a monster roaring|a big roar", category="animal"),
    R(r"sounds/(tree_howling)", "wind howling through a tree|an eerie howl", category="wind"),
    R(r"sounds/(wood)", "a wooden knock|wood hitting wood", category="other"),
    R(r"sounds/(squish|splat)", "a squish|a wet splat", category="other"),
]


def read_supertux(root: Path = SUPERTUX_ROOT) -> list[Clip]:
    return read_rules("supertux", root, SUPERTUX_RULES, "supertux-data", under="sounds")


# ---- Scorched 3D (scorched3d-data) -----------------------------------------------------------

SCORCHED_ROOT = GAMES / "scorched3d/data"
SCORCHED_RULES = [
    R(
        r".*/wav/explosions/(exp|tank|meteor|shockwave|quake)\w*",
        "an explosion|a large blast",
        category="explosion",
    ),
    R(
        r".*/wav/explosions/(thunder|lightning|lightningbolt)",
        "a thunderclap|lightning striking",
        category="thunder",
    ),
    R(r".*/wav/explosions/(bees|beesting)", "a swarm of bees buzzing|bees", category="insect"),
    R(r".*/wav/misc/carhorn", "a car horn honking|a horn", category="vehicle"),
    R(r".*/wav/misc/cessna", "a small propeller plane flying over|a cessna", category="aircraft"),
    R(r".*/wav/misc/helicopter", "a helicopter flying|helicopter blades", category="aircraft"),
    R(r".*/wav/misc/cheeringloop", "a crowd cheering|people cheering", "ambience", "human_sound"),
    R(r".*/wav/misc/citysounds", "city street noise|an urban ambience", "ambience", "vehicle"),
    R(r".*/wav/misc/factoryloop", "a factory running|industrial machinery", "ambience", "machine"),
    R(r".*/wav/misc/(cows|moo)", "a cow mooing|cows", category="animal"),
    R(r".*/wav/misc/sheep", "a sheep bleating|sheep", category="animal"),
    R(r".*/wav/misc/rooster", "a rooster crowing|a rooster", category="bird"),
    R(r".*/wav/misc/dog", "a dog barking|a dog", category="dog"),
    R(r".*/wav/misc/(firetruck|policecar)", "a {g1} siren|an emergency siren", category="vehicle"),
    R(r".*/wav/misc/(scream|screaming)", "a person screaming|screams", category="human_sound"),
    R(r".*/wav/shoot/machinegun", "a machine gun firing|rapid gunfire", category="gun"),
    R(r".*/wav/shoot/shotgun", "a shotgun firing|a shotgun blast", category="gun"),
    R(
        r".*/wav/shoot/(launch|tripleshot|large|xlarge|small|medium)",
        "a cannon firing|a launcher firing",
        category="gun",
    ),
]


def read_scorched3d(root: Path = SCORCHED_ROOT) -> list[Clip]:
    return read_rules("scorched3d", root, SCORCHED_RULES, "scorched3d-data")


# ---- Freeciv (freeciv-data): stdsounds.soundspec names what each sound is used for ---------

FREECIV_ROOT = GAMES / "freeciv"
FREECIV_RULES = [
    R(r"stdsounds/lrgcan", "a large cannon firing|a heavy gun", category="gun"),
    R(r"stdsounds/medcan", "a cannon firing|an artillery shot", category="gun"),
    R(r"stdsounds/lrgexpl", "a large explosion|a bomb blast", category="explosion"),
    R(r"stdsounds/smlexpl", "a small explosion|a blast", category="explosion"),
    R(r"stdsounds/mgbar", "machine gun fire|a burst of gunfire", category="gun"),
    R(r"stdsounds/mgheavy", "a heavy machine gun firing|rapid gunfire", category="gun"),
    R(r"stdsounds/mortar", "a mortar firing|an artillery shot", category="gun"),
    R(r"stdsounds/splash", "a splash|a cannonball hitting water", category="water"),
    R(r"stdsounds/thover", "a hovering vehicle humming|an engine hum", category="vehicle"),
    R(r"stdsounds/tread", "tank treads rolling|a tank moving", category="vehicle"),
    R(r"stdsounds/foot", "marching footsteps|soldiers marching", category="footsteps"),
    R(r"stdsounds/woodbrk", "wood breaking|splintering wood", category="other"),
    R(r"stdsounds/metbrk", "metal breaking|a metal crash", category="other"),
    R(r"stdsounds/wall", "a stone wall crumbling|stones falling", category="explosion"),
]


def read_freeciv(root: Path = FREECIV_ROOT) -> list[Clip]:
    return read_rules("freeciv", root, FREECIV_RULES, "freeciv-data", under="stdsounds")


# ---- soundtracks of the packages above (game_music) ----------------------------------------

#: (package, folder below /usr/share/games, file glob) of corpus v2's soundtracks
MUSIC_DIRS_V2 = (
    ("widelands-data", "widelands/data/music", "*.ogg"),
    ("supertuxkart-data", "supertuxkart/data/music", "*.ogg"),
    ("supertux-data", "supertux2/music", "**/*.ogg"),
    ("hedgewars-data", "hedgewars/Data/Music", "*.ogg"),
    ("warmux-data", "warmux/music", "**/*.ogg"),
    ("redeclipse-data", "redeclipse/data/sounds/music", "*.ogg"),
    ("megaglest-data", "megaglest", "**/music/*.ogg"),
    ("lincity-ng-data", "lincity-ng/music", "**/*.ogg"),
    ("colobot-common-sounds", "colobot/music", "*.ogg"),
    ("extremetuxracer-data", "etr/music", "*.ogg"),
    ("lugaru-data", "lugaru/Sounds", "Music*.ogg"),
)
#: ... and corpus v3's: v2's plus the games of offline_sources/games_v3.py
MUSIC_DIRS = (
    *MUSIC_DIRS_V2,
    ("flare-game", "flare/mods/fantasycore/music", "*_theme.ogg"),
    ("btanks-data", "btanks/data/tunes", "*.ogg"),
    ("torcs-data", "torcs/data/music", "*.ogg"),
)
_MUSIC_RULE = R(
    r".*",
    "instrumental music|a music track called {name}|background music from a video game",
    "music",
    "music",
)
_MUSIC_RULE_UNTITLED = R(
    r".*",
    "instrumental music|background music from a video game|a game soundtrack",
    "music",
    "music",
)


def _music_clip(package: str, rel: str, stem: str, **where) -> Clip:
    words = file_words(stem)
    titled = len(words) >= 4 and not re.fullmatch(
        r"(music|track|theme|song|menu|mix|loop)\b.*", words
    )
    rule = _MUSIC_RULE if titled else _MUSIC_RULE_UNTITLED
    clip = _clip("game_music", f"{package}/{rel}", rule, stem, **where)
    clip.label = words or "music"
    return clip


def read_game_music(
    games: Path = GAMES,
    zeroad_zip: Path = ZEROAD_ZIP,
    dirs: tuple[tuple[str, str, str], ...] = MUSIC_DIRS,
) -> list[Clip]:
    """Instrumental soundtracks: at most :data:`MUSIC_SEGMENTS` pieces of each track."""
    clips = []
    for package, folder, pattern in dirs:
        root = games / folder
        if not root.is_dir():
            continue
        for path in sorted(root.glob(pattern)):
            rel = path.relative_to(root).as_posix()
            clips.append(_music_clip(package, rel, path.stem, path=path))
    if zeroad_zip.is_file():
        with zipfile.ZipFile(zeroad_zip) as z:
            members = sorted(n for n in z.namelist() if n.startswith("audio/music/"))
        for member in members:
            if member.lower().endswith(".ogg"):
                stem = member.rsplit("/", 1)[-1][:-4]
                clips.append(
                    _music_clip(
                        "0ad-data",
                        member,
                        stem,
                        render=functools.partial(_decode_member, zeroad_zip, member),
                        origin=f"{zeroad_zip}:{member}",
                    )
                )
    if not clips:
        logger.warning("no game soundtrack found (install the packages of MUSIC_DIRS); skipping")
    return clips


_MUSIC_LICENCE = "per package: CC-BY-SA-3.0 (0ad, megaglest, flare), GPL-2+ / GPL-3+ (the others)"

SOURCES_V2: dict[str, Source] = {
    "zeroad": Source(lambda seed: read_zeroad(), "CC-BY-SA-3.0", ("0ad-data",)),
    "flightgear": Source(lambda seed: read_flightgear(), "GPL-2+", ("flightgear-data-base",)),
    "lincity": Source(lambda seed: read_lincity(), "GPL-2+", ("lincity-ng-data",)),
    "widelands": Source(lambda seed: read_widelands(), "GPL-2+", ("widelands-data",)),
    "lugaru": Source(
        lambda seed: read_lugaru(),
        "GPL-2+ / CC-BY-SA-3.0 / CC-BY-SA-4.0 (per file)",
        ("lugaru-data",),
    ),
    "redeclipse": Source(
        lambda seed: read_redeclipse(),
        "CC-BY-SA-3.0 / CC-BY-3.0 (per file)",
        ("redeclipse-data",),
    ),
    "supertuxkart": Source(
        lambda seed: read_supertuxkart(),
        "CC-BY-SA-3.0 / GPL-2+ / CC0 (per file)",
        ("supertuxkart-data",),
    ),
    "hedgewars": Source(
        lambda seed: read_hedgewars(), "GFDL-1.3 / CC-BY-SA-3.0 (per file)", ("hedgewars-data",)
    ),
    "megaglest": Source(lambda seed: read_megaglest(), "CC-BY-SA-3.0", ("megaglest-data",)),
    "warmux": Source(lambda seed: read_warmux(), "GPL-2+", ("warmux-data",)),
    "supertux": Source(lambda seed: read_supertux(), "GPL-3+", ("supertux-data",)),
    "scorched3d": Source(lambda seed: read_scorched3d(), "GPL-2+", ("scorched3d-data",)),
    "freeciv": Source(lambda seed: read_freeciv(), "GPL-2+ / public domain", ("freeciv-data",)),
    "game_music": Source(
        lambda seed: read_game_music(),
        _MUSIC_LICENCE,
        tuple(sorted({p for p, _, _ in MUSIC_DIRS} | {"0ad-data"})),
    ),
}

#: ``game_music`` as corpus v2 had it (the soundtracks of v2's packages only)
GAME_MUSIC_V2 = Source(
    lambda seed: read_game_music(dirs=MUSIC_DIRS_V2),
    "per package: CC-BY-SA-3.0 (0ad, megaglest), GPL-2+ / GPL-3+ (the others)",
    tuple(sorted({p for p, _, _ in MUSIC_DIRS_V2} | {"0ad-data"})),
)
