"""A page's stable form (watcher.stable): what lets an unchanged live page skip processing.

Two things must hold for the skip to be honest, and both are tested on real Meta pages:
- what the stable form masks is noise to the snapshot: rewriting it as Meta does on every
  request (tracking values, CDN hosts, class names, nonces, scripts) leaves the extracted
  text byte for byte the same, and the stable digest too;
- everything else is kept: a changed word, link target, id or tag changes the digest.
The rewriting here is written for this test from what Meta's pages carry, independently of
the masks in watcher.stable.
"""

from __future__ import annotations

import json
import random
import re
import string
from pathlib import Path

import pytest
from conftest import (
    Origin,
    RegionProxy,
    Response,
    fixture_text,
    page_html,
    policy_target,
    run_json,
    write_config,
)

from watcher.config import load_config
from watcher.process import inspect_page
from watcher.stable import exposed, stable_digest, stable_form

ROOT = Path(__file__).resolve().parent.parent
RAW_PAGES = [
    "facebook/privacy-policy/2025-12-16_a.html",
    "facebook/privacy-policy/2025-12-16_b.html",
    "facebook/privacy-policy/2026-01-14.html",
]
TEXT_PAGES = [
    "facebook/privacy-policy/2024-06-26.md",
    "facebook/privacy-policy-noise/2025-04-14_a.md",
]


def _runs(rng: random.Random, value: str) -> str:
    """Each run of letters or digits replaced by a random run of the same kind and length."""

    def repl(m: re.Match[str]) -> str:
        alphabet = string.digits if m.group(0).isdigit() else string.ascii_lowercase
        return "".join(rng.choice(alphabet) for _ in m.group(0))

    return re.sub(r"[A-Za-z0-9]+", repl, value)


def meta_rewrite(html: str, seed: int) -> str:
    """The page as another request would get it from Meta."""
    rng = random.Random(seed)
    html = re.sub(
        r'(class=")([^"]*)(")', lambda m: m.group(1) + _runs(rng, m.group(2)) + m.group(3), html
    )
    html = re.sub(
        r'(nonce=")([^"]*)(")', lambda m: m.group(1) + _runs(rng, m.group(2)) + m.group(3), html
    )
    html = re.sub(
        r"((?:[?&]|&amp;)(?:_nc_[a-z_]+|oh|oe)=)([A-Za-z0-9_-]+)",
        lambda m: m.group(1) + _runs(rng, m.group(2)),
        html,
    )
    html = re.sub(
        r"scontent-[a-z0-9-]+(?=\.xx\.fbcdn\.net)",
        lambda m: "scontent-" + _runs(rng, m.group(0)[9:]),
        html,
    )
    html = re.sub(
        r"(<script\b[^>]*>)(.*?)(</script>)",
        lambda m: m.group(1) + f"var t={rng.randrange(10**9)};" + m.group(2) + m.group(3),
        html,
        flags=re.S,
    )
    # a page without scripts or nonces still differs: Meta's responses always do
    return html.replace("</head>", f'<script nonce="{rng.randrange(10**9)}">1</script></head>', 1)


@pytest.fixture(scope="module")
def target():
    return load_config(ROOT / "targets.yaml").target("facebook-privacy-policy")


def digest(html: str) -> str:
    return stable_digest(html.encode(), "https://www.facebook.com/privacy/policy/", "text/html")


@pytest.mark.parametrize("name", RAW_PAGES + TEXT_PAGES)
def test_what_meta_changes_per_request_is_noise_to_the_snapshot_and_to_the_digest(name, target):
    html = fixture_text(name) if name.endswith(".html") else page_html(name)
    copies = [meta_rewrite(html, seed) for seed in (1, 2)]
    assert len({html, *copies}) == 3  # the rewriting really changed the bytes
    texts = {inspect_page(c, target, "page.html").observation.text for c in copies}
    assert len(texts) == 1 and next(iter(texts))  # the premise: same snapshot text
    assert digest(copies[0]) == digest(copies[1])
    assert not exposed(next(iter(texts)))


@pytest.mark.parametrize("name", RAW_PAGES)
def test_every_change_that_can_reach_a_snapshot_changes_the_digest(name):
    html = fixture_text(name)
    base = digest(html)
    sentence = "We use information to develop and improve AI at Meta"
    assert "AI at Meta" in html
    edits = {
        "a word": html.replace("AI at Meta", "AI at  Meta", 1),
        "a link target": re.sub(
            r'href="https://www\.facebook\.com/', 'href="https://x.test/', html, count=1
        ),
        "a kept query value": re.sub(r'(href="[^"?]*\?)', r"\1v=1&amp;", html, count=1),
        "an id": re.sub(r'id="([^"]+)"', r'id="\1x"', html, count=1),
        "a tag": html.replace("<h2", "<h3", 1),
        "hidden text": html.replace("<body", '<body><p hidden="">' + sentence + "</p", 1),
        "a title": re.sub(r"<title>", "<title>x ", html, count=1),
    }
    for what, edited in edits.items():
        assert edited != html, what
        assert digest(edited) != base, what
    # where the page came from and how it was typed are part of it
    data = html.encode()
    assert stable_digest(data, "https://a.test/", "text/html") != base
    assert stable_digest(data, "https://www.facebook.com/privacy/policy/", "text/plain") != base


