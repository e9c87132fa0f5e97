"""Find the AI-training sections of a page.

A page (raw HTML, or archived Markdown rendered to HTML) becomes a flat list of blocks:
headings, paragraphs, list items and table cells, each with the ids of the elements around
it. Sections are then picked by three kinds of rule, never by Meta's obfuscated class names:

* anchors: an element id (exact, or its stable tail such as `ObjectYouHaveThe` for
  `7.subpage.11-ObjectYouHaveThe`, whose number moves when Meta inserts a section);
* headings: a heading whose text matches brings its whole section;
* phrases: a paragraph or list item that matches is kept under its headings; a heading
  that matches brings its section.

Meta's legal-bases tables title each row with a short plain paragraph ("Developing and
improving AI at Meta"), in the raw HTML and in archived text alike. Such title-like
paragraphs act as headings below every real heading, so a row can be kept whole.

Older archived text (2022–2025) holds the same rows as Markdown tables: the first cell of a
row is its title, and a row whose only filled cell is the first (`| ### For people over the
age of majority … | | |`) is a group heading: the scope of the rows below it, up to the next
group or the end of the table. A row's section ends with the row, a group's with the table,
so nothing after a table reads as part of its last row.

A row is an AI row when its title or its first column (what is done and why) matches a rule;
an AI row is kept whole, all its columns, with its group heading as its scope.
"""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache

from selectolax.lexbor import LexborNode

from .errors import ExtractionError
from .models import ExtractRules
from .page import Document, anchor_matches, fold_chars, fold_ws

HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
LEAF_BLOCKS = {
    "p",
    "li",
    "td",
    "th",
    "dt",
    "dd",
    "pre",
    "blockquote",
    "caption",
    "figcaption",
    "summary",
    "address",
}
INLINE = {
    "a",
    "span",
    "b",
    "strong",
    "em",
    "i",
    "u",
    "s",
    "sup",
    "sub",
    "small",
    "code",
    "abbr",
    "time",
    "mark",
    "label",
    "font",
    "br",
    "q",
    "cite",
    "bdi",
    "bdo",
    "wbr",
    "data",
    "var",
    "kbd",
    "samp",
    "ins",
    "del",
    "-text",
}
SKIP = {
    "script",
    "style",
    "noscript",
    "template",
    "svg",
    "iframe",
    "head",
    "button",
    "select",
    "input",
    "textarea",
    "object",
    "video",
    "audio",
    "canvas",
    "img",
    "picture",
    "source",
    "meta",
    "link",
    "dialog",
    "-comment",
}
PSEUDO_LEVEL = 7  # a title-like paragraph: below every real heading
GROUP_LEVEL = 8  # a table's group heading row (`| ### For people over the age of majority |`)
ROW_LEVEL = 9  # a table row's title (its first cell), below the table's group headings

_WS = re.compile(r"\s+")
# Inline elements that generated pages (React) also use as wrappers around blocks.
_WRAPPERS = {"span", "label", "font"}
# Containers that may hold blocks inside a list item or table cell.
_NESTING = HEADINGS | LEAF_BLOCKS | {"div", "ul", "ol", "table", "section", "dl", "article"}
_NESTING_SELECTOR = ",".join(sorted(_NESTING))
_PLAIN_INLINE = {"a", "b", "strong", "em", "i", "u", "br", "sup", "sub", "small", "code"}
BULLET = re.compile(r"^[*•]\s+")
_TITLE_END = re.compile(r"[.:;,!?)\]]$")
_QUESTION = re.compile(r"^(?:What|How|Why|Who|When|Where|Which)\b[^.:;!?]{8,70}\?$")
_GROUP_MARK = re.compile(r"^#{1,6}\s+")  # `### For people …` written inside a table cell
_TABLE_PARTS = {"thead", "tbody", "tfoot"}


