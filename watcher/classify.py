"""Tag each change `data_sources`, `exemptions`, `opt_out` or `other`, from what it says and
where it sits, and find the structural events that matter even when no single sentence
says so. docs/categories.md lists the rules with a real sentence for each.

* A sentence's own words: the patterns of watcher/categories.yaml. For a modified sentence
  only where the change is: a pattern counts when its match touches a changed word, or
  anywhere in the sentence when a number, a negation, a quantifier or a modal changed
  (those change what the whole sentence says). A change of spelling (en-GB/en-US, "learnt"/
  "learned"), letter case, punctuation, number format ("5"/"five"), date format or function
  words only ("such as"/"like", "that") is editorial: recorded, never alerted.
* Its context: a bare list item takes the meaning of the heading above it; a sentence in a
  row takes exemptions from the row's scope label ("For all registered users, including
  those under the age of majority").
* Opt-out wording counts only about AI or about objecting: "Visit your Ad preferences to
  opt out" is not an AI opt-out.
* Events: an AI section or row that appears or vanishes (a renamed one is neither), AI
  training coming to rest on legitimate interests (the basis that carries the right to
  object) or leaving it, an objection or request form link added, removed or re-pointed,
  right-to-object wording appearing or vanishing, and a capture that came with or without
  the page's annotations and sub-pages, whose sentences are then recorded but not alerted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from .diff import DELETE, EQUAL, INSERT, SEPARATOR, Change, Section, parse_lines, sections_of
from .extract import heading_key
from .models import CATEGORIES, Category, CategoryRule
from .page import fold_chars

# Objection and request forms: facebook.com/help/contact/<id>, help.instagram.com/contact/<id>
FORM_LINK = re.compile(
    r"https?://(?:[\w-]+\.)*(?:facebook|instagram|meta|whatsapp)\.com/"
    r"(?:[\w/-]*?/)?(?:help/)?contact/(\d+)"
)
OBJECT_WORDING = re.compile(r"\bright to object\b|\bobject to\b|\bobjection\b", re.I)
AI_TERMS = re.compile(
    r"\bAIs?\b(?! Terms)|artificial intelligence|generative|\btrain(?:s|ed|ing)?\b|"
    r"machine learning|large language models?|\bLLMs?\b",
    re.I,
)
_LEGITIMATE_INTERESTS = re.compile(r"\blegitimate interests?\b", re.I)
_LINK = re.compile(r"\[((?:\\.|[^\]])*)\]\(([^)\s]*)\)")


@dataclass
class Event:
    """A structural change, described for people."""

    kind: str  # section_added, section_removed, legal_basis_added, legal_basis_removed,
    #            form_added, form_removed, form_repointed, object_wording_removed,
    #            object_wording_added, capture_layer
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


@dataclass(frozen=True)
class PageFacts:
    """What a snapshot's metadata says about the page it came from."""

    page_chars: int = 0
    matched: dict[str, list[str]] = field(default_factory=dict)


def plain(sentence: str) -> str:
    """A sentence without Markdown link targets: what people read."""
    return _LINK.sub(lambda m: m.group(1).replace("\\[", "[").replace("\\]", "]"), sentence)


