"""Decide whether a fetched page can be vouched for before anything is extracted from it.

Checks, in order: the HTTP status; walls and error pages (login wall, "not available on this
browser", "This page isn't available", consent walls, pages that hold only a title); a
minimum length; and the region variant actually served, by the markers the target lists
for each region.
"""

from __future__ import annotations

import re

from .errors import BlockedError, FetchError, RegionMismatch
from .models import Target
from .page import WALL_MAX_CHARS, WALLS, Document, fold_text

BLOCK_STATUSES = {401, 403, 406, 429, 451, 999}

TITLE_ONLY_CHARS = 300


def check_status(status: int, url: str) -> None:
    if status in BLOCK_STATUSES:
        raise BlockedError(f"HTTP {status} from {url}")
    if status >= 400:
        raise FetchError(f"HTTP {status} from {url}")
    if status != 200:
        raise FetchError(f"unexpected HTTP {status} from {url}")


def detect_wall(doc: Document, expect: tuple[str, ...] = ()) -> str | None:
    """The kind of wall or error page this is, or None for a real document.

    A short page with a wall phrase is a wall, unless it carries every phrase the target
    expects (a logged-out Facebook page shows "Create new account" above real content).
    """
    text = doc.text
    if len(text) <= WALL_MAX_CHARS and not (expect and _has_all(doc, expect)):
        for reason, pattern in WALLS:
            m = pattern.search(text)
            if m:
                return f"{reason} ({m.group(0)!r})"
    body_only = text.replace(doc.title, "", 1).strip() if doc.title else text
    if len(body_only) < TITLE_ONLY_CHARS:
        shown = (doc.title or body_only)[:60]
        return f"page holds only its title ({len(body_only)} characters besides {shown!r})"
    return None


_DOCUMENT_START = re.compile(r"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html[\s>])", re.I | re.S)
_DOCUMENT_END = re.compile(r"</html\s*>", re.I)
TAIL = 4096


def check_complete(content: str, looks_markdown: bool) -> None:
    """Raise FetchError when an HTML document stops before its end: a response cut short,
    even one whose connection closed cleanly (identical on both fetches), is a truncated
    capture, never a change. A page that starts as an HTML document must end with
    `</html>` (servers and browsers both write it)."""
    if looks_markdown or not _DOCUMENT_START.match(content[:2048]):
        return
    if not _DOCUMENT_END.search(content[-TAIL:]):
        raise FetchError(
            f"truncated: the page ({len(content)} characters) ends before </html>; snapshot kept"
        )


def _has_all(doc: Document, phrases: tuple[str, ...]) -> bool:
    return all(fold_text(p).lower() in doc.folded for p in phrases)


def served_variant(doc: Document, markers: dict[str, tuple[str, ...]]) -> set[str]:
    """The regions whose markers appear in the page text (quotes and case folded)."""
    return {
        region
        for region, phrases in markers.items()
        if any(fold_text(p).lower() in doc.folded for p in phrases)
    }


def check_region(doc: Document, target: Target, region: str) -> None:
    """Raise RegionMismatch unless the page is `region`'s variant."""
    if not target.markers or target.variant_by == "url":
        return
    found = served_variant(doc, target.markers)
    expected = target.markers.get(region, ())
    others = sorted(found - {region})
    if expected and region not in found:
        got = ", ".join(others) if others else "the unmarked (global) variant"
        raise RegionMismatch(
            f"expected the {region} variant but got {got}: none of "
            f"{', '.join(repr(m) for m in expected)} is on the page"
        )
    if others:
        raise RegionMismatch(
            f"expected the {region} variant but the page carries the markers of "
            f"{', '.join(others)} ({', '.join(repr(m) for r in others for m in target.markers[r])})"
        )


def verify_page(doc: Document, target: Target, region: str) -> None:
    """Raise BlockedError, FetchError or RegionMismatch for a page that can't be vouched for."""
    wall = detect_wall(doc, target.expect)
    if wall:
        raise BlockedError(wall)
    if len(doc.text) < target.min_length:
        raise FetchError(
            f"page too short: {len(doc.text)} characters of text, expected at least "
            f"{target.min_length} (truncated capture?)"
        )
    if target.expect and not _has_all(doc, target.expect):
        missing = [p for p in target.expect if not _has_all(doc, (p,))]
        raise FetchError(f"expected text {missing[0]!r} is missing (incomplete page?)")
    check_region(doc, target, region)
