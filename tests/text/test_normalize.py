"""Plain-text reading: the normalization table, sentence and paragraph splitting, the lexicon."""

from __future__ import annotations

import random
import re
import time
from pathlib import Path

import pytest
from normalize_cases import CASES

from tritontts.text import Piece, Sentence, load_lexicon, normalize, read_text
from tritontts.text.sentences import split_paragraphs, split_sentences

NORMALIZE_CASES = [
    pytest.param(written, spoken, id=f"{category}: {written}")
    for category, cases in CASES.items()
    for written, spoken in cases
]
# What espeak-ng may be given: letters, spaces, sentence punctuation, apostrophes and hyphens
# inside words. No digits, no symbols left for it to guess at.
WORD = re.compile(r"[^\W\d_]+(?:['-][^\W\d_]+)*")


def unspeakable(words: str) -> str:
    """What is left of `words` when the letters (str.isalpha: not "²") and punctuation are gone."""
    rest = WORD.sub(lambda m: "".join(c for c in m.group() if not (c.isalpha() or c in "'-")),
                    words)
    return re.sub(r"[ ,.;:?!]", "", rest)


def test_the_table_covers_every_category_with_at_least_150_cases() -> None:
    assert len(NORMALIZE_CASES) >= 150
    required = {"cardinal", "ordinal", "decimal", "fraction", "negative", "range", "currency",
                "percent", "date", "time", "year", "phone", "unit", "abbreviation", "acronym",
                "url", "email", "symbol"}
    assert required <= set(CASES)


@pytest.mark.parametrize(("written", "spoken"), NORMALIZE_CASES)
def test_normalize(written: str, spoken: str) -> None:
    assert normalize(written) == spoken


@pytest.mark.parametrize(("written", "spoken"), NORMALIZE_CASES)
def test_normalized_text_has_nothing_left_to_guess(written: str, spoken: str) -> None:
    words = normalize(written)
    leftover = unspeakable(words)
    assert leftover == "", f"{written!r} -> {words!r} leaves {leftover!r}"


def test_normalize_is_stable_on_its_own_output() -> None:
    """Spoken words are read as they are: normalizing twice changes nothing."""
    for category in ("cardinal", "currency", "date", "time", "unit", "sentences"):
        for written, _ in CASES[category]:
            once = normalize(written)
            assert normalize(once) == once, written


# --- sentences and paragraphs ---------------------------------------------------------------

@pytest.mark.parametrize(("text", "sentences"), [
    pytest.param("Dr. Smith arrived at 3 p.m. on Jan. 5. He left.",
                 ["Dr. Smith arrived at 3 p.m. on Jan. 5.", "He left."], id="brief example"),
    pytest.param("Pi is 3.14. It is irrational.", ["Pi is 3.14.", "It is irrational."],
                 id="decimal not split"),
    pytest.param("Version 1.2.3 is out. Update now.", ["Version 1.2.3 is out.", "Update now."],
                 id="version not split"),
    pytest.param("J. K. Rowling wrote it. Then she rested.",
                 ["J. K. Rowling wrote it.", "Then she rested."], id="initials"),
    pytest.param("He moved to Main St. He liked it.", ["He moved to Main St.", "He liked it."],
                 id="street ends a sentence"),
    pytest.param("We went to St. Louis. It was fun.", ["We went to St. Louis.", "It was fun."],
                 id="saint does not"),
    pytest.param("Is it? Yes! OK.", ["Is it?", "Yes!", "OK."], id="question and exclamation"),
    pytest.param("really? yes", ["really?", "yes"], id="lowercase after question mark"),
    pytest.param('He said "Stop." Then he left.', ['He said "Stop."', "Then he left."],
                 id="closing quote"),
    pytest.param("See e.g. Smith. Then go.", ["See e.g. Smith.", "Then go."], id="e.g."),
    pytest.param("See No. 5 and Fig. 3. Done.", ["See No. 5 and Fig. 3.", "Done."],
                 id="number prefixes"),
    pytest.param("I met Mr. and Mrs. Smith. They were nice.",
                 ["I met Mr. and Mrs. Smith.", "They were nice."], id="titles"),
    pytest.param("Call me at 5 p.m. Tomorrow works.", ["Call me at 5 p.m.", "Tomorrow works."],
                 id="p.m. can end a sentence"),
    pytest.param("Wait... what? Really.", ["Wait... what?", "Really."], id="ellipsis"),
    pytest.param("It costs $5. Next item.", ["It costs $5.", "Next item."], id="after money"),
    pytest.param("one line\nand the next", ["one line and the next"], id="newline is a space"),
    pytest.param("Buy:\n- eggs\n* milk\n1. bread\n2) jam", ["Buy:", "- eggs", "* milk",
                 "1. bread", "2) jam"], id="list items"),
])
def test_split_sentences(text: str, sentences: list[str]) -> None:
    assert split_sentences(text) == sentences


