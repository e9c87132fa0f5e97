"""`watcher compare` answers "what are EU users told that others are not": link targets
and the section a sentence sits in are differences, near-identical sentences come as a
word diff, and each side says when it was recorded. Real texts of Meta's policies."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import SHIPPED, fixture_text, run_cli

from watcher.config import load_config
from watcher.evidence.history import compare_regions, compare_text
from watcher.evidence.importer import component_of
from watcher.process import process_page

CONFIG = load_config(SHIPPED)


def _snapshot(
    folder: Path, target: str, region: str, name: str, recorded: str, variant: str = ""
) -> None:
    """The snapshot of an archived version, stored as `region`'s (read as `variant`'s)."""
    t = CONFIG.target(target)
    page = component_of(fixture_text(name), t.archive.component if t.archive else None)
    assert page is not None
    obs = process_page(page, "text/markdown", t.url, t, variant or region, "version.md")
    (folder / target).mkdir(parents=True, exist_ok=True)
    (folder / target / f"{region}.md").write_text(obs.text)
    (folder / target / f"{region}.json").write_text(json.dumps({"recorded_at": recorded}))


def test_an_objection_link_to_another_form_is_a_difference(tmp_path):
    """Instagram's notice, in April 2025, before and after its objection link moved from
    Facebook's form to Instagram's: the words agree, the form does not."""
    snaps = tmp_path / "snapshots"
    target = "instagram-privacy-policy"
    _snapshot(snaps, target, "eu", "history/pga/instagram/2025-04-15T00-31.md", "2025-04-15T00:31Z")
    _snapshot(
        snaps, target, "uk", "history/pga/instagram/2025-04-16T00-31.md", "2025-04-16T00:31Z", "eu"
    )
    c = compare_regions(snaps, target, "eu", "uk")
    [link] = [d for d in c.differ if d.links_only and "contact/" in d.text_a]
    assert "contact/6359191084165019" in link.text_a
    assert "contact/233964459562201" in link.text_b
    text = compare_text(c)
    assert "recorded 2025-04-15T00:31Z" in text and "recorded 2025-04-16T00:31Z" in text
    assert "contact/[-6359191084165019-] {+233964459562201+}" in text


def test_eu_and_uk_texts_differ_in_wording_links_and_where_sentences_sit(tmp_path):
    """The EU text (archived from Ireland, April 2026) and the UK text (May 2026)."""
    snaps = tmp_path / "snapshots"
    target = "facebook-privacy-policy"
    pages = "pages/fb-privacy-policy_{}.md"
    _snapshot(snaps, target, "eu", pages.format("EU-variant_vlopses-ie_2026-04-30"), "2026-04-30")
    _snapshot(snaps, target, "uk", pages.format("UK-variant_vlopses-gb_2026-05-12"), "2026-05-12")
    c = compare_regions(snaps, target, "eu", "uk")
    # the contract sentence links to each region's own Meta AI terms
    assert any(d.links_only and "eu-ai-terms" in d.text_a for d in c.differ)
    # near-identical sentences are paired into a word diff, not listed twice
    assert any(not d.links_only and d.words for d in c.differ)
    # a sentence both have, under a row only one of them has
    assert c.placed and all(p.sections_a or p.sections_b for p in c.placed)
    assert c.shared > 0


def test_compare_json_names_each_side_with_its_date(tmp_path, capsys):
    snaps = tmp_path / "snapshots"
    target = "instagram-privacy-policy"
    _snapshot(snaps, target, "eu", "history/pga/instagram/2025-04-15T00-31.md", "2025-04-15")
    _snapshot(snaps, target, "uk", "history/pga/instagram/2025-04-16T00-31.md", "2025-04-16", "eu")
    code, out, _ = run_cli(
        "compare", target, "eu", "uk", "--json", "--snapshots", str(snaps), capsys=capsys
    )
    assert code == 0
    data = json.loads(out)
    assert data["recorded_eu"] == "2025-04-15" and data["recorded_uk"] == "2025-04-16"
    assert data["differ"] and all(d["links_only"] for d in data["differ"])
    assert any("help.instagram.com/contact/" in d["text_b"] for d in data["differ"])
