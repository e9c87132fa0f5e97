"""What every fetcher shares: the fetched `Page`, the region's egress, and one retry policy
(which failures are worth another attempt, and how long to wait before it).
"""

from __future__ import annotations

import email.utils
import random
import time
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
