"""A fake ``audioseek.Index`` for the command-line tests: it implements the same methods as
the real one (``add``, ``search``, ``similar``, ``duplicates``, ``info``, ``close``) and
returns the real dataclasses of :mod:`audioseek.index.types`, so the CLI's argument
handling, exit codes and printing are checked without a model. ``tests/index`` runs the
same commands on a real index."""

from __future__ import annotations

import pytest

import audioseek
from audioseek.index.types import (
    DuplicateGroup,
    DuplicatePair,
    Hit,
    IndexedFile,
    IndexInfo,
    IndexSummary,
)


class FakeIndex:
    """Holds a list of file paths; every query returns them in order with falling scores.
    ``fail`` (an exception) is raised by every method, to test exit codes."""

    paths: list[str] = []
    fail: BaseException | None = None
    opened: list[dict] = []

    def __init__(self, db, model=None, device="auto"):
        FakeIndex.opened.append({"db": str(db), "model": model, "device": device})
        self.db = str(db)
        self._check()

    def _check(self):
        if FakeIndex.fail is not None:
            raise FakeIndex.fail

    def _hits(self, k: int) -> list[Hit]:
        return [
            Hit(file_id=i + 1, path=p, score=1.0 - 0.1 * i, start=0.0, end=10.0, format="wav",
                title="t\x1b[31m" if i == 0 else None, artist=None)
            for i, p in enumerate(self.paths[:k])
        ]  # fmt: skip

    def _file(self, i: int) -> IndexedFile:
        return IndexedFile(file_id=i + 1, path=self.paths[i], duration=10.0, format="wav")

    def add(
        self,
        paths,
        *,
        window=None,
        hop=None,
        workers=None,
        batch_size=16,
        progress=None,
        on_batch=None,
        engine="local",
        ray_options=None,
        threads=None,
        export_onnx=True,
        timings=None,
    ):
        self._check()
        corrupt = [{"path": p, "reason": "not audio"} for p in self.paths]
        return IndexSummary(db=self.db, model="fake", files_scanned=len(self.paths),
                            corrupt=corrupt)  # fmt: skip

    def search(self, queries, k=10, agg="max"):
        self._check()
        if isinstance(queries, str):
            return self._hits(k)
        return [self._hits(k) for _ in queries]

    def similar(self, query, k=10):
        self._check()
        return self._hits(k)

    def duplicates(self, threshold=None):
        self._check()
        if len(self.paths) < 2:
            return []
        files = [self._file(i) for i in range(len(self.paths))]
        pairs = [DuplicatePair(a=1, b=i + 1, embedding_score=0.99) for i in range(1, len(files))]
        return [DuplicateGroup(files=files, score=0.99, pairs=pairs, confirmed="audio")]

    def info(self):
        self._check()
        return IndexInfo(
            db=self.db, model="fake", model_id="fake", model_fingerprint="f" * 64,
            sample_rate=8000, dim=16, window_s=10.0, hop_s=5.0, files=len(self.paths),
            incomplete_files=0, windows=len(self.paths), audio_hours=0.01, size_bytes=4096,
            ann=False, roots=[],
        )  # fmt: skip

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@pytest.fixture
def fake_index(monkeypatch):
    """``audioseek.Index`` replaced by :class:`FakeIndex` (state reset per test)."""
    monkeypatch.setattr(FakeIndex, "paths", ["/music/a.wav", "/music/b.wav"])
    monkeypatch.setattr(FakeIndex, "fail", None)
    monkeypatch.setattr(FakeIndex, "opened", [])
    monkeypatch.setattr(audioseek, "Index", FakeIndex, raising=False)
    return FakeIndex
