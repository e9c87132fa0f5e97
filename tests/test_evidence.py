"""The record is evidence: raw captures kept with every version, a rules edit recorded as
watcher's upgrade (never as Meta's change), the committed state as the only baseline, and
one run at a time."""

from __future__ import annotations

import json
import os
import time

from conftest import (
    POLICY_EXTRACT,
    fixture_text,
    git,
    policy_target,
    run_cli,
    run_json,
    write_config,
)

from watcher.config import load_config
from watcher.evidence.captures import read_capture
from watcher.evidence.git import GitRepo
from watcher.evidence.lock import RepoLock
from watcher.process import reprocess

EU_A = "facebook/privacy-policy/2025-12-16_a.html"
EU_B = "facebook/privacy-policy/2025-12-16_b.html"
SNAP = "snapshots/facebook-privacy-policy/eu.md"


def _one(report):
    [result] = report["results"]
    return result


def _subjects(repo):
    return git(repo, "log", "--format=%s").splitlines()


def _outbox(repo):
    path = repo / "snapshots/.watcher/eu.json"
    return json.loads(path.read_text())["outbox"] if path.exists() else []


def test_every_record_keeps_its_raw_capture_which_re_extracts_byte_identically(
    origin, proxies, repo, tmp_path, capsys
):
    origin.page("/policy", {"eu": fixture_text(EU_A)})
    config = write_config(
        tmp_path / "t.yaml", [policy_target(origin.url("/policy"), regions=["eu"])]
    )
    assert _one(run_json(config, repo, capsys))["status"] == "new"
    raw = read_capture(repo / "snapshots", "facebook-privacy-policy", "eu")
    assert raw is not None
    assert raw.content == fixture_text(EU_A)  # the page as served
    record = raw.capture
    assert record.status == 200 and record.fetcher == "http" and record.egress == "proxy"
    assert record.final_url == origin.url("/policy") and record.region == "eu"
    assert record.sha256 and record.bytes == len(fixture_text(EU_A).encode())
    assert "127.0.0.1:" + str(proxies["eu"].port) not in json.dumps(record.to_json())
    target = load_config(config).target("facebook-privacy-policy")
    assert reprocess(raw, target, "eu").text == (repo / SNAP).read_text()
    # the same through the CLI, at a revision
    code, out, err = run_cli(
        "check", "facebook-privacy-policy", "--region", "eu", "--recorded", "HEAD",
        "--config", str(config), "--snapshots", str(repo / "snapshots"), capsys=capsys,
    )  # fmt: skip
    assert code == 0, err
    assert out == (repo / SNAP).read_text() and "the same as the recorded snapshot" in err
    code, out, _ = run_cli(
        "show", "facebook-privacy-policy", "--region", "eu", "HEAD", "--raw",
        "--snapshots", str(repo / "snapshots"), capsys=capsys,
    )  # fmt: skip
    assert code == 0 and out == fixture_text(EU_A)


def test_a_rules_edit_is_an_upgrade_commit_without_alert_then_changes_read_as_usual(
    origin, proxies, repo, tmp_path, capsys
):
    origin.page("/policy", {"eu": fixture_text(EU_A)})
    config = write_config(
        tmp_path / "t.yaml", [policy_target(origin.url("/policy"), regions=["eu"])]
    )
    run_json(config, repo, capsys)
    before = (repo / SNAP).read_text()
    # narrower rules: the same page now gives another snapshot
    narrower = policy_target(
        origin.url("/policy"),
        regions=["eu"],
        extract={**POLICY_EXTRACT, "phrases": [r"\bAIs?\b"], "headings": ["^Object$"]},
    )
    write_config(config, [narrower])
    result = _one(run_json(config, repo, capsys))
    assert result["status"] == "unchanged" and result["alert"] is False
    assert _subjects(repo)[0] == "Apply extraction upgrade to Meta Privacy Policy (EU)"
    body = git(repo, "log", "-1", "--format=%B")
    assert "Watcher-Kind: upgrade" in body and "not of Meta's wording" in body
    assert (repo / SNAP).read_text() != before
    assert _outbox(repo) == []  # no alert
    assert not (repo / "snapshots/feeds/eu.xml").exists()  # not in the feed
    # the history leaves it out unless asked
    _, out, _ = run_cli("history", "--snapshots", str(repo / "snapshots"), capsys=capsys)
    assert "upgrade" not in out
    _, out, _ = run_cli("history", "--all", "--snapshots", str(repo / "snapshots"), capsys=capsys)
    assert "Apply extraction upgrade" in out
    # an unchanged page after that records nothing more
    assert _one(run_json(config, repo, capsys))["status"] == "unchanged"
    assert len(_subjects(repo)) == 3  # Start, first record, upgrade
    # and Meta's next change is a change, alerted as usual
    origin.page("/policy", {"eu": fixture_text(EU_B)})
    result = _one(run_json(config, repo, capsys))
    assert result["status"] == "changed" and result["alert"]
    assert _subjects(repo)[0].startswith("Meta Privacy Policy (EU): ")
    assert len(_outbox(repo)) == 1


