"""The SSML subset: every tag and attribute value, nesting, and malformed or hostile input."""

from __future__ import annotations

import re
import time

import pytest

from tritontts.piper.voice import InvalidInputError
from tritontts.text import Piece, Sentence, read_text


def speak(body: str) -> str:
    return f"<speak>{body}</speak>"


def texts(sentences: list[Sentence]) -> list[str | None]:
    return [piece.text if piece.text is not None else f"[{piece.ipa}]"
            for sentence in sentences for piece in sentence.pieces]


def only_sentence(body: str) -> Sentence:
    sentences = read_text(speak(body))
    assert len(sentences) == 1, sentences
    return sentences[0]


# --- what counts as SSML ----------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    pytest.param("<speak>Hello $5.</speak>", id="speak root"),
    pytest.param("\n   <speak>Hello $5.</speak>\n", id="leading whitespace"),
    pytest.param('<?xml version="1.0" encoding="UTF-8"?>\n<speak>Hello $5.</speak>',
                 id="xml declaration"),
    pytest.param('<speak version="1.1" xmlns="http://www.w3.org/2001/10/synthesis" '
                 'xml:lang="en-US">Hello $5.</speak>', id="namespace and attributes"),
    pytest.param("<speak>Hello <!-- not said --> $5.</speak>", id="comment dropped"),
])
def test_ssml_is_recognized_and_read(text: str) -> None:
    assert read_text(text) == [Sentence((Piece(text="Hello five dollars."),))]


def test_plain_text_never_speaks_declarations() -> None:
    assert texts(read_text("Hi <!DOCTYPE html> <?php echo ?> there")) == ["Hi there"]


def test_text_that_merely_mentions_tags_is_plain() -> None:
    assert texts(read_text("<speaker> said 1 < 2")) == ["said one less than two"]
    assert texts(read_text("I <3 SSML")) == ["I less than three S S M L"]


def test_entities_and_cdata_are_text() -> None:
    assert texts(read_text(speak("R&amp;D &lt;3 <![CDATA[Q&A]]>"))) == [
        "R and D less than three Q and eh"]


def test_whitespace_is_collapsed_and_adjacent_words_merged() -> None:
    sentence = only_sentence('\n  I   have\n <say-as interpret-as="cardinal">5</say-as>\n'
                             '  <sub alias="apples">🍎</sub> .\n')
    assert sentence.pieces == (Piece(text="I have five apples."),)


# --- <break> ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("attributes", "seconds"), [
    pytest.param('time="500ms"', 0.5, id="500ms"),
    pytest.param('time="1s"', 1.0, id="1s"),
    pytest.param('time="1.5s"', 1.5, id="1.5s"),
    pytest.param('time=" 250 ms "', 0.25, id="spaces"),
    pytest.param('time="10s"', 10.0, id="10s is the most"),
    pytest.param('strength="x-weak"', 0.1, id="x-weak"),
    pytest.param('strength="weak"', 0.25, id="weak"),
    pytest.param('strength="medium"', 0.4, id="medium"),
    pytest.param('strength="strong"', 0.75, id="strong"),
    pytest.param('strength="x-strong"', 1.2, id="x-strong"),
    pytest.param("", 0.4, id="bare break is medium"),
    pytest.param('time="2s" strength="weak"', 2.0, id="time wins over strength"),
])
def test_break_pauses_after_the_words_before_it(attributes: str, seconds: float) -> None:
    sentences = read_text(speak(f"Hello <break {attributes}/> world."))
    assert sentences == [Sentence((Piece(text="Hello"),), pause_after_s=seconds),
                         Sentence((Piece(text="world."),))]


@pytest.mark.parametrize("attributes", ['strength="none"', 'time="0ms"'])
def test_break_of_none_does_not_split_the_sentence(attributes: str) -> None:
    assert read_text(speak(f"Hello <break {attributes}/> world.")) == [
        Sentence((Piece(text="Hello world."),))]


