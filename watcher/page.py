"""The page model below every stage: a parsed page (`Document`), archived Markdown rendered
to HTML, the text folding that extraction, verification and normalization share, and the
table of walls (pages that stand in for the document: login, error, consent).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from functools import cached_property, lru_cache

from selectolax.lexbor import LexborHTMLParser, LexborNode

from .errors import ExtractionError

# Typographic variants that change from fetch to fetch or region to region, folded to one.
_FOLDS = (
    *((c, "'") for c in "\u2018\u2019\u201a\u201b\u2032"),
    *((c, '"') for c in "\u201c\u201d\u201e\u201f\u2033"),
    *((c, " ") for c in "\u00a0\u2007\u202f\u2009\u200a\u2002\u2003\u3000"),
    *((c, "") for c in "\u200b\u200c\u200d\u2060\ufeff\u00ad"),  # zero-width, soft hyphen
)


def fold_ws(text: str) -> str:
    """One space between words, none at the ends. Most texts are folded already: printable
    text holds no whitespace but U+0020 (every other character str.split() splits on is a
    control or separator character), so without two spaces in a row or at an end it is
    returned as it is, at a fraction of the cost of splitting it into words."""
    if text.isprintable() and "  " not in text and text[:1] != " " != text[-1:]:
        return text
    return " ".join(text.split())


def fold_chars(text: str) -> str:
    """Unicode NFC, straight quotes, plain spaces, no zero-width characters."""
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
        # str.replace per character present: ~50× faster than str.translate with a dict
        for char, replacement in _FOLDS:
            if char in text:
                text = text.replace(char, replacement)
    return text


def fold_text(text: str) -> str:
    """fold_chars, then one space between words and none before punctuation."""
    text = " ".join(fold_chars(text).split())
    # "partners , and" → "partners, and" (inline markup leaves such spaces behind)
    for mark in ",.;:!?":
        if " " + mark in text:
            text = text.replace(f" {mark} ", f"{mark} ")
            if text.endswith(" " + mark):
                text = text[:-2] + mark
    return text


_ESCAPED_BR = re.compile(r"&lt;br\s*/?&gt;", re.I)
_HIDDEN_BY_STYLE = (
    '[hidden],[style*="display:none" i],'
    '[style*="display: none" i],[style*="visibility:hidden" i],'
    '[style*="visibility: hidden" i]'
)
_ARIA_HIDDEN = '[aria-hidden="true"]'
_HIDDEN_SELECTOR = f"{_HIDDEN_BY_STYLE},{_ARIA_HIDDEN}"
# A cookie or consent dialog, as the browser fetcher dismisses one (fetch/browser.py): a
# dialog about cookies or consent, short enough to be a banner rather than content.
_DIALOG_SELECTOR = "[role=dialog],[role=alertdialog],dialog,[aria-modal=true]"
_CONSENT = re.compile(r"cookie|consent", re.I)
BANNER_MAX_CHARS = 3000


# A wall is a short page. A long policy that merely carries a banner is still the policy.
WALL_MAX_CHARS = 12_000
WALLS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (reason, re.compile(pattern, re.I))
    for reason, pattern in (
        (
            "login wall",
            r"you must log ?in to continue|log ?in to continue|"
            r"log (?:in|into) (?:to )?(?:facebook|instagram|your account)|"
            r"see more on (?:facebook|instagram)|create new account",
        ),
        (
            "browser not supported",
            r"not available on this browser|"
            r"get one of the browsers below|update your browser",
        ),
        (
            "page unavailable",
            r"this page isn'?t available|this content isn'?t available|"
            r"the link you followed may be broken|page not found|"
            r"something went wrong",
        ),
        (
            "rate limited",
            r"you'?re temporarily blocked|please wait a few minutes|"
            r"too many requests|checkpoint",
        ),
        ("consent wall", r"allow (?:the )?use of cookies from|accept (?:all )?cookies to continue"),
    )
)


# CommonMark without raw HTML (page text such as "<script>" stays text), plus tables.
_RULES = (
    "blockquote", "code", "fence", "heading", "hr", "lheading", "list", "paragraph",
    "reference", "autolink", "backticks", "emphasis", "entity", "escape", "image", "link",
    "newline", "table",
)  # fmt: skip


@lru_cache(maxsize=1)
def _renderer() -> Callable[[str], str]:
    """markdown-it.rs when installed (12× faster on Meta's policies), else markdown-it-py.
    Both are the same markdown-it: the snapshots of all 916 archived versions of the
    watched pages are byte-identical either way (tests/test_extract_normalize.py)."""
    try:
        import markdown_it_pyrs
    except ImportError:  # pragma: no cover - a platform without its wheels
        return python_renderer()
    fast = markdown_it_pyrs.MarkdownIt("zero").enable_many(list(_RULES))  # type: ignore[arg-type]
    render: Callable[[str], str] = fast.render
    return render


@lru_cache(maxsize=1)
def python_renderer() -> Callable[[str], str]:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    render: Callable[[str], str] = md.render
    return render


def markdown_to_html(text: str, render: Callable[[str], str] | None = None) -> str:
    """Render archived Markdown text (Open Terms Archive versions) to HTML."""
    html = (render or _renderer())(text)
    # Archived tables keep line breaks inside cells as literal <br>; only those become tags.
    return f"<html><body>{_ESCAPED_BR.sub('<br>', html)}</body></html>"


def looks_like_markdown(content: str, content_type: str | None = None, name: str = "") -> bool:
    if content_type and ("markdown" in content_type or content_type.startswith("text/plain")):
        return True
    if name.endswith((".md", ".markdown", ".txt")):
        return True
    if name.endswith((".html", ".htm")):
        return False
    head = content.lstrip()[:512].lower()
    return not head.startswith("<") and "<html" not in head and "<body" not in head


_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))


def charset_of(data: bytes, content_type: str | None) -> str:
    """The page's encoding: the HTTP header's, else a byte-order mark's, else the one a
    `<meta>` in the first 4 KB declares, else UTF-8 when the bytes are valid UTF-8, else
    windows-1252 (what browsers assume for a Western page that declares nothing)."""
    import codecs

    candidates: list[str] = []
    if content_type and "charset=" in content_type.lower():
        candidates.append(content_type.lower().split("charset=", 1)[1].split(";")[0].strip(" \"'"))
    for bom, name in _BOMS:
        if data.startswith(bom):
            candidates.append(name)
    m = _META_CHARSET.search(data[:4096])
    if m:
        candidates.append(m.group(1).decode("ascii", "replace"))
    for name in candidates:
        try:
            found = codecs.lookup(name).name
        except LookupError:
            continue
        # a page that says latin-1 means windows-1252, as every browser reads it
        return "cp1252" if found in ("latin_1", "iso8859-1", "ascii") else found
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8"


def decode(data: bytes, content_type: str | None) -> str:
    """The page's text, decoded as `charset_of` says; undecodable bytes become U+FFFD."""
    charset = charset_of(data, content_type)
    text = data.decode(charset, errors="replace")
    return text[1:] if text.startswith("\ufeff") else text


MAX_DEPTH = 512  # elements nested in one another; Meta's pages reach about 35
# Lexbor's tree building costs time in proportion to the depth for every element (100,000
# nested <div>s take 45 s), and extraction walks the tree recursively. A page with fewer
# than this many tags cannot be deep enough to be slow to parse; deeper ones are measured
# on the raw HTML first, and every parsed page is measured once more by a selector.
_SCAN_ABOVE = 20_000
_DEEP_SELECTOR = " > ".join(["*"] * (MAX_DEPTH + 1))
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]*)")
_RAW_TEXT = re.compile(
    r"<!--.*?(?:-->|$)|<(script|style|textarea|title|xmp|iframe|noembed|noframes|noscript|plaintext)\b.*?(?:</\1\s*>|$)",
    re.I | re.S,
)
# Void elements have no content; these close themselves when a sibling starts (<p><p>),
# so they never nest unboundedly without an element counted here between them.
_VOID = "area base br col embed hr img input link meta param source track wbr keygen"
_IMPLIED_END = "p li dt dd option optgroup rb rt rp rtc tr td th thead tbody tfoot colgroup caption"
_NOT_NESTING = frozenset(f"{_VOID} {_IMPLIED_END}".split())


