"""Issue 15 on the HTTP API: search modes, filters (query parameters on GET /api/search and
/api/similar, fields of the POST body), why each hit matched, the library map, waveform
peaks and tags; with the fake service and on a real index (same result sets as Python)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from audioseek.index.tagging import Tag
from audioseek.serve.app import create_app

HOSTED = "http://localhost"


@pytest.fixture
def tagged(records, fake_service_cls, library, tone):
    """The fake with a fourth file in a sub-folder (FLAC, 1 s, stereo) and tags."""
    sub = library / "Drums"
    sub.mkdir()
    tone(sub / "kick_hard.wav", 80, seconds=1.0)
    extra = type(records[0])(
        4, str((sub / "kick_hard.wav").resolve()), 1.0, 44100, "flac", channels=2
    )
    recs = [*records, extra]
    rain = next(r for r in recs if r.path.endswith("rain_on_roof.wav"))
    rain.tags = (Tag("rain", 0.4, "Weather"),)
    extra.tags = (Tag("kick drum", 0.5, "Drums"), Tag("thump", 0.2, None))
    return fake_service_cls(recs, roots=[str(library.resolve())])


@pytest.fixture
def tclient(tagged):
    with TestClient(create_app(tagged), base_url=HOSTED) as c:
        yield c


def _names(body) -> list[str]:
    return [h["name"] for h in body["hits"]]


def test_hits_say_why_they_matched(tclient):
    body = tclient.get("/api/search", params={"q": "dog barking", "k": 10}).json()
    assert body["mode"] == "hybrid" and body["filters"] == {}
    top = body["hits"][0]
    assert top["name"] == "dog_barking.wav"
    assert top["matched_terms"] == ["barking", "dog"]
    assert top["audio_score"] == 1.0 and top["text_score"] == 2.0 and top["weak"] is False
    assert all(h["weak"] for h in body["hits"][1:])  # no word of theirs matched
    kick = next(h for h in body["hits"] if h["name"] == "kick_hard.wav")
    assert kick["tags"] == ["kick drum", "thump"]


@pytest.mark.parametrize("mode", ["audio", "text", "hybrid"])
def test_mode_reaches_the_service(tclient, tagged, mode):
    body = tclient.get("/api/search", params={"q": "rain", "mode": mode}).json()
    assert body["mode"] == mode
    if mode == "text":
        assert _names(body) == ["rain_on_roof.wav"]  # only files a word matched
        assert body["hits"][0]["audio_score"] is None
    else:
        assert len(body["hits"]) == 4
    if mode == "audio":
        assert all(h["matched_terms"] == [] for h in body["hits"])
    assert tagged.calls[-1][0] == "search" and (mode == "hybrid") == (len(tagged.calls[-1]) == 4)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"format": "flac"}, {"kick_hard.wav"}),
        ({"format": "wav, FLAC"}, None),
        ({"min_duration": 2}, {"rain_on_roof.wav", "dog_barking.wav", "church_bells.wav"}),
        ({"max_duration": "1.5"}, {"kick_hard.wav"}),
        ({"min_duration": 0.5, "max_duration": 1.5}, {"kick_hard.wav"}),
        ({"sample_rate": 44100}, {"kick_hard.wav"}),
        ({"channels": 1}, {"rain_on_roof.wav", "dog_barking.wav", "church_bells.wav"}),
        ({"folder": "Drums"}, {"kick_hard.wav"}),
        ({"tag": "drums"}, {"kick_hard.wav"}),
        ({"tag": "rain"}, {"rain_on_roof.wav"}),
        ({"tag": "nothing"}, set()),
        ({"folder": "Drums", "format": "mp3"}, set()),
    ],
)
def test_filters_on_get_post_and_similar(tclient, tagged, params, expected):
    everything = {"rain_on_roof.wav", "dog_barking.wav", "church_bells.wav", "kick_hard.wav"}
    expected = everything if expected is None else expected
    got = tclient.get("/api/search", params={"q": "sound", "k": 10, **params})
    assert got.status_code == 200, got.text
    assert set(_names(got.json())) == expected
    assert got.json()["filters"]  # echoed, checked
    post = tclient.post("/api/search", json={"queries": ["sound"], "k": 10, **params})
    assert post.status_code == 200, post.text
    assert set(_names(post.json()["results"][0])) == expected
    # similar: the query file itself is never a result
    sim = tclient.post("/api/similar", params=params, json={"file_id": 1, "k": 10})
    assert sim.status_code == 200, sim.text
    assert set(_names(sim.json())) == expected - {"church_bells.wav"}
    assert sim.json()["filters"] == got.json()["filters"]
    # the same filters in the JSON body of /api/similar
    body = tclient.post("/api/similar", json={"file_id": 1, "k": 10, **params})
    assert set(_names(body.json())) == expected - {"church_bells.wav"}


def test_similar_upload_and_form_take_filters_from_the_query_string(tclient, library):
    form = tclient.post("/api/similar", params={"folder": "Drums"}, data={"file_id": "1"})
    assert form.status_code == 200 and _names(form.json()) == ["kick_hard.wav"]
    with open(library / "dog_barking.wav", "rb") as f:
        up = tclient.post(
            "/api/similar",
            params={"format": "flac"},
            files={"file": ("x.wav", f, "audio/wav")},
            data={"k": "5"},
        )
    assert up.status_code == 200, up.text
    assert _names(up.json()) == ["kick_hard.wav"] and up.json()["filters"] == {"format": ["flac"]}


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"mode": "semantic"}, "unknown mode 'semantic'"),
        ({"min_duration": "long"}, "min_duration"),
        ({"max_duration": -1}, "max_duration must be a finite number >= 0"),
        ({"min_duration": 3, "max_duration": 1}, "min_duration 3 is longer than max_duration 1"),
        ({"format": "w/a/v"}, "format must be file extensions"),
        ({"sample_rate": "fast"}, "sample_rate"),
        ({"channels": 1.5}, "channels"),
        ({"folder": "x" * 1001}, "folder is too long"),
    ],
)
def test_bad_mode_or_filter_is_a_one_line_400(tclient, tagged, err, params, needle):
    answers = [tclient.get("/api/search", params={"q": "rain", **params})]
    if "mode" not in params:  # similar has no mode
        answers.append(tclient.post("/api/similar", params=params, json={"file_id": 1}))
    for r in answers:
        assert r.status_code == 400, r.text
        assert needle in err(r)
    if "mode" not in params:
        r = tclient.post("/api/search", json={"queries": ["rain"], **params})
        assert r.status_code == 400 and err(r)
    assert not [c for c in tagged.calls if c[0] in ("search", "similar")]


def test_concurrent_searches_with_other_filters_are_not_mixed(records, fake_service_cls):
    """Searches queued together are batched only with the same mode and filters."""
    import concurrent.futures

    service = fake_service_cls(records, delay=0.05)
    with TestClient(create_app(service), base_url=HOSTED) as c:
        params = [
            {"q": "rain", "format": "wav"},
            {"q": "rain", "format": "flac"},
            {"q": "rain", "mode": "text"},
            {"q": "rain"},
        ] * 3
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            bodies = list(pool.map(lambda p: c.get("/api/search", params=p).json(), params))
    for p, body in zip(params, bodies, strict=True):
        n = {"flac": 0}.get(p.get("format"), 1 if p.get("mode") == "text" else 3)
        assert len(body["hits"]) == n, (p, body)


def test_map_has_every_file(tclient, tagged):
    points = tclient.get("/api/map").json()["points"]
    assert sorted(p["file_id"] for p in points) == sorted(tagged.records)
    for p in points:
        assert 0 <= p["x"] <= 1 and 0 <= p["y"] <= 1
        assert p["name"] == Path(tagged.records[p["file_id"]].path).name
    groups = {p["name"]: p["group"] for p in points}
    assert groups["kick_hard.wav"] == "Drums" and groups["rain_on_roof.wav"] == "Weather"
    assert groups["dog_barking.wav"] == "library"  # untagged: its folder


def test_peaks_and_tags_of_a_file(tclient, tagged, err):
    body = tclient.get("/api/files/4/peaks").json()
    assert body["file_id"] == 4 and len(body["peaks"]) > 10
    assert all(lo <= hi for lo, hi in body["peaks"])
    assert max(hi for _, hi in body["peaks"]) == pytest.approx(0.3, abs=0.02)  # the tone's
    tags = tclient.get("/api/files/4/tags").json()
    assert tags == {
        "file_id": 4,
        "tags": [
            {"label": "kick drum", "score": 0.5, "group": "Drums"},
            {"label": "thump", "score": 0.2, "group": None},
        ],
    }
    assert tclient.get("/api/files/2/tags").json()["tags"] == []
    for path in ("/api/files/99/peaks", "/api/files/99/tags", "/api/files/x/peaks"):
        r = tclient.get(path)
        assert r.status_code == 404 and "unknown file id" in err(r)


def test_openapi_documents_the_new_surface(tclient):
    spec = tclient.get("/openapi.json").json()
    params = {p["name"] for p in spec["paths"]["/api/search"]["get"]["parameters"]}
    assert {"mode", "min_duration", "max_duration", "format", "sample_rate", "channels"} <= params
    assert {"folder", "tag"} <= params
    for path in ("/api/map", "/api/files/{file_id}/peaks", "/api/files/{file_id}/tags"):
        assert "get" in spec["paths"][path]
    hit = spec["components"]["schemas"]["HitOut"]["properties"]
    assert {"audio_score", "text_score", "matched_terms", "weak", "tags"} <= set(hit)


# ---- a real index -------------------------------------------------------------------------


@pytest.fixture
def rclient(real_service):
    with TestClient(create_app(real_service), base_url=HOSTED) as c:
        yield c


def test_real_map_peaks_and_filters_match_python(rclient, real_service, real_index):
    _, files = real_index
    points = rclient.get("/api/map").json()["points"]
    assert {p["name"] for p in points} == {p.name for p in files.values()}
    assert len({(p["x"], p["y"]) for p in points}) >= 3  # a layout, not one spot
    whistle = next(p for p in points if p["name"] == files["whistle"].name)
    peaks = rclient.get(f"/api/files/{whistle['file_id']}/peaks").json()["peaks"]
    assert peaks and len(peaks) >= 32
    n = len(peaks)
    quiet = max(hi for _, hi in peaks[: n * 5 // 12])  # noise only before 6 s
    loud = max(hi for _, hi in peaks[n // 2 : n * 5 // 6])  # the whistle, 6-10 s
    assert loud > 5 * quiet
    for filters in ({"format": "flac"}, {"max_duration": 10}, {"min_duration": 10}, {}):
        api = rclient.get("/api/search", params={"q": "hum", "k": 10, **filters}).json()
        python = real_service.search("hum", k=10, **filters)
        assert [h["file_id"] for h in api["hits"]] == [h.file_id for h in python]
    flac = rclient.get("/api/search", params={"q": "hum", "format": "flac"}).json()["hits"]
    assert [h["path"] for h in flac] == [str(files["beep"])]
