"""Abbreviations read from their context: "Dr. Smith" (Doctor) but "Sunset Dr." (Drive),
"St. Louis" (Saint) but "Main St." (Street), "No. 5" (number), "Jan. 5" (January); and the plain
ones ("vs.", "e.g.")."""

from __future__ import annotations

import re

from tritontts.text.readings import spell
from tritontts.text.rules import (
    Rule,
    final_period,
    is_name,
    next_word,
    previous_word,
    rule,
    word_table,
)
from tritontts.text.tables import (
    ABBREVIATIONS,
    CONTEXTUAL_ABBREVIATIONS,
    MONTH_ABBREVIATIONS,
    MONTHS,
    NUMBER_PREFIXES,
    STREET_TYPES,
    TITLES,
    TITLES_WITHOUT_PERIOD,
    UNAMBIGUOUS_TITLES,
    WEEKDAY_ABBREVIATIONS,
)

_HOUSE_NUMBER = re.compile(r"\d+(?:st|nd|rd|th)?")


def _follows_name(match: re.Match[str], *, first_word_counts: bool = True,
                  sentence_start: int = 0) -> bool:
    """Whether a name or a house number comes before: "Main St.", "5th Ave."."""
    word, is_first = previous_word(match, sentence_start)
    if _HOUSE_NUMBER.fullmatch(word):
        return True
    return is_name(word) and (first_word_counts or not is_first)


def contextual_reading(match: re.Match[str], sentence_start: int = 0) -> tuple[str, bool]:
    """How "Dr"/"St" reads here, and whether that is the before-a-name reading (a title).
    The sentence starts at `sentence_start` of the matched string."""
    reading = CONTEXTUAL_ABBREVIATIONS[match["abbr"]]
    before_name = is_name(next_word(match))
    # The first word of a sentence is capitalized anyway: no evidence of a name when a name also
    # follows ("Yesterday St. Louis won"), but "Sunset Dr." alone still is a street.
    after_name = _follows_name(match, first_word_counts=not before_name,
                               sentence_start=sentence_start)
    title = reading.prefer_before if before_name == after_name else before_name
    return (reading.before_name if title else reading.after_name), title


def _read_contextual(match: re.Match[str]) -> str:
    if not match["dot"] and not (is_name(next_word(match)) or _follows_name(match)):
        return match.group()  # a bare "Dr"/"St" with no name around is not ours to guess
    words, _ = contextual_reading(match)
    return words + final_period(match)


def _read_title(match: re.Match[str]) -> str:
    abbreviation = match["abbr"]
    without_period_ok = abbreviation in UNAMBIGUOUS_TITLES or (
        abbreviation in TITLES_WITHOUT_PERIOD and is_name(next_word(match)))
    if not match["dot"] and not without_period_ok:
        return match.group()
    return TITLES[match["abbr"]] + final_period(match)


def _read_street_type(match: re.Match[str]) -> str:
    if not _follows_name(match):
        return match.group()
    return STREET_TYPES[match["abbr"]] + final_period(match)


def _read_plain(match: re.Match[str]) -> str:
    word, _ = previous_word(match)
    if word[-1:].isdecimal():  # "5 min." is a unit, read later; not "minimum"
        return match.group()
    return ABBREVIATIONS[match.group()] + final_period(match)


_WEEKDAY = word_table(WEEKDAY_ABBREVIATIONS)

ABBREVIATION_RULES: list[Rule] = [
    rule("contextual abbreviation",
         rf"\b(?P<abbr>{word_table(CONTEXTUAL_ABBREVIATIONS)})(?P<dot>\.)?(?!\w)",
         _read_contextual),
    rule("title", rf"\b(?P<abbr>{word_table(TITLES)})(?P<dot>\.)?(?!\w)", _read_title),
    rule("street type", rf"\b(?P<abbr>{word_table(STREET_TYPES)})(?P<dot>\.)?(?!\w)",
         _read_street_type),
    rule("month abbreviation",
         rf"\b(?P<abbr>{word_table(MONTH_ABBREVIATIONS)})(?:\.|(?=\s*\d))(?!\w)",
         lambda m: MONTHS[MONTH_ABBREVIATIONS[m["abbr"]] - 1] + final_period(m)),
    rule("weekday range", rf"\b(?P<a>{_WEEKDAY})\.?\s*[-–]\s*(?P<b>{_WEEKDAY})(?P<dot>\.)?(?!\w)",
         lambda m: f"{WEEKDAY_ABBREVIATIONS[m['a']]} to {WEEKDAY_ABBREVIATIONS[m['b']]}"
         + final_period(m)),
    rule("weekday abbreviation", rf"\b(?P<abbr>{_WEEKDAY})\.(?!\w)",
         lambda m: WEEKDAY_ABBREVIATIONS[m["abbr"]] + final_period(m)),
    rule("number prefix", rf"\b(?P<abbr>{word_table(NUMBER_PREFIXES)})\.\s?(?=[\d#])",
         lambda m: NUMBER_PREFIXES[m["abbr"]] + " "),
    rule("number sign", r"(?<![\w&])#(?=\d)", "number "),
    rule("abbreviation", rf"(?<![\w.]){word_table(ABBREVIATIONS)}(?![\w/])", _read_plain),
    # Any other dotted initialism: "U.S." -> "U S" ("a.m." and "p.m." are left to the times).
    rule("dotted initialism", r"(?<![\w.])(?![AaPp]\.[Mm]\.)(?:[A-Za-z]\.){2,}(?!\w)",
         lambda m: spell(m.group().replace(".", "")) + final_period(m)),
]