def test_breaks_add_up_to_at_most_ten_seconds() -> None:
    sentences = read_text(speak('One. <break time="1s"/><break time="500ms"/> Two.'
                                '<break time="8s"/><break time="8s"/> Three.'))
    assert [s.pause_after_s for s in sentences] == [1.5, 10.0, None]


def test_break_after_a_sentence_end_and_at_the_very_end_is_kept() -> None:
    sentences = read_text(speak('First. Second.<break time="300ms"/>'))
    assert [s.pause_after_s for s in sentences] == [None, 0.3]


def test_break_before_any_words_has_nothing_to_follow() -> None:
    assert read_text(speak('<break time="2s"/>Hello.')) == [Sentence((Piece(text="Hello."),))]


@pytest.mark.parametrize(("attributes", "message"), [
    pytest.param('time="fast"', '<break time="fast"> is not a time', id="word"),
    pytest.param('time="5"', '<break time="5"> is not a time', id="no unit"),
    pytest.param('time="-1s"', '<break time="-1s"> is not a time', id="negative"),
    pytest.param('time="1min"', '<break time="1min"> is not a time', id="minutes"),
    pytest.param('time="11s"', '<break time="11s"> is longer than 10 s', id="over 10 s"),
    pytest.param('time="10001ms"', '<break time="10001ms"> is longer than 10 s', id="over in ms"),
    pytest.param('strength="loud"', '<break strength="loud"> is not one of', id="strength"),
])
def test_bad_break_is_refused(attributes: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        read_text(speak(f"Hello <break {attributes}/> world."))


# --- <prosody rate> ---------------------------------------------------------------------------

@pytest.mark.parametrize(("rate", "factor"), [
    pytest.param("x-slow", 0.5, id="x-slow"),
    pytest.param("slow", 0.75, id="slow"),
    pytest.param("medium", 1.0, id="medium"),
    pytest.param("default", 1.0, id="default"),
    pytest.param("fast", 1.25, id="fast"),
    pytest.param("x-fast", 1.75, id="x-fast"),
    pytest.param("80%", 0.8, id="80%"),
    pytest.param("150%", 1.5, id="150%"),
    pytest.param("1.2", 1.2, id="1.2"),
    pytest.param("2", 2.0, id="2"),
    pytest.param("+20%", 1.2, id="+20%"),
    pytest.param("-10%", 0.9, id="-10%"),
])
def test_prosody_rate(rate: str, factor: float) -> None:
    sentence = only_sentence(f'<prosody rate="{rate}">It costs $5.</prosody>')
    assert sentence == Sentence((Piece(text="It costs five dollars."),), rate=factor)


def test_nested_prosody_multiplies_and_restores() -> None:
    sentences = read_text(speak(
        'Normal. <prosody rate="fast">Fast. <prosody rate="slow">Slower inside.</prosody> '
        'Fast again.</prosody> Normal again.'))
    assert [(s.pieces[0].text, s.rate) for s in sentences] == [
        ("Normal.", 1.0), ("Fast.", 1.25), ("Slower inside.", 0.9375), ("Fast again.", 1.25),
        ("Normal again.", 1.0)]


def test_prosody_in_the_middle_of_a_sentence_splits_it() -> None:
    sentences = read_text(speak('Say <prosody rate="x-slow">this slowly</prosody> please.'))
    assert [(s.pieces, s.rate) for s in sentences] == [
        ((Piece(text="Say"),), 1.0), ((Piece(text="this slowly"),), 0.5),
        ((Piece(text="please."),), 1.0)]


def test_nested_rates_stay_within_request_limits() -> None:
    fast = '<prosody rate="x-fast"><prosody rate="x-fast"><prosody rate="x-fast">Go.'
    slow = '<prosody rate="x-slow"><prosody rate="x-slow"><prosody rate="x-slow">Stop.'
    sentences = read_text(speak(fast + "</prosody>" * 3 + slow + "</prosody>" * 3))
    assert [s.rate for s in sentences] == [4.0, 0.25]


def test_prosody_without_rate_changes_nothing() -> None:
    assert only_sentence('<prosody pitch="high">Hi.</prosody>') == Sentence((Piece(text="Hi."),))


@pytest.mark.parametrize("rate", ["zippy", "0", "0%", "-1", "+1.5", "fast!", ""])
def test_bad_prosody_rate_is_refused(rate: str) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(f'<prosody rate="{rate}">')):
        read_text(speak(f'<prosody rate="{rate}">Hi.</prosody>'))


