"""Fixtures for the HTTP API tests: a generated audio library and a fake ``SearchService``.

The fake implements the ``SearchService`` protocol of :mod:`audioseek.index.types` and
returns its real dataclasses (``Hit``, ``IndexedFile``, ``DuplicateGroup``, ``IndexInfo``),
exactly what ``audioseek.Index`` returns. It scores files by word overlap with their names,
so the API's behaviour can be checked without a model; ``test_real_index.py`` runs the same
app (and ``audioseek.Client``) on a real index.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audioseek.errors import QueryError
from audioseek.index.filters import Filters
from audioseek.index.library import MapPoint
from audioseek.index.tagging import Tag
from audioseek.index.types import DuplicateGroup, DuplicatePair, Hit, IndexedFile, IndexInfo

SR = 16000
HOSTED = "http://localhost"  # the TestClient's default 'testserver' is not an allowed Host


@dataclass
class Record:
    """What the fake holds about one file (an ``IndexedFile`` plus tags)."""

    id: int
    path: str
    duration: float
    sample_rate: int
    format: str
    title: str | None = None
    artist: str | None = None
    album: str | None = None
    genre: str | None = None
    channels: int = 1
    tags: tuple[Tag, ...] = ()

    def indexed_file(self) -> IndexedFile:
        size = Path(self.path).stat().st_size if Path(self.path).is_file() else None
        return IndexedFile(
            self.id, self.path, self.duration, self.sample_rate, self.channels, self.format, size
        )


class FakeService:
    """``SearchService`` stand-in; counts concurrent calls to check the server's threads."""

    def __init__(self, records: list[Record], delay: float = 0.0, roots: list[str] | None = None):
        self.records = {r.id: r for r in records}
        self.roots = (
            list(roots)
            if roots is not None
            else sorted({str(Path(r.path).parent) for r in records})
        )
        self.delay = delay
        self.calls: list[tuple] = []
        self.active = 0
        self.max_active = 0
        self.closed = False
        self._guard = threading.Lock()

    def _enter(self, *call):
        with self._guard:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self.calls.append(call)
        if self.delay:
            time.sleep(self.delay)

    def _exit(self):
        with self._guard:
            self.active -= 1

    def _allowed(self, filters: dict) -> set[int]:
        """The real filter rules (``Filters``) over the fake's records; tags from ``Record``."""
        flt = Filters.from_mapping(filters)
        ids = {i for i, r in self.records.items() if flt.matches(r, self.roots)}
        if flt.tag is not None:
            want = flt.tag.lower()
            ids = {
                i
                for i in ids
                if any(
                    want in (t.label.lower(), (t.group or "").lower()) for t in self.records[i].tags
                )
            }
        return ids

    def _hit(self, r: Record, score: float, start: float = 0.0, **why) -> Hit:
        return Hit(
            file_id=r.id,
            path=r.path,
            score=score,
            start=start,
            end=min(start + 1.0, r.duration),
            duration=r.duration,
            sample_rate=r.sample_rate,
            channels=r.channels,
            format=r.format,
            title=r.title,
            artist=r.artist,
            album=r.album,
            genre=r.genre,
            tags=tuple(t.label for t in r.tags),
            **why,
        )

    def _rank(self, q: str, k: int, mode: str, allowed: set[int]) -> list[Hit]:
        """Word overlap with the file name; a file no word matches is a weak hit (and is
        left out in text mode)."""
        words = set(q.lower().split())
        scored = []
        for r in self.records.values():
            if r.id not in allowed:
                continue
            name = set(Path(r.path).stem.lower().replace("_", " ").split())
            matched = tuple(sorted(words & name))
            score = len(matched) / max(len(words), 1)
            if mode == "text" and not matched:
                continue
            why = {
                "audio_score": None if mode == "text" else score,
                "text_score": float(len(matched)) if matched and mode != "audio" else None,
                "matched_terms": matched if mode != "audio" else (),
                "weak": not matched,
            }
            scored.append(self._hit(r, score, start=1.5 if score else 0.0, **why))
        scored.sort(key=lambda h: (-h.score, h.file_id))
        return scored[:k]

    def search(
        self,
        queries: str | list[str],
        k: int = 10,
        agg: str = "max",
        mode: str = "hybrid",
        **filters,
    ):
        if mode not in ("hybrid", "audio", "text"):
            raise QueryError(f"unknown mode {mode!r}")
        one = isinstance(queries, str)
        batch = [queries] if one else list(queries)
        self._enter("search", tuple(batch), k, agg, *((mode,) if mode != "hybrid" else ()))
        if filters:
            self.calls.append(("filters", dict(filters)))
        try:
            allowed = self._allowed(filters)
            out = [self._rank(q, k, mode, allowed) for q in batch]
            return out[0] if one else out
        finally:
            self._exit()

    def similar(self, query: str | int, k: int = 10, **filters) -> list[Hit]:
        self._enter("similar", query, k)
        if filters:
            self.calls.append(("filters", dict(filters)))
        try:
            allowed = self._allowed(filters)
            if isinstance(query, int) and not isinstance(query, bool):
                if query not in self.records:
                    raise QueryError(f"no indexed file with id {query!r}")
                energy = float(query)
                exclude = {query}
            else:
                from audioseek.audio.io import load_audio

                wave = load_audio(query, SR)  # AudioDecodeError, as the real service
                energy, exclude = float(np.abs(wave).mean()), set()
            hits = [
                self._hit(r, 1.0 / (1.0 + abs(energy - r.id)))
                for r in self.records.values()
                if r.id not in exclude and r.id in allowed
            ]
            hits.sort(key=lambda h: -h.score)
            return hits[:k]
        finally:
            self._exit()

    def duplicates(self, threshold: float | None = None) -> list[DuplicateGroup]:
        self._enter("duplicates", threshold)
        try:
            ids = sorted(self.records)
            if len(ids) < 2:
                return []
            files = [self.records[i].indexed_file() for i in ids[:2]]
            pairs = [DuplicatePair(ids[0], ids[1], embedding_score=0.99, audio_score=0.97)]
            return [DuplicateGroup(files=files, score=0.99, pairs=pairs, confirmed="audio")]
        finally:
            self._exit()

    def info(self) -> IndexInfo:
        self._enter("info")
        try:
            n = len(self.records)
            return IndexInfo(
                db="/tmp/fake-db",
                model="fake",
                model_id="fake-model",
                model_fingerprint="f" * 16,
                sample_rate=SR,
                dim=8,
                window_s=1.0,
                hop_s=0.5,
                files=n,
                incomplete_files=0,
                windows=3 * n,
                audio_hours=sum(r.duration for r in self.records.values()) / 3600,
                size_bytes=4096,
                ann=False,
                roots=list(self.roots),
            )
        finally:
            self._exit()

    def file(self, file_id: int) -> IndexedFile | None:
        self._enter("file", file_id)
        try:
            r = self.records.get(file_id)
            return r.indexed_file() if r is not None else None
        finally:
            self._exit()

    def tags(self, file_id: int) -> list[Tag]:
        self._enter("tags", file_id)
        try:
            r = self.records.get(file_id)
            return list(r.tags) if r is not None else []
        finally:
            self._exit()

    def map(self, method: str = "auto") -> list[MapPoint]:
        """Files on a circle, in id order; grouped by their best tag's group, else folder."""
        self._enter("map", method)
        try:
            ids = sorted(self.records)
            out = []
            for n, i in enumerate(ids):
                r = self.records[i]
                angle = 2 * np.pi * n / max(len(ids), 1)
                group = (r.tags[0].group or r.tags[0].label) if r.tags else Path(r.path).parent.name
                x, y = 0.5 + 0.4 * np.cos(angle), 0.5 + 0.4 * np.sin(angle)
                out.append(MapPoint(i, float(x), float(y), group, Path(r.path).name))
            return out
        finally:
            self._exit()

    def peaks(self, file_id: int) -> list[list[float]] | None:
        """The envelope of the file on disk (``audio.peaks``, like the indexer stores)."""
        self._enter("peaks", file_id)
        try:
            r = self.records.get(file_id)
            if r is None or not Path(r.path).is_file():
                return None
            from audioseek.audio.io import load_audio
            from audioseek.audio.peaks import peaks

            return peaks(load_audio(r.path, SR), SR).round(4).tolist()
        finally:
            self._exit()

    def close(self) -> None:
        self.closed = True


