"""A job's text cut into chunks at sentence ends, each one Triton request, with the pause that
follows it. Done once, at submit, so that every worker (and every retry) sees the same chunks
and a chunk's index names the same audio forever.

Plain text: paragraphs (blank lines) and sentences, as the frontend reads them. SSML: each
top-level <p> or <s> of <speak> is a chunk (a <p> with <s> children: each <s>), and plain text
between them is cut into sentences; other markup between them (breaks, prosody, say-as) stays
with its text as one chunk. Every chunk is checked as the server will read it, so a malformed
job is refused at submit, not after an hour of work.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass
from xml.sax.saxutils import escape

from tritontts.errors import InvalidInputError
from tritontts.text.sentences import split_paragraphs, split_sentences
from tritontts.text.ssml import is_ssml, read_ssml

_WORDS = re.compile(r"\S+")
BLOCK_TAGS = ("p", "s")


@dataclass(frozen=True)
class Chunk:
    text: str  # plain text, or an SSML document with a <speak> root
    pause_after_s: float

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Chunk:
        return cls(str(data["text"]), float(data["pause_after_s"]))  # type: ignore[arg-type]


def split_job_text(text: str, *, max_chunk_chars: int, sentence_pause_s: float,
                   paragraph_pause_s: float) -> list[Chunk]:
    if not text.strip():
        raise InvalidInputError("input is empty: give some words to speak")
    if is_ssml(text):
        read_ssml(text)  # the whole document, as the server would read it: refuses bad SSML
        pieces = _ssml_pieces(text, sentence_pause_s, paragraph_pause_s)
    else:
        pieces = []
        for paragraph in split_paragraphs(text):
            sentences = split_sentences(paragraph)
            for i, sentence in enumerate(sentences):
                parts = _cut_long(sentence, max_chunk_chars)
                pieces += [(part, sentence_pause_s) for part in parts[:-1]]
                pieces.append((parts[-1], sentence_pause_s if i < len(sentences) - 1
                               else paragraph_pause_s))
    chunks = [Chunk(t, p) for t, p in pieces if t.strip()]
    if not chunks:
        raise InvalidInputError("input has nothing to speak")
    last = chunks[-1]
    chunks[-1] = Chunk(last.text, 0.0)  # no silence after the end
    for chunk in chunks:
        if len(chunk.text) > max(max_chunk_chars * 4, 10_000):
            raise InvalidInputError(
                f"an SSML part of {len(chunk.text)} characters has no sentence boundary a job "
                "can cut at: wrap long SSML in <p> or <s> elements")
    return chunks


def _cut_long(sentence: str, max_chars: int) -> list[str]:
    """A sentence longer than max_chars, cut between words (a very long run-on sentence)."""
    if len(sentence) <= max_chars:
        return [sentence]
    parts, current = [], ""
    for word in _WORDS.findall(sentence):
        if current and len(current) + 1 + len(word) > max_chars:
            parts.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        parts.append(current)
    return parts


def _local(tag: object) -> str:
    return str(tag).rsplit("}", 1)[-1]


def _ssml_pieces(text: str, sentence_pause_s: float,
                 paragraph_pause_s: float) -> list[tuple[str, float]]:
    root = ET.fromstring(text.lstrip())
    pieces: list[tuple[str, float]] = []
    run: list[str] = []  # inline content (text and markup) since the last block element
    run_has_markup = False

    def flush() -> None:
        nonlocal run, run_has_markup
        joined = "".join(run)
        if joined.strip():
            if run_has_markup:
                pieces.append((f"<speak>{joined}</speak>", sentence_pause_s))
            else:
                for sentence in split_sentences(" ".join(joined.split())):
                    pieces.append((f"<speak>{escape(sentence)}</speak>", sentence_pause_s))
        run, run_has_markup = [], False

    def add_text(value: str | None) -> None:
        if value:
            run.append(escape(value))

    add_text(root.text)
    for child in root:
        tail, child.tail = child.tail, None
        if _local(child.tag) in BLOCK_TAGS:
            flush()
            sentences = [s for s in child if _local(s.tag) == "s"]
            if _local(child.tag) == "p" and sentences and not (child.text or "").strip() \
                    and all(not (s.tail or "").strip() for s in sentences):
                for s in sentences:
                    s.tail = None
                    pieces.append((f"<speak>{ET.tostring(s, encoding='unicode')}</speak>",
                                   sentence_pause_s))
            else:
                pieces.append((f"<speak>{ET.tostring(child, encoding='unicode')}</speak>",
                               sentence_pause_s))
            if _local(child.tag) == "p" and pieces:
                pieces[-1] = (pieces[-1][0], paragraph_pause_s)
        else:
            run.append(ET.tostring(child, encoding="unicode"))
            run_has_markup = True
        add_text(tail)
    flush()
    return pieces
