"""A rewrite rule: a pattern and how to say what it matched. Rules run in table order, each over
the whole sentence, so an earlier rule (a URL, a date) claims its text before a later, more general
one (a bare number, a symbol) can misread it."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tritontts.text.pieces import PLACEHOLDER_CLASS

Reader = Callable[[re.Match[str]], str]


@dataclass(frozen=True)
class Rule:
    name: str
    pattern: re.Pattern[str]
    read: Reader


def rule(name: str, pattern: str, read: Reader | str, flags: int = 0) -> Rule:
    reader: Reader = read if callable(read) else (lambda _match, words=read: words)
    return Rule(name, re.compile(pattern, flags), reader)


def apply(rules: Iterable[Rule], text: str) -> str:
    for each in rules:
        text = each.pattern.sub(each.read, text)
    return text


def word_table(table: dict[str, str], *, suffix: str = "", case_insensitive: bool = False) -> str:
    """A regex alternation of the table's keys, longest first so "km/h" wins over "km"."""
    keys = sorted(table, key=len, reverse=True)
    body = "|".join(re.escape(key) for key in keys)
    return f"(?{'i' if case_insensitive else ''}:{body}){suffix}"


_SENTENCE_TAIL = re.compile(r"""["'”’)\]\s]*""")


def final_period(match: re.Match[str]) -> str:
    """"." when the match swallowed the period that ends the sentence ("Main St." at the end,
    "3 p.m."): the reading drops the abbreviation's period but the sentence still ends."""
    if not match.group().endswith("."):
        return ""
    tail = _SENTENCE_TAIL.match(match.string, match.end())
    return "." if tail is not None and tail.end() == len(match.string) else ""


# A capitalized word or a placeholder (lexicon word, phoneme): what counts as "a name" in context.
NAME = f"(?:[A-Z][\\w'’-]*|[{PLACEHOLDER_CLASS}])"
_PREVIOUS_WORD = re.compile(r"(\S+)\s+$")
_NEXT_WORD = re.compile(r"\s+(\S+)")


def previous_word(match: re.Match[str], sentence_start: int = 0) -> tuple[str, bool]:
    """The word before the match and whether it is the first word of the sentence (which starts
    at `sentence_start` of the matched string)."""
    start = match.start()
    found = _PREVIOUS_WORD.search(match.string, max(sentence_start, start - 80), start)
    if found is None:
        return "", _only_space_before(match.string, start, sentence_start)
    return found.group(1), _only_space_before(match.string, found.start(), sentence_start)


def starts_sentence(match: re.Match[str]) -> bool:
    return _only_space_before(match.string, match.start())


_NON_SPACE = re.compile(r"\S")


def _only_space_before(text: str, position: int, start: int = 0) -> bool:
    # A search from the start stops at the first non-space, which is almost always at once.
    return _NON_SPACE.search(text, start, position) is None


def next_word(match: re.Match[str]) -> str:
    found = _NEXT_WORD.match(match.string, match.end())
    return found.group(1) if found else ""


def is_name(word: str) -> bool:
    return re.fullmatch(NAME, word.strip("\"'“‘”’()[],;:.!?")) is not None
