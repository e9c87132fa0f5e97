"""Sentence and word level differences between two snapshots, with diff-match-patch.

Snapshots hold one sentence per line, so a line diff finds the changed sentences; a removed
and an added sentence that resemble each other are paired as one modified sentence, and
the pair gets a word-level diff with semantic clean-up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from diff_match_patch import diff_match_patch

from .models import ChangeKind

EQUAL, INSERT, DELETE = 0, 1, -1
_HEADING = re.compile(r"^(#{1,6}) (.*)$")
_WORD = re.compile(r"\w+|[^\w\s]+|\s+")


NOTE = "> "  # an annotation's or expanded sub-page's line (see normalize.NOTE)


@dataclass
class Line:
    text: str  # the sentence, without list marker or indent
    section: str  # the heading path above it, " › "-joined
    heading: bool = False
    item: bool = False  # part of a list item: a fragment read under its heading
    note: bool = False  # from an annotation or expanded sub-page


@dataclass
class Change:
    kind: ChangeKind
    section: str
    old: str | None = None
    new: str | None = None
    words: list[tuple[int, str]] = field(default_factory=list)  # word diff for modified
    categories: list[str] = field(default_factory=list)
    item: bool = False  # a list item's sentence
    heading: bool = False  # a heading appeared or vanished (old/new hold its text)

    @property
    def text(self) -> str:
        return self.new if self.new is not None else (self.old or "")

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "section": self.section,
            "old": self.old,
            "new": self.new,
            "categories": list(self.categories),
            "heading": self.heading,
        }


def parse_lines(markdown: str) -> list[Line]:
    """Sentence and heading lines of a snapshot, each with its section path."""
    out: list[Line] = []
    path: list[tuple[int, str]] = []
    for raw in markdown.splitlines():
        note = raw.startswith(NOTE)
        if note:
            raw = raw[len(NOTE) :]
        stripped = raw.strip()
        if not stripped or stripped.startswith("<!--"):
            continue
        m = _HEADING.match(stripped)
        if m:
            level = len(m.group(1))
            while path and path[-1][0] >= level:
                path.pop()
            path.append((level, m.group(2)))
            out.append(
                Line(m.group(2), " › ".join(t for _, t in path[:-1]), heading=True, note=note)
            )
            continue
        item = stripped.startswith("- ") or raw.startswith("  ")
        if stripped.startswith("- "):
            stripped = stripped[2:]
        elif stripped.startswith("\\"):
            stripped = stripped[1:]
        out.append(Line(stripped, " › ".join(t for _, t in path), item=item, note=note))
    return out


def _dmp() -> diff_match_patch:
    dmp = diff_match_patch()
    dmp.Diff_Timeout = 2.0
    return dmp


def _line_ops(old: list[Line], new: list[Line]) -> list[tuple[int, list[Line]]]:
    """A line-level diff: runs of equal, deleted and inserted lines."""
    table: dict[str, str] = {}

    def encode(lines: list[Line]) -> str:
        chars = []
        for line in lines:
            key = ("#" if line.heading else "") + line.text
            if key not in table:
                table[key] = chr(len(table) + 0x100)
            chars.append(table[key])
        return "".join(chars)

    a, b = encode(old), encode(new)
    dmp = _dmp()
    diffs = dmp.diff_main(a, b, False)
    ops: list[tuple[int, list[Line]]] = []
    ia = ib = 0
    for op, chunk in diffs:
        n = len(chunk)
        if op == EQUAL:
            ops.append((EQUAL, new[ib : ib + n]))
            ia += n
            ib += n
        elif op == DELETE:
            ops.append((DELETE, old[ia : ia + n]))
            ia += n
        else:
            ops.append((INSERT, new[ib : ib + n]))
            ib += n
    return ops


def similarity(a: str, b: str) -> float:
    """Share of words the two sentences have in common (0..1)."""
    wa, wb = a.lower().split(), b.lower().split()
    if not wa or not wb:
        return 0.0
    common = 0
    pool: dict[str, int] = {}
    for w in wa:
        pool[w] = pool.get(w, 0) + 1
    for w in wb:
        if pool.get(w, 0) > 0:
            pool[w] -= 1
            common += 1
    return 2 * common / (len(wa) + len(wb))


def word_diff(old: str, new: str) -> list[tuple[int, str]]:
    """Word-level diff (whole words, not characters), semantically cleaned up."""
    table: dict[str, str] = {}

    def encode(text: str) -> str:
        out = []
        for token in _WORD.findall(text):
            if token not in table:
                table[token] = chr(len(table) + 0x100)
            out.append(table[token])
        return "".join(out)

    a, b = encode(old), encode(new)
    reverse = {v: k for k, v in table.items()}
    dmp = _dmp()
    diffs = dmp.diff_main(a, b, False)
    dmp.diff_cleanupSemantic(diffs)
    merged: list[tuple[int, str]] = []
    for op, chunk in diffs:
        text = "".join(reverse[c] for c in chunk)
        if merged and merged[-1][0] == op:
            merged[-1] = (op, merged[-1][1] + text)
        else:
            merged.append((op, text))
    return merged


def _pair(removed: list[Line], added: list[Line]) -> list[Change]:
    """Pair each removed sentence with the most similar added one (in order), if close enough."""
    changes: list[Change] = []
    used: set[int] = set()
    start = 0
    for r in removed:
        best, best_score = -1, 0.5
        for j in range(start, len(added)):
            if j in used:
                continue
            score = similarity(r.text, added[j].text)
            if score > best_score:
                best, best_score = j, score
        if best >= 0:
            # sentences added before the partner come first, in document order
            for j in range(start, best):
                if j not in used:
                    changes.append(
                        Change(
                            ChangeKind.ADDED,
                            added[j].section,
                            new=added[j].text,
                            item=added[j].item,
                        )
                    )
                    used.add(j)
            a = added[best]
            used.add(best)
            start = best + 1
            words = word_diff(r.text, a.text)
            changes.append(
                Change(
                    ChangeKind.MODIFIED, a.section, old=r.text, new=a.text, words=words, item=a.item
                )
            )
        else:
            changes.append(Change(ChangeKind.REMOVED, r.section, old=r.text, item=r.item))
    for j, a in enumerate(added):
        if j not in used:
            changes.append(Change(ChangeKind.ADDED, a.section, new=a.text, item=a.item))
    return changes


def diff_snapshots(old: str, new: str) -> list[Change]:
    """The changed sentences between two snapshot texts, in document order."""
    old_lines, new_lines = parse_lines(old), parse_lines(new)
    ops = _line_ops(old_lines, new_lines)
    changes: list[Change] = []
    i = 0
    while i < len(ops):
        op, _lines = ops[i]
        if op == EQUAL:
            i += 1
            continue
        removed: list[Line] = []
        added: list[Line] = []
        while i < len(ops) and ops[i][0] != EQUAL:
            (removed if ops[i][0] == DELETE else added).extend(ops[i][1])
            i += 1
        heads_removed = [x for x in removed if x.heading]
        heads_added = [x for x in added if x.heading]
        body = _pair([x for x in removed if not x.heading], [x for x in added if not x.heading])
        for h in heads_removed:
            changes.append(Change(ChangeKind.REMOVED, h.section, old=h.text, heading=True))
        for h in heads_added:
            changes.append(Change(ChangeKind.ADDED, h.section, new=h.text, heading=True))
        changes.extend(body)
    return changes


def removed_added(changes: list[Change]) -> tuple[list[str], list[str]]:
    """Flat lists of removed and added sentences (a modified sentence counts on both sides)."""
    removed = [c.old for c in changes if c.old is not None and not c.heading]
    added = [c.new for c in changes if c.new is not None and not c.heading]
    return removed, added
