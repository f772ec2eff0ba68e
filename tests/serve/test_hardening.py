"""The server under hostile or careless use (issue 11): files swapped for symlinks while they
are served, foreign Host headers (DNS rebinding), requests without the token on a server
that needs one, over-limit bodies on a real socket, uploads that decode to hours of audio,
and uploads that would starve the searches."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf

# ---- (2) serve only what was opened and checked ---------------------------------------------


def test_symlink_swap_race_never_serves_a_byte_from_outside(
    records, library, tmp_path, fake_service_cls, make_client
):
    """An indexed file is replaced by a symlink to a secret outside the library and back,
    as fast as possible, while it is downloaded: every answer is the indexed file or a
    refusal, never the secret (checking a name and then opening it by name leaks it)."""
    dog = next(r for r in records if r.path.endswith("dog_barking.wav"))
    good = Path(dog.path).read_bytes()
    secret = tmp_path / "outside" / "secret.bin"
    secret.write_bytes(b"TOP SECRET " * (len(good) // 11 + 100))  # larger than the file
    keep = library / ".dog.keep"
    os.link(dog.path, keep)  # the indexed inode, to put back
    client = make_client(fake_service_cls(records, roots=[str(library)]))
    stop = threading.Event()
    swaps = [0]

    def swapper():
        while not stop.is_set():
            link = library / ".swap-link"
            os.symlink(secret, link)
            os.replace(link, dog.path)  # now a symlink out of the library
            back = library / ".swap-back"
            os.link(keep, back)
            os.replace(back, dog.path)  # the indexed file again
            swaps[0] += 1

    thread = threading.Thread(target=swapper, daemon=True)
    thread.start()
    statuses = []
    try:
        for i in range(300):
            headers = {"Range": "bytes=0-"} if i % 3 == 0 else {}
            r = client.get(f"/api/audio/{dog.id}", headers=headers)
            statuses.append(r.status_code)
            assert b"TOP SECRET" not in r.content
            if r.status_code in (200, 206):
                assert r.content == good
            else:
                assert r.status_code in (403, 404), r.status_code  # 404: between the renames
    finally:
        stop.set()
        thread.join()
    assert swaps[0] > 0 and {200, 206} & set(statuses)


def test_fifo_swapped_in_does_not_hang(records, library, fake_service_cls, make_client, err):
    rain = next(r for r in records if r.path.endswith("rain_on_roof.wav"))
    os.remove(rain.path)
    os.mkfifo(rain.path)  # opening a FIFO for reading blocks until a writer comes
    r = make_client(fake_service_cls(records)).get(f"/api/audio/{rain.id}")
    assert r.status_code == 403
    assert "not a file" in err(r)


def test_audio_streams_from_the_descriptor_it_checked(
    records, fake_service_cls, make_client, monkeypatch
):
    """After the check, the name is never opened again: the bytes come from the descriptor
    (here the file is renamed away right after it was opened, and is still served)."""
    import audioseek.serve.files as files

    dog = next(r for r in records if r.path.endswith("dog_barking.wav"))
    good = Path(dog.path).read_bytes()
    real_open = files.open_indexed

    def open_then_remove(listed, roots):
        fd, st = real_open(listed, roots)
        os.remove(listed)
        return fd, st

    monkeypatch.setattr(files, "open_indexed", open_then_remove)
    monkeypatch.setattr("audioseek.serve.api.open_indexed", open_then_remove)
    r = make_client(fake_service_cls(records)).get(
        f"/api/audio/{dog.id}", headers={"Range": "bytes=10-"}
    )
    assert r.status_code == 206 and r.content == good[10:]
    assert not Path(dog.path).exists()


# ---- (3) Host allow-list, CORS --------------------------------------------------------------

ROUTES = ["/", "/healthz", "/api/info", "/api/search?q=rain", "/api/audio/1", "/static/app.js"]


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    "host", ["evil.example.com", "evil.example.com:8000", "localhost.evil.com", "127.0.0.1.nip.io"]
)
def test_foreign_host_is_400_on_every_route(client, service, err, route, host):
    r = client.get(route, headers={"host": host})
    assert r.status_code == 400
    assert f"host {host!r} is not served here" in err(r)
    assert not [c for c in service.calls if c[0] in ("search", "file", "info")]


@pytest.mark.parametrize(
    "host",
    ["localhost", "localhost:8000", "LOCALHOST", "127.0.0.1", "127.0.0.1:1", "[::1]", "[::1]:80"],
)
def test_loopback_hosts_are_served(client, host):
    r = client.get("/api/search", params={"q": "rain"}, headers={"host": host})
    assert r.status_code == 200


@pytest.mark.parametrize("host", ["", "localhost:http", "[::1", "[::1]x", "localhost:80:80"])
def test_malformed_host_is_400(client, err, host):
    r = client.get("/healthz", headers={"host": host})
    assert r.status_code == 400
    err(r)


def test_allow_host_adds_a_name(service, make_client):
    c = make_client(service, allowed_hosts=["localhost", "box.lan"])
    assert c.get("/healthz", headers={"host": "box.lan:8000"}).status_code == 200
    assert c.get("/healthz", headers={"host": "other.lan"}).status_code == 400
    assert c.get("/healthz", headers={"host": "10.0.0.5"}).status_code == 400
    beyond = make_client(service, allowed_hosts=["localhost"], allow_ip_hosts=True)
    assert beyond.get("/healthz", headers={"host": "10.0.0.5:8000"}).status_code == 200
    assert beyond.get("/healthz", headers={"host": "[fe80::1]"}).status_code == 200
    assert beyond.get("/healthz", headers={"host": "evil.example.com"}).status_code == 400


def test_no_cors_unless_asked(service, make_client):
    origin = {"Origin": "https://evil.example.com"}
    r = make_client(service).get("/api/search", params={"q": "rain"}, headers=origin)
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
    c = make_client(service, cors_origins=["https://app.example"])
    r = c.get("/api/search", params={"q": "rain"}, headers={"Origin": "https://app.example"})
    assert r.headers["access-control-allow-origin"] == "https://app.example"
    r = c.get("/api/search", params={"q": "rain"}, headers=origin)
    assert "access-control-allow-origin" not in r.headers
    preflight = c.options(
        "/api/search",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 200


# ---- access control beyond loopback ---------------------------------------------------------

TOKEN = "correct-horse-battery-staple"


@pytest.fixture
def locked(service, make_client):
    return make_client(service, token=TOKEN)


@pytest.mark.parametrize(
    ("method", "route"),
    [
        ("GET", "/api/search?q=rain"),
        ("POST", "/api/search"),
        ("GET", "/api/info"),
        ("GET", "/api/duplicates"),
        ("GET", "/api/files/1"),
        ("GET", "/api/audio/1"),
        ("HEAD", "/api/audio/1"),
        ("POST", "/api/similar"),
    ],
)
def test_request_without_the_token_is_401(locked, service, err, method, route):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        r = locked.request(method, route, headers=headers, json={"queries": ["rain"]})
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == "Bearer"
        if method != "HEAD":
            assert "access token" in err(r)
    assert service.calls == []


def test_bearer_token_opens_the_api(locked, records):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert locked.get("/api/search", params={"q": "rain"}, headers=auth).status_code == 200
    r = locked.get(f"/api/audio/{records[0].id}", headers=auth)
    assert r.status_code == 200 and r.content == Path(records[0].path).read_bytes()


def test_page_signs_in_once_with_a_cookie(locked):
    assert locked.get("/healthz").status_code == 200  # open
    assert locked.get("/").status_code == 200  # the page itself holds nothing
    assert locked.get("/static/app.js").status_code == 200
    r = locked.get("/", params={"token": "wrong"}, follow_redirects=False)
    assert r.status_code == 401 and "set-cookie" not in r.headers
    r = locked.get("/", params={"token": TOKEN}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"audioseek_token={TOKEN};")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    # the client keeps the cookie: the page's requests and its audio players now work
    assert locked.get("/api/search", params={"q": "rain"}).status_code == 200
    assert locked.get("/api/audio/1").status_code == 200
    locked.cookies.clear()
    assert locked.get("/api/search", params={"q": "rain"}).status_code == 401


def test_token_is_compared_in_constant_time(locked, monkeypatch):
    import hmac

    seen = []
    real = hmac.compare_digest

    def spy(a, b):
        seen.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    locked.get("/api/info", headers={"Authorization": "Bearer guess"})
    assert (b"guess", TOKEN.encode()) in seen


# ---- (12) limits: k, bodies on a real socket ------------------------------------------------


@pytest.mark.parametrize(
    ("route", "body"),
    [
        ("/api/search", {"queries": ["rain"], "k": True}),
        ("/api/search", {"queries": ["rain"], "k": "3"}),
        ("/api/similar", {"file_id": 1, "k": True}),
    ],
)
def test_k_true_is_refused(client, service, err, route, body):
    r = client.post(route, json=body)
    assert r.status_code == 400
    assert "k" in err(r)
    assert not [c for c in service.calls if c[0] in ("search", "similar")]


@pytest.fixture
def live(service, live_server):
    from audioseek.serve.app import ServeSettings, create_app

    settings = ServeSettings(max_body_bytes=64 * 1024, max_upload_bytes=256 * 1024)
    return live_server(create_app(service, settings=settings))


def _post_then_read(url: str, body, content_type: str) -> tuple[int, dict]:
    """POST the whole body, then read the answer, on a ``Connection: close`` request (what
    ``urllib`` and many scripts send): ``(status, JSON body)``. A server that answers
    before reading the body and then closes resets the connection under the client."""
    import http.client
    import json
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    headers = {"Content-Type": content_type, "Connection": "close"}
    try:
        conn.request(
            "POST",
            parts.path,
            body=body,
            headers=headers,
            encode_chunked=not isinstance(body, bytes),
        )
        r = conn.getresponse()
        return r.status, json.loads(r.read())
    finally:
        conn.close()


def test_over_limit_body_is_413_not_a_connection_reset(live, service):
    big = b"x" * (8 << 20)  # 8 MiB with Content-Length: reset by the old server
    status, body = _post_then_read(live.url + "/api/search", big, "application/json")
    assert (status, body) == (
        413,
        {"error": f"request body of {len(big)} bytes exceeds 65536 bytes"},
    )
    chunks = (big[i : i + 65536] for i in range(0, len(big), 65536))  # without Content-Length
    status, body = _post_then_read(live.url + "/api/search", chunks, "application/json")
    assert (status, body) == (413, {"error": "request body is larger than 65536 bytes"})
    upload = (
        b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n'
        b"Content-Type: audio/wav\r\n\r\n" + big + b"\r\n--xyz--\r\n"
    )
    status, body = _post_then_read(
        live.url + "/api/similar", upload, "multipart/form-data; boundary=xyz"
    )
    assert status == 413 and body["error"].endswith("exceeds 262144 bytes")
    assert not [c for c in service.calls if c[0] in ("search", "similar")]
    assert httpx.get(live.url + "/healthz").status_code == 200


# ---- (1) uploads: duration limit, own thread, bounded queue, time limit ---------------------


def _silence_flac(path: Path, seconds: float, sr: int = 8000, tone: bool = False) -> Path:
    with sf.SoundFile(path, "w", sr, 1, format="FLAC") as f:
        for start in range(0, int(seconds * sr), sr * 60):
            n = min(sr * 60, int(seconds * sr) - start)
            t = (start + np.arange(n)) / sr
            f.write(
                (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
                if tone
                else np.zeros(n, np.float32)
            )
    return path


def _unknown_length(path: Path) -> Path:
    """Zero the STREAMINFO total-samples field: a FLAC whose header does not say how long it
    is (what a streaming encoder writes)."""
    data = bytearray(path.read_bytes())
    assert data[:4] == b"fLaC" and data[4] & 0x7F == 0  # STREAMINFO comes first
    data[21] &= 0xF0
    data[22:26] = b"\0\0\0\0"
    path.write_bytes(bytes(data))
    return path


def test_upload_of_unknown_length_is_counted_while_decoding(client, service, err, tmp_path):
    long = _unknown_length(_silence_flac(tmp_path / "stream.flac", 20 * 60))
    with open(long, "rb") as f:
        r = client.post("/api/similar", files={"file": ("stream.flac", f, "audio/flac")})
    assert r.status_code == 413
    assert err(r) == "cannot decode audio file 'stream.flac': longer than the limit of 600 s"
    assert not [c for c in service.calls if c[0] == "similar"]
    short = _unknown_length(_silence_flac(tmp_path / "short.flac", 3, tone=True))
    with open(short, "rb") as f:
        r = client.post("/api/similar", files={"file": ("short.flac", f, "audio/flac")})
    assert r.status_code == 200  # an unknown length is not a reason to refuse


def test_upload_duration_is_checked_with_bounded_memory(tmp_path):
    """Checking a 9-minute 48 kHz upload (100 MB decoded) holds a few decoder blocks."""
    import tracemalloc

    from audioseek.serve.api import check_upload_duration

    flac = _unknown_length(_silence_flac(tmp_path / "nine.flac", 9 * 60, sr=48000))
    tracemalloc.start()
    try:
        check_upload_duration(flac, 600.0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, peak  # vs 9 * 60 * 48000 * 4 = 104 MB for a whole decode


def test_upload_of_hours_of_silence_is_413_before_decoding(client, service, err, tmp_path):
    flac = _silence_flac(tmp_path / "quiet.flac", 20 * 60)  # 20 min in a few kB
    assert flac.stat().st_size < 200_000
    with open(flac, "rb") as f:
        r = client.post("/api/similar", files={"file": ("quiet.flac", f, "audio/flac")})
    assert r.status_code == 413
    assert err(r) == "cannot decode audio file 'quiet.flac': longer than the limit of 600 s"
    assert not [c for c in service.calls if c[0] == "similar"]


def test_upload_duration_limit_is_a_setting(service, make_client, tone, tmp_path, err):
    wav = tone(tmp_path / "three.wav", 300, seconds=3.0)
    c = make_client(service, max_upload_seconds=2.0)
    with open(wav, "rb") as f:
        r = c.post("/api/similar", files={"file": ("three.wav", f, "audio/wav")})
    assert r.status_code == 413 and "limit of 2 s" in err(r)
    c = make_client(service, max_upload_seconds=4.0)
    with open(wav, "rb") as f:
        assert (
            c.post("/api/similar", files={"file": ("three.wav", f, "audio/wav")}).status_code == 200
        )


def test_service_too_long_error_is_413_naming_the_upload(
    records, fake_service_cls, make_client, tone, tmp_path, err
):
    from audioseek.errors import AudioTooLongError

    class Bounded(fake_service_cls):  # a service whose streaming decode stops at a limit
        def similar(self, query, k=10):
            raise AudioTooLongError(query, 42)

    wav = tone(tmp_path / "x.wav", 300)
    with open(wav, "rb") as f:
        r = make_client(Bounded(records)).post(
            "/api/similar", files={"file": ("x.wav", f, "audio/wav")}
        )
    assert r.status_code == 413
    assert err(r) == "cannot decode audio file 'x.wav': longer than the limit of 42 s"


class _Blocking:
    """Makes a FakeService's ``similar`` on uploads wait until released."""

    def __init__(self, cls, records):
        release = self.release = threading.Event()
        started = self.started = threading.Event()

        class Service(cls):
            def similar(self, query, k=10):
                if isinstance(query, str):
                    started.set()
                    release.wait(10)
                return super().similar(query, k)

        self.service = Service(records)


