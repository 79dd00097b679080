"""How each kind of written thing is said: dates, times, phone numbers, money, measures, addresses.

These take the parts a rule (or an SSML <say-as>) already found and return words; finding them in
running text is `normalize.py`'s job.
"""

from __future__ import annotations

import re

from tritontts.text import number_words
from tritontts.text.tables import (
    CHARACTER_NAMES,
    DIGIT_NAMES,
    DOMAIN_SUFFIXES,
    LETTER_NAMES,
    MONTHS,
    Currency,
    Unit,
)


def spell(text: str) -> str:
    """Letter by letter: "FBI" -> "F B I", "a1!" -> "eh one exclamation mark". Spaces and
    characters without a name are skipped."""
    words = []
    for char in text:
        if char.isdecimal():
            words.append(DIGIT_NAMES[int(char)])
        elif char.isalpha():
            words.append(LETTER_NAMES.get(char.upper(), char.upper()))
        elif char in CHARACTER_NAMES and not char.isspace():
            words.append(CHARACTER_NAMES[char])
    return " ".join(words)


def date(year: int | None, month: int | None, day: int | None, *, day_first: bool = False,
         year_digits: int = 4) -> str:
    """Month first "March fifteenth, twenty twenty-four"; day first "the fifteenth of March, ...".
    A year written with two digits is said so ("24" -> "twenty-four").

    Raises ValueError for a month or day that cannot be.
    """
    if month is not None and not 1 <= month <= 12:
        raise ValueError(f"month {month} is not 1 to 12")
    if day is not None and not 1 <= day <= 31:
        raise ValueError(f"day {day} is not 1 to 31")
    parts = []
    if month is not None and day is not None:
        name, nth = MONTHS[month - 1], number_words.ordinal(day)
        parts.append(f"the {nth} of {name}" if day_first else f"{name} {nth}")
    elif month is not None:
        parts.append(MONTHS[month - 1])
    elif day is not None:
        parts.append(f"the {number_words.ordinal(day)}")
    if year is not None:
        parts.append(year_words(year, year_digits))
    separator = ", " if day is not None and year is not None else " "
    return separator.join(parts)


def year_words(value: int, written_digits: int = 4) -> str:
    """A year as written: "24" (two digits) -> "twenty-four", "05" -> "oh five"."""
    if written_digits == 2:
        return number_words.two_digit_groups(f"{value:02d}")
    return number_words.year(value)


def time(hour: int, minute: int, second: int | None = None, meridiem: str | None = None) -> str:
    """3:30 pm -> "three thirty P M", 14:05 -> "fourteen oh five", 12:00 -> "twelve o'clock".

    meridiem is "am" or "pm" (any case, dots allowed) or None for a 24-hour clock.
    Raises ValueError for a time that cannot be.
    """
    limit = 12 if meridiem else 23
    if not (1 if meridiem else 0) <= hour <= limit or not 0 <= minute <= 59:
        raise ValueError(f"{hour}:{minute:02d} is not a time")
    if second is not None and not 0 <= second <= 59:
        raise ValueError(f"{second} is not a number of seconds")
    words = [number_words.cardinal(hour) if hour else "zero"]
    if minute:
        words.append(number_words.two_digit_groups(f"{minute:02d}"))
    elif not meridiem:
        words.append("o'clock" if 1 <= hour <= 12 else "hundred")
    if meridiem:
        words.append(spell(meridiem.replace(".", "").replace(" ", "").upper()))
    if second:
        words.append(f"and {number_words.cardinal(second)} second{'' if second == 1 else 's'}")
    return " ".join(words)


_CLOCK = re.compile(r"\s*(?P<h>\d{1,2})(?::(?P<m>\d{2}))?(?::(?P<s>\d{2}))?\s*"
                    r"(?P<mer>[AaPp]\.?\s?[Mm]\.?)?\s*")


def clock(text: str) -> str:
    """A written time: "14:05", "3:30 pm", "7am", "10:30:15"; raises ValueError otherwise."""
    match = _CLOCK.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a time like 14:05 or 3:30 pm")
    second = int(match["s"]) if match["s"] else None
    return time(int(match["h"]), int(match["m"] or 0), second, match["mer"])


# The US toll-free prefix is said as a number, every other group digit by digit.
_SAID_AS_NUMBER = {"800": "eight hundred"}


