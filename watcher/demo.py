"""`watcher demo`: seconds, no network, no set-up.

Real archived versions of Meta's Privacy Policy and Instagram's, June 2024 to December 2025
(shipped in watcher/demo/, from Open Terms Archive), are served on 127.0.0.1 and replayed
through the real pipeline into a temporary git repository, one run per landmark, each run
dated as the archive recorded it: the first run records them, every later run sees
Meta's actual change of that day, alerts go through apprise to an in-process receiver,
and the history is printed.
"""

from __future__ import annotations

import gzip
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from . import env

DATA = Path(__file__).parent / "demo"
FB = "/facebook/privacy/policy/printable/"
IG = "/instagram/policy"
MD = "text/markdown; charset=utf-8"
# (date the archive recorded it, what happened, the pages served from that day)
TIMELINE: list[tuple[str, str, dict[str, str]]] = [
    (
        "2024-06-18",
        "First run: the policies before Meta's AI-training changes",
        {
            FB: "facebook_privacy-policy_2024-06-18.md.gz",
            IG: "instagram_privacy-policy_2025-04-07.md.gz",
        },
    ),
    (
        "2024-06-26",
        "June 2024: Meta's legal bases add AI it will 'provide and curate'",
        {FB: "facebook_privacy-policy_2024-06-26.md.gz"},
    ),
    (
        "2025-04-15",
        "April 2025: Instagram announces AI training on adults' public posts, "
        "with a form to object",
        {IG: "instagram_privacy-policy_2025-04-15.md.gz"},
    ),
    (
        "2025-05-28",
        "May 2025: legitimate interests named for training AI on public content",
        {
            FB: "facebook_privacy-policy_2025-05-28.md.gz",
            IG: "instagram_privacy-policy_2025-05-28.md.gz",
        },
    ),
    (
        "2025-12-17",
        "December 2025: chats with AI at Meta used to personalise what people see",
        {
            FB: "facebook_privacy-policy_2025-12-17.md.gz",
            IG: "instagram_privacy-policy_2025-12-17.md.gz",
        },
    ),
]
# the raw HTML pair of 16 December 2025 (scripts/example-alerts renders its alerts)
PAGES = {
    # path: (before, after, content type)
    "/facebook/privacy/policy/printable/": (
        "facebook_privacy-policy_2025-12-16_a.html.gz",
        "facebook_privacy-policy_2025-12-16_b.html.gz",
        "text/html; charset=utf-8",
    ),
    "/instagram/policy": (
        "instagram_privacy-policy_2025-04-07.md.gz",
        "instagram_privacy-policy_2025-04-15.md.gz",
        "text/markdown; charset=utf-8",
    ),
}
EXTRACT = {
    "root": ["#root", "main", "body"],
    "anchors": ["HowWeUseInformationAI", "AiIntegrations", "ObjectYouHaveThe"],
    "headings": ["^Object$", "information for AI", "^AI integrations$"],
    "phrases": [r"\bAIs?\b", "artificial intelligence", "generative", "right to object"],
}
MARKERS = {
    "eu": ["Meta Platforms Ireland Limited", "Irish Data Protection Commission"],
    "uk": ["Information Commissioner's Office"],
    "us": [],
}


