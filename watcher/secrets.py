"""Keep secrets (apprise URLs, proxy credentials) out of every output.

Anything that reads a secret registers it here; everything that prints, logs, commits or
writes a report passes its text through `redact`. Registering the parts of a URL as well as
the whole URL catches error messages that quote only the host or the password.
"""

from __future__ import annotations

import logging
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
        if split.username and _tokenish(split.username):
            parts.update({split.username, unquote(split.username)})
        rest = secret.split("://", 1)[1]
        parts.add(rest)
        # tokens hide in the host and path of notification URLs (discord://id/token)
        for piece in [split.netloc.rsplit("@", 1)[-1], *split.path.split("/")]:
            if _tokenish(piece):
                parts.add(piece)
    global _pattern
    with _lock:
        _secrets.update(p for p in parts if len(p) >= 4)
        ordered = sorted(_secrets, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(s) for s in ordered)) if ordered else None


def _tokenish(text: str) -> bool:
    """Looks like a credential rather than a word: long, or with digits among letters."""
    return len(text) >= 24 or (
        len(text) >= 8 and any(c.isdigit() for c in text) and any(c.isalpha() for c in text)
    )


def register_env() -> None:
    """Register the secrets watcher reads from the environment."""
    from . import env

    for item in env.secret_values():
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
        raw_host = split.netloc.rpartition("@")[2].rsplit(":", 1)[0]
        port = f":{split.port}" if split.port else ""
    except ValueError:  # a port that is not a number, a bracket left open
        return f"{url.split(':', 1)[0]}://{MASK}" if "://" in url else MASK
    # a host is shown only when it reads as a host name, not as a token (tgram://TOKEN/…)
    host = raw_host if _HOSTNAME.match(raw_host) and not _tokenish(raw_host) else MASK
    if not raw_host:
        host = ""
    tail = "/" + MASK if (split.path.strip("/") or split.query or split.username) else ""
    return f"{split.scheme}://{host}{port}{tail}" if split.scheme else MASK


_HOSTNAME = re.compile(
    r"^(?:localhost|\d{1,3}(?:\.\d{1,3}){3}|(?:[A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,63})$"
)


_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")
_PARTIAL = re.compile(r"\b\S\.\.\.\S\b")  # apprise's privacy form of a secret: "p...d"


def scrub_url_text(text: str) -> str:
    """Text from a library that may quote notification URLs: every URL reduced to
    scheme://host/***, apprise's partial secrets ("p...d") masked, registered secrets
    redacted."""
    text = _URL.sub(lambda m: mask_url(m.group(0)), redact(text))
    return _PARTIAL.sub(MASK, text)


class _ScrubFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = scrub_url_text(record.getMessage())
        record.args = ()
        return True


def guard_logger(name: str) -> None:
    """Scrub every record of a library's logger (apprise) before any handler sees it."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, _ScrubFilter) for f in logger.filters):
        logger.addFilter(_ScrubFilter())
