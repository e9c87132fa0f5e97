"""`watcher demo` runs offline from the package alone and shows alerts and history."""

from __future__ import annotations

import os
import subprocess
import sys


def test_demo_replays_real_versions_and_prints_alerts_and_history(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APPRISE", "WATCHER_"))}
    env.update(HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9")  # no way out
    out = subprocess.run(
        [sys.executable, "-m", "watcher", "demo", "--keep", str(tmp_path / "d")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "2 pages in" in text and "2 changed" in text
    assert "Alerts received through apprise (1):" in text  # one digest
    assert (
        "Instagram Privacy Policy (EU): data sources, exemptions, opt-out wording changed" in text
    )
    assert (
        "+ To do this, we want you to know that we'll use public information such as public "
        "posts and comments from accounts of people aged 18 or older"
    ) in text
    assert "First record of Meta Privacy Policy (EU)" in text
    log = subprocess.run(
        ["git", "log", "--format=%s"],
        cwd=tmp_path / "d",
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Meta Privacy Policy (EU): data sources, exemptions, opt-out wording changed" in log
