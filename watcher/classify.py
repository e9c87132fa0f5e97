"""Tag each changed sentence `data_sources`, `exemptions`, `opt_out` or `other`, and find the
structural events that matter even when no single sentence says so: an AI section that
appears or vanishes, an objection or request form link that is added, removed or
re-pointed, and the right-to-object wording disappearing from a region's text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .diff import Change
from .models import CATEGORIES, CategoryRule

# Objection and request forms: facebook.com/help/contact/<id>, help.instagram.com/contact/<id>
FORM_LINK = re.compile(
    r"https?://(?:[\w-]+\.)*(?:facebook|instagram|meta|whatsapp)\.com/"
    r"(?:[\w/-]*?/)?(?:help/)?contact/(\d+)"
)
OBJECT_WORDING = re.compile(r"\bright to object\b|\bobject to\b|\bobjection\b", re.I)
_LINK = re.compile(r"\[((?:\\.|[^\]])*)\]\(([^)\s]*)\)")


@dataclass
class Event:
    """A structural change, described for people."""

    kind: str  # section_added, section_removed, form_added, form_removed, form_repointed,
    #            object_wording_removed, object_wording_added
    text: str
    categories: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "text": self.text, "categories": list(self.categories)}


@dataclass
class Classification:
    changes: list[Change]
    events: list[Event]

    @property
    def categories(self) -> list[str]:
        found = {c for ch in self.changes for c in ch.categories}
        found |= {c for ev in self.events for c in ev.categories}
        return [c for c in CATEGORIES if c in found]


def plain(sentence: str) -> str:
    """A sentence without Markdown link targets: what people read."""
    return _LINK.sub(lambda m: m.group(1).replace("\\[", "[").replace("\\]", "]"), sentence)


# Words whose addition, removal or swap does not change what a sentence says about AI
# training ("like" → "such as", "that", "any"), and en-GB/en-US variants. Negations,
# quantifiers and every content word stay significant.
EDITORIAL = {
    "that",
    "which",
    "any",
    "like",
    "such",
    "as",
    "since",
    "the",
    "a",
    "an",
    "straight",
    "right",
    "also",
    "just",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "1",
    "2",
    "3",
    "4",
    "5",
    "6",
    "7",
    "8",
    "9",
    "10",
    "trash",
    "recycle",
    "bin",
}
_SPELLING = {
    "centre": "center",
    "centres": "centers",
    "programme": "program",
    "programmes": "programs",
    "licence": "license",
    "licences": "licenses",
    "fulfil": "fulfill",
    "enrol": "enroll",
    "catalogue": "catalog",
    "dialogue": "dialog",
}
_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_DAY_MONTH_YEAR = re.compile(rf"\b(\d{{1,2}}) ({_MONTHS}) (\d{{4}})\b", re.I)
_TOKEN = re.compile(r"\w+")


def _fold_word(word: str) -> str:
    word = _SPELLING.get(word, word)
    for gb, us in (
        ("isation", "ization"),
        ("ising", "izing"),
        ("ised", "ized"),
        ("ises", "izes"),
        ("yse", "yze"),
        ("ysed", "yzed"),
        ("ysing", "yzing"),
    ):
        if word.endswith(gb) and len(word) > len(gb) + 2:
            return word[: -len(gb)] + us
    if word.endswith("ise") and len(word) > 6:
        return word[:-3] + "ize"
    if word.endswith("our") and len(word) > 5:
        return word[:-3] + "or"
    if word.endswith(("lled", "lling")) and len(word) > 7:
        return word.replace("ll", "l", 1) if word.count("ll") == 1 else word
    return word


def comparable(sentence: str) -> tuple[str, ...]:
    """A sentence reduced to what it says: link targets, case, punctuation, en-GB spelling,
    day-month dates and editorial words folded away."""
    text = _DAY_MONTH_YEAR.sub(lambda m: f"{m.group(2)} {m.group(1)} {m.group(3)}", plain(sentence))
    return tuple(
        w for w in (_fold_word(t) for t in _TOKEN.findall(text.lower())) if w not in EDITORIAL
    )


def is_editorial(old: str, new: str) -> bool:
    """True when two versions of a sentence differ only in style, spelling or punctuation."""
    return comparable(old) == comparable(new)


def categorize(text: str, rules: tuple[CategoryRule, ...]) -> list[str]:
    """Every category whose patterns match the text (link targets included), else `other`."""
    readable = plain(text)
    found = [
        rule.name
        for rule in rules
        if any(p.search(readable) or p.search(text) for p in rule.patterns)
    ]
    ordered: list[str] = [c for c in CATEGORIES if c in found]
    return ordered or ["other"]


def _changed_text(change: Change) -> str:
    """What changed in a sentence: both sides for a modified sentence."""
    if change.kind == "modified":
        return f"{change.old}\n{change.new}"
    return change.text


def form_ids(text: str) -> dict[str, str]:
    """Form ids linked from a snapshot, with the link text people click."""
    out: dict[str, str] = {}
    for m in _LINK.finditer(text):
        form = FORM_LINK.search(m.group(2))
        if form:
            out.setdefault(form.group(1), plain(m.group(0)))
    return out


def classify(
    old: str | None,
    new: str,
    changes: list[Change],
    rules: tuple[CategoryRule, ...],
    sections: tuple[list[str], list[str]] | None = None,
) -> Classification:
    """Tag every change and derive the structural events between two snapshots.

    `sections` are the AI sections' titles (and anchors) before and after, from the
    snapshots' metadata; without them no section events are derived.
    """
    events: list[Event] = []
    for change in changes:
        if change.heading:
            continue  # heading lines are context; sections are judged from the metadata
        if change.kind == "modified" and is_editorial(change.old or "", change.new or ""):
            change.categories = ["other"]  # recorded, never alerted: style, not substance
            continue
        change.categories = categorize(_changed_text(change), rules)
        if change.categories == ["other"] and change.item and change.section:
            # a bare list item ("Actions you ask AI at Meta to take…") takes its meaning
            # from the heading it sits under ("What information do we collect?")
            context = " › ".join(change.section.split(" › ")[-2:])
            change.categories = categorize(context, rules)

    # AI sections (named by an anchor, a heading rule or an AI phrase in their title) that
    # appear or vanish take the categories of the sentences under them.
    if sections is not None:
        was, now = sections
        for title, kind, verb in [(t, "section_added", "appeared") for t in now if t not in was] + [
            (t, "section_removed", "vanished") for t in was if t not in now
        ]:
            under = {c for ch in changes if title in ch.section.split(" › ") for c in ch.categories}
            cats: list[str] = [c for c in CATEGORIES if c in under] or categorize(title, rules)
            events.append(Event(kind, f"AI section “{title}” {verb}", cats))

    if old is not None:
        before, after = form_ids(old), form_ids(new)
        modified_pairs = [
            (form_ids(c.old or ""), form_ids(c.new or "")) for c in changes if c.kind == "modified"
        ]
        repointed: set[str] = set()
        for ids_was, ids_now in modified_pairs:
            for gone in set(ids_was) - set(ids_now):
                for came in set(ids_now) - set(ids_was):
                    if gone not in after and came not in before:
                        events.append(
                            Event(
                                "form_repointed",
                                f"Form link re-pointed: contact/{gone} → contact/{came} "
                                f"(“{ids_now[came]}”)",
                                ["opt_out"],
                            )
                        )
                        repointed |= {gone, came}
        for gone in sorted(set(before) - set(after) - repointed):
            events.append(
                Event(
                    "form_removed",
                    f"Form link removed: contact/{gone} (“{before[gone]}”)",
                    ["opt_out"],
                )
            )
        for came in sorted(set(after) - set(before) - repointed):
            events.append(
                Event(
                    "form_added", f"Form link added: contact/{came} (“{after[came]}”)", ["opt_out"]
                )
            )
        had, has = bool(OBJECT_WORDING.search(old)), bool(OBJECT_WORDING.search(new))
        if had and not has:
            events.append(
                Event(
                    "object_wording_removed",
                    "The right-to-object wording is gone from this text",
                    ["opt_out"],
                )
            )
        elif has and not had:
            events.append(
                Event(
                    "object_wording_added",
                    "Right-to-object wording appeared in this text",
                    ["opt_out"],
                )
            )
    return Classification(changes=changes, events=events)


def section_names(matched: dict[str, list[str]] | None) -> list[str]:
    """The AI sections a snapshot's metadata names: matched titles and anchors."""
    if not matched:
        return []
    names = list(matched.get("sections", []))
    names += [f"#{a}" for a in matched.get("anchors", [])]
    return sorted(set(names))


def alerting(categories: list[str], wanted: tuple[str, ...]) -> bool:
    return any(c in wanted for c in categories)
