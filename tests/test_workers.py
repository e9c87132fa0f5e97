"""Worker processes (watcher.workers): a run of many pages computes stable digests and
processes pages in other processes. What they give must be what the run's own process
gives, whatever happens to them; they get no secrets; and a bad setting is a clear error."""

from __future__ import annotations

import json
import logging
import os
import signal
from pathlib import Path

import pytest
from conftest import (
    POLICY_EXTRACT,
    fixture_text,
    git,
    page_html,
    policy_target,
    run_cli,
    run_json,
    write_config,
)
from test_stable import RAW_PAGES, TEXT_PAGES, _live

from watcher.config import load_config
from watcher.errors import BlockedError, WatcherError
from watcher.process import process_page
from watcher.workers import Workers

ROOT = Path(__file__).resolve().parent.parent
PAGES = 8  # watcher.workers.MIN_PAGES: a run this large may start workers


def _pages() -> list[str]:
    """Real policy pages, raw and rendered from archived text, PAGES of them."""
    html = [fixture_text(n) for n in RAW_PAGES] + [page_html(n) for n in TEXT_PAGES]
    return [html[i % len(html)] for i in range(PAGES)]


def _state(repo: Path) -> dict[str, str]:
    """What the evidence says: each snapshot's text, and its metadata but for its time and
    its input key (the hash of the bytes fetched, other bytes on every fetch of a live page)."""
    out = {}
    for path in sorted((repo / "snapshots").rglob("*")):
        if path.suffix == ".md" and ".captures" not in path.parts:
            out[str(path.relative_to(repo))] = path.read_text()
        elif path.suffix == ".json" and not {".captures", "feeds"} & set(path.parts):
            meta = json.loads(path.read_text())
            meta.pop("recorded_at", None)
            meta.pop("input", None)
            out[str(path.relative_to(repo))] = json.dumps(meta, sort_keys=True)
    return out


def _outcomes(report: dict) -> list[tuple]:
    return [
        (r["target"], r["status"], r["sentences"], r["categories"], r["same_stable_form"])
        for r in report["results"]
    ]


def test_a_run_in_worker_processes_records_what_a_run_in_one_process_records(
    origin, proxies, tmp_path, capsys, caplog, monkeypatch
):
    """The same live pages (other bytes on every fetch), recorded by a run that computes
    everything itself and by one with two workers: the same results, snapshots, metadata
    and commits; on the next run, the same pages known unchanged by their stable form; and
    after the rules changed, every capture read again the same, and noted in one commit."""
    html = _pages()
    targets = []
    for i, page in enumerate(html):
        _live(origin, f"/w/{i}", page)
        targets.append({**policy_target(origin.url(f"/w/{i}"), regions=["eu"]), "id": f"page-{i}"})
    config = write_config(tmp_path / "t.yaml", targets)
    wider = {**POLICY_EXTRACT, "phrases": [*POLICY_EXTRACT["phrases"], r"\bno such words\b"]}
    updated = write_config(tmp_path / "u.yaml", [{**t, "extract": wider} for t in targets])
    runs = {}
    for workers in ("0", "2"):
        repo = tmp_path / f"evidence-{workers}"
        repo.mkdir()
        git(repo, "init", "-q", "-b", "main")
        git(repo, "config", "user.name", "Test Runner")
        git(repo, "config", "user.email", "runner@example.invalid")
        git(repo, "commit", "-q", "--allow-empty", "-m", "Start")
        (repo / "snapshots").mkdir()
        monkeypatch.setenv("WATCHER_WORKERS", workers)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="watcher"):
            first = run_json(config, repo, capsys)
            second = run_json(config, repo, capsys)
            third = run_json(updated, repo, capsys)
        started = [r.getMessage() for r in caplog.records if "worker process" in r.getMessage()]
        assert started == ([] if workers == "0" else ["2 worker processes for 8 pages"] * 3)
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
        subjects = git(repo, "log", "--format=%s").splitlines()
        outcomes = (_outcomes(first), _outcomes(second), _outcomes(third))
        runs[workers] = (*outcomes, _state(repo), subjects)
    assert runs["0"] == runs["2"]
    first, second, third, state, subjects = runs["2"]
    assert {status for _, status, *_ in first} == {"new"}
    assert all(status == "unchanged" and same for _, status, _, _, same in second)
    assert all(status == "unchanged" and same for _, status, _, _, same in third)
    assert len(state) == 2 * PAGES and len(subjects) == PAGES + 2
    assert subjects[0] == f"Note that watcher's new rules read {PAGES} stored captures as recorded"


@pytest.fixture(scope="module")
def target():
    return load_config(ROOT / "targets.yaml").target("facebook-privacy-policy")