# Words whose addition, removal or swap does not change what a sentence says: articles,
# relative pronouns, "such as"/"like", fillers. Numbers, negations, quantifiers, modals and
# every content word stay significant.
FUNCTION_WORDS = frozenset(
    [
        "the",
        "a",
        "an",
        "that",
        "which",
        "who",
        "whom",
        "whose",
        "such",
        "as",
        "like",
        "since",
        "also",
        "just",
        "including",
        "to",
        "of",
        "in",
        "on",
        "at",
        "by",
        "for",
        "and",
        "or",
    ]
)
# A change to one of these changes what the whole sentence says.
SIGNIFICANT = frozenset(
    [
        "no",
        "not",
        "never",
        "none",
        "nothing",
        "nobody",
        "neither",
        "nor",
        "without",
        "unless",
        "except",
        "only",
        "don't",
        "doesn't",
        "didn't",
        "won't",
        "wouldn't",
        "can't",
        "cannot",
        "couldn't",
        "isn't",
        "aren't",
        "wasn't",
        "shouldn't",
        "mustn't",
        "all",
        "any",
        "some",
        "every",
        "each",
        "most",
        "more",
        "less",
        "fewer",
        "few",
        "many",
        "much",
        "may",
        "might",
        "will",
        "would",
        "can",
        "could",
        "must",
        "should",
        "shall",
    ]
)
_NUMBER_WORDS = {
    w: str(n)
    for n, w in enumerate(
        [
            "zero",
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
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        ]
    )
}
_SPELLING = {
    "centre": "center",
    "centres": "centers",
    "programme": "program",
    "programmes": "programs",
    "licence": "license",
    "licences": "licenses",
    "fulfil": "fulfill",
    "fulfils": "fulfills",
    "enrol": "enroll",
    "enrolment": "enrollment",
    "catalogue": "catalog",
    "catalogues": "catalogs",
    "dialogue": "dialog",
    "learnt": "learned",
    "spelt": "spelled",
    "burnt": "burned",
    "dreamt": "dreamed",
    "leapt": "leaped",
    "spilt": "spilled",
    "ageing": "aging",
    "judgement": "judgment",
    "acknowledgement": "acknowledgment",
    "defence": "defense",
    "offence": "offense",
    "grey": "gray",
    "towards": "toward",
    "afterwards": "afterward",
    "amongst": "among",
    "whilst": "while",
    "e-mail": "email",
    "e-mails": "emails",
    "per cent": "percent",
}
_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_DAY_MONTH_YEAR = re.compile(rf"\b(\d{{1,2}}) ({_MONTHS}) (\d{{4}})\b", re.I)
_TOKEN = re.compile(r"\w+(?:'\w+)?")


@lru_cache(maxsize=1 << 16)  # a page's words repeat: the site folds ~700,000 of them
def _fold_word(word: str) -> str:
    word = _NUMBER_WORDS.get(word, word)
    word = _SPELLING.get(word, word)
    for gb, us in (
        ("isation", "ization"),
        ("isations", "izations"),
        ("ising", "izing"),
        ("ised", "ized"),
        ("ises", "izes"),
        ("yse", "yze"),
        ("ysed", "yzed"),
        ("ysing", "yzing"),
        ("ogue", "og"),
    ):
        if word.endswith(gb) and len(word) > len(gb) + 2:
            return word[: -len(gb)] + us
    if word.endswith("ise") and len(word) > 6:
        return word[:-3] + "ize"
    if word.endswith(("our", "ours")) and len(word) > 5 and not word.endswith(("hour", "hours")):
        return word.replace("our", "or") if word.count("our") == 1 else word
    if word.endswith(("lled", "lling")) and len(word) > 7:
        return word.replace("ll", "l", 1) if word.count("ll") == 1 else word
    return word


def _tokens(sentence: str) -> list[str]:
    text = _DAY_MONTH_YEAR.sub(lambda m: f"{m.group(2)} {m.group(1)} {m.group(3)}", plain(sentence))
    text = fold_chars(text).lower().replace("e-mail", "email").replace("per cent", "percent")
    return [_fold_word(t) for t in _TOKEN.findall(text)]


@lru_cache(maxsize=1 << 14)
def comparable(sentence: str) -> tuple[str, ...]:
    """A sentence reduced to what it says: link targets, case, punctuation, en-GB spelling,
    number and date formats and function words folded away."""
    return tuple(w for w in _tokens(sentence) if w not in FUNCTION_WORDS)


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


