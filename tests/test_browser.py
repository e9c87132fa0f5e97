"""The browser fetcher end to end: headless Chromium on 127.0.0.1 renders pages that real
Meta text is built into by JavaScript; `watcher run` records them through it.

Nothing is mocked: a real origin, real region proxies, a real Chromium and git repository.
Without Chromium or Playwright the browser tests skip, naming what is missing (CI installs
both through scripts/setup, so there they run).
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import (
    GENAI_PAGE,
    SHIPPED,
    RegionProxy,
    Response,
    fixture_text,
    genai_html,
    git,
    js_page,
    run_json,
    shipped_target,
    static_page,
    write_config,
)
from selectolax.lexbor import LexborHTMLParser

from watcher.config import load_config
from watcher.extract import extract_sections
from watcher.fetch import Page, is_script_shell
from watcher.fetch.browser import browser_missing, proxy_settings
from watcher.models import ExtractRules, Target
from watcher.normalize import render_markdown
from watcher.page import Document, markdown_to_html

MISSING = browser_missing()
needs_browser = pytest.mark.skipif(
    MISSING is not None, reason=f"the browser fetcher cannot run here: {MISSING}"
)

PRIVATE = (
    "We do not use the content of your private messages with friends and family to train "
    "our AIs unless you or someone in the chat chooses to share those messages with our AIs."
)
GENAI = "privacy-center-genai"
INSTAGRAM = "instagram-privacy-policy"
INSTAGRAM_PAGE = "instagram/privacy-policy/2025-12-17.md"


def browser_processes() -> list[str]:
    """Every process below this one (Chromium, the Playwright driver), zombies included."""
    children: dict[int, list[tuple[int, str, str]]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            data = stat.read_text()
        except OSError:
            continue
        comm = data[data.index("(") + 1 : data.rindex(")")]
        state, ppid = data[data.rindex(")") + 2 :].split()[:2]
        children.setdefault(int(ppid), []).append((int(stat.parent.name), comm, state))
    found, todo = [], [os.getpid()]
    while todo:
        for pid, comm, state in children.get(todo.pop(), []):
            found.append(f"{pid} {comm} ({state})")
            todo.append(pid)
    return found


def one(report: dict[str, Any], target: str = GENAI, region: str = "us") -> dict[str, Any]:
    [found] = [r for r in report["results"] if r["target"] == target and r["region"] == region]
    return found


def snapshot(repo: Path, target: str = GENAI, region: str = "us") -> str:
    return (repo / f"snapshots/{target}/{region}.md").read_text()


def offline(config: Path, target_id: str, html: str) -> str:
    """What the target's rules extract from a server-rendered copy of the page."""
    target = load_config(config).target(target_id)
    doc = Document(html, target.url, target.link_base)
    return render_markdown(extract_sections(doc, target.extract), target.link_base)


def from_browser(req: dict[str, Any]) -> bool:
    return "Chrome/" in req["headers"].get("User-Agent", "")


# -- the genai page, built by JavaScript ----------------------------------------------------


@needs_browser
def test_genai_page_built_by_javascript_is_recorded_whole(origin, repo, tmp_path, capsys):
    page = js_page(genai_html(), delay_ms=300)
    assert PRIVATE not in Document(page).text  # plain HTTP sees a script shell
    origin.page("/privacy/genai", page)
    config = write_config(
        tmp_path / "targets.yaml",
        [shipped_target(GENAI, url=origin.url("/privacy/genai"), regions=["us"])],
    )

    result = one(run_json(config, repo, capsys))
    assert result["status"] == "new", result
    text = snapshot(repo)
    assert PRIVATE in text
    # whole: exactly what the rules take from a server-rendered copy of the same page
    assert text.strip() == offline(config, GENAI, static_page(genai_html())).strip()
    assert all(from_browser(r) for r in origin.hits("/privacy/genai"))
    assert browser_processes() == []

    # a second capture renders to the same text: nothing recorded
    head = git(repo, "rev-parse", "HEAD")
    assert one(run_json(config, repo, capsys))["status"] == "unchanged"
    assert git(repo, "rev-parse", "HEAD") == head
    assert browser_processes() == []


