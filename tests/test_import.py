"""`watcher import`: an archive's recorded versions become backdated evidence, checked like
live pages. The archive here is a small versions repository, built in a temporary directory
from real archived versions (tests/fixtures/ota), with noise, a failed capture, a region
flip and real changes, in the archive's own layout."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import SHIPPED, fixture_text, git, run_cli

FILE = "Facebook/Privacy Policy.md"
# (archive date, fixture, what it is) — labelled from the pages themselves
VERSIONS = [
    ("2024-06-18T00:30:00Z", "facebook/privacy-policy/2024-06-18.md", "first record"),
    ("2024-06-20T00:30:00Z", "instagram/privacy-policy-noise/2025-05-21.md", "error page"),
    ("2024-06-26T00:30:00Z", "facebook/privacy-policy/2024-06-26.md", "AI provide and curate"),
    ("2025-04-14T00:30:00Z", "facebook/privacy-policy-noise/2025-04-14_a.md", "change"),
    ("2025-04-14T12:30:00Z", "facebook/privacy-policy-noise/2025-04-14_b.md", "fbcdn noise"),
    # the same AI wording as 14 April (only annotation text after "AI integrations" differs)
    ("2025-04-23T00:30:00Z", "facebook/privacy-policy/2025-04-23.md", "unchanged"),
    ("2025-05-01T00:30:00Z", "facebook/privacy-policy-us/2025-10-16.md", "global variant"),
    ("2025-05-28T00:30:00Z", "facebook/privacy-policy/2025-05-28.md", "EU AI row"),
]


def make_archive(root: Path, versions: list[tuple[str, str, str]]) -> Path:
    """A versions repository as Open Terms Archive keeps one: one commit per version."""
    root.mkdir(parents=True, exist_ok=True)
    if not (root / ".git").exists():
        git(root, "init", "-q", "-b", "main")
    for i, (date, fixture, _) in enumerate(versions):
        path = root / FILE
        path.parent.mkdir(exist_ok=True)
        path.write_text(fixture_text(fixture))
        git(root, "add", FILE)
        env = {
            **os.environ,
            "GIT_AUTHOR_DATE": date,
            "GIT_COMMITTER_DATE": date,
            "GIT_AUTHOR_NAME": "OTA-Bot",
            "GIT_AUTHOR_EMAIL": "bot@example.invalid",
            "GIT_COMMITTER_NAME": "OTA-Bot",
            "GIT_COMMITTER_EMAIL": "bot@example.invalid",
        }
        message = f"Record new changes of Facebook Privacy Policy\n\nSource-Commit: {i:040x}\n"
        subprocess.run(
            ["git", "commit", "-q", "--allow-empty", "-m", message], cwd=root, check=True, env=env
        )
    return root


def _import(repo: Path, archive: Path, capsys, *extra: str) -> dict:
    code, out, err = run_cli(
        "import", str(archive), "--target", "facebook-privacy-policy", "--region", "eu",
        "--config", str(SHIPPED), "--snapshots", str(repo / "snapshots"),
        "--archive-name", "pga-versions", "--json", *extra, capsys=capsys,
    )  # fmt: skip
    assert code == 0, err
    return json.loads(out)


def _records(repo: Path) -> list[tuple[str, str, str]]:
    out = git(repo, "log", "--reverse", "--format=%aI%x1f%cI%x1f%s", "--", "snapshots")
    out = out.replace("+00:00", "Z")
    return [tuple(line.split("\x1f")) for line in out.splitlines()]  # type: ignore[misc]


def test_import_records_real_changes_backdated_and_counts_what_it_skips(tmp_path, repo, capsys):
    archive = make_archive(tmp_path / "pga-versions", VERSIONS)
    report = _import(repo, archive, capsys)
    assert report["versions"] == len(VERSIONS)
    skipped = report["skipped"]
    assert skipped.pop("another region's variant") == 1  # the global text, for EU
    [(blocked, count)] = skipped.items()  # the error page
    assert blocked.startswith("blocked (") and count == 1
    assert report["unchanged"] == 2  # the fbcdn noise, and 23 April
    # the noise differs from the change before it only in CDN hosts and tracking values:
    # not even processed (23 April differs in text: processed, and unchanged)
    assert report["unchanged_same_stable_form"] == 1
    assert report["recorded"] == 4
    records = _records(repo)
    # one commit per real change, in date order, dated as the archive recorded them
    assert [r[0] for r in records] == [
        "2024-06-18T00:30:00Z",
        "2024-06-26T00:30:00Z",
        "2025-04-14T00:30:00Z",
        "2025-05-28T00:30:00Z",
    ]
    assert all(author == committer for author, committer, _ in records)
    assert records[0][2] == "First record of Meta Privacy Policy (EU)"
    assert records[1][2].startswith("Meta Privacy Policy (EU): ")
    body = git(repo, "log", "-1", "--format=%B")
    assert "Archive: pga-versions" in body
    assert "Captured-At: 2025-05-28T00:30:00Z" in body
    assert f"Archive-Source-Commit: {7:040x}" in body
    assert "Recorded by the archive pga-versions on 2025-05-28" in body
    # June 2024: "provide and curate artificial intelligence technology" arrives
    june = git(
        repo, "log", "--format=%B", "-1", "--grep", "", "--until=2024-06-27", "--", "snapshots"
    )
    assert "Provide and curate [artificial intelligence technology]" in june
    # no alert is queued for history, and the feed entries carry the archive's dates
    assert not (repo / "snapshots/.watcher/eu.json").exists()
    feed = (repo / "snapshots/feeds/eu.xml").read_text()
    assert "<updated>2025-05-28T00:30:00Z</updated>" in feed
    assert feed.count("<entry>") == 3  # changes, not the first record
    # the raw capture is the archived text, and says where it came from
    capture = json.loads((repo / "snapshots/.captures/facebook-privacy-policy/eu.json").read_text())
    assert capture["fetcher"] == "archive" and capture["source"]["archive"] == "pga-versions"
    assert (repo / "snapshots/.captures/facebook-privacy-policy/eu.md").read_text() == (
        fixture_text("facebook/privacy-policy/2025-05-28.md")
    )
    # history lists them with their capture dates
    _, out, _ = run_cli("history", "--snapshots", str(repo / "snapshots"), capsys=capsys)
    assert out.splitlines()[0].startswith("2025-05-28 00:30")


def test_import_again_adds_nothing_and_a_newer_range_appends(tmp_path, repo, capsys):
    archive = make_archive(tmp_path / "pga-versions", VERSIONS[:4])
    _import(repo, archive, capsys)
    head = git(repo, "rev-parse", "HEAD")
    again = _import(repo, archive, capsys)
    assert again["versions"] == 0 and again["already_imported"] == 4
    assert git(repo, "rev-parse", "HEAD") == head
    make_archive(archive, VERSIONS[4:])  # the archive recorded more since
    newer = _import(repo, archive, capsys)
    assert newer["already_imported"] == 4 and newer["versions"] == len(VERSIONS) - 4
    assert [r[0][:10] for r in _records(repo)][-2:] == ["2025-04-14", "2025-05-28"]


def test_a_file_the_archive_deleted_for_a_while_counts_only_its_versions(tmp_path, repo, capsys):
    """A commit that deleted the file holds no version: it is not counted, imported or
    read, before or after it, on a first import and on the next."""
    archive = make_archive(tmp_path / "pga-versions", [VERSIONS[0], VERSIONS[2]])
    git(archive, "rm", "-q", FILE)
    git(archive, "commit", "-q", "-m", "Delete the file for a while")
    first = _import(repo, archive, capsys)
    assert first["versions"] == 2 and first["recorded"] == 2
    make_archive(archive, VERSIONS[3:5])  # back: a change, then noise
    again = _import(repo, archive, capsys)
    assert again["already_imported"] == 2 and again["versions"] == 2
    assert again["recorded"] == 1 and again["unchanged"] == 1
    assert [r[0][:10] for r in _records(repo)] == ["2024-06-18", "2024-06-26", "2025-04-14"]


def test_import_never_puts_older_versions_after_newer_records(tmp_path, repo, capsys):
    late = make_archive(tmp_path / "late", VERSIONS[5:6])
    _import(repo, late, capsys)
    early = make_archive(tmp_path / "early", VERSIONS[:1])
    code, _, err = run_cli(
        "import", str(early), "--target", "facebook-privacy-policy", "--region", "eu",
        "--config", str(SHIPPED), "--snapshots", str(repo / "snapshots"), capsys=capsys,
    )  # fmt: skip
    assert code == 2
    assert "already has records up to 2025-04-23" in err and "fresh repository" in err


@pytest.mark.parametrize("phrase", ["How Meta uses information for generative AI"])
def test_a_combined_file_gives_each_target_its_own_page(phrase):
    from watcher.evidence.importer import component_of

    text = fixture_text("facebook/privacy-policy-us/2026-03-05.md")
    policy = component_of(text, None)
    genai = component_of(text, phrase)
    assert policy is not None and genai is not None
    assert "What information do we collect?" in policy and phrase not in policy
    assert genai.lstrip().startswith(phrase) or phrase in genai.splitlines()[1]
    assert component_of(text, "a phrase no page has") is None
