"""Readers for the sound packages added in offline corpus v3 (issue 16).

The same rule readers as :mod:`~audioseek.data.offline_sources.games` (a regular
expression over the normalised path -> phrases a person would write; a file no rule
describes is left out), for seven more Debian packages whose sounds are real recordings
named by what is heard. Chosen for the categories the held-out test asks for and corpus
v2 lacks: farm animals and birds (Simutrans, Battle Tanks, Flare, Unknown Horizons), crafts
(Unknown Horizons' smith, stonemason, lumberjack, windmill), cars (TORCS: 25 recorded
engines, crashes, skids), ambiences (rain, wind, river, cave drips, swamp, city) and
foley (Flare's footsteps on 4 surfaces, coins, pages, cloth).

=====================  ==================================  =============================
source                 Debian package                      what
=====================  ==================================  =============================
``flare``              ``flare-game``                      ambiences, foley, footsteps,
                                                           voices (CC-BY-SA-3.0+)
``simutrans``          ``simutrans-pak64``                 vehicles, ships, trains,
                                                           horses, seagulls (Artistic-1.0)
``torcs``              ``torcs-data``                      car engines, crashes, skids
``unknown_horizons``   ``unknown-horizons``                crafts, sheep, bells, a tavern
``lmms``               ``lmms-common``                     drums, instruments, applause
``btanks``             ``btanks-data``                     ambiences, engines, a cow,
                                                           guns, explosions
``freedink``           ``freedink-data``                   weapons, a bird, screams
=====================  ==================================  =============================

Left out after reading their file lists (docs/offline_model.md): ``boswars-data`` (unit
voices with unknown words), ``endless-sky-data`` and ``bzflag-data`` (sci-fi weapons),
``neverball-common`` (interface sounds), ``xmoto-data`` (music only),
``openarena-data``, ``trigger-rally-data`` and ``ufoai-sound`` (no audio files in the
package itself).
"""

from __future__ import annotations

from pathlib import Path

from audioseek.data.offline_sources.base import Clip, Source
from audioseek.data.offline_sources.games import GAMES, R, _clip, read_rules

# ---- Flare (flare-game) ---------------------------------------------------------------