def _upload(c, wav):
    return c.post("/api/similar", files={"file": ("clip.wav", wav.read_bytes(), "audio/wav")})


def test_a_slow_upload_does_not_hold_up_searches(records, fake_service_cls, tone, tmp_path):
    from audioseek.serve.app import create_app

    blocking = _Blocking(fake_service_cls, records)
    app = create_app(blocking.service)
    wav = tone(tmp_path / "clip.wav", 300)

    async def run():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
            upload = asyncio.ensure_future(_upload(c, wav))
            while not blocking.started.is_set():
                await asyncio.sleep(0.01)
            search = await c.get("/api/search", params={"q": "rain"})  # while the upload runs
            assert not upload.done()
            blocking.release.set()
            return search, await upload

    search, upload = asyncio.run(run())
    assert search.status_code == 200 and search.json()["hits"][0]["name"] == "rain_on_roof.wav"
    assert upload.status_code == 200


def test_upload_queue_is_bounded_503(records, fake_service_cls, tone, tmp_path):
    from audioseek.serve.app import ServeSettings, create_app

    blocking = _Blocking(fake_service_cls, records)
    app = create_app(blocking.service, settings=ServeSettings(max_pending_uploads=1))
    wav = tone(tmp_path / "clip.wav", 300)

    async def run():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
            first = asyncio.ensure_future(_upload(c, wav))
            while not blocking.started.is_set():
                await asyncio.sleep(0.01)
            second = await _upload(c, wav)
            blocking.release.set()
            return await first, second, await _upload(c, wav)

    first, second, third = asyncio.run(run())
    assert first.status_code == 200
    assert second.status_code == 503 and second.headers["retry-after"]
    assert second.json()["error"].startswith("busy:")
    assert third.status_code == 200  # the queue has room again


