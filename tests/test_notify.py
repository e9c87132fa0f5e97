"""Alerts through apprise to a real SMTP server and a real HTTP sink on 127.0.0.1: readable,
committed before they are sent, never lost, never doubled, and never leaking a secret."""

from __future__ import annotations

import json
import subprocess

import pytest
from conftest import (
    Response,
    fixture_text,
    git,
    page_html,
    policy_target,
    run_cli,
    run_job,
    write_config,
)
from sinks import HttpSink, SmtpServer

from watcher.alerts import Channel, compose, fit
from watcher.env import GitHubContext
from watcher.models import Alert, AlertKind, AlertSettings

EU_A = "facebook/privacy-policy/2025-12-16_a.html"
EU_B = "facebook/privacy-policy/2025-12-16_b.html"
NEW_SENTENCE = "Actions you ask AI at Meta to take, like customizing the content or ads you see"
SECRET = "s3cr3tT0ken"


@pytest.fixture
def github_env(monkeypatch):
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    monkeypatch.setenv("GITHUB_REPOSITORY", "example-org/watcher-evidence")


def run(config, repo, capsys, *extra):
    return run_job(config, repo, capsys, *extra)


@pytest.fixture
def eu(origin, proxies, tmp_path):
    origin.page("/policy", {"eu": fixture_text(EU_A)})
    return write_config(tmp_path / "t.yaml", [policy_target(origin.url("/policy"), regions=["eu"])])


def test_email_carries_the_word_diff_categories_and_links(
    origin, eu, repo, smtp, github_env, monkeypatch, capsys
):
    monkeypatch.setenv("APPRISE_URLS", smtp.url)
    run(eu, repo, capsys)
    assert smtp.mailbox.messages == []  # a first record is not a change
    hostile = fixture_text(EU_B).replace(
        "Feedback you give to AI at Meta about its responses",
        "Feedback you give to AI at Meta &lt;img src=x onerror=alert(1)&gt; about its responses",
    )
    origin.page("/policy", {"eu": hostile})
    report, _ = run(eu, repo, capsys)
    [msg] = smtp.mailbox.messages
    assert msg["Subject"] == "Meta Privacy Policy (EU): data sources, exemptions wording changed"
    html = smtp.mailbox.html()
    assert '<ins style="' in html and NEW_SENTENCE in html
    assert "<strong>Categories:</strong> data sources, exemptions" in html
    assert "Legal basis information" in html  # the section
    # the commit link comes before the changes
    sha0 = report["results"][0]["commit"]
    assert html.index(f"/commit/{sha0}") < html.index('<ins style="')
    # the text part is watcher's own, with the markers of what was removed and added
    text = smtp.mailbox.text()
    assert text.startswith("Commit: https://github.com/example-org/watcher-evidence/commit/")
    assert any(line.startswith(("+ ", "- ", "~ ")) for line in text.splitlines())
    sha = report["results"][0]["commit"]
    assert f'href="https://github.com/example-org/watcher-evidence/commit/{sha}"' in html
    assert f'href="{origin.url("/policy")}"' in html
    # page content is text, never markup
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    # the alert left the outbox, and that was committed
    state = json.loads((repo / "snapshots/.watcher/eu.json").read_text())
    assert state["outbox"] == []
    assert git(repo, "log", "-1", "--format=%s").startswith("Record alert delivery (eu): 1 sent")


def test_push_text_is_short_with_the_top_sentences_and_links(
    origin, eu, repo, sink, capsys, monkeypatch, github_env
):
    monkeypatch.setenv("APPRISE_URLS", sink.url(SECRET))
    run(eu, repo, capsys)
    origin.page("/policy", {"eu": fixture_text(EU_B)})
    _, printed = run(eu, repo, capsys)
    [post] = sink.posts
    body = post["body"]
    assert body["title"] == "Meta Privacy Policy (EU): data sources, exemptions wording changed"
    text = body["message"]
    lines = text.splitlines()
    # the commit link first, then the story: categories, summary, counts, top changes
    assert lines[0].startswith("Commit: https://github.com/example-org/watcher-evidence/commit/")
    assert lines[1].startswith("Source: http://127.0.0.1:")
    assert lines[2] == "Categories: data sources, exemptions"
    assert lines[4].endswith(".") and " changes " in lines[4]
    assert sum(1 for ln in lines if ln[:2] in ("+ ", "~ ", "- ")) == 3
    assert len(text) < 2000  # fits a chat message
    everything = printed + git(repo, "log", "-p", "--all")
    assert SECRET not in everything and "hook:" not in everything