def _changed_spans(change: Change) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Where the words changed, as character spans of the old and of the new sentence."""
    old_spans, new_spans = [], []
    i = j = 0
    for op, text in change.words:
        if op == EQUAL:
            i += len(text)
            j += len(text)
        elif op == DELETE:
            if text.strip():
                old_spans.append((i, i + len(text)))
            i += len(text)
        elif op == INSERT:
            if text.strip():
                new_spans.append((j, j + len(text)))
            j += len(text)
    return old_spans, new_spans


def _touching(text: str, spans: list[tuple[int, int]], rules: tuple[CategoryRule, ...]) -> set[str]:
    found = set()
    for rule in rules:
        for pattern in rule.patterns:
            for m in pattern.finditer(text):
                if any(m.start() < end and start < m.end() for start, end in spans):
                    found.add(rule.name)
                    break
    return found


def _significant_change(old: str, new: str) -> bool:
    a = [w for w in _tokens(old) if w in SIGNIFICANT or w.isdigit()]
    b = [w for w in _tokens(new) if w in SIGNIFICANT or w.isdigit()]
    return a != b


def _modified_categories(change: Change, rules: tuple[CategoryRule, ...]) -> set[str]:
    old, new = change.old or "", change.new or ""
    if not change.words:
        from .diff import word_diff

        change.words = word_diff(old, new)
    old_spans, new_spans = _changed_spans(change)
    found = _touching(old, old_spans, rules) | _touching(new, new_spans, rules)
    if plain(old) == plain(new):  # only a link target moved: what the link says counts
        found |= set(categorize(f"{old}\n{new}", rules)) - {Category.OTHER}
    if _significant_change(old, new):
        found |= set(categorize(f"{old}\n{new}", rules)) - {Category.OTHER}
    return found


def _about_ai(section: Section | None) -> bool:
    """An AI section or row: its title, or the sentences that open it, name AI."""
    if section is None:
        return False
    if any(AI_TERMS.search(plain(t)) for t in section.path):
        return True
    return any(AI_TERMS.search(plain(x.text)) for x in section.lines[:4])


def _legitimate_interests(section: Section) -> bool:
    """A row whose legal basis is legitimate interests: under such a heading, or with the
    column "Legitimate interests relied on"."""
    if any(_LEGITIMATE_INTERESTS.search(t) for t in section.path):
        return True
    return any(_LEGITIMATE_INTERESTS.search(x.text) and len(x.text) < 80 for x in section.lines)


# Developing, improving or training AI (not providing AI features): what the right to
# object to AI training is about.
AI_DEVELOPMENT = re.compile(
    r"\b(?:develop|improv|train|build)\w*\b(?:\W+\w+){0,3}?\W+(?:our\W+|the\W+)?"
    r"(?:AIs?\b|artificial intelligence|generative|(?:AI\W+)?models?\b|LLMs?\b)",
    re.I,
)


def _ai_on_legitimate_interests(text: str | None) -> bool:
    """Whether AI development rests on legitimate interests somewhere in the text: a row
    whose title or purpose is developing or training AI, with that legal basis."""
    if not text:
        return False
    return any(
        _ai_row(s, AI_DEVELOPMENT) and _legitimate_interests(s)
        for s in sections_of(parse_lines(text))
    )


def _ai_row(section: Section, terms: re.Pattern[str] = AI_TERMS) -> bool:
    """A row about AI: its title or first column (what is done and why) names AI."""
    if terms.search(plain(section.title)):
        return True
    purpose = []
    for line in section.lines:
        if _LEGITIMATE_INTERESTS.search(line.text) and len(line.text) < 80:
            break
        purpose.append(line.text)
    return any(terms.search(plain(t)) for t in purpose[:12])


def _scope_categories(section: Section | None, rules: tuple[CategoryRule, ...]) -> set[str]:
    """Exemptions from the scope of an AI-development row: what such a row lists for
    minors, or for people without an account, says whose data trains AI."""
    if section is None or not section.scope or not _ai_row(section, AI_DEVELOPMENT):
        return set()
    return set(categorize(section.scope, rules)) & {Category.EXEMPTIONS}


# Whom a sentence names (as opposed to what it exempts): minors, people without an account.
_WHOM = re.compile(
    r"age of majority|\bminors?\b|\bteens?\b|under (?:the age of )?\d+|(?:aged|over) \d+|"
    r"young people|below the age|cannot associate you|without an account|registered users?",
    re.I,
)


def _only_whom(change: Change, rules: tuple[CategoryRule, ...]) -> bool:
    """The change is an exemption only because it names whom it covers."""
    rest = _WHOM.sub(" ", plain(change.text))
    return Category.EXEMPTIONS not in categorize(rest, rules)


def _ai_context(change: Change, section: Section | None) -> bool:
    """The change is about AI: its sentence names AI, or it sits in an AI section or row."""
    text = plain(f"{change.old or ''}\n{change.new or ''}")
    return (
        bool(AI_TERMS.search(text))
        or _about_ai(section)
        or (section is not None and _ai_row(section))
    )


def _sentence_categories(change: Change, rules: tuple[CategoryRule, ...]) -> list[str]:
    section = change.where
    if change.heading:
        # a heading that appears or vanishes is judged as its section (events); a renamed
        # one is context: what its section says decides
        return [] if change.kind != "modified" else [Category.OTHER]
    if change.kind == "modified":
        if is_editorial(change.old or "", change.new or ""):
            return [Category.OTHER]  # recorded, never alerted: style, not substance
        found = _modified_categories(change, rules)
    else:
        found = set(categorize(change.text, rules)) - {Category.OTHER}
        if not found and change.item and change.section and AI_TERMS.search(change.text):
            # a bare list item ("Actions you ask AI at Meta to take…") is a data source when
            # the heading it sits under says so ("What information do we collect?")
            context_text = SEPARATOR.join(change.section.split(SEPARATOR)[-2:])
            found = set(categorize(context_text, rules)) & {Category.DATA_SOURCES}
    if not _ai_context(change, section):
        return [Category.OTHER]  # not about AI: an ads opt-out, a profile's photos
    change.own = [c for c in CATEGORIES if c in found]
    # naming minors or people without an account is an exemption when it is said of AI:
    # in the sentence itself, or in a row about developing AI
    said_of_ai = AI_TERMS.search(plain(change.text)) or (
        section is not None and _ai_row(section, AI_DEVELOPMENT)
    )
    if Category.EXEMPTIONS in found and not said_of_ai and _only_whom(change, rules):
        found.discard(Category.EXEMPTIONS)
    if found and not change.heading:
        found |= _scope_categories(section, rules)  # a row for minors: an exemption
    return [c for c in CATEGORIES if c in found] or [Category.OTHER]


def _layer_changes(
    changes: list[Change], facts: tuple[PageFacts, PageFacts] | None, ai_titles: set[str]
) -> tuple[int, str]:
    """Mark the changes that came or went with the capture's annotations and sub-pages
    rather than with the wording; returns how many, and which way ("lacks" or "has")."""
    if facts is None:
        return 0, ""
    was, now = facts
    had = "annotations" in was.matched.get("layers", [])
    has = "annotations" in now.matched.get("layers", [])
    marked = 0
    direction = ""
    if had != has:  # (a) one capture has the annotations, the other not
        gone = "removed" if had else "added"
        direction = "lacks" if had else "has"
        for change in changes:
            if change.note and change.kind == gone:
                change.layer = True
                marked += 1
        # a sub-page's text that also came or went in the main text, with whole sections
        layered = {(c.old or c.new or "").strip() for c in changes if c.layer and not c.heading}
        for change in changes:
            text = (change.old or change.new or "").strip()
            alike = change.whole and change.kind == gone and not change.heading
            if not change.layer and alike and text in layered:
                change.layer = True
                marked += 1
    else:  # (b) whole sub-pages missing or back, without annotation numbers to tell
        before, after = set(was.matched.get("outline", [])), set(now.matched.get("outline", []))
        if not (before and after and was.page_chars and now.page_chars):
            return 0, ""
        growth = now.page_chars / was.page_chars - 1
        lost, gained = before - after, after - before
        if -0.6 <= growth <= -0.15 and len(lost) >= 30 and len(gained) <= len(lost) / 2:
            gone, direction, keys = "removed", "lacks", lost
        elif 0.15 <= growth <= 0.6 and len(gained) >= 30 and len(lost) <= len(gained) / 2:
            gone, direction, keys = "added", "has", gained
        else:
            return 0, ""
        for change in changes:
            if change.kind != gone:
                continue
            titles = change.section.split(SEPARATOR) if change.section else []
            if change.heading:
                titles = [*titles, change.text]
            own = titles[-1] if titles else ""
            if own and heading_key(plain(own)) in keys and own not in ai_titles:
                change.layer = True
                marked += 1
    return marked, direction


def _ai_forms(text: str) -> dict[str, str]:
    """Form links in sentences about AI or in AI sections, with the text people click."""
    out: dict[str, str] = {}
    for section in sections_of(parse_lines(text)):
        about = _about_ai(section)
        for line in section.lines:
            if about or AI_TERMS.search(plain(line.text)):
                for form, label in form_ids(line.text).items():
                    out.setdefault(form, label)
    return out


def form_ids(text: str) -> dict[str, str]:
    """Form ids linked from a snapshot, with the link text people click."""
    out: dict[str, str] = {}
    for m in _LINK.finditer(text):
        form = FORM_LINK.search(m.group(2))
        if form:
            out.setdefault(form.group(1), plain(m.group(0)))
    return out


def _section_events(changes: list[Change], rules: tuple[CategoryRule, ...]) -> list[Event]:
    """AI sections and rows that appeared or vanished whole (a renamed one did neither)."""
    events = []
    for change in changes:
        if not change.heading or change.kind == "modified" or change.layer:
            continue
        section = change.where
        # an AI section names AI in its title; a row counts when it is about developing AI
        # (a row that only lists "Interactions with AI at Meta" among its data is neither)
        if section is None or not (
            AI_TERMS.search(plain(section.title)) or _ai_row(section, AI_DEVELOPMENT)
        ):
            continue
        name = section.name
        within = [
            ch for ch in changes if not ch.heading and (ch.where is section or name in ch.places)
        ]
        if not any(not (ch.moved or ch.layer) for ch in within):
            continue  # its sentences are elsewhere now: a heading changed, not a section
        inside = {c for ch in within for c in ch.categories if c != Category.OTHER}
        inside |= _scope_categories(section, rules)
        verb = "appeared" if change.kind == "added" else "vanished"
        what = "AI row" if section.scope else "AI section"
        scope = f" ({plain(section.scope)})" if section.scope else ""
        events.append(
            Event(
                "section_added" if change.kind == "added" else "section_removed",
                f"{what} “{plain(change.text)}”{scope} {verb}",
                [c for c in CATEGORIES if c in inside],
            )
        )
    return events


def classify(
    old: str | None,
    new: str,
    changes: list[Change],
    rules: tuple[CategoryRule, ...],
    sections: tuple[list[str], list[str]] | None = None,
    *,
    facts: tuple[PageFacts, PageFacts] | None = None,
) -> Classification:
    """Tag every change and derive the structural events between two snapshots.

    `sections` are the AI sections' titles before and after, from the snapshots' metadata
    (a section whose heading matched a rule is never taken for a sub-page). `facts` are
    what the metadata says of both pages, to recognise a capture that came with or
    without the page's annotations and sub-pages."""
    ai_titles = set(sections[0]) | set(sections[1]) if sections else set()
    layered, direction = _layer_changes(changes, facts, ai_titles)
    for change in changes:
        change.categories = (
            [Category.OTHER]
            if change.layer or change.moved
            else _sentence_categories(change, rules)
        )
    events: list[Event] = []
    if layered:
        events.append(
            Event(
                "capture_layer",
                f"This capture {direction} the page's annotations or sub-pages: {layered} "
                "sentences that came or went with them are recorded, not alerted",
            )
        )
    events += _section_events(changes, rules)
    if old is not None:
        was, now = _ai_on_legitimate_interests(old), _ai_on_legitimate_interests(new)
        if now and not was:
            events.append(
                Event(
                    "legal_basis_added",
                    "AI development now rests on legitimate interests, the legal basis "
                    "that gives people the right to object",
                    [Category.OPT_OUT],
                )
            )
        elif was and not now:
            events.append(
                Event(
                    "legal_basis_removed",
                    "AI development no longer rests on legitimate interests: the right to "
                    "object to it goes with them",
                    [Category.OPT_OUT],
                )
            )
        events += _form_events(old, new, changes)
        had, has = bool(OBJECT_WORDING.search(old)), bool(OBJECT_WORDING.search(new))
        if had and not has:
            events.append(
                Event(
                    "object_wording_removed",
                    "The right-to-object wording is gone from this text",
                    [Category.OPT_OUT],
                )
            )
        elif has and not had:
            events.append(
                Event(
                    "object_wording_added",
                    "Right-to-object wording appeared in this text",
                    [Category.OPT_OUT],
                )
            )
    return Classification(changes=changes, events=events)


