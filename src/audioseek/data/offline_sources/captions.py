"""Five varied natural captions per clip, from its phrases, templates and WordNet.

Deterministic: the caller passes a ``random.Random`` seeded from the corpus seed and the
clip key. WordNet (synonyms of the clip's ``wordnet_noun`` and its first hypernym) is
used when :func:`audioseek.text.wordnet_setup.load_wordnet` works; without it captions
come from the readers' phrases and hypernyms alone (the builder logs which).
"""

from __future__ import annotations

import functools
import logging
import random
import re

from audioseek.data.offline_sources.base import Clip

logger = logging.getLogger(__name__)

N_CAPTIONS = 5

#: ``{p}`` is a phrase with its article ("a frog croaking"); ``{b}`` the bare phrase
#: ("frog croaking"); ``{h}`` a hypernym phrase; ``{s}`` the spoken sentence.
TEMPLATES: dict[str, tuple[str, ...]] = {
    "sfx": (
        "the sound of {p}",
        "a recording of {p}",
        "{b} sound effect",
        "you can hear {p}",
        "a short clip of {p}",
        "{p} can be heard",
        "audio of {p}",
        "a sound effect of {p}",
        "{p}, recorded close up",
        "{b} noise",
    ),
    "ui": (
        "the sound of {p}",
        "{p} sound",
        "a computer notification: {p}",
        "a short electronic sound for {b}",
        "{b} alert tone",
        "a user interface sound: {p}",
        "{p} signal",
    ),
    "instrument": (
        "the sound of {p}",
        "a recording of {p}",
        "{p} being played",
        "music played on {p}",
        "{p} playing",
        "you can hear {p}",
        "a short clip of {p}",
    ),
    "drum": (
        "the sound of {p}",
        "{p} from a drum kit",
        "a recording of {p}",
        "percussion: {p}",
        "a drummer playing {p}",
        "{b} sample",
        "you can hear {p}",
    ),
    "music": (
        "{p}",
        "a piece of music: {p}",
        "a recording of {p}",
        "the sound of {p}",
        "you can hear {p}",
        "a short clip of {p}",
    ),
    "ambience": (
        "{p}",
        "the sound of {p}",
        "a field recording of {p}",
        "ambient sound of {p}",
        "{p} in the background",
        "background ambience: {b}",
        "an atmosphere of {b}",
        "a long recording of {p}",
    ),
    "speech": (
        "{p}",
        "a recording of {p}",
        "you can hear {p}",
        "{p} into a microphone",
        "a voice recording of {p}",
    ),
}
#: coarse categories a zero-shot test can use, with the words that put a clip in one;
#: the first matching rule wins, so specific rules come before broad ones
CATEGORY_RULES: tuple[tuple[str, str], ...] = (
    (
        "speech",
        r"\b(voice|speak|speaking|says?|saying|talk|talking|counting|whisper\w*|speech|"
        r"word|spoken|taunt|announcer|commander|soldier says|reporting)\b",
    ),
    ("laughter", r"\b(laugh\w*|giggl\w*|cackl\w*|chuckl\w*)\b"),
    ("crying", r"\b(cry|crying|sob\w*|baby)\b"),
    (
        "human_sound",
        r"\b(cough\w*|sneez\w*|burp\w*|snor\w*|breath\w*|sigh\w*|yawn\w*|"
        r"scream\w*|shout\w*|yell\w*|grunt\w*|groan\w*|moan\w*|gasp\w*|pain|hiccup\w*|"
        r"clap\w*|applause|cheer\w*|whistl\w*|kiss\w*|eat\w*|chew\w*|drink\w*|gulp\w*|crowd)\b",
    ),
    (
        "bird",
        r"\b(bird\w*|crow\w*|chicken|hen|rooster|owl|duck|goose|geese|seagull|gull|pigeon|"
        r"parrot|eagle|hawk|penguin|peacock|sparrow|cuckoo|turkey|chirp\w*|tweet\w*|"
        r"songbird|raven|woodpecker|swan|vulture|cluck\w*|quack\w*)\b",
    ),
    ("insect", r"\b(insect|bee|bees|wasp|fly|flies|mosquito|cricket\w*|cicada\w*|buzz\w*)\b"),
    ("dog", r"\b(dog|dogs|puppy|bark\w*|woof)\b"),
    (
        "animal",
        r"\b(animal|cat|kitten|meow\w*|cow|cattle|moo\w*|horse\w*|neigh\w*|pig|pigs|"
        r"oink\w*|sheep|goat|lamb|bleat\w*|wolf|wolves|howl\w*|bear|lion|tiger|elephant|monkey|"
        r"frog|toad|croak\w*|snake|hiss\w*ing snake|boar|deer|rabbit|mouse|mice|rat|whale|dolphin|"
        r"seal|camel|donkey|fox|growl\w*|roar\w*|hoof|hooves|gallop\w*|purr\w*|squeak\w*|"
        r"creature|beast|dinosaur|fish|crocodile|hippo\w*|rhino\w*|giraffe|zebra|bat)\b",
    ),
    ("thunder", r"\b(thunder\w*|lightning)\b"),
    ("rain", r"\b(rain\w*|drizzl\w*|downpour|storm)\b"),
    ("wind", r"\b(wind|windy|gust\w*|breeze|blizzard|howling wind)\b"),
    (
        "explosion",
        r"\b(explo\w*|blast\w*|bomb\w*|boom\w*|detonat\w*|grenade|firework\w*|nuke|nuclear)\b",
    ),
    (
        "gun",
        r"\b(gun\w*|shot|shots|shoot\w*|rifle|pistol|cannon\w*|musket|machine ?gun|"
        r"artillery|mortar|howitzer|firing|fires|bullet\w*|ricochet\w*|shotgun|reload\w*|laser)\b",
    ),
    ("fire", r"\b(fire|fires|flame\w*|burn\w*|campfire|crackl\w*|torch)\b"),
    (
        "water",
        r"\b(water|splash\w*|river|stream|sea|ocean|wave|waves|lake|drip\w*|bubbl\w*|"
        r"pour\w*|flush\w*|waterfall|fountain|underwater|swim\w*|liquid|shower|tap|harbou?r)\b",
    ),
    (
        "aircraft",
        r"\b(aircraft|airplane|aeroplane|plane|jet|helicopter|propeller|airliner|"
        r"glider|rocket|take-?off|landing gear|turboprop|rotor)\b",
    ),
    ("train", r"\b(train|railway|rail|locomotive|tram|subway|metro)\b"),
    (
        "vehicle",
        r"\b(car|cars|truck|lorry|bus|engine|motor\w*|vehicle|tractor|tank|traffic|"
        r"horn|honk\w*|tyre|tire|skid\w*|brak\w*|kart|boat|ship|siren|bicycle|bike|cart)\b",
    ),
    ("footsteps", r"\b(footstep\w*|steps|walking|running|walk|run|stomp\w*|jump\w*|land\w*)\b"),
    ("door", r"\b(door\w*|gate|hatch|creak\w*|lock\w*|latch|knock\w*)\b"),
    ("bell", r"\b(bell\w*|chime\w*|gong|ding\w*|ring\w*|alarm\w*|clock|tick\w*)\b"),
    ("glass", r"\b(glass|shatter\w*|smash\w*|window)\b"),
    (
        "drum",
        r"\b(drum\w*|snare|kick|hi-hat|cymbal\w*|tom|percussion|tabla|cowbell|conga|"
        r"bongo|clap|tambourine|timpani|beat|break)\b",
    ),
    (
        "instrument",
        r"\b(piano|guitar|violin|viola|cello|bass|organ|flute|trumpet|trombone|horn|"
        r"saxophone|clarinet|oboe|harp|harpsichord|synth\w*|strings|choir|marimba|xylophone|"
        r"glockenspiel|accordion|harmonica|banjo|sitar|bagpipe|celesta|vibraphone|note|chord|"
        r"arpeggio|melody|fanfare|instrument)\b",
    ),
    ("music", r"\b(music|song|tune|loop|theme)\b"),
    (
        "weapon",
        r"\b(sword\w*|axe|blade|spear|dagger|knife|mace|club|bow|arrow|crossbow|"
        r"punch\w*|hit|hits|strike\w*|slash\w*|stab\w*|whoosh\w*|swing\w*|swish\w*|impact)\b",
    ),
    (
        "machine",
        r"\b(machine\w*|motor|drill\w*|saw\w*|hammer\w*|mill|factory|industr\w*|"
        r"mechanical|robot\w*|printer|vacuum|blender|fan|pump\w*|servo|construction|build\w*|"
        r"forge|anvil|smith|mine|mining|tool\w*)\b",
    ),
    ("magic", r"\b(magic\w*|spell|sparkl\w*|teleport\w*|portal|heal\w*|power-?up|zap\w*)\b"),
    (
        "ui",
        r"\b(click\w*|beep\w*|notification|alert|button|menu|blip\w*|tone|electronic|"
        r"computer|pop)\b",
    ),
    (
        "nature",
        r"\b(forest|jungle|night|morning|meadow|countryside|farm|nature|ambien\w*|"
        r"outdoors?|park|garden|cave)\b",
    ),
)
CATEGORIES = tuple(dict.fromkeys(c for c, _ in CATEGORY_RULES)) + ("other",)
_CATEGORY_RES = tuple((c, re.compile(p)) for c, p in CATEGORY_RULES)
#: clip kinds whose category is fixed whatever the words say
_KIND_CATEGORY = {"speech": "speech", "drum": "drum", "instrument": "instrument", "ui": "ui"}


