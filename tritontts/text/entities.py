"""Rules that find written things with digits or addresses in running text and read them:
addresses, phone numbers, dates, times, money, percentages, measures, and plain numbers."""

from __future__ import annotations

import re

from tritontts.text import number_words, readings
from tritontts.text.rules import Rule, final_period, previous_word, rule, word_table
from tritontts.text.tables import CURRENCIES, DOMAIN_SUFFIXES, MONEY_SCALES, MONTHS, UNITS, Unit

# A written number: "1,234,567.5", "3.14", "42". Every rule puts its own guards around it so a
# number is never taken from inside a word ("MP3"), a version ("1.2.3") or a longer number.
NUM = r"(?:\d{1,3}(?:,\d{3}){1,4}(?:\.\d+)?|\d{1,15}(?:\.\d+)?)"  # longer: an identifier
_BEFORE = r"(?<![\w.,])"          # not inside a word or after a decimal point
_AFTER = r"(?![\d]|[.,]\d)"       # not followed by more of the same number
_SIGN = r"(?:(?<![^\s(\[{\"'])(?P<sign>[-−+]))?"  # "-5" but not the dash of "10-5" or "10%-20%"
_DASH = r"\s?[-–]\s?"             # between the ends of a range


def _sign(match: re.Match[str]) -> str:
    return {"-": "-", "−": "-", "+": "+"}.get(match["sign"] or "", "")


# --- addresses ---------------------------------------------------------------------------------

_URL_END = r"[^\s<>\"'”’.,;:!?)\]]"  # a trailing period or bracket belongs to the sentence
_TLD = word_table(DOMAIN_SUFFIXES)
URL_PATTERN = (rf"(?<![\w@.])(?:[A-Za-z][\w+.-]*://|www\.)[^\s<>\"]*{_URL_END}"
               rf"|(?<![\w@./-])[A-Za-z0-9](?:[A-Za-z0-9-]*\.)+{_TLD}\b(?!\.\w|@)"
               rf"(?:/[^\s<>\"]*{_URL_END}|/)?")
EMAIL_PATTERN = r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"


# --- phone numbers ------------------------------------------------------------------------------

_PHONE = "|".join([
    r"(?:\+\d{1,3}[\s.-]?)?\(\d{3}\)\s?\d{3}[\s.-]\d{4}",       # (555) 123-4567
    r"\+\d{1,3}(?:[\s.-]\d{1,4}){2,5}",                          # +1 555 123 4567, +44 20 ...
    r"(?:1[\s.-])?\d{3}([\s.-])\d{3}\1\d{4}",                    # 555-123-4567, 1-800-...
    r"[2-9]\d{2}-\d{4}",                                         # 555-1234 (not 100-2000)
])
PHONE_PATTERN = rf"(?<![\w+.,-])(?:{_PHONE})(?![\w-]|[.,]\d)"


# --- dates and times ----------------------------------------------------------------------------

def _read_iso_date(match: re.Match[str]) -> str:
    try:
        return readings.date(int(match["y"]), int(match["m"]), int(match["d"]))
    except ValueError:  # not a date after all: the three numbers
        return " ".join(_number_or_year(match[group]) for group in ("y", "m", "d"))


def _read_numeric_date(match: re.Match[str]) -> str:
    """03/15/2024 (US, month first) or 15/03/2024 and 15.03.2024 (day first)."""
    first, second = int(match["a"]), int(match["b"])
    if match["sep"] == "." and len(match["y"]) == 2:
        return match.group()  # "1.2.30" is a version number, not a date
    day_first = first > 12 or (match["sep"] == "." and second <= 12)
    month, day = (second, first) if day_first else (first, second)
    try:
        return readings.date(int(match["y"]), month, day, day_first=day_first,
                             year_digits=len(match["y"]))
    except ValueError:
        return match.group()


_MONTH = f"(?P<month>{'|'.join(MONTHS)})"
_DAY = r"(?P<day>\d{1,2})(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>\d{4})"


def _read_month_day(match: re.Match[str]) -> str:
    month, day = MONTHS.index(match["month"]) + 1, int(match["day"])
    year = int(match["year"]) if match["year"] else None
    try:
        if match["day2"]:
            end = int(match["day2"])
            words = readings.date(None, month, day) + " to " + number_words.ordinal(end)
            return words + (", " + number_words.year(year) if year else "")
        return readings.date(year, month, day)
    except ValueError:
        return match.group()


def _read_day_month(match: re.Match[str]) -> str:
    year = int(match["year"]) if match["year"] else None
    try:
        words = readings.date(year, MONTHS.index(match["month"]) + 1, int(match["day"]),
                              day_first=True)
    except ValueError:
        return match.group()
    before, _ = previous_word(match)
    return words.removeprefix("the ") if before.lower() == "the" else words  # "the 5th of May"


