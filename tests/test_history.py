"""Reading the evidence back: history, diff, compare and the Atom feed, on a repository that
`watcher run` produced from real pages served on 127.0.0.1."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from conftest import fixture_text, git, page_html, policy_target, run_cli, run_json, write_config

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def recorded(origin, proxies, repo, tmp_path, capsys):
    """EU: the raw printable page before and after the 16 Dec 2025 update. US: the global text."""
    origin.page(
        "/policy",
        {
            "eu": fixture_text("facebook/privacy-policy/2025-12-16_a.html"),
            None: page_html("facebook/privacy-policy-us/2025-10-16.md"),
        },
    )
    config = write_config(
        tmp_path / "t.yaml", [policy_target(origin.url("/policy"), regions=["eu", "us"])]
    )
    run_json(config, repo, capsys)
    origin.page(
        "/policy",
        {
            "eu": fixture_text("facebook/privacy-policy/2025-12-16_b.html"),
            None: page_html("facebook/privacy-policy-us/2025-10-16.md"),
        },
    )
    report = run_json(config, repo, capsys)
    assert {r["region"]: r["status"] for r in report["results"]} == {
        "eu": "changed",
        "us": "unchanged",
    }
    return config


def _cli(capsys, *args):
    code, out, err = run_cli(*args, capsys=capsys)
    assert code == 0, err
    return out


def test_change_commit_reads_as_a_changelog(recorded, repo):
    subject, *body = git(repo, "log", "-1", "--format=%B").splitlines()
    assert subject == "Meta Privacy Policy (EU): data sources, exemptions wording changed"
    text = "\n".join(body)
    assert "Watcher-Categories: data_sources, exemptions, other" in text
    assert (
        "+ Actions you ask AI at Meta to take, like customizing the content or ads you see" in text
    )


def test_history_lists_changes_with_categories(recorded, repo, capsys):
    snaps = str(repo / "snapshots")
    entries = json.loads(_cli(capsys, "history", "--snapshots", snaps, "--json"))
    assert [(e["target"], e["region"]) for e in entries] == [
        ("facebook-privacy-policy", "eu"),
        ("facebook-privacy-policy", "us"),
        ("facebook-privacy-policy", "eu"),
    ]
    assert entries[0]["categories"] == ["data_sources", "exemptions", "other"]
    assert entries[2]["summary"] == "First record of Meta Privacy Policy (EU)"
    only_eu = _cli(
        capsys, "history", "facebook-privacy-policy", "--region", "eu", "--snapshots", snaps
    )
    lines = only_eu.strip().splitlines()
    assert len(lines) == 3  # two records, the change with its story line
    assert "[data_sources, exemptions, other]" in lines[0]
    assert "facebook-privacy-policy/eu" in lines[0]


def test_diff_renders_the_last_change_word_by_word(recorded, repo, capsys):
    snaps = str(repo / "snapshots")
    out = _cli(
        capsys,
        "diff",
        "facebook-privacy-policy",
        "--region",
        "eu",
        "--snapshots",
        snaps,
        "--config",
        str(recorded),
    )
    assert "categories: data_sources, exemptions, other" in out.splitlines()[0]
    assert "+ Actions you ask AI at Meta to take" in out
    assert "~ Interactions with [-Meta's artificial intelligence technology-] {+AI at Meta+}" in out
    # explicit revisions, and HTML output: HEAD~2 is the first EU record (then US, then EU)
    html_out = _cli(
        capsys,
        "diff",
        "facebook-privacy-policy",
        "--region",
        "eu",
        "HEAD~2",
        "HEAD",
        "--format",
        "html",
        "--snapshots",
        snaps,
        "--config",
        str(recorded),
    )
    assert "<ins style=" in html_out
    assert git(repo, "log", "-1", "--format=%s", "HEAD~2").startswith("First record of")
    assert "Actions you ask AI at Meta to take" in html_out


def test_compare_shows_what_eu_users_are_told_that_us_users_are_not(recorded, repo, capsys):
    out = _cli(
        capsys,
        "compare",
        "facebook-privacy-policy",
        "eu",
        "us",
        "--snapshots",
        str(repo / "snapshots"),
    )
    eu_part, _us_part = out.split("== What the US text says")
    assert "== What the EU text says that the US text does not" in eu_part
    assert "right to object" in eu_part
    assert "Developing and improving AI at Meta" in eu_part
    data = json.loads(
        _cli(
            capsys,
            "compare",
            "facebook-privacy-policy",
            "eu",
            "us",
            "--json",
            "--snapshots",
            str(repo / "snapshots"),
        )
    )
    assert data["only_eu"] and data["only_us"] and data["shared"] > 0


def test_compare_folds_spelling_and_date_formats(tmp_path, capsys):
    folder = tmp_path / "snapshots" / "privacy-center-genai"
    folder.mkdir(parents=True)
    (folder / "us.md").write_text(
        "# AI\n\nWe personalize ads like posts on June 16, 2025.\nWe use public posts.\n"
    )
    (folder / "uk.md").write_text(
        "# AI\n\nWe personalise ads such as posts on 16 June 2025.\nWe use licensed data.\n"
    )
    data = json.loads(
        _cli(
            capsys,
            "compare",
            "privacy-center-genai",
            "uk",
            "us",
            "--json",
            "--snapshots",
            str(tmp_path / "snapshots"),
        )
    )
    assert data["shared"] == 1
    assert [s for _, s in data["only_uk"]] == ["We use licensed data."]


def test_feed_has_one_entry_per_change_in_the_same_commit(recorded, repo):
    feed_file = repo / "snapshots/feeds/eu.xml"
    assert "snapshots/feeds/eu.xml" in git(repo, "show", "--name-only", "--format=", "HEAD")
    root = ET.parse(feed_file).getroot()
    entries = root.findall(f"{ATOM}entry")
    assert len(entries) == 1  # first records are not changes
    entry = entries[0]
    assert entry.find(f"{ATOM}title").text.startswith("Meta Privacy Policy (EU): data sources")
    terms = [c.get("term") for c in entry.findall(f"{ATOM}category")]
    assert terms == ["data_sources", "exemptions", "other"]
    content = entry.find(f"{ATOM}content")
    assert content.get("type") == "html"
    assert "Actions you ask AI at Meta to take" in content.text
    assert not (repo / "snapshots/feeds/us.xml").exists()