def categorize(clip: Clip) -> str:
    """The coarse category of ``clip`` (one of :data:`CATEGORIES`).

    Kinds that fix the category (speech, drum, instrument, ui) win; otherwise the first
    rule of :data:`CATEGORY_RULES` that matches the most specific phrase, then the other
    phrases, the label and the hypernyms; ``"music"`` for music, else ``"other"``.
    """
    if clip.kind in _KIND_CATEGORY:
        return _KIND_CATEGORY[clip.kind]
    texts = [*clip.phrases, clip.label.replace("_", " ").replace("-", " "), *clip.hypernyms]
    for text in texts:
        low = text.lower()
        for cat, rx in _CATEGORY_RES:
            if rx.search(low):
                return cat
    return "music" if clip.kind == "music" else "other"


HYPERNYM_TEMPLATES = ("{h}", "the sound of {h}", "some kind of {hb}")
SPOKEN_TEMPLATES = ('{p} saying "{s}"', "a voice says {s}", 'someone says "{s}"')

_ARTICLE = re.compile(r"^(a|an|the|some)\s+", re.IGNORECASE)
#: WordNet lemmas that are technical, offensive or misleading as caption words
_WORDNET_SKIP = frozenset({"john", "can", "cock", "privy", "lav", "steel", "brand", "room", "area"})


