"""One story per recorded change, told the same way in every channel: the commit, the
history, the push text, the email, the feed entry and the job summary.

A story is: a one-line summary of what changed for the three questions (data sources,
exemptions, opt-out), made from the structural events and the most important changes; the
counts; the most important changes first; then the rest, grouped by section. Counting is
the same everywhere: a change made identically in many rows is one change (with the places
it touched), a modified sentence is one change, and what is recorded but does not alert
(style, a sentence that only moved, sentences that came or went with a capture's sub-pages)
is counted apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .classify import AI_TERMS, Event, plain
from .diff import SEPARATOR, Change
from .models import CATEGORIES, Category, ChangeKind, category_labels

TOP = 3
ALERTING = (Category.DATA_SOURCES, Category.EXEMPTIONS, Category.OPT_OUT)
_SUMMARY_MAX = 220
_QUOTE_WORDS = 12
# Events in order of what they mean for people; a capture's missing sub-pages says only
# why some sentences were not compared, so it comes last.
_EVENT_ORDER = (
    "legal_basis_added",
    "legal_basis_removed",
    "form_repointed",
    "form_added",
    "form_removed",
    "object_wording_removed",
    "object_wording_added",
    "section_added",
    "section_removed",
    "capture_layer",
)


@dataclass(frozen=True)
class Counts:
    """How much changed, counted once for every channel."""

    modified: int = 0
    added: int = 0
    removed: int = 0
    places: int = 0  # sections touched, a change repeated in 17 rows counting 17
    alerting: int = 0  # changes on data sources, exemptions or opt-out
    quiet: int = 0  # recorded without an alert: style, moved sentences, sub-pages

    @property
    def changes(self) -> int:
        return self.modified + self.added + self.removed

    def line(self) -> str:
        """`14 changes (5 on AI-training questions): 3 modified, 8 added, 3 removed.`"""
        parts = [f"{self.modified} modified", f"{self.added} added", f"{self.removed} removed"]
        head = f"{self.changes} change{'s' if self.changes != 1 else ''}"
        if self.alerting != self.changes:
            head += f" ({self.alerting} on data sources, exemptions or opt-out)"
        tail = f", in {self.places} places" if self.places > self.changes else ""
        return f"{head}: {', '.join(parts)}{tail}."


@dataclass
class Story:
    summary: str
    counts: Counts
    top: list[Change]
    rest: list[tuple[str, list[Change]]]
    events: list[Event]
    categories: list[str] = field(default_factory=list)

    @property
    def changes(self) -> list[Change]:
        return [*self.top, *(c for _, group in self.rest for c in group)]


def counted(changes: list[Change]) -> list[Change]:
    """The changes a story counts and shows: sentences, and renamed headings."""
    return [c for c in changes if not c.heading or c.kind == ChangeKind.MODIFIED]


def counts_of(changes: list[Change], alerting: tuple[str, ...] = ALERTING) -> Counts:
    shown = counted(changes)
    return Counts(
        modified=sum(c.kind == ChangeKind.MODIFIED for c in shown),
        added=sum(c.kind == ChangeKind.ADDED for c in shown),
        removed=sum(c.kind == ChangeKind.REMOVED for c in shown),
        places=sum(c.count for c in shown),
        alerting=sum(_alerts(c, alerting) for c in shown),
        quiet=sum(c.layer or c.moved or not _alerts(c, alerting) for c in shown),
    )


def _alerts(change: Change, alerting: tuple[str, ...]) -> bool:
    return any(c in alerting for c in change.categories)


# What an AI is called ("Meta's artificial intelligence technology" → "AI at Meta"): a
# modified sentence whose change is only that says nothing new.
_AI_NAME = re.compile(
    r"^\W*(?:(?:Meta's|our|the)\s+)?(?:artificial intelligence(?: technology)?|AI at Meta|"
    r"Meta AI|AIs?)\W*$",
    re.I,
)


def _renames_ai(change: Change) -> bool:
    changed = [text for op, text in change.words if op != 0 and text.strip()]
    return bool(changed) and all(_AI_NAME.match(plain(t)) for t in changed)


def importance(change: Change, alerting: tuple[str, ...] = ALERTING) -> float:
    """Most important first: what the sentence's own words say for the three questions
    (more than what its row adds), AI named in it, an edit of a section that was there
    before over one that came or went whole, a lost limit (a removed exemption)."""
    if change.layer or change.moved:
        return -1.0
    mine = [c for c in change.categories if c in alerting]
    own = [c for c in change.own if c in alerting]
    if change.kind == ChangeKind.MODIFIED and _renames_ai(change):
        own = []
    score = 3.0 * len(own) + 1.0 * len(set(mine) - set(own))
    score += 2.0 if AI_TERMS.search(plain(change.text)) else 0.0
    # the policy's own prose says what Meta does; a legal-bases row restates it for a basis,
    # and a row or an annotation that came or went whole is often a layout's doing
    prose = not (change.scope or change.note)
    score += 1.5 if prose else 0.0
    score += 1.0 if prose or not change.whole else 0.0
    if change.kind == ChangeKind.REMOVED and Category.EXEMPTIONS in own:
        score += 1.5  # a limit on what is used is gone
    score += {ChangeKind.MODIFIED: 0.5, ChangeKind.ADDED: 0.4}.get(ChangeKind(change.kind), 0.2)
    if change.heading:
        score -= 3.0
    return score


def where(change: Change) -> str:
    """Where a change happened, for people: the row (and whom it covers), or how many."""
    if change.count > 1:
        common = _common_prefix([p.split(SEPARATOR) for p in change.places])
        within = f" of {plain(common[-1])}" if common else ""
        return f"in {change.count} sections{within}"
    section = plain(change.section).split(SEPARATOR)[-1] if change.section else ""
    if not section:
        return ""
    scope = f" ({' '.join(plain(change.scope).replace('ⓘ', ' ').split())})" if change.scope else ""
    verb = {ChangeKind.REMOVED: "removed from", ChangeKind.ADDED: "added to"}.get(
        ChangeKind(change.kind), "in"
    )
    return f"{verb} “{section}”{scope}"


def _common_prefix(paths: list[list[str]]) -> list[str]:
    out: list[str] = []
    for parts in zip(*paths, strict=False):
        if len(set(parts)) != 1:
            break
        out.append(parts[0])
    return out


def quote(text: str, words: int = _QUOTE_WORDS) -> str:
    parts = plain(text).split()
    short = " ".join(parts[:words])
    return f"“{short}…”" if len(parts) > words else f"“{short}”"


def _event_rank(event: Event) -> tuple[int, int]:
    kind = _EVENT_ORDER.index(event.kind) if event.kind in _EVENT_ORDER else len(_EVENT_ORDER)
    return (0 if event.categories else 1, kind)


def summary_line(
    events: list[Event], ranked: list[Change], alerting: tuple[str, ...] = ALERTING
) -> str:
    """What changed for the three questions, in one line: the events that say it, then
    for each question no event answers, its most important changed sentence."""
    clauses: list[str] = []
    covered: set[str] = set()
    for event in sorted(events, key=_event_rank):
        if not event.categories:
            continue
        clauses.append(event.text)
        covered |= set(event.categories)
    for category in CATEGORIES:
        if category not in alerting or category in covered:
            continue
        best = next((c for c in ranked if category in c.categories), None)
        if best is None:
            continue
        label = category_labels([category])[0]
        verb = {ChangeKind.ADDED: "added", ChangeKind.REMOVED: "removed"}.get(
            ChangeKind(best.kind), "reworded"
        )
        clauses.append(f"{label}: {verb} {quote(best.text)}")
        covered |= set(best.categories)
    if not clauses:
        return "wording changed, none of it on data sources, exemptions or opt-out"
    line = ""
    for clause in clauses:
        candidate = f"{line}; {clause}" if line else clause
        if len(candidate) > _SUMMARY_MAX and line:
            break
        line = candidate
    return line


def tell(changes: list[Change], events: list[Event], alerting: tuple[str, ...] = ALERTING) -> Story:
    """The story of a change: summary, counts, the top changes, the rest by section."""
    shown = counted(changes)
    ranked = sorted(shown, key=lambda c: -importance(c, alerting))  # stable: document order
    top = [c for c in ranked[:TOP] if importance(c, alerting) > 0 and _alerts(c, alerting)]
    chosen = {id(c) for c in top}
    rest: list[tuple[str, list[Change]]] = []
    for change in shown:
        if id(change) in chosen:
            continue
        section = change.section
        if rest and rest[-1][0] == section:
            rest[-1][1].append(change)
        else:
            rest.append((section, [change]))
    found = {c for ch in shown for c in ch.categories} | {c for e in events for c in e.categories}
    return Story(
        summary=summary_line(events, ranked, alerting),
        counts=counts_of(changes, alerting),
        top=top,
        rest=rest,
        events=sorted(events, key=_event_rank),
        categories=[c for c in CATEGORIES if c in found],
    )


def headline(
    changes: list[Change], events: list[Event], alerting: tuple[str, ...] = ALERTING
) -> str:
    """The summary and the counts in one line: what a job summary or a list shows."""
    story = tell(changes, events, alerting)
    return f"{story.summary} — {story.counts.line()}"