def test_upload_time_limit_is_503(records, fake_service_cls, tone, tmp_path):
    from audioseek.serve.app import ServeSettings, create_app

    blocking = _Blocking(fake_service_cls, records)
    app = create_app(blocking.service, settings=ServeSettings(upload_timeout_s=0.2))
    wav = tone(tmp_path / "clip.wav", 300)

    async def run():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
            return await _upload(c, wav)

    try:
        r = asyncio.run(run())
    finally:
        blocking.release.set()
    assert r.status_code == 503
    assert r.json()["error"] == "the request took longer than 0.2 s and was given up"


def test_search_queue_is_bounded_503(records, fake_service_cls):
    from audioseek.serve.app import ServeSettings, create_app

    release, started = threading.Event(), threading.Event()

    class Slow(fake_service_cls):
        def search(self, queries, k=10, agg="max"):
            started.set()
            release.wait(10)
            return super().search(queries, k, agg)

    app = create_app(Slow(records), settings=ServeSettings(max_queue=2))
    worker = app.state.worker

    async def run():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
            held = [asyncio.ensure_future(c.get("/api/search", params={"q": q})) for q in "ab"]
            while worker._queued < 2 or not started.is_set():
                await asyncio.sleep(0.01)
            refused = await c.get("/api/search", params={"q": "rain"})
            info = await c.get("/healthz")  # no index call: not queued
            release.set()
            return [await h for h in held], refused, info

    held, refused, health = asyncio.run(run())
    assert [r.status_code for r in held] == [200, 200]
    assert refused.status_code == 503 and refused.json()["error"].startswith("busy: 2 requests")
    assert health.status_code == 200
    assert worker._queued == 0


def test_an_upload_whose_request_timed_out_in_the_queue_is_not_run(
    records, fake_service_cls, tone, tmp_path
):
    from audioseek.serve.app import ServeSettings, create_app

    blocking = _Blocking(fake_service_cls, records)
    settings = ServeSettings(upload_timeout_s=0.3, max_pending_uploads=2)
    app = create_app(blocking.service, settings=settings)
    worker = app.state.worker
    wav = tone(tmp_path / "clip.wav", 300)

    async def run():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
            first = asyncio.ensure_future(_upload(c, wav))
            while not blocking.started.is_set():
                await asyncio.sleep(0.01)
            second = await _upload(c, wav)  # waits behind the first, then times out
            blocking.release.set()
            first = await first
            while worker._queued_uploads:  # let the queued job run (or be skipped)
                await asyncio.sleep(0.01)
            return first, second

    first, second = asyncio.run(run())
    assert first.status_code == 503 and second.status_code == 503
    uploads = [c for c in blocking.service.calls if c[0] == "similar"]
    assert len(uploads) == 1  # only the first ever reached the service
