"""Keep secrets (apprise URLs, proxy credentials) out of every output.

Anything that reads a secret registers it here; everything that prints, logs, commits or
writes a report passes its text through `redact`. Registering the parts of a URL as well as
the whole URL catches error messages that quote only the host or the password.
"""

from __future__ import annotations

import os
import re
import threading
from urllib.parse import unquote, urlsplit

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None

MASK = "***"


def register(secret: str | None) -> None:
    """Remember a secret string (and the sensitive parts of it when it is a URL)."""
    if not secret:
        return
    parts = {secret}
    try:
        split = urlsplit(secret)
    except ValueError:
        split = None
    if split and split.scheme and "://" in secret:
        if split.password:
            parts.update({split.password, unquote(split.password)})
        if split.username:
            # a user name alone can be a token (tgram://TOKEN/...); hide it too
            parts.update({split.username, unquote(split.username)})
        rest = secret.split("://", 1)[1]
        parts.add(rest)
        # path segments of notification URLs are tokens (discord://id/token, json://host/path)
        for segment in split.path.split("/"):
            if len(segment) >= 6:
                parts.add(segment)
    global _pattern
    with _lock:
        _secrets.update(p for p in parts if len(p) >= 4)
        ordered = sorted(_secrets, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(s) for s in ordered)) if ordered else None


def register_env() -> None:
    """Register the secrets watcher reads from the environment."""
    for name, value in os.environ.items():
        if name.startswith("WATCHER_PROXY_") or name == "APPRISE_URLS":
            for item in re.split(r"[\s,]+", value):
                register(item.strip())


def redact(text: str) -> str:
    """Return `text` with every registered secret replaced by ***."""
    pattern = _pattern
    if pattern is None or not text:
        return text
    return pattern.sub(MASK, text)


def mask_url(url: str) -> str:
    """A URL shown without its user info, password, path or query: scheme://host/***."""
    try:
        split = urlsplit(url)
    except ValueError:
        return MASK
    host = split.hostname or ""
    port = f":{split.port}" if split.port else ""
    tail = "/" + MASK if (split.path.strip("/") or split.query or split.username) else ""
    return f"{split.scheme}://{host}{port}{tail}" if split.scheme else MASK