@dataclass(slots=True)
class Block:
    kind: str  # h, p, li, cell
    level: int  # heading level (7 for a title-like paragraph); list depth for li
    text: str  # plain text, whitespace folded
    nodes: list[LexborNode]  # rendered as inline content
    anchors: tuple[str, ...]  # ids of the enclosing elements, outermost first
    pseudo: bool = False
    # for a heading whose scope is an element (a table row, a table's group): the index of
    # the first block after that scope; its section ends there at the latest
    end: int | None = None
    # for a table row's title: the index of the first block after the row's first column
    first_column_end: int | None = None
    column: int = 0  # the table cell a block was read from (1, 2, …), 0 outside data tables
    rule_after: bool = False  # a horizontal rule follows (it separates a row's columns)
    scope: bool = False  # a line under a row's title saying whom the row applies to
    note: bool = False  # part of an annotation or expanded sub-page, not of the main text
    note_start: bool = False  # an annotation's number: a new annotation begins here

    @property
    def is_heading(self) -> bool:
        return self.kind == "h"


def page_blocks(doc: Document, selectors: Iterable[str] = ("body",)) -> list[Block]:
    """The page below the first matching root, as a flat list of blocks."""
    root = doc.root(selectors)
    out: list[Block] = []
    rid = root.id
    _walk(root, (rid,) if rid else (), out, 0, None)
    _mark_title_paragraphs(out)
    return out


def _emit(
    out: list[Block], kind: str, level: int, nodes: list[LexborNode], anchors: tuple[str, ...]
) -> None:
    if len(nodes) == 1:  # the common case: one element
        node = nodes[0]
        text = fold_ws((node.text_content or "") if node.tag == "-text" else node.text())
    else:
        text = fold_ws(
            "".join((n.text_content or "") if n.tag == "-text" else n.text() for n in nodes)
        )
    if text:
        out.append(Block(kind, level, text, nodes, anchors))


def _walk(
    node: LexborNode, anchors: tuple[str, ...], out: list[Block], depth: int, first_kind: str | None
) -> None:
    """Append the blocks under `node` in document order.

    `first_kind` names the block that inline content directly inside `node` forms (an
    `li` holding a nested list contributes its own text as a list item).

    This runs once for every container of the page, and its loop once for every child:
    the common blocks (paragraphs, list items, headings) are made right here.
    """
    loose: list[LexborNode] = []
    loose_kind = first_kind or "p"
    notes_from: int | None = None  # annotations run from their first number to the next h1
    append = out.append
    for child in node.iter(include_text=True):
        tag = child.tag
        if tag in INLINE:
            if tag not in _WRAPPERS or not _holds_blocks(child):
                loose.append(child)
                continue
        elif tag in SKIP:
            continue
        if loose:
            if len(loose) > 1 or loose[0].tag != "-text" or _has_text(loose[0]):
                _emit(out, loose_kind, depth, loose, anchors)
            loose = []  # (a lone whitespace text node between blocks makes no block)
        cid = child.id
        inner = (*anchors, cid) if cid else anchors
        if tag == "p":
            text = fold_ws(child.text())
            if text:
                block = Block("p", depth, text, [child], inner)
                append(block)
                if len(text) <= 3 and _ANNOTATION_NUMBER.match(text):
                    block.note_start = True  # archived text: "21" alone, then its note
                    if notes_from is None:
                        notes_from = len(out) - 1
            continue
        if tag == "li":
            if _holds_blocks(child):
                _walk(child, inner, out, depth + 1, "li")
            else:
                text = fold_ws(child.text())
                if text:
                    append(Block("li", depth + 1, text, [child], inner))
            continue
        if tag in HEADINGS:
            if tag == "h1" and notes_from is not None:
                _mark_notes(out, notes_from)
                notes_from = None
            text = fold_ws(child.text())
            if text:
                append(Block("h", int(tag[1]), text, [child], inner))
            continue
        start = len(out)
        if tag in LEAF_BLOCKS:
            kind = "cell" if tag in ("td", "th") else "p"
            if _holds_blocks(child):
                _walk(child, inner, out, depth, kind)
            elif kind == "cell" and child.css_first("br") is not None:
                _emit_lines(out, child, inner, depth)
            else:
                _emit(out, kind, depth, [child], inner)
        elif tag == "table":
            _walk_table(child, inner, out, depth)
        elif tag == "hr":
            if out:
                out[-1].rule_after = True
        elif tag == "tr":  # a row outside any table element (malformed markup)
            _walk_row(child, inner, out, depth)
        else:
            _walk(child, inner, out, depth, None)
            if cid and cid.startswith("annotation-") and len(out) > start:
                out[start].note_start = True  # the printable page: <div id=annotation-21>
                notes_from = start if notes_from is None else notes_from
    if loose:
        _emit(out, loose_kind, depth, loose, anchors)
    if notes_from is not None:
        _mark_notes(out, notes_from)


