"""``audioseek.Client`` against the real HTTP server (uvicorn on a loopback port): the same
methods and return types as ``audioseek.Index``, with the fake service of the server tests
and with a real small index; the server's refusals as typed errors with its message."""

from __future__ import annotations

import importlib.util
import sys
import types
from dataclasses import asdict
from pathlib import Path

import pytest

import audioseek
from audioseek.errors import (
    AudioDecodeError,
    AudioseekError,
    AudioTooLongError,
    QueryError,
    SearchIndexError,
)
from audioseek.index.types import DuplicateGroup, Hit, IndexedFile, IndexInfo


def _serve_kit() -> types.ModuleType:
    """The fake service, generated library, tiny model and live server of
    ``tests/serve/conftest.py``."""
    path = Path(__file__).parent / "serve" / "conftest.py"
    spec = importlib.util.spec_from_file_location("_serve_conftest", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


kit = _serve_kit()


@pytest.fixture
def serve():
    """``serve(service, **settings)`` -> the URL of a live server (stopped at teardown)."""
    from audioseek.serve.app import ServeSettings, create_app

    servers = []

    def start(service, **settings):
        server = kit.LiveServer(create_app(service, settings=ServeSettings(**settings)))
        servers.append(server.__enter__())
        return server.url

    yield start
    for s in servers:
        s.__exit__(None, None, None)


@pytest.fixture
def library(tmp_path) -> Path:
    lib = tmp_path / "library"
    lib.mkdir()
    for name, freq in [("rain_on_roof", 220), ("dog_barking", 440), ("church_bells", 660)]:
        kit.write_tone(lib / f"{name}.wav", freq)
    return lib


@pytest.fixture
def fake(library):
    paths = sorted(library.glob("*.wav"))
    records = [kit.Record(i + 1, str(p.resolve()), 3.0, kit.SR, "wav") for i, p in enumerate(paths)]
    return kit.FakeService(records)


@pytest.fixture
def client(fake, serve):
    with audioseek.Client(serve(fake)) as c:
        yield c


def test_client_is_exported_and_a_search_service(client):
    assert audioseek.Client is type(client)
    assert isinstance(client, audioseek.SearchService)


def test_client_returns_what_the_service_returns(client, fake):
    assert client.search("dog barking", k=2) == fake.search("dog barking", k=2)
    batch = client.search(["church bells", "rain"], k=1, agg="top2-mean")
    assert batch == fake.search(["church bells", "rain"], k=1, agg="top2-mean")
    assert all(isinstance(h, Hit) for hits in batch for h in hits)
    assert fake.calls[-1] == ("search", ("church bells", "rain"), 1, "top2-mean")
    assert client.similar(2, k=2) == fake.similar(2, k=2)
    assert client.duplicates(0.9) == fake.duplicates(0.9)
    assert all(isinstance(g, DuplicateGroup) for g in client.duplicates())
    assert client.info() == fake.info() and isinstance(client.info(), IndexInfo)
    assert client.file(1) == fake.file(1) and isinstance(client.file(1), IndexedFile)
    assert client.file(999) is None and client.file(-1) is None


def test_client_batches_long_query_lists(client, fake):
    queries = [f"rain {i}" for i in range(150)]
    hits = client.search(queries, k=1)
    assert len(hits) == 150 and all(h[0].path.endswith("rain_on_roof.wav") for h in hits)
    sizes = [len(c[1]) for c in fake.calls if c[0] == "search"]
    assert sizes == [64, 64, 22]


def test_similar_uploads_a_local_file(client, fake, tmp_path):
    clip = kit.write_tone(tmp_path / "my clip.wav", 300)
    hits = client.similar(clip, k=2)
    assert len(hits) == 2 and all(isinstance(h, Hit) for h in hits)
    call = fake.calls[-1]
    assert call[0] == "similar" and call[1].endswith("upload.wav") and call[2] == 2
    assert client.similar(str(clip), k=1) == hits[:1]


def test_server_refusals_are_typed_with_the_servers_message(client, tmp_path):
    with pytest.raises(QueryError, match=r"^k must be an integer from 1 to 10000, got 0$"):
        client.search("rain", k=0)
    with pytest.raises(QueryError, match="empty query"):
        client.search(["ok", " "])
    with pytest.raises(QueryError, match="unknown file id 999"):
        client.similar(999)
    with pytest.raises(QueryError, match="threshold"):
        client.duplicates(2.0)
    junk = tmp_path / "notes.wav"
    junk.write_bytes(b"not audio at all")
    with pytest.raises(AudioDecodeError) as e:
        client.similar(junk)
    assert str(e.value).startswith("cannot decode audio file 'notes.wav': ")
    assert e.value.path == str(junk)


def test_client_side_mistakes_are_query_errors(client, tmp_path):
    with pytest.raises(QueryError, match="no such audio file"):
        client.similar(tmp_path / "missing.wav")
    with pytest.raises(QueryError, match="file id or an audio file path"):
        client.similar(True)
    with pytest.raises(QueryError, match="string or a list"):
        client.search(42)
    with pytest.raises(QueryError, match="invalid server URL"):
        audioseek.Client("localhost:8000")


def test_too_long_upload_is_audio_too_long_error(fake, serve, tmp_path):
    clip = kit.write_tone(tmp_path / "three.wav", 300, seconds=3.0)
    with (
        audioseek.Client(serve(fake, max_upload_seconds=2.0)) as c,
        pytest.raises(AudioTooLongError) as e,
    ):
        c.similar(clip)
    assert str(e.value) == "cannot decode audio file 'three.wav': longer than the limit of 2 s"
    assert e.value.max_seconds == 2.0


def test_token(fake, serve):
    url = serve(fake, token="s3cret")
    with audioseek.Client(url) as anonymous:
        with pytest.raises(AudioseekError, match="access token") as e:
            anonymous.search("rain")
        assert type(e.value) is AudioseekError
    with audioseek.Client(url, token="s3cret") as c:
        assert c.search("rain", k=1)[0].path.endswith("rain_on_roof.wav")


def test_index_errors_are_search_index_errors(library, serve):
    class Broken(kit.FakeService):
        def info(self):
            raise SearchIndexError("index '/x' is damaged")

    c = audioseek.Client(serve(Broken([])))
    with pytest.raises(SearchIndexError, match=r"^index '/x' is damaged$"):
        c.info()
    c.close()


def test_no_server_is_one_line(tmp_path):
    from audioseek.serve.app import bind_socket

    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    c = audioseek.Client(f"http://127.0.0.1:{port}")
    with pytest.raises(AudioseekError, match="no answer from the audioseek server at") as e:
        c.info()
    c.close()
    assert "\n" not in str(e.value)


# ---- a real index ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_db(tmp_path_factory):
    from audioseek.index.service import Index

    root = tmp_path_factory.mktemp("client-real")
    files = kit.build_real_library(root / "library")
    db = root / "db"
    with Index(db, model=kit.ToneModel()) as index:
        index.add([root / "library"], window=4.0, hop=2.0, workers=1, batch_size=8, progress=False)
    return db, {k: v.resolve() for k, v in files.items()}


@pytest.fixture
def real(real_db, serve):
    from audioseek.index.service import Index

    db, files = real_db
    index = Index(db, model=kit.ToneModel())
    # the server owns one Index; the test compares with another on the same folder
    with audioseek.Client(serve(Index(db, model=kit.ToneModel()))) as c:
        yield c, index, files
    index.close()


def test_client_equals_index_on_a_real_index(real):
    client, index, files = real
    for q in ["whistle", "low hum", "beep"]:
        assert client.search(q, k=4) == index.search(q, k=4)
    assert client.search(["whistle", "beep"], k=2) == index.search(["whistle", "beep"], k=2)
    assert client.info() == index.info()
    assert client.duplicates() == index.duplicates()
    (group,) = client.duplicates()
    assert sorted(f.path for f in group.files) == sorted(
        [str(files["hum"]), str(files["hum_copy"])]
    )
    hum = next(h for h in client.search("hum", k=4) if h.path == str(files["hum"]))
    assert client.file(hum.file_id) == index.file(hum.file_id)
    assert client.similar(hum.file_id, k=3) == index.similar(hum.file_id, k=3)


def test_client_upload_finds_the_same_file_as_a_local_path(real):
    client, index, files = real
    by_upload = client.similar(files["whistle"], k=2)
    assert by_upload[0].path == str(files["whistle"])
    # the upload is not the indexed file, so the index's own answer for the path differs
    # by excluding that file (and by using its stored vectors: scores agree to storage
    # precision)
    (local,) = index.similar(str(files["whistle"]), k=1)
    assert {**asdict(by_upload[1]), "score": None} == {**asdict(local), "score": None}
    assert by_upload[1].score == pytest.approx(local.score, abs=1e-3)


# ---- modes, filters, tags, map, peaks (issue 15) ----------------------------------------------


def test_client_modes_filters_tags_map_peaks_with_the_fake(library, serve):
    from audioseek.index.tagging import Tag

    paths = sorted(library.glob("*.wav"))
    records = [kit.Record(i + 1, str(p.resolve()), 3.0, kit.SR, "wav") for i, p in enumerate(paths)]
    records[1].tags = (Tag("bark", 0.6, "Animals"),)
    records[2].duration = 1.0
    fake = kit.FakeService(records)
    with audioseek.Client(serve(fake)) as client:
        assert isinstance(client, audioseek.SearchService)
        for mode in ("hybrid", "audio", "text"):
            assert client.search("rain", mode=mode) == fake.search("rain", mode=mode)
        text = client.search("rain", mode="text")
        assert [h.matched_terms for h in text] == [("rain",)] and text[0].audio_score is None
        for filters in ({"tag": "animals"}, {"max_duration": 2}, {"format": ["flac", "wav"]}):
            assert client.search("rain", **filters) == fake.search("rain", **filters)
            assert client.search(["rain"], **filters) == fake.search(["rain"], **filters)
            assert client.similar(1, **filters) == fake.similar(1, **filters)
        assert [h.path for h in client.search("x", tag="animals")] == [records[1].path]
        assert client.similar(kit.write_tone(library / "q.wav", 300), max_duration=2)[0].path == (
            records[2].path
        )
        assert fake.calls[-1] == ("filters", {"max_duration": 2.0})
        assert client.tags(2) == fake.tags(2) == [Tag("bark", 0.6, "Animals")]
        assert client.map() == fake.map() and len(client.map()) == 3
        assert client.peaks(1) == fake.peaks(1) and len(client.peaks(1)) > 10
        with pytest.raises(QueryError, match="unknown mode 'loud'"):
            client.search("rain", mode="loud")
        with pytest.raises(QueryError, match="min_duration 3 is longer than max_duration 1"):
            client.search("rain", min_duration=3, max_duration=1)
        with pytest.raises(QueryError, match="unknown filter 'colour'"):
            client.similar(1, colour="red")
        with pytest.raises(QueryError, match="unknown file id 99"):
            client.peaks(99)


def test_client_filters_and_map_equal_the_index(real):
    client, index, files = real
    for filters in ({}, {"format": "flac"}, {"min_duration": 10}, {"folder": "library"}):
        for mode in ("hybrid", "audio", "text"):
            assert client.search("hum beep", k=4, mode=mode, **filters) == index.search(
                "hum beep", k=4, mode=mode, **filters
            )
        assert client.similar(1, k=3, **filters) == index.similar(1, k=3, **filters)
    assert client.map() == index.map()
    assert client.peaks(1) == index.peaks(1) and client.tags(1) == index.tags(1) == []
