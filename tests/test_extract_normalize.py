"""Extraction and normalization on real pages: the raw printable HTML and archived text."""

from __future__ import annotations

import re

import pytest
from conftest import PRINTABLE, SHIPPED, fixture_text, page_html

from watcher.config import load_config
from watcher.errors import ExtractionError
from watcher.extract import extract_sections
from watcher.normalize import clean_url, render_markdown, sentences_of, split_sentences
from watcher.page import Document

CONFIG = load_config(SHIPPED)
POLICY = CONFIG.target("facebook-privacy-policy")


def extract(name: str, target=POLICY) -> str:
    content = fixture_text(name)
    doc = Document.from_content(content, PRINTABLE, target.link_base, name=name)
    return render_markdown(extract_sections(doc, target.extract), target.link_base)


@pytest.mark.parametrize(
    "href,expected",
    [
        # tracking parameters go, the form id stays
        (
            "https://www.facebook.com/help/contact/367438723733209?entry_point=POLICY_SUBPAGE%3A7",
            "https://www.facebook.com/help/contact/367438723733209",
        ),
        (
            "https://www.facebook.com/privacy/genai?entry_point=X&locale2=en_US&_nc_cat=101",
            "https://www.facebook.com/privacy/genai",
        ),
        # redirect wrappers are unwrapped, their signature (h=) dropped
        (
            "https://lm.facebook.com/l.php?u=https%3A%2F%2Fhelp.instagram.com%2F581066165581870%2F"
            "%3Fentry_point%3DX&h=AT2FqqTs",
            "https://help.instagram.com/581066165581870/",
        ),
        (
            "https://mbasic.facebook.com/privacy/policy/printable/https%3A%2F%2Flm.facebook.com%2Fl.php"
            "%3Fu=https%3A%2F%2Fhelp.instagram.com%2F1986234648360433%2F",
            "https://help.instagram.com/1986234648360433/",
        ),
        # media on a CDN, and links within the page, are reduced to their text
        (
            "https://mbasic.facebook.com/video_redirect/?src=https%3A%2F%2Fvideo-fra3-1.xx.fbcdn.net%2Fa",
            None,
        ),
        ("https://scontent-lhr8-2.xx.fbcdn.net/v/t39/abc.jpg?oh=1&oe=2", None),
        ("?entry_point=POLICY_SECTION%3A1#annotation-3", None),
        ("#1.subpage.1-YourActivityAndInformation", None),
        ("javascript:void(0)", None),
        # relative links resolve against the public address, not the mirror
        (
            "/help/contact/1266025207620918?entry_point=X",
            "https://mbasic.facebook.com/help/contact/1266025207620918",
        ),
    ],
)
def test_clean_url(href, expected):
    assert clean_url(href, PRINTABLE) == expected


@pytest.mark.parametrize(
    "text,expected",
    [
        (
            "We use information. This includes posts.",
            ["We use information.", "This includes posts."],
        ),
        ("Content (e.g. posts) is used. Next one.", ["Content (e.g. posts) is used.", "Next one."]),
        (
            "[Learn more.](https://x.com/a) Then more.",
            ["[Learn more.](https://x.com/a)", "Then more."],
        ),
        (
            "Meta Platforms, Inc. is based in the U.S. and more",
            ["Meta Platforms, Inc. is based in the U.S. and more"],
        ),
        ("Why? Because. 2025 came.", ["Why?", "Because.", "2025 came."]),
    ],
)
def test_split_sentences(text, expected):
    assert split_sentences(text) == expected


def test_raw_printable_policy_keeps_the_ai_sections():
    text = extract("facebook/privacy-policy/2025-12-16_b.html")
    assert "### Developing and improving AI at Meta" in text
    assert (
        "- Public content you or others create or share, like posts, comments or audio on "
        "Meta Products" in text
    )
    assert "[right to object to](https://www.facebook.com/help/contact/367438723733209)" in text
    assert "## AI integrations" in text
    assert (
        "Generative AI models that make our features work may not have the most complete "
        "or recent information." in text.splitlines()
    )
    # noise never reaches the snapshot
    for noise in ("entry_point", "fbcdn", "_nc_", "l.php", "annotation-", "\u2019", "\xa0"):
        assert noise not in text
    # the highlights and unrelated sections are not kept
    assert "How long do we keep your information?" not in text
    assert 120 < len(sentences_of(text)) < 400


def test_archived_text_rendered_from_markdown_gives_the_same_rows():
    text = extract("facebook/privacy-policy/2025-12-17.md")
    assert re.search(r"^#+ Developing and improving AI at Meta$", text, re.M)
    assert (
        "- Public content you or others create or share, like posts, comments or audio on "
        "Meta Products" in text
    )
    html = extract("facebook/privacy-policy/2025-12-16_b.html")
    shared = set(sentences_of(text)) & set(sentences_of(html))
    assert len(shared) > 0.8 * len(set(sentences_of(text)))


def test_june_2024_provide_and_curate_bullet_is_extracted():
    before = extract("facebook/privacy-policy/2024-06-18.md")
    after = extract("facebook/privacy-policy/2024-06-26.md")
    curate = "Provide and curate [artificial intelligence technology]"
    assert curate not in before
    assert curate in after


def test_two_fetches_of_the_same_page_are_byte_identical():
    a = extract("facebook/privacy-policy-noise/2025-04-14_a.md")
    b = extract("facebook/privacy-policy-noise/2025-04-14_b.md")
    assert fixture_text("facebook/privacy-policy-noise/2025-04-14_a.md") != fixture_text(
        "facebook/privacy-policy-noise/2025-04-14_b.md"
    )
    assert a == b


