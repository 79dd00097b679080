"""The data the English reader works from: units, currencies, abbreviations, acronyms, symbols.

Everything language-specific that is a list rather than logic lives here, so that adding a unit or
an abbreviation is a one-line change and the rules in `normalize.py` stay short.
"""

from __future__ import annotations

from typing import NamedTuple


class Unit(NamedTuple):
    singular: str
    plural: str


def _unit(singular: str, plural: str | None = None) -> Unit:
    return Unit(singular, plural or singular + "s")


# Written after a number ("5 km", "10kg", "25°C"). Case matters: "MB" is megabytes, "Mb" megabits,
# "mb" is left alone. Deliberately absent because they are also ordinary words or letters after a
# number: "in" (inch), "A" (ampere), "K" (kelvin, thousand), "B" (bytes, billion), "t", "us", "st".
UNITS: dict[str, Unit] = {
    # length
    "nm": _unit("nanometer"), "µm": _unit("micrometer"), "mm": _unit("millimeter"),
    "cm": _unit("centimeter"), "m": _unit("meter"), "km": _unit("kilometer"),
    "ft": _unit("foot", "feet"), "yd": _unit("yard"), "mi": _unit("mile"),
    # area and volume
    "mm²": _unit("square millimeter"), "cm²": _unit("square centimeter"),
    "m²": _unit("square meter"), "km²": _unit("square kilometer"),
    "sq ft": _unit("square foot", "square feet"), "ft²": _unit("square foot", "square feet"),
    "sq mi": _unit("square mile"), "m³": _unit("cubic meter"), "cm³": _unit("cubic centimeter"),
    "cc": _unit("cubic centimeter"), "ml": _unit("milliliter"), "mL": _unit("milliliter"),
    "cl": _unit("centiliter"), "l": _unit("liter"), "L": _unit("liter"),
    "gal": _unit("gallon"), "fl oz": _unit("fluid ounce"),
    # mass
    "µg": _unit("microgram"), "mcg": _unit("microgram"), "mg": _unit("milligram"),
    "g": _unit("gram"), "kg": _unit("kilogram"), "lb": _unit("pound"), "lbs": _unit("pound"),
    "oz": _unit("ounce"),
    # speed
    "mph": _unit("mile per hour", "miles per hour"), "km/h": _unit("kilometer per hour",
    "kilometers per hour"), "kph": _unit("kilometer per hour", "kilometers per hour"),
    "m/s": _unit("meter per second", "meters per second"),
    "ft/s": _unit("foot per second", "feet per second"),
    # temperature and angle
    "°C": _unit("degree Celsius", "degrees Celsius"),
    "°F": _unit("degree Fahrenheit", "degrees Fahrenheit"), "°": _unit("degree"),
    # time
    "ns": _unit("nanosecond"), "µs": _unit("microsecond"), "ms": _unit("millisecond"),
    "s": _unit("second"), "sec": _unit("second"), "secs": _unit("second"),
    "min": _unit("minute"), "mins": _unit("minute"), "h": _unit("hour"), "hr": _unit("hour"),
    "hrs": _unit("hour"), "yr": _unit("year"), "yrs": _unit("year"),
    # data
    "KB": _unit("kilobyte"), "kB": _unit("kilobyte"), "MB": _unit("megabyte"),
    "GB": _unit("gigabyte"), "TB": _unit("terabyte"), "PB": _unit("petabyte"),
    "KiB": _unit("kibibyte"), "MiB": _unit("mebibyte"), "GiB": _unit("gibibyte"),
    "TiB": _unit("tebibyte"), "Kb": _unit("kilobit"), "Mb": _unit("megabit"),
    "Gb": _unit("gigabit"), "kbps": _unit("kilobit per second", "kilobits per second"),
    "Kbps": _unit("kilobit per second", "kilobits per second"),
    "Mbps": _unit("megabit per second", "megabits per second"),
    "Gbps": _unit("gigabit per second", "gigabits per second"),
    "MB/s": _unit("megabyte per second", "megabytes per second"),
    "GB/s": _unit("gigabyte per second", "gigabytes per second"),
    # frequency, electricity, energy, pressure, misc
    "Hz": _unit("hertz", "hertz"), "kHz": _unit("kilohertz", "kilohertz"),
    "MHz": _unit("megahertz", "megahertz"), "GHz": _unit("gigahertz", "gigahertz"),
    "mV": _unit("millivolt"), "V": _unit("volt"), "kV": _unit("kilovolt"),
    "mA": _unit("milliamp"), "mAh": _unit("milliamp hour"), "W": _unit("watt"),
    "kW": _unit("kilowatt"), "MW": _unit("megawatt"), "GW": _unit("gigawatt"),
    "Wh": _unit("watt hour"), "kWh": _unit("kilowatt hour"), "MWh": _unit("megawatt hour"),
    "cal": _unit("calorie"), "kcal": _unit("kilocalorie"), "kJ": _unit("kilojoule"),
    "Pa": _unit("pascal"), "kPa": _unit("kilopascal"), "hPa": _unit("hectopascal"),
    "psi": _unit("p s i", "p s i"), "dB": _unit("decibel"), "rpm": _unit("r p m", "r p m"),
    "fps": _unit("frame per second", "frames per second"), "px": _unit("pixel"),
    "dpi": _unit("dot per inch", "dots per inch"), "bpm": _unit("beat per minute",
    "beats per minute"), "ppm": _unit("part per million", "parts per million"),
}


