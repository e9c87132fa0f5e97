"""Turn an extraction into stable Markdown: headings, lists, links, one sentence per line.

Two fetches of the same page must give byte-identical text, so everything that changes from
fetch to fetch is removed here: tracking query parameters, CDN host names (media links are
reduced to their text), redirect wrappers (`l.php?u=`), annotation numbers and links that
only point elsewhere on the same page. Links to other pages are kept: the ids of Meta's
objection forms (`facebook.com/help/contact/<id>`) live in them.
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import parse_qsl, unquote, urlencode, urljoin, urlsplit, urlunsplit

from selectolax.lexbor import LexborNode

from .extract import SKIP, Block, Extraction
from .page import fold_text

DROP_PARAMS = {
    "entry_point",
    "locale2",
    "h",
    "oh",
    "oe",
    "ccb",
    "efg",
    "strext",
    "stp",
    "fbclid",
    "refsrc",
    "helpref",
    "ref",
    "hrc",
    "_rdr",
    "__tn__",
    "__cft__[0]",
    "__xts__[0]",
    "cft",
    "acontext",
    "paipv",
    "eav",
    "sfnsn",
    "mibextid",
    "igshid",
    "rdid",
    "share_url",
    "back_id",
}
DROP_PREFIXES = ("_nc_", "utm_", "__")
REDIRECTORS = {
    "l.facebook.com",
    "lm.facebook.com",
    "l.instagram.com",
    "l.messenger.com",
    "l.threads.net",
    "l.wl.co",
}
_CDN_HOST = re.compile(r"(^|\.)(fbcdn\.net|cdninstagram\.com|fbsbx\.com)$")
_ANNOTATION_MARK = re.compile(r"\s*\[\d+\]$")

# <br> inside a block (table cells of archived text use them for paragraphs and bullets)
LINE_BREAK = "\u2028"
_BULLET = re.compile(r"^[*•]\s+")
_CELL_HEADING = re.compile(r"^#{1,6}\s+")
# An annotation's or expanded sub-page's lines are quoted: captures come with and without
# them, so they are told apart from the main text.
NOTE = "> "


def _same_page(a: str, b: str) -> bool:
    sa, sb = urlsplit(a), urlsplit(b)
    return (sa.netloc.lower(), sa.path.rstrip("/")) == (sb.netloc.lower(), sb.path.rstrip("/"))


@lru_cache(maxsize=4096)
def clean_url(href: str, base: str) -> str | None:
    """The stable form of a link target, or None when the link should be reduced to its text.
    (Cached: a page repeats its links, and most links are the same from fetch to fetch.)"""
    href = href.strip()
    if not href or href.startswith(("javascript:", "mailto:", "tel:", "data:")):
        return None
    url = urljoin(base, href)
    for _ in range(3):  # unwrap nested redirect wrappers
        split = urlsplit(url)
        if split.scheme not in ("http", "https"):
            return None
        # mbasic renders some outbound links as <page>/https%3A%2F%2Flm.facebook.com%2Fl.php...
        m = re.search(r"/(https?%3A%2F%2F.*)$", split.path, re.I)
        if m:
            url = unquote(m.group(1)) + (("?" + split.query) if split.query else "")
            continue
        if split.netloc.lower() in REDIRECTORS and split.path.rstrip("/") == "/l.php":
            target = dict(parse_qsl(split.query)).get("u")
            if not target:
                return None
            url = target
            continue
        break
    split = urlsplit(url)
    host = (split.hostname or "").lower()
    if _CDN_HOST.search(host) or split.path.startswith("/video_redirect"):
        return None  # media on a CDN: the host and signature change every fetch
    if _same_page(url, base):
        return None  # navigation within the page
    query = [
        (k, v)
        for k, v in parse_qsl(split.query, keep_blank_values=True)
        if k not in DROP_PARAMS and not k.startswith(DROP_PREFIXES)
    ]
    netloc = host + (f":{split.port}" if split.port else "")
    return urlunsplit((split.scheme, netloc, split.path or "/", urlencode(query), split.fragment))


def _escape_link_text(text: str) -> str:
    return text.replace("[", "\\[").replace("]", "\\]")


def render_inline(nodes: list[LexborNode], base: str, in_link: bool = False) -> str:
    """Markdown for inline content: text and [links](url); other markup is dropped."""
    parts: list[str] = []
    for node in nodes:
        tag = node.tag
        if tag == "-text":
            parts.append(node.text_content or "")
        elif tag == "br":
            parts.append(LINE_BREAK)
        elif tag in SKIP:
            continue
        elif tag == "a" and not in_link:
            inner = fold_text(render_inline(list(node.iter(include_text=True)), base, True))
            href = node.attributes.get("href") or ""
            if href.lstrip().startswith("#annotation-") or "#annotation-" in href:
                inner = _ANNOTATION_MARK.sub("", inner)
            url = clean_url(href, base) if href else None
            if url and inner:
                parts.append(f"[{_escape_link_text(inner)}]({url.replace(')', '%29')})")
            else:
                parts.append(inner)
        else:
            parts.append(render_inline(list(node.iter(include_text=True)), base, in_link))
    return "".join(parts)


def block_markdown(block: Block, base: str) -> str:
    """A block's Markdown; explicit line breaks survive as LINE_BREAK between folded parts."""
    raw = render_inline(block.nodes, base)
    if LINE_BREAK not in raw:
        return fold_text(raw)
    return LINE_BREAK.join(p for p in (fold_text(x) for x in raw.split(LINE_BREAK)) if p)


