"""Before the rules: typography folded to plain forms, markup dropped, fixed expressions ("C++").
After them: symbols said as words ("R&D"), the unsayable dropped, punctuation and spaces tidied."""

from __future__ import annotations

import re

from tritontts.text import number_words
from tritontts.text.pieces import PLACEHOLDER_CLASS
from tritontts.text.rules import Rule, rule, word_table
from tritontts.text.tables import FIXED_EXPRESSIONS, SYMBOL_WORDS

# Typographic variants the rules need not know about. En dashes stay: they mark ranges.
TYPOGRAPHY = str.maketrans({
    "“": '"', "”": '"', "„": '"', "‟": '"', "«": '"', "»": '"', "‘": "'", "’": "'", "‚": "'",
    "‛": "'", "−": "-", "‐": "-", "‑": "-", "…": "...", "\u00a0": " ", "\u2009": " ",
    "\u202f": " ", "\u2007": " ", "\u200b": "", "\ufeff": "", "\u00ad": "", "μ": "µ",
})

_END = r"(?![^\s,.;:!?)\]\"'])"  # a token ends at a space, punctuation or the end

BEFORE_RULES: list[Rule] = [
    # Plain text with tags in it (pasted HTML): markup is never spoken.
    rule("markup", r"</?[A-Za-z][\w:.-]*(?:\s[^<>]*)?/?>|<![^<>]*>|<\?[^<>]*\?>", " "),
    rule("fixed expression", rf"(?<![^\s(\"']){word_table(FIXED_EXPRESSIONS)}{_END}",
         lambda m: FIXED_EXPRESSIONS[m.group()]),
]


def _read_slash(match: re.Match[str]) -> str:
    """"yes/no" -> "yes or no"; between anything else ("TCP/IP") the slash is named."""
    return " or " if match["a"].islower() and match["b"].islower() else " slash "


def _read_ellipsis(match: re.Match[str]) -> str:
    at_end = _NON_SPACE.search(match.string, match.end()) is None
    return "." if at_end else ","


_NON_SPACE = re.compile(r"\S")


def _keep_letters(match: re.Match[str]) -> str:
    """Of a run of non-ASCII characters keep the letters ("café", "Zürich"); drop the rest:
    emoji, dingbats, superscripts and other digits that are not decimal digits."""
    return "".join(char if char.isalpha() or _PLACEHOLDER.match(char) else " "
                   for char in match.group())


_PLACEHOLDER = re.compile(f"[{PLACEHOLDER_CLASS}]")


# When rules leave marks side by side ("et cetera.," or "?."), the one that ends more wins.
_PUNCTUATION_STRENGTH = "?!.;:,"


def _strongest_punctuation(match: re.Match[str]) -> str:
    return min(match.group(), key=_PUNCTUATION_STRENGTH.index)


_SYMBOLS = {key: value for key, value in SYMBOL_WORDS.items() if key != "#"}

AFTER_RULES: list[Rule] = [
    rule("hashtag", r"(?<!\w)#(?=[A-Za-z])", "hashtag "),
    rule("slash", r"(?P<a>\w)/(?P<b>\w)", lambda m: m["a"] + _read_slash(m) + m["b"]),
    rule("symbol", word_table(_SYMBOLS), lambda m: f" {_SYMBOLS[m.group()]} "),
    rule("dash", r"\s[-–—]+\s|—|–|--+", ", "),
    rule("brackets", r"[()\[\]{}]", ", "),  # a parenthesis is heard as a pause
    rule("ellipsis", r"\.{2,}", _read_ellipsis),
    rule("digits left over", r"\d+", lambda m: f" {number_words.integer(m.group())} "),
    rule("unsayable", r"[^\sA-Za-z,.;:?!'-]+", _keep_letters),
    rule("quote marks", r"(?<!\w)'|'(?!\w)", " "),
    rule("lone hyphen", r"(?<!\w)-|-(?!\w)", " "),
    rule("space before punctuation", r"\s+(?=[,.;:?!])", ""),
    rule("repeated punctuation", r"[,.;:?!]{2,}", _strongest_punctuation),
    rule("leading punctuation", r"\A[\s,.;:?!]+", ""),
    rule("trailing commas", r"[\s,;:]+\Z", ""),
    rule("spaces", r"\s+", " "),
]
