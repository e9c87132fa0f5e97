"""The evidence site, built from a repository that `watcher run` recorded from real archived
Meta pages on 127.0.0.1, served under a sub-path as GitHub Pages serves it, and read in a
real headless Chromium: every link resolves, the front page answers as the fixture texts
say, nothing scrolls sideways on a phone, axe-core finds no serious accessibility problem,
and a hostile page's markup shows as text and never runs.

Without Chromium or Playwright the browser tests skip, naming what is missing (CI installs
both, and axe-core from npm, through scripts/setup).
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from conftest import fixture_text, run_cli
from selectolax.lexbor import LexborHTMLParser
from sitekit import SiteServer, git, init_repo, record_history

from watcher.config import load_config
from watcher.evidence.commits import Trailer
from watcher.evidence.history import diff_versions, history
from watcher.fetch.browser import CHROMIUM_ARGS, browser_missing, find_chromium
from watcher.page import markdown_to_html
from watcher.render import render_html
from watcher.site.reader import read_evidence

ROOT = Path(__file__).resolve().parent.parent
AXE = ROOT / ".venv" / "node" / "node_modules" / "axe-core" / "axe.min.js"
REPO_URL = "https://github.com/example-org/evidence"
MISSING = browser_missing()
needs_browser = pytest.mark.skipif(
    MISSING is not None, reason=f"the site's browser tests need Chromium: {MISSING}"
)

POLICY, INSTAGRAM, GENAI = (
    "facebook-privacy-policy",
    "instagram-privacy-policy",
    "privacy-center-genai",
)


# --- the repository, the site, the browser ---------------------------------------------------


@pytest.fixture(scope="module")
def recorded(tmp_path_factory, _origin_server, _region_proxies) -> tuple[Path, Path]:
    """(config, repository): two runs of real pages, every region of two services changing."""
    root = tmp_path_factory.mktemp("site") / "evidence"
    config = record_history(root, _origin_server, _region_proxies)
    _origin_server.routes.clear()
    return config, root


def build(config: Path, root: Path, out: Path, *extra: str) -> tuple[int, str]:
    from sitekit import watcher

    code, stdout, stderr = watcher(
        "site", "--config", str(config), "--snapshots", str(root / "snapshots"),
        "--out", str(out), "--repo-url", REPO_URL, *extra,
    )  # fmt: skip
    return code, stdout + stderr


@pytest.fixture(scope="module")
def site(recorded, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("built") / "site"
    code, output = build(*recorded, out)
    assert code == 0, output
    return out


@pytest.fixture(scope="module")
def server(site) -> Iterator[SiteServer]:
    served = SiteServer(site)
    yield served
    served.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if MISSING is not None:
        pytest.skip(f"the site's browser tests need Chromium: {MISSING}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=find_chromium()[0], args=list(CHROMIUM_ARGS))
        yield launched
        launched.close()


def pages_of(site: Path) -> list[str]:
    return sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))


# --- crawl: every page, every link ---------------------------------------------------------


@pytest.fixture(scope="module")
def crawl(browser, server, site) -> dict[str, Any]:
    """Every page reachable from the front page, at a phone's width: its links, its ids and
    how wide it scrolls."""
    page = browser.new_page(viewport={"width": 390, "height": 844})
    base = server.url("")
    todo, seen = ["index.html"], {}
    links: list[tuple[str, str]] = []
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        response = page.goto(base + path)
        assert response is not None and response.status == 200, path
        refs = page.eval_on_selector_all(
            "a[href], link[href], img[src], script[src], iframe[src], source[src]",
            "els => els.map(e => e.getAttribute('href') ?? e.getAttribute('src'))",
        )
        seen[path] = {
            "ids": set(page.eval_on_selector_all("[id]", "els => els.map(e => e.id)")),
            "scroll": page.evaluate("document.scrollingElement.scrollWidth"),
            "width": page.evaluate("innerWidth"),
        }
        for ref in refs:
            links.append((path, ref))
            if urlsplit(ref).scheme:
                continue
            target = urlsplit(urljoin(base + path, ref)).path.removeprefix(server.prefix)
            if target.endswith(".html") and target not in seen:
                todo.append(target)
    page.close()
    return {"pages": seen, "links": links}


@needs_browser
def test_every_page_is_reachable_and_every_internal_link_resolves(crawl, server, site):
    import urllib.request

    pages = crawl["pages"]
    assert sorted(pages) == pages_of(site), "every page is linked from somewhere"
    base = server.url("")
    broken = []
    for path, ref in crawl["links"]:
        split = urlsplit(ref)
        if split.scheme:
            assert split.scheme in ("http", "https", "mailto"), (path, ref)
            continue
        # relative, naming a file: works from file:// and under a Pages sub-path alike
        assert not ref.startswith("/"), (path, ref)
        assert not split.path.endswith("/"), (path, ref)
        resolved = urlsplit(urljoin(base + path, ref))
        target = resolved.path.removeprefix(server.prefix)
        on_disk = (site / path).parent / split.path if split.path else site / path
        if not on_disk.resolve().is_file():
            broken.append(f"{path}: {ref} (no file)")
            continue
        if target.endswith(".html"):
            if resolved.fragment and resolved.fragment not in pages[target]["ids"]:
                broken.append(f"{path}: {ref} (no #{resolved.fragment})")
        else:
            with urllib.request.urlopen(f"{base}{target}") as answer:  # css, feeds
                assert answer.status == 200
    assert broken == []


@needs_browser
def test_nothing_scrolls_sideways_on_a_phone(crawl):
    wide = {p: v["scroll"] for p, v in crawl["pages"].items() if v["scroll"] > v["width"]}
    assert wide == {}


@needs_browser
def test_axe_finds_no_serious_or_critical_problem_on_any_page(browser, server, site):
    assert AXE.is_file(), "axe-core is missing: run scripts/setup (it installs it with npm)"
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(path=str(AXE))  # init scripts run whatever the page's CSP
    page = context.new_page()
    found = {}
    for path in pages_of(site):
        page.goto(server.url(path))
        result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
        bad = [
            f"{v['id']} ({v['impact']}): {v['nodes'][0]['target']}"
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        if bad:
            found[path] = bad
    context.close()
    assert found == {}


# --- the answers -------------------------------------------------------------------------

# Read from the fixture texts (tests/fixtures/ota), not from watcher's output: each region's
# answer, the sentence that proves it, and the form it links.
OBJECTION = {
    # the EU policy of 16 Dec 2025: "You have the right to object to and restrict…"
    (POLICY, "eu"): (
        "Yes, with a form",
        "You have the right to object to and restrict certain processing of your information.",
        "https://www.facebook.com/help/contact/367438723733209",
    ),
    # the UK variant (vlopses-gb, 2026-05-12) links the same form
    (POLICY, "uk"): (
        "Yes, with a form",
        "You have the right to object to and restrict certain processing of your information.",
        "https://www.facebook.com/help/contact/367438723733209",
    ),
    # the global text: no right to object, only a request form for third parties' data
    (POLICY, "us"): (
        "The text names no right to object",
        "Learn more and submit requests here.",
        "https://www.facebook.com/help/contact/1266025207620918",
    ),
    # Instagram's EU policy of 15 Apr 2025, the AI-training announcement
    (INSTAGRAM, "eu"): (
        "Yes, with a form",
        "You have the right to object to the use of your information for these purposes.",
        "https://www.facebook.com/help/contact/6359191084165019",
    ),
    (INSTAGRAM, "uk"): (
        "Yes, with a form",
        "you have the right to object to, and seek restriction of, such processing",
        "https://www.facebook.com/help/contact/1994830130782319",
    ),
    # Instagram's global text has no opt-out wording in its AI sections
    (INSTAGRAM, "us"): ("The text names no way to object", None, None),
    (GENAI, "us"): (
        "The text names no right to object",
        "Learn more and submit requests here.",
        "https://www.facebook.com/help/contact/1266025207620918",
    ),
}
DATA_SOURCES = {
    (INSTAGRAM, "eu"): "we'll use public information such as public posts and comments from "
    "accounts of people aged 18 or older and your interactions with AI at Meta features",
    (GENAI, "us"): "This information could be things such as posts or photos and their captions.",
}
EXEMPTIONS = {
    (GENAI, "us"): "We do not use the content of your private messages with friends and family "
    "to train our AIs unless you or someone in the chat chooses to share those messages with "
    "our AIs.",
    (INSTAGRAM, "us"): None,  # "The text does not say"
}
FIXTURES = {
    (POLICY, "eu"): "facebook/privacy-policy/2025-12-16_b.html",
    (POLICY, "uk"): "pages/fb-privacy-policy_UK-variant_vlopses-gb_2026-05-12.md",
    (POLICY, "us"): "facebook/privacy-policy-us/2026-03-05.md",
    (INSTAGRAM, "eu"): "instagram/privacy-policy/2025-04-15.md",
    (INSTAGRAM, "uk"): "instagram/privacy-policy-gb-alt/2026-01-06.md",
    (INSTAGRAM, "us"): "instagram/privacy-policy-us/2025-12-16.md",
    (GENAI, "us"): "facebook/privacy-policy-us/2026-03-05.md",
}


def folded(text: str) -> str:
    return " ".join(text.replace("’", "'").split())


def test_the_expected_sentences_are_in_the_fixture_pages():
    """The expectations above are Meta's words: each is in the archived page it comes from."""
    for key, (_, sentence, form) in OBJECTION.items():
        if sentence:
            assert folded(sentence) in page_text(key), key
        if form:
            assert form.rsplit("/", 1)[-1] in fixture_text(FIXTURES[key]), key
    for table in (DATA_SOURCES, EXEMPTIONS):
        for key, sentence in table.items():
            if sentence:
                assert folded(sentence) in page_text(key), key