def test_a_worker_that_dies_is_not_used_again_and_the_page_is_still_read(target, caplog):
    html = fixture_text(RAW_PAGES[0])
    here = process_page(html, "text/html", target.url, target, "eu")
    with Workers(1) as workers:
        assert workers.active and len(workers.pids()) == 1
        assert workers.process(html, "text/html", target.url, target, "eu") == here
        os.kill(workers.pids()[0], signal.SIGKILL)
        with caplog.at_level(logging.WARNING, logger="watcher"):
            again = workers.process(html, "text/html", target.url, target, "eu")
        assert again == here
        assert not workers.active and workers.pids() == []
        assert any("worker process failed" in r.getMessage() for r in caplog.records)
        # and the next page is read in this process, with no worker to wait for
        assert workers.process(html, "text/html", target.url, target, "eu") == here


def test_a_page_refused_in_a_worker_is_refused_as_here(target):
    """A wall is the page's answer: the same error, with the same words, as in-process."""
    wall = "<html><head><title>Facebook</title></head><body>Log in to Facebook</body></html>"
    with pytest.raises(BlockedError) as here:
        process_page(wall, "text/html", target.url, target, "eu")
    with Workers(1) as workers, pytest.raises(WatcherError) as there:
        workers.process(wall, "text/html", target.url, target, "eu")
    assert type(there.value) is BlockedError and str(there.value) == str(here.value)


def test_workers_are_given_no_secrets(monkeypatch):
    monkeypatch.setenv("APPRISE_URLS", "json://secret-token-4711@127.0.0.1:9/")
    monkeypatch.setenv("WATCHER_PROXY_EU", "http://user:proxy-pass-4711@127.0.0.1:9")
    monkeypatch.setenv("WATCHER_DELIVERY_KEY", "delivery-key-4711")
    with Workers(1) as workers:
        workers.digest(b"<p>x</p>", "https://example.invalid/", None)  # it runs: exec is done
        [pid] = workers.pids()
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    assert b"PATH=" in environ
    assert b"4711" not in environ


def test_a_bad_worker_count_is_a_clear_error(origin, proxies, repo, tmp_path, capsys, monkeypatch):
    origin.page("/policy", {"eu": fixture_text(RAW_PAGES[0])})
    config = write_config(
        tmp_path / "t.yaml", [policy_target(origin.url("/policy"), regions=["eu"])]
    )
    monkeypatch.setenv("WATCHER_WORKERS", "many")
    code, _, err = run_cli(
        "run", "--config", str(config), "--snapshots", str(repo / "snapshots"), "--no-notify",
        capsys=capsys,
    )  # fmt: skip
    assert code == 2
    assert "WATCHER_WORKERS must be a whole number from 0 to 64, not 'many'" in err
    assert git(repo, "log", "--format=%s").strip() == "Start"


def test_a_worker_runs_this_watcher_whatever_folder_the_run_starts_in(
    tmp_path, monkeypatch, caplog
):
    """A folder holding another `watcher` (a second checkout, say) is not where a worker
    finds its code: it runs the package this process runs."""
    from watcher.stable import stable_digest

    other = tmp_path / "watcher"
    other.mkdir()
    (other / "__init__.py").write_text("")
    (other / "workers.py").write_text("raise SystemExit(3)  # not the watcher of this run\n")
    monkeypatch.chdir(tmp_path)
    page = b"<html><body><p class='x1'>Meta AI</p></body></html>"
    with caplog.at_level(logging.WARNING, logger="watcher"), Workers(1) as workers:
        there = workers.digest(page, "https://www.facebook.com/privacy/policy/", "text/html")
        assert workers.active
    assert there == stable_digest(page, "https://www.facebook.com/privacy/policy/", "text/html")
    assert not caplog.records


def test_a_request_that_cannot_cross_is_computed_here_and_keeps_the_worker(caplog):
    """Nothing is sent when a request cannot be pickled: the worker stays in step and in
    use, and the answer is this process's own."""
    from watcher.stable import stable_digest

    class Local(bytes):  # a class defined in a function: pickle cannot name it
        pass

    page = Local(b"<html><body><p>Meta AI</p></body></html>")
    url = "https://www.facebook.com/privacy/policy/"
    with caplog.at_level(logging.WARNING, logger="watcher"), Workers(1) as workers:
        before = workers.pids()
        assert workers.digest(page, url, "text/html") == stable_digest(page, url, "text/html")
        assert workers.active and workers.pids() == before
        plain = bytes(page)
        assert workers.digest(plain, url, "text/html") == stable_digest(plain, url, "text/html")
    assert not caplog.records