def test_split_paragraphs_at_blank_lines() -> None:
    text = "First one.\nStill first.\n\n  \nSecond.\r\n\r\nThird."
    assert split_paragraphs(text) == ["First one.\nStill first.", "Second.", "Third."]


def test_read_text_gives_the_brief_example_two_sentences() -> None:
    sentences = read_text("Dr. Smith arrived at 3 p.m. on Jan. 5. He left.")
    assert sentences == [
        Sentence((Piece(text="Doctor Smith arrived at three P M on January fifth."),)),
        Sentence((Piece(text="He left."),)),
    ]


def test_paragraphs_pause_between_them_but_not_after_the_last() -> None:
    sentences = read_text("One. Two.\n\nThree.\n\n\nFour.")
    assert [s.pieces[0].text for s in sentences] == ["One.", "Two.", "Three.", "Four."]
    assert [s.pause_after_s for s in sentences] == [None, 0.6, 0.6, None]
    assert all(s.rate == 1.0 for s in sentences)


def test_no_empty_sentences_and_whitespace_collapsed() -> None:
    sentences = read_text("  Hello\t\tworld.  ...  \n\n 😀 \n\n  ***  \n\nBye   now. ")
    assert [s.pieces for s in sentences] == [(Piece(text="Hello world."),),
                                             (Piece(text="Bye now."),)]
    assert read_text("") == []
    assert read_text("   \n\n  ") == []


def test_plain_text_markup_is_not_spoken() -> None:
    sentences = read_text("<p>Hello <em>there</em></p>")
    assert sentences == [Sentence((Piece(text="Hello there"),))]


def test_private_use_characters_in_input_cannot_forge_pieces() -> None:
    sentences = read_text("a \U000f0000 b", {"x": "ks"})
    assert sentences == [Sentence((Piece(text="a b"),))]


@pytest.mark.parametrize("text", [
    pytest.param("1" * 10_000, id="10,000 digits"),
    pytest.param("9" * 5000 + "th " + "9" * 5000 + "/7", id="huge ordinal and fraction"),
    pytest.param("$" + "9" * 5000, id="huge amount"),
    pytest.param("Dr. " * 3000, id="3,000 titles"),
    pytest.param("Hello there. " * 2000, id="2,000 sentences"),
    pytest.param("a." * 5000 + "com", id="5,000 dots"),
    pytest.param("http://" + "a" * 10_000, id="long url"),
    pytest.param("S8-³①@m.5x ² ٣", id="non-decimal digits in an address"),
])
def test_long_and_odd_input_is_read_in_linear_time(text: str) -> None:
    started = time.perf_counter()
    sentences = read_text(text)
    assert time.perf_counter() - started < 1.0
    for sentence in sentences:
        for piece in sentence.pieces:
            assert piece.text is not None
            assert unspeakable(piece.text) == ""