@needs_browser
def test_page_that_keeps_changing_is_captured_once_it_settles(origin, repo, tmp_path, capsys):
    # The private-messages sentence is rewritten every 200 ms for 1.5 s (quieter spells
    # than the settle period never come), then takes its final wording.
    body = genai_html().replace(PRIVATE, '<span id="pm">Draft 0 of the exemption.</span>')
    script = f"""
      let n = 0;
      const pm = document.getElementById('pm');
      const timer = setInterval(() => {{
        n += 1;
        if (n * 200 >= 1500) {{ clearInterval(timer); pm.textContent = {json.dumps(PRIVATE)}; }}
        else pm.textContent = 'Draft ' + n + ' of the exemption.';
      }}, 200);"""
    origin.page("/privacy/genai", js_page(body, delay_ms=100, script=script))
    config = write_config(
        tmp_path / "targets.yaml",
        [shipped_target(GENAI, url=origin.url("/privacy/genai"), regions=["us"])],
    )
    result = one(run_json(config, repo, capsys))
    assert result["status"] == "new", result
    text = snapshot(repo)
    assert PRIVATE in text
    assert "Draft" not in text


@needs_browser
def test_page_that_never_settles_is_an_error_not_a_change(origin, repo, tmp_path, capsys):
    script = """
      const p = document.createElement('p');
      document.getElementById('root').appendChild(p);
      setInterval(() => { p.textContent = 'Updated ' + performance.now(); }, 100);"""
    origin.page("/privacy/genai", js_page(genai_html(), delay_ms=100, script=script))
    config = write_config(
        tmp_path / "targets.yaml",
        [shipped_target(GENAI, url=origin.url("/privacy/genai"), regions=["us"])],
        fetch={"timeout": 2},
    )
    started = time.monotonic()
    result = one(run_json(config, repo, capsys))
    assert result["status"] == "error", result
    assert "never settled" in result["error"]
    assert time.monotonic() - started < 8  # bounded: not retried, not waited on forever
    assert not (repo / f"snapshots/{GENAI}/us.md").exists()
    assert browser_processes() == []


# -- banners and walls ----------------------------------------------------------------------

COOKIE_DIALOG = """<div role="dialog" aria-modal="true" id="cookies">
<h2>Allow the use of cookies from Facebook on this browser?</h2>
<p>We use cookies and similar technologies to help provide and improve content on Meta
Products. We also use them to provide a safer experience by using information that we
receive from cookies on and off Facebook.</p>
<h3>Your choices about optional cookies</h3>
<p>You can opt out of optional cookies from other companies at any time in your cookie
settings.</p>
{buttons}</div>"""
BUTTONS = (
    '<div><button id="decline">Decline optional cookies</button>'
    '<button id="allow">Allow all cookies</button></div>'
)


def meta_cookie_dialog() -> str:
    """Meta's real cookie dialog, as the AI terms page served it to Open Terms Archive on
    2026-01-21 (with hidden, disabled copies of its buttons). The fbcdn addresses of its
    icons are dropped, so nothing leaves 127.0.0.1."""
    html = fixture_text("meta-ai/terms-of-service/2026-01-21.html")
    dialog = LexborHTMLParser(html).css_first("[role=dialog]")
    assert dialog is not None
    return re.sub(r"url\(&quot;https?://[^)]*\)", "none", dialog.html or "")


# What Meta's dialog does when a live button is clicked: record the choice, then go away.
META_CONSENT_SCRIPT = """
  const dialog = document.querySelector('[role=dialog]');
  for (const b of dialog.querySelectorAll('[role=button][aria-label]')) {
    if (b.getAttribute('aria-disabled') === 'true') continue;
    b.addEventListener('click', () => {
      fetch('/consent?choice=' + encodeURIComponent(b.getAttribute('aria-label')))
        .then(() => setTimeout(() => dialog.remove(), 150));
    });
  }"""