def _too_deep(html: str) -> bool:
    """Whether the raw HTML nests elements more than MAX_DEPTH deep, by a stack of tag
    names (no recursion). An end tag closes up to its open element, as a parser does; a
    stray one is ignored. Used only on pages too large for the parse to be cheap anyway."""
    stack: list[str] = []
    for m in _TAG.finditer(_RAW_TEXT.sub(" ", html)):
        closing, name = m.group(1), m.group(2).lower()
        if name in _NOT_NESTING:
            continue
        if not closing:
            stack.append(name)
            if len(stack) > MAX_DEPTH:
                return True
        elif stack and stack[-1] == name:
            stack.pop()
        elif name in stack:
            del stack[len(stack) - 1 - stack[::-1].index(name) :]
    return False


def _depth_error() -> ExtractionError:
    return ExtractionError(
        f"page nested deeper than {MAX_DEPTH} levels: not a real page (a hostile or broken "
        "server?); nothing was extracted"
    )


def _drop_consent_banner(tree: LexborHTMLParser) -> bool:
    """Remove a cookie or consent dialog shown over the page, and say whether the page behind
    it was hidden with aria-hidden (what a modal dialog does while it is open: the page is
    there, on screen, hidden only from screen readers). Meta's AI terms, fetched without a
    browser, come so: the terms in `<div id=scrollview aria-hidden=true>` behind the dialog.
    Only when the page behind holds more text than the banner does the banner go; a page
    that is little more than the dialog stays a consent wall."""
    banners: list[LexborNode] = []
    inside: set[int] = set()
    for dialog in tree.css(_DIALOG_SELECTOR):
        if dialog.mem_id in inside:
            continue  # within a banner already found
        text = fold_ws(dialog.text(separator=" "))
        if len(text) <= BANNER_MAX_CHARS and _CONSENT.search(text):
            banners.append(dialog)
            inside.update(n.mem_id for n in dialog.traverse())
    if not banners:
        return False
    banner_chars = sum(len(fold_ws(b.text(separator=" "))) for b in banners)
    behind = sum(
        len(fold_ws(n.text(separator=" ")))
        for n in tree.css(_ARIA_HIDDEN)
        if n.mem_id not in inside
    )
    if behind <= banner_chars:
        return False
    for banner in banners:
        banner.decompose()
    return True


