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
    "speech": (
        "{p}",
        "a recording of {p}",
        "you can hear {p}",
        "{p} into a microphone",
        "a voice recording of {p}",
    ),
}
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
    hyper = tuple(
        h.lemma_names()[0].replace("_", " ")
        for h in first.hypernyms()[:1]
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
