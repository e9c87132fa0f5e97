# ruff: noqa: E501  (real policy sentences, kept whole)
"""The row-aware, count-aware diff and the categories from meaning and context, on real
sentences of Meta's policies (some pairs constructed from them where the archive holds no
such change, as said in each test)."""

from __future__ import annotations

from conftest import SHIPPED

from watcher.classify import PageFacts, alerting, classify, is_editorial
from watcher.config import load_config
from watcher.diff import diff_snapshots

CONFIG = load_config(SHIPPED)
RULES = CONFIG.categories
ALERTING = CONFIG.alerts.categories

PUBLIC = (
    "Public content you or others create or share, like posts, comments or audio on Meta Products"
)
ROWS = """# Legal basis information

## Developing and improving AI at Meta

ⓘ For registered users of the Meta Products ⓘ For all registered users, including those under the age of majority

Why and how we process your information:

Develop and improve AI at Meta for Meta Products and for third parties.

Legitimate interests relied on:

- In our interest, and in the interests of third parties and the public at large to offer artificial intelligence technology to third parties, including developers and researchers.

Your activity and information you provide:

{minors}- Interactions with AI at Meta and related metadata.

## Developing and improving AI at Meta

ⓘ For registered users of the Meta Products ⓘ For all registered users over the age of majority (18 years of over, in most applicable countries)

Why and how we process your information:

Develop and improve AI at Meta for Meta Products and for third parties.

Legitimate interests relied on:

- In our interest, and in the interests of third parties and the public at large to offer artificial intelligence technology to third parties, including developers and researchers.

Your activity and information you provide:

- {public}.
- Interactions with AI at Meta and related metadata.
"""


def _rows(minors: bool) -> str:
    return ROWS.format(minors=f"- {PUBLIC}\n" if minors else "", public=PUBLIC)


def _classified(old: str, new: str):
    changes = diff_snapshots(old, new)
    return changes, classify(old, new, changes, RULES)


def test_a_sentence_dropped_from_one_of_two_rows_is_removed_from_that_row():
    """February 2026: public content leaves the row that covers minors; the same sentence
    (with a final full stop) stays in the adults' row."""
    changes, result = _classified(_rows(minors=True), _rows(minors=False))
    [change] = changes
    assert change.kind == "removed" and change.old == PUBLIC
    assert "under the age of majority" in change.scope
    assert result.categories == ["data_sources", "exemptions"]


def test_an_identical_change_in_many_rows_is_one_change_with_its_places():
    old = "".join(f"## Row {n}\n\n- Messages you send and receive\n\n" for n in range(17))
    new = "".join(
        f"## Row {n}\n\n- Messages you send and receive\n- Interactions with AI at Meta\n\n"
        for n in range(17)
    )
    [change] = diff_snapshots(old, new)
    assert change.kind == "added" and change.count == 17
    assert change.places == [f"Row {n}" for n in range(17)]


def test_a_renamed_heading_is_a_modified_heading_not_a_section_appearing():
    body = "\n".join(
        [
            "- In our interest to develop and improve artificial intelligence technology.",
            "- Public content you create or share, like posts, comments or audio.",
            "- Interactions with Meta's artificial intelligence technology.",
        ]
    )
    old = f"# Legal basis\n\n## Develop and improve AI\n\n{body}\n"
    new = f"# Legal basis\n\n## Developing and improving AI at Meta\n\n{body}\n"
    changes, result = _classified(old, new)
    [change] = changes
    assert change.heading and change.kind == "modified"
    assert not [e for e in result.events if e.kind.startswith("section_")]
    assert not alerting(result.categories, ALERTING)


def test_a_number_change_is_never_editorial_and_alerts():
    """Constructed from a real sentence of "AI integrations" (the archive holds no number
    change of AI wording: only "5" and "five")."""
    sentence = (
        "Meta sometimes shares the messages you send to our AIs and general information, "
        "like your region, with these companies so you can get better results, and they "
        "delete it after {n} days."
    )
    old = f"# AI integrations\n\n{sentence.format(n=3)}\n"
    new = f"# AI integrations\n\n{sentence.format(n=9)}\n"
    assert not is_editorial(sentence.format(n=3), sentence.format(n=9))
    _, result = _classified(old, new)
    assert alerting(result.categories, ALERTING)
    assert "data_sources" in result.categories


def test_number_formats_spellings_and_function_words_are_editorial():
    assert is_editorial(
        "To do this work ethically and responsibly, we have five foundational values.",
        "To do this work ethically and responsibly, we have 5 foundational values.",
    )
    assert is_editorial(
        "We personalise your experience, such as by suggesting reels to watch.",
        "We personalize your experience, like by suggesting reels to watch.",
    )
    assert is_editorial(
        "What we have learnt from AI models.", "What we have learned from AI models."
    )
    assert not is_editorial("We do not use private messages.", "We use private messages.")
    assert not is_editorial("We use all public posts.", "We use some public posts.")


def test_a_new_negated_statement_of_use_is_an_exemption():
    old = "# AI integrations\n\nMeta sometimes shares the messages you send to our AIs.\n"
    for negation in (
        "We don't link these messages to your account.",
        "We do not use the content of your private messages to train our AIs.",
        "Meta cannot read or access your end-to-end encrypted messages to train AI.",
        "We don't use your messages with our AIs unless you choose to share them.",
    ):
        _, result = _classified(old, old + negation + "\n")
        assert "exemptions" in result.categories, negation


def test_an_ads_opt_out_is_not_an_ai_opt_out():
    old = "# How do we use your information?\n\n## Ads\n\nWe show you ads.\n"
    new = old + "Visit your Ad preferences to opt out.\n"
    _, result = _classified(old, new)
    assert not alerting(result.categories, ALERTING)


def test_a_capture_without_its_annotations_is_recorded_but_not_alerted():
    """Quoted lines are annotations; the page had them before and has none now."""
    old = (
        "# What information do we collect?\n\n> ## Third-party public sources\n\n"
        "> - Improve our AI technologies, such as translations\n\n"
        "# AI integrations\n\nMeta sometimes shares the messages you send to our AIs.\n"
    )
    new = "# AI integrations\n\nMeta sometimes shares the messages you send to our AIs.\n"
    changes = diff_snapshots(old, new)
    facts = (
        PageFacts(180_000, {"layers": ["annotations"]}),
        PageFacts(130_000, {}),
    )
    result = classify(old, new, changes, RULES, facts=facts)
    assert changes and all(c.layer for c in changes if not c.heading)
    assert not alerting(result.categories, ALERTING)
    assert [e.kind for e in result.events] == ["capture_layer"]


def test_ai_development_coming_to_rest_on_legitimate_interests_is_an_opt_out_change():
    old = "# Legal basis information\n\n## Legitimate interests\n\nWe rely on them.\n"
    new = _rows(minors=False)
    _, result = _classified(old, new)
    assert "legal_basis_added" in [e.kind for e in result.events]
    assert "opt_out" in result.categories