# --- <say-as> ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("interpret_as", "content", "spoken"), [
    pytest.param("characters", "SSML", "S S M L", id="characters"),
    pytest.param("characters", "abc", "eh B C", id="characters lowercase"),
    pytest.param("spell-out", "Hi-5!", "H I dash five exclamation mark", id="spell-out"),
    pytest.param("cardinal", "1999", "one thousand nine hundred ninety-nine",
                 id="cardinal not a year"),
    pytest.param("cardinal", "1,234", "one thousand two hundred thirty-four",
                 id="cardinal separators"),
    pytest.param("cardinal", "-42", "minus forty-two", id="cardinal negative"),
    pytest.param("ordinal", "3", "third", id="ordinal"),
    pytest.param("ordinal", "21st", "twenty-first", id="ordinal suffix"),
    pytest.param("date", "2024-03-15", "March fifteenth, twenty twenty-four", id="date iso"),
    pytest.param("date", "03/15/2024", "March fifteenth, twenty twenty-four", id="date default"),
    pytest.param("date", "15/03/2024", "the fifteenth of March, twenty twenty-four",
                 id="date day first guessed"),
    pytest.param("date", "March 15, 2024", "March fifteenth, twenty twenty-four",
                 id="date month name"),
    pytest.param("time", "14:05", "fourteen oh five", id="time 24h"),
    pytest.param("time", "3:30pm", "three thirty P M", id="time 12h"),
    pytest.param("time", "7 a.m.", "seven eh M", id="time hour"),
    pytest.param("telephone", "(555) 123-4567",
                 "five five five, one two three, four five six seven", id="telephone"),
    pytest.param("telephone", "+44 20 7946 0958",
                 "plus four four, two zero, seven nine four six, zero nine five eight",
                 id="telephone international"),
    pytest.param("digits", "2024", "two zero two four", id="digits"),
])
def test_say_as(interpret_as: str, content: str, spoken: str) -> None:
    sentence = only_sentence(f'<say-as interpret-as="{interpret_as}">{content}</say-as>')
    assert sentence.pieces == (Piece(text=spoken),)


@pytest.mark.parametrize(("date_format", "content", "spoken"), [
    pytest.param("mdy", "03/04/2024", "March fourth, twenty twenty-four", id="mdy"),
    pytest.param("dmy", "03/04/2024", "the third of April, twenty twenty-four", id="dmy"),
    pytest.param("ymd", "2024.04.03", "April third, twenty twenty-four", id="ymd"),
    pytest.param("ydm", "2024-03-04", "the third of April, twenty twenty-four", id="ydm"),
    pytest.param("md", "12/25", "December twenty-fifth", id="md"),
    pytest.param("dm", "25/12", "the twenty-fifth of December", id="dm"),
    pytest.param("my", "03/1999", "March nineteen ninety-nine", id="my"),
    pytest.param("y", "2005", "two thousand five", id="y"),
    pytest.param("mdy", "3/15/24", "March fifteenth, twenty-four", id="two-digit year"),
    pytest.param("dmy", "5 Jan 2020", "the fifth of January, twenty twenty", id="month abbrev"),
])
def test_say_as_date_formats(date_format: str, content: str, spoken: str) -> None:
    sentence = only_sentence(
        f'<say-as interpret-as="date" format="{date_format}">{content}</say-as>')
    assert sentence.pieces == (Piece(text=spoken),)


