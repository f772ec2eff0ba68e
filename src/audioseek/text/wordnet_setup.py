"""Offline WordNet for nltk, built from the Debian ``wordnet-base`` package.

nltk's WordNet reader expects an ``nltk_data/corpora/wordnet`` folder holding the
WordNet 3.0 database files plus a ``lexnames`` file. Debian ships the database in
``/usr/share/wordnet`` (packages ``wordnet-base`` and ``wordnet-sense-index``) but not
``lexnames``; :func:`ensure_wordnet` copies the files and writes ``lexnames`` with the 45
standard lexicographer files, so nothing is downloaded. ``python -m
audioseek.text.wordnet_setup`` does it from the command line (``scripts/setup.sh``).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from audioseek.errors import ConfigError

logger = logging.getLogger(__name__)

DEBIAN_WORDNET_DIR = Path("/usr/share/wordnet")

#: Files nltk's ``WordNetCorpusReader`` opens (``lexnames`` is written, not copied).
WORDNET_FILES = (
    "cntlist.rev",
    "index.sense",
    "index.adj",
    "index.adv",
    "index.noun",
    "index.verb",
    "data.adj",
    "data.adv",
    "data.noun",
    "data.verb",
    "adj.exc",
    "adv.exc",
    "noun.exc",
    "verb.exc",
)

#: The 45 standard lexicographer files, in their numbered order 00..44, with their
#: syntactic category (1 noun, 2 verb, 3 adjective, 4 adverb), as in lexnames(5WN).
LEXNAMES = (
    ("adj.all", 3),
    ("adj.pert", 3),
    ("adv.all", 4),
    ("noun.Tops", 1),
    ("noun.act", 1),
    ("noun.animal", 1),
    ("noun.artifact", 1),
    ("noun.attribute", 1),
    ("noun.body", 1),
    ("noun.cognition", 1),
    ("noun.communication", 1),
    ("noun.event", 1),
    ("noun.feeling", 1),
    ("noun.food", 1),
    ("noun.group", 1),
    ("noun.location", 1),
    ("noun.motive", 1),
    ("noun.object", 1),
    ("noun.person", 1),
    ("noun.phenomenon", 1),
    ("noun.plant", 1),
    ("noun.possession", 1),
    ("noun.process", 1),
    ("noun.quantity", 1),
    ("noun.relation", 1),
    ("noun.shape", 1),
    ("noun.state", 1),
    ("noun.substance", 1),
    ("noun.time", 1),
    ("verb.body", 2),
    ("verb.change", 2),
    ("verb.cognition", 2),
    ("verb.communication", 2),
    ("verb.competition", 2),
    ("verb.consumption", 2),
    ("verb.contact", 2),
    ("verb.creation", 2),
    ("verb.emotion", 2),
    ("verb.motion", 2),
    ("verb.perception", 2),
    ("verb.possession", 2),
    ("verb.social", 2),
    ("verb.stative", 2),
    ("verb.weather", 2),
    ("adj.ppl", 3),
)


def default_nltk_data_dir() -> Path:
    """``$AUDIOSEEK_NLTK_DATA`` if set, else ``~/.cache/audioseek/nltk_data``."""
    env = os.environ.get("AUDIOSEEK_NLTK_DATA")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "audioseek" / "nltk_data"


def lexnames_text() -> str:
    return "".join(f"{i:02d}\t{name}\t{cat}\n" for i, (name, cat) in enumerate(LEXNAMES))


def _is_complete(corpus_dir: Path, source: Path) -> bool:
    if not (corpus_dir / "lexnames").is_file():
        return False
    for name in WORDNET_FILES:
        dst = corpus_dir / name
        if not dst.is_file() or dst.stat().st_size != (source / name).stat().st_size:
            return False
    return True


def ensure_wordnet(data_dir: str | Path | None = None, source: str | Path | None = None) -> Path:
    """Build ``<data_dir>/corpora/wordnet`` from the Debian WordNet files if needed.

    Returns the nltk data directory (``data_dir``), which is also appended to
    ``nltk.data.path``. Idempotent: an existing complete copy is reused. Raises
    :class:`~audioseek.errors.ConfigError` when the Debian files are missing.
    """
    data_dir = Path(data_dir) if data_dir is not None else default_nltk_data_dir()
    source = Path(source) if source is not None else DEBIAN_WORDNET_DIR
    corpus_dir = data_dir / "corpora" / "wordnet"
    missing = [n for n in WORDNET_FILES if not (source / n).is_file()]
    if missing:
        if (
            corpus_dir.is_dir()
            and (corpus_dir / "lexnames").is_file()
            and all((corpus_dir / n).is_file() for n in WORDNET_FILES)
        ):
            logger.debug("Debian WordNet missing but %s is complete; using it", corpus_dir)
        else:
            raise ConfigError(
                f"WordNet database not found in {str(source)!r} (missing {missing[0]!r}) and no "
                f"copy in {str(corpus_dir)!r}; install the Debian packages: "
                "apt-get install wordnet-base wordnet-sense-index"
            )
    elif not _is_complete(corpus_dir, source):
        logger.info("building offline WordNet for nltk in %s", corpus_dir)
        corpus_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".wordnet-", dir=corpus_dir.parent))
        try:
            for name in WORDNET_FILES:
                shutil.copyfile(source / name, tmp / name)
            (tmp / "lexnames").write_text(lexnames_text(), encoding="utf-8")
            if corpus_dir.exists():
                shutil.rmtree(corpus_dir)
            os.replace(tmp, corpus_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    import nltk

    if str(data_dir) not in nltk.data.path:
        nltk.data.path.append(str(data_dir))
    return data_dir


def load_wordnet(data_dir: str | Path | None = None):
    """An nltk ``WordNetCorpusReader`` over the offline copy (built on first use)."""
    import warnings

    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    root = ensure_wordnet(data_dir) / "corpora" / "wordnet"
    with warnings.catch_warnings():
        # "The multilingual functions are not available": we use English WordNet only.
        warnings.simplefilter("ignore")
        return WordNetCorpusReader(str(root), None)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    path = ensure_wordnet()
    print(path)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
