"""Text folding shared by extraction, verification and normalization."""

from __future__ import annotations

import unicodedata

# Typographic variants that change from fetch to fetch or region to region, folded to one.
_FOLDS = (
    *((c, "'") for c in "\u2018\u2019\u201a\u201b\u2032"),
    *((c, '"') for c in "\u201c\u201d\u201e\u201f\u2033"),
    *((c, " ") for c in "\u00a0\u2007\u202f\u2009\u200a\u2002\u2003\u3000"),
    *((c, "") for c in "\u200b\u200c\u200d\u2060\ufeff\u00ad"),  # zero-width, soft hyphen
)


def fold_ws(text: str) -> str:
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