def test_alert_survives_smtp_outage_and_arrives_exactly_once(origin, eu, repo, capsys, monkeypatch):
    down = SmtpServer()  # not started: connections are refused
    monkeypatch.setenv("APPRISE_URLS", down.url)
    run(eu, repo, capsys)
    origin.page("/policy", {"eu": fixture_text(EU_B)})
    report, _ = run(eu, repo, capsys)
    assert report["notifications"]["failed"] == 1 and report["notifications"]["sent"] == 0
    state = json.loads(git(repo, "show", "HEAD:snapshots/.watcher/eu.json"))
    [pending] = state["outbox"]
    assert pending["kind"] == "change" and pending["delivered"] == []
    down.start()
    try:
        report, _ = run(eu, repo, capsys)  # the page is unchanged now
        assert report["results"][0]["status"] == "unchanged"
        assert report["notifications"]["sent"] == 1
        assert len(down.mailbox.messages) == 1
        run(eu, repo, capsys)
        assert len(down.mailbox.messages) == 1  # never twice
    finally:
        down.stop()


def test_run_killed_after_recording_delivers_on_the_next_run_from_a_fresh_clone(
    origin, eu, repo, smtp, capsys, monkeypatch, tmp_path
):
    monkeypatch.setenv("APPRISE_URLS", smtp.url)
    run(eu, repo, capsys)
    origin.page("/policy", {"eu": fixture_text(EU_B)})
    # a run that recorded its change and stopped before sending (like a job killed then)
    run(eu, repo, capsys, "--no-notify")
    assert smtp.mailbox.messages == []
    # the next run happens in a fresh workspace: only what was committed survives
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    report, _ = run(eu, clone, capsys)
    assert report["results"][0]["status"] == "unchanged"
    assert len(smtp.mailbox.messages) == 1
    assert NEW_SENTENCE in smtp.mailbox.html()


def test_blocked_three_runs_gives_one_failure_alert_then_one_recovery(
    origin, eu, repo, sink, capsys, monkeypatch
):
    monkeypatch.setenv("APPRISE_URLS", sink.url())
    run(eu, repo, capsys)
    origin.page("/policy", {"eu": Response(403, "<h1>Forbidden</h1>")})
    for _ in range(2):
        run(eu, repo, capsys)
    assert sink.posts == []
    run(eu, repo, capsys)
    [failure] = sink.posts
    assert failure["body"]["title"] == "Meta Privacy Policy (EU): failing for 3 runs (blocked)"
    assert "HTTP 403" in failure["body"]["message"]
    head = git(repo, "rev-parse", "HEAD")
    run(eu, repo, capsys)
    run(eu, repo, capsys)
    assert len(sink.posts) == 1  # nothing in between
    assert git(repo, "rev-parse", "HEAD") == head  # a lasting failure commits nothing
    origin.page("/policy", {"eu": fixture_text(EU_A)})
    run(eu, repo, capsys)
    assert [p["body"]["title"] for p in sink.posts][1] == "Meta Privacy Policy (EU): working again"
    run(eu, repo, capsys)
    assert len(sink.posts) == 2


def test_digest_is_one_message_and_each_mode_one_per_change(
    origin, proxies, repo, sink, capsys, monkeypatch, tmp_path
):
    monkeypatch.setenv("APPRISE_URLS", sink.url())
    origin.page("/a", {"eu": fixture_text(EU_A)})
    origin.page("/b", {"eu": fixture_text(EU_A)})
    targets = [
        policy_target(origin.url("/a"), regions=["eu"]),
        policy_target(origin.url("/b"), id="policy-mirror", name="Policy mirror", regions=["eu"]),
    ]
    for mode, expected in (("digest", 1), ("each", 2)):
        origin.page("/a", {"eu": fixture_text(EU_A)})
        origin.page("/b", {"eu": fixture_text(EU_A)})
        config = write_config(tmp_path / f"{mode}.yaml", targets, alerts={"mode": mode})
        run(config, repo, capsys)
        sink.posts.clear()
        origin.page("/a", {"eu": fixture_text(EU_B)})
        origin.page("/b", {"eu": fixture_text(EU_B)})
        run(config, repo, capsys)
        assert len(sink.posts) == expected, mode
    assert sink.posts[0]["body"]["title"] != sink.posts[1]["body"]["title"]


