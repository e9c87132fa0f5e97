"""An evidence repository made the way a fork's is: `watcher run` against real archived Meta
pages on 127.0.0.1, twice, so that every region of two services records a first version and
then Meta's real change. The site tests build the evidence site from it, and
`scripts/site-screenshots` photographs it.

Used without pytest's fixtures (the site tests share one repository per module, and the
screenshot script has no pytest at all), so the proxies' environment is set here."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from conftest import (
    Origin,
    RegionProxy,
    fixture_text,
    genai_html,
    page_html,
    policy_target,
    shipped_target,
    static_page,
    write_config,
)

POLICY = "/privacy/policy/printable/"
INSTAGRAM = "/instagram/policy"
GENAI = "/privacy/genai"

# (path, region or None for the US/direct variant) -> fixture, per run
RUNS: list[dict[tuple[str, str | None], str]] = [
    {
        (POLICY, "eu"): "facebook/privacy-policy/2025-12-16_a.html",
        (POLICY, "uk"): "pages/fb-privacy-policy_UK-variant_vlopses-gb_2026-05-12.md",
        (POLICY, None): "facebook/privacy-policy-us/2025-10-16.md",
        (INSTAGRAM, "eu"): "instagram/privacy-policy/2025-04-07.md",
        (INSTAGRAM, "uk"): "instagram/privacy-policy-gb-alt/2026-01-06.md",
        (INSTAGRAM, None): "instagram/privacy-policy-us/2025-11-22.md",
    },
    {
        (POLICY, "eu"): "facebook/privacy-policy/2025-12-16_b.html",
        (POLICY, "uk"): "pages/fb-privacy-policy_UK-variant_vlopses-gb_2026-05-12.md",
        (POLICY, None): "facebook/privacy-policy-us/2026-03-05.md",
        (INSTAGRAM, "eu"): "instagram/privacy-policy/2025-04-15.md",
        (INSTAGRAM, "uk"): "instagram/privacy-policy-gb-alt/2026-01-06.md",
        (INSTAGRAM, None): "instagram/privacy-policy-us/2025-12-16.md",
    },
]


def targets(origin: Origin) -> list[dict[str, Any]]:
    return [
        policy_target(origin.url(POLICY)),
        shipped_target(
            "instagram-privacy-policy",
            url=origin.url(INSTAGRAM),
            base_url="https://privacycenter.instagram.com/policy",
            fetcher="http",
            regions=["eu", "uk", "us"],
            min_length=2000,
        ),
        shipped_target(
            "privacy-center-genai",
            url=origin.url(GENAI),
            base_url="https://www.facebook.com/privacy/genai",
            fetcher="http",
            regions=["us"],
        ),
    ]


def serve(origin: Origin, run: dict[tuple[str, str | None], str]) -> None:
    pages: dict[str, dict[str | None, str]] = {}
    for (path, region), name in run.items():
        title = "Instagram Privacy Policy" if path == INSTAGRAM else "Meta Privacy Policy"
        body = fixture_text(name) if name.endswith(".html") else page_html(name, title)
        pages.setdefault(path, {})[region] = body
    for path, variants in pages.items():
        origin.page(path, variants)
    origin.page(GENAI, static_page(genai_html()))


@contextlib.contextmanager
def egress(proxies: dict[str, RegionProxy]) -> Iterator[None]:
    """WATCHER_PROXY_<REGION> for the run, as a fork's secrets would set it."""
    names = {f"WATCHER_PROXY_{code.upper()}": proxy.url for code, proxy in proxies.items()}
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(names)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout


def init_repo(root: Path) -> Path:
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "Test Runner")
    git(root, "config", "user.email", "runner@example.invalid")
    git(root, "config", "commit.gpgsign", "false")
    (root / "README.md").write_text("evidence\n")
    git(root, "add", "README.md")
    git(root, "commit", "-q", "-m", "Start")
    (root / "snapshots").mkdir()
    return root


def watcher(*args: str) -> tuple[int, str, str]:
    """`watcher ARGS` in this process, as the scheduled job runs it: (status, stdout, stderr)."""
    from watcher.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def record_history(root: Path, origin: Origin, proxies: dict[str, RegionProxy]) -> Path:
    """Make the repository at `root` and record RUNS into it; returns the config's path."""
    init_repo(root)
    config = write_config(root / "targets.yaml", targets(origin))
    with egress(proxies):
        for number, run in enumerate(RUNS, 1):
            serve(origin, run)
            code, out, err = watcher(
                "run", "--config", str(config), "--snapshots", str(root / "snapshots"),
                "--json", "--no-notify",
            )  # fmt: skip
            assert code == 0, err
            statuses = {(r["target"], r["region"]): r["status"] for r in json.loads(out)["results"]}
            want = "new" if number == 1 else "changed"
            wrong = {k: v for k, v in statuses.items() if v not in (want, "unchanged")}
            assert not wrong, f"run {number}: {wrong}"
    return config


class SiteServer:
    """The built site served by http.server on 127.0.0.1 under a sub-path, as GitHub Pages
    serves a project site (`https://owner.github.io/<repository>/`)."""

    def __init__(self, folder: Path, prefix: str = "/evidence/") -> None:
        import functools
        import threading
        from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

        class Handler(SimpleHTTPRequestHandler):
            def translate_path(self, path: str) -> str:
                if not path.startswith(prefix):
                    return str(folder / "..." / "outside-the-sub-path")  # a 404
                return super().translate_path("/" + path[len(prefix) :])

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                import sys

                if not isinstance(sys.exc_info()[1], ConnectionError):
                    super().handle_error(request, client_address)  # a browser that moved on

        self.prefix = prefix
        handler = functools.partial(Handler, directory=str(folder))
        self.server = Server(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()

    def url(self, page: str = "index.html") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{self.prefix}{page}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
