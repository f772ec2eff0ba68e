"""Word-level helpers shared by caption processing (no model tokenizers here: those
belong to the text encoders in :mod:`audioseek.models.text_encoders`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_WORD = re.compile(r"[A-Za-z]+")


@dataclass(frozen=True)
class WordSpan:
    """A maximal run of ASCII letters in a text: ``text[start:end] == word``."""

    word: str
    start: int
    end: int


def word_spans(text: str) -> list[WordSpan]:
    """Letter runs of ``text`` with their offsets; punctuation, digits, spaces and
    apostrophes separate words, so replacing a span keeps everything else intact."""
    return [WordSpan(m.group(0), m.start(), m.end()) for m in _WORD.finditer(text)]


def match_case(template: str, word: str) -> str:
    """Give ``word`` the casing pattern of ``template`` (UPPER, Title or lower)."""
    if len(template) > 1 and template.isupper():
        return word.upper()
    if template[:1].isupper():
        return word[:1].upper() + word[1:]
    return word
