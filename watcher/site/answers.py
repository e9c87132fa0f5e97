"""The three questions people ask of a text, answered from its own sentences.

Can people object to AI training? Which data sources does the text name? What does it
exempt? Each answer is read from the sentences that the alerts' category rules tag
(`classify.categorize` with the config's rules): there is no second rule set. An answer
always carries the sentences it stands on; where no sentence of the text is tagged, the
answer says that the text does not say, and never guesses.

Within the opt-out sentences, the objection answer looks for the ones that name
objecting or opting out, and for objection form links (`facebook.com/help/contact/<id>`)
among them or beside them in the same section.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from ..classify import FORM_LINK, categorize, comparable, plain
from ..diff import parse_lines
from ..models import Category, CategoryRule

# The opt-out sentences that name the act of objecting (not settings, requests or forms alone).
OBJECTING = re.compile(r"\bobject(?:s|ed|ing|ions?)?\b|\bopt(?:s|ed|ing)?[- ]?out\b", re.I)
_LINK = re.compile(r"\[((?:\\.|[^\]])*)\]\(([^)\s]*)\)")
_ESCAPED = re.compile(r"\\([\\\[\]])")


class Question(StrEnum):
    OBJECT = "object"
    DATA_SOURCES = "data_sources"
    EXEMPTIONS = "exemptions"

    @property
    def category(self) -> str:
        return Category.OPT_OUT if self == Question.OBJECT else str(self)

    @property
    def text(self) -> str:
        return QUESTION_TITLES[self]


QUESTION_TITLES = {
    Question.OBJECT: "Can people object to AI training?",
    Question.DATA_SOURCES: "Which data sources does it name?",
    Question.EXEMPTIONS: "What does it exempt?",
}
QUESTIONS = tuple(Question)


class Verdict(StrEnum):
    FORM = "form"  # names a right to object and links a form
    OBJECT = "object"  # names a right to object, links no form
    CONTROLS = "controls"  # opt-out sentences, none of which names objecting
    NO_WAY = "no_way"  # no opt-out sentence at all
    NAMED = "named"  # data sources / exemptions: sentences name them
    SILENT = "silent"  # the text does not say


HEADLINES = {
    Verdict.FORM: "Yes, with a form",
    Verdict.OBJECT: "Yes, the text names a right to object",
    Verdict.CONTROLS: "The text names no right to object",
    Verdict.NO_WAY: "The text names no way to object",
    Verdict.SILENT: "The text does not say",
}
# The matrix's one-word cells
SHORT = {
    Verdict.FORM: "Yes, form",
    Verdict.OBJECT: "Yes, no form",
    Verdict.CONTROLS: "No right named",
    Verdict.NO_WAY: "No way named",
    Verdict.NAMED: "Named",
    Verdict.SILENT: "Not said",
}


@dataclass(frozen=True)
class Segment:
    """A run of a sentence's text: plain, marked (a category rule matched it), or a link."""

    text: str
    mark: bool = False
    href: str | None = None


@dataclass(frozen=True)
class Form:
    id: str
    url: str
    label: str  # the link text people click


@dataclass(frozen=True)
class Sentence:
    """One sentence line of a snapshot, with its place and its categories."""

    line: int  # 1-based line of the snapshot file: the anchor is `L<line>`
    text: str  # as stored: Markdown links kept
    section: str
    categories: tuple[str, ...]
    item: bool = False

    @property
    def anchor(self) -> str:
        return f"L{self.line}"

    @property
    def plain(self) -> str:
        return plain(self.text)


@dataclass(frozen=True)
class Quote:
    sentence: Sentence
    segments: tuple[Segment, ...]  # the readable text, the rules' matches marked
    repeats: tuple[int, ...] = ()  # other lines that say the same (folded)
    forms: tuple[Form, ...] = ()


@dataclass(frozen=True)
class Answer:
    question: Question
    verdict: Verdict
    headline: str
    quotes: tuple[Quote, ...] = ()
    forms: tuple[Form, ...] = ()

    @property
    def short(self) -> str:
        return SHORT[self.verdict]

    @property
    def says(self) -> bool:
        return self.verdict not in (Verdict.SILENT, Verdict.NO_WAY)


@dataclass(frozen=True)
class Reading:
    """A snapshot read for the site: its lines and the three answers."""

    lines: tuple[TextLine, ...]
    answers: dict[Question, Answer] = field(default_factory=dict)

    @property
    def sentences(self) -> list[Sentence]:
        return [ln.sentence for ln in self.lines if ln.sentence is not None]


@dataclass(frozen=True)
class TextLine:
    """A line of the snapshot as the text page shows it."""

    number: int
    kind: str  # heading | sentence | item | break
    level: int = 0  # heading level (1-6)
    segments: tuple[Segment, ...] = ()
    sentence: Sentence | None = None
    continues: bool = False  # a list item's further sentence


def link_segments(text: str) -> tuple[Segment, ...]:
    """A stored sentence as text and links; only http(s) targets become links."""
    out: list[Segment] = []
    start = 0
    for m in _LINK.finditer(text):
        if m.start() > start:
            out.append(Segment(_unescape(text[start : m.start()])))
        label, url = _unescape(m.group(1)), m.group(2).replace("%29", ")")
        safe = url.startswith(("https://", "http://"))
        out.append(Segment(label, href=url if safe else None))
        start = m.end()
    if start < len(text):
        out.append(Segment(_unescape(text[start:])))
    return tuple(out)


def _unescape(text: str) -> str:
    return _ESCAPED.sub(r"\1", text)


