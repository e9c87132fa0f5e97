"""Sentence and word level differences between two snapshots, with diff-match-patch.

A snapshot is read as sections: each heading with the sentences under it, and, for a row of
a legal-bases table, the scope label that says whom the row covers ("For all registered
users, including those under the age of majority"), from a line under its title or from
the group heading above it. Differences are found section by section:

* sections are aligned by heading path and scope first; those left over are paired by what
  they say (their sentences, title and scope), so a renamed heading or a table row that is
  now laid out as blocks reads as the same section, changed, not as one removed and one
  added;
* within a pair of sections the sentences are compared line by line, so a sentence that
  leaves one row is "removed from" that row even while an identical sentence stays in
  another: counts are compared, not presence;
* a removed and an added sentence that resemble each other are one modified sentence, with
  a word-level diff;
* the same change in many sections (a sentence added to 17 rows) is one change, with the
  places it touched.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from diff_match_patch import diff_match_patch

from .models import ChangeKind

EQUAL, INSERT, DELETE = 0, 1, -1
NOTE = "> "  # an annotation's or expanded sub-page's line (see normalize.NOTE)
_HEADING = re.compile(r"^(#{1,6}) (.*)$")
_WORD = re.compile(r"\w+|[^\w\s]+|\s+")
_LINK = re.compile(r"\[((?:\\.|[^\]])*)\]\([^)\s]*\)")
# Whom a row applies to (see extract.SCOPE): a group heading or the line under a row title.
SCOPE = re.compile(r"^(?:ⓘ\s*)?(?:For|If)\s(?!example\b|instance\b)")
_SCOPE_MAX = 300
SEPARATOR = " › "


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
    heading: bool = False  # a heading appeared, vanished or was renamed (old/new: its text)
    scope: str = ""  # whom the section's row applies to, when it says
    note: bool = False  # in an annotation or expanded sub-page
    # every section where this same change happened (the first is `section`)
    places: list[str] = field(default_factory=list)
    layer: bool = False  # came or went with the capture's sub-pages, not with the wording
    moved: bool = False  # the same sentence left one section for another (not two rows)
    whole: bool = False  # its section came or went whole (no counterpart in the other text)
    own: list[str] = field(default_factory=list)  # categories from its own words, not context
    # the section it sits in (the new text's; the old one's for a removal), for context
    where: Section | None = field(default=None, repr=False, compare=False)

    @property
    def text(self) -> str:
        return self.new if self.new is not None else (self.old or "")

    @property
    def count(self) -> int:
        """In how many sections this change happened."""
        return max(1, len(self.places))

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "section": self.section,
            "scope": self.scope,
            "old": self.old,
            "new": self.new,
            "categories": list(self.categories),
            "heading": self.heading,
            "places": list(self.places) or [self.section],
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
                Line(m.group(2), SEPARATOR.join(t for _, t in path[:-1]), heading=True, note=note)
            )
            continue
        item = stripped.startswith("- ") or raw.startswith("  ")
        if stripped.startswith("- "):
            stripped = stripped[2:]
        elif stripped.startswith("\\"):
            stripped = stripped[1:]
        out.append(Line(stripped, SEPARATOR.join(t for _, t in path), item=item, note=note))
    return out


@dataclass
class Section:
    """A heading and the sentences directly under it (not those under its subheadings)."""

    path: tuple[str, ...]  # heading texts from the top, this section's own title last
    heading: Line | None  # None for the text before the first heading
    lines: list[Line]
    scope: str = ""

    @property
    def title(self) -> str:
        return self.path[-1] if self.path else ""

    @property
    def name(self) -> str:
        return SEPARATOR.join(self.path)

    @property
    def parent(self) -> str:
        return SEPARATOR.join(self.path[:-1])

    @property
    def note(self) -> bool:
        return bool(self.heading is not None and self.heading.note)


def sections_of(lines: list[Line]) -> list[Section]:
    out = [Section((), None, [])]
    for line in lines:
        if line.heading:
            path = (*(line.section.split(SEPARATOR) if line.section else ()), line.text)
            out.append(Section(path, line, []))
        else:
            out[-1].lines.append(line)
    for section in out:
        section.scope = _scope_of(section)
    return [s for s in out if s.heading is not None or s.lines]


def _scope_of(section: Section) -> str:
    """Whom a row applies to: the lines under its title, else the nearest group heading."""
    lines = []
    for line in section.lines:
        if not is_scope(line.text):
            break
        lines.append(line.text)
    if lines:
        return " ".join(lines)
    for title in reversed(section.path[:-1]):
        if is_scope(title):
            return title
    return ""


def is_scope(text: str) -> bool:
    """Whom a row applies to ("For all registered users, including those under the age of
    majority"), not a clause that opens a list ("If you choose to use Meta AI, we share:")."""
    return len(text) <= _SCOPE_MAX and bool(SCOPE.match(text)) and not text.endswith(":")


def fold(text: str) -> str:
    """What a line says, for aligning: link targets, case, spacing and end marks dropped."""
    text = _LINK.sub(lambda m: m.group(1), text).replace("\\[", "[").replace("\\]", "]")
    text = text.replace("ⓘ", " ")
    return " ".join(text.lower().split()).rstrip(".:;, ")


def _dmp() -> diff_match_patch:
    dmp = diff_match_patch()
    dmp.Diff_Timeout = 2.0
    return dmp


def _sequence_ops(a: list[str], b: list[str]) -> list[tuple[int, int, int, int]]:
    """A diff of two sequences of keys: (op, start in a, start in b, length) runs."""
    table: dict[str, str] = {}

    def encode(keys: list[str]) -> str:
        chars = []
        for key in keys:
            if key not in table:
                table[key] = chr(len(table) + 0x100)
            chars.append(table[key])
        return "".join(chars)

    diffs = _dmp().diff_main(encode(a), encode(b), False)
    ops = []
    ia = ib = 0
    for op, chunk in diffs:
        n = len(chunk)
        ops.append((op, ia, ib, n))
        if op != INSERT:
            ia += n
        if op != DELETE:
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


# -- aligning sections ---------------------------------------------------------------------

_PAIR_MIN = 0.5


def _key(section: Section) -> str:
    return "\x1f".join(fold(t) for t in section.path) + "\x1e" + fold(section.scope)


_WORDS = re.compile(r"\w+")


def _pair_score(a: Section, b: Section, folded: dict[int, set[str]]) -> float:
    """How surely two sections are the same one, renamed, re-scoped or laid out anew."""
    if a.note != b.note:
        return 0.0  # an annotation is never the main text's section, renamed
    la, lb = folded[id(a)], folded[id(b)]
    body = 2 * len(la & lb) / (len(la) + len(lb)) if la or lb else 0.0  # headings alone
    title = similarity(fold(a.title), fold(b.title))
    scope = similarity(fold(a.scope), fold(b.scope)) if (a.scope or b.scope) else 1.0
    score = 0.55 * body + 0.25 * title + 0.2 * scope
    if body == 0 and title < 0.8:
        return 0.0  # nothing in common but a look-alike name
    return score


def align(old: list[Section], new: list[Section]) -> list[tuple[Section | None, Section | None]]:
    """Pairs of sections (old, new), None where a section has no counterpart, in the order of
    the new text (a section that vanished comes where it was)."""
    partner: dict[int, int] = {}  # new index → old index
    for op, ia, ib, n in _sequence_ops([_key(s) for s in old], [_key(s) for s in new]):
        if op == EQUAL:
            for k in range(n):
                partner[ib + k] = ia + k
    left_old = [i for i in range(len(old)) if i not in set(partner.values())]
    left_new = [j for j in range(len(new)) if j not in partner]
    if left_old and left_new:
        # what a section says, as the set of its words: a row laid out anew keeps them
        folded = {
            id(s): set(_WORDS.findall(fold(" ".join(x.text for x in s.lines))))
            for s in (*[old[i] for i in left_old], *[new[j] for j in left_new])
        }
        scored = sorted(
            (
                (score, i, j)
                for i in left_old
                for j in left_new
                if (score := _pair_score(old[i], new[j], folded)) >= _PAIR_MIN
            ),
            reverse=True,
        )
        taken_old: set[int] = set()
        for _, i, j in scored:
            if i in taken_old or j in partner:
                continue
            partner[j] = i
            taken_old.add(i)
    out: list[tuple[Section | None, Section | None]] = []
    used = set(partner.values())
    next_old = 0
    for j, section in enumerate(new):
        mate = partner.get(j)
        if mate is not None:
            # the old sections left unpaired before this one's partner vanished here
            while next_old < mate:
                if next_old not in used:
                    out.append((old[next_old], None))
                next_old += 1
            next_old = max(next_old, mate + 1)
        out.append((old[mate] if mate is not None else None, section))
    out += [(old[k], None) for k in range(next_old, len(old)) if k not in used]
    return out


# -- sentences within a section ------------------------------------------------------------


def _change(
    kind: ChangeKind, where: Section, line: Line, old: str | None = None, new: str | None = None
) -> Change:
    words = word_diff(old, new) if old is not None and new is not None else []
    return Change(
        kind,
        where.name,
        old,
        new,
        words,
        item=line.item,
        scope=where.scope,
        note=line.note,
        where=where,
    )


def _pair(removed: list[Line], added: list[Line], where: Section) -> list[Change]:
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
                    changes.append(_change(ChangeKind.ADDED, where, added[j], new=added[j].text))
                    used.add(j)
            a = added[best]
            used.add(best)
            start = best + 1
            changes.append(_change(ChangeKind.MODIFIED, where, a, r.text, a.text))
        else:
            changes.append(_change(ChangeKind.REMOVED, where, r, old=r.text))
    for j, a in enumerate(added):
        if j not in used:
            changes.append(_change(ChangeKind.ADDED, where, a, new=a.text))
    return changes


def _section_changes(a: Section, b: Section) -> list[Change]:
    changes: list[Change] = []
    if a.heading is not None and b.heading is not None and a.title != b.title:
        changes.append(
            Change(
                ChangeKind.MODIFIED,
                b.parent,
                old=a.title,
                new=b.title,
                words=word_diff(a.title, b.title),
                heading=True,
                scope=b.scope,
                note=b.heading.note,
                where=b,
            )
        )
    ops = _sequence_ops([x.text for x in a.lines], [x.text for x in b.lines])
    removed: list[Line] = []
    added: list[Line] = []
    body: list[Change] = []
    for op, ia, ib, n in [*ops, (EQUAL, len(a.lines), len(b.lines), 0)]:
        if op == EQUAL:
            if removed or added:
                body += _pair(removed, added, b)
                removed, added = [], []
        elif op == DELETE:
            removed += a.lines[ia : ia + n]
        else:
            added += b.lines[ib : ib + n]
    if changes:  # renamed: a title that became a line of the section (a row laid out anew)
        for change in body:
            line = change.new if change.kind == ChangeKind.ADDED else change.old
            title = a.title if change.kind == ChangeKind.ADDED else b.title
            if (
                change.kind != ChangeKind.MODIFIED
                and similarity(fold(line or ""), fold(title)) > 0.6
            ):
                change.moved = True
    return changes + body


def _whole(section: Section, kind: ChangeKind) -> list[Change]:
    """A section with no counterpart: its heading and every sentence, added or removed."""
    added = kind == ChangeKind.ADDED
    out = []
    if section.heading is not None:
        title = section.title
        out.append(
            Change(
                kind,
                section.parent,
                None if added else title,
                title if added else None,
                heading=True,
                scope=section.scope,
                note=section.note,
                where=section,
            )
        )
    for line in section.lines:
        out.append(
            _change(kind, section, line, None if added else line.text, line.text if added else None)
        )
    for change in out:
        change.whole = True
    return out


def group_repeats(changes: Iterable[Change]) -> list[Change]:
    """One change for the same wording changed the same way in several sections, with the
    sections it touched in `places` (a sentence added to 17 rows is one change)."""
    out: list[Change] = []
    seen: dict[tuple[str, bool, bool, str, str], Change] = {}
    for change in changes:
        key = (
            change.kind,
            change.heading,
            change.note,
            fold(change.old or ""),
            fold(change.new or ""),
        )
        first = seen.get(key)
        if first is None:
            change.places = [change.section]
            seen[key] = change
            out.append(change)
        else:  # each occurrence counts, twice in one section included
            first.places.append(change.section)
    return out


def mark_moves(changes: list[Change]) -> None:
    """A sentence removed from one section and the same sentence added to another moved:
    its wording did not change. Between two rows (each with its scope) it did matter: a
    data source that leaves the minors' row for the adults' row is a change."""
    added: dict[str, list[Change]] = {}
    for change in changes:
        if change.kind == ChangeKind.ADDED and not change.heading:
            added.setdefault(fold(change.new or ""), []).append(change)
    for change in changes:
        if change.kind != ChangeKind.REMOVED or change.heading:
            continue
        for other in added.get(fold(change.old or ""), []) + _merged(change, added):
            if other.moved:
                continue
            if change.scope and other.scope and change.scope != other.scope:
                continue
            change.moved = other.moved = True
            break


def _merged(removed: Change, added: dict[str, list[Change]]) -> list[Change]:
    """Added sentences that are the removed one without a heading it had run into (a
    banner's title and text read as one sentence in one capture, apart in the next)."""
    text = fold(removed.old or "")
    out = []
    for key, candidates in added.items():
        if not key or not text.endswith(key) or text == key:
            continue
        for change in candidates:
            title = fold(change.section.split(SEPARATOR)[-1]) if change.section else ""
            if title and fold(text[: -len(key)]) == title:
                out.append(change)
    return out


def diff_snapshots(old: str, new: str) -> list[Change]:
    """The changed sentences between two snapshot texts, section by section, in the order of
    the new text; a change repeated in several sections is listed once (see `places`)."""
    pairs = align(sections_of(parse_lines(old)), sections_of(parse_lines(new)))
    changes: list[Change] = []
    for a, b in pairs:
        if a is not None and b is not None:
            changes += _section_changes(a, b)
        elif b is not None:
            changes += _whole(b, ChangeKind.ADDED)
        elif a is not None:
            changes += _whole(a, ChangeKind.REMOVED)
    mark_moves(changes)
    return group_repeats(changes)


def removed_added(changes: list[Change]) -> tuple[list[str], list[str]]:
    """Flat lists of removed and added sentences (a modified sentence counts on both sides)."""
    removed = [c.old for c in changes if c.old is not None and not c.heading]
    added = [c.new for c in changes if c.new is not None and not c.heading]
    return removed, added