DIALOGS = {
    "cookies-meta": (meta_cookie_dialog, META_CONSENT_SCRIPT),  # goes when clicked
    "cookies-stuck": (lambda: COOKIE_DIALOG.format(buttons=BUTTONS), ""),  # removed after a while
    "cookies-bare": (lambda: COOKIE_DIALOG.format(buttons=""), ""),  # no buttons: removed at once
}


@needs_browser
def test_cookie_dialogs_over_the_content_are_dismissed(origin, repo, tmp_path, capsys):
    targets = []
    for name, (dialog, script) in DIALOGS.items():
        origin.page(f"/{name}", js_page(dialog() + genai_html(), script=script))
        targets.append(shipped_target(GENAI, id=name, url=origin.url(f"/{name}"), regions=["us"]))
    origin.page("/consent", "ok")
    config = write_config(tmp_path / "targets.yaml", targets)
    # Left in place, a dialog would be captured: its "Your choices" heading matches the rules.
    body = COOKIE_DIALOG.format(buttons=BUTTONS) + genai_html()
    assert "opt out of optional cookies" in offline(config, "cookies-stuck", static_page(body))

    report = run_json(config, repo, capsys)
    for name in DIALOGS:
        assert one(report, name)["status"] == "new", one(report, name)
        text = snapshot(repo, name)
        assert PRIVATE in text
        assert "cookies" not in text.lower(), name
    # Meta's dialog was answered with its live "Decline optional cookies" button, on the
    # first fetch and on the one that confirms the first record
    assert {h["raw_path"] for h in origin.hits("/consent")} == {
        "/consent?choice=Decline%20optional%20cookies"
    }
    assert len(origin.hits("/consent")) == 2


LOGIN_WALL = """<h2>Log into Facebook</h2><form><input name="email"><input name="pass"
type="password"><button>Log In</button></form><a href="/recover">Forgot account?</a>
<p>You must log in to continue.</p><a href="/reg">Create new account</a>"""


def browser_notice() -> str:
    """The real "Facebook is not available on this browser" page, as archived."""
    text = fixture_text(GENAI_PAGE)
    start = text.index("Facebook is not available on this browser")
    end = text.index("- - -", start)
    html = markdown_to_html(text[start:end])
    return html.removeprefix("<html><body>").removesuffix("</body></html>")


@needs_browser
def test_walls_rendered_by_javascript_are_blocked_without_waiting_out_the_timeout(
    origin, repo, tmp_path, capsys
):
    walls = {"login": LOGIN_WALL, "browser-notice": browser_notice()}
    targets = []
    for name, body in walls.items():
        origin.page(f"/{name}", js_page(body, "Facebook", delay_ms=200))
        targets.append(shipped_target(GENAI, id=name, url=origin.url(f"/{name}"), regions=["us"]))
    config = write_config(tmp_path / "targets.yaml", targets, fetch={"timeout": 15})
    report = run_json(config, repo, capsys)
    for name, reason in (("login", "login wall"), ("browser-notice", "browser not supported")):
        result = one(report, name)
        assert result["status"] == "blocked", result
        assert reason in result["error"]
        assert not (repo / f"snapshots/{name}/us.md").exists()
    assert report["duration_s"] < 8  # known as walls once quiet, not the 15 s timeout


# -- Instagram, regions and proxies ---------------------------------------------------------


def body_of(markdown_fixture: str) -> str:
    html = markdown_to_html(fixture_text(markdown_fixture))
    return html.removeprefix("<html><body>").removesuffix("</body></html>")