def marked(readable: str, rules: tuple[CategoryRule, ...], category: str) -> tuple[Segment, ...]:
    """The readable sentence, with what the category's patterns match in it marked."""
    spans: list[tuple[int, int]] = []
    for rule in rules:
        if rule.name != category:
            continue
        for pattern in rule.patterns:
            spans += [m.span() for m in pattern.finditer(readable) if m.end() > m.start()]
    spans.sort()
    merged: list[tuple[int, int]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    out: list[Segment] = []
    pos = 0
    for a, b in merged:
        if a > pos:
            out.append(Segment(readable[pos:a]))
        out.append(Segment(readable[a:b], mark=True))
        pos = b
    if pos < len(readable):
        out.append(Segment(readable[pos:]))
    return tuple(out)


def forms_in(text: str) -> tuple[Form, ...]:
    found: list[Form] = []
    for m in _LINK.finditer(text):
        form = FORM_LINK.search(m.group(2))
        if form and form.group(1) not in {f.id for f in found}:
            found.append(Form(form.group(1), m.group(2), _unescape(m.group(1))))
    return tuple(found)


def read_text(text: str, rules: tuple[CategoryRule, ...]) -> Reading:
    """The snapshot's lines (numbered as in the file) and the three answers."""
    parsed = iter(parse_lines(text))
    lines: list[TextLine] = []
    blank = True
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("<!--"):
            if not blank:
                lines.append(TextLine(number, "break"))
            blank = True
            continue
        line = next(parsed)
        blank = False
        if line.heading:
            level = len(stripped) - len(stripped.lstrip("#"))
            lines.append(TextLine(number, "heading", level, link_segments(line.text)))
            continue
        sentence = Sentence(
            number, line.text, line.section, tuple(categorize(line.text, rules)), line.item
        )
        kind = "item" if line.item else "sentence"
        lines.append(
            TextLine(
                number,
                kind,
                segments=link_segments(line.text),
                sentence=sentence,
                continues=line.item and raw.startswith("  "),
            )
        )
    sentences = [ln.sentence for ln in lines if ln.sentence is not None]
    answers = {q: answer(q, sentences, rules) for q in QUESTIONS}
    return Reading(tuple(lines), answers)


def _quotes(
    chosen: list[Sentence], all_sentences: list[Sentence], rules: tuple[CategoryRule, ...], cat: str
) -> list[Quote]:
    """One quote per distinct sentence (spelling, punctuation and style folded), with the
    lines that repeat it."""
    by_key: dict[tuple[str, ...], list[Sentence]] = {}
    for s in chosen:
        by_key.setdefault(comparable(s.text), []).append(s)
    quotes = []
    for group in by_key.values():
        first = group[0]
        quotes.append(
            Quote(
                first,
                marked(first.plain, rules, cat),
                tuple(s.line for s in group[1:]),
                forms_in(first.text),
            )
        )
    return quotes


def _matches(sentence: Sentence, rules: tuple[CategoryRule, ...], category: str) -> int:
    """How many different things the category's patterns find in the sentence (its link
    targets included, as `categorize` reads them)."""
    found = {
        m.group(0).lower()
        for rule in rules
        if rule.name == category
        for pattern in rule.patterns
        for text in {sentence.plain, sentence.text}
        for m in pattern.finditer(text)
    }
    return len(found)


def answer(
    question: Question, sentences: list[Sentence], rules: tuple[CategoryRule, ...]
) -> Answer:
    cat = question.category
    tagged = [s for s in sentences if cat in s.categories]
    if question == Question.OBJECT:
        return _object_answer(tagged, sentences, rules)
    if not tagged:
        return Answer(question, Verdict.SILENT, HEADLINES[Verdict.SILENT])
    quotes = _quotes(tagged, sentences, rules, cat)
    # the sentences that name the most (different matches) first, then in text order
    quotes.sort(key=lambda q: (-_matches(q.sentence, rules, cat), q.sentence.line))
    n = len(quotes)
    noun = "data sources" if question == Question.DATA_SOURCES else "exemptions"
    headline = f"{n} sentence{'s' if n != 1 else ''} name{'s' if n == 1 else ''} {noun}"
    return Answer(question, Verdict.NAMED, headline, tuple(quotes))


def _object_answer(
    tagged: list[Sentence], sentences: list[Sentence], rules: tuple[CategoryRule, ...]
) -> Answer:
    q = Question.OBJECT
    if not tagged:
        return Answer(q, Verdict.NO_WAY, HEADLINES[Verdict.NO_WAY])
    objecting = [s for s in tagged if OBJECTING.search(s.plain)]
    if not objecting:
        quotes = _quotes(tagged, sentences, rules, Category.OPT_OUT)
        # a linked form first, then the sentences the rules find most in
        quotes.sort(
            key=lambda x: (
                not x.forms,
                -_matches(x.sentence, rules, Category.OPT_OUT),
                x.sentence.line,
            )
        )
        return Answer(
            q, Verdict.CONTROLS, HEADLINES[Verdict.CONTROLS], tuple(quotes), _forms(quotes)
        )
    # a form linked from an objecting sentence, or from an opt-out sentence beside one
    sections = {s.section for s in objecting}
    beside = [
        s for s in tagged if s not in objecting and s.section in sections and forms_in(s.text)
    ]
    quotes = _quotes(objecting + beside, sentences, rules, Category.OPT_OUT)
    # sentences that link a form first (the form is the way to object), then text order
    quotes.sort(key=lambda x: (not x.forms, x.sentence.line))
    forms = _forms(quotes)
    verdict = Verdict.FORM if forms else Verdict.OBJECT
    return Answer(q, verdict, HEADLINES[verdict], tuple(quotes), forms)


def _forms(quotes: list[Quote]) -> tuple[Form, ...]:
    """The forms the quotes link, each once, in the quotes' order."""
    forms: list[Form] = []
    for quote in quotes:
        forms += [f for f in quote.forms if f.id not in {g.id for g in forms}]
    return tuple(forms)
