"""HTTP API behaviour with FastAPI's TestClient against a contract-shaped fake Searcher."""

from __future__ import annotations

import asyncio
import io
import os
import socket
from pathlib import Path

import httpx
import pytest

from audioseek.errors import ConfigError

# ---- health, info, search ------------------------------------------------------------------


def test_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


def test_info_is_the_services_index_info(client, service, library):
    from dataclasses import asdict

    r = client.get("/api/info")
    assert r.status_code == 200
    body = r.json()
    assert body == asdict(service.info())  # every field of IndexInfo, no more, no less
    assert body["files"] == 3 and body["windows"] == 9 and body["model_id"] == "fake-model"
    assert body["roots"] == [str(library.resolve())]


def test_info_non_finite_numbers_are_null(records, fake_service_cls, make_client):
    import dataclasses

    class NaNInfo(fake_service_cls):
        def info(self):
            return dataclasses.replace(super().info(), window_s=float("nan"))

    body = make_client(NaNInfo(records)).get("/api/info").json()
    assert body["window_s"] is None and body["hop_s"] == 0.5


def test_search_get_returns_ranked_hits_with_metadata(client, service, records):
    r = client.get("/api/search", params={"q": "  dog barking ", "k": 2})
    assert r.status_code == 200
    body = r.json()
    assert body["query"] == "dog barking" and body["k"] == 2 and body["agg"] == "max"
    assert len(body["hits"]) == 2
    top = body["hits"][0]
    dog = next(rec for rec in records if rec.path.endswith("dog_barking.wav"))
    assert top["file_id"] == dog.id
    assert top["path"] == dog.path and top["name"] == "dog_barking.wav"
    assert top["score"] == 1.0 and top["start"] == 1.5 and top["end"] == 2.5
    assert top["duration"] == 3.0 and top["sample_rate"] == 16000 and top["format"] == "wav"
    assert top["audio_url"] == f"/api/audio/{dog.id}"
    assert service.calls[-1] == ("search", ("dog barking",), 2, "max")


def test_search_hit_tags_are_passed_through(client):
    hits = client.get("/api/search", params={"q": "church bells"}).json()["hits"]
    top = hits[0]
    assert top["name"] == "church_bells.wav"
    assert (top["title"], top["artist"], top["genre"]) == (
        "church bells",
        "Field Recorder",
        "ambience",
    )
    assert top["album"] is None
    untagged = hits[1]
    assert untagged["title"] is None and untagged["artist"] is None


def test_search_passes_agg(client, service):
    r = client.get("/api/search", params={"q": "bells", "agg": "top3-mean"})
    assert r.status_code == 200
    assert service.calls[-1][-1] == "top3-mean"


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"q": ""}, "empty query"),
        ({"q": "   "}, "empty query"),
        ({}, "empty query"),
        ({"q": "x" * 1001}, "too long"),
        ({"q": "rain", "k": 0}, "k must be an integer from 1 to 10000, got 0"),
        ({"q": "rain", "k": -3}, "got -3"),
        ({"q": "rain", "k": 10**5}, "k must be an integer from 1 to 10000, got 100000"),
        ({"q": "rain", "k": "ten"}, "invalid k 'ten'"),
        ({"q": "rain", "k": "1.5"}, "invalid k '1.5'"),
        ({"q": "rain", "agg": "median"}, "unknown aggregation 'median'"),
    ],
)
def test_search_get_bad_input_is_400_with_json_error(client, service, err, params, needle):
    r = client.get("/api/search", params=params)
    assert r.status_code == 400
    assert needle in err(r)
    assert not service.calls  # nothing reached the model


