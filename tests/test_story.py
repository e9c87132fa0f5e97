"""One story per change: the commit, the history, the push text, the email, the feed entry
and the job summary carry the same one-line summary and the same counts, for the real
December 2025 printable policy pages."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from conftest import fixture_text, git, policy_target, run_cli, run_job, write_config

from watcher.alerts import Channel, compose
from watcher.env import GitHubContext
from watcher.models import Alert

EU_A = "facebook/privacy-policy/2025-12-16_a.html"
EU_B = "facebook/privacy-policy/2025-12-16_b.html"


@pytest.fixture
def changed(origin, proxies, repo, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    monkeypatch.setenv("GITHUB_REPOSITORY", "example-org/evidence")
    origin.page("/policy", {"eu": fixture_text(EU_A)})
    config = write_config(
        tmp_path / "t.yaml", [policy_target(origin.url("/policy"), regions=["eu"])]
    )
    run_job(config, repo, capsys, "--no-notify")
    origin.page("/policy", {"eu": fixture_text(EU_B)})
    report, _ = run_job(config, repo, capsys, "--no-notify")
    return report, config


def test_every_channel_tells_the_same_summary_and_counts(changed, repo, capsys):
    report, _ = changed
    [result] = report["results"]
    story = result["events"][0]  # the story's line: "<summary> — <counts>"
    summary, counts = story.split(" — ")
    assert counts.endswith(".") and " changes " in counts
    # the commit: body and trailer
    body = git(repo, "log", "-1", "--format=%B", "--", "snapshots")
    assert body.splitlines()[2:4] == [summary, counts]
    assert f"Watcher-Story: {story}" in body
    # the history line
    _, out, _ = run_cli("history", "--snapshots", str(repo / "snapshots"), capsys=capsys)
    assert out.splitlines()[1].strip() == story
    # the push text and the email, from the alert that waits in the outbox
    box = json.loads((repo / "snapshots/.watcher/eu.json").read_text())
    [alert] = [Alert.from_json(a) for a in box["outbox"]]
    github = GitHubContext(repository="example-org/evidence")
    push = compose([alert], Channel(email=False, body_maxlen=4000), github)
    assert summary in push.body and counts in push.body
    email = compose([alert], Channel(email=True, body_maxlen=512_000), github)
    assert email.html and counts in email.body and counts in email.text
    # the feed entry
    feed = ET.parse(repo / "snapshots/feeds/eu.xml").getroot()
    content = feed.find("{http://www.w3.org/2005/Atom}entry/{http://www.w3.org/2005/Atom}content")
    assert content is not None and content.text is not None and counts in content.text


def test_the_job_summary_shows_the_story(changed, tmp_path, monkeypatch):
    report, _ = changed
    from watcher.models import Result, Status
    from watcher.report import RunReport, step_summary

    [data] = report["results"]
    result = Result(data["target"], data["region"], data["url"], status=Status.CHANGED)
    result.events = data["events"]
    text = step_summary(RunReport([result], "", 0.1), GitHubContext(repository="o/r"))
    assert data["events"][0].replace("|", "\\|") in text