def _read_time(match: re.Match[str]) -> str:
    parts = match.groupdict()  # the "hour" rule ("7am") has no minutes or seconds
    second = int(parts["s"]) if parts.get("s") else None
    try:
        words = readings.time(int(parts["h"]), int(parts.get("m") or 0), second, parts["mer"])
    except ValueError:
        return match.group()
    return words + final_period(match)


_AM_PM = r"[AaPp]\.?\s?[Mm]\b\.?"  # am, PM, p.m.
_MERIDIEM = rf"(?P<mer>{_AM_PM})"
# "9am-5pm", "9:00-17:00", "10-11am": the second end must look like a time, not a number.
TIME_RANGE_PATTERN = (rf"(?<![\w:.,])(?P<a>\d{{1,2}}(?::\d\d){{0,2}}(?:\s?{_AM_PM})?)\s?[-–]\s?"
                      rf"(?P<b>\d{{1,2}}(?::\d\d){{0,2}}\s?{_AM_PM}|\d{{1,2}}(?::\d\d){{1,2}})"
                      r"(?![\w:]|[.,]\d)")


def _read_time_range(match: re.Match[str]) -> str:
    start = match["a"]  # a bare hour before a full time ("10-11am") is just its number
    try:
        start_words = (number_words.cardinal(int(start)) if start.isdecimal()
                       else readings.clock(start))
        words = f"{start_words} to {readings.clock(match['b'])}"
    except ValueError:
        return match.group()
    return words + final_period(match)


# --- money, percent, measures -------------------------------------------------------------------

_SYMBOLS = {key: value for key, value in CURRENCIES.items() if not key.isalpha()}
_CODES = {key: value for key, value in CURRENCIES.items() if key.isalpha()}
# "$1.5 million", "$5M", "€3bn": scale words after a space, scale letters only attached
# (so "$3 T-shirts" is not three trillion dollars).
_SCALE_WORDS = word_table({k: v for k, v in MONEY_SCALES.items() if len(k) > 2})
_SCALE_LETTERS = word_table({k: v for k, v in MONEY_SCALES.items() if len(k) <= 2})
_SCALE = rf"(?:\s?(?P<scale>{_SCALE_WORDS})(?!\w)|(?P<scale_letter>{_SCALE_LETTERS})(?![\w-]))?"


# "$3/lb", "requests/s", "$50/month": after a slash, a unit or a period of time is "per ...".
_PER = {unit: reading.singular for unit, reading in UNITS.items()} | {
    word: word for word in ("day", "week", "month", "year", "hour", "minute", "night", "person",
                            "unit", "item", "user", "seat", "page", "mile")}


def _read_money(match: re.Match[str]) -> str:
    currency = CURRENCIES[match["cur"]]
    written_scale = match["scale"] or match["scale_letter"]
    scale = MONEY_SCALES[written_scale] if written_scale else None
    return readings.money(currency, _sign(match) + match["a"], scale, match["b"])


def _read_percent(match: re.Match[str]) -> str:
    amount = number_words.number(_sign(match) + match["a"])
    if match["b"]:
        amount += " to " + number_words.number(match["b"])
    return amount + " percent"


_INCH = Unit("inch", "inches")  # not in UNITS: "in" after a number is mostly the preposition


def _read_measure(match: re.Match[str]) -> str:
    return readings.measure(_sign(match) + match["a"], UNITS[match["unit"]], match["b"])


def _read_decade(match: re.Match[str]) -> str:
    """1990s -> nineteen nineties, '80s -> eighties, 2000s -> two thousands."""
    value = int(match["n"])
    words = number_words.year(value) if value >= 1000 else number_words.cardinal(value)
    return words[:-1] + "ies" if words.endswith("y") else words + "s"


# --- plain numbers ------------------------------------------------------------------------------

def _read_range(match: re.Match[str]) -> str:
    """10-20 -> ten to twenty; 1990–2000 -> nineteen ninety to two thousand."""
    return f"{_number_or_year(match['a'])} to {_number_or_year(match['b'])}"


def _number_or_year(written: str) -> str:
    """Four digits between 1100 and 2099, unseparated, are read as a year ("in 1999", "2005"):
    in running text that is what such a number most often is."""
    if len(written) == 4 and written.isdecimal() and 1100 <= int(written) <= 2099:
        return number_words.year(int(written))
    return number_words.number(written)


