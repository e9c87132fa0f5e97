"""Choose the fetcher each target asks for, and decide what cannot run at all.

`http` uses the plain HTTP fetcher. `browser` drives Chromium (the `watcher[browser]` extra).
`auto` tries plain HTTP first and falls back to the browser when the page turns out to be a
script shell or is refused with 403/406.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from selectolax.lexbor import LexborHTMLParser

from .. import env
from ..errors import FetchError
from ..models import Config, Region, Target
from ..page import Document, fold_text, looks_like_markdown
from .http import HttpFetcher
from .policy import Page, proxy_for

if TYPE_CHECKING:
    from .browser import BrowserFetcher

log = logging.getLogger("watcher")

# Statuses a server gives clients it takes for bots or unsupported browsers (Meta answers
# plain HTTP clients with 403 or 406 on some pages); a real browser may get the page.
BROWSER_STATUSES = {403, 406}
SHELL_MIN_SCRIPTS = 3


def is_script_shell(page: Page, target: Target) -> bool:
    """Whether an HTTP page is a script shell: the text a browser would build is missing.

    Missing: fewer characters of visible text than the target's `min_length`, or one of its
    `expect` phrases absent. Script-built: at least a few <script> elements, or more script
    than text. A short page without scripts (an error page, a wall) is what it says it is
    and is left to `verify`; a long page with all its text is never a shell, however many
    scripts hydrate it.
    """
    if looks_like_markdown(page.content, page.content_type):
        return False
    text = Document(page.content).text
    folded = fold_text(text).lower()
    complete = len(text) >= target.min_length and all(
        fold_text(p).lower() in folded for p in target.expect
    )
    if complete:
        return False
    scripts = LexborHTMLParser(page.content).css("script")
    script_chars = sum(len(s.text(deep=True)) for s in scripts)
    return len(scripts) >= SHELL_MIN_SCRIPTS or (bool(scripts) and script_chars > len(text))


class Fetchers:
    """Chooses the fetcher a target asks for; owns their resources for one run."""

    def __init__(self, config: Config):
        self.config = config
        self.http = HttpFetcher(config.fetch, config.regions)
        self._browser: BrowserFetcher | None = None
        self._lock = threading.Lock()
        self._missing: tuple[str | None] | None = None

    def __enter__(self) -> Fetchers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP clients and, if it was started, the browser (and its processes)."""
        try:
            self.http.close()
        finally:
            with self._lock:
                browser, self._browser = self._browser, None
            if browser is not None:
                browser.close()

    def browser_missing(self) -> str | None:
        """Why the browser fetcher cannot run on this machine, or None (checked once)."""
        with self._lock:
            if self._missing is None:
                from .browser import browser_missing

                self._missing = (browser_missing(),)
            return self._missing[0]

    @property
    def browser(self) -> BrowserFetcher:
        """The run's one browser fetcher; creating it is cheap, Chromium starts on first use."""
        with self._lock:
            if self._browser is None:
                from .browser import BrowserFetcher

                self._browser = BrowserFetcher(self.config.fetch, self.config.regions)
                # one run, one deadline: no browser attempt starts after the HTTP clock's
                self._browser.run_deadline = self.http.run_deadline
            return self._browser

    def unavailable(self, target: Target) -> str | None:
        """Why `target` cannot run at all here, or None. Only `browser` targets can be
        unavailable: an `auto` target still runs over plain HTTP without a browser."""
        if target.fetcher == "browser":
            missing = self.browser_missing()
            if missing:
                return f"needs the browser fetcher: {missing}; the target is skipped"
        return None

    def fetch(self, target: Target, region: Region) -> Page:
        if target.fetcher == "browser":
            return self.browser.fetch(target, region)
        page = self.http.fetch(target.url, region, allow_hosts=target.allow_redirect_hosts)
        if target.fetcher != "auto":
            return page
        refused = page.status in BROWSER_STATUSES
        if not refused and not (page.status == 200 and is_script_shell(page, target)):
            return page
        why = f"HTTP {page.status}" if refused else "a script shell"
        missing = self.browser_missing()
        if missing:
            if refused:
                return page  # verify reports the refusal as `blocked`
            raise FetchError(
                f"{page.final_url} is {why} over plain HTTP and needs the browser "
                f"fetcher: {missing}"
            )
        log.info("%s/%s: plain HTTP got %s; using the browser", target.id, region.code, why)
        return self.browser.fetch(target, region)


def skip_reason(target: Target, region: Region, fetchers: Fetchers) -> str | None:
    reason = fetchers.unavailable(target)
    if reason:
        return reason
    if target.variant_by == "ip" and not runs_direct(region) and proxy_for(region) is None:
        return (
            f"no egress for region {region.code}: set {region.proxy_env} to a proxy in "
            f"that region (or mark the region `direct: true` in the config, or set "
            f"WATCHER_DIRECT_{region.code.upper()}=1 on a machine in that region)"
        )
    return None


def runs_direct(region: Region) -> bool:
    """The region may fetch without a proxy: the config says so, or the machine running this
    job is in the region (WATCHER_DIRECT_<REGION>=1, set by the workflow on a regional runner)."""
    return region.direct or env.runs_direct(region.code)