def test_tagged_routes_send_eu_opt_out_changes_to_their_own_channel(
    origin, proxies, repo, tmp_path, capsys, monkeypatch
):
    everything, eu_optout = HttpSink(), HttpSink()
    try:
        apprise_yaml = tmp_path / "apprise.yml"
        apprise_yaml.write_text(f"urls:\n  - {eu_optout.url('tagtoken1')}:\n    - tag: eu-optout\n")
        monkeypatch.setenv("APPRISE_URLS", everything.url("alltoken1"))
        # Instagram's objection link moving to its own form: an opt-out change for the EU
        origin.page(
            "/policy",
            {
                "eu": page_html("history/pga/instagram/2025-04-15T00-31.md"),
                None: page_html("facebook/privacy-policy-us/2025-10-16.md"),
            },
        )
        config = write_config(
            tmp_path / "t.yaml",
            [policy_target(origin.url("/policy"), regions=["eu", "us"])],
            alerts={
                "config_file": str(apprise_yaml),
                "mode": "each",
                "routes": [{"tag": "eu-optout", "regions": ["eu"], "categories": ["opt_out"]}],
            },
        )
        run(config, repo, capsys)
        origin.page(
            "/policy",
            {
                "eu": page_html("history/pga/instagram/2025-04-16T00-31.md"),
                None: page_html("facebook/privacy-policy-us/2026-03-05.md"),
            },
        )
        run(config, repo, capsys)
        titles_all = [p["body"]["title"] for p in everything.posts]
        titles_tagged = [p["body"]["title"] for p in eu_optout.posts]
        assert any("(EU)" in t for t in titles_all)
        assert titles_tagged == [t for t in titles_all if "(EU)" in t and "opt-out" in t]
        assert titles_tagged
    finally:
        everything.close()
        eu_optout.close()


def test_notify_test_reports_each_url_masked(sink, capsys, monkeypatch, tmp_path):
    dead = HttpSink()
    dead.status = 500
    try:
        monkeypatch.setenv("APPRISE_URLS", f"{sink.url(SECRET)} {dead.url('deadtoken9')}")
        config = write_config(tmp_path / "t.yaml", [policy_target("http://127.0.0.1:9/p")])
        code, out, err = run_cli("notify", "--test", "--config", str(config), capsys=capsys)
        assert code == 1
        lines = out.strip().splitlines()
        assert lines[0].startswith("sent    json://") and lines[1].startswith("FAILED  json://")
        assert len(sink.posts) == 1 and sink.posts[0]["body"]["title"] == "watcher: test alert"
        assert SECRET not in out + err and "deadtoken9" not in out + err
        monkeypatch.setenv("APPRISE_URLS", sink.url(SECRET))
        code, out, _ = run_cli("notify", "--test", "--config", str(config), capsys=capsys)
        assert code == 0
    finally:
        dead.close()


def test_long_text_is_trimmed_at_a_line_with_a_link_to_the_rest():
    github = GitHubContext(repository="example-org/watcher-evidence")
    sentences = "\n".join(
        f"+ Sentence number {i} about training AI on public posts." for i in range(200)
    )
    alert = Alert(
        id="change:t:eu:0",
        kind=AlertKind.CHANGE,
        target="t",
        region="eu",
        title="T",
        text=sentences,
        html="",
        source_url="https://x.example/p",
        created_at="2026-01-01T00:00:00Z",
    )
    message = compose([alert], Channel(email=False, body_maxlen=500), github)
    body = message.body
    assert not message.html and len(body) <= 500
    assert body.endswith(
        "… trimmed to fit; read the rest: https://github.com/example-org/watcher-evidence"
    )
    kept = [ln for ln in body.splitlines()[:-1] if not ln.startswith(("Commit:", "Source:"))]
    assert all(line.endswith("posts.") for line in kept)  # whole lines, no word cut
    assert fit("word " * 50, 60, "…more").endswith("…more")
    assert "wor\n" not in fit("word " * 50, 60, "…more")


def test_settings_default_to_a_digest_of_the_three_categories():
    settings = AlertSettings()
    assert settings.mode == "digest"
    assert settings.categories == ("data_sources", "exemptions", "opt_out")
    assert settings.failure_threshold == 3


def test_apprise_own_log_never_shows_any_part_of_a_password(caplog, monkeypatch):
    """apprise logs an unparseable URL with the first and last letters of its password."""
    import logging

    from watcher.notify import destinations

    password = "Sup3rSecretPw"
    monkeypatch.setenv("APPRISE_URLS", f"foo://user:{password}@host mailtos://user:{password}@")
    with caplog.at_level(logging.DEBUG):
        assert destinations(AlertSettings()) == []
    logged = caplog.text
    assert "Unparseable URL" in logged  # apprise did complain
    assert password not in logged and "S...w" not in logged and "user:" not in logged