def test_say_as_in_a_sentence_is_part_of_its_words() -> None:
    sentence = only_sentence('Call <say-as interpret-as="telephone">555-1234</say-as> on the '
                             '<say-as interpret-as="ordinal">5</say-as>.')
    assert sentence.pieces == (Piece(text="Call five five five, one two three four on the "
                                          "fifth."),)


@pytest.mark.parametrize(("element", "message"), [
    pytest.param('<say-as interpret-as="unit">5 km</say-as>',
                 '<say-as interpret-as="unit"> is not supported; use one of characters',
                 id="unknown interpret-as"),
    pytest.param("<say-as>5</say-as>", '<say-as interpret-as="None"> is not supported',
                 id="missing interpret-as"),
    pytest.param('<say-as interpret-as="cardinal">five</say-as>',
                 "<say-as interpret-as=\"cardinal\">: 'five' is not a number", id="cardinal"),
    pytest.param('<say-as interpret-as="ordinal">3.5</say-as>',
                 "'3.5' is not an ordinal number", id="ordinal"),
    pytest.param('<say-as interpret-as="date" format="mdy">13/45/2024</say-as>',
                 "month 13 is not 1 to 12", id="impossible date"),
    pytest.param('<say-as interpret-as="date" format="mmy">1/2/2024</say-as>',
                 'format="mmy" is not an order of d, m and y', id="bad format"),
    pytest.param('<say-as interpret-as="date" format="dmy">1/2</say-as>',
                 "does not have the 3 parts of format 'dmy'", id="missing part"),
    pytest.param('<say-as interpret-as="date" format="my">Foo 2024</say-as>',
                 "'Foo' is not a month", id="bad month"),
    pytest.param('<say-as interpret-as="time">25:00</say-as>', "25:00 is not a time",
                 id="impossible time"),
    pytest.param('<say-as interpret-as="time">noon</say-as>', "'noon' is not a time",
                 id="not a time"),
    pytest.param('<say-as interpret-as="telephone">call me</say-as>',
                 "'call me' is not a telephone number", id="telephone"),
    pytest.param('<say-as interpret-as="digits">12a</say-as>', "'12a' is not a row of digits",
                 id="digits"),
    pytest.param('<say-as interpret-as="cardinal"><sub alias="x">1</sub></say-as>',
                 "<say-as> may contain only text, found <sub>", id="nested element"),
])
def test_bad_say_as_is_refused(element: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        read_text(speak(element))


def test_empty_say_as_says_nothing() -> None:
    assert read_text(speak('Hi <say-as interpret-as="cardinal"> </say-as>.')) == [
        Sentence((Piece(text="Hi."),))]


# --- <sub> and <phoneme> ----------------------------------------------------------------------

def test_sub_speaks_its_alias_normalized() -> None:
    sentence = only_sentence('The <sub alias="World Wide Web Consortium">W3C</sub> met on '
                             '<sub alias="Jan. 5">1/5</sub>.')
    assert sentence.pieces == (
        Piece(text="The World Wide Web Consortium met on January fifth."),)


@pytest.mark.parametrize("element", ["<sub>W3C</sub>", '<sub alias=" ">W3C</sub>'])
def test_sub_without_alias_is_refused(element: str) -> None:
    with pytest.raises(InvalidInputError, match="<sub> needs a non-empty alias attribute"):
        read_text(speak(element))


def test_phoneme_becomes_an_ipa_piece() -> None:
    sentence = only_sentence('I say <phoneme alphabet="ipa" ph="təˈmɑːtoʊ">tomato</phoneme>, '
                             'you say <phoneme ph="təˈmeɪɾoʊ">tomato</phoneme>.')
    assert sentence.pieces == (Piece(text="I say"), Piece(ipa="təˈmɑːtoʊ"),
                               Piece(text="you say"), Piece(ipa="təˈmeɪɾoʊ"))


@pytest.mark.parametrize(("element", "message"), [
    pytest.param('<phoneme alphabet="x-sampa" ph="t@\'mA:toU">tomato</phoneme>',
                 '<phoneme alphabet="x-sampa"> is not supported; use "ipa"', id="x-sampa"),
    pytest.param('<phoneme alphabet="IPA" ph="a">a</phoneme>',
                 '<phoneme alphabet="IPA"> is not supported', id="case matters"),
    pytest.param("<phoneme>tomato</phoneme>", "<phoneme> needs a non-empty ph attribute",
                 id="missing ph"),
    pytest.param('<phoneme ph="">tomato</phoneme>', "<phoneme> needs a non-empty ph attribute",
                 id="empty ph"),
])
def test_bad_phoneme_is_refused(element: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        read_text(speak(element))


# --- <p> and <s> ------------------------------------------------------------------------------

def test_paragraphs_pause_between_them() -> None:
    sentences = read_text(speak("<p>One. Two.</p><p>Three.</p>  <p>Four.</p>"))
    assert [(s.pieces[0].text, s.pause_after_s) for s in sentences] == [
        ("One.", None), ("Two.", 0.6), ("Three.", 0.6), ("Four.", None)]


def test_a_longer_break_at_a_paragraph_end_wins() -> None:
    sentences = read_text(speak('<p>One.<break time="2s"/></p><p>Two.<break time="100ms"/></p>'
                                "<p>Three.</p>"))
    assert [s.pause_after_s for s in sentences] == [2.0, 0.6, None]


def test_s_marks_sentences_without_punctuation() -> None:
    sentences = read_text(speak("<p><s>First one</s><s>Second one</s></p>"))
    assert sentences == [Sentence((Piece(text="First one"),)),
                         Sentence((Piece(text="Second one"),))]


def test_empty_elements_make_no_sentences() -> None:
    assert read_text(speak("<p></p><s> </s><p><s/></p>")) == []
    assert read_text("<speak/>") == []


# --- lexicon in SSML --------------------------------------------------------------------------

def test_lexicon_applies_to_text_but_not_to_sub_or_say_as() -> None:
    lexicon = {"triton": "ˈtraɪtən"}
    sentence = only_sentence('Triton, <sub alias="triton">T</sub>, '
                             '<say-as interpret-as="characters">triton</say-as>.')
    assert sentence.pieces == (Piece(text="Triton, triton, T R I T O N."),)
    sentence = read_text(speak('Triton, <sub alias="triton">T</sub>.'), lexicon)[0]
    assert sentence.pieces == (Piece(ipa="ˈtraɪtən"), Piece(text="triton."))


# --- malformed and hostile input --------------------------------------------------------------

@pytest.mark.parametrize(("text", "message"), [
    pytest.param("<speak>Hello", "malformed SSML: no element found: line 1, column 13",
                 id="unclosed speak"),
    pytest.param("<speak>Hello <p>world</speak>", "malformed SSML: mismatched tag: line 1, "
                 "column 24", id="unclosed p"),
    pytest.param('<speak>\n<break time="1s">\n</speak>', "mismatched tag: line 3, column 3",
                 id="unclosed break on line 3"),
    pytest.param('\n\n  <speak>\n<p>Hi</s></speak>', "mismatched tag: line 4, column 8",
                 id="position counts leading lines"),
    pytest.param("  <speak><p>Hi</s></speak>", "mismatched tag: line 1, column 17",
                 id="position counts leading spaces"),
    pytest.param('<speak><break time=1s/></speak>', "malformed SSML: not well-formed",
                 id="unquoted attribute"),
    pytest.param("<speak>a & b</speak>", "malformed SSML: not well-formed", id="bare ampersand"),
    pytest.param("<speak>&nbsp;</speak>", "malformed SSML: undefined entity", id="html entity"),
    pytest.param("<speak>one</speak><speak>two</speak>", "malformed SSML: junk after document",
                 id="two roots"),
    pytest.param('<?xml version="1.0"?><voice>Hi</voice>',
                 "SSML must have a <speak> root element, not <voice>", id="wrong root"),
])
def test_malformed_ssml_is_refused_with_its_position(text: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        read_text(text)


@pytest.mark.parametrize("tag", ["emphasis", "audio", "voice", "mark", "lang", "speak"])
def test_unknown_tags_are_refused_by_name(tag: str) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(f"unsupported SSML tag <{tag}>")):
        read_text(speak(f"Hello <{tag}>world</{tag}>."))


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<speak>&lol9;</speak>"""


@pytest.mark.parametrize("text", [
    pytest.param(BILLION_LAUGHS, id="billion laughs"),
    pytest.param('<!DOCTYPE speak SYSTEM "http://example.com/speak.dtd"><speak>Hi</speak>',
                 id="external dtd"),
    pytest.param('<?xml version="1.0"?><!DOCTYPE speak [<!ENTITY xxe SYSTEM '
                 '"file:///etc/passwd">]><speak>&xxe;</speak>', id="external entity"),
    pytest.param("<speak>Hi</speak><!DOCTYPE x>", id="doctype after the root"),
])
def test_doctype_and_entity_declarations_are_refused_quickly(text: str) -> None:
    started = time.perf_counter()
    with pytest.raises(InvalidInputError, match="must not contain DOCTYPE or entity declarations"):
        read_text(text)
    assert time.perf_counter() - started < 0.1


def test_billion_laughs_error_names_where() -> None:
    with pytest.raises(InvalidInputError, match=re.escape("(line 2, column 1)")):
        read_text(BILLION_LAUGHS)


# --- markup is never spoken -------------------------------------------------------------------

MARKUP_WORDS = re.compile(r"speak|prosody|say|interpret|phoneme|alphabet|alias|break|strength|"
                          r"time=|rate|format|xmlns|[<>=\"/]", re.IGNORECASE)
EVERY_TAG = speak(
    '<p><s>Plain words.</s><s>More words <break time="500ms"/> after a pause.</s></p>'
    '<p><prosody rate="slow">Slowly <prosody rate="120%">quicker</prosody> now.</prosody>'
    '<say-as interpret-as="characters">ok</say-as> <say-as interpret-as="cardinal">12</say-as>'
    ' <say-as interpret-as="ordinal">2</say-as> <say-as interpret-as="date" format="dmy">'
    '1/2/2020</say-as> <say-as interpret-as="time">3:30pm</say-as> <say-as interpret-as='
    '"telephone">555-1234</say-as> <say-as interpret-as="spell-out">ab</say-as>'
    ' <sub alias="substitute">sub</sub> <phoneme alphabet="ipa" ph="fəˈniːm">x</phoneme>'
    ' <break strength="strong"/>End.</p>')


def test_markup_never_appears_in_the_pieces() -> None:
    sentences = read_text(EVERY_TAG)
    assert sentences, "every tag document says something"
    for sentence in sentences:
        assert sentence.pieces
        for piece in sentence.pieces:
            assert (piece.text is None) != (piece.ipa is None)
            spoken = piece.text if piece.text is not None else piece.ipa
            assert spoken and spoken == spoken.strip()
            assert not MARKUP_WORDS.search(spoken), spoken
            assert not re.search(r"\d", spoken), spoken
    assert texts(sentences) == [
        "Plain words.", "More words", "after a pause.", "Slowly", "quicker", "now.",
        "O K twelve second the first of February, twenty twenty three thirty P M five five "
        "five, one two three four eh B substitute", "[fəˈniːm]", "End."]