def _form_events(old: str, new: str, changes: Iterable[Change]) -> list[Event]:
    """Objection and request form links that came, went or were re-pointed, in sentences
    about AI or in AI sections (the form for objecting to AI training, not the ads one)."""
    events = []
    before, after = _ai_forms(old), _ai_forms(new)
    modified_pairs = [
        (
            {k: v for k, v in form_ids(c.old or "").items() if k in before},
            {k: v for k, v in form_ids(c.new or "").items() if k in after},
        )
        for c in changes
        if c.kind == "modified"
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
                            [Category.OPT_OUT],
                        )
                    )
                    repointed |= {gone, came}
    for gone in sorted(set(before) - set(after) - repointed):
        events.append(
            Event(
                "form_removed",
                f"Form link removed: contact/{gone} (“{before[gone]}”)",
                [Category.OPT_OUT],
            )
        )
    for came in sorted(set(after) - set(before) - repointed):
        events.append(
            Event(
                "form_added",
                f"Form link added: contact/{came} (“{after[came]}”)",
                [Category.OPT_OUT],
            )
        )
    return events


def section_names(matched: dict[str, list[str]] | None) -> list[str]:
    """The AI sections a snapshot's metadata names: matched titles and anchors."""
    if not matched:
        return []
    names = list(matched.get("sections", []))
    names += [f"#{a}" for a in matched.get("anchors", [])]
    return sorted(set(names))


def alerting(categories: list[str], wanted: tuple[str, ...]) -> bool:
    return any(c in wanted for c in categories)