def test_a_run_compares_with_the_commit_not_a_working_tree_left_behind(
    origin, proxies, repo, tmp_path, capsys
):
    """A run killed after committing but before writing its files leaves the working tree
    behind HEAD; the next run must read HEAD (no duplicate change, no second alert)."""
    config = write_config(
        tmp_path / "t.yaml", [policy_target(origin.url("/policy"), regions=["eu"])]
    )
    origin.page("/policy", {"eu": fixture_text(EU_A)})
    run_json(config, repo, capsys)
    origin.page("/policy", {"eu": fixture_text(EU_B)})
    assert _one(run_json(config, repo, capsys))["status"] == "changed"
    commits = len(_subjects(repo))
    # the state a kill between `fast-import` and the file writes leaves
    git(repo, "checkout", "HEAD~1", "--", "snapshots")
    git(repo, "reset", "-q", "--", "snapshots")
    result = _one(run_json(config, repo, capsys))
    assert result["status"] == "unchanged"
    assert len(_subjects(repo)) == commits
    assert git(repo, "status", "--porcelain", "--", "snapshots") == ""
    assert len(_outbox(repo)) == 1


def test_a_second_run_on_the_same_repository_waits_then_stops_with_status_3(
    origin, proxies, repo, tmp_path, capsys
):
    origin.page("/policy", {"eu": fixture_text(EU_A)})
    config = write_config(
        tmp_path / "t.yaml", [policy_target(origin.url("/policy"), regions=["eu"])]
    )
    with RepoLock(GitRepo(repo / "snapshots")):
        started = time.monotonic()
        code, _, err = run_cli(
            "run", "--config", str(config), "--snapshots", str(repo / "snapshots"),
            "--lock-timeout", "0.3", "--json", capsys=capsys,
        )  # fmt: skip
        waited = time.monotonic() - started
    assert code == 3 and "another watcher run holds" in err
    assert 0.3 <= waited < 5
    assert origin.hits("/policy") == []  # nothing fetched
    assert len(_subjects(repo)) == 1
    code, _, err = run_cli(
        "notify", "--config", str(config), "--snapshots", str(repo / "snapshots"), capsys=capsys
    )
    assert code == 0, err  # the lock is free again


def test_a_stale_index_lock_is_removed_and_reported(
    origin, proxies, repo, tmp_path, capsys, caplog
):
    origin.page("/policy", {"eu": fixture_text(EU_A)})
    config = write_config(
        tmp_path / "t.yaml", [policy_target(origin.url("/policy"), regions=["eu"])]
    )
    lock = repo / ".git/index.lock"
    lock.write_text("")
    old = time.time() - 3600
    os.utime(lock, (old, old))
    code, out, err = run_cli(
        "run", "--config", str(config), "--snapshots", str(repo / "snapshots"), "--json",
        "--no-notify", capsys=capsys,
    )  # fmt: skip
    assert code == 0, err
    assert "removed a stale .git/index.lock" in caplog.text
    assert _one(json.loads(out))["status"] == "new"
    assert not lock.exists()
    assert git(repo, "status", "--porcelain", "--", "snapshots") == ""


def test_a_cleanly_closed_truncated_page_is_refused_not_recorded(
    origin, proxies, repo, tmp_path, capsys
):
    """94% of the page, with a Content-Length that matches and the same bytes on both
    fetches: a capture cut short, never Meta removing the rest of its policy."""
    config = write_config(
        tmp_path / "t.yaml", [policy_target(origin.url("/policy"), regions=["eu"])]
    )
    origin.page("/policy", {"eu": fixture_text(EU_A)})
    run_json(config, repo, capsys)
    before = (repo / SNAP).read_text()
    page = fixture_text(EU_B)
    origin.page("/policy", {"eu": page[: int(len(page) * 0.94)]})
    result = _one(run_json(config, repo, capsys))
    assert result["status"] == "error" and result["error"].startswith("truncated")
    assert (repo / SNAP).read_text() == before
    # nothing recorded as Meta's, no alert (only the failure streak's state is counted)
    assert [s for s in _subjects(repo) if "Meta Privacy Policy" in s] == [
        "First record of Meta Privacy Policy (EU)"
    ]
    assert _outbox(repo) == []
    # nor is a first record made from a truncated page
    other = write_config(
        tmp_path / "u.yaml", [policy_target(origin.url("/policy"), id="fresh", regions=["eu"])]
    )
    assert _one(run_json(other, repo, capsys))["status"] == "error"
    assert not (repo / "snapshots/fresh").exists()


