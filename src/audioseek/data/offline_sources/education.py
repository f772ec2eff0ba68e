"""Readers for the two education packages added in offline corpus v5 (issue 16).

Both are sound libraries for children: every file is one short recording named by what is
heard (an animal, an instrument, an everyday object), the closest kind of sound to the
held-out ``tuxpaint`` stamps and the categories the zero-shot test asks for that the game
sources lack (dogs and wolves, crickets and grasshoppers, kitchen and household sounds).

=====================  ==================  ===========================================
source                 Debian package      what
=====================  ==================  ===========================================
``qabcs``              ``qabcs-data``      ``abcs/all/noises``: 241 sounds of the ABC
                                           game's pictures (animals, instruments,
                                           toys, objects); GPL-3+
``scratch``            ``scratch``         Scratch 1.4's sound library
                                           (``Media/Sounds``: animals, effects, human
                                           sounds, instruments, percussion, loops);
                                           CC-BY-SA-3.0 (MIT Media Lab)
=====================  ==================  ===========================================

A file is kept only when its name says what the recording is: qABCs' cartoon characters
(``cheburashka``, ``dunno``, ``umka``...), flags, and pictures whose sound cannot be told
from the name (``earth``, ``star``, ``yinyang``...) are left out, as are Scratch's
``Electronic`` sounds (synthesised) and sung ``Vocals`` with unknown words.
Clip keys are ``qabcs/<stem>`` and ``scratch/<Folder>/<stem>`` (no suffix).
"""

from __future__ import annotations

import logging
from pathlib import Path

from audioseek.data.offline_sources.base import Clip, Source
from audioseek.data.offline_sources.games import file_words

logger = logging.getLogger(__name__)

QABCS_ROOT = Path("/usr/share/qabcs/abcs/all/noises")
SCRATCH_ROOT = Path("/usr/share/scratch/Media/Sounds")

#: file -> (phrases joined by "|", most specific first; kind; WordNet noun or None)
Table = dict[str, tuple[str, str, str | None]]

_A = "sfx"
_I = "instrument"