def bare(phrase: str) -> str:
    """``"a frog croaking"`` -> ``"frog croaking"``."""
    return _ARTICLE.sub("", phrase.strip())


def with_article(noun: str) -> str:
    """``"owl"`` -> ``"an owl"``; phrases that already start with an article are kept."""
    noun = noun.strip()
    if _ARTICLE.match(noun):
        return noun
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


@functools.lru_cache(maxsize=1)
def _wordnet():
    try:
        from audioseek.text.wordnet_setup import load_wordnet

        return load_wordnet()
    except Exception as e:  # noqa: BLE001 - WordNet is optional caption variety
        logger.warning("WordNet unavailable (%s); captions use the readers' phrases only", e)
        return None


def wordnet_available() -> bool:
    return _wordnet() is not None


@functools.lru_cache(maxsize=4096)
def wordnet_terms(noun: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(synonyms, hypernyms) of the first noun sense of ``noun``, as plain words.

    Only lower-case lemmas of at most two words, so Latin names and rare senses drop out.
    """
    wn = _wordnet()
    if wn is None:
        return (), ()
    synsets = wn.synsets(noun.replace(" ", "_"), "n")
    if not synsets:
        return (), ()
    first = synsets[0]

    def ok(lemma: str) -> bool:
        words = lemma.split("_")
        return lemma.islower() and len(words) <= 2 and lemma not in _WORDNET_SKIP

    own = noun.replace(" ", "_")
    syn = tuple(n.replace("_", " ") for n in first.lemma_names()[:3] if ok(n) and n != own)
    # WordNet returns some relations in set order (it varied with PYTHONHASHSEED: "a dog"
    # got "a canine" in one process and "a domestic animal" in another): sort by name
    hyper = tuple(
        h.lemma_names()[0].replace("_", " ")
        for h in sorted(first.hypernyms(), key=lambda h: h.name())[:1]
        if ok(h.lemma_names()[0])
    )
    return syn, hyper


def make_captions(clip: Clip, rng: random.Random, n: int = N_CAPTIONS) -> list[str]:
    """``n`` distinct lower-case captions for ``clip``.

    The first caption is the clip's most specific phrase; the rest mix the other
    phrases, WordNet synonyms and hypernyms into kind-specific templates.
    """
    phrases = list(dict.fromkeys(p.strip() for p in clip.phrases if p.strip()))
    hypernyms = list(clip.hypernyms)
    if clip.wordnet_noun:
        syn, hyper = wordnet_terms(clip.wordnet_noun)
        phrases += [with_article(s) for s in syn]
        hypernyms += [with_article(h) for h in hyper]
    templates = TEMPLATES[clip.kind]
    candidates: list[str] = []
    for p in phrases:
        candidates += [t.format(p=p, b=bare(p)) for t in templates]
    for h in hypernyms:
        candidates += [t.format(h=h, hb=bare(h)) for t in HYPERNYM_TEMPLATES]
    if clip.spoken:
        candidates += [t.format(p=phrases[0], s=clip.spoken) for t in SPOKEN_TEMPLATES]
    rng.shuffle(candidates)
    # Prefer one caption per phrase / hypernym before repeating a phrase in a new template.
    out = [phrases[0]]
    seen = {phrases[0]}
    groups = [p for p in phrases[1:]] + hypernyms
    for g in groups:
        for c in candidates:
            if (bare(g) in c) and c not in seen:
                out.append(c)
                seen.add(c)
                break
        if len(out) >= n:
            break
    for c in candidates:
        if len(out) >= n:
            break
        if c not in seen:
            out.append(c)
            seen.add(c)
    return [re.sub(r"\s+", " ", c).strip().lower() for c in out[:n]]
