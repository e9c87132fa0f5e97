"""The only reader of environment variables.

Everything watcher takes from its environment is read here, once per call, and handed to
the code that needs it as plain values. Formatting code (reports, feeds, alerts) never
looks at the environment: it is given a `GitHubContext` or a URL.

| variable | meaning |
|---|---|
| `APPRISE_URLS` | notification URLs, whitespace or comma separated (secret) |
| `WATCHER_PROXY_<REGION>` | the egress proxy of a region (secret) |
| `WATCHER_DIRECT_<REGION>` | `1`: this machine is in the region, fetch without a proxy |
| `WATCHER_CHROMIUM` | the Chromium to drive |
| `WATCHER_DELIVERY_KEY` | the secret that keys delivery records (else one kept in `.git`) |
| `WATCHER_PAGES_URL` | the published evidence site, linked from the step summary |
| `WATCHER_WORKERS` | worker processes a run may start for its pages (0: none; default: by cores) |
| `GITHUB_*` | the Actions run: server, repository, branch, step summary file |
| `PLAYWRIGHT_BROWSERS_PATH`, `XDG_CACHE_HOME` | where Playwright keeps its own browsers |
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from .errors import ConfigError

SECRET_PREFIXES = ("WATCHER_PROXY_",)
SECRET_NAMES = ("APPRISE_URLS", "WATCHER_DELIVERY_KEY")
_TRUE = ("1", "true", "yes")


def _get(name: str) -> str:
    return os.environ.get(name, "").strip()


def proxy_url(region: str) -> str | None:
    return _get(f"WATCHER_PROXY_{region.upper()}") or None


def runs_direct(region: str) -> bool:
    return _get(f"WATCHER_DIRECT_{region.upper()}").lower() in _TRUE


def apprise_urls() -> list[str]:
    return [u for u in re.split(r"[\s,]+", _get("APPRISE_URLS")) if u]


def delivery_key() -> str | None:
    return _get("WATCHER_DELIVERY_KEY") or None


def worker_count() -> int | None:
    """`WATCHER_WORKERS`: how many worker processes a run may start, or None (unset)."""
    value = _get("WATCHER_WORKERS")
    if not value:
        return None
    if not value.isdigit() or int(value) > 64:
        raise ConfigError(f"WATCHER_WORKERS must be a whole number from 0 to 64, not {value!r}")
    return int(value)


def chromium_override() -> str:
    return _get("WATCHER_CHROMIUM")


def playwright_browsers_path() -> str:
    return _get("PLAYWRIGHT_BROWSERS_PATH")


def xdg_cache_home() -> str:
    return _get("XDG_CACHE_HOME")


def secret_values() -> list[str]:
    """Every value of the variables that hold secrets, split into items."""
    out = []
    for name, value in os.environ.items():
        if name in SECRET_NAMES or name.startswith(SECRET_PREFIXES):
            out += [item for item in re.split(r"[\s,]+", value) if item.strip()]
    return out


def without_secrets() -> dict[str, str]:
    """The environment minus the variables that hold secrets (for worker processes)."""
    return {
        name: value
        for name, value in os.environ.items()
        if name not in SECRET_NAMES and not name.startswith(SECRET_PREFIXES)
    }


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment for a child process (git, Chromium), with `extra` set."""
    return {**os.environ, **extra}


@contextmanager
def overridden(**values: str) -> Iterator[None]:
    """Set variables for the duration of a block (the demo's own alert URL and proxy
    bypass), then restore what was there."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def with_no_proxy(*hosts: str) -> dict[str, str]:
    """NO_PROXY and no_proxy extended with `hosts` (local servers never go through a proxy)."""
    return {
        key: ",".join(filter(None, [os.environ.get(key, ""), *hosts]))
        for key in ("NO_PROXY", "no_proxy")
    }


@dataclass(frozen=True)
class GitHubContext:
    """Where a run in GitHub Actions publishes: the repository's web address, the branch,
    the job-summary file. Outside Actions every field is empty."""

    server: str = "https://github.com"
    repository: str | None = None
    ref_name: str = "HEAD"
    step_summary: str | None = None
    actions: bool = False
    pages_url: str | None = None

    @property
    def repository_url(self) -> str | None:
        return f"{self.server.rstrip('/')}/{self.repository}" if self.repository else None

    def commit_url(self, sha: str | None) -> str | None:
        repo = self.repository_url
        return f"{repo}/commit/{sha}" if repo and sha else None


def github() -> GitHubContext:
    return GitHubContext(
        server=_get("GITHUB_SERVER_URL") or "https://github.com",
        repository=_get("GITHUB_REPOSITORY") or None,
        ref_name=_get("GITHUB_REF_NAME") or "HEAD",
        step_summary=_get("GITHUB_STEP_SUMMARY") or None,
        actions=_get("GITHUB_ACTIONS") == "true",
        pages_url=_get("WATCHER_PAGES_URL") or None,
    )