#: qABCs ``noises/<stem>.ogg`` -> what a person would write
QABCS: Table = {
    # animals
    "adjutant": ("an adjutant stork|a large bird", _A, None),
    "albatross": ("an albatross calling|a seabird", _A, None),
    "bear": ("a bear growling|a bear", _A, "bear"),
    "bird": ("a bird singing|a bird", _A, "bird"),
    "blister_beetle": ("a beetle buzzing|a beetle", _A, "beetle"),
    "booby": ("a booby calling|a seabird", _A, None),
    "calf": ("a calf mooing|a calf", _A, "calf"),
    "cat": ("a cat meowing|a cat", _A, "cat"),
    "chimpanzee": ("a chimpanzee screeching|a chimpanzee", _A, "chimpanzee"),
    "chinchilla": ("a chinchilla squeaking|a chinchilla", _A, None),
    "cow": ("a cow mooing|a cow", _A, "cow"),
    "crane": ("a crane calling|a crane bird", _A, None),
    "crow": ("a crow cawing|a crow", _A, "crow"),
    "deer": ("a deer calling|a deer", _A, "deer"),
    "dog": ("a dog barking|a dog", _A, "dog"),
    "dogmatix": ("a small dog barking|a little dog", _A, None),
    "dolphin": ("a dolphin clicking and whistling|a dolphin", _A, None),
    "duck": ("a duck quacking|a duck", _A, "duck"),
    "eagle-owl": ("an eagle owl hooting|an owl", _A, "owl"),
    "elephant": ("an elephant trumpeting|an elephant", _A, "elephant"),
    "emu": ("an emu drumming|an emu", _A, None),
    "ferret": ("a ferret chattering|a ferret", _A, "ferret"),
    "fish": ("bubbles under water|a fish in water", _A, None),
    "flamingo": ("flamingos honking|a flamingo", _A, "flamingo"),
    "foal": ("a foal neighing|a young horse", _A, "foal"),
    "frog": ("a frog croaking|a frog", _A, "frog"),
    "giant_panda": ("a giant panda bleating|a panda", _A, None),
    "goose": ("a goose honking|a goose", _A, "goose"),
    "grasshopper": ("a grasshopper chirping|a grasshopper", _A, "grasshopper"),
    "guinea_fowl": ("a guinea fowl calling|a guinea fowl", _A, None),
    "hamster": ("a hamster squeaking|a hamster", _A, "hamster"),
    "hedgehog": ("a hedgehog snuffling|a hedgehog", _A, None),
    "heron": ("a heron calling|a heron", _A, "heron"),
    "horse": ("a horse neighing|a horse", _A, "horse"),
    "hyena": ("a hyena laughing|a hyena", _A, "hyena"),
    "jaguar": ("a jaguar growling|a big cat", _A, "jaguar"),
    "koala": ("a koala bellowing|a koala", _A, "koala"),
    "lion": ("a lion roaring|a lion", _A, "lion"),
    "little_monkey": ("a little monkey chattering|a monkey", _A, None),
    "lynx": ("a lynx growling|a lynx", _A, "lynx"),
    "moose": ("a moose calling|a moose", _A, "moose"),
    "mouse": ("a mouse squeaking|a mouse", _A, "mouse"),
    "otter": ("an otter squeaking|an otter", _A, None),
    "owl": ("an owl hooting|an owl", _A, "owl"),
    "pelican": ("a pelican|a large bird", _A, "pelican"),
    "pheasant": ("a pheasant calling|a pheasant", _A, "pheasant"),
    "pig": ("a pig oinking|a pig grunting", _A, "pig"),
    "porcupine": ("a porcupine|a rodent", _A, None),
    "python": ("a snake hissing|a python", _A, "python"),
    "aesculapian_snake": ("a snake hissing|a snake", _A, None),
    "quail": ("a quail calling|a quail", _A, "quail"),
    "raccoon": ("a raccoon chittering|a raccoon", _A, None),
    "rhinoceros": ("a rhinoceros snorting|a rhino", _A, "rhinoceros"),
    "rooster": ("a rooster crowing|a cockerel", _A, "rooster"),
    "sheep": ("a sheep bleating|a sheep", _A, "sheep"),
    "sparrow": ("a sparrow chirping|a small bird", _A, "sparrow"),
    "squirrel": ("a squirrel chattering|a squirrel", _A, "squirrel"),
    "stork": ("a stork clattering its bill|a stork", _A, "stork"),
    "tiger": ("a tiger roaring|a tiger", _A, None),
    "vulture": ("a vulture|a large bird", _A, "vulture"),
    "wallaby": ("a wallaby|a kangaroo", _A, None),
    "whale": ("a whale singing|a whale", _A, None),
    "wolf": ("a wolf howling|a wolf", _A, "wolf"),
    "wood_grouse": ("a wood grouse calling|a capercaillie", _A, None),
    "yak": ("a yak grunting|a yak", _A, None),
    "york": ("a yorkshire terrier barking|a small dog", _A, None),
    "zebra": ("a zebra braying|a zebra", _A, "zebra"),
    # instruments
    "accordion": ("an accordion", _I, "accordion"),
    "aeoline": ("a harmonica-like free reed|an aeoline", _I, None),
    "bagpipes": ("bagpipes", _I, "bagpipe"),
    "bass_drum": ("a bass drum|a big drum", _I, None),
    "cello": ("a cello", _I, "cello"),
    "changu": ("a frame drum|a changu drum", _I, None),
    "clarinet": ("a clarinet", _I, "clarinet"),
    "cuica": ("a cuica|a brazilian friction drum", _I, None),
    "cymbals": ("cymbals", _I, "cymbal"),
    "drums": ("drums|a drum", _I, "drum"),
    "dulzaina": ("a dulzaina|a double reed pipe", _I, None),
    "electric_guitar": ("an electric guitar|a guitar", _I, None),
    "erhu": ("an erhu|a chinese fiddle", _I, None),
    "flute": ("a flute", _I, "flute"),
    "gamba": ("a viola da gamba|a bowed string instrument", _I, None),
    "grand_piano": ("a grand piano|a piano", _I, None),
    "guitar": ("a guitar", _I, "guitar"),
    "hand_organ": ("a barrel organ|a hand organ", _I, None),
    "hang": ("a hang drum|a steel handpan", _I, None),
    "harmonica": ("a harmonica", _I, "harmonica"),
    "harp": ("a harp", _I, "harp"),
    "iotshin": ("a zither|a plucked string instrument", _I, None),
    "ipu": ("an ipu gourd drum|a hawaiian drum", _I, None),
    "jug": ("a jug|a jug band jug", _I, None),
    "kazoo": ("a kazoo", _I, "kazoo"),
    "lute": ("a lute", _I, None),
    "maracas": ("maracas", _I, "maraca"),
    "natural_horn": ("a natural horn|a horn", _I, None),
    "ney": ("a ney flute|an end-blown flute", _I, None),
    "oboe": ("an oboe", _I, "oboe"),
    "organ": ("an organ", _I, None),
    "piano": ("a piano", _I, "piano"),
    "quena": ("a quena flute|an andean flute", _I, None),
    "rabel": ("a rabel|a bowed string instrument", _I, None),
    "recorder": ("a recorder", _I, None),
    "rozhok": ("a rozhok horn|a wooden horn", _I, None),
    "saxophone": ("a saxophone", _I, "saxophone"),
    "slit_drum": ("a slit drum|a wooden drum", _I, None),
    "spoons": ("spoons|spoons played as percussion", _I, None),
    "squeezebox": ("a squeezebox|an accordion", _I, None),
    "timpani": ("timpani|a kettle drum", _I, "timpani"),
    "topshuur": ("a topshuur|a mongolian lute", _I, None),
    "trumpet": ("a trumpet", _I, "trumpet"),
    "ukulele": ("a ukulele", _I, "ukulele"),
    "violin": ("a violin", _I, "violin"),
    "washint": ("a washint flute|a bamboo flute", _I, None),
    "western_concert_flute": ("a concert flute|a flute", _I, None),
    "whistle": ("a whistle|a pea whistle", _I, "whistle"),
    "xun": ("a xun|a chinese vessel flute", _I, None),
    "xylophone": ("a xylophone", _I, "xylophone"),
    "yangqin": ("a yangqin hammered dulcimer|a dulcimer", _I, None),
    "youhikko": ("a jouhikko bowed lyre|a bowed lyre", _I, None),
    "yueqin": ("a yueqin|a moon guitar", _I, None),
    "zhaleyka": ("a zhaleyka|a russian reed pipe", _I, None),
    "zither": ("a zither", _I, "zither"),
    "zurna": ("a zurna|a shawm", _I, None),
    # vehicles, machines, everyday objects
    "airplane": ("an airplane flying over|an airplane", _A, "airplane"),
    "balloons": ("balloons squeaking|balloons", _A, None),
    "bicycle": ("a bicycle bell ringing|a bicycle", _A, None),
    "camera_lens": ("a camera shutter clicking|a camera", _A, None),
    "chalkboard": ("chalk writing on a blackboard|chalk on a chalkboard", _A, None),
    "clock": ("a clock ticking|a clock", _A, "clock"),
    "dice": ("dice rolling|dice being thrown", _A, None),
    "excavator": ("an excavator digging|a digger engine", _A, None),
    "helicopter": ("a helicopter flying|a helicopter", _A, "helicopter"),
    "jar": ("a glass jar|a jar lid", _A, None),
    "keyboard": ("typing on a computer keyboard|a keyboard", _A, None),
    "lunchbox": ("a lunchbox opening|a plastic box", _A, None),
    "newspaper": ("a newspaper rustling|pages of a newspaper", _A, None),
    "paper_airplane": ("a paper airplane whooshing|paper", _A, None),
    "pen": ("a pen writing on paper|a pen", _A, None),
    "quadrocopter": ("a quadcopter drone buzzing|a drone flying", _A, None),
    "ratchet": ("a ratchet clicking|a ratchet", _A, "ratchet"),
    "rocket": ("a rocket taking off|a rocket", _A, "rocket"),
    "rubber_ball": ("a rubber ball bouncing|a ball", _A, None),
    "seesaw": ("a seesaw creaking|a seesaw", _A, "seesaw"),
    "skateboard": ("a skateboard rolling|a skateboard", _A, "skateboard"),
    "tractor": ("a tractor engine running|a tractor", _A, "tractor"),
    "train": ("a steam train|a train", _A, "train"),
    "walkie-talkie": ("a walkie-talkie crackling|a two-way radio", _A, None),
    "watch": ("a watch ticking|a wristwatch", _A, "watch"),
    "zipper": ("a zipper being zipped|a zipper", _A, "zipper"),
    "fire": ("a fire crackling|a fire", _A, None),
    "football": ("a football being kicked|a ball kicked", _A, None),
    "volleyball": ("a volleyball being hit|a ball", _A, None),
    "yoyo": ("a yo-yo spinning|a yo-yo", _A, None),
    "top": ("a spinning top|a top spinning", _A, None),
    "ice_skate": ("ice skates on ice|skating", _A, None),
    "jump_rope": ("a skipping rope hitting the ground|a jump rope", _A, None),
}

