"""Sentences out of text that is still being written (a language model's reply, token by
token), by the same rules as whole texts: `sentences.py` decides every boundary, and a
sentence leaves only when no text added later could change it ("Dr." + " Smith", "3." + "5").

A run that reaches `max_chars` without a boundary is cut at its last clause mark, else between
words; the rest is spoken when the turn is flushed or the caller decides it has waited long
enough (`tail`). SSML is a document: a turn that starts with markup is held until its flush.

Each segment says how long a pause comes before it, as the frontend would put it between the
same sentences of one request: none before a turn's first segment, the deployment's sentence
pause (None) after a sentence, the paragraph pause after a blank line, none inside a cut run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tritontts.text.normalize import prepare
from tritontts.text.reader import PARAGRAPH_PAUSE_S, read_plain
from tritontts.text.sentences import (
    split_open_paragraphs,
    split_open_sentences,
    split_paragraphs,
    split_sentences,
)
from tritontts.text.ssml import is_ssml

# Longer runs without a sentence boundary are cut: about 15 s of speech, and well inside what
# the frontend takes as one chunk, so a cut never lands where the frontend would cut again.
MAX_SEGMENT_CHARS = 250
_CLAUSE_END = re.compile(r"[,;:)\]]\s")
_SPACE = re.compile(r"\s")
_TERMINATED = re.compile(r"(?:[.!?]+|…)[\"')\]]*\s*$")


@dataclass(frozen=True)
class Segment:
    """A piece of a turn to synthesize on its own: a sentence, a cut part of a long run, or a
    whole SSML document."""

    text: str
    # Silence before it, in seconds: 0.0 (first of a turn, or a cut run going on), None (the
    # deployment's sentence pause), or a fixed pause (after a paragraph).
    pause_before_s: float | None
    ssml: bool = False


_PAUSE_NONE: float = 0.0
_PAUSE_SENTENCE: float | None = None


class TextStream:
    """Feed pieces of text; get the segments that are ready, in order."""

    def __init__(self, max_chars: int = MAX_SEGMENT_CHARS) -> None:
        if max_chars < 16:
            raise ValueError(f"max_chars must be at least 16, got {max_chars}")
        self.max_chars = max_chars
        self._buffer = ""
        self._spoken = False  # whether a segment of this turn has left
        self._pause_after_last: float | None = _PAUSE_NONE  # after that segment

    @property
    def pending(self) -> str:
        """Text taken but not yet made into segments."""
        return self._buffer

    @property
    def in_turn(self) -> bool:
        """Whether the turn has begun: a segment left, or text is waiting."""
        return self._spoken or bool(self._buffer.strip())

    def feed(self, piece: str) -> list[Segment]:
        # Typography is folded a character at a time, so pieces fold as the whole text would.
        self._buffer += prepare(piece)
        if self._holds_markup():
            return []
        closed, rest = split_open_paragraphs(self._buffer)
        segments: list[Segment] = []
        for paragraph in closed:
            segments += self._sentences(split_sentences(paragraph), _PAUSE_SENTENCE)
            self._end_paragraph()
        sentences, start = split_open_sentences(rest)
        segments += self._sentences(sentences, _PAUSE_SENTENCE)
        self._buffer = rest[start:]
        segments += self._cut_long_run()
        return segments

    def tail(self) -> list[Segment]:
        """The buffered text now (the writer has paused); the turn goes on."""
        if self._holds_markup():
            return []
        return self._speak_all(end_turn=False)

    def flush(self) -> list[Segment]:
        """Everything buffered: the turn is over, the next text begins a new one."""
        if self._holds_markup():
            document, self._buffer = self._buffer, ""
            if is_ssml(document):
                segments = [Segment(document, 0.0, ssml=True)]
            else:  # held text that is no SSML after all: read as the whole text it is
                segments = []
                for paragraph in split_paragraphs(document):
                    segments += self._sentences(split_sentences(paragraph), _PAUSE_SENTENCE)
                    self._end_paragraph()
        else:
            segments = self._speak_all(end_turn=True)
        self.clear()
        return segments

    def clear(self) -> None:
        """Drop the buffer and end the turn (barge-in)."""
        self._buffer = ""
        self._spoken = False
        self._pause_after_last = _PAUSE_NONE

    def _holds_markup(self) -> bool:
        """A turn that starts with "<" is read as one SSML document at its flush."""
        return not self._spoken and self._buffer.lstrip().startswith("<")

    def _speak_all(self, end_turn: bool) -> list[Segment]:
        """The buffer (one paragraph: `feed` has taken every closed one) as segments."""
        sentences = split_sentences(self._buffer)
        self._buffer = ""
        if end_turn or not sentences:
            return self._sentences(sentences, _PAUSE_SENTENCE)
        # The writer may go on mid-sentence: no sentence pause after an unfinished one.
        *whole, last = sentences
        after = _PAUSE_SENTENCE if _TERMINATED.search(last) else _PAUSE_NONE
        return self._sentences(whole, _PAUSE_SENTENCE) + self._sentences([last], after)

    def _cut_long_run(self) -> list[Segment]:
        segments: list[Segment] = []
        while len(self._buffer.strip()) > self.max_chars:
            text = self._buffer.lstrip()
            window = text[: self.max_chars + 1]
            cut = max((m.end() for m in _CLAUSE_END.finditer(window)), default=0)
            if cut < self.max_chars // 4:  # no clause mark worth cutting at: between words
                cut = max((m.start() for m in _SPACE.finditer(window)), default=0)
            if cut < self.max_chars // 4:  # one enormous "word"
                cut = self.max_chars
            segments += self._sentences([" ".join(text[:cut].split())], _PAUSE_NONE)
            self._buffer = text[cut:]
        return segments

    def _sentences(self, sentences: list[str], pause_after: float | None) -> list[Segment]:
        segments = []
        for sentence in sentences:
            if not _speakable(sentence):
                continue  # the frontend drops it, and no pause with it
            before = self._pause_after_last if self._spoken else 0.0
            segments.append(Segment(sentence, before))
            self._spoken = True
            self._pause_after_last = pause_after
        return segments

    def _end_paragraph(self) -> None:
        if self._spoken:
            self._pause_after_last = PARAGRAPH_PAUSE_S


def _speakable(sentence: str) -> bool:
    """Whether the reader finds words in it (the frontend refuses text without any)."""
    return bool(read_plain(sentence))