def telephone(text: str) -> str:
    """"(555) 123-4567" -> "five five five, one two three, four five six seven"; a leading "+"
    is "plus". Groups are the digit runs as written, which is how people read them out."""
    groups = re.findall(r"\d+", text)
    if not groups:
        raise ValueError(f"no digits in telephone number {text!r}")
    spoken = [_SAID_AS_NUMBER.get(group) or number_words.digits(group) for group in groups]
    prefix = "plus " if text.lstrip().startswith("+") else ""
    return prefix + ", ".join(spoken)


def money(currency: Currency, amount: str, scale: str | None = None,
          upper_amount: str | None = None) -> str:
    """"$25.50" -> "twenty-five dollars and fifty cents", "£0.99" -> "ninety-nine pence",
    "$1.5 million" -> "one point five million dollars", "$10-20" -> "ten to twenty dollars"."""
    sign = "minus " if amount[:1] in "-−" else ""
    amount = amount.lstrip("-−")
    if upper_amount is not None:
        words = f"{number_words.number(amount)} to {number_words.number(upper_amount)}"
        return f"{sign}{words} {scale + ' ' if scale else ''}{currency.major.plural}"
    if scale:
        return f"{sign}{number_words.number(amount)} {scale} {currency.major.plural}"
    whole, _, cents = amount.replace(",", "").partition(".")
    if not cents or (currency.minor is None and not cents.strip("0")):
        return sign + _count(int(whole or "0"), currency.major)
    if currency.minor is None or len(cents) > 2:
        return f"{sign}{number_words.number(amount)} {currency.major.plural}"
    major, minor = int(whole or "0"), int(cents.ljust(2, "0"))
    if not minor:
        return sign + _count(major, currency.major)
    if not major:
        return sign + _count(minor, currency.minor)
    return f"{sign}{_count(major, currency.major)} and {_count(minor, currency.minor)}"


def _count(value: int, unit: Unit) -> str:
    return f"{number_words.cardinal(value)} {unit.singular if value == 1 else unit.plural}"


def measure(amount: str, unit: Unit, upper_amount: str | None = None) -> str:
    """"1 km" -> "one kilometer", "3.5 ft" -> "three point five feet", "5-10 km" -> "... to ..."."""
    if upper_amount is not None:
        return f"{number_words.number(amount)} to {number_words.number(upper_amount)} {unit.plural}"
    name = unit.singular if number_words.is_one(amount) else unit.plural
    return f"{number_words.number(amount)} {name}"


_ADDRESS_TOKEN = re.compile(r"[A-Za-z]+|\d+|.", re.DOTALL)


def _address_words(part: str) -> list[str]:
    """Words of a host, path or mailbox name: letters as a word, digits one by one, symbols
    by name ("jane.doe_2" -> jane dot doe underscore two)."""
    words = []
    for token in _ADDRESS_TOKEN.findall(part):
        if token.isalpha():
            # Vowel-less runs ("xkcd", "www") cannot be said as a word; spell them.
            pronounceable = len(token) > 1 and re.search(r"[aeiouyAEIOUY]", token)
            words.append(token.lower() if pronounceable else spell(token))
        elif token.isdecimal():
            words.append(number_words.digits(token))
        elif token in CHARACTER_NAMES:
            words.append(CHARACTER_NAMES[token])
    return words


def _host_words(host: str) -> list[str]:
    labels = host.split(".")
    words: list[str] = []
    for index, label in enumerate(labels):
        if index:
            words.append("dot")
        is_suffix = index == len(labels) - 1 and index > 0
        if is_suffix and label.lower() in DOMAIN_SUFFIXES:
            words.append(DOMAIN_SUFFIXES[label.lower()])
        else:
            words.extend(_address_words(label))
    return words


_URL = re.compile(r"(?:(?P<scheme>[A-Za-z][\w+.-]*)://)?(?P<host>[^/?#]+)(?P<rest>.*)", re.DOTALL)


def url(text: str) -> str:
    """"https://example.com/docs" -> "example dot com slash docs". The http(s) scheme is not
    said (nobody reads it out); others are spelled ("ftp://" -> "F T P colon slash slash")."""
    match = _URL.fullmatch(text)
    if match is None:  # pragma: no cover - the pattern accepts any string
        return " ".join(_address_words(text))
    words = []
    scheme = match["scheme"]
    if scheme and scheme.lower() not in ("http", "https"):
        words += [spell(scheme), "colon slash slash"]
    words += _host_words(match["host"])
    words += _address_words(match["rest"].rstrip("/"))
    return " ".join(words)


def email(text: str) -> str:
    """"jane.doe@example.com" -> "jane dot doe at example dot com"."""
    mailbox, _, host = text.partition("@")
    return " ".join([*_address_words(mailbox), "at", *_host_words(host)])