@functools.cache
def page_text(key: tuple[str, str]) -> str:
    """What a reader of the archived page sees: its text, markup and link targets left out."""
    name = FIXTURES[key]
    html = fixture_text(name) if name.endswith(".html") else markdown_to_html(fixture_text(name))
    return folded(LexborHTMLParser(html).body.text(separator=""))


def card(page: Any, target: str, region: str) -> Any:
    return page.locator(f"article#{target}-{region}")


def answer_of(page: Any, target: str, region: str, question: str) -> Any:
    return card(page, target, region).locator(f".answer:has(.question:text-is('{question}'))")


@needs_browser
def test_front_page_answers_each_region_with_the_sentence_it_stands_on(browser, server):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(server.url())
    for (target, region), (verdict, sentence, form) in OBJECTION.items():
        block = answer_of(page, target, region, "Can people object to AI training?")
        assert block.locator(".verdict").inner_text() == verdict, (target, region)
        quotes = block.locator("blockquote")
        if sentence is None:
            assert quotes.count() == 0
            continue
        assert folded(sentence) in folded(quotes.first.inner_text()), (target, region)
        assert block.locator(f"a[href='{form}']").count() == 1, (target, region)
    for table, question in (
        (DATA_SOURCES, "Which data sources does it name?"),
        (EXEMPTIONS, "What does it exempt?"),
    ):
        for (target, region), sentence in table.items():
            block = answer_of(page, target, region, question)
            if sentence is None:
                assert block.locator(".verdict").inner_text() == "The text does not say"
                assert block.locator("blockquote").count() == 0
            else:
                assert folded(sentence) in folded(block.locator("blockquote").first.inner_text())
    # the matrix at the top gives the same answers, one word each
    row = page.locator("table.matrix tr", has=page.locator(f"a[href='#{INSTAGRAM}']"))
    assert [folded(c) for c in row.locator("td").all_inner_texts()] == [
        "EU: Yes, form",
        "UK: Yes, form",
        "US: No way named",
    ]
    page.close()