def test_a_redirect_to_another_host_is_refused_unless_the_target_allows_it(
    origin, proxies, repo, tmp_path, capsys
):
    """The capture records the final URL; a redirect off the target's host is not Meta's
    page unless the target says that host serves it."""
    from conftest import Response

    moved = origin.url("/policy").replace("127.0.0.1", "localhost")
    origin.page("/old", {"eu": Response(301, "", {"Location": moved})})
    origin.page("/policy", {"eu": fixture_text(EU_A)})
    target = policy_target(origin.url("/old"), regions=["eu"])
    config = write_config(tmp_path / "t.yaml", [target])
    refused = _one(run_json(config, repo, capsys))
    assert refused["status"] == "error" and "localhost" in refused["error"]
    assert not (repo / SNAP).exists()
    write_config(config, [{**target, "allow_redirect_hosts": ["localhost"]}])
    assert _one(run_json(config, repo, capsys))["status"] == "new"
    capture = json.loads((repo / "snapshots/.captures/facebook-privacy-policy/eu.json").read_text())
    assert capture["url"] == origin.url("/old") and capture["final_url"] == moved


def test_pages_waiting_for_their_commit_are_spooled_and_a_lost_spool_commits_nothing(
    origin, proxies, repo, tmp_path, capsys
):
    """A run that records many pages keeps them on disk, not in memory, until the commit
    (in the git directory: never in the working tree, never committed). The capture is the
    page as served, byte for byte; a spool a killed run left behind is cleared; and a
    spooled page that cannot be read makes no commit and writes no file."""
    from watcher.evidence.captures import RawPage
    from watcher.evidence.record import Recorder, Version
    from watcher.evidence.store import SnapshotStore
    from watcher.models import SnapshotMeta

    crlf = fixture_text(EU_A).replace("\n", "\r\n")
    origin.page("/policy", {"eu": crlf})
    config = write_config(
        tmp_path / "t.yaml", [policy_target(origin.url("/policy"), regions=["eu"])]
    )
    spool = repo / ".git" / "watcher-spool"
    spool.mkdir()
    (spool / "left-by-a-killed-run").write_bytes(b"x")
    assert _one(run_json(config, repo, capsys))["status"] == "new"
    assert not spool.exists()
    page = repo / "snapshots/.captures/facebook-privacy-policy/eu.html"
    assert page.read_bytes() == crlf.encode()
    committed = GitRepo(repo).show_bytes(
        "HEAD", "snapshots/.captures/facebook-privacy-policy/eu.html"
    )
    assert committed == crlf.encode()
    assert "watcher-spool" not in git(repo, "log", "--name-only", "--format=")
    # a spooled page gone before the commit: nothing committed, nothing written
    head = git(repo, "rev-parse", "HEAD")
    raw = read_capture(repo / "snapshots", "facebook-privacy-policy", "eu")
    assert raw is not None
    lost = tmp_path / "spooled-page"
    store = SnapshotStore(repo / "snapshots")
    recorder = Recorder(store, GitRepo(repo / "snapshots"))
    meta = SnapshotMeta(target="t2", region="eu", sha256="x")
    recorder.stage(Version("t2", "eu", "text\n", meta, "Record t2", RawPage("", raw.capture, lost)))
    try:
        recorder.commit()
    except Exception as exc:
        assert type(exc).__name__ == "StoreError" and "spooled-page" in str(exc)
    else:
        raise AssertionError("a commit was made from a lost spool")
    assert git(repo, "rev-parse", "HEAD") == head
    assert not (repo / "snapshots/t2").exists()