class Currency(NamedTuple):
    major: Unit
    minor: Unit | None  # None: amounts are read with "point" (no everyday subunit)


_DOLLAR = Currency(_unit("dollar"), _unit("cent"))
# Symbols and ISO codes, symbol before the amount ("$5") or code on either side ("5 USD").
CURRENCIES: dict[str, Currency] = {
    "$": _DOLLAR, "US$": _DOLLAR, "USD": _DOLLAR,
    "C$": Currency(_unit("Canadian dollar"), _unit("cent")),
    "CAD": Currency(_unit("Canadian dollar"), _unit("cent")),
    "A$": Currency(_unit("Australian dollar"), _unit("cent")),
    "AUD": Currency(_unit("Australian dollar"), _unit("cent")),
    "€": Currency(_unit("euro"), _unit("cent")), "EUR": Currency(_unit("euro"), _unit("cent")),
    "£": Currency(_unit("pound"), _unit("penny", "pence")),
    "GBP": Currency(_unit("pound"), _unit("penny", "pence")),
    "¥": Currency(_unit("yen", "yen"), None), "JPY": Currency(_unit("yen", "yen"), None),
    "₹": Currency(_unit("rupee"), _unit("paisa", "paise")),
    "INR": Currency(_unit("rupee"), _unit("paisa", "paise")),
    "CHF": Currency(_unit("Swiss franc"), _unit("centime")),
    "₩": Currency(_unit("won", "won"), None),
}

# "$1.5M", "€3bn", "$10k": the scale letters that may follow a money amount.
MONEY_SCALES: dict[str, str] = {
    "k": "thousand", "K": "thousand", "m": "million", "M": "million", "mn": "million",
    "b": "billion", "B": "billion", "bn": "billion", "tn": "trillion", "T": "trillion",
    "thousand": "thousand", "million": "million", "billion": "billion", "trillion": "trillion",
}

MONTHS: tuple[str, ...] = ("January", "February", "March", "April", "May", "June", "July",
                           "August", "September", "October", "November", "December")
# Written month abbreviations; with a period, or without one when a day number follows.
MONTH_ABBREVIATIONS: dict[str, int] = {
    "Jan": 1, "Feb": 2, "Mar": 3, "Apr": 4, "Jun": 6, "Jul": 7, "Aug": 8, "Sep": 9, "Sept": 9,
    "Oct": 10, "Nov": 11, "Dec": 12,
}
WEEKDAY_ABBREVIATIONS: dict[str, str] = {
    "Mon": "Monday", "Tue": "Tuesday", "Tues": "Tuesday", "Wed": "Wednesday",
    "Thu": "Thursday", "Thur": "Thursday", "Thurs": "Thursday", "Fri": "Friday",
    "Sat": "Saturday", "Sun": "Sunday",
}


class Contextual(NamedTuple):
    """An abbreviation read one way before a name and another way after one."""

    before_name: str  # "Dr. Smith" -> Doctor, "St. Louis" -> Saint
    after_name: str   # "Sunset Dr." -> Drive, "Main St." -> Street
    prefer_before: bool  # which reading wins when both a name precedes and one follows


CONTEXTUAL_ABBREVIATIONS: dict[str, Contextual] = {
    "Dr": Contextual("Doctor", "Drive", prefer_before=True),
    "St": Contextual("Saint", "Street", prefer_before=False),
}

# Titles: always expanded when written with a period; without one only before a capitalized name
# and only the few below ("Mr Smith" in British spelling): "Rep", "Gen", "Sen" are also words.
TITLES: dict[str, str] = {
    "Mr": "Mister", "Mrs": "Missus", "Ms": "Miz", "Prof": "Professor", "Gen": "General",
    "Col": "Colonel", "Capt": "Captain", "Lt": "Lieutenant", "Sgt": "Sergeant",
    "Gov": "Governor", "Sen": "Senator", "Rep": "Representative", "Rev": "Reverend",
    "Hon": "Honorable", "Pres": "President", "Fr": "Father", "Adm": "Admiral",
    "Maj": "Major", "Cpl": "Corporal", "Pvt": "Private", "Supt": "Superintendent",
    "Mt": "Mount", "Ft": "Fort",
}
TITLES_WITHOUT_PERIOD: frozenset[str] = frozenset({"Mr", "Mrs", "Ms", "Prof"})
UNAMBIGUOUS_TITLES: frozenset[str] = frozenset({"Mr", "Mrs", "Ms"})  # "Mr & Mrs Smith"