@needs_browser
def test_every_quote_links_to_its_sentence_in_the_current_text(browser, server):
    page = browser.new_page()
    page.goto(server.url())
    quotes = page.eval_on_selector_all(
        "article.cell blockquote",
        "els => els.map(q => [q.querySelector('p').innerText,"
        " q.querySelector('footer a').getAttribute('href')])",
    )
    assert len(quotes) >= 10
    by_page: dict[str, list[tuple[str, str]]] = {}
    for said, href in quotes:
        assert href.startswith("text/") and "#L" in href, href
        path, anchor = href.split("#")
        by_page.setdefault(path, []).append((folded(said), anchor))
    for path, wanted in by_page.items():
        page.goto(server.url(path))
        for said, anchor in wanted:
            assert said in folded(page.locator(f"#{anchor} .t").inner_text()), (path, anchor)
    page.close()


@needs_browser
def test_when_the_wording_last_changed_links_to_that_change(browser, server, recorded):
    _, root = recorded
    page = browser.new_page()
    page.goto(server.url())
    [change] = [e for e in history(root / "snapshots", INSTAGRAM, "eu") if e.kind == "change"]
    block = answer_of(page, INSTAGRAM, "eu", "Can people object to AI training?")
    assert block.locator(".changed a").get_attribute("href") == f"change/{change.commit[:12]}.html"
    # the UK policy variant was recorded once and never changed
    uk = answer_of(page, POLICY, "uk", "Can people object to AI training?")
    assert "No change recorded since the first record" in uk.locator(".changed").inner_text()
    page.close()