def test_new_rules_that_read_a_capture_the_same_are_noted_once_then_cost_nothing(
    origin, proxies, repo, tmp_path, capsys
):
    """After an update of watcher or of a target's rules, each stored capture is read again.
    When it gives its snapshot's text, nothing is recorded as a change; its capture record
    is committed with the new rules fingerprint (a note, not a record of Meta's), so the
    next runs compare pages with it by their stable form and read no capture again."""
    from watcher.evidence.captures import read_record
    from watcher.process import rules_fingerprint

    origin.page("/policy", {"eu": fixture_text(EU_A)})
    target = policy_target(origin.url("/policy"), regions=["eu"])
    config = write_config(tmp_path / "t.yaml", [target])
    run_json(config, repo, capsys)
    before = (repo / SNAP).read_text()
    old_rules = read_record(repo / "snapshots", "facebook-privacy-policy", "eu").rules
    # another rule that finds nothing more on this page: other rules, the same text
    wider = {**POLICY_EXTRACT, "phrases": [*POLICY_EXTRACT["phrases"], r"\bno such words\b"]}
    config = write_config(
        config, [policy_target(origin.url("/policy"), regions=["eu"], extract=wider)]
    )
    result = _one(run_json(config, repo, capsys))
    assert result["status"] == "unchanged" and not result["alert"]
    assert (repo / SNAP).read_text() == before
    subject = _subjects(repo)[0]
    assert subject == "Note that watcher's new rules read 1 stored capture as recorded"
    changed = git(repo, "show", "--name-only", "--format=", "HEAD").split()
    assert changed == ["snapshots/.captures/facebook-privacy-policy/eu.json"]
    assert "Watcher-Kind" not in git(repo, "log", "-1", "--format=%B")
    record = read_record(repo / "snapshots", "facebook-privacy-policy", "eu")
    new_target = load_config(config).target("facebook-privacy-policy")
    assert record.rules == rules_fingerprint(new_target) != old_rules
    assert record.stable
    # not a change anywhere: history and feed do not show it
    _, out, _ = run_cli("history", "--all", "--snapshots", str(repo / "snapshots"), capsys=capsys)
    assert "Note that" not in out
    assert not (repo / "snapshots/feeds/eu.xml").exists()
    # the next run reads no capture: the page is reused by its stable form, nothing committed
    head = git(repo, "rev-parse", "HEAD")
    again = _one(run_json(config, repo, capsys))
    assert again["status"] == "unchanged" and again["same_stable_form"]
    assert git(repo, "rev-parse", "HEAD") == head
    assert git(repo, "status", "--porcelain") == ""


def test_a_run_that_records_many_pages_commits_them_in_batches_each_its_own_commit(
    origin, proxies, repo, tmp_path, capsys, monkeypatch
):
    """A first run records every page; it does so a batch of fast-import at a time, so
    that the texts need not all wait in memory, and every page still gets its own commit,
    in plan order, with its files written once the commit exists."""
    import watcher.run

    monkeypatch.setattr(watcher.run, "RECORD_BATCH", 2)
    targets = []
    for i in range(5):
        origin.page(f"/p{i}", {"eu": fixture_text(EU_A)})
        target = policy_target(origin.url(f"/p{i}"), regions=["eu"])
        targets.append({**target, "id": f"page-{i}", "name": f"Page {i}"})
    config = write_config(tmp_path / "t.yaml", targets)
    report = run_json(config, repo, capsys)
    assert [r["status"] for r in report["results"]] == ["new"] * 5
    shas = [r["commit"] for r in report["results"]]
    log = git(repo, "log", "--format=%H", "--reverse").split()[1:]  # after "Start"
    assert shas == log  # one commit each, in plan order
    for i, sha in enumerate(shas):
        path = f"snapshots/page-{i}/eu.md"
        assert git(repo, "show", f"{sha}:{path}") == (repo / path).read_text()
    assert git(repo, "status", "--porcelain") == ""


def test_a_snapshots_folder_reached_through_a_symbolic_link_is_recorded_in_place(
    origin, proxies, repo, tmp_path, capsys
):
    """The paths a commit names are the repository's own, however the folder was named."""
    origin.page("/policy", {"eu": fixture_text(EU_A)})
    config = write_config(
        tmp_path / "t.yaml", [policy_target(origin.url("/policy"), regions=["eu"])]
    )
    link = tmp_path / "linked"
    link.symlink_to(repo)
    report = run_json(config, link, capsys)
    assert _one(report)["status"] == "new"
    names = git(repo, "show", "--name-only", "--format=", "HEAD").split()
    assert "snapshots/facebook-privacy-policy/eu.md" in names
    assert "snapshots/.captures/facebook-privacy-policy/eu.json" in names
    assert git(repo, "status", "--porcelain") == ""