@needs_browser
def test_instagram_policy_rendered_in_pieces_through_the_eu_proxy(
    origin, repo, tmp_path, capsys, monkeypatch
):
    body = body_of(INSTAGRAM_PAGE)
    # Built in 8 pieces 100 ms apart: the "Privacy Policy" title is there from the first.
    page = js_page(body, "Instagram", delay_ms=200, chunks=8, interval_ms=100)
    origin.page("/policy", {"eu": page})  # only through the EU proxy: a bypass gets a 404
    config = write_config(
        tmp_path / "targets.yaml",
        [shipped_target(INSTAGRAM, url=origin.url("/policy"), regions=["eu"])],
    )
    proxy = RegionProxy("eu", auth=("eu-egress", "s3cret-Pa55word"))  # demands credentials
    try:
        monkeypatch.setenv("WATCHER_PROXY_EU", proxy.url)
        report = run_json(config, repo, capsys)
    finally:
        proxy.close()
    result = one(report, INSTAGRAM, "eu")
    assert result["status"] == "new", result
    text = snapshot(repo, INSTAGRAM, "eu")
    assert text.strip() == offline(config, INSTAGRAM, static_page(body, "Instagram")).strip()
    assert "Interactions with AI at Meta and related metadata." in text
    assert origin.url("/policy") in proxy.requests
    assert {h["region"] for h in origin.hits("/policy")} == {"eu"}
    assert "s3cret-Pa55word" not in str(report)
    assert browser_processes() == []


@needs_browser
def test_regions_run_in_parallel_with_their_own_cookies_and_egress(
    origin, proxies, repo, tmp_path, capsys
):
    # Each page builds its text only after its data call, which the server answers once all
    # three regions' pages are open at the same time: captured one after another, none would.
    barrier = threading.Barrier(3, timeout=4)

    def data_call(req: dict[str, Any]) -> Response:
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            return Response(503, "the other regions' pages never came")
        return Response(body="go")

    origin.route("/data", data_call)
    origin.page("/privacy/genai", js_page(genai_html(), gate="/data"))
    regions = yaml.safe_load(SHIPPED.read_text())["regions"]
    config = write_config(
        tmp_path / "targets.yaml",
        [shipped_target(GENAI, url=origin.url("/privacy/genai"))],
        regions={code: {**r, "cookies": {"region": code}} for code, r in regions.items()},
    )
    report = run_json(config, repo, capsys)
    assert {r["region"]: r["status"] for r in report["results"]} == dict.fromkeys(
        ("eu", "uk", "us"), "new"
    ), report["results"]
    hits = origin.hits("/privacy/genai")
    # two fetches each: the first record is confirmed by a second fetch
    assert sorted(h["region"] or "us" for h in hits) == ["eu", "eu", "uk", "uk", "us", "us"]
    for hit in hits:  # each region's context sends its own cookies, and only those
        assert hit["headers"]["Cookie"] == f"region={hit['region'] or 'us'}"
    assert proxies["eu"].requests.count(origin.url("/privacy/genai")) == 2
    assert proxies["uk"].requests.count(origin.url("/privacy/genai")) == 2


def test_proxy_credentials_are_split_out_of_the_url():
    assert proxy_settings("http://us%40er:p%3Ass@proxy.example:3128") == {
        "server": "http://proxy.example:3128",
        "username": "us@er",
        "password": "p:ss",
        "bypass": "<-loopback>",
    }
    assert proxy_settings("socks5://10.0.0.1:1080") == {
        "server": "socks5://10.0.0.1:1080",
        "bypass": "<-loopback>",
    }


# -- fetcher: auto --------------------------------------------------------------------------


def _refuse_non_browsers(req: dict[str, Any]) -> Response:
    if from_browser(req):
        return Response(body=static_page(genai_html()))
    return Response(403, "<h1>Forbidden</h1>")