class _Site:
    def __init__(self) -> None:
        self.version = 0
        self.served: dict[str, str] = {}  # path → file, for the timeline; else PAGES
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                name: str | None
                if site.served:
                    name, ctype = site.served.get(self.path), MD
                else:
                    page = PAGES.get(self.path)
                    name, ctype = (page[site.version], page[2]) if page else (None, "")
                if name is None:
                    self.send_error(404)
                    return
                body = gzip.decompress((DATA / name).read_bytes())
                head = (
                    f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n"
                ).encode()
                self.wfile.write(head + body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _config(url: str) -> dict[str, Any]:
    return {
        "version": 1,
        "fetch": {"timeout": 10, "retries": 0, "backoff": 0},
        # the UK is named only so that its markers can tell its text apart from the EU's
        "regions": {"eu": {"name": "EU", "direct": True}, "uk": {"name": "UK"}},
        "targets": [
            {
                "id": "facebook-privacy-policy",
                "name": "Meta Privacy Policy",
                "url": f"{url}/facebook/privacy/policy/printable/",
                "base_url": "https://mbasic.facebook.com/privacy/policy/printable/",
                "regions": ["eu"],
                "markers": {"eu": MARKERS["eu"], "uk": MARKERS["uk"]},
                "extract": EXTRACT,
            },
            {
                "id": "instagram-privacy-policy",
                "name": "Instagram Privacy Policy",
                "url": f"{url}/instagram/policy",
                "base_url": "https://privacycenter.instagram.com/policy",
                "regions": ["eu"],
                "markers": {"eu": MARKERS["eu"], "uk": MARKERS["uk"]},
                "extract": EXTRACT,
            },
        ],
    }


def run_demo(say: Callable[[str], None] = print, keep: str | None = None) -> int:
    """Replay real versions through the pipeline; return the number of alerts received."""
    import apprise

    received: list[tuple[str, str]] = []

    @apprise.decorators.notify(on="watcherdemo")  # type: ignore[untyped-decorator,no-untyped-call]
    def _receive(body: str, title: str, *args: Any, **kwargs: Any) -> bool:
        received.append((title, body))
        return True

    workdir = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="watcher-demo-"))
    site = _Site()
    # the demo's server is on this machine: a corporate HTTP_PROXY must not be asked for it
    overrides = {
        "APPRISE_URLS": "watcherdemo://local",
        **env.with_no_proxy("127.0.0.1", "localhost"),
    }
    try:
        with env.overridden(**overrides):
            return _replay(site, workdir, keep, say, received)
    finally:
        site.close()
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)


def _clock(when: datetime) -> Callable[[], datetime]:
    return lambda: when


def _replay(
    site: _Site,
    workdir: Path,
    keep: str | None,
    say: Callable[[str], None],
    received: list[tuple[str, str]],
) -> int:
    import yaml

    from .config import parse_config
    from .evidence.history import history
    from .report import text_summary
    from .run import Runner

    workdir.mkdir(parents=True, exist_ok=True)
    git_env = env.subprocess_env(GIT_TERMINAL_PROMPT="0")
    for args in (
        ["init", "-q", "-b", "main"],
        ["config", "user.name", "watcher demo"],
        ["config", "user.email", "demo@watcher.invalid"],
        ["config", "commit.gpgsign", "false"],
    ):
        subprocess.run(["git", *args], cwd=workdir, check=True, env=git_env)
    data = _config(site.url)
    (workdir / "targets.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    config = parse_config(data, str(workdir / "targets.yaml"))
    snapshots = workdir / "snapshots"
    snapshots.mkdir(exist_ok=True)

    say(f"watcher demo: real archived Meta pages served on {site.url}, evidence in {workdir}\n")
    for step, (day, what, pages) in enumerate(TIMELINE, start=1):
        site.served.update(pages)
        when = datetime.fromisoformat(f"{day}T12:00:00+00:00")
        before = len(received)
        say(f"{step}. {day}: {what}")
        say(text_summary(Runner(config, snapshots, now=_clock(when)).run()))
        for title, body in received[before:]:
            say(f"\n   alert received through apprise: {title}")
            say("\n".join("   " + line for line in body.splitlines()))
        say("")

    say(f"{len(received)} alerts received through apprise in all.\n")
    say("The evidence: `watcher history` of the temporary repository, dated as recorded")
    for entry in history(snapshots):
        say(
            f"  {entry.date[:16].replace('T', ' ')}  {entry.target}/{entry.region}  "
            f"[{', '.join(entry.categories) or '-'}]  {entry.summary}"
        )
    say(
        f"\nRead it: cd {workdir} && git log -p snapshots/"
        if keep
        else "\nKeep the repository with `watcher demo --keep DIR` and read it with git log."
    )
    return len(received)