def test_search_post_batch(client, service):
    r = client.post("/api/search", json={"queries": ["church bells", "rain"], "k": 1})
    assert r.status_code == 200
    results = r.json()["results"]
    assert [x["query"] for x in results] == ["church bells", "rain"]
    assert results[0]["hits"][0]["name"] == "church_bells.wav"
    assert results[1]["hits"][0]["name"] == "rain_on_roof.wav"
    assert all(len(x["hits"]) == 1 for x in results)
    assert service.calls == [("search", ("church bells", "rain"), 1, "max")]  # one batch call


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"queries": []}, "empty batch"),
        ({"queries": ["ok", " "]}, "empty query"),
        ({"queries": ["x" * 2000]}, "too long"),
        ({"queries": ["q"] * 65}, "too many queries"),
        ({"queries": ["rain"], "k": 0}, "got 0"),
        ({"queries": ["rain"], "k": "many"}, "invalid k 'many'"),
        ({"queries": "rain"}, "queries"),
        ({"k": 3}, "queries"),
        ({"queries": ["rain"], "agg": "top0-mean"}, "unknown aggregation 'top0-mean'"),
    ],
)
def test_search_post_bad_input(client, service, err, body, needle):
    r = client.post("/api/search", json=body)
    assert r.status_code == 400
    assert needle in err(r)
    assert not service.calls