#: Scratch ``Media/Sounds/<Folder>/<stem>`` -> what a person would write
SCRATCH: Table = {
    "Animal/Bird": ("a bird chirping|a bird", _A, "bird"),
    "Animal/Cat": ("a cat meowing|a cat", _A, "cat"),
    "Animal/Cricket": ("a cricket chirping|a cricket", _A, "cricket"),
    "Animal/Crickets": ("crickets chirping at night|crickets", _A, "cricket"),
    "Animal/Dog1": ("a dog barking|a dog", _A, "dog"),
    "Animal/Dog2": ("a dog barking once|a dog", _A, "dog"),
    "Animal/Duck": ("a duck quacking|a duck", _A, "duck"),
    "Animal/Goose": ("a goose honking|a goose", _A, "goose"),
    "Animal/Horse": ("a horse neighing|a horse", _A, "horse"),
    "Animal/HorseGallop": ("a horse galloping|hooves", _A, "horse"),
    "Animal/Kitten": ("a kitten mewing|a kitten", _A, "kitten"),
    "Animal/Meow": ("a cat meowing|a cat", _A, "cat"),
    "Animal/Owl": ("an owl hooting|an owl", _A, "owl"),
    "Animal/Rooster": ("a rooster crowing|a cockerel", _A, "rooster"),
    "Animal/SeaLion": ("a sea lion barking|a sea lion", _A, None),
    "Animal/WolfHowl": ("a wolf howling|a wolf", _A, "wolf"),
    "Effects/BalloonScratch": ("rubbing a balloon|a balloon squeaking", _A, None),
    "Effects/BellToll": ("a church bell tolling|a bell", _A, "bell"),
    "Effects/Bubbles": ("bubbles in water|bubbling", _A, None),
    "Effects/CarPassing": ("a car passing by|a car", _A, "car"),
    "Effects/DoorClose": ("a door closing|a door", _A, "door"),
    "Effects/DoorCreak": ("a door creaking|a creaky door", _A, "door"),
    "Effects/MotorcyclePassing": ("a motorcycle passing by|a motorbike", _A, "motorcycle"),
    "Effects/Plunge": ("something plunging into water|a splash", _A, None),
    "Effects/Pop": ("a pop|a cork popping", _A, None),
    "Effects/Rattle": ("a rattle shaking|a rattle", _A, None),
    "Effects/Ripples": ("water rippling|water", _A, None),
    "Effects/SewingMachine": ("a sewing machine running|a sewing machine", _A, None),
    "Effects/Typing": ("typing on a typewriter|a typewriter", _A, "typewriter"),
    "Effects/WaterDrop": ("a water drop|a drip", _A, None),
    "Effects/WaterRunning": ("water running from a tap|running water", _A, None),
    "Human/BabyCry": ("a baby crying|a baby", _A, "baby"),
    "Human/Cough-female": ("a woman coughing|a cough", _A, None),
    "Human/Cough-male": ("a man coughing|a cough", _A, None),
    "Human/FingerSnap": ("a finger snap|fingers snapping", _A, None),
    "Human/Footsteps-1": ("footsteps walking|someone walking", _A, None),
    "Human/Footsteps-2": ("footsteps|someone walking", _A, None),
    "Human/Laugh-female": ("a woman laughing|laughter", _A, None),
    "Human/Laugh-male1": ("a man laughing|laughter", _A, None),
    "Human/Laugh-male2": ("a man laughing heartily|laughter", _A, None),
    "Human/Laugh-male3": ("a man chuckling|laughter", _A, None),
    "Human/PartyNoise": ("people chattering at a party|a crowd talking", _A, None),
    "Human/Scream-female": ("a woman screaming|a scream", _A, None),
    "Human/Scream-male1": ("a man screaming|a scream", _A, None),
    "Human/Scream-male2": ("a man yelling|a scream", _A, None),
    "Human/Slurp": ("someone slurping a drink|slurping", _A, None),
    "Human/Sneeze-female": ("a woman sneezing|a sneeze", _A, None),
    "Human/Sneeze-male": ("a man sneezing|a sneeze", _A, None),
    "Instruments/AfroString": ("an african string instrument|a plucked string", _I, None),
    "Instruments/Chord": ("a guitar chord|a strummed chord", _I, None),
    "Instruments/Dijjeridoo": ("a didgeridoo", _I, None),
    "Instruments/GuitarStrum": ("a guitar strum|an acoustic guitar", _I, None),
    "Instruments/StringAccent": ("an orchestral string accent|strings", _I, None),
    "Instruments/StringPluck": ("a plucked string|pizzicato", _I, None),
    "Instruments/Tambura": ("a tambura drone|an indian tanpura", _I, None),
    "Instruments/Trumpet1": ("a trumpet", _I, "trumpet"),
    "Instruments/Trumpet2": ("a trumpet fanfare|a trumpet", _I, "trumpet"),
    "Percussion/CymbalCrash": ("a cymbal crash|a crash cymbal", "drum", None),
    "Percussion/DrumBuzz": ("a snare drum buzz roll|a snare drum", "drum", None),
    "Percussion/Gong": ("a gong ringing|a gong", "drum", "gong"),
    "Percussion/HandClap": ("a hand clap|clapping", "drum", None),
    "Percussion/RideCymbal": ("a ride cymbal|a cymbal", "drum", None),
    "Percussion/Shaker": ("a shaker|a percussion shaker", "drum", None),
    "Music Loops/Drum": ("a drum loop|drums playing a beat", "music", None),
    "Music Loops/DrumMachine": ("a drum machine beat|an electronic drum loop", "music", None),
    "Music Loops/DrumSet1": ("a drum kit beat|a drum loop", "music", None),
    "Music Loops/DrumSet2": ("a drum kit beat|a drum loop", "music", None),
    "Music Loops/GuitarChords1": ("guitar chords|an acoustic guitar playing", "music", None),
    "Music Loops/GuitarChords2": ("guitar chords|an acoustic guitar playing", "music", None),
    "Music Loops/HipHop": ("a hip hop beat|a hip hop loop", "music", None),
    "Music Loops/HumanBeatbox1": ("a human beatbox|beatboxing", "music", None),
    "Music Loops/HumanBeatbox2": ("a human beatbox|beatboxing", "music", None),
    "Music Loops/Medieval1": ("medieval music|a medieval tune", "music", None),
    "Music Loops/Medieval2": ("medieval music|a medieval tune", "music", None),
    "Music Loops/Techno": ("a techno loop|electronic dance music", "music", None),
    "Music Loops/Techno2": ("a techno loop|electronic dance music", "music", None),
    "Music Loops/Xylo1": ("a xylophone melody|a xylophone playing", "music", None),
    "Music Loops/Xylo2": ("a xylophone melody|a xylophone playing", "music", None),
    "Music Loops/Xylo3": ("a xylophone melody|a xylophone playing", "music", None),
    "Music Loops/xylo4": ("a xylophone melody|a xylophone playing", "music", None),
    "Vocals/BeatBox1": ("a beatbox sound|a human beatbox", _A, None),
    "Vocals/BeatBox2": ("a beatbox sound|a human beatbox", _A, None),
    "Vocals/Singer1": ("a woman singing a note|a singer", _A, None),
    "Vocals/Singer2": ("a man singing a note|a singer", _A, None),
}