def _has_text(node: LexborNode) -> bool:
    text = node.text_content
    return text is not None and text != "" and not text.isspace()  # what fold_ws removes


_ANNOTATION_NUMBER = re.compile(r"^\d{1,3}$")


def _mark_notes(out: list[Block], start: int) -> None:
    for block in out[start:]:
        block.note = True


def _table_rows(table: LexborNode) -> list[LexborNode]:
    """The rows of this table (not of the tables nested in its cells), in order."""
    rows = []
    for child in table.iter():
        if child.tag == "tr":
            rows.append(child)
        elif child.tag in _TABLE_PARTS:
            rows += [r for r in child.iter() if r.tag == "tr"]
    return rows


def _walk_row(
    row: LexborNode, anchors: tuple[str, ...], out: list[Block], depth: int
) -> list[tuple[str, int, int]]:
    """Append a row's blocks; returns (cell tag, first block, end) for each of its cells."""
    rid = row.id
    inner = (*anchors, rid) if rid else anchors
    cells: list[tuple[str, int, int]] = []
    for cell in row.iter():
        if cell.tag not in ("td", "th"):
            if cell.tag not in SKIP:
                _walk(cell, inner, out, depth, None)
            continue
        start = len(out)
        _walk_cell(cell, inner, out, depth)
        cells.append((cell.tag, start, len(out)))
    return cells


def _walk_cell(cell: LexborNode, anchors: tuple[str, ...], out: list[Block], depth: int) -> None:
    cid = cell.id
    inner = (*anchors, cid) if cid else anchors
    if _holds_blocks(cell):
        _walk(cell, inner, out, depth, "cell")
    elif cell.css_first("br") is not None:
        _emit_lines(out, cell, inner, depth)
    else:
        _emit(out, "cell", depth, [cell], inner)


def _walk_table(table: LexborNode, anchors: tuple[str, ...], out: list[Block], depth: int) -> None:
    """A table's rows, appended to `out`.

    In a data row (plain cells, not a layout table holding the page) the first cell titles
    the row, and the labels of the header row ("Legitimate interests relied on") head the
    other cells, as the labelled columns of a row laid out as blocks do. A row with only its
    first cell filled titles the rows below it (a group)."""
    rows: list[tuple[list[Block], list[tuple[str, int, int]]]] = []
    for row in _table_rows(table):
        row_out: list[Block] = []
        rows.append((row_out, _walk_row(row, anchors, row_out, depth)))
    if not _is_data_table(rows):
        for blocks, _ in rows:
            out += blocks
        return
    grouped = any(_is_group(cells) for _, cells in rows)
    labels: dict[int, list[Block]] = {}
    groups: list[Block] = []
    for blocks, cells in rows:
        if not blocks:
            continue
        for block in blocks[1:]:
            if block.is_heading:  # a heading inside a cell is part of the row
                block.kind, block.level = "p", depth
        if len(cells) > 1 and all(tag == "th" for tag, _, _ in cells):
            # column labels: each later row's cells are headed by them
            labels = {n: blocks[a:b] for n, (_, a, b) in enumerate(cells, start=1) if b > a}
            continue
        head = blocks[0]
        head.kind, head.pseudo = "h", True
        if grouped and _is_group(cells):
            head.level, head.column = GROUP_LEVEL, 1
            groups.append(head)
            out.append(head)
            continue
        # without groups a row ranks as a title paragraph does (the rows of a plain table)
        head.level = ROW_LEVEL if grouped else PSEUDO_LEVEL
        for number, (_, a, b) in enumerate(cells, start=1):
            if b == a:
                continue
            if number > 1:
                for label in labels.get(number, []):
                    out.append(
                        Block(
                            "p", label.level, label.text, label.nodes, label.anchors, column=number
                        )
                    )
            for block in blocks[a:b]:
                block.column = number
                out.append(block)
            if head.first_column_end is None:  # the first filled cell says what the row does
                head.first_column_end = len(out)
        head.end = len(out)
    for group in groups:
        group.end = len(out)


def _is_data_table(rows: list[tuple[list[Block], list[tuple[str, int, int]]]]) -> bool:
    """A table of rows and columns, not a table that lays out a page: some row has two
    cells or more, and no cell holds a page's top headings."""
    if not any(len(cells) > 1 for _, cells in rows):
        return False
    return not any(b.kind == "h" and b.level <= 2 for blocks, _ in rows for b in blocks)