def test_random_mixtures_of_the_table_read_without_leftovers() -> None:
    """Cases side by side (and fragments of them) interact; nothing may be left unread."""
    rng = random.Random(20240315)
    written = [case for cases in CASES.values() for case, _ in cases]
    for _ in range(300):
        text = " ".join(rng.choice(written) for _ in range(rng.randint(2, 5)))
        text = text[rng.randint(0, 3):]
        words = normalize(text)
        assert unspeakable(words) == "", f"{text!r} -> {words!r}"


# --- lexicon ----------------------------------------------------------------------------------

def test_lexicon_words_become_ipa_pieces_case_insensitively() -> None:
    lexicon = {"Triton": "ˈtraɪtən", "nvidia": "ɛnˈvɪdiə"}
    sentences = read_text("NVIDIA makes triton. TRITON is fast.", lexicon)
    assert sentences == [
        Sentence((Piece(ipa="ɛnˈvɪdiə"), Piece(text="makes"), Piece(ipa="ˈtraɪtən"))),
        Sentence((Piece(ipa="ˈtraɪtən"), Piece(text="is fast."))),
    ]


def test_lexicon_matches_whole_words_only() -> None:
    lexicon = {"cat": "kæt"}
    sentences = read_text("A cat, a catalog, a bobcat and cats.", lexicon)
    assert sentences == [Sentence((Piece(text="A"), Piece(ipa="kæt"),
                                   Piece(text="a catalog, a bobcat and cats.")))]


def test_lexicon_applies_to_parts_of_hyphenated_words_but_not_inside_addresses() -> None:
    lexicon = {"triton": "ˈtraɪtən"}
    sentences = read_text("Triton-based, see triton.com or me@triton.org", lexicon)
    assert sentences == [Sentence((
        Piece(ipa="ˈtraɪtən"),
        Piece(text="based, see triton dot com or me at triton dot org"),
    ))]


def test_lexicon_wins_over_normalization_and_keeps_context() -> None:
    """A lexicon word is taken before the acronym rule would spell it, and "Dr." before it
    still reads as a title."""
    sentences = read_text("Dr. Xu met the CEO.", {"xu": "ʃuː", "CEO": "siːiːoʊ"})
    assert sentences == [Sentence((Piece(text="Doctor"), Piece(ipa="ʃuː"), Piece(text="met the"),
                                   Piece(ipa="siːiːoʊ")))]


def test_empty_or_missing_lexicon_changes_nothing() -> None:
    assert read_text("Triton is fast.", {}) == read_text("Triton is fast.", None)


def test_load_lexicon(tmp_path: Path) -> None:
    path = tmp_path / "lexicon.txt"
    path.write_text("# name\tIPA\n"
                    "Triton\tˈtraɪtən\n"
                    "\n"
                    "nvidia    ɛnˈvɪdiə   # the company\n"
                    "x-ray  /ˈɛksreɪ/\n"
                    "O'Neil\toʊˈniːl\n", encoding="utf-8")
    assert load_lexicon(path) == {"triton": "ˈtraɪtən", "nvidia": "ɛnˈvɪdiə", "x-ray": "ˈɛksreɪ",
                                  "o'neil": "oʊˈniːl"}
    assert load_lexicon(str(path)) == load_lexicon(path)


@pytest.mark.parametrize(("content", "problem"), [
    pytest.param("Triton\n", "line 1: expected 'word<TAB>IPA'", id="no IPA"),
    pytest.param("ok\tɔk\nNew York\tnuː jɔrk\n", "line 2: 'New York' is not a single word",
                 id="two words"),
    pytest.param("ok\tɔk\n\n# c\nbad!\tbæd\n", "line 4: 'bad!' is not a single word",
                 id="symbol in word"),
    pytest.param("ok\t//\n", "line 1: no IPA for 'ok'", id="empty IPA"),
    pytest.param("Ok\tɔk\nOK\toʊkeɪ\n", "line 2: 'OK' is already listed on line 1",
                 id="duplicate"),
])
def test_load_lexicon_names_file_and_line_of_a_bad_line(tmp_path: Path, content: str,
                                                        problem: str) -> None:
    path = tmp_path / "bad.lex"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(f"{path}, {problem}")):
        load_lexicon(path)