FLARE_ROOT = GAMES / "flare/mods"
_FLARE = r"(?:fantasycore|empyrean_campaign)/soundfx"
FLARE_RULES = [
    R(rf"{_FLARE}/environment/rain", "rain falling|steady rain", "ambience", "rain"),
    R(rf"{_FLARE}/environment/wind_loop", "wind blowing|a strong wind", "ambience", "wind"),
    R(r"fantasycore/music/wind_ambient", "wind howling|a windy ambience", "ambience", "wind"),
    R(
        rf"{_FLARE}/environment/cave_wind_loop",
        "wind blowing through a cave|a hollow howling wind",
        "ambience",
        "wind",
    ),
    R(
        rf"{_FLARE}/environment/cave_droplets_loop",
        "water dripping in a cave|drops of water falling",
        "ambience",
        "water",
    ),
    R(
        rf"{_FLARE}/environment/river_loop",
        "a river flowing|a babbling stream",
        "ambience",
        "water",
    ),
    R(
        rf"{_FLARE}/environment/bird_twitter_loop",
        "birds twittering|birds singing in the trees",
        "ambience",
        "bird",
    ),
    R(
        rf"{_FLARE}/environment/forest_owl_loop",
        "an owl hooting in a forest at night|an owl",
        "ambience",
        "bird",
    ),
    R(rf"{_FLARE}/environment/raven_loop", "ravens cawing|a raven croaking", "ambience", "bird"),
    R(
        rf"{_FLARE}/environment/open_fire(_loop)?",
        "a fire crackling|an open fire burning",
        category="fire",
    ),
    R(
        rf"{_FLARE}/environment/anvil_loop",
        "a blacksmith hammering on an anvil|hammer blows on an anvil",
        "ambience",
        "machine",
    ),
    R(rf"{_FLARE}/environment/falling_rocks", "rocks falling|a rockfall", category="nature"),
    R(
        rf"{_FLARE}/environment/minecart",
        "a mine cart rolling on rails|a rattling mine cart",
        category="vehicle",
    ),
    R(
        rf"{_FLARE}/environment/stairs",
        "footsteps on stairs|someone climbing stairs",
        category="footsteps",
    ),
    R(
        rf"{_FLARE}/environment/stone_open",
        "a heavy stone door grinding open|stone scraping on stone",
        category="door",
    ),
    R(rf"{_FLARE}/door_open", "a door opening|a creaking door", category="door"),
    R(
        rf"{_FLARE}/wood_open",
        "a wooden chest opening|a wooden lid creaking open",
        category="door",
    ),
    R(rf"{_FLARE}/female_die", "a woman screaming as she dies|a death cry", category="human_sound"),
    R(rf"{_FLARE}/male_die", "a man screaming as he dies|a death cry", category="human_sound"),
    R(rf"{_FLARE}/female_hit", "a woman grunting in pain|a cry of pain", category="human_sound"),
    R(rf"{_FLARE}/male_hit", "a man grunting in pain|a cry of pain", category="human_sound"),
    R(rf"{_FLARE}/heartbeat", "a heart beating|a heartbeat", category="human_sound"),
    R(rf"{_FLARE}/melee_attack", "a sword swinging|a blade whooshing", category="weapon"),
    R(
        rf"{_FLARE}/npcs/female_merchant",
        "a woman speaking|a shopkeeper talking",
        "speech",
        "speech",
    ),
    R(rf"{_FLARE}/npcs/male_merchant", "a man speaking|a shopkeeper talking", "speech", "speech"),
    R(rf"{_FLARE}/steps/step_cloth", "soft footsteps|quiet footsteps", category="footsteps"),
    R(
        rf"{_FLARE}/steps/step_leather",
        "footsteps in leather boots|footsteps",
        category="footsteps",
    ),
    R(
        rf"{_FLARE}/steps/step_metal",
        "footsteps in metal armour|clanking armoured footsteps",
        category="footsteps",
    ),
    R(
        rf"{_FLARE}/steps/step_echo",
        "footsteps echoing in a hall|echoing footsteps",
        category="footsteps",
    ),
    R(rf"{_FLARE}/inventory/inventory_book", "a book being put down|a book thud", category="other"),
    R(rf"{_FLARE}/inventory/inventory_cloth", "cloth rustling|fabric rustling", category="other"),
    R(rf"{_FLARE}/inventory/inventory_coins", "coins jingling|coins clinking", category="other"),
    R(rf"{_FLARE}/inventory/inventory_leather", "leather creaking|a leather bag", category="other"),
    R(rf"{_FLARE}/inventory/inventory_maille", "chain mail rattling|chain mail", category="other"),
    R(rf"{_FLARE}/inventory/inventory_metal", "metal clanking|a metal object", category="other"),
    R(rf"{_FLARE}/inventory/inventory_page", "a page turning|paper rustling", category="other"),
    R(
        rf"{_FLARE}/inventory/inventory_potion",
        "a glass bottle clinking|a small glass bottle",
        category="glass",
    ),
    R(rf"{_FLARE}/inventory/inventory_wood", "wood knocking|a wooden object", category="other"),
]


def read_flare(root: Path = FLARE_ROOT) -> list[Clip]:
    return read_rules("flare", root, FLARE_RULES, "flare-game")


# ---- Simutrans (simutrans-pak64) -------------------------------------------------------