def write_tone(path: Path, freq: float, seconds: float = 3.0, sr: int = SR) -> Path:
    t = np.arange(int(seconds * sr)) / sr
    sf.write(
        str(path), (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), sr, subtype="PCM_16"
    )
    return path


@pytest.fixture
def library(tmp_path) -> Path:
    """A folder of generated WAV files, plus a secret file outside it."""
    lib = tmp_path / "library"
    lib.mkdir()
    write_tone(lib / "rain_on_roof.wav", 220)
    write_tone(lib / "dog_barking.wav", 440)
    write_tone(lib / "church_bells.wav", 660)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("TOP SECRET\n")
    return lib


@pytest.fixture
def records(library) -> list[Record]:
    paths = sorted(library.glob("*.wav"))
    return [
        Record(
            i + 1,
            str(p.resolve()),
            3.0,
            SR,
            "wav",
            title=p.stem.replace("_", " ") if i == 0 else None,
            artist="Field Recorder" if i == 0 else None,
            genre="ambience" if i == 0 else None,
        )
        for i, p in enumerate(paths)
    ]


@pytest.fixture
def service(records) -> FakeService:
    return FakeService(records)


@pytest.fixture
def client(service):
    from fastapi.testclient import TestClient

    from audioseek.serve.app import create_app

    with TestClient(create_app(service), base_url=HOSTED) as c:
        yield c