# --- the timeline, a change, a comparison --------------------------------------------------


def test_timeline_lists_every_recorded_change_newest_first(site, recorded):
    _, root = recorded
    entries = history(root / "snapshots")
    html = (site / "changes.html").read_text()
    places = [html.index(f'href="change/{e.commit[:12]}.html"') for e in entries]
    assert places == sorted(places), "newest first, as `watcher history` lists them"
    for e in entries:
        assert e.summary in html
    region = (site / "region" / "uk.html").read_text()
    assert all((f"change/{e.commit[:12]}" in region) == (e.region == "uk") for e in entries)
    service = (site / "service" / f"{GENAI}.html").read_text()
    assert all((f"change/{e.commit[:12]}" in service) == (e.target == GENAI) for e in entries)


@needs_browser
def test_change_page_shows_the_word_diff_and_links_commit_capture_and_source(
    browser, server, recorded
):
    _, root = recorded
    [change] = [e for e in history(root / "snapshots", INSTAGRAM, "eu") if e.kind == "change"]
    page = browser.new_page()
    page.goto(server.url(f"change/{change.commit[:12]}.html"))
    assert page.locator("h1").inner_text() == "Data sources, exemptions, opt-out wording changed"
    body = page.locator("main")
    assert "Form link added: contact/6359191084165019" in body.inner_text()
    added = page.locator(".diff-body ins").all_inner_texts()
    assert (
        "You have the right to object to the use of your information for these purposes." in added
    )
    assert page.locator(f"a[href='{REPO_URL}/commit/{change.commit}']").count() == 1
    assert page.locator("a[href='https://privacycenter.instagram.com/policy']").count() >= 1
    captured = git(
        root, "ls-tree", "--name-only", change.commit, f"snapshots/.captures/{INSTAGRAM}/"
    )
    raw = page.locator("a", has_text="the page as captured")
    if f"snapshots/.captures/{INSTAGRAM}/eu.json" in captured:  # raw captures are kept
        assert raw.get_attribute("href").startswith(f"{REPO_URL}/blob/{change.commit}/")
    else:
        assert raw.count() == 0
    page.close()


def test_each_change_page_shows_the_diff_that_watcher_diff_shows(recorded):
    config_path, root = recorded
    config = load_config(config_path)
    records = [r for r in read_evidence(config, root / "snapshots").records if r.diff]
    assert len(records) == 4
    for r in records:
        theirs = diff_versions(
            config, root / "snapshots", r.entry.target, r.entry.region, f"{r.sha}^", r.sha
        )
        cls = theirs.classification
        assert r.diff is not None
        assert render_html(r.diff.changes, r.diff.classification.events) == render_html(
            theirs.changes, cls.events
        )


def test_region_comparison_shows_what_eu_users_are_told_that_us_users_are_not(site):
    html = (site / "compare" / f"{POLICY}.html").read_text()
    eu_part = html.split("What EU users are told that US users are not")[1].split("<h3>")[0]
    # in the EU text of 16 Dec 2025, not in the global one
    assert "Where we rely on legitimate interests, you have the right to object" in eu_part
    assert "What UK users are told that EU users are not" in html


def test_feeds_are_copied_and_linked(site, recorded):
    _, root = recorded
    for region in ("eu", "us"):
        assert (site / "feeds" / f"{region}.xml").read_bytes() == (
            root / "snapshots" / "feeds" / f"{region}.xml"
        ).read_bytes()
    assert 'href="feeds/eu.xml"' in (site / "index.html").read_text()


# --- determinism and the output folder -------------------------------------------------------


