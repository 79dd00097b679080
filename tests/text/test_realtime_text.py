"""Sentences out of text that arrives in pieces (tritontts.text.stream): whatever the split,
the segments are the sentences the whole text splits into, with the pauses the frontend puts
between them, and none leaves before its end is certain."""

from __future__ import annotations

import random
import re

import pytest

from tritontts.text.normalize import prepare
from tritontts.text.reader import PARAGRAPH_PAUSE_S, read_plain
from tritontts.text.sentences import split_paragraphs, split_sentences
from tritontts.text.stream import Segment, TextStream

TEXTS = [
    "Dr. Smith paid $3.50 for it. Then he left at 5 p.m. on Monday. He lives on Main St. "
    "Jan. 5 is his birthday! Is it? J. K. Rowling wrote it, e.g. the first one.",
    "Version 3.5 is out. It costs 12.99 dollars... Really? Yes.\n\nA new paragraph starts "
    "here. And ends here.",
    "Intro:\n- first item\n- second item\n1. numbered one\n2. numbered two",
    "“Quoted,” she said. “Another.” The U.S. Army arrived. At 3 p.m. Then nothing.",
    "St. Louis won. Yesterday St. Louis won again. Sunset Dr. is closed.",
]


def whole_segments(text: str) -> list[tuple[str, float | None]]:
    """What the reader makes of the whole text (SentenceBuilder: paragraphs, typography folded,
    sentences): (sentence, pause before it)."""
    expected: list[tuple[str, float | None]] = []
    pause: float | None = 0.0
    for paragraph in split_paragraphs(text):
        for sentence in split_sentences(prepare(paragraph)):
            if read_plain(sentence):
                expected.append((sentence, pause if expected else 0.0))
                pause = None
        pause = PARAGRAPH_PAUSE_S
    return expected


def tokens(text: str, rng: random.Random) -> list[str]:
    """Split like a language model's tokens: a word with its space, sometimes cut in two."""
    pieces = []
    for word in re.findall(r"\s*\S+", text):
        cut = rng.randint(1, max(1, len(word) - 1)) if rng.random() < 0.5 else len(word)
        pieces += [word[:cut], word[cut:]]
    return [p for p in pieces if p]


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("seed", range(8))
def test_any_split_gives_the_sentences_of_the_whole_text(text: str, seed: int) -> None:
    stream, segments = TextStream(), []
    for piece in tokens(text, random.Random(seed)):
        segments += stream.feed(piece)
    segments += stream.flush()
    assert [(s.text, s.pause_before_s) for s in segments] == whole_segments(text)


def test_every_character_split() -> None:
    for text in TEXTS:
        stream = TextStream()
        segments = [s for ch in text for s in stream.feed(ch)] + stream.flush()
        assert [(s.text, s.pause_before_s) for s in segments] == whole_segments(text)


@pytest.mark.parametrize(("pieces", "held"), [
    (["Call Dr.", " "], "Call Dr. "),  # "Dr. Smith" or "Dr. He left": not known yet
    (["Call Dr. Sm"], "Call Dr. Sm"),  # the next word is not whole yet
    (["It costs 3."], "It costs 3."),  # "3.5" or "3. Then"
    (["It is here. "], "It is here. "),  # nothing after the space yet
    (["J. K"], "J. K"),
])
def test_nothing_leaves_before_its_end_is_certain(pieces: list[str], held: str) -> None:
    stream = TextStream()
    assert [s for p in pieces for s in stream.feed(p)] == []
    assert stream.pending == held


def test_a_sentence_leaves_with_the_first_letter_after_it() -> None:
    stream = TextStream()
    assert stream.feed("Hello there. ") == []
    assert stream.feed("T") == [Segment("Hello there.", 0.0)]
    assert stream.feed("hen Dr.") == []
    assert stream.feed(" Smith came. N") == [Segment("Then Dr. Smith came.", None)]


def test_long_runs_are_cut_at_a_clause_then_between_words() -> None:
    stream = TextStream(max_chars=60)
    text = ("this run has no end, it goes on and on with more words and more words "
            "and still more words without any mark at all ")
    segments = [s for word in text.split(" ") for s in stream.feed(word + " ")]
    assert segments[0] == Segment("this run has no end,", 0.0)
    assert all(len(s.text) <= 60 for s in segments)
    assert all(s.pause_before_s == 0.0 for s in segments)  # one sentence going on
    rest = stream.flush()
    assert " ".join(s.text for s in segments + rest) == " ".join(text.split())


def test_tail_speaks_what_waits_and_the_turn_goes_on() -> None:
    stream = TextStream()
    assert stream.feed("Half a sent") == []
    assert stream.tail() == [Segment("Half a sent", 0.0)]
    # After an unfinished piece no sentence pause: the sentence went on.
    assert stream.feed("ence goes on. Next") == [Segment("ence goes on.", 0.0)]
    assert stream.flush() == [Segment("Next", None)]
    assert stream.feed("Done") == [] and stream.tail() == [Segment("Done", 0.0)]
    assert stream.feed("And more.") == [] and stream.flush() == [Segment("And more.", 0.0)]
    assert stream.feed("Fine.") == [] and stream.tail() == [Segment("Fine.", 0.0)]
    assert stream.feed("Then") == [] and stream.tail() == [Segment("Then", None)]


def test_ssml_is_held_to_the_flush_as_one_document() -> None:
    stream = TextStream()
    document = '<speak>Hello. <break time="300ms"/> World.</speak>'
    assert [s for ch in document for s in stream.feed(ch)] == []
    assert stream.tail() == []
    assert stream.flush() == [Segment(document, 0.0, ssml=True)]


def test_unspeakable_sentences_are_dropped_with_their_pause() -> None:
    stream = TextStream()
    segments = stream.feed('One. "..." Two. ') + stream.feed("X") + stream.flush()
    assert segments == [Segment("One.", 0.0), Segment("Two.", None), Segment("X", None)]


def test_clear_forgets_the_buffer_and_the_turn() -> None:
    stream = TextStream()
    stream.feed("One. Two and")
    stream.clear()
    assert stream.pending == "" and not stream.in_turn
    assert stream.feed("Three. F") == [Segment("Three.", 0.0)]