def test_markup_inside_comments_titles_and_odd_values_is_kept_not_masked():
    page = "<html><head><title>t</title></head><body>{}</body></html>"
    # a <script> inside a comment is no script: what follows it is the page
    a = page.format("<!-- <script> --><p>A</p></script>")
    b = page.format("<!-- <script> --><p>B</p></script>")
    assert digest(a) != digest(b)
    # nor is one inside an attribute's value
    a = page.format('<p title="<script>">x</p><p>A</p><script>1</script>')
    b = page.format('<p title="<script>">x</p><p>B</p><script>1</script>')
    assert digest(a) != digest(b)
    # a title's text is kept as it is, masks and all
    assert digest(page.replace("<title>t", '<title> class="1"')) != digest(
        page.replace("<title>t", '<title> class="2"')
    )
    # a class value holding markup is not a class value to mask
    assert digest(page.format('<p class="a<b">x</p>')) != digest(
        page.format('<p class="a<c">x</p>')
    )
    # a parameter that a snapshot keeps is kept
    assert digest(page.format('<a href="/x?id=1">x</a>')) != digest(
        page.format('<a href="/x?id=2">x</a>')
    )
    # a dropped one is masked, plain, escaped or encoded
    for sep in ("?", "&amp;", "%3F", "%26", "%2526"):
        one = page.format(f'<a href="/x?a=1{sep}_nc_gid=abc">x</a>')
        two = page.format(f'<a href="/x?a=1{sep}_nc_gid=xyz">x</a>')
        assert digest(one) == digest(two), sep
    assert stable_form(b'<style>.a{}</style><p class="x1">t</p>') == (b'<p class="">t</p>')


def test_a_snapshot_that_shows_a_masked_part_is_always_processed():
    assert exposed("see https://x.test/?a=1&_nc_gid=abc")
    assert exposed('the text says class="x"')
    assert exposed("an image at https://scontent.xx.fbcdn.net/a.jpg")
    assert not exposed("We use public posts to develop AI at Meta.")


# --- end to end: `watcher run` on live pages -------------------------------------------


def _live(origin: Origin, path: str, html: str) -> list[int]:
    """Serve `html` rewritten as Meta does, other bytes on every request."""
    seeds = iter(range(100, 10_000))
    served: list[int] = []

    def handler(req: dict) -> Response:
        seed = next(seeds)
        served.append(seed)
        return Response(body=meta_rewrite(html, seed))

    origin.route(path, handler)
    return served


def _only(report: dict) -> dict:
    (result,) = report["results"]
    return result


def test_an_unchanged_live_page_is_not_processed_and_a_change_still_is(
    origin: Origin, proxies: dict[str, RegionProxy], repo: Path, tmp_path: Path, capsys
):
    html = fixture_text(RAW_PAGES[0])
    served = _live(origin, "/p", html)
    config = write_config(tmp_path / "t.yaml", [policy_target(origin.url("/p"), regions=["eu"])])
    first = _only(run_json(config, repo, capsys))
    # a first record is confirmed by a second fetch: other bytes, same stable form
    assert first["status"] == "new" and len(served) == 2
    again = _only(run_json(config, repo, capsys))
    assert again["status"] == "unchanged"
    assert again["same_stable_form"] and not again["same_input"]
    assert len(served) == 3
    # a real change, under the same per-request noise, is processed, confirmed, recorded
    _live(origin, "/p", html.replace("AI at Meta", "artificial intelligence at Meta"))
    changed = _only(run_json(config, repo, capsys))
    assert changed["status"] == "changed" and not changed["same_stable_form"]
    assert changed["commit"]


