"""What the reader hands to the phonemizer: sentences made of word pieces and IPA pieces.

Text that must not be normalized (an SSML <phoneme>, a lexicon word, an already spoken <say-as>)
travels through sentence splitting and normalization as a single placeholder character, so that
the words around it keep their context ("Dr. <lexicon word>" still reads "Doctor").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Piece:
    text: str | None = None  # normalized words for espeak-ng: no digits or symbols left to guess
    ipa: str | None = None   # IPA phonemes to speak as given (from <phoneme ph> or the lexicon)
    # The written word(s) an IPA piece stands for, to name it in word timestamps.
    written: str | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Sentence:
    pieces: tuple[Piece, ...]
    rate: float = 1.0                   # from <prosody rate>: 1.0 normal, 2.0 twice as fast
    pause_after_s: float | None = None  # explicit pause after it; None = default sentence pause


# Supplementary private use plane: never typed by users (and stripped from input if it is),
# not a word character for `re`, and room for 65,534 placeholders.
_FIRST_PLACEHOLDER = 0xF0000
_LAST_PLACEHOLDER = 0xFFFFD
PLACEHOLDER_CLASS = "\U000f0000-\U000ffffd"  # for use inside a regex character class
_PLACEHOLDER = re.compile(f"[{PLACEHOLDER_CLASS}]")


def strip_placeholders(text: str) -> str:
    """User text must not smuggle in placeholders of its own."""
    return _PLACEHOLDER.sub("", text)


class Atoms:
    """Pieces kept out of normalization, each standing in the text as one placeholder."""

    def __init__(self) -> None:
        self._pieces: list[Piece] = []

    def add(self, piece: Piece) -> str:
        """The placeholder to put in the text where `piece` belongs (spaced, so it is a word)."""
        if _FIRST_PLACEHOLDER + len(self._pieces) > _LAST_PLACEHOLDER:
            raise ValueError("too many phoneme, lexicon and say-as pieces in one request")
        self._pieces.append(piece)
        return f" {chr(_FIRST_PLACEHOLDER + len(self._pieces) - 1)} "

    def pieces_of(self, normalized: str) -> tuple[Piece, ...]:
        """Split normalized text at its placeholders into pieces; adjacent words are merged and
        bits with nothing to say (lone punctuation) are dropped."""
        pieces: list[Piece] = []
        position = 0
        for match in _PLACEHOLDER.finditer(normalized):
            _append_words(pieces, normalized[position:match.start()])
            atom = self._pieces[ord(match.group()) - _FIRST_PLACEHOLDER]
            if atom.ipa is not None:
                pieces.append(atom)
            else:
                _append_words(pieces, atom.text or "")
            position = match.end()
        _append_words(pieces, normalized[position:])
        return tuple(pieces)


def _append_words(pieces: list[Piece], words: str) -> None:
    words = " ".join(words.split())
    if not words:
        return
    previous = pieces[-1].text if pieces else None
    if not any(char.isalpha() for char in words):
        if previous is not None and words[0] in _PUNCTUATION:  # "<say-as>5</say-as>." keeps "."
            pieces[-1] = Piece(text=previous.rstrip(_PUNCTUATION) + words[0])
        return  # after an IPA piece (or alone) bare punctuation has no words to go with
    if previous is not None:
        joiner = "" if words[0] in _PUNCTUATION else " "
        pieces[-1] = Piece(text=f"{previous}{joiner}{words}")
    else:
        pieces.append(Piece(text=words.lstrip(_PUNCTUATION + " ")))


_PUNCTUATION = ",.;:!?"
