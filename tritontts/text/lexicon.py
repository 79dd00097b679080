"""A pronunciation dictionary: words said with given IPA instead of what the phonemizer guesses."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from tritontts.errors import UsageError
from tritontts.text.pieces import Atoms, Piece


class LexiconError(UsageError, ValueError):
    """A pronunciation dictionary line that cannot be read; the message names file and line."""

# A word as the lexicon matches it: letters and digits, joined by hyphens or apostrophes.
_WORD = re.compile(r"[^\W_]+(?:[-'’][^\W_]+)*")
# A word glued to these is part of an address ("nvidia.com", "@nvidia"), not a word of its own.
_ADDRESS_GLUE = re.compile(r"[.@/:][^\W_]")


def load_lexicon(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read `word<TAB or spaces>IPA` lines; `#` starts a comment. Keys come back lowercase (the
    lexicon matches without regard to case). Raises LexiconError naming the file and line of a
    malformed line or of a word listed twice."""
    entries: dict[str, str] = {}
    first_line: dict[str, int] = {}
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            content = line.split("#", 1)[0].strip()
            if not content:
                continue
            # A tab separates word and IPA when there is one (the IPA may hold spaces), else the
            # first run of spaces does.
            parts = content.split("\t", 1) if "\t" in content else content.split(None, 1)
            where = f"{os.fspath(path)}, line {number}"
            if len(parts) != 2:
                raise LexiconError(f"{where}: expected 'word<TAB>IPA', got {content!r}")
            word, ipa = parts[0].strip(), parts[1].strip().strip("/[]").strip()
            if not _WORD.fullmatch(word):
                raise LexiconError(f"{where}: {word!r} is not a single word")
            if not ipa:
                raise LexiconError(f"{where}: no IPA for {word!r}")
            key = word.lower()
            if key in entries:
                raise LexiconError(f"{where}: {word!r} is already listed on line {first_line[key]}")
            entries[key], first_line[key] = ipa, number
    return entries


def lowercase_keys(lexicon: Mapping[str, str] | None) -> dict[str, str]:
    """The lexicon keyed by lowercase words, as `apply_lexicon` takes it (once per request)."""
    return {word.lower(): ipa for word, ipa in (lexicon or {}).items()}


def apply_lexicon(text: str, lowered: Mapping[str, str], atoms: Atoms) -> str:
    """Replace every whole-word, case-insensitive occurrence of a lexicon word (keys lowercase)
    with a placeholder for Piece(ipa=...). A hyphenated word is tried whole, then part by part
    ("Triton-based")."""
    if not lowered:
        return text

    def replace(match: re.Match[str]) -> str:
        before, after = text[max(0, match.start() - 1):match.start()], text[match.end():]
        if before in (".", "@", "/", ":") or _ADDRESS_GLUE.match(after):
            return match.group()
        word = match.group()
        if word.lower() in lowered:
            return atoms.add(Piece(ipa=lowered[word.lower()], written=word))
        if "-" not in word:
            return word
        return "-".join(atoms.add(Piece(ipa=lowered[part.lower()], written=part)).strip()
                        if part.lower() in lowered else part for part in word.split("-"))

    return _WORD.sub(replace, text)
