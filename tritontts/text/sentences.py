"""Paragraphs and sentences of plain text. A period ends a sentence unless it belongs to an
abbreviation that leads into more words ("Dr. Smith", "Jan. 5", "e.g. this"), an initial
("J. K. Rowling"), or a number ("3.14" has no space after it, so it is never a candidate)."""

from __future__ import annotations

import re

from tritontts.text.abbreviations import contextual_reading
from tritontts.text.pieces import PLACEHOLDER_CLASS
from tritontts.text.rules import word_table
from tritontts.text.tables import (
    CONTEXTUAL_ABBREVIATIONS,
    MONTH_ABBREVIATIONS,
    NEVER_END_SENTENCE,
    NUMBER_PREFIXES,
    TITLES,
)

_PARAGRAPH_BREAK = re.compile(r"\n[^\S\n]*\n\s*")
_LIST_ITEM = re.compile(r"\n(?=[^\S\n]*(?:[-*•+]|\d{1,3}[.)])\s)")
# Sentence-ending marks, any closing quotes or brackets after them, then the space after.
_CANDIDATE = re.compile(r"(?P<mark>[.!?]+|…)(?P<close>[\"'”’)\]]*)\s+")
_WORD_BEFORE = re.compile(r"(\S*)\s*$")
_OPENING = re.compile(rf"[A-Z0-9\"'“‘(\[{PLACEHOLDER_CLASS}]|[^\W\d_]")
_INITIALISM = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]")  # "U.S" "e.g" before the final period
_WHOLE_WORD = re.compile(r"\S+\s")  # a word that more text can no longer lengthen
_LEADS_TO_NUMBER = frozenset(NUMBER_PREFIXES) | frozenset(MONTH_ABBREVIATIONS)


def split_paragraphs(text: str) -> list[str]:
    """Paragraphs are separated by blank lines; single newlines are spaces inside a paragraph."""
    return [p for p in (part.strip() for part in _PARAGRAPH_BREAK.split(text)) if p]


def split_open_paragraphs(text: str) -> tuple[list[str], str]:
    """For text still being written: the paragraphs a blank line has closed, and the rest."""
    *closed, rest = _PARAGRAPH_BREAK.split(text)
    return [p for p in (part.strip() for part in closed) if p], rest


def split_sentences(paragraph: str) -> list[str]:
    """Sentences of a paragraph, whitespace collapsed. A line that starts a list item ("- ",
    "* ", "• ", "1. ", "2) ") starts a sentence even without a period before it."""
    sentences, rest = _split(paragraph, complete=True)
    return _collapsed([*sentences, paragraph[rest:]])


def split_open_sentences(paragraph: str) -> tuple[list[str], int]:
    """For a paragraph still being written: the sentences that no text added later can change,
    and where the rest (the sentence being written) begins. The same rules as
    `split_sentences`; a boundary counts once the text after it settles them: the next
    character ("3." + "5", "J. " + "K."), or the whole next word after an abbreviation whose
    reading it picks ("Dr. Smith" leads on, "Main St. He" ends)."""
    sentences, rest = _split(paragraph, complete=False)
    return _collapsed(sentences), rest


def _collapsed(sentences: list[str]) -> list[str]:
    return [" ".join(s.split()) for s in sentences if s.strip()]


def _split(paragraph: str, complete: bool) -> tuple[list[str], int]:
    """Sentences that end inside `paragraph`, and the offset of the text after the last one.
    Incomplete text: a boundary that more text could still undo ends the scan."""
    sentences: list[str] = []
    items = list(_LIST_ITEM.finditer(paragraph))  # the newline before an item is dropped
    blocks = list(zip([0, *(m.end() for m in items)],
                      [*(m.start() for m in items), len(paragraph)], strict=True))
    for number, (begin, end) in enumerate(blocks):
        block = paragraph[begin:end]
        last = number == len(blocks) - 1
        start = 0
        for candidate in _CANDIDATE.finditer(block):
            ends = _ends_sentence(block, start, candidate, complete=complete or not last)
            if ends is None:
                return sentences, begin + start
            if ends:
                sentences.append(block[start:candidate.end("close")])
                start = candidate.end()
        if not last:  # a list item after it: the block's text is a sentence
            sentences.append(block[start:])
            continue
        return sentences, begin + start
    return sentences, len(paragraph)


def _ends_sentence(text: str, sentence_start: int, candidate: re.Match[str],
                   complete: bool = True) -> bool | None:
    """Whether the candidate ends the sentence; None (text still arriving): not known yet."""
    following = text[candidate.end():candidate.end() + 1]
    if not following:
        return True if complete else None
    if "?" in candidate["mark"] or "!" in candidate["mark"]:
        return True  # even before a lowercase word: chat text often has no capitals
    if not _starts_sentence(following):
        return False  # "at 3 p.m. on Monday", "Wait... what": the same sentence goes on
    if candidate["mark"] != ".":
        return True  # an ellipsis before a capital
    window = max(sentence_start, candidate.start() - 40)  # an abbreviation is a short word
    word = _WORD_BEFORE.search(text, window, candidate.start()).group(1).lstrip("\"'“‘([")
    if (not complete and word in CONTEXTUAL_ABBREVIATIONS
            and not _WHOLE_WORD.match(text, candidate.end())):
        return None  # "Dr. Smith" or "Main St. He": the next word decides
    return not _leads_on(word, text, sentence_start, candidate)


def _starts_sentence(char: str) -> bool:
    return _OPENING.match(char) is not None and not char.islower()


def _leads_on(word: str, text: str, sentence_start: int, candidate: re.Match[str]) -> bool:
    """Whether `word.` is an abbreviation or initial that the next words belong to."""
    next_is_digit = text[candidate.end():candidate.end() + 1].isdecimal()
    if len(word) == 1 and word.isupper():
        return True  # an initial: "J. K. Rowling"
    if _INITIALISM.fullmatch(word):
        return word.lower() not in ("a.m", "p.m")  # "the U.S. Army", but "at 3 p.m. Then"
    if word in TITLES or word in NEVER_END_SENTENCE:
        return True
    if word in CONTEXTUAL_ABBREVIATIONS:
        return _reads_as_title(text, sentence_start, candidate.start() - len(word))
    return word in _LEADS_TO_NUMBER and next_is_digit


def _reads_as_title(text: str, sentence_start: int, position: int) -> bool:
    """"Dr. Smith" leads on (Doctor); "Main St. He left." ends (Street). Decided by the rule that
    chooses the reading, on the sentence so far, so that splitting and reading never disagree."""
    match = _CONTEXTUAL.match(text, position)
    return match is None or contextual_reading(match, sentence_start)[1]


_CONTEXTUAL = re.compile(rf"(?P<abbr>{word_table(CONTEXTUAL_ABBREVIATIONS)})(?P<dot>\.)")
