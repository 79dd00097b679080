"""English text reading for the speech engine: plain text or an SSML subset in, sentences of
speakable words (and IPA pieces) out.

    >>> read_text("Dr. Smith paid $25.50.")[0].pieces
    (Piece(text='Doctor Smith paid twenty-five dollars and fifty cents.', ipa=None),)
"""

from __future__ import annotations

from collections.abc import Mapping

from tritontts.text.lexicon import load_lexicon
from tritontts.text.normalize import normalize
from tritontts.text.pieces import Piece, Sentence
from tritontts.text.reader import read_plain
from tritontts.text.ssml import is_ssml, read_ssml

__all__ = ["Piece", "Sentence", "load_lexicon", "normalize", "read_text"]


def read_text(text: str, lexicon: Mapping[str, str] | None = None) -> list[Sentence]:
    """SSML if the input is XML with a <speak> root (after stripping leading whitespace), plain
    text otherwise. lexicon: word -> IPA, case-insensitive whole-word match, applied before
    normalization of plain words (a lexicon word becomes its own Piece(ipa=...)). Raises
    tritontts.errors.InvalidInputError with a message naming the problem for malformed SSML.
    Markup is never spoken."""
    if is_ssml(text):
        return read_ssml(text, lexicon)
    return read_plain(text, lexicon)