def _read_number(match: re.Match[str]) -> str:
    sign = {"-": "minus ", "+": "plus "}.get(_sign(match), "")
    return sign + _number_or_year(match["a"])


def _read_fraction(match: re.Match[str]) -> str:
    numerator, denominator = int(match["n"]), int(match["d"])
    if denominator == 0:
        return f"{number_words.cardinal(numerator)} over zero"
    if match["w"]:
        return number_words.mixed_fraction(int(match["w"]), numerator, denominator)
    return number_words.fraction(numerator, denominator)


_VULGAR_FRACTIONS = {"½": (1, 2), "⅓": (1, 3), "⅔": (2, 3), "¼": (1, 4), "¾": (3, 4),
                     "⅕": (1, 5), "⅛": (1, 8), "⅜": (3, 8), "⅝": (5, 8), "⅞": (7, 8)}


def _read_vulgar_fraction(match: re.Match[str]) -> str:
    numerator, denominator = _VULGAR_FRACTIONS[match["f"]]
    if match["w"]:
        return number_words.mixed_fraction(int(match["w"]), numerator, denominator)
    return number_words.fraction(numerator, denominator)


def _read_dotted_number(match: re.Match[str]) -> str:
    """An IP address (four parts up to 255) says "dot"; a version number "point"."""
    parts = match.group().split(".")
    is_address = len(parts) == 4 and all(len(part) <= 3 and int(part) <= 255 for part in parts)
    return (" dot " if is_address else " point ").join(number_words.number(p) for p in parts)


def _read_alphanumeric(match: re.Match[str]) -> str:
    """Model numbers and the like: "MP3" -> M P three, "B2B" -> B two B, "x86" -> X eighty-six,
    "COVID-19" -> COVID nineteen, "H.264" -> H two hundred sixty-four."""
    words = []
    for run in re.findall(r"\d+|[A-Za-z]+", match.group()):
        if run.isdecimal():
            words.append(number_words.number(run) if len(run) <= 4 else number_words.digits(run))
        elif len(run) == 1 or run.isupper() or not re.search(r"[aeiouy]", run):
            words.append(run if run.isupper() and len(run) > 1 else readings.spell(run))
        else:
            words.append(run)
    return " ".join(words)


def _read_ordinal(match: re.Match[str]) -> str:
    return number_words.ordinal(int(match["n"].replace(",", "")))


# Addresses go first: their dots and digits would otherwise be read as abbreviations and numbers.
ADDRESS_RULES: list[Rule] = [
    rule("e-mail", EMAIL_PATTERN, lambda m: readings.email(m.group())),
    rule("url", URL_PATTERN, lambda m: readings.url(m.group())),
]

