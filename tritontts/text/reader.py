"""Assembling sentences from text runs, atoms and pauses; shared by plain text and SSML."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tritontts.text.lexicon import apply_lexicon, lowercase_keys
from tritontts.text.normalize import normalize_sentence, prepare
from tritontts.text.pieces import Atoms, Piece, Sentence
from tritontts.text.sentences import split_paragraphs, split_sentences

# Pause after a sentence when the text does not ask for another, as Piper's sentence_silence
# (a deployment's tuning may change it: the `sentence_pause_s` parameter of its text models).
SENTENCE_PAUSE_S = 0.2
PARAGRAPH_PAUSE_S = 0.6  # after a paragraph (blank line, </p>), unless a longer break is asked
MAX_PAUSE_S = 10.0       # one pause, however many breaks add up to it


@dataclass
class _Draft:
    pieces: tuple[Piece, ...]
    rate: float
    pause_after_s: float | None = None
    ends_paragraph: bool = False


class SentenceBuilder:
    """Collects text and atoms into a run; a boundary (pause, paragraph, rate change) reads the
    run into sentences. Pauses attach to the sentence before them; one before any sentence has
    nothing to follow and is dropped."""

    def __init__(self, lexicon: Mapping[str, str] | None) -> None:
        self._lexicon = lowercase_keys(lexicon)
        self._atoms = Atoms()
        self._run: list[str] = []
        self._rate = 1.0
        self._drafts: list[_Draft] = []

    def text(self, text: str) -> None:
        self._run.append(prepare(text))

    def atom(self, piece: Piece) -> None:
        self._run.append(self._atoms.add(piece))

    def set_rate(self, rate: float) -> None:
        if rate != self._rate:
            self.flush()
            self._rate = rate

    def flush(self) -> None:
        """Read the run so far into sentences."""
        run = apply_lexicon("".join(self._run), self._lexicon, self._atoms)
        self._run.clear()
        for sentence in split_sentences(run):
            pieces = self._atoms.pieces_of(normalize_sentence(sentence))
            if pieces:
                self._drafts.append(_Draft(pieces, self._rate))

    def pause(self, seconds: float) -> None:
        self.flush()
        if self._drafts and seconds > 0:
            last = self._drafts[-1]
            last.pause_after_s = min((last.pause_after_s or 0.0) + seconds, MAX_PAUSE_S)

    def end_paragraph(self) -> None:
        self.flush()
        if self._drafts:
            self._drafts[-1].ends_paragraph = True

    def sentences(self) -> list[Sentence]:
        self.flush()
        result = []
        for index, draft in enumerate(self._drafts):
            pause = draft.pause_after_s
            # A paragraph pause separates paragraphs; after the last sentence there is nothing to
            # separate (an explicit <break> there is kept: it was asked for).
            if draft.ends_paragraph and index < len(self._drafts) - 1:
                pause = max(pause or 0.0, PARAGRAPH_PAUSE_S)
            result.append(Sentence(draft.pieces, draft.rate, pause))
        return result


def read_plain(text: str, lexicon: Mapping[str, str] | None = None) -> list[Sentence]:
    """Plain text: paragraphs at blank lines, sentences inside them."""
    builder = SentenceBuilder(lexicon)
    for paragraph in split_paragraphs(text):
        builder.text(paragraph)
        builder.end_paragraph()
    return builder.sentences()
