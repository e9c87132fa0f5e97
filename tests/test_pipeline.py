"""The core pipeline end to end: real pages on a local origin, reached through per-region
forward proxies, recorded into a real git repository."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import (
    POLICY_EXTRACT,
    Origin,
    RegionProxy,
    Response,
    fixture_text,
    git,
    page_html,
    policy_target,
    run_cli,
    run_json,
    write_config,
)

EU_A = "facebook/privacy-policy/2025-12-16_a.html"
EU_B = "facebook/privacy-policy/2025-12-16_b.html"
GLOBAL = "facebook/privacy-policy-us/2026-03-05.md"
UK = "pages/fb-privacy-policy_UK-variant_vlopses-gb_2026-05-12.md"
NEW_SENTENCE = "Actions you ask AI at Meta to take, like customizing the content or ads you see"


def _log(repo: Path) -> list[str]:
    return git(repo, "log", "--format=%s").splitlines()


def _evidence(repo: Path) -> str:
    """The commits that touched the snapshots of targets (not the run state)."""
    return git(repo, "log", "--format=%H", "--", "snapshots/facebook-privacy-policy")


def _result(report: dict, target: str = "facebook-privacy-policy", region: str = "eu") -> dict:
    [found] = [r for r in report["results"] if r["target"] == target and r["region"] == region]
    return found


@pytest.fixture
def eu_policy(origin: Origin, proxies: dict[str, RegionProxy], tmp_path: Path) -> Path:
    origin.page("/privacy/policy/printable/", {"eu": fixture_text(EU_A)})
    return write_config(
        tmp_path / "targets.yaml",
        [policy_target(origin.url("/privacy/policy/printable/"), regions=["eu"])],
    )


def test_printable_policy_change_is_recorded_once_with_the_new_ai_sentences(
    origin, proxies, repo, eu_policy, capsys
):
    first = _result(run_json(eu_policy, repo, capsys))
    assert first["status"] == "new"
    assert first["commit"] and first["error"] is None
    assert _log(repo)[0] == "First record of Meta Privacy Policy (EU)"
    snapshot = (repo / "snapshots/facebook-privacy-policy/eu.md").read_text()
    assert NEW_SENTENCE not in snapshot

    origin.page("/privacy/policy/printable/", {"eu": fixture_text(EU_B)})
    hits_before = len(origin.hits("/privacy/policy/printable/"))
    second = _result(run_json(eu_policy, repo, capsys))
    assert second["status"] == "changed"
    assert any(NEW_SENTENCE in s for s in second["added"])
    # the change was confirmed by a second fetch before it counted
    assert len(origin.hits("/privacy/policy/printable/")) - hits_before == 2
    log = _log(repo)
    assert len(log) == 3  # Start, first record, one change
    assert log[0].startswith("Meta Privacy Policy (EU): ")
    body = git(repo, "log", "-1", "--format=%B")
    assert NEW_SENTENCE in body
    assert "Source-URL: " + origin.url("/privacy/policy/printable/") in body
    assert "Watcher-Version: " in body
    # the snapshot, its metadata, its raw capture, the region's feed and the alert's outbox
    # entry change together, in one commit
    assert git(repo, "show", "--name-only", "--format=", "HEAD").split() == [
        "snapshots/.captures/facebook-privacy-policy/eu.html",
        "snapshots/.captures/facebook-privacy-policy/eu.json",
        "snapshots/.watcher/eu.json",
        "snapshots/facebook-privacy-policy/eu.json",
        "snapshots/facebook-privacy-policy/eu.md",
        "snapshots/feeds/eu.xml",
    ]
    assert NEW_SENTENCE in (repo / "snapshots/facebook-privacy-policy/eu.md").read_text()


def test_unchanged_second_run_records_nothing(origin, proxies, repo, eu_policy, capsys):
    run_json(eu_policy, repo, capsys)
    meta_before = (repo / "snapshots/facebook-privacy-policy/eu.json").read_text()
    head = git(repo, "rev-parse", "HEAD")
    again = _result(run_json(eu_policy, repo, capsys))
    assert again["status"] == "unchanged"
    assert again["commit"] is None
    assert git(repo, "rev-parse", "HEAD") == head
    assert (repo / "snapshots/facebook-privacy-policy/eu.json").read_text() == meta_before
    assert git(repo, "status", "--porcelain") == ""


def test_cdn_and_tracking_noise_records_nothing(origin, proxies, repo, tmp_path, capsys):
    origin.page("/p", {"eu": page_html("facebook/privacy-policy-noise/2025-04-14_a.md")})
    config = write_config(tmp_path / "t.yaml", [policy_target(origin.url("/p"), regions=["eu"])])
    assert _result(run_json(config, repo, capsys))["status"] == "new"
    head = git(repo, "rev-parse", "HEAD")
    origin.page("/p", {"eu": page_html("facebook/privacy-policy-noise/2025-04-14_b.md")})
    assert page_html("facebook/privacy-policy-noise/2025-04-14_a.md") != page_html(
        "facebook/privacy-policy-noise/2025-04-14_b.md"
    )
    assert _result(run_json(config, repo, capsys))["status"] == "unchanged"
    assert git(repo, "rev-parse", "HEAD") == head


LOGIN_WALL = """<!DOCTYPE html><html><head><title>Facebook</title></head><body>
<div id="root"><h2>Log into Facebook</h2><form><input name="email"><input name="pass"
type="password"><button>Log In</button></form><a href="/recover">Forgot account?</a>
<p>You must log in to continue.</p><a href="/reg">Create new account</a></div></body></html>"""


def _browser_notice() -> str:
    """The real "Facebook is not available on this browser" page, as archived."""
    text = fixture_text("facebook/privacy-policy-us/2026-03-05.md")
    start = text.index("Facebook is not available on this browser")
    end = text.index("- - -", start)
    return page_html_from_md(text[start:end], "Facebook")


def page_html_from_md(md: str, title: str) -> str:
    from watcher.page import markdown_to_html

    body = markdown_to_html(md).removeprefix("<html><body>").removesuffix("</body></html>")
    return f"<html><head><title>{title}</title></head><body>{body}</body></html>"


@pytest.mark.parametrize(
    "name,status,reason",
    [
        ("login wall", "blocked", "login wall"),
        ("not available on this browser", "blocked", "browser not supported"),
        ("this page isn't available", "blocked", "page unavailable"),
        ("title-only page", "blocked", "only its title"),
        ("truncated to a tenth", "error", "truncated"),
        ("connection cut mid-body", "error", "truncated"),
        ("HTTP 500", "error", "HTTP 500"),
    ],
)
def test_bad_capture_leaves_the_snapshot_untouched(
    origin, proxies, repo, eu_policy, capsys, name, status, reason
):
    run_json(eu_policy, repo, capsys)
    snap = repo / "snapshots/facebook-privacy-policy/eu.md"
    before = snap.read_text()
    evidence = _evidence(repo)
    full = fixture_text(EU_B)
    bad = {
        "login wall": Response(body=LOGIN_WALL),
        "not available on this browser": Response(body=_browser_notice()),
        "this page isn't available": Response(
            body=page_html("instagram/privacy-policy-noise/2025-08-08.md", "Instagram")
        ),
        "title-only page": Response(
            body=page_html("instagram/privacy-policy-noise/2025-05-21.md", "Privacy Policy")
        ),
        "truncated to a tenth": Response(body=full[: len(full) // 10]),
        "connection cut mid-body": Response(body=full, truncate_to=len(full) // 3),
        "HTTP 500": Response(500, "<h1>Server error</h1>"),
    }[name]
    origin.page("/privacy/policy/printable/", {"eu": bad})
    result = _result(run_json(eu_policy, repo, capsys))
    assert result["status"] == status, result
    assert reason in result["error"]
    assert snap.read_text() == before
    assert _evidence(repo) == evidence


def test_global_text_served_to_the_eu_is_a_region_mismatch(
    origin, proxies, repo, eu_policy, capsys
):
    run_json(eu_policy, repo, capsys)
    before = (repo / "snapshots/facebook-privacy-policy/eu.md").read_text()
    origin.page("/privacy/policy/printable/", {"eu": page_html(GLOBAL)})
    hits = len(origin.hits("/privacy/policy/printable/"))
    result = _result(run_json(eu_policy, repo, capsys))
    assert result["status"] == "region_mismatch"
    assert "Meta Platforms Ireland Limited" in result["error"]
    # retried (region_retries: 2) before giving up
    assert len(origin.hits("/privacy/policy/printable/")) - hits == 3
    assert (repo / "snapshots/facebook-privacy-policy/eu.md").read_text() == before


def test_each_region_is_fetched_through_its_own_proxy_and_stored_apart(
    origin, proxies, repo, tmp_path, capsys
):
    origin.page("/policy", {"eu": fixture_text(EU_B), "uk": page_html(UK), None: page_html(GLOBAL)})
    config = write_config(tmp_path / "t.yaml", [policy_target(origin.url("/policy"))])
    report = run_json(config, repo, capsys)
    assert {r["region"]: r["status"] for r in report["results"]} == {
        "eu": "new",
        "uk": "new",
        "us": "new",
    }
    # each first record is confirmed by a second fetch through the same egress
    assert proxies["eu"].requests == [origin.url("/policy")] * 2
    assert proxies["uk"].requests == [origin.url("/policy")] * 2
    assert [r["region"] for r in origin.hits("/policy")].count(None) == 2  # us runs direct
    snaps = repo / "snapshots/facebook-privacy-policy"
    assert "Irish Data Protection Commission" not in (snaps / "us.md").read_text()
    assert (snaps / "eu.md").read_text() != (snaps / "uk.md").read_text()
    assert _log(repo)[:3] == [
        "First record of Meta Privacy Policy (US)",
        "First record of Meta Privacy Policy (UK)",
        "First record of Meta Privacy Policy (EU)",
    ]


def test_region_without_egress_is_skipped_with_the_reason(origin, repo, tmp_path, capsys):
    origin.page("/policy", page_html(GLOBAL))
    config = write_config(tmp_path / "t.yaml", [policy_target(origin.url("/policy"))])
    report = run_json(config, repo, capsys)
    statuses = {r["region"]: r for r in report["results"]}
    assert statuses["us"]["status"] == "new"
    for code in ("eu", "uk"):
        assert statuses[code]["status"] == "skipped"
        assert f"WATCHER_PROXY_{code.upper()}" in statuses[code]["error"]
    assert [r["region"] for r in origin.hits("/policy")] == [None, None]  # us, confirmed


def test_section_not_found_is_an_error_not_an_empty_snapshot(
    origin, proxies, repo, tmp_path, capsys
):
    origin.page("/threads", {"eu": page_html("threads/privacy-policy/2025-07-17.md")})
    target = policy_target(
        origin.url("/threads"), regions=["eu"], markers={"none": "a test page"}, min_length=2000
    )
    config = write_config(tmp_path / "t.yaml", [target])
    result = _result(run_json(config, repo, capsys))
    assert result["status"] == "error"
    assert result["error"].startswith("section not found")
    assert not (repo / "snapshots/facebook-privacy-policy/eu.md").exists()


def test_one_failing_target_never_stops_the_others(origin, proxies, repo, tmp_path, capsys):
    origin.page("/good", {"eu": fixture_text(EU_A)})
    targets = [
        policy_target(origin.url("/missing"), id="broken", regions=["eu"]),
        policy_target(origin.url("/good"), regions=["eu"]),
    ]
    config = write_config(tmp_path / "t.yaml", targets)
    code, out, _ = run_cli(
        "run",
        "--config",
        str(config),
        "--snapshots",
        str(repo / "snapshots"),
        "--json",
        capsys=capsys,
    )
    assert code == 0
    results = {r["target"]: r for r in json.loads(out)["results"]}
    assert results["broken"]["status"] == "error" and "HTTP 404" in results["broken"]["error"]
    assert results["facebook-privacy-policy"]["status"] == "new"


def test_json_result_carries_the_contract_fields(origin, proxies, repo, eu_policy, capsys):
    report = run_json(eu_policy, repo, capsys)
    result = _result(report)
    for key in (
        "target",
        "region",
        "url",
        "status",
        "categories",
        "added",
        "removed",
        "snapshot",
        "commit",
        "error",
    ):
        assert key in result
    assert result["snapshot"].endswith("snapshots/facebook-privacy-policy/eu.md")
    assert report["counts"] == {"new": 1}


def test_no_commit_writes_files_only(origin, proxies, repo, eu_policy, capsys):
    head = git(repo, "rev-parse", "HEAD")
    report = run_json(eu_policy, repo, capsys, "--no-commit")
    assert _result(report)["commit"] is None
    assert (repo / "snapshots/facebook-privacy-policy/eu.md").exists()
    assert git(repo, "rev-parse", "HEAD") == head


def test_a_collapsed_extraction_is_refused(origin, proxies, repo, eu_policy, capsys):
    """A rule that stops matching must not be recorded as 'everything deleted'."""
    run_json(eu_policy, repo, capsys)
    page = fixture_text(EU_A)
    # the same page with the AI sections renamed away: only a few sentences still match
    gutted = page.replace("AI at Meta", "Meta services").replace(
        "artificial intelligence", "technology"
    )
    origin.page("/privacy/policy/printable/", {"eu": gutted})
    result = _result(run_json(eu_policy, repo, capsys))
    assert result["status"] == "error"
    assert "shrank" in result["error"]


def test_a_runner_in_the_region_may_run_it_direct(origin, repo, tmp_path, capsys, monkeypatch):
    """WATCHER_DIRECT_EU=1 (a self-hosted runner in the EU) fetches without a proxy, and the
    variant check still guards what is stored."""
    origin.page("/policy", {None: fixture_text(EU_A)})
    monkeypatch.setenv("WATCHER_DIRECT_EU", "1")
    config = write_config(tmp_path / "t.yaml", [policy_target(origin.url("/policy"))])
    statuses = {r["region"]: r["status"] for r in run_json(config, repo, capsys)["results"]}
    assert statuses == {"eu": "new", "uk": "skipped", "us": "region_mismatch"}


def test_a_byte_identical_page_is_not_processed_again(origin, proxies, repo, tmp_path, capsys):
    """The snapshot's metadata keeps a key of what it was made from (page bytes, rules, code):
    the same bytes again need no extraction; other bytes, or other rules, are processed."""
    origin.page("/p", {"eu": page_html("facebook/privacy-policy-noise/2025-04-14_a.md")})
    config = write_config(tmp_path / "t.yaml", [policy_target(origin.url("/p"), regions=["eu"])])
    first = _result(run_json(config, repo, capsys))
    assert first["status"] == "new" and not first["same_input"]
    meta = json.loads((repo / "snapshots/facebook-privacy-policy/eu.json").read_text())
    assert len(meta["input"]) == 64
    again = _result(run_json(config, repo, capsys))
    assert again["status"] == "unchanged" and again["same_input"]
    assert again["sentences"] == first["sentences"]
    # the CDN noise changes the bytes: processed, and still unchanged
    origin.page("/p", {"eu": page_html("facebook/privacy-policy-noise/2025-04-14_b.md")})
    noisy = _result(run_json(config, repo, capsys))
    assert noisy["status"] == "unchanged" and not noisy["same_input"]
    # other rules are another input: the page is processed again
    narrower = policy_target(
        origin.url("/p"), regions=["eu"], extract={**POLICY_EXTRACT, "phrases": [r"\bAIs?\b"]}
    )
    config = write_config(tmp_path / "t2.yaml", [narrower])
    origin.page("/p", {"eu": page_html("facebook/privacy-policy-noise/2025-04-14_a.md")})
    again = _result(run_json(config, repo, capsys))
    assert not again["same_input"]


def test_changes_are_committed_one_by_one_even_on_a_detached_head(tmp_path):
    """commit_many writes one commit per change in order, with each file as it was at that
    change, on a branch or a detached HEAD, and leaves the index in line."""
    from watcher.evidence.git import GitRepo, NewCommit

    root = tmp_path / "r"
    root.mkdir()
    for args in (
        ["init", "-q", "-b", "main"],
        ["config", "user.name", "T"],
        ["config", "user.email", "t@example.invalid"],
    ):
        git(root, *args)
    (root / "a b.md").write_text("one\n")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "Start")
    git(root, "checkout", "-q", "--detach")
    (root / "a b.md").write_text("three\n")
    (root / "new.json").write_text("{}\n")
    shas = GitRepo(root).commit_many(
        [
            NewCommit("Second\n\nbody", {"a b.md": b"two\n"}),
            NewCommit("Third", {"a b.md": b"three\n", "new.json": b"{}\n"}),
        ]
    )
    assert git(root, "log", "--format=%H %s").split("\n")[:3] == [
        f"{shas[1]} Third",
        f"{shas[0]} Second",
        git(root, "rev-parse", "HEAD~2").strip() + " Start",
    ]
    assert git(root, "show", f"{shas[0]}:a b.md") == "two\n"
    assert git(root, "status", "--porcelain") == ""
    assert git(root, "for-each-ref", "refs/watcher") == ""


def test_check_prints_the_extraction_and_stores_nothing(
    origin, proxies, repo, eu_policy, capsys, monkeypatch
):
    monkeypatch.chdir(repo)  # where ./snapshots, the default, would be written
    before = sorted(str(p) for p in repo.rglob("*") if ".git" not in p.parts)
    code, out, _ = run_cli(
        "check", "facebook-privacy-policy", "--config", str(eu_policy), capsys=capsys
    )
    assert code == 0
    assert out.startswith("== Meta Privacy Policy (EU) ")
    assert "### Developing and improving AI at Meta" not in out  # before the Dec 2025 update
    assert "[right to object to](https://www.facebook.com/help/contact/367438723733209)" in out
    assert origin.hits("/privacy/policy/printable/")  # it did fetch
    assert sorted(str(p) for p in repo.rglob("*") if ".git" not in p.parts) == before
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "rev-list", "--count", "HEAD") == "1\n"


def test_extract_reads_a_saved_page_offline_even_compressed(tmp_path, capsys):
    from conftest import OTA, SHIPPED

    page = OTA / "facebook/privacy-policy/2025-12-16_b.html.gz"
    code, out, err = run_cli(
        "extract",
        str(page),
        "--target",
        "facebook-privacy-policy",
        "--config",
        str(SHIPPED),
        capsys=capsys,
    )
    assert code == 0
    assert "### Developing and improving AI at Meta" in out
    assert "variant markers found: eu" in err