def error_of(response) -> str:
    body = response.json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"], str) and body["error"] and "\n" not in body["error"]
    return body["error"]


@pytest.fixture
def err():
    """``err(response)`` -> the one-line message of a JSON ``{"error": ...}`` body."""
    return error_of


@pytest.fixture
def make_client():
    """``make_client(service, **settings)`` -> a TestClient on a fresh app (closed at teardown)."""
    from fastapi.testclient import TestClient

    from audioseek.serve.app import ServeSettings, create_app

    clients = []

    def make(service, base_url=HOSTED, raise_server_exceptions=True, **settings):
        app = create_app(service, settings=ServeSettings(**settings))
        c = TestClient(app, base_url=base_url, raise_server_exceptions=raise_server_exceptions)
        c.__enter__()
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def fake_service_cls():
    return FakeService


@pytest.fixture
def record_cls():
    return Record


@pytest.fixture
def tone():
    return write_tone


# ---- a real index built with a tiny model ---------------------------------------------------

TONE_SR = 8000
N_BANDS = 32
# words the tiny text encoder knows -> the frequency (Hz) they describe (band centres: the
# 32 bands of 0-4 kHz are 125 Hz wide)
VOCAB = {"hum": 187.5, "drone": 187.5, "beep": 1062.5, "alarm": 1062.5, "whistle": 3062.5}