def test_one_sentence_per_line():
    for line in extract("facebook/privacy-policy/2025-12-16_b.html").splitlines():
        body = line.removeprefix("- ").strip()
        if not body or body.startswith("#"):
            continue
        assert len(split_sentences(body)) == 1, line


def test_react_terms_page_keeps_nested_list_structure():
    terms = CONFIG.target("meta-ai-terms-eu")
    text = extract("meta-ai/terms-of-service/2026-05-13.html", terms)
    assert "# Personal Information" in text
    assert (
        "The [Meta Privacy Policy](https://www.facebook.com/privacy/policy/) explains how we "
        "process your personal information in the context of AIs, including how we use your "
        "interactions with AIs to improve AI at Meta."
    ) in text.splitlines()
    assert "Log In" not in text


def test_genai_section_from_the_privacy_center():
    genai = CONFIG.target("privacy-center-genai")
    text = extract("facebook/privacy-policy-us/2026-03-05.md", genai)
    assert "# Where does Meta get training information?" in text
    assert (
        "We do not use the content of your private messages with friends and family to "
        "train our AIs unless you or someone in the chat chooses to share those messages "
        "with our AIs."
    ) in text.splitlines()
    assert "https://www.facebook.com/help/contact/1266025207620918" in text


def test_hidden_elements_and_scripts_are_not_content():
    html = (
        "<html><body><div id=root><p>Meta AI trains on public posts.</p>"
        "<p hidden>Meta AI secret hidden text.</p><div style='display: none'>AI ghost</div>"
        "<script>var AI = 1;</script><p aria-hidden='true'>AI decoration</p></div></body></html>"
    )
    doc = Document(html, PRINTABLE)
    text = render_markdown(extract_sections(doc, POLICY.extract), PRINTABLE)
    assert text == "Meta AI trains on public posts.\n"


def test_page_without_matching_sections_raises():
    doc = Document(page_html("threads/privacy-policy/2025-07-17.md"), PRINTABLE)
    with pytest.raises(ExtractionError, match="section not found"):
        extract_sections(doc, POLICY.extract)


def test_markup_in_page_content_is_text_in_the_snapshot():
    html = (
        "<html><body><div id=root><p>AI &lt;script&gt;alert(1)&lt;/script&gt; and "
        "<a href='https://example.com/x'>AI [link]</a></p></div></body></html>"
    )
    text = render_markdown(extract_sections(Document(html, PRINTABLE), POLICY.extract), PRINTABLE)
    assert text == "AI <script>alert(1)</script> and [AI \\[link\\]](https://example.com/x)\n"


@pytest.mark.parametrize(
    "name",
    [
        "facebook/privacy-policy/2024-06-26.md",
        "facebook/privacy-policy/2025-05-28.md",
        "facebook/privacy-policy-us/2026-03-05.md",
        "instagram/privacy-policy/2025-04-15.md",
        "pages/fb-privacy-policy_UK-variant_vlopses-gb_2026-05-12.md",
    ],
)
def test_both_markdown_renderers_give_the_same_snapshot(name):
    """markdown-it.rs (fast) and markdown-it-py (fallback) read archived text alike, page
    text that looks like HTML included (it stays text in both)."""
    from watcher.page import markdown_to_html, python_renderer
    from watcher.process import process_document

    target = CONFIG.target("facebook-privacy-policy")
    text = fixture_text(name) + "\n\nAI <script>alert(1)</script> and <img src=x onerror=y>.\n"
    snapshots = [
        process_document(
            Document(markdown_to_html(text, render), PRINTABLE, PRINTABLE), target, None
        ).text
        for render in (None, python_renderer())
    ]
    assert snapshots[0] == snapshots[1]
    assert "AI <script>alert(1)</script>" in snapshots[0].replace("\\", "")


AI_TERMS_BEHIND_DIALOG = "meta-ai/terms-of-service/2026-01-21.html"


@pytest.mark.parametrize("target_id", ["meta-ai-terms-eu", "meta-ai-terms"])
def test_ai_terms_behind_metas_cookie_dialog_are_the_page_not_a_consent_wall(target_id):
    """Archived (and fetched without a browser) with Meta's cookie dialog open, the AI terms
    sit behind it in `<div id=scrollview aria-hidden=true>`: a modal hides the page from
    screen readers, not from the screen. The dialog is the banner; the terms are recorded."""
    from watcher.process import process_page

    target = CONFIG.target(target_id)
    html = fixture_text(AI_TERMS_BEHIND_DIALOG)
    obs = process_page(html, "text/html; charset=utf-8", target.url, target, target.regions[0])
    assert obs.text.startswith("# Personal Information\n")
    assert "improve AI at Meta" in obs.text
    assert "cookie" not in obs.text.lower()
    assert obs.page_chars > 14_000  # the terms, not the dialog's 1,458 characters


def test_a_cookie_dialog_with_little_behind_it_is_still_a_consent_wall():
    """Only a page that outweighs the banner is kept: Meta's dialog over a short aria-hidden
    page (or over nothing) is the consent wall it always was."""
    from selectolax.lexbor import LexborHTMLParser

    from watcher.errors import BlockedError
    from watcher.verify import verify_page

    target = CONFIG.target("meta-ai-terms-eu")
    dialog = LexborHTMLParser(fixture_text(AI_TERMS_BEHIND_DIALOG)).css_first("[role=dialog]")
    assert dialog is not None and dialog.html
    behind = "<div aria-hidden='true'><p>Log in to see the AI Terms of Service.</p></div>"
    for page in (dialog.html, behind + dialog.html):
        doc = Document(f"<html><body>{page}</body></html>", target.url)
        with pytest.raises(BlockedError, match="consent wall"):
            verify_page(doc, target, "eu")