#: categories the words get wrong (``categorize`` reads "a flamingo honking" as a vehicle,
#: "a hyena laughing" as laughter, "a cricket chirping" as a bird)
CATEGORY: dict[str, str] = {
    **dict.fromkeys(
        [
            "albatross",
            "booby",
            "emu",
            "flamingo",
            "guinea_fowl",
            "heron",
            "pheasant",
            "quail",
            "stork",
            "wood_grouse",
        ],
        "bird",
    ),
    **dict.fromkeys(
        [
            "chimpanzee",
            "dolphin",
            "ferret",
            "hedgehog",
            "hyena",
            "koala",
            "porcupine",
            "raccoon",
            "rhinoceros",
            "squirrel",
            "wallaby",
            "yak",
            "Animal/SeaLion",
        ],
        "animal",
    ),
    **dict.fromkeys(["grasshopper", "Animal/Cricket", "Animal/Crickets"], "insect"),
    **dict.fromkeys(
        ["fish", "balloons", "walkie-talkie", "seesaw", "Effects/BalloonScratch"], "other"
    ),
    "quadrocopter": "aircraft",
    "Effects/SewingMachine": "machine",
    **dict.fromkeys(
        [f"Music Loops/{n}" for n in ("HipHop", "Drum", "DrumMachine", "DrumSet1", "DrumSet2")]
        + [f"Music Loops/{n}" for n in ("GuitarChords1", "GuitarChords2")]
        + [f"Music Loops/Xylo{n}" for n in (1, 2, 3)]
        + ["Music Loops/xylo4", "Vocals/BeatBox1", "Vocals/BeatBox2", "Vocals/Singer1"]
        + ["Vocals/Singer2"],
        "music",
    ),
}

