"""Offline WordNet: built from the Debian files, never downloaded."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from audioseek.errors import ConfigError
from audioseek.text import wordnet_setup
from audioseek.text.wordnet_setup import LEXNAMES, WORDNET_FILES, ensure_wordnet, lexnames_text

DEBIAN = Path("/usr/share/wordnet")
needs_debian = pytest.mark.skipif(
    not (DEBIAN / "data.noun").is_file(), reason="Debian wordnet-base not installed"
)


def test_lexnames_are_the_45_standard_files_in_order():
    lines = lexnames_text().splitlines()
    assert len(lines) == len(LEXNAMES) == 45
    idx, name, cat = lines[0].split("\t")
    assert (idx, name, cat) == ("00", "adj.all", "3")
    assert lines[3].split("\t")[1] == "noun.Tops"
    assert lines[28].split("\t")[1] == "noun.time"
    assert lines[43].split("\t")[1:] == ["verb.weather", "2"]
    assert lines[44].split("\t")[:2] == ["44", "adj.ppl"]
    assert [int(ln.split("\t")[0]) for ln in lines] == list(range(45))


@needs_debian
def test_ensure_wordnet_builds_a_readable_corpus(tmp_path, monkeypatch):
    import nltk

    monkeypatch.setenv("AUDIOSEEK_NLTK_DATA", str(tmp_path / "nd"))
    monkeypatch.setattr(nltk.data, "path", list(nltk.data.path))
    path = ensure_wordnet()
    assert path == tmp_path / "nd"
    corpus = path / "corpora" / "wordnet"
    for name in (*WORDNET_FILES, "lexnames"):
        assert (corpus / name).is_file(), name
    assert str(path) in nltk.data.path
    mtime = (corpus / "data.noun").stat().st_mtime_ns
    assert ensure_wordnet() == path  # idempotent: reuses the complete copy
    assert (corpus / "data.noun").stat().st_mtime_ns == mtime

    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    with pytest.warns(UserWarning, match="multilingual"):
        wn = WordNetCorpusReader(str(corpus), None)
    dog = wn.synset("dog.n.01")
    assert "domestic_dog" in dog.lemma_names()
    assert dog.lexname() == "noun.animal"
    assert wn.synset("canine.n.02") in dog.hypernyms()


def test_missing_debian_files_give_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="apt-get install wordnet-base wordnet-sense-index"):
        ensure_wordnet(tmp_path / "nd", source=tmp_path / "nowhere")


@needs_debian
def test_existing_copy_is_used_when_debian_files_are_gone(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in WORDNET_FILES:
        shutil.copyfile(DEBIAN / name, src / name)
    ensure_wordnet(tmp_path / "nd", source=src)
    shutil.rmtree(src)
    assert ensure_wordnet(tmp_path / "nd", source=src) == tmp_path / "nd"


def test_module_entry_point_prints_the_path(tmp_path, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(wordnet_setup, "ensure_wordnet", lambda: calls.append(1) or tmp_path)
    assert wordnet_setup.main() == 0
    assert calls == [1]
    assert capsys.readouterr().out.strip() == str(tmp_path)
