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
    # one run per landmark, dated as the archive recorded it
    for day in ("2024-06-18", "2024-06-26", "2025-04-15", "2025-05-28", "2025-12-17"):
        assert f". {day}: " in text
    assert "2 pages in" in text and "4 alerts received through apprise in all" in text
    # June 2024: AI that Meta will "provide and curate", from the real policy text
    assert "Provide and curate artificial intelligence technology in our Products" in text
    # April 2025: Instagram's notice to adults, with the objection form
    assert (
        "+ To do this, we want you to know that we'll use public information such as public "
        "posts and comments from accounts of people aged 18 or older"
    ) in text
    assert "Form link added: contact/6359191084165019" in text
    # December 2025: chats with AI at Meta used for personalisation
    assert "your chats with AI at Meta, and messages you send" in text
    log = subprocess.run(
        ["git", "log", "--format=%ad %s", "--date=short"],
        cwd=tmp_path / "d",
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "2024-06-18 First record of Meta Privacy Policy (EU)" in log
    assert "2025-04-15 Instagram Privacy Policy (EU): " in log