@needs_browser
def test_auto_uses_the_browser_only_when_plain_http_falls_short(origin, repo, tmp_path, capsys):
    origin.page("/shell", js_page(genai_html()))
    origin.route("/refused", _refuse_non_browsers)
    origin.page("/static", static_page(genai_html()))
    targets = [
        shipped_target(GENAI, id=name, url=origin.url(f"/{name}"), regions=["us"], fetcher="auto")
        for name in ("shell", "refused", "static")
    ]
    report = run_json(write_config(tmp_path / "targets.yaml", targets), repo, capsys)
    for name, browser in (("shell", True), ("refused", True), ("static", False)):
        assert one(report, name)["status"] == "new", one(report, name)
        assert PRIVATE in snapshot(repo, name)
        hits = origin.hits(f"/{name}")
        assert not from_browser(hits[0])  # plain HTTP first
        assert any(from_browser(h) for h in hits) == browser, name
    assert browser_processes() == []


def _page(html: str, status: int = 200) -> Page:
    return Page("https://example.test/", "https://example.test/", status, html, "text/html", 0.1)


def _target(**extra: Any) -> Target:
    return Target(
        id="t",
        name="t",
        url="https://example.test/",
        regions=("us",),
        extract=ExtractRules(),
        **{"min_length": 3000, "expect": ("generative AI",), **extra},
    )


def test_script_shell_is_told_from_a_rendered_page_and_from_an_error_page():
    assert is_script_shell(_page(js_page(genai_html())), _target())
    assert not is_script_shell(_page(static_page(genai_html())), _target())
    # a rendered page that hydrates with many scripts is still the page
    hydrated = static_page(genai_html() + "<script>1</script>" * 20)
    assert not is_script_shell(_page(hydrated), _target())
    # a short page without scripts is what it says (an error page), left to verify
    assert not is_script_shell(_page("<html><body><h1>Not found</h1></body></html>"), _target())
    # a shell of many small loader scripts around an empty mount point
    loaders = "".join(f'<script src="/s{i}.js"></script>' for i in range(5))
    assert is_script_shell(
        _page(f"<html><body><div id=root></div>{loaders}</body></html>"), _target()
    )
    # archived text is never a shell
    markdown = Page("u", "u", 200, fixture_text(GENAI_PAGE)[:500], "text/markdown", 0.1)
    assert not is_script_shell(markdown, _target())


# -- without a browser ----------------------------------------------------------------------


def test_without_chromium_browser_targets_are_skipped_and_auto_says_why(
    origin, repo, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("WATCHER_CHROMIUM", str(tmp_path / "no-such-chromium"))
    origin.page("/shell", js_page(genai_html()))
    origin.page("/static", static_page(genai_html()))
    targets = [
        shipped_target(GENAI, url=origin.url("/shell"), regions=["us"]),
        shipped_target(
            GENAI, id="auto-shell", url=origin.url("/shell"), regions=["us"], fetcher="auto"
        ),
        shipped_target(
            GENAI, id="auto-static", url=origin.url("/static"), regions=["us"], fetcher="auto"
        ),
    ]
    report = run_json(write_config(tmp_path / "targets.yaml", targets), repo, capsys)
    browser = one(report)
    assert browser["status"] == "skipped"
    assert "WATCHER_CHROMIUM" in browser["error"] and "chromium" in browser["error"].lower()
    shell = one(report, "auto-shell")
    assert shell["status"] == "error"
    assert "script shell" in shell["error"] and "browser fetcher" in shell["error"]
    assert one(report, "auto-static")["status"] == "new"  # auto still runs over plain HTTP
    assert len(origin.hits("/shell")) == 1  # only auto's plain HTTP try


def test_without_playwright_the_reason_names_the_extra(origin, repo, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "playwright.async_api", None)  # as if not installed
    assert "pip install 'watcher[browser]'" in (browser_missing() or "")
    origin.page("/privacy/genai", js_page(genai_html()))
    config = write_config(
        tmp_path / "targets.yaml",
        [shipped_target(GENAI, url=origin.url("/privacy/genai"), regions=["us"])],
    )
    result = one(run_json(config, repo, capsys))
    assert result["status"] == "skipped"
    assert "pip install 'watcher[browser]'" in result["error"]
    assert origin.hits("/privacy/genai") == []
