"""Caption augmentation: misspellings, keyboard typos, WordNet synonyms and hypernyms.

The paper (section 4) augments the text of 20% of the items of each batch. Rule used here
(the contract in ``docs/architecture.md``): a batch of ``N`` captions gets exactly
``k = floor(prob * N + 0.5)`` changed captions (round half up; at least 1 when ``prob > 0``
and ``N > 0``), drawn uniformly without replacement among the captions that *can* be
changed (those containing a letter); if fewer than ``k`` can be changed, all of them are.
Each changed caption gets exactly one edit, of a kind drawn uniformly among the enabled
kinds that apply to it:

- ``misspelling``: a word from the shipped list of common English misspellings
  (``resources/misspellings.tsv``) replaced by one of its misspellings, or, when no word of
  the caption is in the list (or with probability 0.3 otherwise), a keyboard ``typo``: one
  letter replaced by a QWERTY neighbour.
- ``synonym``: a content word (noun, verb or adjective; the part of speech is the one whose
  WordNet senses are most frequent for that word in SemCor counts) replaced by a lemma of
  one of its three most frequent WordNet senses that share the lexicographer file (domain,
  e.g. ``noun.animal``) of the most frequent one.
- ``hypernym``: a noun or verb replaced by a lemma of a hypernym of its most frequent sense.

Function words (``resources/stopwords.txt``) are never replaced by synonyms/hypernyms;
case and punctuation are kept, plurals and ``-s``/``-ing``/``-ed`` verb forms are
re-inflected. All randomness comes from a seeded :class:`random.Random`, so a given seed
reproduces the same augmentations. WordNet is read offline through
:mod:`audioseek.text.wordnet_setup`.
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Literal

from audioseek.errors import ConfigError
from audioseek.text.tokenize import WordSpan, match_case, word_spans

EditKind = Literal["misspelling", "typo", "synonym", "hypernym"]

#: QWERTY letter adjacency (same row +-1 and the touching keys of the rows above/below).
QWERTY_NEIGHBOURS: dict[str, str] = {
    "q": "wa",
    "w": "qeas",
    "e": "wrsd",
    "r": "etdf",
    "t": "ryfg",
    "y": "tugh",
    "u": "yihj",
    "i": "uojk",
    "o": "ipkl",
    "p": "ol",
    "a": "qwsz",
    "s": "adwezx",
    "d": "sferxc",
    "f": "dgrtcv",
    "g": "fhtyvb",
    "h": "gjyubn",
    "j": "hkuinm",
    "k": "jliom",
    "l": "kop",
    "z": "asx",
    "x": "zcsd",
    "c": "xvdf",
    "v": "cbfg",
    "b": "vngh",
    "n": "bmhj",
    "m": "njk",
}

_CONTENT_POS = ("n", "v", "a")  # WordNet noun, verb, adjective (satellites come with "a")
_N_SENSES = 3  # synonyms come from the word's most frequent senses only


@dataclass(frozen=True)
class Edit:
    """One change made to a caption: ``text[start:end]`` (``original``) -> ``replacement``.

    For WordNet edits ``lemma``/``pos`` describe the original word, ``synset`` names the
    WordNet synset the replacement lemma ``new_lemma`` (uninflected, spaces for ``_``)
    belongs to: a synset of the original for synonyms, a hypernym synset for hypernyms.
    """

    kind: EditKind
    start: int
    end: int
    original: str
    replacement: str
    lemma: str | None = None
    pos: str | None = None
    synset: str | None = None
    new_lemma: str | None = None


def _read_lines(name: str) -> list[str]:
    text = resources.files("audioseek.text").joinpath("resources", name).read_text("utf-8")
    return [ln.rstrip("\n") for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


@lru_cache(maxsize=1)
def default_misspellings() -> dict[str, tuple[str, ...]]:
    """The shipped ``correct -> misspellings`` table (lower case)."""
    return load_misspellings(None)


def load_misspellings(path: str | Path | None) -> dict[str, tuple[str, ...]]:
    """Parse a ``correct<TAB>miss1,miss2`` TSV (``None``: the shipped resource)."""
    if path is None:
        lines = _read_lines("misspellings.tsv")
        where = "misspellings.tsv (package resource)"
    else:
        try:
            lines = [
                ln
                for ln in Path(path).read_text(encoding="utf-8").splitlines()
                if ln.strip() and not ln.startswith("#")
            ]
        except OSError as e:
            raise ConfigError(f"cannot read misspellings file {str(path)!r}: {e}") from None
        where = str(path)
    table: dict[str, tuple[str, ...]] = {}
    for i, line in enumerate(lines, 1):
        parts = line.split("\t")
        if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
            raise ConfigError(
                f"bad line {line!r} in {where!r}: expected 'correct<TAB>miss1,miss2' ({i})"
            )
        correct = parts[0].strip().lower()
        wrong = tuple(w.strip().lower() for w in parts[1].split(",") if w.strip() != correct)
        if wrong:
            table[correct] = tuple(dict.fromkeys(table.get(correct, ()) + wrong))
    return table


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    return frozenset(w.strip().lower() for w in _read_lines("stopwords.txt"))


_WN_LOCK = threading.Lock()
_WN = None


def get_wordnet():
    """The process-wide offline WordNet reader (built on first use)."""
    global _WN
    with _WN_LOCK:
        if _WN is None:
            from audioseek.text.wordnet_setup import load_wordnet

            _WN = load_wordnet()
        return _WN


# ---- inflection -------------------------------------------------------------------------

_VOWELS = set("aeiou")


def _plural(word: str) -> str:
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    if word.endswith("y") and len(word) > 1 and word[-2] not in _VOWELS:
        return word[:-1] + "ies"
    return word + "s"


def _doubles_final(word: str) -> bool:
    """Consonant-vowel-consonant endings of one-syllable words (and a few stressed final
    syllables) double the consonant: skin -> skinning, emit -> emitted."""
    if len(word) < 3 or word[-1] in _VOWELS or word[-1] in "wxy":
        return False
    if word[-2] not in _VOWELS or word[-3] in _VOWELS:
        return False
    syllables = len(re.findall(r"[aeiouy]+", word))
    return syllables == 1 or word.endswith(("mit", "fer", "pel", "cur", "gin", "pel", "bid"))


def _ing(word: str) -> str:
    if word.endswith("ie"):
        return word[:-2] + "ying"
    if word.endswith("e") and not word.endswith(("ee", "ye", "oe")) and len(word) > 2:
        return word[:-1] + "ing"
    if _doubles_final(word):
        return word + word[-1] + "ing"
    return word + "ing"


def _past(word: str) -> str:
    if word.endswith("e"):
        return word + "d"
    if word.endswith("y") and len(word) > 1 and word[-2] not in _VOWELS:
        return word[:-1] + "ied"
    if _doubles_final(word):
        return word + word[-1] + "ed"
    return word + "ed"


def _inflect(phrase: str, pos: str, form: str | None) -> str:
    """Apply ``form`` (plural, 3sg, ing, past) to the head of a WordNet lemma phrase:
    the last word of a noun phrase, the first word of a verb phrase."""
    if form is None:
        return phrase
    words = phrase.split(" ")
    i = len(words) - 1 if pos == "n" else 0
    fn = {"plural": _plural, "3sg": _plural, "ing": _ing, "past": _past}[form]
    words[i] = fn(words[i])
    return " ".join(words)


# ---- the augmenter ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Analysis:
    lemma: str
    pos: str  # "n", "v" or "a"
    form: str | None  # inflection of the surface word relative to the lemma


class TextAugmenter:
    """Augment ``prob`` of the captions of each batch (see the module docstring for the rule).

    ``augmenter(texts)`` returns the new list; ``augment_batch`` also returns the
    :class:`Edit` made to each caption (``None`` when unchanged). ``rng`` overrides the
    augmenter's own ``random.Random(seed)`` for one call.
    """

    def __init__(
        self,
        prob: float = 0.2,
        misspell: bool = True,
        synonyms: bool = True,
        hypernyms: bool = True,
        seed: int = 0,
        *,
        misspellings: str | Path | dict[str, tuple[str, ...]] | None = None,
        typo_fraction: float = 0.3,
        wordnet=None,
    ):
        if not 0.0 <= float(prob) <= 1.0:
            raise ConfigError(f"text augmentation prob must be in [0, 1], got {prob!r}")
        if not 0.0 <= float(typo_fraction) <= 1.0:
            raise ConfigError(f"typo_fraction must be in [0, 1], got {typo_fraction!r}")
        self.prob = float(prob)
        self.misspell = bool(misspell)
        self.synonyms = bool(synonyms)
        self.hypernyms = bool(hypernyms)
        self.seed = seed
        self.typo_fraction = float(typo_fraction)
        self.rng = random.Random(seed)
        if isinstance(misspellings, dict):
            self.misspellings = {k.lower(): tuple(v) for k, v in misspellings.items()}
        elif misspellings is None:
            self.misspellings = default_misspellings()
        else:
            self.misspellings = load_misspellings(misspellings)
        self._wn = wordnet
        if self._wn is None and self.prob > 0 and (self.synonyms or self.hypernyms):
            # load now: a missing WordNet fails at construction, and forked DataLoader
            # workers inherit the process-wide reader instead of each loading their own
            self._wn = get_wordnet()
        self._analysis_cache: dict[str, _Analysis | None] = {}
        self._synonym_cache: dict[tuple[str, str], list[tuple[str, str]]] = {}
        self._hypernym_cache: dict[tuple[str, str], list[tuple[str, str]]] = {}

    def __repr__(self) -> str:
        return (
            f"TextAugmenter(prob={self.prob}, misspell={self.misspell}, "
            f"synonyms={self.synonyms}, hypernyms={self.hypernyms}, seed={self.seed})"
        )

    def __getstate__(self):  # picklable for DataLoader workers: the reader is rebuilt lazily
        state = self.__dict__.copy()
        state["_wn"] = None
        return state

    @property
    def wordnet(self):
        if self._wn is None:
            self._wn = get_wordnet()
        return self._wn

    # -- public API --------------------------------------------------------------------------

    def n_augmented(self, n: int) -> int:
        """How many of ``n`` captions a batch changes: round half up, at least 1 if prob > 0."""
        if n <= 0 or self.prob <= 0:
            return 0
        return max(1, min(n, int(self.prob * n + 0.5)))

    def __call__(self, texts: list[str], rng: random.Random | None = None) -> list[str]:
        return self.augment_batch(texts, rng)[0]

    def augment_batch(
        self, texts: list[str], rng: random.Random | None = None
    ) -> tuple[list[str], list[Edit | None]]:
        rng = self.rng if rng is None else rng
        texts = list(texts)
        out: list[str] = list(texts)
        edits: list[Edit | None] = [None] * len(texts)
        k = self.n_augmented(len(texts))
        if k == 0 or not (self.misspell or self.synonyms or self.hypernyms):
            return out, edits
        candidates = [i for i, t in enumerate(texts) if isinstance(t, str) and word_spans(t)]
        rng.shuffle(candidates)
        done = 0
        for i in candidates:
            if done == k:
                break
            result = self.augment_text(texts[i], rng)
            if result is not None:
                out[i], edits[i] = result
                done += 1
        return out, edits

    def augment_text(self, text: str, rng: random.Random) -> tuple[str, Edit] | None:
        """One edit of ``text`` (kind drawn among the enabled kinds that apply), or None."""
        spans = word_spans(text)
        if not spans:
            return None
        kinds = [
            k
            for k, on in (
                ("misspelling", self.misspell),
                ("synonym", self.synonyms),
                ("hypernym", self.hypernyms),
            )
            if on
        ]
        rng.shuffle(kinds)
        for kind in kinds:
            if kind == "misspelling":
                edit = self._misspell(spans, rng)
            else:
                edit = self._wordnet_edit(text, spans, rng, kind)
            if edit is not None:
                new = text[: edit.start] + edit.replacement + text[edit.end :]
                if new != text:
                    return new, edit
        return None

    # -- misspellings and typos -----------------------------------------------------------

    def _misspell(self, spans: list[WordSpan], rng: random.Random) -> Edit | None:
        listed = [s for s in spans if s.word.lower() in self.misspellings]
        if listed and rng.random() >= self.typo_fraction:
            span = rng.choice(listed)
            wrong = rng.choice(self.misspellings[span.word.lower()])
            return Edit(
                "misspelling", span.start, span.end, span.word, match_case(span.word, wrong)
            )
        return self._typo(spans, rng)

    @staticmethod
    def _typo(spans: list[WordSpan], rng: random.Random) -> Edit | None:
        long_words = [s for s in spans if len(s.word) >= 3] or spans
        span = rng.choice(long_words)
        pos = rng.randrange(len(span.word))
        ch = span.word[pos]
        neighbour = rng.choice(QWERTY_NEIGHBOURS[ch.lower()])
        if ch.isupper():
            neighbour = neighbour.upper()
        word = span.word[:pos] + neighbour + span.word[pos + 1 :]
        return Edit("typo", span.start, span.end, span.word, word)

    # -- WordNet -----------------------------------------------------------------------------

    def analyse(self, word: str) -> _Analysis | None:
        """Lemma, content part of speech and inflection of ``word`` from WordNet, or None
        for function words, short words and words WordNet does not know."""
        key = word.lower()
        if key in self._analysis_cache:
            return self._analysis_cache[key]
        result = None
        if len(key) >= 3 and key not in stopwords():
            wn = self.wordnet
            best: tuple[int, int, str, str] | None = None
            for order, pos in enumerate(_CONTENT_POS):
                base = wn.morphy(key, pos)
                if base is None:
                    continue
                synsets = wn.synsets(base, pos)
                if not synsets:
                    continue
                count = sum(
                    lem.count() for s in synsets for lem in s.lemmas() if lem.name().lower() == base
                )
                cand = (count, -order, pos, base)
                if best is None or cand[:2] > best[:2]:
                    best = cand
            if best is not None:
                _, _, pos, base = best
                form = self._form(key, base, pos)
                if form != "irregular":
                    result = _Analysis(base, pos, form)
        self._analysis_cache[key] = result
        return result

    @staticmethod
    def _form(word: str, base: str, pos: str) -> str | None:
        if word == base:
            return None
        if pos == "n":
            return "plural" if word.endswith("s") else "irregular"
        if pos == "v":
            if word.endswith("ing"):
                return "ing"
            if word.endswith("ed"):
                return "past"
            if word.endswith("s"):
                return "3sg"
        return "irregular"  # irregular verbs, comparatives: not re-inflected, not replaced

    @staticmethod
    def _lemma_text(name: str) -> str | None:
        text = name.replace("_", " ")
        if not all(part.isalpha() for part in text.replace("-", " ").split()):
            return None  # digits or symbols ("H2O"): not a readable caption word
        return text

    def synonyms_of(self, lemma: str, pos: str) -> list[tuple[str, str]]:
        """(synonym, synset name) pairs from the ``lemma``'s most frequent ``pos`` senses."""
        key = (lemma, pos)
        if key not in self._synonym_cache:
            out: list[tuple[str, str]] = []
            senses = self.wordnet.synsets(lemma, pos)[:_N_SENSES]
            # keep to the domain of the most frequent sense (its lexicographer file):
            # bird.n.01 (noun.animal) yes, bird.n.02 "dame" (noun.person) no
            for s in [x for x in senses if x.lexname() == senses[0].lexname()]:
                for name in s.lemma_names():
                    text = self._lemma_text(name)
                    if text and text.lower() != lemma.lower():
                        out.append((text, s.name()))
            # sorted: WordNet readers return some relations in set order, which changes with
            # the process's hash seed; a seeded edit must not
            self._synonym_cache[key] = sorted(set(out))
        return self._synonym_cache[key]

    def hypernyms_of(self, lemma: str, pos: str) -> list[tuple[str, str]]:
        """(hypernym lemma, synset name) pairs for the ``lemma``'s most frequent sense."""
        key = (lemma, pos)
        if key not in self._hypernym_cache:
            out: list[tuple[str, str]] = []
            if pos in ("n", "v"):
                for s in self.wordnet.synsets(lemma, pos)[:1]:
                    for h in s.hypernyms() + s.instance_hypernyms():
                        for name in h.lemma_names():
                            text = self._lemma_text(name)
                            if text and text.lower() != lemma.lower():
                                out.append((text, h.name()))
            self._hypernym_cache[key] = sorted(set(out))  # see synonyms_of
        return self._hypernym_cache[key]

    def _wordnet_edit(
        self, text: str, spans: list[WordSpan], rng: random.Random, kind: str
    ) -> Edit | None:
        options = []
        for span in spans:
            a = self.analyse(span.word)
            if a is None:
                continue
            pairs = (
                self.synonyms_of(a.lemma, a.pos)
                if kind == "synonym"
                else self.hypernyms_of(a.lemma, a.pos)
            )
            if pairs:
                options.append((span, a, pairs))
        if not options:
            return None
        span, a, pairs = rng.choice(options)
        new_lemma, synset = rng.choice(pairs)
        surface = _inflect(new_lemma, a.pos, a.form)
        if surface == new_lemma and any(c.isupper() for c in new_lemma):
            replacement = surface  # proper names keep their own case ("Canis familiaris")
        else:
            replacement = match_case(span.word, surface)
        start, original = span.start, span.word
        idx = spans.index(span)
        if idx > 0:  # keep "a"/"an" agreeing with the new word: "a metal" -> "an element"
            prev = spans[idx - 1]
            if prev.word.lower() in ("a", "an") and text[prev.end : span.start] == " ":
                article = "an" if replacement[:1].lower() in "aeiou" else "a"
                if article != prev.word.lower():
                    start = prev.start
                    original = text[prev.start : span.end]
                    replacement = match_case(prev.word, article) + " " + replacement
        return Edit(
            kind,  # type: ignore[arg-type]
            start,
            span.end,
            original,
            replacement,
            lemma=a.lemma,
            pos=a.pos,
            synset=synset,
            new_lemma=new_lemma,
        )