SIMUTRANS_ROOT = GAMES / "simutrans/pak/sound"
SIMUTRANS_RULES = [
    # arctic, desert and tropic are climate ambiences whose names do not say what is heard
    R(r"water", "water lapping|waves on a shore", category="water"),
    R(r"forest", "a forest ambience with birds|birds in a forest", "ambience", "nature"),
    R(r"seagulls", "seagulls crying|gulls at the seaside", category="bird"),
    R(r"horse", "a horse neighing|a horse", category="animal"),
    R(r"boat-horn", "a ship's horn blowing|a boat horn", category="vehicle"),
    R(r"bus", "a bus driving past|a bus engine", category="vehicle"),
    R(r"truck", "a truck driving past|a lorry engine", category="vehicle"),
    R(r"diesel", "a diesel locomotive|a diesel train engine", category="train"),
    R(r"steam", "a steam locomotive puffing|a steam train", category="train"),
    R(r"crossing", "a railway crossing bell ringing|a level crossing", category="bell"),
    R(r"comet-jet", "a jet airliner flying over|a jet plane", category="aircraft"),
    R(r"planelow", "a propeller plane flying low|a small plane", category="aircraft"),
    R(r"buzzsaw", "a circular saw cutting|a buzz saw", category="machine"),
    R(r"jackhammer", "a jackhammer drilling|a pneumatic drill", category="machine"),
    R(r"tree-cutting", "a tree being cut down|woodcutting", category="machine"),
    R(r"gavel", "a gavel knocking|an auctioneer's gavel", category="other"),
    R(r"explosion", "an explosion|a blast", category="explosion"),
]


def read_simutrans(root: Path = SIMUTRANS_ROOT) -> list[Clip]:
    return read_rules("simutrans", root, SIMUTRANS_RULES, "simutrans-pak64")


# ---- TORCS (torcs-data) ------------------------------------------------------------------

TORCS_ROOT = GAMES / "torcs/data/sound"
#: engine recordings (file stem -> the car), each a steady engine loop
_TORCS_CARS = {
    "206_engine": "peugeot 206",
    "935": "porsche 935",
    "944": "porsche 944",
    "alpha-romeo": "alfa romeo",
    "cleanviper": "dodge viper",
    "viper2": "dodge viper",
    "viper_long": "dodge viper",
    "clkdtmb2": "mercedes clk",
    "corolla1400hi2": "toyota corolla",
    "engine-1": "racing car",
    "evo7_engine": "mitsubishi lancer evo",
    "evo7_engine_f": "mitsubishi lancer evo",
    "f360": "ferrari 360",
    "ferrarif355": "ferrari f355",
    "ferrarif50": "ferrari f50",
    "ford1b": "ford",
    "ford2c": "ford",
    "gt40": "ford gt40",
    "impreza2002_engine": "subaru impreza",
    "lamborghinidiablo": "lamborghini diablo",
    "lotus": "lotus",
    "mclarenf1": "mclaren f1",
    "nsx": "honda nsx",
    "porsche_engine": "porsche",
    "renault-v10": "formula one v10",
    "xj220": "jaguar xj220",
}
TORCS_RULES = [
    R(r"backfire(_loop)?", "a car engine backfiring|an exhaust backfire", category="vehicle"),
    R(r"bottom_crash", "a car scraping its underside|a car bottoming out", category="vehicle"),
    R(r"crash", "a car crash|cars colliding with a bang", category="vehicle"),
    R(r"gear_change", "a car changing gear|a gearbox clunk", category="vehicle"),
    R(r"locked", "tyres skidding under hard braking|locked wheels", category="vehicle"),
    R(r"out_of_road", "a car driving off the road onto gravel|tyres on gravel", category="vehicle"),
    R(r"road-ride", "tyres rolling on a road|road noise of a driving car", category="vehicle"),
    R(r"skid(_tyres)?", "tyres screeching|a car skidding", category="vehicle"),
    R(r"skid_metal", "metal scraping along the road|a car scraping a barrier", category="vehicle"),
    R(r"turbo", "a turbocharger whistling|a turbo spooling up", category="vehicle"),
]
_TORCS_ENGINE = R(
    r".*", "a {g1} engine running|a car engine revving|a sports car engine", category="vehicle"
)


def read_torcs(root: Path = TORCS_ROOT) -> list[Clip]:
    """Effects by rule, and the engine recordings by their raw file stem: the names are
    models (``f360``, ``935``) that the rules' normalisation (trailing numbers off) would
    erase (no effect rule matches an engine's normalised name)."""
    clips = read_rules("torcs", root, TORCS_RULES, "torcs-data")
    if not root.is_dir():
        return clips
    for path in sorted(root.glob("*.wav")):
        car = _TORCS_CARS.get(path.stem.lower())
        if car is not None:
            rel = path.relative_to(root).as_posix()
            clips.append(_clip("torcs", rel, _TORCS_ENGINE, path.stem, (car,), path=path))
    return sorted(clips, key=lambda c: c.key)


