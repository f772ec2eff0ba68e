"""The page in real headless Chromium (Debian's /usr/bin/chromium via Playwright) against a
real uvicorn server on 127.0.0.1 serving a real index built with a tiny model."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.network]

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]


@pytest.fixture(scope="module")
def browser():
    assert shutil.which(CHROMIUM), "the browser test needs Debian's chromium package"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def site(real_service, live_server):
    from audioseek.serve.app import create_app

    return live_server(create_app(real_service))


@pytest.fixture
def page(browser, site):
    """A page that records every request and console error (CSP violations show there)."""
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    pg = context.new_page()
    pg.requests = []
    pg.problems = []
    pg.on("request", lambda r: pg.requests.append(r.url))
    pg.on("console", lambda m: m.type == "error" and pg.problems.append(m.text))
    pg.on("pageerror", lambda e: pg.problems.append(str(e)))
    pg.set_default_timeout(15000)
    yield pg
    context.close()


def poll(pg, js: str, arg=None, timeout: float = 15.0):
    """Wait until ``js`` (a function) is truthy in the page. Evaluated from Python each time:
    Playwright's own ``wait_for_function`` polls with ``eval``, which the page's CSP forbids."""
    deadline = time.monotonic() + timeout
    while not pg.evaluate(js, arg):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {js}")
        time.sleep(0.05)


def _only_local(pg, site):
    external = [u for u in pg.requests if not u.startswith(site.url)]
    assert not external, external


def test_search_play_and_screenshot(page, site, real_index, tmp_path):
    _, files = real_index
    page.goto(site.url + "/")
    poll(page, "() => document.querySelector('#library').textContent.includes('4 files')")
    # the search box has focus; type and press Enter, as a keyboard user would
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.type("whistle")
    page.keyboard.press("Enter")
    page.wait_for_selector("#results li.hit")
    names = page.locator("#results li.hit .path").all_inner_texts()
    assert names[0] == str(files["whistle"])
    assert page.locator("#status").inner_text().endswith("ms")
    assert "results for" in page.locator("#results-heading").inner_text().lower()
    first = page.locator("#results li.hit").first
    assert first.locator(".window-label").inner_text().startswith("Best match 0:06–0:10")
    page.screenshot(path=str(tmp_path / "results.png"), full_page=True)
    assert (tmp_path / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # play the top result: it starts at its best window (6 s) and time advances
    page.evaluate("document.querySelector('#results audio').play()")
    poll(
        page,
        "() => { const a = document.querySelector('#results audio');"
        " return !a.paused && a.currentTime >= 6.0; }",
    )
    t1 = page.evaluate("document.querySelector('#results audio').currentTime")
    poll(page, "(t1) => document.querySelector('#results audio').currentTime > t1 + 0.3", t1)
    t2 = page.evaluate("document.querySelector('#results audio').currentTime")
    assert 6.0 <= t1 < t2 <= 12.0, (t1, t2)
    page.evaluate("document.querySelector('#results audio').pause()")
    _only_local(page, site)
    assert not page.problems, page.problems


def test_keyboard_more_like_this_and_duplicates(page, site, real_index, tmp_path):
    _, files = real_index
    page.goto(site.url + "/?q=hum&k=3")  # a shared link runs its search
    page.wait_for_selector("#results li.hit")
    assert page.locator("#results li.hit").count() == 3
    # focus order: search box -> results count -> Search button
    page.focus("#q")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "k"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Search"
    # "More like this" is a real button reachable by keyboard
    more = page.locator("#results li.hit button.more").first
    more.focus()
    page.keyboard.press("Enter")
    poll(
        page, "() => document.querySelector('#results-heading').textContent.startsWith('More like')"
    )
    page.wait_for_selector("#results li.hit")
    similar = page.locator("#results li.hit .path").all_inner_texts()
    assert similar and similar[0] in (str(files["hum"]), str(files["hum_copy"]))
    assert page.evaluate("document.activeElement.id") == "results-heading"

    # duplicates view: the hum and its re-encoded copy form a group
    page.locator("#view-dupes").click()
    assert page.locator("#dupes-view").is_visible()
    assert page.get_attribute("#view-dupes", "aria-pressed") == "true"
    page.keyboard.press("Enter")  # focus is in the threshold box
    page.wait_for_selector("#dupes li.group")
    group = page.locator("#dupes li.group").first.locator(".path").all_inner_texts()
    assert sorted(group) == sorted([str(files["hum"]), str(files["hum_copy"])])
    assert "1 group" in page.locator("#dupes-status").inner_text()
    page.screenshot(path=str(tmp_path / "duplicates.png"), full_page=True)
    _only_local(page, site)
    assert not page.problems, page.problems


def test_error_is_announced(page, site):
    page.goto(site.url + "/")
    page.fill("#k", "0")
    page.fill("#q", "hum")
    page.keyboard.press("Enter")
    status = page.locator("#status")
    assert "from 1 to 1000" in status.inner_text()
    assert status.get_attribute("aria-live") == "polite"


def test_api_docs_render_from_local_assets(page, site):
    page.goto(site.url + "/docs")
    page.wait_for_selector(".swagger-ui .opblock")
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert any("/api/search" in p for p in paths)
    assert any("/api/audio/{file_id}" in p.replace("\u200b", "") for p in paths)
    _only_local(page, site)


def test_page_behind_a_token_signs_in_with_the_printed_link(browser, real_service, live_server):
    """A server that needs a token: the page says so, and the sign-in link printed at
    start-up (``/?token=...``) makes searches and audio work in the same browser."""
    from audioseek.serve.app import ServeSettings, create_app

    token = "browser-token-123"
    site = live_server(create_app(real_service, settings=ServeSettings(token=token)))
    context = browser.new_context()
    pg = context.new_page()
    pg.set_default_timeout(15000)
    try:
        pg.goto(site.url + "/")
        pg.fill("#q", "whistle")
        pg.keyboard.press("Enter")
        poll(pg, "() => document.querySelector('#status').textContent.includes('access token')")
        pg.goto(f"{site.url}/?token={token}")  # the link: sets the cookie, redirects to /
        assert pg.url == site.url + "/"
        pg.fill("#q", "whistle")
        pg.keyboard.press("Enter")
        pg.wait_for_selector("#results li.hit")
        pg.evaluate("document.querySelector('#results audio').play()")
        poll(pg, "() => document.querySelector('#results audio').currentTime > 0.2")
    finally:
        context.close()


DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshot.png"

ALPHA_AT = """([sel, fx, fy]) => {
  const c = document.querySelector(sel);
  const x = Math.min(c.width - 1, Math.floor(fx * c.width));
  const y = Math.min(c.height - 1, Math.floor(fy * c.height));
  return c.getContext('2d').getImageData(x, y, 1, 1).data[3];
}"""


def test_waveforms_export_map_and_screenshot(page, site, real_index, tmp_path):
    """Results get waveforms (best window highlighted, a click seeks), checked results
    download as an .m3u, the map plays a clicked point and finds similar files; the page
    with the map and the waveforms is screenshot (into docs/screenshot.png, the README's,
    only with AUDIOSEEK_UPDATE_SCREENSHOT=1: a test run leaves the checkout clean)."""
    import os

    screenshot = tmp_path / "screenshot.png"
    if os.environ.get("AUDIOSEEK_UPDATE_SCREENSHOT") == "1":
        screenshot = DOCS_SCREENSHOT
    _, files = real_index
    page.goto(site.url + "/?q=whistle&k=4")
    page.wait_for_selector("#results li.hit")
    assert page.locator("#results li.hit .path").first.inner_text() == str(files["whistle"])
    poll(page, "() => [...document.querySelectorAll('#results canvas.wave')]"
               ".filter(c => c.dataset.drawn && !c.hidden).length === 4")  # fmt: skip
    top = "#results li.hit:first-child canvas.wave"
    drawn = page.evaluate(
        "(sel) => { const c = document.querySelector(sel);"
        " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        " let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; }",
        top,
    )
    assert drawn > 100
    # the whistle's best window (6-10 s of 12 s) is highlighted across the whole height;
    # outside it, the top row is empty (the envelope stays below it)
    assert page.evaluate(ALPHA_AT, [top, 8 / 12, 0.02]) > 0
    assert page.evaluate(ALPHA_AT, [top, 2 / 12, 0.02]) == 0
    why = page.locator("#results li.hit .why").first.inner_text()
    assert "audio " in why

    # clicking the waveform at 3/4 plays from there (9 s of 12)
    box = page.locator(top).bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.75, box["y"] + box["height"] / 2)
    audio = "document.querySelector('#results li.hit:first-child audio')"
    poll(page, f"() => !{audio}.paused && {audio}.currentTime >= 8.5")
    t1 = page.evaluate(f"{audio}.currentTime")
    poll(page, f"(t1) => {audio}.currentTime > t1 + 0.2", t1)
    page.evaluate(f"{audio}.pause()")

    # download the checked results as a playlist
    assert page.locator("#export").is_disabled()
    picks = page.locator("#results li.hit .pick")
    picks.nth(0).check()
    picks.nth(2).check()
    assert page.locator("#export").inner_text() == "Download 2 files (.m3u)"
    names = page.locator("#results li.hit .path").all_inner_texts()
    with page.expect_download() as info:
        page.locator("#export").click()
    download = info.value
    assert download.suggested_filename == "audioseek-selection.m3u"
    lines = Path(download.path()).read_text().splitlines()
    assert lines[0] == "#EXTM3U" and lines[2::2] == [names[0], names[2]]
    assert lines[1].startswith("#EXTINF:12,")

    # the map: every file a dot; hover names it, a click plays it
    page.locator("#view-map").click()
    assert page.get_attribute("#view-map", "aria-pressed") == "true"
    poll(page, "() => document.querySelector('#map').dataset.points === '4'")
    points = page.evaluate("document.querySelector('#map').points")
    assert sorted(p["name"] for p in points) == sorted(f.name for f in files.values())
    beep = next(p for p in points if p["name"] == files["beep"].name)
    box = page.locator("#map").bounding_box()
    page.mouse.move(box["x"] + beep["x"], box["y"] + beep["y"])
    poll(page, "() => !document.querySelector('#map-tip').hidden")
    assert page.locator("#map-tip").inner_text().startswith("beep.flac")
    page.mouse.click(box["x"] + beep["x"], box["y"] + beep["y"])
    poll(
        page,
        "() => { const a = document.querySelector('#map-audio');"
        " return !a.paused && a.currentTime > 0.3; }",
    )
    assert page.locator("#map-picked").inner_text().startswith("beep.flac")
    assert page.evaluate("document.querySelector('#map-audio').src").endswith(
        f"/api/audio/{beep['file_id']}"
    )
    page.evaluate("document.querySelector('#map-audio').pause()")
    legend = page.locator("#map-legend li").all_inner_texts()
    assert legend and sum(int(t.rsplit("(", 1)[1].rstrip(")")) for t in legend) == 4

    page.evaluate("window.scrollTo(0, 0)")
    screenshot.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # find similar from the map: the results are files like the beep, the beep excluded
    page.locator("#map-similar").click()
    poll(
        page, "() => document.querySelector('#results-heading').textContent.startsWith('More like')"
    )
    page.wait_for_selector("#results li.hit")
    similar = page.locator("#results li.hit .path").all_inner_texts()
    assert similar and str(files["beep"]) not in similar

    # from the keyboard: an arrow moves to another dot, Enter plays it
    page.focus("#map")
    page.keyboard.press("ArrowLeft")
    poll(page, "() => !document.querySelector('#map-tip').hidden")
    name = page.locator("#map-tip").inner_text().split(" · ")[0]
    assert name in {f.name for f in files.values()} and name != "beep.flac"
    page.keyboard.press("Enter")
    assert page.locator("#map-picked").inner_text().startswith(name)
    poll(page, "() => !document.querySelector('#map-audio').paused")
    page.evaluate("document.querySelector('#map-audio').pause()")
    _only_local(page, site)
    assert not page.problems, page.problems


def test_filters_mode_and_no_good_match(browser, records, fake_service_cls, live_server):
    """Against the fake service: the mode selector and filter controls reach the API (and
    the shared link), and when every hit is weak the page says there is no good match."""
    from audioseek.serve.app import create_app

    service = fake_service_cls(records)
    site = live_server(create_app(service))
    context = browser.new_context()
    pg = context.new_page()
    pg.set_default_timeout(15000)
    try:
        pg.goto(site.url + "/")
        pg.select_option("#mode", "text")
        pg.fill("#max_duration", "5")
        pg.fill("#format", "wav")
        pg.fill("#q", "dog")
        pg.keyboard.press("Enter")
        pg.wait_for_selector("#results li.hit")
        assert pg.locator("#results li.hit .path").all_inner_texts() == [
            r.path for r in records if "dog" in r.path
        ]
        assert "matched “dog”" in pg.locator("#results li.hit .why").first.inner_text()
        assert pg.locator("#no-match").is_hidden()
        assert ("filters", {"format": ("wav",), "max_duration": 5.0}) in service.calls
        assert "mode=text" in pg.url and "max_duration=5" in pg.url
        pg.select_option("#mode", "hybrid")
        pg.fill("#max_duration", "")
        pg.fill("#q", "xylophone")
        pg.keyboard.press("Enter")
        poll(pg, "() => !document.querySelector('#no-match').hidden")
        assert pg.locator("#results li.hit").count() == 3
        assert pg.locator("#results li.hit .weak-mark").first.is_visible()
        pg.fill("#min_duration", "9")
        pg.fill("#max_duration", "1")
        pg.keyboard.press("Enter")
        poll(pg, "() => document.querySelector('#status').textContent.includes('longer than')")
    finally:
        context.close()


def test_page_filters_give_the_apis_result_set(page, site, real_service):
    """A shared link with filters shows exactly the files the API and Python return."""
    for filters in ({"format": "flac"}, {"min_duration": "10", "mode": "audio"}):
        query = "&".join(f"{k}={v}" for k, v in filters.items())
        page.goto(f"{site.url}/?q=hum&k=10&{query}")
        poll(page, "() => document.querySelector('#status').textContent.endsWith('ms')")
        shown = page.locator("#results li.hit .path").all_inner_texts()
        assert shown == [h.path for h in real_service.search("hum", k=10, **filters)]
        assert shown  # not an empty agreement


def test_map_with_100k_files(browser, records, fake_service_cls, live_server):
    """100,000 dots are painted (one ImageData pass) and hover finds the nearest one."""
    from audioseek.index.library import MapPoint
    from audioseek.serve.app import create_app

    rng = np.random.default_rng(0)
    xy = rng.random((100_000, 2))
    points = [
        MapPoint(i + 1, float(x), float(y), f"group {i % 15}", f"file_{i + 1}.wav")
        for i, (x, y) in enumerate(xy)
    ]

    class Big(fake_service_cls):
        def map(self, method="auto"):
            return points

    site = live_server(create_app(Big(records)))
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(30000)
    try:
        pg.goto(site.url + "/")
        pg.locator("#view-map").click()
        poll(pg, "() => document.querySelector('#map').dataset.points === '100000'", timeout=60)
        legend = pg.locator("#map-legend li").all_inner_texts()
        assert len(legend) == 12 and legend[-1] == "4 more groups"  # 11 colours + the rest
        target = pg.evaluate("document.querySelector('#map').points[4321]")
        box = pg.locator("#map").bounding_box()
        pg.mouse.move(box["x"] + target["x"], box["y"] + target["y"])
        poll(pg, "() => !document.querySelector('#map-tip').hidden")
        name = pg.locator("#map-tip").inner_text().split(" · ")[0]
        near = pg.evaluate(
            "([n, t]) => { const p = document.querySelector('#map').points.find(q => q.name === n);"
            " return Math.hypot(p.x - t.x, p.y - t.y); }",
            [name, target],
        )
        assert near < 2.0  # the dot under the pointer (or one as close)
    finally:
        context.close()
