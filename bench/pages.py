"""The pages the benchmark serves: real Meta privacy policies from tests/fixtures/ota.

Raw printable HTML (`*.html`) is served as it is; archived text versions (`*.md`) are rendered
to HTML with `watcher.extract.markdown_to_html` and wrapped in `<div id="root">`, as
tests/conftest.py `page_html` does. Each source page also has a *changed* variant in which
one real sentence of its AI-training section is reworded ("AI" becomes "artificial
intelligence (AI)"), so that watcher (which looks only at that section) and urlwatch (which
looks at all of `#root`) both see exactly one changed sentence.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from conftest import OTA, fixture_text, page_html  # noqa: E402  (the tests' own page loaders)

__all__ = ["fixture_text", "page_html"]
SOURCE_DIR = "facebook/privacy-policy"
MICRO_PAGE = f"{SOURCE_DIR}/2025-12-16_b.html"
PRINTABLE = "https://mbasic.facebook.com/privacy/policy/printable/"
POLICY_TARGET = "facebook-privacy-policy"
# Every archived copy of the policy was fetched from the EU, so it carries the EU markers.
EU_MARKERS = ["Meta Platforms Ireland Limited", "Irish Data Protection Commission"]
CHANGED_EVERY = 10  # page i is in the changed 10% when i % CHANGED_EVERY == 0

_AI = re.compile(r"\bAI\b")


def source_names() -> list[str]:
    folder = OTA / SOURCE_DIR
    names = sorted(p.name.removesuffix(".gz") for p in folder.iterdir() if p.name.endswith(".gz"))
    return [f"{SOURCE_DIR}/{n}" for n in names if n.endswith((".html", ".md"))]


@dataclass
class Source:
    name: str
    html: str
    changed_html: str
    old_sentence: str
    new_sentence: str


def _snapshot_lines(html: str) -> list[str]:
    from watcher.config import load_config
    from watcher.extract import extract_sections
    from watcher.normalize import render_markdown, sentences_of
    from watcher.page import Document

    target = load_config(ROOT / "targets.yaml").target(POLICY_TARGET)
    doc = Document(html, PRINTABLE, PRINTABLE)
    return sentences_of(render_markdown(extract_sections(doc, target.extract), PRINTABLE))


def make_changed(name: str, html: str) -> Source:
    """Reword one sentence of the page's AI section, found verbatim (once) in the HTML."""
    lines = _snapshot_lines(html)
    for sentence in lines:
        if len(sentence) < 60 or not _AI.search(sentence) or any(c in sentence for c in "[]\\"):
            continue
        if html.count(sentence) != 1:
            continue
        new = _AI.sub("artificial intelligence (AI)", sentence, count=1)
        changed = html.replace(sentence, new, 1)
        after = _snapshot_lines(changed)
        gone = [s for s in lines if s not in after]
        added = [s for s in after if s not in lines]
        if gone == [sentence] and len(added) == 1 and len(after) == len(lines):
            return Source(name, html, changed, sentence, added[0])
    raise RuntimeError(f"{name}: no AI-section sentence found verbatim in the HTML")


def load_sources() -> list[Source]:
    return [make_changed(name, page_html(name)) for name in source_names()]
