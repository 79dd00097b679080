"""Words in capitals: initialisms spelled ("FBI"), acronyms said as words ("NASA"), Roman numerals
("World War II", "Henry VIII"), emphasis ("do NOT"), and whole sentences typed in capitals."""

from __future__ import annotations

import re

from tritontts.text import number_words
from tritontts.text.readings import spell
from tritontts.text.rules import Rule, rule, starts_sentence, word_table
from tritontts.text.tables import (
    ACRONYMS_AS_WORDS,
    CAPITALIZED_WORDS,
    REGNAL_NAMES,
    ROMAN_NUMERAL_CUES,
)

# Initialisms longer than this are rare; a longer all-capital word is a shouted word.
MAX_SPELLED_LETTERS = 5

_CAPITAL_WORD = re.compile(r"\b[A-Z]{2,}\b")
_ANY_WORD = re.compile(r"\b[^\W\d_]{2,}\b")
_VOWEL = re.compile(r"[AEIOUY]")


def _lower_shouted_sentence(match: re.Match[str]) -> str:
    """"PLEASE READ THE MANUAL" is shouting, not a row of initialisms: say its words as words.
    Vowel-less capitals ("HTML", "TCP") are still spelled."""
    text = match.group()
    capitals = _CAPITAL_WORD.findall(text)
    if len(capitals) < 3 or len(capitals) * 10 < len(_ANY_WORD.findall(text)) * 6:
        return text
    return _CAPITAL_WORD.sub(
        lambda m: m.group().lower() if _VOWEL.search(m.group()) else m.group(), text)


_ROMAN_VALUES = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}


def roman_value(numeral: str) -> int | None:
    """The value of a well-formed Roman numeral ("XIV" -> 14), None for anything else ("IIX")."""
    total = 0
    for index, char in enumerate(numeral):
        value = _ROMAN_VALUES[char]
        following = _ROMAN_VALUES[numeral[index + 1]] if index + 1 < len(numeral) else 0
        total += -value if value < following else value
    return total if 0 < total < 4000 and _to_roman(total) == numeral else None


def _to_roman(value: int) -> str:
    digits = []
    for symbol, amount in (("M", 1000), ("CM", 900), ("D", 500), ("CD", 400), ("C", 100),
                           ("XC", 90), ("L", 50), ("XL", 40), ("X", 10), ("IX", 9), ("V", 5),
                           ("IV", 4), ("I", 1)):
        count, value = divmod(value, amount)
        digits.append(symbol * count)
    return "".join(digits)


def _read_cued_roman(match: re.Match[str]) -> str:
    value = roman_value(match["roman"])
    return match.group() if value is None else f"{match['cue']} {number_words.cardinal(value)}"


def _read_regnal(match: re.Match[str]) -> str:
    value = roman_value(match["roman"])
    return match.group() if value is None else f"{match['name']} the {number_words.ordinal(value)}"


def _read_titled_roman(match: re.Match[str]) -> str:
    """"Rocky II" -> "Rocky two"; but not after the first word ("Take IV fluids")."""
    value = roman_value(match["roman"])
    if value is None or starts_sentence(match):
        return match.group()
    return f"{match['name']} {number_words.cardinal(value)}"


def _read_capitals(match: re.Match[str]) -> str:
    letters, plural = match["caps"], match["plural"] or ""
    if letters in ACRONYMS_AS_WORDS:
        return ACRONYMS_AS_WORDS[letters] + plural  # "NASA's" -> "Nasa's", "PINs" -> "pins"
    if letters in CAPITALIZED_WORDS or len(letters) > MAX_SPELLED_LETTERS:
        return (letters + plural).lower()
    # "GPUs" -> "G P U's": espeak-ng says a lone "s" as the letter, "U's" as the plural.
    return spell(letters) + ("'s" if plural else "")


# Runs before all other rules: they look at capitals to find names, titles and initialisms.
SHOUTED_SENTENCE_RULE = rule("shouted sentence", r"\A.*\Z", _lower_shouted_sentence, re.DOTALL)

CAPITALS_RULES: list[Rule] = [
    rule("roman numeral after a cue",
         rf"(?<![\w.])(?P<cue>{word_table(dict.fromkeys(ROMAN_NUMERAL_CUES))})"
         r"\s+(?P<roman>[IVXLCDM]+)\b", _read_cued_roman),
    # A lone "I" after a name is the pronoun more often than "the first" ("when John I met").
    rule("regnal numeral", rf"\b(?P<name>{word_table(dict.fromkeys(REGNAL_NAMES))})"
         r"\s+(?P<roman>[IVX]{2,6})\b", _read_regnal),
    # Other numerals of I, V and X after a title ("Final Fantasy VII", "Rocky II"): a number.
    rule("roman numeral after a name", r"\b(?P<name>[A-Z][a-z]+)\s+(?P<roman>[IVX]{2,6})\b(?!['’])",
         _read_titled_roman),
    # "in the a.m." with no time before it (times took theirs already).
    rule("meridiem", r"(?<![\w.])(?P<letter>[AaPp])\.\s?[Mm]\.",
         lambda m: spell(m["letter"] + "M")),
    rule("capitals", r"(?<![\w'’])(?P<caps>[A-Z]{2,})(?P<plural>'?s)?(?![\w'’])", _read_capitals),
]