class ToneModel:
    """The DualEncoder contract in miniature: an audio window embeds as log energies in
    ``N_BANDS`` frequency bands; a text embeds as the bands of the words in ``VOCAB``."""

    sample_rate = TONE_SR
    clip_seconds = None
    model_id = "serve-test-tone-model"
    fingerprint = "serve-test-tone-model-v1"

    def band_of(self, hz: float) -> int:
        return min(int(hz / (TONE_SR / 2) * N_BANDS), N_BANDS - 1)

    def encode_audio(self, waveforms, normalize: bool = True):
        import torch

        spec = torch.fft.rfft(waveforms.double(), dim=1).abs() ** 2
        bands = torch.tensor_split(spec[:, 1:], N_BANDS, dim=1)
        energy = torch.stack([b.mean(dim=1) for b in bands], dim=1) / waveforms.shape[1]
        emb = torch.log1p(energy * 1e4).float()
        return torch.nn.functional.normalize(emb, dim=1) if normalize else emb

    def encode_text(self, texts: list[str], normalize: bool = True):
        import torch

        out = torch.full((len(texts), N_BANDS), 0.01)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                if word in VOCAB:
                    out[i, self.band_of(VOCAB[word])] = 1.0
        return torch.nn.functional.normalize(out, dim=1) if normalize else out


def _tone(freq: float, seconds: float, amp: float = 0.4) -> np.ndarray:
    t = np.arange(int(round(seconds * TONE_SR))) / TONE_SR
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _noise(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.01 * rng.standard_normal(int(round(seconds * TONE_SR)))).astype(np.float32)


def build_real_library(root: Path) -> dict[str, Path]:
    """Four files: a hum, a whistle that starts at 6 s (so its best window is not the first),
    a beep as FLAC with tags, and a re-encoded copy of the hum (a duplicate)."""
    root.mkdir(parents=True, exist_ok=True)
    files = {}
    hum = _noise(12, 0) + _tone(VOCAB["hum"], 12)
    files["hum"] = root / "low_hum.wav"
    sf.write(files["hum"], hum, TONE_SR, subtype="PCM_16")
    whistle = _noise(12, 1)
    whistle[6 * TONE_SR : 10 * TONE_SR] += _tone(VOCAB["whistle"], 4)
    files["whistle"] = root / "late_whistle.wav"
    sf.write(files["whistle"], whistle, TONE_SR, subtype="PCM_16")
    files["beep"] = root / "beep.flac"
    sf.write(files["beep"], _noise(8, 2) + _tone(VOCAB["beep"], 8), TONE_SR, format="FLAC")
    try:
        from mutagen.flac import FLAC

        tags = FLAC(files["beep"])
        tags.update({"title": "Test Beep", "artist": "Signal Lab", "genre": "Electronic"})
        tags.save()
    except ImportError:  # pragma: no cover - mutagen is a dependency
        pass
    files["hum_copy"] = root / "low_hum_copy.wav"
    sf.write(files["hum_copy"], hum, TONE_SR, subtype="FLOAT")
    return files


@pytest.fixture(scope="session")
def real_index(tmp_path_factory):
    """(db folder, {name: path}) of a real index built by ``audioseek.index`` with ToneModel."""
    from audioseek.index.indexer import index_paths

    root = tmp_path_factory.mktemp("real")
    files = build_real_library(root / "library")
    db = root / "db"
    index_paths(
        [root / "library"],
        db,
        model=ToneModel(),
        window=4.0,
        hop=2.0,
        workers=1,
        batch_size=8,
        progress=False,
    )
    return db, {k: v.resolve() for k, v in files.items()}


@pytest.fixture
def real_service(real_index):
    """The real index behind the ``SearchService`` protocol."""
    from audioseek.index.service import Index

    db, _ = real_index
    with Index(db, model=ToneModel()) as index:
        yield index


@pytest.fixture
def tone_model_cls():
    return ToneModel


class LiveServer:
    """uvicorn serving ``app`` on 127.0.0.1 (a free port) in a background thread."""

    def __init__(self, app, **config):
        import uvicorn

        from audioseek.serve.app import bind_socket

        self.sock = bind_socket("127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False, **config)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@pytest.fixture
def live_server():
    """``live_server(app, **uvicorn_config)`` -> a started LiveServer (stopped at teardown)."""
    servers = []

    def start(app, **config):
        s = LiveServer(app, **config).__enter__()
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.__exit__(None, None, None)
