"""Choose the fetcher each target asks for, and decide what cannot run at all.

`http` uses the plain HTTP fetcher. `browser` drives Chromium (the `watcher[browser]` extra).
`auto` tries plain HTTP first and falls back to the browser when the page turns out to be a
script shell or is refused with 403/406.
"""

from __future__ import annotations

from typing import Any

from .fetch import HttpFetcher, Page, proxy_for
from .models import Config, Region, Target


class Fetchers:
    """Chooses the fetcher a target asks for; owns their resources for one run."""

    def __init__(self, config: Config):
        self.config = config
        self.http = HttpFetcher(config.fetch, config.regions)
        self._browser: Any = None

    def __enter__(self) -> Fetchers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()
        if self._browser is not None:
            self._browser.close()

    def unavailable(self, target: Target) -> str | None:
        if target.fetcher == "browser":
            return (
                "needs the browser fetcher, which this version does not have yet; "
                "the target is skipped"
            )
        return None

    def fetch(self, target: Target, region: Region) -> Page:
        return self.http.fetch(target.url, region)


def skip_reason(target: Target, region: Region, fetchers: Fetchers) -> str | None:
    reason = fetchers.unavailable(target)
    if reason:
        return reason
    if target.variant_by == "ip" and not region.direct and proxy_for(region) is None:
        return (
            f"no egress for region {region.code}: set {region.proxy_env} to a proxy in "
            f"that region (or mark the region `direct: true` in the config)"
        )
    return None