_SCRATCH_SUFFIXES = (".wav", ".mp3")


def table_clips(
    source: str,
    root: Path,
    files: dict[str, Path],
    table: Table,
    package: str,
    category: dict[str, str] | None = None,
) -> list[Clip]:
    """The clips of ``table`` whose file ``files`` holds (name -> path); ``category``
    overrides the rule-based category by name (default :data:`CATEGORY`)."""
    category = CATEGORY if category is None else category
    if not root.is_dir():
        logger.warning("%s not found (install the Debian package %s); skipping", root, package)
        return []
    clips = []
    for name, (phrases, kind, noun) in table.items():
        path = files.get(name)
        if path is None:
            continue
        clips.append(
            Clip(
                source=source,
                key=f"{source}/{name}",
                label=file_words(name.rsplit("/", 1)[-1]),
                kind=kind,
                phrases=[p.strip() for p in phrases.split("|")],
                path=path,
                wordnet_noun=noun,
                category=category.get(name, ""),
            )
        )
    return clips


def read_qabcs(root: Path = QABCS_ROOT) -> list[Clip]:
    """qABCs' picture sounds that :data:`QABCS` describes."""
    files = {p.stem: p for p in sorted(root.glob("*.ogg"))} if root.is_dir() else {}
    return table_clips("qabcs", root, files, QABCS, "qabcs-data")


def read_scratch(root: Path = SCRATCH_ROOT) -> list[Clip]:
    """Scratch's library sounds that :data:`SCRATCH` describes."""
    files = {}
    if root.is_dir():
        for p in sorted(root.glob("*/*")):
            if p.suffix.lower() in _SCRATCH_SUFFIXES and p.is_file():
                files.setdefault(f"{p.parent.name}/{p.stem}", p)
    return table_clips("scratch", root, files, SCRATCH, "scratch")


SOURCES_V5: dict[str, Source] = {
    "qabcs": Source(lambda seed: read_qabcs(), "GPL-3+", ("qabcs-data",)),
    "scratch": Source(
        lambda seed: read_scratch(), "CC-BY-SA-3.0 (MIT Scratch media library)", ("scratch",)
    ),
}