# Street-type abbreviations, read as such after a capitalized word or a house number.
STREET_TYPES: dict[str, str] = {
    "Ave": "Avenue", "Blvd": "Boulevard", "Rd": "Road", "Ln": "Lane", "Ct": "Court",
    "Hwy": "Highway", "Pkwy": "Parkway", "Sq": "Square", "Pl": "Place", "Ter": "Terrace",
}

# Abbreviations read the same way wherever they stand (matched with their periods).
ABBREVIATIONS: dict[str, str] = {
    "vs.": "versus", "vs": "versus", "etc.": "et cetera", "etc": "et cetera",
    "e.g.": "for example", "i.e.": "that is", "approx.": "approximately",
    "approx": "approximately", "a.k.a.": "also known as", "aka": "also known as",
    "Inc.": "Incorporated", "Ltd.": "Limited", "Corp.": "Corporation", "Co.": "Company",
    "Bros.": "Brothers", "Dept.": "Department", "dept.": "department", "Univ.": "University",
    "Govt.": "Government", "govt.": "government", "Assn.": "Association", "Esq.": "Esquire",
    "cf.": "compare", "ca.": "circa", "misc.": "miscellaneous", "max.": "maximum",
    "min.": "minimum", "avg.": "average", "incl.": "including", "excl.": "excluding",
    "est.": "established", "Ph.D.": "P h D", "PhD": "P h D", "w/": "with", "w/o": "without",
    "Jr.": "Junior", "Sr.": "Senior",
}

# Abbreviations after which a period never ends the sentence (they always lead into more words).
NEVER_END_SENTENCE: frozenset[str] = frozenset({
    "vs", "approx", "cf", "ca", "incl", "excl", "e.g", "i.e", "a.k.a",
})

# Before a number: "No. 5" -> "number five", "pp. 10-20" -> "pages ten to twenty".
NUMBER_PREFIXES: dict[str, str] = {
    "No": "number", "no": "number", "Nos": "numbers", "Vol": "volume", "vol": "volume",
    "Fig": "figure", "fig": "figure", "p": "page", "pp": "pages", "Ch": "chapter",
    "ch": "chapter", "Sec": "section", "sec": "section", "Art": "article", "Ex": "example",
    "Ste": "Suite", "Apt": "Apartment", "Rm": "Room", "ext": "extension", "Ext": "extension",
    "Tel": "telephone", "tel": "telephone", "Ep": "episode", "ep": "episode",
}

# Whole tokens with a fixed reading, matched before anything else touches their symbols.
FIXED_EXPRESSIONS: dict[str, str] = {
    "C++": "C plus plus", "C#": "C sharp", "F#": "F sharp", ".NET": "dot net",
    "24/7": "twenty-four seven", "911": "nine one one", "9/11": "nine eleven",
    "50/50": "fifty-fifty",
    "and/or": "and or", "A+": "eh plus", "A-": "eh minus", "Q&A": "Q and eh",
    "P&L": "P and L", "AT&T": "eh T and T", "&c.": "et cetera", "N/A": "not applicable",
    "n/a": "not applicable",
}

# All-capital words read as words, not letter by letter ("NASA"), and the written form that
# espeak-ng reads right. Everything else of two to five capitals is spelled ("FBI" -> "F B I").
ACRONYMS_AS_WORDS: dict[str, str] = {
    "NASA": "Nasa", "NATO": "Nato", "UNESCO": "Unesco", "UNICEF": "Unicef", "NAFTA": "Nafta",
    "OPEC": "Opec", "FIFA": "Fifa", "UEFA": "Uefa", "COVID": "Covid", "NASDAQ": "Nasdaq",
    "FEMA": "Fema", "DARPA": "Darpa", "CERN": "Cern", "OSHA": "Osha", "IKEA": "Ikea",
    "LASER": "laser", "RADAR": "radar", "SONAR": "sonar", "SCUBA": "scuba", "AIDS": "aids",
    "SWAT": "swat", "PIN": "pin", "RAM": "ram", "ROM": "rom", "SIM": "sim", "LAN": "lan",
    "GIF": "gif", "JPEG": "jay peg", "ASCII": "askee", "CAPTCHA": "captcha", "UNIX": "unix",
    "POTUS": "potus", "SCOTUS": "scotus", "ASAP": "eh sap", "OK": "okay", "WASM": "wasm",
    "YAML": "yammel", "JSON": "jason", "NAND": "nand", "SARS": "sars", "GIGO": "guy go",
}