_ABBREVIATIONS = {
    "e.g",
    "i.e",
    "etc",
    "inc",
    "ltd",
    "co",
    "no",
    "u.s",
    "vs",
    "mr",
    "mrs",
    "ms",
    "dr",
    "st",
    "approx",
    "incl",
    "fig",
    "art",
    "para",
    "sec",
    "cf",
    "ie",
    "eg",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
    "u.k",
    "e.u",
}
_BOUNDARY = re.compile(r"(?<=[.!?])(?:[\"')\]]|\]\([^)\s]*\))*\s+(?=[\"'(\[]?[A-Z0-9])")


def split_sentences(text: str) -> list[str]:
    """Split folded text into sentences, leaving abbreviations and initials alone."""
    out: list[str] = []
    start = 0
    for m in _BOUNDARY.finditer(text):
        before = text[start : m.start()]
        word = before.rsplit(" ", 1)[-1].lstrip("([\"'").rstrip(".!?").lower()
        if word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
            continue
        piece = text[start : m.end()].strip()
        if piece:
            out.append(piece)
        start = m.end()
    tail = text[start:].strip()
    if tail:
        out.append(tail)
    return out


# An annotation's number or a lone symbol left over from dropped markup.
_NOISE_BLOCK = re.compile(r"^[\d\W]{0,4}$")
_MD_LINE_START = re.compile(r"^(#|>|[-*+] |\d+[.)] )")


def _escape_line(sentence: str) -> str:
    return "\\" + sentence if _MD_LINE_START.match(sentence) else sentence


def render_markdown(extraction: Extraction, base: str, title: str | None = None) -> str:
    """The snapshot text: heading lines, then one sentence per line, blank line between blocks."""
    lines: list[str] = []
    if title:
        lines += [f"<!-- {title} -->", ""]
    emitted: tuple[int, ...] = ()
    rendered: dict[int, str] = {}
    prev_kind = ""
    prev_column = 0

    def text_of(i: int) -> str:
        if i not in rendered:
            block = extraction.blocks[i]
            text = block_markdown(block, base)
            if block.column:  # a Markdown heading inside a table cell (`| ### For people … |`)
                text = _CELL_HEADING.sub("", text)
            rendered[i] = text
        return rendered[i]

    for i, path in zip(extraction.kept, extraction.paths, strict=True):
        block = extraction.blocks[i]
        full = (*path, i) if block.is_heading else path
        common = 0
        while common < min(len(full), len(emitted)) and full[common] == emitted[common]:
            common += 1
        if common == len(full) < len(emitted) and full and not block.is_heading:
            # back in an outer section after a table row or an annotation ended: say so,
            # or the text would read as part of the row above it
            common -= 1
        for depth in range(common, len(full)):
            heading = text_of(full[depth]).replace(LINE_BREAK, " ")
            if heading:
                _separate(lines)
                quote = NOTE if extraction.blocks[full[depth]].note else ""
                lines += [f"{quote}{'#' * min(depth + 1, 6)} {heading}", ""]
                prev_kind = "h"
        emitted = full
        if block.is_heading:
            continue
        text = text_of(i)
        if not text or _NOISE_BLOCK.match(text):
            continue
        for part in text.split(LINE_BREAK):
            kind = block.kind
            if _BULLET.match(part):
                kind, part = "li", _BULLET.sub("", part)
            if not part:
                continue
            # a list goes on across blocks, but not into the next cell of a table row
            if not (kind == "li" and prev_kind == "li" and block.column == prev_column):
                _separate(lines)
            sentences = split_sentences(part)
            quote = NOTE if block.note else ""
            if kind == "li":
                lines.append(quote + "- " + _escape_line(sentences[0]).lstrip("\\"))
                lines += [quote + "  " + s for s in sentences[1:]]
            else:
                lines += [quote + _escape_line(s) for s in sentences]
            prev_kind, prev_column = kind, block.column
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines) + "\n"


def _separate(lines: list[str]) -> None:
    if lines and lines[-1]:
        lines.append("")


def sentences_of(markdown: str) -> list[str]:
    """The sentence lines of a snapshot (headings and blank lines left out)."""
    out = []
    for line in markdown.splitlines():
        s = line.removeprefix(NOTE).strip()
        if not s or s.startswith(("#", "<!--")):
            continue
        if s.startswith("- "):
            s = s[2:]
        out.append(s)
    return out