def _is_group(cells: list[tuple[str, int, int]]) -> bool:
    """A row whose only text is one line in its first cell (`| ### For people … | | |`, or
    one cell spanning the row: `<th colspan=3><h3>For people …</h3></th>`)."""
    if not cells or cells[0][2] - cells[0][1] != 1:
        return False
    return all(end == start for _, start, end in cells[1:])


def _emit_lines(out: list[Block], cell: LexborNode, anchors: tuple[str, ...], depth: int) -> None:
    """A table cell whose paragraphs and bullets are separated by <br> (archived tables):
    each line becomes its own block, and a line starting with a bullet a list item."""
    run: list[LexborNode] = []
    for node in [*cell.iter(include_text=True), None]:
        if node is not None and node.tag != "br":
            run.append(node)
            continue
        if run:
            first = (run[0].text_content or "") if run[0].tag == "-text" else run[0].text()
            kind = "li" if BULLET.match(first.lstrip()) else "cell"
            _emit(out, kind, depth + 1 if kind == "li" else depth, run, anchors)
        run = []


def _holds_blocks(node: LexborNode) -> bool:
    """Whether block elements sit anywhere inside (React pages wrap lists and divs in spans)."""
    plain = True
    for c in node.iter():
        tag = c.tag
        if tag in _NESTING:
            return True
        if tag not in _PLAIN_INLINE:
            plain = False
    # Text, links and emphasis only: no need to search deeper (the common case, and fast).
    if plain:
        return False
    # A selector matches the element it is run from too: a list item or a cell with any
    # other markup inside matches itself, with no search (most of a page's blocks).
    return node.tag in _NESTING or node.css_first(_NESTING_SELECTOR) is not None


def _title_like(block: Block) -> bool:
    """A short plain paragraph that titles what follows (a legal-bases table row)."""
    text = block.text
    if block.kind != "p" or len(text) > 90 or len(text) < 4:
        return False
    # archived text sometimes has its section questions as plain paragraphs
    if _TITLE_END.search(text) and not _QUESTION.match(text):
        return False
    if not text[0].isupper() or " " not in text or text.startswith("ⓘ"):
        return False
    for node in block.nodes:
        if node.tag == "-text":
            continue
        links = node.css("a") if node.tag != "a" else [node]
        if sum(len(a.text()) for a in links) >= len(text) * 0.6:
            return False  # a link line ("Information from partners, vendors …")
        bold = node.css("b,strong") if node.tag not in ("b", "strong") else [node]
        if sum(len(b.text()) for b in bold) >= len(text) * 0.9:
            return False  # a bold label
    return True


# Whom a row applies to, written under its title: "For registered users of the Meta
# Products", "ⓘ For all registered users, including those under the age of majority",
# "If we cannot associate you or your device with a registered user".
SCOPE = re.compile(r"^(?:ⓘ\s*)?(?:For|If)\s(?!example\b|instance\b)")


def _mark_title_paragraphs(blocks: list[Block]) -> None:
    previous: Block | None = None
    for block in blocks:
        if block.kind == "p" and not block.column:
            text = block.text
            if previous is not None and len(text) <= 300 and SCOPE.match(text) and text[-1] != ":":
                block.scope = True  # whom the row titled just above applies to: not a title
            elif _title_like(block):
                block.kind, block.level, block.pseudo = "h", PSEUDO_LEVEL, True
        previous = block if (block.pseudo or block.scope) else None


def section_ends(blocks: list[Block]) -> list[int]:
    """For each heading, the index where its section ends: the next heading of the same or
    a higher rank, or the end of the element that scopes it (a table row, a table)."""
    ends = [i + 1 for i in range(len(blocks))]
    stack: list[int] = []
    for i, block in enumerate(blocks):
        if block.kind != "h":  # (is_heading, without a call per block)
            continue
        while stack and blocks[stack[-1]].level >= block.level:
            ends[stack.pop()] = i
        stack.append(i)
    for i in stack:
        ends[i] = len(blocks)
    for i, block in enumerate(blocks):
        if block.end is not None and block.end < ends[i]:
            ends[i] = block.end
    # Annotations are not part of the subsection they follow, and each ends where the next
    # begins: below the top level, a heading's section stops at the next annotation.
    next_break = len(blocks)
    for i in range(len(blocks) - 1, -1, -1):
        block = blocks[i]
        if block.kind == "h" and next_break < ends[i] and (block.level > 1 or block.note):
            ends[i] = next_break
        if block.note_start or (block.note and not (i and blocks[i - 1].note)):
            next_break = i
    return ends