# ---- Unknown Horizons (unknown-horizons) ---------------------------------------------------

UH_ROOT = Path("/usr/share/unknown-horizons/content/audio")
UH_RULES = [
    # interface sounds, event jingles, the warehouse (what is heard is not named) and the
    # voice lines (their words are not in the package) are left out
    R(r"sounds/chapel", "church bells ringing|a chapel bell", category="bell", segments=3),
    R(r"sounds/ships_bell", "a ship's bell ringing|a ship's bell", category="bell"),
    R(
        r"sounds/lumberjack(_long)?",
        "an axe chopping wood|a lumberjack at work",
        category="machine",
    ),
    R(r"sounds/smith", "a blacksmith hammering|a smith at an anvil", category="machine"),
    R(r"sounds/stonemason", "a stonemason chiselling stone|stone being cut", category="machine"),
    R(
        r"sounds/windmill",
        "a windmill turning|the creaking sails of a windmill",
        "ambience",
        "machine",
    ),
    R(
        r"sounds/sheepfield",
        "sheep bleating in a field|a flock of sheep",
        "ambience",
        "animal",
    ),
    R(
        r"sounds/main_square",
        "a busy town square|people chatting in a market square",
        "ambience",
        "human_sound",
    ),
    R(
        r"sounds/tavern",
        "people talking and drinking in a tavern|a busy inn",
        "ambience",
        "human_sound",
    ),
    R(r"sounds/flippage", "a page being turned|paper rustling", category="other"),
]


def read_unknown_horizons(root: Path = UH_ROOT) -> list[Clip]:
    return read_rules("unknown_horizons", root, UH_RULES, "unknown-horizons", under="sounds")


# ---- LMMS (lmms-common) ---------------------------------------------------------------------

