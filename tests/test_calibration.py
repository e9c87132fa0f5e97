"""The calibration set: every expected alert fires with its categories, noise never alerts,
broken captures fail, and rendered diffs show the changed sentences without the rest."""

from __future__ import annotations

import html
import re

import pytest
from calibration import CASES, Outcome, evaluate

from watcher.classify import plain
from watcher.render import render_html, render_markdown, render_text

_OUTCOMES: dict[str, Outcome] = {}


def outcome_of(case: dict) -> Outcome:
    """Each case is evaluated once, when a test first asks for it (not at import time)."""
    if case["id"] not in _OUTCOMES:
        _OUTCOMES[case["id"]] = evaluate(case)
    return _OUTCOMES[case["id"]]


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_expected_outcome_and_categories(case):
    outcome = outcome_of(case)
    assert outcome.kind == case["expect"], outcome.reason
    if case["expect"] == "alert":
        assert outcome.categories == case["categories"]


@pytest.mark.parametrize(
    "case",
    [c for c in CASES if c["expect"] == "alert"],
    ids=[c["id"] for c in CASES if c["expect"] == "alert"],
)
def test_rendered_diff_shows_changed_sentences_and_nothing_unchanged(case):
    outcome = outcome_of(case)
    text = render_text(outcome.changes, outcome.events)
    # every quoted piece of evidence (not a note in parentheses) is in the diff
    for quote in case["evidence"]:
        if quote.startswith("("):
            quote = re.sub(r"^\([^)]*\)\s*", "", quote)
            if quote.startswith("..."):
                continue
        assert quote.rstrip(".") in text, quote
    # no sentence that is in both versions and never changed shows up
    changed = {plain(c.old or "") for c in outcome.changes} | {
        plain(c.new or "") for c in outcome.changes
    }
    old_case = evaluate_texts(case)
    unchanged = (old_case[0] & old_case[1]) - changed
    shown = [line[2:] for line in text.splitlines() if line[:2] in ("+ ", "- ", "~ ")]
    assert not [s for s in shown if s in unchanged]
    # the same sentences reach the Markdown and HTML renderings, escaped
    markdown = render_markdown(outcome.changes, outcome.events)
    rendered_html = render_html(outcome.changes, outcome.events)
    for change in outcome.changes[:20]:
        if change.kind == "added" and not change.heading:
            assert html.escape(plain(change.new)) in rendered_html
            assert plain(change.new).split()[0] in markdown


def evaluate_texts(case) -> tuple[set[str], set[str]]:
    """Plain sentences of the old and new snapshots of a case."""
    from calibration import CONFIG, PRINTABLE, fixture_text

    from watcher.normalize import sentences_of
    from watcher.process import process_page

    target = CONFIG.target(case["target"])
    out = []
    for name in (case["old"], case["new"]):
        obs = process_page(fixture_text(name), None, PRINTABLE, target, case["region"], name)
        out.append({plain(s) for s in sentences_of(obs.text)})
    return out[0], out[1]


def test_noise_pairs_record_nothing_at_all():
    noise = [c for c in CASES if c["id"].startswith(("fb-noise-fbcdn", "fb-noise-raw-html"))]
    assert noise, "the calibration set lost its noise pairs"
    for case in noise:
        assert outcome_of(case).changes == [], case["id"]


def test_editorial_rewrites_are_recorded_but_not_alerted():
    [case] = [c for c in CASES if c["id"] == "genai-noise-en-gb-editorial-rewrite"]
    outcome = outcome_of(case)
    assert outcome.changes  # recorded: the wording did change
    assert {c for ch in outcome.changes for c in ch.categories} == {"other"}


def test_page_content_is_escaped_in_html():
    from watcher.diff import Change, word_diff

    hostile = Change(
        "modified",
        "AI <b>section</b>",
        old="AI uses posts.",
        new='AI uses posts <img src=x onerror="alert(1)"> and <script>x()</script>.',
    )
    hostile.words = word_diff(hostile.old, hostile.new)
    out = render_html([hostile], [])
    assert "<img" not in out and "<script" not in out and "<b>" not in out
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in out
    assert "&lt;script&gt;" in out
