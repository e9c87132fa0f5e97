"""What every fetcher shares: the fetched `Page`, the region's egress, and one retry policy
(which failures are worth another attempt, and how long to wait before it).
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .. import env, secrets
from ..errors import FetchError
from ..models import FetchSettings, Region

RETRY_STATUSES = {429, 500, 502, 503, 504}


@dataclass
class Page:
    url: str
    final_url: str
    status: int
    content: str
    content_type: str
    elapsed: float
    fetcher: str = "http"


class RunDeadline:
    """The time after which a run starts no more pages (`fetch.run_deadline`, seconds from
    when this is made). A page already being fetched finishes, within its own deadline."""

    def __init__(self, seconds: float | None, clock: Callable[[], float] = time.monotonic):
        self.seconds = seconds
        self._clock = clock
        self.ends = None if seconds is None else clock() + seconds

    def remaining(self) -> float | None:
        return None if self.ends is None else self.ends - self._clock()

    def ends_within(self, seconds: float) -> bool:
        """Whether the deadline comes before `seconds` from now."""
        left = self.remaining()
        return left is not None and left <= seconds

    def check(self) -> None:
        """Raise FetchError ("run deadline reached …") once the deadline has passed."""
        if self.ends_within(0):
            raise FetchError(
                f"run deadline reached: fetch.run_deadline ({self.seconds:g} s) passed "
                f"before this page was fetched; it is tried again next run"
            )


def host_allowed(host: str, allowed: Iterable[str]) -> bool:
    """Whether `host` is one of `allowed`: a host name, or `*.example.com` for the names
    under example.com (not example.com itself)."""
    host = host.rstrip(".").lower()
    for entry in allowed:
        entry = entry.rstrip(".").lower()
        if entry.startswith("*."):
            if host.endswith(entry[1:]) and len(host) > len(entry) - 1:
                return True
        elif host == entry:
            return True
    return False


def proxy_for(region: Region) -> str | None:
    """The region's egress proxy from WATCHER_PROXY_<REGION>, registered as a secret."""
    value = env.proxy_url(region.code)
    if value:
        secrets.register(value)
    return value or None


class Retry(Exception):
    """A failure worth another attempt (network, 429, 5xx), with the wait the server asked."""

    def __init__(self, message: str, wait: float | None = None):
        super().__init__(message)
        self.wait = wait


def retry_wait(exc: Retry, attempt: int, settings: FetchSettings) -> float:
    """Seconds before the next attempt: the server's Retry-After, else exponential backoff
    with a little jitter. A Retry-After beyond fetch.max_retry_after gives up at once."""
    if exc.wait is None:
        return float(settings.backoff * (2**attempt) * (1 + random.random() / 4))
    if exc.wait > settings.max_retry_after:
        raise FetchError(
            f"{exc}; the server asks to wait {exc.wait:.0f} s, more than "
            f"fetch.max_retry_after ({settings.max_retry_after:.0f} s)"
        ) from None
    return exc.wait


def retry_after(value: str | None, limit: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return max(0.0, seconds)