LMMS_ROOT = Path("/usr/share/lmms/samples")
LMMS_RULES = [
    R(r"drums/(bassdrum|kick)", "a kick drum|a bass drum hit", "drum", "drum"),
    R(r"drums/bassdrum_acoustic", "an acoustic bass drum|a kick drum", "drum", "drum"),
    R(r"drums/kick_(\w+)", "a {g1} kick drum|a kick drum", "drum", "drum"),
    R(r"drums/clap", "a hand clap|a clap sample", "drum", "drum"),
    R(r"drums/clav", "claves clicking|a clave hit", "drum", "drum"),
    R(r"drums/crash", "a crash cymbal|a cymbal crash", "drum", "drum"),
    R(r"drums/hihat_closed", "a closed hi-hat|a hi-hat tick", "drum", "drum"),
    R(r"drums/hihat_foot_pedal", "a hi-hat foot pedal|a hi-hat chick", "drum", "drum"),
    R(r"drums/hihat_opened", "an open hi-hat|a hi-hat hiss", "drum", "drum"),
    R(r"drums/ride", "a ride cymbal|a cymbal ping", "drum", "drum"),
    R(r"drums/(snare_)?rim", "a rim shot|a snare rim click", "drum", "drum"),
    R(r"drums/sidestick", "a side stick on a snare drum|a cross-stick click", "drum", "drum"),
    R(r"drums/shaker", "a shaker|a rattling shaker", "drum", "drum"),
    R(r"drums/snare(_\w+)?", "a snare drum hit|a snare", "drum", "drum"),
    R(r"drums/tom(_hi|_low|_mid)?", "a tom drum|a tom-tom hit", "drum", "drum"),
    R(r"drums/wood", "a wood block|a wooden knock", "drum", "drum"),
    R(r"beats/909beat", "a drum machine beat|a drum loop", "drum", "drum"),
    R(r"beats/break", "a breakbeat drum loop|a drum break", "drum", "drum"),
    R(r"beats/electro_beat", "an electro drum beat|an electronic drum loop", "drum", "drum"),
    R(r"beats/house_loop", "a house music drum loop|a four on the floor beat", "drum", "drum"),
    R(r"beats/jungle", "a jungle breakbeat|a fast drum loop", "drum", "drum"),
    R(r"beats/rave_(hihat|kick|snare)", "a rave {g1}|an electronic {g1}", "drum", "drum"),
    R(
        r"basses/(bass|bass_\w+|rave_bass|synth_acid|techno_synth|horror_bass)",
        "a synth bass note|an electronic bass",
        "instrument",
        "instrument",
    ),
    R(
        r"bassloops/\w+",
        "a synth bass line|an electronic bass loop",
        "instrument",
        "instrument",
    ),
    R(r"instruments/bassslap", "a slapped bass guitar|a slap bass", "instrument", "instrument"),
    R(r"instruments/cello", "a cello|a bowed cello note", "instrument", "instrument"),
    R(
        r"instruments/church_organ",
        "a church organ chord|a pipe organ",
        "instrument",
        "instrument",
    ),
    R(r"instruments/e_organ", "an electric organ|an organ chord", "instrument", "instrument"),
    R(
        r"instruments/e_piano_accord",
        "an electric piano chord|an electric piano",
        "instrument",
        "instrument",
    ),
    R(r"instruments/flute", "a flute|a flute note", "instrument", "instrument"),
    R(
        r"instruments/harpsichord",
        "a harpsichord|a plucked harpsichord",
        "instrument",
        "instrument",
    ),
    R(r"instruments/piano", "a piano note|a piano", "instrument", "instrument"),
    R(
        r"instruments/steel_guitar",
        "a steel-string guitar|an acoustic guitar",
        "instrument",
        "instrument",
    ),
    R(
        r"instruments/steel_guitar_\w+_distorted",
        "a distorted electric guitar|an overdriven guitar",
        "instrument",
        "instrument",
    ),
    R(r"instruments/trumpet", "a trumpet|a trumpet note", "instrument", "instrument"),
    R(
        r"instruments/violin_(double_stop|fingered)",
        "a violin|a bowed violin",
        "instrument",
        "instrument",
    ),
    R(
        r"instruments/violin_pizzicato",
        "a violin plucked pizzicato|plucked violin strings",
        "instrument",
        "instrument",
    ),
    R(r"latin/latin_brass", "a latin brass section|trumpets playing", "instrument", "instrument"),
    R(r"latin/latin_guitar", "a latin guitar riff|a strummed guitar", "instrument", "instrument"),
    R(r"stringsnpads/strings", "a string section|orchestral strings", "instrument", "instrument"),
    R(r"stringsnpads/chorus", "a choir singing|voices singing together", "instrument", "music"),
    R(r"effects/scratch", "a record scratch|vinyl scratching", category="other"),
    R(r"effects/wind_chimes", "wind chimes tinkling|wind chimes", category="bell"),
    R(r"misc/applause", "applause|an audience clapping", category="human_sound"),
    R(r"misc/breath", "a person breathing|a breath", category="human_sound"),
    R(
        r"misc/raving_crowd",
        "a crowd cheering|a cheering crowd at a concert",
        category="human_sound",
    ),
    R(r"misc/metronome", "a metronome ticking|a metronome click", category="other"),
]


def read_lmms(root: Path = LMMS_ROOT) -> list[Clip]:
    return read_rules("lmms", root, LMMS_RULES, "lmms-common")


# ---- Battle Tanks (btanks-data) ---------------------------------------------------------------