# Common English words that people write in capitals for emphasis ("NOTE:", "do NOT"). They are
# read as words; other short all-capital tokens are taken for initialisms and spelled.
CAPITALIZED_WORDS: frozenset[str] = frozenset({
    "NOTE", "NOT", "NO", "YES", "STOP", "HELP", "FREE", "SALE", "NEW", "NOW", "READ", "ALL",
    "AND", "THE", "FOR", "BUT", "YOU", "ARE", "WARNING", "DANGER", "TODO", "FIXME", "ONLY",
    "NEVER", "ALWAYS", "MUST", "DO", "DONT", "VERY", "HOT", "BIG", "OFF", "ON", "OUT", "WOW",
    "OMG", "LOL", "HEY", "HI", "GO", "WAIT", "IMPORTANT", "ATTENTION", "NB",
})

# Spelled letters: espeak-ng reads a lone capital "A" inside a phrase as the article "a" (ɐ),
# so the letter is written the way espeak-ng says its name; every other letter reads right.
LETTER_NAMES: dict[str, str] = {"A": "eh"}

DIGIT_NAMES: tuple[str, ...] = ("zero", "one", "two", "three", "four", "five", "six", "seven",
                                "eight", "nine")

# Symbols between or around words, read when nothing more specific matched them.
SYMBOL_WORDS: dict[str, str] = {
    "&": "and", "@": "at", "+": "plus", "=": "equals", "%": "percent", "°": "degrees",
    "±": "plus or minus", "×": "times", "÷": "divided by", "<": "less than",
    ">": "greater than", "≤": "less than or equal to", "≥": "greater than or equal to",
    "≠": "not equal to", "≈": "approximately", "~": "about", "§": "section", "¶": "paragraph",
    "©": "copyright", "²": "squared", "³": "cubed", "$": "dollars", "€": "euros",
    "£": "pounds", "¥": "yen", "#": "number",
}

# Names read out in URLs, e-mail addresses and spelled ("characters") text.
CHARACTER_NAMES: dict[str, str] = {
    ".": "dot", "/": "slash", "\\": "backslash", ":": "colon", "-": "dash", "_": "underscore",
    "@": "at", "?": "question mark", "=": "equals", "&": "and", "#": "hash", "%": "percent",
    "~": "tilde", "+": "plus", "!": "exclamation mark", ",": "comma", ";": "semicolon",
    "*": "star", "'": "apostrophe", '"': "quote", "(": "open paren", ")": "close paren",
    "$": "dollar sign", "|": "pipe", " ": "space", "^": "caret", "<": "less than",
    ">": "greater than", "[": "open bracket", "]": "close bracket", "{": "open brace",
    "}": "close brace",
}

# Top-level domains that make "word.tld" an address, and the readings of ones not said as words.
DOMAIN_SUFFIXES: dict[str, str] = {
    "com": "com", "org": "org", "net": "net", "edu": "E D U", "gov": "gov", "mil": "mil",
    "io": "I O", "ai": "eh I", "dev": "dev", "app": "app", "co": "co", "info": "info",
    "biz": "biz", "us": "U S", "uk": "U K", "de": "D E", "fr": "F R", "eu": "E U",
    "ca": "C eh", "au": "eh U", "in": "I N", "jp": "J P", "cn": "C N", "ru": "R U",
    "nl": "N L", "tv": "T V", "me": "me", "ly": "L Y", "xyz": "X Y Z", "cloud": "cloud",
    "tech": "tech",
}

# Roman numerals read as numbers after these ("World War II", "Chapter IV", "Super Bowl LVII").
ROMAN_NUMERAL_CUES: frozenset[str] = frozenset({
    "War", "Chapter", "Part", "Volume", "Vol.", "Act", "Scene", "Book", "Phase", "Stage", "Level",
    "Type", "Class", "Title", "Article", "Section", "Bowl", "Episode", "Round", "Vatican",
    "Apollo", "Gemini", "Mark",
})
# Names of monarchs and popes: "Henry VIII" -> "Henry the eighth".
REGNAL_NAMES: frozenset[str] = frozenset({
    "Henry", "Louis", "George", "Elizabeth", "Charles", "Edward", "William", "James", "John",
    "Richard", "Mary", "Philip", "Frederick", "Pius", "Benedict", "Gregory", "Leo", "Innocent",
    "Clement", "Alexander", "Peter", "Catherine", "Ivan", "Nicholas", "Napoleon", "Ramesses",
    "Ptolemy", "Constantine", "Otto", "Wilhelm", "Carlos", "Juan", "Felipe", "Alfonso",
    "Gustav", "Christian", "Frederik", "Harald", "Olaf", "Haakon", "Victoria", "Anne",
    "Stephen", "Urban", "Paul", "Francis", "Ferdinand", "Isabella", "Rama", "Edmund",
})