def _is_label(block: Block, after_rule: bool = False) -> bool:
    """A column's label in a row laid out as blocks: a paragraph ending with a colon that is
    bold ("**Legitimate interests relied on:**") or opens a part after a rule."""
    text = block.text
    if block.kind != "p" or not text.endswith(":") or len(text) > 300:
        return False
    if after_rule:
        return True
    bold = 0
    for node in block.nodes:
        if node.tag in ("b", "strong"):
            bold += len(node.text())
        elif node.tag != "-text":
            bold += sum(len(b.text()) for b in node.css("b,strong"))
    return bold >= len(text) * 0.9


def _first_columns(blocks: list[Block], ends: list[int]) -> dict[int, int]:
    """For each block in the first column of a row (what is done and why), the row's title.

    A table row's first column is its first cell. A row laid out as blocks (a title
    paragraph, then labelled columns) has its first column up to its second label."""
    out: dict[int, int] = {}
    for i, block in enumerate(blocks):
        if not (block.pseudo and block.is_heading):
            continue
        end = block.first_column_end
        if end is None and block.level == PSEUDO_LEVEL and block.end is None:
            labels = [
                j for j in range(i + 1, ends[i]) if _is_label(blocks[j], blocks[j - 1].rule_after)
            ]
            end = labels[1] if len(labels) > 1 else None
            if labels:
                # the last column lists (links, items); prose after it is not the row's
                for j in range(labels[-1] + 1, ends[i]):
                    if _is_prose(blocks[j]) and blocks[j - 1].kind in ("li", "p"):
                        ends[i] = j
                        break
        if end is not None:
            for j in range(i + 1, min(end, ends[i])):
                out[j] = i
    return out


def _keep_lead_ins(blocks: list[Block], keep: bytearray) -> None:
    """A kept list item brings the sentence that opens its list ("To decide what to show
    you and others, we use information that we have about you, including:"): an item such
    as "Interactions with AI at Meta" says nothing without it."""
    for i, block in enumerate(blocks):
        if not keep[i] or block.kind != "li":
            continue
        j = i
        while j > 0 and blocks[j - 1].kind == "li":
            j -= 1
        lead = j - 1
        if (
            lead >= 0
            and not keep[lead]
            and blocks[lead].kind == "p"
            and blocks[lead].text.endswith(":")
            and blocks[lead].note == block.note
        ):
            keep[lead] = 1


def _is_prose(block: Block) -> bool:
    """A paragraph of running text: long, ending like a sentence, mostly not a link."""
    text = block.text
    if block.kind != "p" or len(text) < 120 or text.endswith(":") or block.scope:
        return False
    linked = 0
    for node in block.nodes:
        if node.tag == "a":
            linked += len(node.text())
        elif node.tag != "-text":
            linked += sum(len(a.text()) for a in node.css("a"))
    return linked < len(text) * 0.5


def _is_navigation(block: Block) -> bool:
    """A block made of links only: a table of contents or a navigation bar."""
    links = []
    for node in block.nodes:
        if node.tag == "a":
            links.append(node)
        elif node.tag != "-text":
            links.extend(node.css("a"))
    if not links:
        return False
    if sum(len(a.text()) for a in links) < len(block.text) * 0.8:
        return False
    hrefs = [a.attributes.get("href") or "" for a in links]
    # a table of contents, or a bar of links (a site footer)
    return len(links) >= 3 or all(h.startswith(("#", "?")) for h in hrefs)


@dataclass
class Extraction:
    """The kept blocks, in document order, with the headings that give them context."""

    blocks: list[Block]
    kept: list[int]  # indices into blocks
    paths: list[tuple[int, ...]]  # for each kept block, the heading indices above it
    matched: dict[str, list[str]] = field(default_factory=dict)

    def __iter__(self) -> Iterator[tuple[tuple[int, ...], Block]]:
        for i, path in zip(self.kept, self.paths, strict=True):
            yield path, self.blocks[i]