BTANKS_ROOT = GAMES / "btanks/data/sounds"
BTANKS_RULES = [
    # horror and space ambiences, sci-fi missiles, zombies and slimes are left out
    R(r"ambient/city", "city traffic|a busy city street", "ambience", "vehicle"),
    R(r"ambient/country", "the countryside with birds|a rural ambience", "ambience", "nature"),
    R(r"ambient/forest", "a forest with birds|forest ambience", "ambience", "nature"),
    R(r"ambient/swamp", "a swamp with frogs and insects|swamp ambience", "ambience", "nature"),
    R(r"cow", "a cow mooing|a cow", category="animal"),
    R(r"helicopter", "a helicopter flying|helicopter rotor blades", category="aircraft"),
    R(r"train", "a train passing|a train on the tracks", category="train"),
    R(r"tank-move", "a tank rolling on its tracks|a tank moving", category="vehicle"),
    R(r"engine-car", "a car engine running|a car engine", category="vehicle"),
    R(r"engine-start", "an engine starting|an engine being started", category="vehicle"),
    R(r"engine-vehicle", "a vehicle engine running|a truck engine", category="vehicle"),
    R(r"klaxon", "a klaxon horn|a car horn", category="vehicle"),
    R(r"cannon", "a tank cannon firing|a cannon shot", category="gun"),
    R(r"shot", "a gunshot|a single shot", category="gun"),
    R(r"machinegunner-bullet", "machine gun fire|a machine gun burst", category="gun"),
    R(
        r"(building|vehicle)-explosion|explosion",
        "an explosion|a loud blast",
        category="explosion",
    ),
    R(r"nuke-explosion", "a huge explosion|a massive blast", category="explosion"),
    R(r"deadman", "a man dying with a scream|a man's death cry", category="human_sound"),
    R(r"kamikaze-scream", "a man screaming|a long scream", category="human_sound"),
    R(r"laugh", "a man laughing|laughter", category="laughter"),
    R(r"man-steps", "footsteps|a man walking", category="footsteps"),
    R(r"mine-tick", "a ticking timer|a clock ticking", category="other"),
]


def read_btanks(root: Path = BTANKS_ROOT) -> list[Clip]:
    return read_rules("btanks", root, BTANKS_RULES, "btanks-data")


# ---- Dink Smallwood (freedink-data) ----------------------------------------------------------

FREEDINK_ROOT = GAMES / "dink/dink/Sound"
FREEDINK_RULES = [
    R(r"arrow", "an arrow flying|an arrow whizzing past", category="weapon"),
    R(r"axe", "an axe swinging|an axe chop", category="weapon"),
    R(r"bird", "a bird chirping|a small bird", category="bird"),
    R(r"bow", "a bow being shot|a bowstring twang", category="weapon"),
    R(r"burn|fire", "a fire burning|flames roaring", category="fire"),
    R(r"gold", "coins clinking|gold coins", category="other"),
    R(r"grunt", "a man grunting|a grunt of effort", category="human_sound"),
    R(r"punch", "a punch|a fist hitting", category="other"),
    R(r"stairs", "footsteps on stairs|someone walking down stairs", category="footsteps"),
    R(r"swing", "a sword swinging|a whoosh", category="weapon"),
    R(r"sword", "swords clashing|a sword strike", category="weapon"),
    R(r"wscream", "a woman screaming|a scream", category="human_sound"),
    R(r"open", "a door opening|a creaking door", category="door"),
]


def read_freedink(root: Path = FREEDINK_ROOT) -> list[Clip]:
    return read_rules("freedink", root, FREEDINK_RULES, "freedink-data")


SOURCES_V3: dict[str, Source] = {
    "flare": Source(lambda seed: read_flare(), "CC-BY-SA-3.0+", ("flare-game",)),
    "simutrans": Source(lambda seed: read_simutrans(), "Artistic-1.0", ("simutrans-pak64",)),
    "torcs": Source(lambda seed: read_torcs(), "GPL-2+", ("torcs-data",)),
    "unknown_horizons": Source(
        lambda seed: read_unknown_horizons(), "CC-BY-SA-3.0", ("unknown-horizons",)
    ),
    "lmms": Source(lambda seed: read_lmms(), "GPL-2+", ("lmms-common",)),
    "btanks": Source(lambda seed: read_btanks(), "GPL-2+ (Battle Tanks licence)", ("btanks-data",)),
    "freedink": Source(
        lambda seed: read_freedink(), "zlib (Dink Smallwood data)", ("freedink-data",)
    ),
}
