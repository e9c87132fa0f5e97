"""A page's stable form: its bytes with the parts Meta changes on every request masked.

Meta never serves the same bytes twice: tracking values in links (`_nc_gid`, `oh`, `oe`),
CDN host names (`scontent-fra5-2.xx.fbcdn.net`), obfuscated class names, nonces and the
inline scripts and styles that carry them all change from fetch to fetch. None of them
reaches a snapshot. Two fetches whose stable forms are equal therefore give the same
snapshot, and the second needs no parse, no extraction and no comparison: `process.observe`
reuses the text it is compared with (the stored snapshot, or a first fetch it confirms).

What is masked, and why no snapshot can read it:

* comments, and `<script>`, `<style>`, `<noscript>` and `<template>` elements whole
  (`page.Document` strips these elements with their content before anything reads the
  page, and Meta adds and drops inline scripts from one response to the next); the
  content of `<title>`, `<textarea>`, `<xmp>`, `<iframe>`, `<noembed>` and `<noframes>`
  is kept as it is, and nothing inside it is masked;
* the value of `class` and `nonce` attributes (no rule, selector or check reads them);
* the value of a query parameter that `normalize.clean_url` drops (`DROP_PARAMS`, and
  names starting with `DROP_PREFIXES`), plain, `&amp;`-escaped or percent-encoded;
* the labels of a CDN host name (`…fbcdn.net`, `…cdninstagram.com`, `…fbsbx.com`): a link
  to a CDN is reduced to its text.

A masked value never holds `"`, `<`, `>` or `&`, so masking cannot move where a tag, an
attribute or a text begins: two pages with equal stable forms differ only inside masked
values, at the same places. A masked value can still sit where a snapshot shows it (a
tracking value in a link that is kept, a `class="…"` in the text itself). `exposed` says
when a snapshot shows anything a mask would cover; such a page is always processed.

The form is hashed with `VERSION`, a digest of this module and of the lists it reads from
`normalize`: a change to either makes every stored stable digest unequal to a new one.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from operator import methodcaller
from pathlib import Path

from .normalize import DROP_PARAMS, DROP_PREFIXES

# Elements read as raw text by an HTML parser, and comments: dropped whole (_MASKED, and
# comments) or kept as they are (_KEPT). One left-to-right scan (_raw_spans), so a
# `<script>` inside a comment or a title is never taken for an element.
_MASKED = (b"script", b"style", b"noscript", b"template")
_KEPT = (b"textarea", b"title", b"xmp", b"iframe", b"noembed", b"noframes")
_OPENER = re.compile(rb"<(!--|" + b"|".join(_MASKED + _KEPT) + rb")")  # on lower-cased bytes
_NAME_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789_-:")
_SPACE = frozenset(b" \t\n\r\f")
_ATTRS = tuple(
    (attr, re.compile(re.escape(attr) + rb'[^"<>&]*"'), attr + b'"')
    for attr in (b' class="', b' nonce="')
)
_HOST_CHARS = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-"
_CDN_SUFFIXES = (b".fbcdn.net", b".cdninstagram.com", b".fbsbx.com")
_NAMES: list[bytes] = [re.escape(k).encode() for k in DROP_PARAMS]
_NAMES += [re.escape(p).encode() + rb"[A-Za-z0-9_]*" for p in DROP_PREFIXES]
_NAMES.sort(key=len, reverse=True)  # the longest first: `oh` must not stop at `h`
_KEYS = b"|".join(_NAMES)
# `?` or `&` (plain, as `&amp;`, or percent-encoded any number of times), a dropped name,
# `=` (plain or encoded), and the value up to the next separator. The value neither starts
# nor ends with `_`, which could open or close emphasis in Markdown (archived versions
# are Markdown): a masked value is always inside a word. One pattern per way of writing
# the separator, each starting with a literal byte: re then finds the candidates at C
# speed instead of trying every byte of the page.
_EQUALS = rb")(?:=|%(?:25)*3[Dd]))"
# (Plain characters are taken a run at a time: re then loops over them in C, where one
# alternation per character cost 3 of the 5 ms a printable page took.)
_VALUE = (
    rb"(?:(?:[A-Za-z0-9.+-]|%(?:25)*(?!26|3[Dd]|23|3[Ff])[0-9A-Fa-f]{2})"
    rb"(?:[A-Za-z0-9_.+-]+|%(?:25)*(?!26|3[Dd]|23|3[Ff])[0-9A-Fa-f]{2})*(?<!_))?"
)
_TOKENS = tuple(
    re.compile(rb"(" + separator + rb"(?:" + _KEYS + _EQUALS + _VALUE)
    for separator in (rb"\?", rb"&(?:amp;)?", rb"%(?:25)*(?:26|3[Ff])")
)
_KEEP_NAME = methodcaller("group", 1)  # the separator and name, not the value (a C call)
# What a snapshot must not show for its page to be skipped by its stable form.
_EXPOSED = (
    b"class=",
    b"nonce=",
    b"fbcdn.net",
    b"cdninstagram.com",
    b"fbsbx.com",
    b"<!--",
    *(b"<" + name for name in _MASKED + _KEPT),
)


@lru_cache(maxsize=1)
def version() -> str:
    digest = hashlib.sha256(Path(__file__).read_bytes())
    digest.update(repr((sorted(DROP_PARAMS), DROP_PREFIXES)).encode())
    return "s1-" + digest.hexdigest()[:12]


def _mask_hosts(part: bytes, suffix: bytes) -> bytes:
    """Replace the labels before every `suffix` (`.fbcdn.net`) by `cdn`."""
    pieces = part.split(suffix)
    for i in range(len(pieces) - 1):
        pieces[i] = pieces[i].rstrip(_HOST_CHARS) + b"cdn"
    return suffix.join(pieces)


def _mask_markup(part: bytes) -> bytes:
    for attr, value, empty in _ATTRS:  # a value holding no `<`, `>` or `&` is emptied
        if attr in part:
            part = value.sub(empty, part)
    part = _mask_tokens(part)
    for suffix in _CDN_SUFFIXES:
        if suffix in part:
            part = _mask_hosts(part, suffix)
    return part


def _raw_spans(content: bytes) -> list[tuple[int, int, bytes]]:
    """(start, end, name) of the comments and raw-text elements, left to right: `name` is
    empty for a comment. Found by plain byte search: the content of Meta's scripts is most
    of a page, and a regular expression would step through it byte by byte."""
    low = content.lower()  # ASCII only: same length, same offsets
    starts = [(m.start(), m.group(1)) for m in _OPENER.finditer(low)]
    found: list[tuple[int, int, bytes]] = []
    end = 0
    for at, name in starts:
        if at < end:
            continue  # inside a comment or an element already taken
        if content.rfind(b"<", end, at) > content.rfind(b">", end, at):
            continue  # inside a start tag (`<a title="<script>">`): an attribute's text
        if name == b"!--":
            close = low.find(b"-->", at + 4)
            if close >= 0:
                end = close + 3
                found.append((at, end, b""))
            continue
        after = at + 1 + len(name)
        if after < len(low) and low[after] in _NAME_CHARS:
            continue  # <scripts>, <title-x>: another element
        # a masked element's content starts after its start tag; a kept one's is kept whole
        start = low.find(b">", after) if name in _MASKED else after
        close = _close(low, name, start)
        if close >= 0:
            end = close
            found.append((at, end, name))
    return found


def _close(low: bytes, name: bytes, start: int) -> int:
    """Where the first end tag `</name\\s*>` from `start` ends, or -1."""
    if start < 0:
        return -1
    tag = b"</" + name
    at = low.find(tag, start)
    while at >= 0:
        after = at + len(tag)
        while after < len(low) and low[after] in _SPACE:
            after += 1
        if after < len(low) and low[after] == 62:  # ">"
            return after + 1
        at = low.find(tag, at + 1)
    return -1


def _mask_tokens(part: bytes) -> bytes:
    """Empty the value of every dropped query parameter (see _TOKENS)."""
    for token in _TOKENS:
        part = token.sub(_KEEP_NAME, part)
    return part


def stable_form(content: bytes) -> bytes:
    """The page (UTF-8) with its per-request parts masked (see the module's text)."""
    out: list[bytes] = []
    at = 0
    for start, end, name in _raw_spans(content):
        out.append(_mask_markup(content[at:start]))
        if not name:
            out.append(b"<!---->")
        elif name in _MASKED:
            pass  # gone with its content, as Document strips it: how many there are is noise
        else:
            out.append(content[start:end])
        at = end
    out.append(_mask_markup(content[at:]))
    return b"".join(out)


def stable_digest(content: bytes, final_url: str, content_type: str | None) -> str:
    """A digest of the stable form, with where the page came from and how it was typed."""
    digest = hashlib.sha256(version().encode())
    for part in (final_url, content_type or ""):
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    digest.update(stable_form(content))
    return f"{version()}:{digest.hexdigest()}"


@lru_cache(maxsize=256)  # an import asks it of one record for many versions
def exposed(text: str) -> bool:
    """Whether a snapshot shows something a mask would cover (then its page is always
    processed: equal stable forms would not prove equal snapshots)."""
    data = text.encode("utf-8", "surrogatepass").lower()
    if any(mark in data for mark in _EXPOSED):
        return True
    return any(token.search(data) is not None for token in _TOKENS)