class Document:
    """A parsed page. Scripts and styles are stripped once, at parse time."""

    def __init__(self, html: str, url: str = "", base_url: str | None = None):
        self.url = url
        self.base_url = base_url or url
        if html.count("<") > _SCAN_ABOVE and _too_deep(html):
            raise _depth_error()
        self.tree = LexborHTMLParser(html)
        # (html, head and body may be implied: fewer tags than this cannot be too deep)
        if html.count("<") > MAX_DEPTH - 3 and self.tree.css_first(_DEEP_SELECTOR) is not None:
            raise _depth_error()
        self.tree.strip_tags(["script", "style", "noscript", "template"])
        hidden = _HIDDEN_SELECTOR
        if ("dialog" in html or "aria-modal" in html) and _drop_consent_banner(self.tree):
            hidden = _HIDDEN_BY_STYLE  # the page behind the banner is the page
        # Hidden elements are removed up front, so the walk need not inspect attributes.
        for node in self.tree.css(hidden):
            node.decompose()

    @classmethod
    def from_content(
        cls,
        content: str,
        url: str = "",
        base_url: str | None = None,
        content_type: str | None = None,
        name: str = "",
    ) -> Document:
        if looks_like_markdown(content, content_type, name):
            content = markdown_to_html(content)
        return cls(content, url, base_url)

    @cached_property
    def title(self) -> str:
        node = self.tree.css_first("title")
        return fold_ws(node.text()) if node else ""

    @cached_property
    def text(self) -> str:
        """The visible text of the whole page, whitespace folded."""
        body = self.tree.body or self.tree.root
        return fold_ws(body.text(separator=" ")) if body else ""

    @cached_property
    def folded(self) -> str:
        """The page text with quotes and spaces folded, lower-cased: for phrase checks."""
        return fold_chars(self.text).lower()  # self.text is already whitespace-folded

    def root(self, selectors: Iterable[str]) -> LexborNode:
        for selector in selectors:
            node = self.tree.css_first(selector)
            if node is not None:
                return node
        raise ExtractionError(f"section not found: no element matches root {list(selectors)}")


def anchor_matches(rule: str, anchor: str) -> bool:
    return anchor == rule or anchor.endswith("-" + rule)
