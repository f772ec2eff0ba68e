"""The page in real headless Chromium (Debian's /usr/bin/chromium via Playwright) against a
real uvicorn server on 127.0.0.1 serving a real index built with a tiny model."""

from __future__ import annotations

import shutil
import time

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
