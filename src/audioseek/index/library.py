"""Library views of an index: zero-shot categories (``tag``), the 2-D map (``map``) and
waveform peaks (``peaks``). A mixin of :class:`audioseek.Index` (kept apart so the
search service stays about searching).

Tags are computed with the index's own model (its text tower: zero-shot) against a label
vocabulary and stored per file; the vocabulary is recorded in the index, so every later
``add`` tags the new and changed files with it: re-indexing keeps tags current.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

TAGS_META = "tag_vocabulary"


@dataclass(frozen=True)
class MapPoint:
    """One file on the library map: coordinates in [0, 1] and the group used to colour it
    (its best tag's group, else its top folder below the library root)."""

    file_id: int
    x: float
    y: float
    group: str
    name: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class TagSummary:
    files_tagged: int
    labels: int
    top: int
    vocabulary: str

    def to_dict(self) -> dict:
        return asdict(self)


def _file_vectors(store):
    from audioseek.index.tagging import file_vectors

    table = store.window_table(with_vectors=True)
    file_ids, offsets = table.file_slices()
    if len(file_ids) == 0:
        return file_ids, np.zeros((0, max(store.dim, 1)), np.float32)
    return file_ids, file_vectors(table.vectors.astype(np.float32), offsets)


class LibraryViews:
    """Mixed into :class:`audioseek.Index` (uses ``self.store``, ``self.encode_text``)."""

    # ---- tags -----------------------------------------------------------------------
    def tag(
        self, labels: str | os.PathLike | None = None, top: int = 3, only_missing: bool = False
    ) -> TagSummary:
        """Score every file (or only untagged ones) against a label vocabulary (``labels``: a
        file, one label per line; ``None``: the bundled everyday-sounds vocabulary, or the one
        this index was tagged with before) and store each file's ``top`` labels."""
        from audioseek.errors import QueryError
        from audioseek.index import tagging

        if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= 20:
            raise QueryError(f"top must be an integer from 1 to 20, got {top!r}")
        recorded = self.store.get_meta(TAGS_META)
        if labels is not None:
            vocab = tagging.load_vocabulary(labels)
            source = str(Path(labels).expanduser().resolve())
        elif recorded:
            data = json.loads(recorded)
            vocab = [tagging.Label(n, g) for n, g in data["labels"]]
            source = data.get("source", "recorded")
        else:
            vocab = tagging.load_vocabulary()
            source = tagging.DEFAULT_VOCABULARY
        file_ids, vecs = _file_vectors(self.store)
        if only_missing and len(file_ids):
            have = set(tagging.read_tags(self.store))
            keep = np.array([int(f) not in have for f in file_ids], bool)
            file_ids, vecs = file_ids[keep], vecs[keep]
        if len(file_ids) == 0 and not labels:
            return TagSummary(0, len(vocab), top, source)
        label_vecs = tagging.label_vectors(self.encode_text, vocab)
        self._check_dim(label_vecs)
        tags = tagging.top_tags(vecs, label_vecs, vocab, top=top) if len(file_ids) else []
        record = json.dumps(
            {"source": source, "top": top, "labels": [[v.name, v.group] for v in vocab]}
        )
        with self.store.transaction() as c:
            tagging.ensure_table(c)
            for fid, file_tags in zip(file_ids, tags, strict=True):
                tagging.write_tags(c, int(fid), file_tags)
            self.store.set_meta(c, TAGS_META, record)
        return TagSummary(len(file_ids), len(vocab), top, source)

    def tags(self, file_id: int) -> list:
        """The stored tags of one file, best first."""
        from audioseek.index.tagging import read_tags

        return read_tags(self.store, [int(file_id)]).get(int(file_id), [])

    def _retag_after_add(self) -> None:
        """After an ``add``: tag new or changed files with the recorded vocabulary."""
        from audioseek.index.store import Store

        if self._store is None:  # look without keeping a connection open (no -wal left)
            with Store.open(self.db) as store:
                recorded = store.get_meta(TAGS_META)
        else:
            recorded = self.store.get_meta(TAGS_META)
        if recorded:
            top = int(json.loads(recorded).get("top", 3))
            self.tag(top=top, only_missing=True)

    # ---- map -------------------------------------------------------------------------
    def map(self, method: str = "auto") -> list[MapPoint]:
        """Every complete file on a 2-D map of the library (cached per index generation)."""
        from audioseek.index import layout
        from audioseek.index.tagging import read_tags

        store = self.store
        gen = store.generation
        cached = layout.load_cached(store.db_dir, gen) if method == "auto" else None
        if cached is not None:
            file_ids, xy = cached
        else:
            file_ids, vecs = _file_vectors(store)
            xy = layout.compute_layout(vecs, method=method)
            if method == "auto" and not store.read_only:
                layout.save_cached(store.db_dir, gen, file_ids, xy)
        records = {r.id: r for r in store.files(complete_only=True)}
        tags = read_tags(store)
        roots = [Path(r) for r in store.roots()]
        out = []
        for fid, (x, y) in zip(file_ids.tolist(), xy.tolist(), strict=True):
            rec = records.get(int(fid))
            if rec is None:
                continue
            file_tags = tags.get(int(fid))
            group = (
                (file_tags[0].group or file_tags[0].label)
                if file_tags
                else _folder(rec.path, roots)
            )
            out.append(MapPoint(int(fid), float(x), float(y), group, Path(rec.path).name))
        return out

    # ---- peaks -----------------------------------------------------------------------
    def peaks(self, file_id: int) -> list[list[float]] | None:
        """The stored waveform envelope of a file: ``[[min, max], ...]`` or ``None``."""
        from audioseek.audio.peaks import decode

        blob = self.store.peaks(int(file_id))
        return None if blob is None else decode(blob).round(4).tolist()


def _folder(path: str, roots: list[Path]) -> str:
    p = Path(path)
    for r in roots:
        try:
            rel = p.relative_to(r)
        except ValueError:
            continue
        return rel.parts[0] if len(rel.parts) > 1 else r.name
    return p.parent.name