def _alternation(patterns: tuple[re.Pattern[str], ...]) -> re.Pattern[str] | None:
    """One pattern that matches where any of `patterns` does: a cheap first test per block."""
    if not patterns:
        return None
    if len({p.flags for p in patterns}) == 1:
        return re.compile("|".join(f"(?:{p.pattern})" for p in patterns), patterns[0].flags)
    return re.compile(
        "|".join(
            f"(?:{p.pattern})" if p.flags & re.I == 0 else f"(?i:{p.pattern})" for p in patterns
        )
    )


_LEADING_BOUNDARY = re.compile(r"\\b([a-z]{2,})")
_CASE_ESCAPE = re.compile(r"\\[A-Z]|\(\?[a-zA-Z]*-")


def _top_level_bar(source: str) -> bool:
    """Whether the pattern is an alternation at its top level (`a|b`, not `a(?:b|c)`)."""
    depth, i, in_class = 0, 0, False
    while i < len(source):
        c = source[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            return True
        i += 1
    return False


@lru_cache(maxsize=256)
def _lowered(source: str, flags: int) -> re.Pattern[str] | None:
    """The case-sensitive twin of a case-insensitive rule, to run on lower-cased text.

    None when lower-casing could change the rule's meaning (\\B, \\S, \\W, inline flags).
    """
    if not flags & re.IGNORECASE or _CASE_ESCAPE.search(source):
        return None
    source = source.lower()
    m = _LEADING_BOUNDARY.match(source)
    if m and not _top_level_bar(source):
        # `\bai…` cannot use re's fast literal scan; `ai(?<=(?<!\w)ai)…` can, same matches
        word, end = m.group(1), m.end()
        if source[end : end + 1] in ("?", "*", "+", "{"):  # the last letter is quantified
            word, end = word[:-1], end - 1
        if len(word) >= 2:
            source = f"{word}(?<=(?<!\\w){word}){source[end:]}"
    try:
        return re.compile(source, (flags & ~re.IGNORECASE) | re.MULTILINE)
    except re.error:
        return None


def _hits(blocks: list[Block], among: list[int], patterns: tuple[re.Pattern[str], ...]) -> set[int]:
    texts = [blocks[i].text for i in among]
    joined = "\n".join(texts)
    # Lower-cased block by block, the same text as joined.lower() (a line break ends a word
    # for the final sigma too), but most blocks are ASCII, which str.lower() does fast.
    lowered = "\n".join([text.lower() for text in texts])
    starts, pos = [], 0
    for text in texts:
        starts.append(pos)
        pos += len(text) + 1
    found: set[int] = set()
    for pattern in patterns:
        twin = _lowered(pattern.pattern, pattern.flags)
        if twin is None or len(lowered) != len(joined):  # rare: case folding changed lengths
            found.update(i for i, text in zip(among, texts, strict=True) if pattern.search(text))
            continue
        for m in twin.finditer(lowered):
            found.add(among[bisect_right(starts, m.start()) - 1])
    return found


def _candidates(blocks: list[Block], rules: ExtractRules) -> list[int]:
    """Indices of the blocks that may match a heading or phrase rule, in order.

    Python's case-insensitive search is the costliest step of extraction (9 of 20 ms on the
    printable policy, block by block). Each rule runs once instead, case-sensitively, over
    the whole page's lower-cased text, and the blocks it hits are checked with the rule
    itself. A rule that cannot be lower-cased safely is tested block by block.
    """
    found: set[int] = set()
    headings = [i for i, b in enumerate(blocks) if b.kind == "h"]
    for patterns, among in ((rules.phrases, range(len(blocks))), (rules.headings, headings)):
        if patterns:
            found |= _hits(blocks, list(among), patterns)
    return sorted(found)


def extract_sections(doc: Document, rules: ExtractRules) -> Extraction:
    """Keep the blocks the rules select. Raises ExtractionError when nothing matches."""
    blocks = page_blocks(doc, rules.root)
    if not blocks:
        raise ExtractionError(
            f"section not found: the page has no text under {', '.join(rules.root)}"
        )
    ends = section_ends(blocks)
    row_of = _first_columns(blocks, ends)  # also ends a row laid out as blocks at its prose
    keep = bytearray(len(blocks))
    matched: dict[str, set[str]] = {
        "anchors": set(),
        "headings": set(),
        "phrases": set(),
        "sections": set(),
    }

    if rules.anchors:
        hits: dict[tuple[str, ...], list[str]] = {}
        by_id: dict[str, frozenset[str]] = {}  # the rules each id matches
        last: tuple[str, ...] | None = None  # neighbours share their anchors' tuple
        found: list[str] = []
        for i, block in enumerate(blocks):
            if block.anchors is not last:
                last = block.anchors
                cached = hits.get(last)
                if cached is None:
                    matching: set[str] = set()
                    for a in last:
                        rules_of = by_id.get(a)
                        if rules_of is None:
                            rules_of = by_id[a] = frozenset(
                                r for r in rules.anchors if anchor_matches(r, a)
                            )
                        matching |= rules_of
                    cached = hits[last] = [r for r in rules.anchors if r in matching]
                found = cached
            if found:
                keep[i] = 1
                matched["anchors"].update(found)
    candidates = _candidates(blocks, rules)
    any_phrase = _alternation(rules.phrases)
    for i in candidates:
        block = blocks[i]
        text = block.text
        if block.is_heading:
            for pattern in rules.headings:
                if pattern.search(text):
                    keep[i : ends[i]] = b"\x01" * (ends[i] - i)
                    matched["headings"].add(pattern.pattern)
                    matched["sections"].add(text)
                    break
        if any_phrase is None or not any_phrase.search(text):
            continue
        for pattern in rules.phrases:
            if pattern.search(text):
                if block.is_heading:
                    keep[i : ends[i]] = b"\x01" * (ends[i] - i)
                    matched["sections"].add(text)
                elif not _is_navigation(block):
                    keep[i] = 1
                    row = row_of.get(i)
                    if row is not None:  # an AI row: kept whole, all its columns
                        keep[row : ends[row]] = b"\x01" * (ends[row] - row)
                else:
                    break
                matched["phrases"].add(pattern.pattern)
                break

    _keep_lead_ins(blocks, keep)
    if not any(keep):
        wanted = [
            f"anchors {list(rules.anchors)}" if rules.anchors else "",
            f"headings {[p.pattern for p in rules.headings]}" if rules.headings else "",
            f"phrases {[p.pattern for p in rules.phrases]}" if rules.phrases else "",
        ]
        raise ExtractionError(
            "section not found: none of " + ", ".join(w for w in wanted if w) + " matched"
        )

    kept: list[int] = []
    paths: list[tuple[int, ...]] = []
    stack: list[int] = []
    # Only headings, kept blocks and the starts of annotations change or read the stack of
    # headings; the blocks between them are skipped (a scope that ended meanwhile is popped
    # at the next of these all the same: an end that has passed stays passed).
    previous_note = False
    for i, block in enumerate(blocks):
        heading = block.kind == "h"
        note = block.note
        starts_note = block.note_start or (note and not previous_note)
        previous_note = note
        if not (heading or starts_note or keep[i]):
            continue
        while stack and ends[stack[-1]] <= i:  # the scope of a row or group has ended
            stack.pop()
        if starts_note:
            # an annotation reads under its top-level section only, not the subsection it
            # happens to follow
            stack = [h for h in stack if blocks[h].level <= 1 and not blocks[h].note]
        if heading:
            while stack and blocks[stack[-1]].level >= block.level:
                stack.pop()
            stack.append(i)
        if keep[i]:
            kept.append(i)
            paths.append(tuple(stack[:-1]) if heading else tuple(stack))
    record = {k: sorted(v) for k, v in matched.items()}
    if any(b.note_start for b in blocks):
        record["layers"] = ["annotations"]
    record["outline"] = outline(blocks)
    return Extraction(blocks=blocks, kept=kept, paths=paths, matched=record)


def outline(blocks: list[Block]) -> list[str]:
    """Short fingerprints of every heading of the page (folded text), for telling a capture
    that lacks whole sub-pages from a page whose wording changed."""
    return sorted({heading_key(b.text) for b in blocks if b.kind == "h"})


def heading_key(text: str) -> str:
    """A heading's fingerprint in `outline`: its folded, lower-cased text, hashed short."""
    folded = " ".join(fold_chars(text).lower().split())
    return hashlib.blake2s(folded.encode(), digest_size=4).hexdigest()
