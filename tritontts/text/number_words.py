"""Numbers as en-US words. num2words does the counting; this module only adapts its style.

num2words writes British English ("one hundred and one", "two thousand and five", commas between
groups); American readers drop the "and" and the commas, and the downstream phonemizer does not
need them, so they are removed here and nowhere else.
"""

from __future__ import annotations

import re
from functools import lru_cache

from num2words import num2words

from tritontts.text.tables import DIGIT_NAMES

# Past this many digits a number is an identifier (card, account, serial), read digit by digit.
MAX_CARDINAL_DIGITS = 15


def _american(words: str) -> str:
    return words.replace(",", "").replace(" and ", " ").replace("oh-", "oh ")


@lru_cache(maxsize=4096)  # num2words takes ~60 µs a call; texts repeat their numbers
def cardinal(n: int) -> str:
    if n < 0:
        return "minus " + cardinal(-n)
    if n >= 10**MAX_CARDINAL_DIGITS:
        return digits(str(n))
    return _american(num2words(n, lang="en"))


def integer(text: str) -> str:
    """Written digits (thousands commas allowed) as words. Works on the text, never converting
    a run too long to be a quantity (Python refuses int() of more than 4,300 digits)."""
    plain = text.replace(",", "")
    return digits(plain) if len(plain) > MAX_CARDINAL_DIGITS else cardinal(int(plain))


@lru_cache(maxsize=1024)
def ordinal(n: int) -> str:
    return _american(num2words(n, lang="en", to="ordinal"))


@lru_cache(maxsize=1024)
def year(n: int) -> str:
    """1999 -> nineteen ninety-nine, 2005 -> two thousand five, 2024 -> twenty twenty-four."""
    if not 1000 <= n <= 2099 or 1000 <= n < 1010:  # "1001 nights" is no year reading
        return cardinal(n)
    return _american(num2words(n, lang="en", to="year"))


def digits(text: str) -> str:
    """"0427" -> "zero four two seven"; anything but digits is skipped."""
    return " ".join(DIGIT_NAMES[int(c)] for c in text if c.isdecimal())


def two_digit_groups(text: str) -> str:
    """Minutes and the like: "05" -> "oh five", "30" -> "thirty"."""
    value = int(text)
    return f"oh {DIGIT_NAMES[value]}" if len(text) == 2 and value < 10 else cardinal(value)


_NUMBER = re.compile(r"(?P<sign>[-−+]?)(?P<int>\d{1,3}(?:,\d{3})+|\d*)(?:\.(?P<frac>\d+))?")


def number(text: str) -> str:
    """A written number as words: "1,234" "-5" "3.14" ".5" "007" (leading zeros: digit by digit)."""
    match = _NUMBER.fullmatch(text.strip())
    if match is None or not (match["int"] or match["frac"]):
        raise ValueError(f"not a number: {text!r}")
    whole = match["int"].replace(",", "")
    if len(whole) > 1 and whole.startswith("0") and match["frac"] is None:
        words = digits(whole)
    else:
        words = integer(whole) if whole else ""
        if match["frac"] is not None:
            words = f"{words} point {digits(match['frac'])}".strip()
    sign = {"-": "minus ", "−": "minus ", "+": "plus "}.get(match["sign"], "")
    return sign + words


def is_one(text: str) -> bool:
    """Whether a written amount takes the singular: "1" and "-1", but not "1.0" or "1.5"."""
    return text.lstrip("-−+") == "1"


_DENOMINATORS = {2: ("half", "halves"), 4: ("quarter", "quarters")}


def fraction(numerator: int, denominator: int) -> str:
    """3/4 -> three quarters, 1/2 -> one half, 5/8 -> five eighths; big or zero ones "over"."""
    if denominator in _DENOMINATORS:
        singular, plural = _DENOMINATORS[denominator]
    elif 3 <= denominator <= 100:
        singular = ordinal(denominator)
        plural = singular + "s"
    else:
        return f"{cardinal(numerator)} over {cardinal(denominator)}"
    return f"{cardinal(numerator)} {singular if numerator == 1 else plural}"


def mixed_fraction(whole: int, numerator: int, denominator: int) -> str:
    """2 1/2 -> two and a half, 3 3/4 -> three and three quarters."""
    part = fraction(numerator, denominator)
    if numerator == 1 and denominator <= 100:
        part = "a " + part.removeprefix("one ")
    return f"{cardinal(whole)} and {part}"