def test_the_same_repository_builds_byte_identical_sites(recorded, site, tmp_path):
    again = tmp_path / "again"
    code, output = build(*recorded, again)
    assert code == 0, output
    files = sorted(p.relative_to(site) for p in site.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    assert [p for p in files if (site / p).read_bytes() != (again / p).read_bytes()] == []
    # a rebuild into the same folder replaces it, leaving nothing stale behind
    (again / "stale.html").write_text("old")
    code, output = build(*recorded, again)
    assert code == 0 and not (again / "stale.html").exists(), output


def test_a_folder_the_site_did_not_make_is_never_emptied(recorded, tmp_path, capsys):
    config, root = recorded
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    code, output = build(config, root, mine)
    assert code == 2 and "not made by `watcher site`" in output
    assert (mine / "notes.txt").read_text() == "keep me"


def test_site_verb_reports_what_it_wrote(recorded, tmp_path, capsys):
    config, root = recorded
    code, out, err = run_cli(
        "site", "--config", str(config), "--snapshots", str(root / "snapshots"),
        "--out", str(tmp_path / "s"), capsys=capsys,
    )  # fmt: skip
    assert code == 0, err
    assert "recorded change" in out and "pages" in out


# --- a hostile page ----------------------------------------------------------------------

HOSTILE = '<script>window.__pwned=1</script> and <img src=x onerror="window.__pwned=1">'


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> tuple[Path, Path]:
    """A repository whose snapshot, metadata and commit subject carry markup and script."""
    root = init_repo(tmp_path_factory.mktemp("hostile") / "evidence")
    folder = root / "snapshots" / "hostile-page"
    folder.mkdir(parents=True)
    name = 'Hostile <b onmouseover="window.__pwned=1">page</b>'
    meta = {"name": name, "target": "hostile-page", "region": "us", "url": "javascript:alert(1)"}
    trailers = [
        f"{Trailer.SOURCE_URL}: javascript:window.__pwned=1",
        f"{Trailer.TARGET}: hostile-page",
        f"{Trailer.REGION}: us",
    ]
    versions = [
        (
            "First record of " + name + " (US)",
            "first",
            f"# AI {HOSTILE}\n\nWe train AI on public posts.\n",
        ),
        (
            f"{name} (US): data sources wording changed",
            "change",
            f"# AI {HOSTILE}\n\nWe train AI on public posts {HOSTILE}.\n"
            "You can [object](javascript:window.__pwned=1) with a form.\n",
        ),
    ]
    for subject, kind, text in versions:
        (folder / "us.md").write_text(text)
        (folder / "us.json").write_text(json.dumps(meta))
        git(root, "add", "snapshots")
        message = "\n".join(
            [subject, "", f"Body {HOSTILE}", "", *trailers, f"{Trailer.KIND}: {kind}"]
        )
        git(root, "commit", "-q", "-m", message)
    config = root / "targets.yaml"
    config.write_text((ROOT / "targets.yaml").read_text())
    out = root.parent / "site"
    code, output = build(config, root, out)
    assert code == 0, output
    return out, root


@pytest.fixture(scope="module")
def hostile_site(hostile) -> Path:
    return hostile[0]


@needs_browser
def test_a_hostile_page_shows_as_text_and_never_runs(browser, hostile):
    hostile_site, root = hostile
    [change] = [e for e in history(root / "snapshots") if e.kind == "change"]
    served = SiteServer(hostile_site)
    # without the pages' Content-Security-Policy: escaping alone must keep scripts out
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    try:
        hostile_pages = [p for p in pages_of(hostile_site) if "hostile" in p or "change/" in p]
        assert len(hostile_pages) >= 3
        for path in pages_of(hostile_site):
            page.goto(served.url(path))
            page.mouse.move(10, 10)
            page.mouse.move(300, 300)
            assert page.evaluate("typeof window.__pwned") == "undefined", path
            assert page.locator("img[src='x'], [onerror], [onmouseover]").count() == 0, path
            assert page.locator("script").count() == 0, path
            hrefs = page.eval_on_selector_all(
                "a[href]", "els => els.map(e => e.getAttribute('href'))"
            )
            assert not [h for h in hrefs if h.strip().lower().startswith("javascript:")], path
        page.goto(served.url("text/hostile-page/us.html"))
        text = page.locator("main").inner_text()
        assert "<script>window.__pwned=1</script>" in text
        assert '<img src=x onerror="window.__pwned=1">' in text
        page.goto(served.url(f"change/{change.commit[:12]}.html"))
        assert "<script>window.__pwned=1</script>" in page.locator(".diff-body").inner_text()
        assert page.locator("h1").inner_text().startswith("Data sources wording changed")
    finally:
        context.close()
        served.close()


def test_hostile_markup_is_escaped_in_every_file(hostile_site):
    for path in hostile_site.rglob("*.html"):
        html = path.read_text()
        assert "<script>" not in html.lower(), path
        assert "<img" not in html.lower(), path
        assert 'onmouseover="' not in html, path
    assert (
        "&lt;script&gt;window.__pwned=1&lt;/script&gt;"
        in (hostile_site / "text" / "hostile-page" / "us.html").read_text()
    )


def test_the_site_names_no_script_and_forbids_them(site):
    for path in site.rglob("*.html"):
        html = path.read_text()
        assert "<script" not in html, path
        assert "script-src" not in html or "default-src 'none'" in html, path
        assert "Content-Security-Policy" in html, path


def test_build_reads_git_in_a_constant_number_of_processes(recorded, tmp_path, monkeypatch):
    """One `git log` and one `git cat-file --batch` (plus the repository lookup), however
    long the history: a process per change would be most of the build on a big history."""
    config, root = recorded
    calls: list[list[str]] = []
    real = subprocess.run

    def counting(args: Any, *a: Any, **k: Any) -> Any:
        if isinstance(args, list) and args and args[0] == "git":
            calls.append(args)
        return real(args, *a, **k)

    monkeypatch.setattr(subprocess, "run", counting)
    code, output = build(config, root, tmp_path / "s")
    assert code == 0, output
    assert len(calls) <= 4, calls


# --- imported history ----------------------------------------------------------------------


def test_imported_versions_show_their_archive_and_capture_date(tmp_path, capsys):
    """Versions `watcher import` recorded (backdated, with the archive's trailers) are
    changes like any other, dated when the archive captured them, and say where they
    came from."""
    from watcher.evidence.commits import archive_trailers

    root = init_repo(tmp_path / "evidence")
    folder = root / "snapshots" / "instagram-privacy-policy"
    folder.mkdir(parents=True)
    versions = [
        ("2025-04-07T09:12:00+00:00", "first", "# AI\n\nWe use public posts to train AI.\n"),
        (
            "2025-04-15T10:00:00+00:00",
            "change",
            "# AI\n\nWe use public posts to train AI.\n"
            "You have the right to [object](https://www.facebook.com/help/contact/6359191084165019).\n",
        ),
    ]
    archive_commits = [
        "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b",
        "0f9e8d7c6b5a49382716f5e4d3c2b1a098765432",
    ]
    for (date, kind, text), archived in zip(versions, archive_commits, strict=True):
        (folder / "eu.md").write_text(text)
        (folder / "eu.json").write_text(json.dumps({"name": "Instagram Privacy Policy"}))
        git(root, "add", "snapshots")
        subject = (
            "First record of Instagram Privacy Policy (EU)"
            if kind == "first"
            else "Instagram Privacy Policy (EU): opt-out wording changed"
        )
        message = "\n".join([
            subject, "",
            f"{Trailer.SOURCE_URL}: https://privacycenter.instagram.com/policy",
            f"{Trailer.TARGET}: instagram-privacy-policy", f"{Trailer.REGION}: eu",
            *([f"{Trailer.CATEGORIES}: opt_out"] if kind == "change" else []),
            f"{Trailer.KIND}: {kind}",
            *archive_trailers("OpenTermsArchive/pga-versions", archived, "", date),
        ])  # fmt: skip
        subprocess.run(
            ["git", "commit", "-q", "-m", message], cwd=root, check=True,
            env={**os.environ, "GIT_AUTHOR_DATE": date},
        )  # fmt: skip
    config = root / "targets.yaml"
    config.write_text((ROOT / "targets.yaml").read_text())
    code, output = build(config, root, tmp_path / "site")
    assert code == 0, output
    [change] = [e for e in history(root / "snapshots") if e.kind == "change"]
    page = (tmp_path / "site" / "change" / f"{change.commit[:12]}.html").read_text()
    assert "an archived version, imported" in page
    assert "15 April 2025, 10:00 UTC" in page
    assert f"https://github.com/OpenTermsArchive/pga-versions/commit/{archive_commits[1]}" in page
    timeline = (tmp_path / "site" / "changes.html").read_text()
    assert timeline.count("imported from an archive") == 2
    front = (tmp_path / "site" / "index.html").read_text()
    assert "Wording last changed" in front and "15 Apr 2025" in front


def test_about_page_credits_the_archive_and_says_how_to_fork(site):
    about = " ".join((site / "about.html").read_text().split())
    assert "Open Terms Archive Core Team and Open Terms Archive contributors" in about
    assert "ODC-BY 1.0" in about
    assert "Fork the repository" in about and "Settings → Pages" in about