def test_search_post_not_json(client, err):
    r = client.post(
        "/api/search", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    assert "request body is not valid JSON" in err(r)


def test_search_post_oversized_body_is_413(client, service, err):
    big = {"queries": ["a" * 900] * 2000}  # ~1.8 MB > the 1 MiB body limit
    r = client.post("/api/search", json=big)
    assert r.status_code == 413
    assert "exceeds" in err(r)
    assert not service.calls


def test_oversized_chunked_body_without_length_is_413(client, service, err):
    def chunks():
        for _ in range(40):
            yield b"x" * 65536  # 2.5 MiB, streamed without Content-Length

    r = client.post("/api/search", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert "larger than" in err(r)
    assert not service.calls


def test_invalid_content_length_is_400(client, err):
    r = client.post(
        "/api/search",
        content=b"{}",
        headers={"content-type": "application/json", "content-length": "-5"},
    )
    assert r.status_code == 400


# ---- similar ---------------------------------------------------------------------------------


def test_similar_by_json_file_id(client, service):
    r = client.post("/api/similar", json={"file_id": 2, "k": 2})
    assert r.status_code == 200
    body = r.json()
    assert body["source"] == {"file_id": 2} and body["k"] == 2
    assert [h["file_id"] for h in body["hits"]] == [1, 3]  # the query file is excluded
    assert service.calls[-1] == ("similar", 2, 2)


def test_similar_by_form_file_id(client, service):
    r = client.post("/api/similar", data={"file_id": "3", "k": "1"})
    assert r.status_code == 200
    assert [h["file_id"] for h in r.json()["hits"]] == [2]
    assert service.calls[-1] == ("similar", 3, 1)


def test_similar_by_upload(client, service, library, tone, tmp_path):
    wav = tone(tmp_path / "my clip.wav", 300)
    with open(wav, "rb") as f:
        r = client.post("/api/similar", files={"file": ("my clip.wav", f, "audio/wav")})
    assert r.status_code == 200
    body = r.json()
    assert body["source"] == {"upload": "my clip.wav", "bytes": wav.stat().st_size}
    assert len(body["hits"]) == 3
    call = service.calls[-1]
    assert call[0] == "similar" and call[1].endswith("upload.wav") and call[2] == 10
    assert not Path(call[1]).exists()  # the temporary copy is removed


def test_similar_upload_not_audio_is_422_naming_the_upload(client, err):
    r = client.post(
        "/api/similar", files={"file": ("notes.wav", io.BytesIO(b"not audio at all"), "audio/wav")}
    )
    assert r.status_code == 422
    message = err(r)
    assert "'notes.wav'" in message and "cannot decode" in message
    assert "audioseek-upload" not in message  # the temp path does not leak


def test_similar_empty_upload_is_400(client, err):
    r = client.post("/api/similar", files={"file": ("empty.wav", io.BytesIO(b""), "audio/wav")})
    assert r.status_code == 400
    assert "'empty.wav' is empty" in err(r)


def test_similar_upload_over_limit_is_413(service, make_client, err, tone, tmp_path):
    small = make_client(service, max_upload_bytes=4096)
    wav = tone(tmp_path / "long.wav", 300, seconds=2.0)  # 64 kB
    with open(wav, "rb") as f:
        r = small.post("/api/similar", files={"file": ("long.wav", f, "audio/wav")})
    assert r.status_code == 413
    assert "4096" in err(r)
    assert not service.calls


def test_similar_upload_over_limit_while_streaming_is_413(service, make_client, err):
    # a multipart body streamed without Content-Length: counted while it is read
    small = make_client(service, max_upload_bytes=4096)
    boundary = "xyz"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n'
        "Content-Type: audio/wav\r\n\r\n"
    ).encode()

    def body():
        yield head
        for _ in range(4):
            yield b"\0" * 4096
        yield f"\r\n--{boundary}--\r\n".encode()

    r = small.post(
        "/api/similar",
        content=body(),
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert r.status_code == 413
    err(r)
    assert not service.calls


@pytest.mark.parametrize(
    ("kwargs", "status", "needle"),
    [
        ({"json": {"file_id": 999}}, 404, "unknown file id 999"),
        ({"json": {"file_id": "../../etc/passwd"}}, 404, "unknown file id"),
        ({"json": {"file_id": -1}}, 404, "unknown file id -1"),
        ({"json": {"file_id": 10**30}}, 404, "unknown file id 1000000000000000000000000000000"),
        ({"json": {"file_id": 1.5}}, 404, "unknown file id 1.5"),
        ({"json": {"file_id": None}}, 404, "unknown file id None"),
        ({"json": {"file_id": True}}, 404, "unknown file id True"),
        ({"json": {"k": 3}}, 400, "missing 'file_id'"),
        ({"json": {"file_id": 1, "k": 0}}, 400, "k must be an integer from 1 to 10000, got 0"),
        ({"json": [1, 2]}, 400, "JSON object"),
        ({"data": {"k": "2"}}, 400, "missing input"),
        ({"data": {"file_id": "1", "k": "x"}}, 400, "invalid k 'x'"),
        ({"content": b"file_id=1", "headers": {"content-type": "text/plain"}}, 415, "text/plain"),
        ({"content": b"{oops", "headers": {"content-type": "application/json"}}, 400, "JSON"),
    ],
)
def test_similar_bad_input(client, service, err, kwargs, status, needle):
    r = client.post("/api/similar", **kwargs)
    assert r.status_code == status
    assert needle in err(r)
    assert not [c for c in service.calls if c[0] == "similar"]


# ---- duplicates ------------------------------------------------------------------------------


def test_duplicates_are_the_services_groups(client, service, records):
    from dataclasses import asdict

    r = client.get("/api/duplicates", params={"threshold": 0.9})
    assert r.status_code == 200
    body = r.json()
    assert body["threshold"] == 0.9
    assert service.calls[-1] == ("duplicates", 0.9)
    (expected,) = service.duplicates(0.9)
    (group,) = body["groups"]
    assert group["score"] == expected.score == 0.99
    assert group["confirmed"] == "audio"
    assert group["pairs"] == [asdict(p) for p in expected.pairs]
    assert group["pairs"] == [{"a": 1, "b": 2, "embedding_score": 0.99, "audio_score": 0.97}]
    # each file is the IndexedFile, plus the name and audio URL the page uses
    for f, want in zip(group["files"], expected.files, strict=True):
        assert f == {
            **asdict(want),
            "name": Path(want.path).name,
            "audio_url": f"/api/audio/{want.file_id}",
        }
    assert group["files"][0]["path"] == records[0].path
    assert group["files"][0]["size"] == Path(records[0].path).stat().st_size


def test_file_by_id(client, records, err):
    r = client.get(f"/api/files/{records[1].id}")
    assert r.status_code == 200
    body = r.json()
    assert body["file_id"] == records[1].id and body["path"] == records[1].path
    assert body["name"] == Path(records[1].path).name
    r = client.get("/api/files/999")
    assert r.status_code == 404
    assert "unknown file id 999" in err(r)


def test_duplicates_default_threshold(client, service):
    assert client.get("/api/duplicates").status_code == 200
    assert service.calls[-1] == ("duplicates", None)


@pytest.mark.parametrize("threshold", ["2", "-1.5", "high", "nan"])
def test_duplicates_bad_threshold(client, err, threshold):
    r = client.get("/api/duplicates", params={"threshold": threshold})
    assert r.status_code == 400
    assert "threshold" in err(r)


# ---- audio streaming ---------------------------------------------------------------------------


def _file(records, name):
    rec = next(r for r in records if r.path.endswith(name))
    return rec, Path(rec.path).read_bytes()


def test_audio_full_file(client, records):
    rec, data = _file(records, "dog_barking.wav")
    r = client.get(f"/api/audio/{rec.id}")
    assert r.status_code == 200
    assert r.content == data
    assert r.headers["accept-ranges"] == "bytes"
    assert r.headers["content-type"] == "audio/wav"
    assert int(r.headers["content-length"]) == len(data)


def test_audio_head(client, records):
    rec, data = _file(records, "dog_barking.wav")
    r = client.head(f"/api/audio/{rec.id}")
    assert r.status_code == 200
    assert int(r.headers["content-length"]) == len(data) and r.content == b""


def test_audio_range_first_bytes(client, records):
    rec, data = _file(records, "rain_on_roof.wav")
    r = client.get(f"/api/audio/{rec.id}", headers={"Range": "bytes=0-99"})
    assert r.status_code == 206
    assert r.content == data[:100]
    assert r.headers["content-range"] == f"bytes 0-99/{len(data)}"
    assert r.headers["content-length"] == "100"


@pytest.mark.parametrize("seconds", [0.5, 1.5, 2.75])
def test_audio_range_seek_to_window_start(client, records, seconds):
    # what a player does to start at the best window: ask for the bytes from that offset
    rec, data = _file(records, "church_bells.wav")
    offset = 44 + int(seconds * 16000) * 2  # 16-bit mono PCM after the 44-byte header
    r = client.get(f"/api/audio/{rec.id}", headers={"Range": f"bytes={offset}-"})
    assert r.status_code == 206
    assert r.content == data[offset:]
    assert r.headers["content-range"] == f"bytes {offset}-{len(data) - 1}/{len(data)}"


def test_audio_suffix_and_clamped_ranges(client, records):
    rec, data = _file(records, "church_bells.wav")
    r = client.get(f"/api/audio/{rec.id}", headers={"Range": "bytes=-10"})
    assert r.status_code == 206 and r.content == data[-10:]
    r = client.get(f"/api/audio/{rec.id}", headers={"Range": f"bytes=100-{len(data) * 2}"})
    assert r.status_code == 206 and r.content == data[100:]


def test_audio_multiple_ranges(client, records):
    rec, data = _file(records, "church_bells.wav")
    r = client.get(f"/api/audio/{rec.id}", headers={"Range": "bytes=0-9,100-109"})
    assert r.status_code == 206
    assert r.headers["content-type"].startswith("multipart/byteranges")
    assert data[0:10] in r.content and data[100:110] in r.content


@pytest.mark.parametrize(
    "header",
    [
        "bytes={size}-",
        "bytes={size}-{size2}",
        "bytes=abc",
        "bytes=10-5",
        "bytes=-0",
        "bytes=-",
        "bytes=",
        "items=0-10",
        "0-10",
        "bytes=0-10,zz",
    ],
)
def test_audio_bad_range_is_416(client, records, err, header):
    rec, data = _file(records, "church_bells.wav")
    value = header.format(size=len(data), size2=len(data) + 10)
    r = client.get(f"/api/audio/{rec.id}", headers={"Range": value})
    assert r.status_code == 416
    assert r.headers["content-range"] == f"bytes */{len(data)}"
    assert "cannot be satisfied" in err(r)


@pytest.mark.parametrize("file_id", ["999", "0", "abc", "1.0", "-1", "%20", "1e3"])
def test_audio_unknown_id_is_404(client, err, file_id):
    r = client.get(f"/api/audio/{file_id}")
    assert r.status_code == 404
    assert "unknown file id" in err(r)


@pytest.mark.parametrize(
    "raw_path",
    [
        "/api/audio/..",
        "/api/audio/../../../../etc/passwd",
        "/api/audio/%2e%2e",
        "/api/audio/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/api/audio/..%2f..%2f..%2fetc%2fpasswd",
        "/api/audio/%2fetc%2fpasswd",
        "/api/audio//etc/passwd",
        "/api/audio/%252e%252e%252fetc%252fpasswd",
        "/api/audio/1%2f..%2f..%2fsecret.txt",
        "/api/audio/1/../../outside/secret.txt",
        "/api/audio/..%5c..%5cetc%5cpasswd",
        "/api/audio/1?path=/etc/passwd",
    ],
)
def test_audio_path_traversal_is_impossible(service, err, raw_path):
    """Raw URLs (no client-side normalisation) sent straight to the ASGI app."""
    from audioseek.serve.app import create_app

    app = create_app(service)

    async def fetch():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
            request = c.build_request("GET", "http://localhost/")
            request.url = request.url.copy_with(raw_path=raw_path.encode())
            return await c.send(request)

    r = asyncio.run(fetch())
    secret = b"TOP SECRET"
    assert secret not in r.content and b"root:" not in r.content
    if raw_path.endswith("?path=/etc/passwd"):  # extra params are ignored: file 1 is served
        assert r.status_code == 200 and r.content[:4] == b"RIFF"
    else:
        assert r.status_code == 404
        err(r)


def test_audio_refuses_symlink_pointing_out_of_library(
    library, tmp_path, record_cls, fake_service_cls, make_client, err
):
    # a library file that is a symlink to a file outside the library
    link = library / "sneaky.wav"
    link.symlink_to(tmp_path / "outside" / "secret.txt")
    rec = record_cls(7, str(link), 1.0, 16000, "wav")  # as if stored unresolved
    client = make_client(fake_service_cls([rec]))
    r = client.get("/api/audio/7")
    assert r.status_code == 403
    assert "outside the indexed library" in err(r)
    assert b"TOP SECRET" not in r.content


def test_audio_refuses_indexed_file_replaced_by_symlink(client, records, library, tmp_path, err):
    rec, _ = _file(records, "dog_barking.wav")
    os.remove(rec.path)
    os.symlink(tmp_path / "outside" / "secret.txt", rec.path)
    r = client.get(f"/api/audio/{rec.id}")
    assert r.status_code == 403
    assert b"TOP SECRET" not in r.content
    err(r)


def test_audio_refuses_symlinked_dir_escape(
    library, tmp_path, record_cls, fake_service_cls, make_client, err
):
    (library / "linkdir").symlink_to(tmp_path / "outside", target_is_directory=True)
    rec = record_cls(8, str(library / "linkdir" / "secret.txt"), 1.0, 16000, "wav")
    client = make_client(fake_service_cls([rec]))
    r = client.get("/api/audio/8")
    assert r.status_code == 403
    assert b"TOP SECRET" not in r.content


def test_audio_refuses_relative_paths_and_paths_outside_the_roots(
    tmp_path, library, record_cls, fake_service_cls, make_client, err
):
    secret = tmp_path / "outside" / "secret.txt"
    # a service whose record names a file outside the library roots it reports
    s = fake_service_cls([record_cls(5, str(secret), 1.0, 16000, "wav")], roots=[str(library)])
    r = make_client(s).get("/api/audio/5")
    assert r.status_code == 403
    assert "outside the indexed library" in err(r)
    s = fake_service_cls([record_cls(5, "outside/secret.txt", 1.0, 16000, "wav")])
    r = make_client(s).get("/api/audio/5")
    assert r.status_code == 403
    assert "not absolute" in err(r)


def test_audio_refuses_directory(library, record_cls, fake_service_cls, make_client, err):
    sub = library / "folder.wav"
    sub.mkdir()
    client = make_client(fake_service_cls([record_cls(4, str(sub), 1.0, 16000, "wav")]))
    r = client.get("/api/audio/4")
    assert r.status_code == 403
    assert "not a file" in err(r)


def test_audio_missing_file_is_404(client, records, err):
    rec, _ = _file(records, "rain_on_roof.wav")
    os.remove(rec.path)
    r = client.get(f"/api/audio/{rec.id}")
    assert r.status_code == 404
    assert f"{rec.path!r} no longer exists" in err(r)


# ---- errors, concurrency, page, docs ----------------------------------------------------------


def test_unknown_endpoint_and_method_are_json(client, err):
    r = client.get("/api/nope")
    assert r.status_code == 404
    assert "/api/nope" in err(r)
    r = client.delete("/api/search")
    assert r.status_code == 405
    assert "DELETE" in err(r)


def test_searcher_failure_is_500_json(records, fake_service_cls, make_client, err):
    class Broken(fake_service_cls):
        def search(self, queries, k=10, agg="max"):
            raise RuntimeError("boom")

    from fastapi.testclient import TestClient

    from audioseek.serve.app import create_app

    app = create_app(Broken(records))
    with TestClient(app, base_url="http://localhost", raise_server_exceptions=False) as c:
        r = c.get("/api/search", params={"q": "rain"})
    assert r.status_code == 500
    assert "internal server error" in err(r)


def test_concurrent_requests_never_overlap_in_the_searcher(records, fake_service_cls):
    from audioseek.serve.app import create_app

    service = fake_service_cls(records, delay=0.02)
    app = create_app(service)
    words = ["rain", "dog", "church", "bells", "barking", "roof"]

    async def burst():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
            reqs = [c.get("/api/search", params={"q": words[i % 6], "k": 1}) for i in range(12)]
            reqs += [c.get("/api/search", params={"q": "dog", "k": 2}) for _ in range(3)]
            reqs += [c.post("/api/similar", json={"file_id": 1}) for _ in range(3)]
            reqs += [c.get("/api/info") for _ in range(2)]
            return await asyncio.gather(*reqs)

    responses = asyncio.run(burst())
    assert [r.status_code for r in responses] == [200] * 20
    assert service.max_active == 1  # one call at a time in the service
    # every request got the answer to its own query, batched or not
    expected = {
        "rain": "rain_on_roof.wav",
        "dog": "dog_barking.wav",
        "barking": "dog_barking.wav",
        "church": "church_bells.wav",
        "bells": "church_bells.wav",
        "roof": "rain_on_roof.wav",
    }
    for i, r in enumerate(responses[:12]):
        body = r.json()
        assert body["query"] == words[i % 6] and len(body["hits"]) == 1
        assert body["hits"][0]["name"] == expected[words[i % 6]]
    for r in responses[12:15]:
        assert [h["name"] for h in r.json()["hits"]][:1] == ["dog_barking.wav"]
        assert len(r.json()["hits"]) == 2
    # queries that waited together were encoded together, grouped by k
    search_calls = [c for c in service.calls if c[0] == "search"]
    assert sum(len(c[1]) for c in search_calls) == 15
    assert len(search_calls) < 15
    assert all(c[2] == 1 or set(c[1]) == {"dog"} for c in search_calls)


def test_batched_search_error_reaches_every_request(records, fake_service_cls, err):
    from audioseek.errors import QueryError
    from audioseek.serve.app import create_app

    class Refusing(fake_service_cls):
        def search(self, queries, k=10, agg="max"):
            self._enter("search", tuple(queries), k, agg)
            try:
                raise QueryError(f"refused {len(queries)} queries")
            finally:
                self._exit()

    app = create_app(Refusing(records, delay=0.02))

    async def burst():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
            return await asyncio.gather(
                *[c.get("/api/search", params={"q": f"q{i}"}) for i in range(6)]
            )

    for r in asyncio.run(burst()):
        assert r.status_code == 400
        assert err(r).startswith("refused")


def test_create_app_needs_exactly_one_service(service):
    from audioseek.serve.app import ServiceWorker, create_app

    with pytest.raises(ValueError):
        create_app()
    with pytest.raises(ValueError):
        create_app(service, worker=ServiceWorker(service=service))


def test_worker_builds_the_service_on_its_own_thread(fake_service_cls):
    import threading

    from audioseek.serve.app import ServiceWorker

    made_on = []
    built = fake_service_cls([])
    worker = ServiceWorker(factory=lambda: made_on.append(threading.get_ident()) or built)
    try:
        assert worker.service is built
        assert worker.run(lambda s: threading.get_ident()) == made_on[0]
        assert made_on[0] != threading.get_ident()
    finally:
        worker.close()
    assert built.closed  # a service the worker built is closed with it


def test_bind_socket_errors_are_clear():
    from audioseek.serve.app import bind_socket, is_loopback

    sock = bind_socket("127.0.0.1", 0)
    try:
        assert is_loopback(sock)
        port = sock.getsockname()[1]
        with pytest.raises(ConfigError, match=f"port {port}"):
            bind_socket("127.0.0.1", port)
    finally:
        sock.close()
    with pytest.raises(ConfigError, match="invalid port"):
        bind_socket("127.0.0.1", 70000)
    with pytest.raises(ConfigError, match="cannot resolve host 'no-such-host.invalid'"):
        bind_socket("no-such-host.invalid", 0)
    any_addr = bind_socket("0.0.0.0", 0)
    try:
        assert not is_loopback(any_addr)
        assert any_addr.family == socket.AF_INET
    finally:
        any_addr.close()


def test_server_timing_header_splits_queue_and_searcher_time(
    records, fake_service_cls, make_client
):
    import re

    client = make_client(fake_service_cls(records, delay=0.05))
    r = client.get("/api/search", params={"q": "rain"})
    m = re.fullmatch(r"queue;dur=([\d.]+), searcher;dur=([\d.]+)", r.headers["server-timing"])
    assert m, r.headers["server-timing"]
    assert float(m.group(2)) >= 50.0  # the fake sleeps 50 ms inside the service call
    assert "server-timing" not in client.get("/healthz").headers


@pytest.mark.parametrize(
    ("roots", "status"),
    [
        ([], 200),  # index from before roots were recorded: the recorded path decides
        (["{lib}"], 200),
        (["{lib}/dog_barking.wav"], 200),  # a single indexed file is its own root
        (["{tmp}/elsewhere"], 403),  # the file is indexed but outside every recorded root
    ],
)
def test_audio_checks_recorded_library_roots(
    records, library, tmp_path, fake_service_cls, make_client, err, roots, status
):
    resolved = [r.format(lib=library.resolve(), tmp=tmp_path) for r in roots]
    service = fake_service_cls(records, roots=resolved)
    dog = next(r for r in records if r.path.endswith("dog_barking.wav"))
    r = make_client(service).get(f"/api/audio/{dog.id}")
    assert r.status_code == status
    if status == 403:
        assert "outside the indexed library" in err(r)
    else:
        assert r.content == Path(dog.path).read_bytes()


@pytest.mark.parametrize(
    ("params", "check", "value"),
    [
        ({"q": "rain", "k": 0}, "check_k", 0),
        ({"q": "rain", "k": 10**5}, "check_k", 10**5),
        ({"q": "rain", "agg": "top0-mean"}, "parse_agg", "top0-mean"),
        ({"q": "x" * 1001}, "check_query", "x" * 1001),
        ({"q": " "}, "check_query", " "),
    ],
)
def test_validation_is_the_one_of_index_query(client, err, params, check, value):
    """The API refuses what ``audioseek.Index`` and the CLI refuse, with the same message."""
    import audioseek.index.query as query
    from audioseek.errors import QueryError

    with pytest.raises(QueryError) as expected:
        getattr(query, check)(value)
    r = client.get("/api/search", params=params)
    assert r.status_code == 400
    assert err(r) == str(expected.value)