# The most specific shapes first: a phone number or a date is also a row of plain numbers.
NUMBER_RULES: list[Rule] = [
    rule("list number", r"\A(?P<n>\d{1,3})[.)]\s+(?=\S)",  # "1. first" starts a list item
         lambda m: number_words.cardinal(int(m["n"])) + ", "),
    rule("phone", PHONE_PATTERN, lambda m: readings.telephone(m.group())),
    rule("iso date", r"(?<![\w./-])(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})(?![\w/-]|\.\d)",
         _read_iso_date),
    rule("numeric date", r"(?<![\w./-])(?P<a>\d{1,2})(?P<sep>[/.-])(?P<b>\d{1,2})(?P=sep)"
         r"(?P<y>\d{4}|\d{2})(?![\w/-]|\.\d)", _read_numeric_date),
    rule("month day", rf"\b{_MONTH}\s+{_DAY}(?:\s?[-–]\s?(?P<day2>\d{{1,2}})(?:st|nd|rd|th)?)?"
         rf"(?:,?\s+{_YEAR})?(?![\w:]|[.,]\d)", _read_month_day),
    rule("day month", rf"\b{_DAY}\s+(?:of\s+)?{_MONTH}(?:,?\s+{_YEAR})?(?![\w:]|[.,]\d)",
         _read_day_month),
    rule("month year", rf"\b{_MONTH},?\s+{_YEAR}\b(?![.,]\d)",
         lambda m: f"{m['month']} {number_words.year(int(m['year']))}"),
    # ISBNs, card and serial numbers: digit groups joined by hyphens, read like a phone number.
    rule("digit groups", r"(?<![\w.,-])\d+(?:-\d+){2,}(?![\w-]|[.,]\d)",
         lambda m: readings.telephone(m.group())),
    rule("time range", TIME_RANGE_PATTERN, _read_time_range),
    rule("clock time", rf"(?<![\w:.])(?P<h>\d{{1,2}}):(?P<m>\d{{2}})(?::(?P<s>\d{{2}}))?"
         rf"(?:\s?{_MERIDIEM})?(?![\w:]|[.,]\d)", _read_time),
    rule("hour", rf"(?<![\w:.,])(?P<h>\d{{1,2}})\s?{_MERIDIEM}(?!\w)", _read_time),
    rule("money", rf"{_SIGN}(?P<cur>{word_table(_SYMBOLS)})\s?(?P<a>{NUM})"
         rf"(?:{_DASH}(?:{word_table(_SYMBOLS)})?(?P<b>{NUM}))?{_SCALE}{_AFTER}", _read_money),
    rule("money code before", rf"\b(?P<cur>{word_table(_CODES)})\s?{_SIGN}(?P<a>{NUM})"
         rf"(?:{_DASH}(?P<b>{NUM}))?{_SCALE}{_AFTER}", _read_money),
    rule("money code after", rf"{_SIGN}{_BEFORE}(?P<a>{NUM})(?:{_DASH}(?P<b>{NUM}))?{_SCALE}"
         rf"\s?(?P<cur>{word_table(_CODES)})\b", _read_money),
    rule("per unit", rf"(?<=[a-z])/(?P<unit>{word_table(_PER)})(?![\w/])",
         lambda m: " per " + _PER[m["unit"]]),
    rule("cents", rf"{_BEFORE}(?P<a>\d{{1,3}})\s?¢",
         lambda m: readings.money(CURRENCIES["$"], "0." + m["a"].zfill(2))),
    rule("percent", rf"{_SIGN}{_BEFORE}(?P<a>{NUM})(?:\s?%?{_DASH}(?P<b>{NUM}))?\s?%",
         _read_percent),
    rule("decade", r"(?<![\w.,])['’]?(?P<n>\d{3}0|[1-9]0)['’]?s\b", _read_decade),
    rule("feet and inches", r"(?<![\w.,'])(?P<ft>\d{1,2})'\s?(?P<in>\d{1,2})(?:\"|'')",
         lambda m: f"{readings.measure(m['ft'], UNITS['ft'])} "
                   f"{readings.measure(m['in'], _INCH)}"),
    rule("measure", rf"{_SIGN}{_BEFORE}(?P<a>{NUM})(?:{_DASH}(?P<b>{NUM}))?\s?"
         rf"(?P<unit>{word_table(UNITS)})(?![\w/²³])", _read_measure),
    rule("ordinal", r"(?<![\w.,])(?P<n>\d{1,3}(?:,\d{3}){1,4}|\d{1,15})(?i:st|nd|rd|th)\b",
         _read_ordinal),
    rule("vulgar fraction", r"(?:(?<![\w.,])(?P<w>\d{1,6})\s?)?(?P<f>[½⅓⅔¼¾⅕⅛⅜⅝⅞])",
         _read_vulgar_fraction),
    rule("fraction", r"(?<![\w./,])(?:(?P<w>\d{1,6})\s+)?(?P<n>\d{1,6})/(?P<d>\d{1,6})"
         r"(?![\w/]|[.,]\d)", _read_fraction),
    rule("range", rf"{_BEFORE}(?P<a>{NUM})(?:\s?–\s?|-(?=\d))(?P<b>{NUM}){_AFTER}(?!\w)",
         _read_range),
    rule("ratio", r"(?<![\w:.,])(?P<a>\d{1,6}):(?P<b>\d{1,6})(?![\w:]|[.,]\d)",
         lambda m: f"{number_words.cardinal(int(m['a']))} to {number_words.cardinal(int(m['b']))}"),
    rule("dimensions", rf"{_BEFORE}(?P<a>{NUM})\s?[x×]\s?(?P<b>{NUM}){_AFTER}(?!\w)",
         lambda m: f"{_number_or_year(m['a'])} by {_number_or_year(m['b'])}"),
    rule("multiplier", rf"{_BEFORE}(?P<a>{NUM})[x×](?!\w)",
         lambda m: number_words.number(m["a"]) + " times"),
    rule("version prefix", r"\b[vV](?=\d+(?:\.\d+)*\b)", "version "),
    rule("dotted number", r"(?<![\w.])\d+(?:\.\d+){2,}(?![\w]|\.\d)", _read_dotted_number),
    rule("alphanumeric", r"\b(?:[A-Za-z]+-\d+|[A-Z]\.\d+"
         r"|(?=[A-Za-z]*\d)(?=\d*[A-Za-z])[A-Za-z0-9]+)\b", _read_alphanumeric),
    rule("number", rf"{_SIGN}{_BEFORE}(?P<a>{NUM}|(?<!\d)\.\d+){_AFTER}", _read_number),
]
