"""Plain English text -> words espeak-ng reads right (en-US): "$25.50" -> "twenty-five dollars and
fifty cents", "Dr. Smith" -> "Doctor Smith", "FBI" -> "F B I".

The work is an ordered table of rewrite rules (`RULES`); each kind of rule lives in its own
module with its data in `tables.py`. Order matters: the more specific a shape, the earlier its rule.
"""

from __future__ import annotations

from tritontts.text.abbreviations import ABBREVIATION_RULES
from tritontts.text.capitals import CAPITALS_RULES, SHOUTED_SENTENCE_RULE
from tritontts.text.entities import ADDRESS_RULES, NUMBER_RULES
from tritontts.text.pieces import strip_placeholders
from tritontts.text.rules import Rule, apply
from tritontts.text.sentences import split_paragraphs, split_sentences
from tritontts.text.symbols import AFTER_RULES, BEFORE_RULES, TYPOGRAPHY

RULES: tuple[Rule, ...] = (
    *BEFORE_RULES,          # markup out, fixed expressions ("C++") claimed
    SHOUTED_SENTENCE_RULE,  # a sentence in capitals is words, not initialisms
    *ADDRESS_RULES,         # e-mail addresses and URLs, before their dots look like periods
    *ABBREVIATION_RULES,    # "Dr.", "St.", "Jan.", "No." while the context is still written
    *NUMBER_RULES,          # phone numbers, dates, times, money, measures ... plain numbers
    *CAPITALS_RULES,        # Roman numerals, acronyms, initialisms
    *AFTER_RULES,           # symbols as words, the rest dropped, punctuation tidied
)


def prepare(text: str) -> str:
    """Input as the rules expect it: typographic variants folded, no stray placeholders."""
    return strip_placeholders(text).translate(TYPOGRAPHY)


def normalize_sentence(text: str) -> str:
    """One sentence (already split, already prepared) -> spoken words. Placeholders pass through."""
    return apply(RULES, text).strip()


def normalize(text: str) -> str:
    """Plain text (one sentence or more) -> spoken words, e.g. "$25.50" -> "twenty-five dollars
    and fifty cents". Sentences are read one by one so that a period ends its own sentence."""
    text = prepare(text)
    spoken = (normalize_sentence(sentence) for paragraph in split_paragraphs(text)
              for sentence in split_sentences(paragraph))
    return " ".join(words for words in spoken if words)