def test_a_new_stable_form_is_computed_from_each_capture_once_and_noted(
    origin: Origin, proxies: dict[str, RegionProxy], repo: Path, tmp_path: Path, capsys,
    monkeypatch,
):  # fmt: skip
    """A capture record whose stable digest another version of watcher.stable made (here:
    written as such by hand) is read once: its page's digest is computed from the stored
    capture, noted in its record (a note commit, no snapshot touched), and later runs
    compare with the record alone, reading no stored page."""
    from conftest import git

    import watcher.run
    from watcher.evidence.captures import read_record
    from watcher.stable import version

    html = fixture_text(RAW_PAGES[0])
    _live(origin, "/p", html)
    config = write_config(tmp_path / "t.yaml", [policy_target(origin.url("/p"), regions=["eu"])])
    assert _only(run_json(config, repo, capsys))["status"] == "new"
    path = repo / "snapshots/.captures/facebook-privacy-policy/eu.json"
    record = json.loads(path.read_text())
    assert record["stable"].startswith(version() + ":")
    record["stable"] = "s0-000000000000:" + "0" * 64  # an earlier stable form's digest
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    git(repo, "commit", "-q", "-am", "A record from an earlier watcher")
    reads: list[str] = []
    real_read = watcher.run.read_capture

    def counted(*args):  # the real function, counted
        reads.append(args[1])
        return real_read(*args)

    monkeypatch.setattr(watcher.run, "read_capture", counted)
    first = _only(run_json(config, repo, capsys))
    assert first["status"] == "unchanged" and first["same_stable_form"] and reads
    subject = git(repo, "log", "-1", "--format=%s").strip()
    assert subject == "Note that watcher's new rules read 1 stored capture as recorded"
    assert git(repo, "show", "--name-only", "--format=", "HEAD").split() == [
        "snapshots/.captures/facebook-privacy-policy/eu.json"
    ]
    noted = read_record(repo / "snapshots", "facebook-privacy-policy", "eu")
    assert noted.stable.startswith(version() + ":")
    reads.clear()
    head = git(repo, "rev-parse", "HEAD")
    again = _only(run_json(config, repo, capsys))
    assert again["status"] == "unchanged" and again["same_stable_form"]
    assert reads == [] and git(repo, "rev-parse", "HEAD") == head


def test_an_audit_processes_every_page_and_reports_a_skip_that_would_misread_one(
    origin: Origin, proxies: dict[str, RegionProxy], repo: Path, tmp_path: Path, capsys
):
    """`watcher run --audit` processes pages that either skip would have reused, and says
    when the snapshot is not what the page reads as: a record that no longer matches its
    capture (edited by hand here) is found, where a plain run would skip the page."""
    from conftest import git, run_cli

    html = fixture_text(RAW_PAGES[0])
    _live(origin, "/p", html)
    config = write_config(tmp_path / "t.yaml", [policy_target(origin.url("/p"), regions=["eu"])])
    assert _only(run_json(config, repo, capsys))["status"] == "new"
    audited = _only(run_json(config, repo, capsys, "--audit"))
    assert audited["status"] == "unchanged"
    assert not audited["same_stable_form"] and not audited["same_input"]  # processed
    assert not any(e.startswith("audit:") for e in audited["events"])
    # a snapshot that its capture does not give: a plain run skips the page, an audit sees it
    snap = repo / "snapshots/facebook-privacy-policy/eu.md"
    snap.write_text(snap.read_text().replace("AI at Meta", "AI at Meta (edited)", 1))
    git(repo, "commit", "-q", "-am", "Edit a snapshot by hand")
    plain = _only(run_json(config, repo, capsys))
    assert plain["status"] == "unchanged" and plain["same_stable_form"]
    code, out, _ = run_cli(
        "run", "--config", str(config), "--snapshots", str(repo / "snapshots"),
        "--json", "--no-notify", "--no-commit", "--audit", capsys=capsys,
    )  # fmt: skip
    assert code == 0
    [result] = json.loads(out)["results"]
    [note] = [e for e in result["events"] if e.startswith("audit:")]
    assert "by its stable form would have missed" in note and "a bug in watcher" in note


def test_fuzz_an_equal_stable_form_always_means_an_equal_snapshot(target):
    """The property a skip rests on, tried on a real page: mutate it at random (a byte
    inserted, deleted or replaced, half of the time inside what the masks cover: class
    values, scripts, tracking values), and every mutant whose digest is still the page's
    must give the page's snapshot text. Mutants with another digest are processed anyway."""
    html = fixture_text(RAW_PAGES[1])
    base = digest(html)
    text = inspect_page(html, target, "page.html").observation.text
    spans = [
        m.span(2)
        for m in re.finditer(
            r'(class="|<script[^>]*>|[?&](?:amp;)?_nc_[a-z_]+=|oh=|oe=)([^"<&]{1,200})', html
        )
    ]
    assert len(spans) > 100
    rng = random.Random(2026)
    alphabet = 'ab Z09_-.=?&;"<>/'
    checked = 0
    for _ in range(160):
        if rng.random() < 0.5:
            start, end = rng.choice(spans)
            at = rng.randrange(start, end)
        else:
            at = rng.randrange(len(html))
        op = rng.choice(("insert", "delete", "replace"))
        char = rng.choice(alphabet)
        if op == "insert":
            mutant = html[:at] + char + html[at:]
        elif op == "delete":
            mutant = html[:at] + html[at + 1 :]
        else:
            mutant = html[:at] + char + html[at + 1 :]
        if mutant == html or digest(mutant) != base:
            continue
        checked += 1
        assert inspect_page(mutant, target, "page.html").observation.text == text, (op, at, char)
    assert checked >= 50  # the property was tried, not only stated
