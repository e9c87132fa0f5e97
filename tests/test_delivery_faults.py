"""An alert is sent once: not twice when the process is killed between sending and
recording the delivery, nor when the push that would publish the record fails and the
next job starts from a fresh checkout (the GitHub Actions model). The real watcher
process, a real git remote, a real HTTP sink for apprise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import fixture_text, git, policy_target, run_json, write_config
from sinks import HttpSink

EU_A = "facebook/privacy-policy/2025-12-16_a.html"
EU_B = "facebook/privacy-policy/2025-12-16_b.html"


def _watcher(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "watcher", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _env(sink: HttpSink, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHER_PROXY_")}
    return {**env, "APPRISE_URLS": sink.url(), **extra}


def _a_change_waiting(origin, proxies, repo, tmp_path, capsys) -> Path:
    config = write_config(
        tmp_path / "t.yaml", [policy_target(origin.url("/policy"), regions=["eu"])]
    )
    origin.page("/policy", {"eu": fixture_text(EU_A)})
    run_json(config, repo, capsys)
    origin.page("/policy", {"eu": fixture_text(EU_B)})
    [result] = run_json(config, repo, capsys)["results"]  # --no-notify: waits in the outbox
    assert result["alert"]
    return config


def _script(path: Path, body: str) -> str:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


def test_a_kill_between_send_and_record_never_sends_twice(origin, proxies, repo, tmp_path, capsys):
    config = _a_change_waiting(origin, proxies, repo, tmp_path, capsys)
    sink = HttpSink()
    try:
        # the first call publishes the intent; the second, after the send, kills watcher
        # before it can record the delivery (as a runner being stopped would)
        count = tmp_path / "calls"
        hook = _script(
            tmp_path / "hook",
            f"n=$(cat {count} 2>/dev/null || echo 0); echo $((n+1)) > {count}\n"
            '[ "$n" = 0 ] && exit 0\nkill -9 $PPID\n',
        )
        args = ["notify", "--config", str(config), "--snapshots", str(repo / "snapshots")]
        killed = _watcher(*args, "--push-command", hook, cwd=repo, env=_env(sink))
        assert killed.returncode == -9 or killed.returncode == 137, killed.stderr
        assert len(sink.posts) == 1
        again = _watcher(*args, cwd=repo, env=_env(sink))
        assert again.returncode == 0, again.stderr
        assert len(sink.posts) == 1  # not sent again
        assert "0 sent" in again.stdout
        state = (repo / "snapshots/.watcher/eu.json").read_text()
        assert '"outbox": []' in state  # settled (as delivered, uncertain), not pending
    finally:
        sink.close()


def test_a_failed_push_after_sending_never_sends_twice_from_a_fresh_checkout(
    origin, proxies, repo, tmp_path, capsys
):
    config = _a_change_waiting(origin, proxies, repo, tmp_path, capsys)
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(remote))
    sink = HttpSink()
    try:
        job1 = tmp_path / "job1"
        git(tmp_path, "clone", "-q", str(remote), str(job1))
        for key, value in (("user.name", "job"), ("user.email", "job@example.invalid")):
            git(job1, "config", key, value)
        # pushes the intent; the push after the send fails (the network went away)
        count = tmp_path / "calls"
        hook = _script(
            tmp_path / "push",
            f"n=$(cat {count} 2>/dev/null || echo 0); echo $((n+1)) > {count}\n"
            '[ "$n" = 0 ] && exec git push -q origin HEAD\nexit 1\n',
        )
        args = ["notify", "--config", str(config), "--snapshots", "snapshots"]
        first = _watcher(*args, "--push-command", hook, cwd=job1, env=_env(sink))
        assert first.returncode == 0, first.stderr
        assert len(sink.posts) == 1
        # the next scheduled job: a fresh checkout of what was pushed
        job2 = tmp_path / "job2"
        git(tmp_path, "clone", "-q", str(remote), str(job2))
        for key, value in (("user.name", "job"), ("user.email", "job@example.invalid")):
            git(job2, "config", key, value)
        second = _watcher(*args, cwd=job2, env=_env(sink))
        assert second.returncode == 0, second.stderr
        assert len(sink.posts) == 1
    finally:
        sink.close()


def test_nothing_is_sent_when_the_intent_cannot_be_published(
    origin, proxies, repo, tmp_path, capsys
):
    config = _a_change_waiting(origin, proxies, repo, tmp_path, capsys)
    sink = HttpSink()
    try:
        fail = _script(tmp_path / "push", "exit 1\n")
        args = ["notify", "--config", str(config), "--snapshots", str(repo / "snapshots")]
        done = _watcher(*args, "--push-command", fail, cwd=repo, env=_env(sink))
        assert done.returncode == 0, done.stderr
        assert sink.posts == []
        assert "1 failed (kept for the next run)" in done.stdout
        later = _watcher(*args, cwd=repo, env=_env(sink))
        assert later.returncode == 0 and len(sink.posts) == 1  # sent once, when it could be
    finally:
        sink.close()
