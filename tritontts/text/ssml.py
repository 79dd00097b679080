"""The SSML subset we speak: <speak>, <p>, <s>, <break>, <prosody rate>, <say-as>, <sub>,
<phoneme alphabet="ipa">. Anything else is refused with a message naming it, never read aloud
or silently dropped."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping

from tritontts.errors import InvalidInputError
from tritontts.text import number_words, readings
from tritontts.text.normalize import normalize
from tritontts.text.pieces import Piece, Sentence
from tritontts.text.reader import MAX_PAUSE_S, SentenceBuilder
from tritontts.text.tables import MONTH_ABBREVIATIONS, MONTHS

BREAK_STRENGTHS_S: dict[str, float] = {
    "none": 0.0, "x-weak": 0.1, "weak": 0.25, "medium": 0.4, "strong": 0.75, "x-strong": 1.2,
}
DEFAULT_BREAK_STRENGTH = "medium"  # a bare <break/>, as the SSML 1.1 recommendation has it
PROSODY_RATES: dict[str, float] = {
    "x-slow": 0.5, "slow": 0.75, "medium": 1.0, "default": 1.0, "fast": 1.25, "x-fast": 1.75,
}
# Nested <prosody> multiplies; the product is kept within the speeds a request may ask for.
MIN_RATE, MAX_RATE = 0.25, 4.0

_SSML_START = re.compile(r"\s*(?:<\?xml\b|<!DOCTYPE\b|<!--|<speak[\s/>])")
# DOCTYPE and ENTITY declarations (and any other "<!" but comments and CDATA): the way to
# billion-laughs and external-entity attacks. SSML never needs them.
_DECLARATION = re.compile(r"<!(?!--|\[CDATA\[)")
_TIME = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s)\s*")


def is_ssml(text: str) -> bool:
    """SSML is what starts (after whitespace) with a <speak> tag or an XML prolog (declaration,
    DOCTYPE, comment) that can only lead to one."""
    return _SSML_START.match(text) is not None


def read_ssml(text: str, lexicon: Mapping[str, str] | None = None) -> list[Sentence]:
    root = _parse(text)
    if _local_name(root.tag) != "speak":
        raise InvalidInputError(
            f"SSML must have a <speak> root element, not <{_local_name(root.tag)}>")
    reader = _Reader(lexicon)
    reader.children(root)
    return reader.builder.sentences()


def _parse(text: str) -> ET.Element:
    declaration = _DECLARATION.search(text)
    if declaration is not None:
        line = text.count("\n", 0, declaration.start()) + 1
        column = declaration.start() - (text.rfind("\n", 0, declaration.start()) + 1) + 1
        raise InvalidInputError(
            f"SSML must not contain DOCTYPE or entity declarations (line {line}, column {column})")
    # Whitespace may not come before an XML declaration; it is taken off, and counted back
    # into the position the parser reports.
    leading = text[:len(text) - len(text.lstrip())]
    try:
        return ET.fromstring(text[len(leading):])
    except ET.ParseError as error:
        line, column = error.position  # expat: line from 1, column from 0
        if line == 1:
            column += len(leading) - (leading.rfind("\n") + 1)
        reason = str(error).split(": line ", 1)[0]
        raise InvalidInputError(f"malformed SSML: {reason}: line {line + leading.count(chr(10))}, "
                                f"column {column + 1}") from None


def _local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]  # "{http://www.w3.org/2001/10/synthesis}speak" -> "speak"


class _Reader:
    def __init__(self, lexicon: Mapping[str, str] | None) -> None:
        self.builder = SentenceBuilder(lexicon)
        self.rate = 1.0
        self._tags: dict[str, Callable[[ET.Element], None]] = {
            "p": self._paragraph, "s": self._sentence, "break": self._break,
            "prosody": self._prosody, "say-as": self._say_as, "sub": self._sub,
            "phoneme": self._phoneme,
        }

    def children(self, element: ET.Element) -> None:
        if element.text:
            self.builder.text(element.text)
        for child in element:
            name = _local_name(child.tag) if isinstance(child.tag, str) else ""
            if name not in self._tags:
                raise InvalidInputError(
                    f"unsupported SSML tag <{name}>; supported: {', '.join(sorted(self._tags))}")
            self._tags[name](child)
            if child.tail:
                self.builder.text(child.tail)

    def _paragraph(self, element: ET.Element) -> None:
        self.builder.flush()
        self.children(element)
        self.builder.end_paragraph()

    def _sentence(self, element: ET.Element) -> None:
        self.builder.flush()
        self.children(element)
        self.builder.flush()

    def _break(self, element: ET.Element) -> None:
        seconds = break_seconds(element.get("time"), element.get("strength"))
        if seconds > 0:  # strength="none" (or 0ms) asks for no break at all, not a sentence end
            self.builder.pause(seconds)

    def _prosody(self, element: ET.Element) -> None:
        outer = self.rate
        rate = element.get("rate")
        if rate is not None:
            self.rate = round(min(max(outer * prosody_rate(rate), MIN_RATE), MAX_RATE), 6)
        self.builder.set_rate(self.rate)
        self.children(element)
        self.rate = outer
        self.builder.set_rate(outer)

    def _say_as(self, element: ET.Element) -> None:
        words = say_as(_text_only(element), element.get("interpret-as"), element.get("format"))
        if words:
            self.builder.atom(Piece(text=words))

    def _sub(self, element: ET.Element) -> None:
        alias = element.get("alias")
        if alias is None or not alias.strip():
            raise InvalidInputError("<sub> needs a non-empty alias attribute")
        _text_only(element)
        self.builder.atom(Piece(text=normalize(alias)))

    def _phoneme(self, element: ET.Element) -> None:
        alphabet, ph = element.get("alphabet", "ipa"), element.get("ph")
        if alphabet != "ipa":
            raise InvalidInputError(f'<phoneme alphabet="{alphabet}"> is not supported; use "ipa"')
        if ph is None or not ph.strip():
            raise InvalidInputError("<phoneme> needs a non-empty ph attribute")
        written = _text_only(element).strip()
        self.builder.atom(Piece(ipa=ph.strip(), written=written or None))


def _text_only(element: ET.Element) -> str:
    """The text of an element that may hold nothing but text (<say-as>, <sub>, <phoneme>)."""
    if len(element):
        raise InvalidInputError(f"<{_local_name(element.tag)}> may contain only text, "
                                f"found <{_local_name(element[0].tag)}>")
    return element.text or ""


def break_seconds(time: str | None, strength: str | None) -> float:
    """<break time="500ms|1.5s"> or <break strength="...">; time wins when both are given."""
    if time is not None:
        match = _TIME.fullmatch(time)
        if match is None:
            raise InvalidInputError(f'<break time="{time}"> is not a time like "500ms" or "1.5s"')
        seconds = float(match[1]) / (1000 if match[2] == "ms" else 1)
        if seconds > MAX_PAUSE_S:
            raise InvalidInputError(f'<break time="{time}"> is longer than {MAX_PAUSE_S:g} s')
        return seconds
    strength = DEFAULT_BREAK_STRENGTH if strength is None else strength
    if strength not in BREAK_STRENGTHS_S:
        raise InvalidInputError(f'<break strength="{strength}"> is not one of '
                                f"{', '.join(BREAK_STRENGTHS_S)}")
    return BREAK_STRENGTHS_S[strength]


_RATE_NUMBER = re.compile(r"\s*(?P<sign>[+-])?(?P<value>\d+(?:\.\d+)?)(?P<percent>%)?\s*")


def prosody_rate(rate: str) -> float:
    """"slow" -> 0.75, "80%" -> 0.8, "+20%" -> 1.2, "1.2" -> 1.2 (a multiple of the normal rate)."""
    if rate in PROSODY_RATES:
        return PROSODY_RATES[rate]
    match = _RATE_NUMBER.fullmatch(rate)
    if match is None:
        raise InvalidInputError(f'<prosody rate="{rate}"> is not one of '
                                f"{', '.join(PROSODY_RATES)}, a percentage or a number")
    value = float(match["value"])
    if match["sign"] and match["percent"]:  # a relative change: "+20%", "-10%"
        value = 100 + value if match["sign"] == "+" else 100 - value
    elif match["sign"]:
        raise InvalidInputError(f'<prosody rate="{rate}">: a signed rate must be a percentage')
    factor = value / 100 if match["percent"] else value
    if factor <= 0:
        raise InvalidInputError(f'<prosody rate="{rate}"> must be faster than zero')
    return factor


def say_as(text: str, interpret_as: str | None, date_format: str | None = None) -> str:
    """The words for <say-as interpret-as=...>; raises InvalidInputError when the content is not
    what interpret-as says it is."""
    if interpret_as not in SAY_AS:
        raise InvalidInputError(f'<say-as interpret-as="{interpret_as}"> is not supported; '
                                f"use one of {', '.join(SAY_AS)}")
    text = text.strip()
    if not text:
        return ""
    try:
        if interpret_as == "date":
            return _date(text, date_format)
        return SAY_AS[interpret_as](text)
    except ValueError as error:
        raise InvalidInputError(f'<say-as interpret-as="{interpret_as}">: {error}') from None


def _cardinal(text: str) -> str:
    if not re.fullmatch(r"[-−+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?", text):
        raise ValueError(f"{text!r} is not a number")
    return number_words.number(text)


def _ordinal(text: str) -> str:
    match = re.fullmatch(r"(\d{1,3}(?:,\d{3}){1,4}|\d{1,15})(?:st|nd|rd|th)?", text, re.IGNORECASE)
    if match is None:
        raise ValueError(f"{text!r} is not an ordinal number")
    return number_words.ordinal(int(match[1].replace(",", "")))


def _telephone(text: str) -> str:
    if not re.fullmatch(r"\+?[\d\s().-]+", text):
        raise ValueError(f"{text!r} is not a telephone number")
    return readings.telephone(text)


def _month(token: str) -> int:
    if token.isdecimal() and len(token) <= 2:
        return int(token)
    name = token.rstrip(".").capitalize()
    for index, month in enumerate(MONTHS, start=1):
        if name == month:
            return index
    if name in MONTH_ABBREVIATIONS:
        return MONTH_ABBREVIATIONS[name]
    raise ValueError(f"{token!r} is not a month")


def _date(text: str, date_format: str | None) -> str:
    """Dates with format="mdy" (default for three numbers), "dmy", "ymd", "md", "my", "y" ..."""
    tokens = [t for t in re.split(r"[\s/.,-]+", text) if t]
    fmt = date_format or _guess_date_format(tokens)
    if not re.fullmatch(r"[dmy]{1,3}", fmt) or len(set(fmt)) != len(fmt):
        raise ValueError(f'format="{fmt}" is not an order of d, m and y such as "mdy"')
    if len(tokens) != len(fmt):
        raise ValueError(f"{text!r} does not have the {len(fmt)} parts of format {fmt!r}")
    parts = dict(zip(fmt, tokens, strict=True))
    day = parts.get("d")
    if day is not None:
        day = re.sub(r"(?i)(st|nd|rd|th)$", "", day)
        if not day.isdecimal() or len(day) > 2:
            raise ValueError(f"{parts['d']!r} is not a day")
    year = parts.get("y")
    if year is not None and not (year.isdecimal() and len(year) <= 4):
        raise ValueError(f"{year!r} is not a year")
    day_first = "d" in fmt and "m" in fmt and fmt.index("d") < fmt.index("m")
    return readings.date(int(year) if year else None,
                         _month(parts["m"]) if "m" in parts else None,
                         int(day) if day else None, day_first=day_first,
                         year_digits=len(year) if year else 4)


def _guess_date_format(tokens: list[str]) -> str:
    if len(tokens) == 3:
        if len(tokens[0]) == 4:
            return "ymd"
        if not tokens[1].isdecimal() or (tokens[0].isdecimal() and int(tokens[0]) > 12):
            return "dmy"
        return "mdy"
    if len(tokens) == 2:
        return "my" if len(tokens[1]) == 4 else "md"
    return "y" if len(tokens) == 1 and len(tokens[0]) == 4 else "d"


SAY_AS: dict[str, Callable[[str], str]] = {
    "characters": lambda text: readings.spell(text),
    "spell-out": lambda text: readings.spell(text),
    "cardinal": _cardinal,
    "ordinal": _ordinal,
    "date": lambda text: _date(text, None),
    "time": readings.clock,
    "telephone": _telephone,
    "digits": lambda text: number_words.digits(text) if text.isdecimal() else _not_digits(text),
}


def _not_digits(text: str) -> str:
    raise ValueError(f"{text!r} is not a row of digits")
