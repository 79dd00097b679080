"""Description + text -> prompt ids, the reference's way: the prompt is a *string*

    SOH + BOS + '<description="DESC"> TEXT' + EOT + EOH + SOA + SOS

(each special token written as the text the tokenizer decodes its id to), tokenized by the
checkpoint's own tokenizer with its default special-token handling. For Maya1's Llama 3
tokenizer that handling prepends one more <|begin_of_text|>, so the ids start
[BOS, SOH, BOS, ...]: both of Maya Research's scripts (the model card's `transformers` example
and the vLLM server) feed the model exactly that, and so does this builder.

Emotion tags (`<laugh>`) are added tokens of the tokenizer: each must be one id (checked at
start-up), and any other `<...>` in the text is refused, so a tag can never be read out as
letters. A long text is cut into chunks the size of Maya1's training clips (`chunks`); a
chunk can be cut again in two (`halves`) when its speech ran into the token limit, and can be
conditioned on the chunk before it (`continued`: voice continuity).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from tritontts.errors import InvalidInputError
from tritontts.maya1.tokens import (
    BOS,
    CODE_END,
    END_OF_AI,
    END_OF_HUMAN,
    END_OF_TEXT,
    START_OF_AI,
    START_OF_HUMAN,
    START_OF_SPEECH,
)
from tritontts.text.sentences import split_paragraphs, split_sentences

EMOTION_TAGS = ("laugh", "laugh_harder", "sigh", "chuckle", "gasp", "angry", "excited",
                "whisper", "cry", "scream", "sing", "snort", "exhale", "gulp", "giggle",
                "sarcastic", "curious", "appalled", "disappointed", "mischievous")
PREFIX = (START_OF_HUMAN, BOS)  # written before the description, in this order
SUFFIX = (END_OF_TEXT, END_OF_HUMAN, START_OF_AI, START_OF_SPEECH)  # after the text
_SPECIAL = (*PREFIX, *SUFFIX, CODE_END, END_OF_AI)
_ANGLE = re.compile(r"<([^<>]*)>")
_DESCRIPTION_FORBIDDEN = set('<>"')
# Where a sentence too long for one chunk may be cut: after a clause mark and its space.
_CLAUSE_END = re.compile(r"(?<=[,;:)\]\-–—])\s+")  # the mark stays with the clause before


class TextTokenizer(Protocol):
    """What the builder needs of a tokenizer (`tokenizers.Tokenizer` has it)."""

    def encode(self, sequence: str, add_special_tokens: bool = ...) -> object: ...

    def decode(self, ids: list[int], skip_special_tokens: bool = ...) -> str: ...

    def token_to_id(self, token: str) -> int | None: ...


@dataclass(frozen=True)
class PromptLimits:
    max_text_chars: int = 4000
    max_description_chars: int = 600
    # Maya1 was trained on clips of 1-14 s, about 150-180 characters at a conversational
    # pace: sentences are packed into chunks of at most this many characters, and a longer
    # sentence is cut at clause marks (then at spaces).
    chunk_chars: int = 180
    max_chunks: int = 32
    # Voice continuity: each chunk after the first is prompted with the chunk before it (its
    # text and its last `continuity_frames` frames as a finished turn). 0: off.
    continuity_frames: int = 0


@dataclass(frozen=True)
class Chunk:
    """One prompt: its ids, and the text and description it was built from (None for ids
    given as they are, which are never re-cut)."""

    ids: tuple[int, ...]
    text: str | None = None
    description: str | None = None


def tag_ids(tokenizer: TextTokenizer) -> dict[str, int]:
    """{tag: id} of the emotion tags; each must be one token of the tokenizer."""
    ids, missing = {}, []
    for tag in EMOTION_TAGS:
        token_id = tokenizer.token_to_id(f"<{tag}>")
        if token_id is None:
            missing.append(f"<{tag}>")
        else:
            ids[tag] = token_id
    if missing:
        raise ValueError(f"the tokenizer has no single token for {', '.join(missing)}: "
                         "a Maya1 tokenizer.json holds every emotion tag as one token")
    return ids


def special_texts(tokenizer: TextTokenizer) -> dict[int, str]:
    """{id: the text the tokenizer writes it as}, as the reference gets them
    (`tokenizer.decode([id])`); each must read back as that one id."""
    texts = {}
    for token_id in _SPECIAL:
        text = tokenizer.decode([token_id], skip_special_tokens=False)
        if tokenizer.token_to_id(text) != token_id:
            raise ValueError(f"the tokenizer writes id {token_id} as {text!r}, which is not "
                             "one token of it: not a Maya1 tokenizer.json")
        texts[token_id] = text
    return texts


def split_clauses(sentence: str, limit: int) -> list[str]:
    """A sentence in pieces of at most `limit` characters: at clause marks, then at spaces
    (a single word longer than the limit stays whole)."""
    pieces: list[str] = []
    for clause in _CLAUSE_END.split(sentence):
        for word in (clause.split() if len(clause) > limit else [clause]):
            if pieces and len(pieces[-1]) + 1 + len(word) <= limit:
                pieces[-1] = f"{pieces[-1]} {word}"
            else:
                pieces.append(word)
    return [p for p in pieces if p.strip()]


class PromptBuilder:
    def __init__(self, tokenizer: TextTokenizer, limits: PromptLimits | None = None) -> None:
        self.tokenizer = tokenizer
        self.limits = limits or PromptLimits()
        self.tags = tag_ids(tokenizer)
        self.special = special_texts(tokenizer)

    def check_description(self, description: str) -> str:
        description = " ".join(description.split())
        if not description:
            raise InvalidInputError("DESCRIPTION is empty: describe the voice, e.g. 'Female "
                                    "voice in her 30s, warm, calm pacing'")
        if len(description) > self.limits.max_description_chars:
            raise InvalidInputError(f"DESCRIPTION has {len(description)} characters, at most "
                                    f"{self.limits.max_description_chars} are allowed")
        bad = sorted(_DESCRIPTION_FORBIDDEN & set(description))
        if bad:
            raise InvalidInputError(f"DESCRIPTION may not contain {' '.join(bad)} (they "
                                    "would end the <description=\"...\"> wrapper)")
        return description

    def check_text(self, text: str) -> str:
        text = text.strip()
        if not text:
            raise InvalidInputError("TEXT is empty: give some words to speak")
        if len(text) > self.limits.max_text_chars:
            raise InvalidInputError(f"TEXT has {len(text)} characters, at most "
                                    f"{self.limits.max_text_chars} are allowed")
        for match in _ANGLE.finditer(text):
            if match[1] not in self.tags:
                known = " ".join(f"<{t}>" for t in EMOTION_TAGS)
                raise InvalidInputError(f"unknown emotion tag <{match[1]}>; known tags: {known}")
        stray = _ANGLE.sub("", text)
        if "<" in stray or ">" in stray:
            raise InvalidInputError("TEXT has a '<' or '>' that is not part of an emotion "
                                    "tag such as <laugh>")
        return text

    def chunks(self, text: str) -> list[str]:
        """The text's sentences packed into chunks of at most `chunk_chars` characters; a
        longer sentence is cut at clause marks, then at spaces."""
        limit = self.limits.chunk_chars
        chunks: list[str] = []
        for paragraph in split_paragraphs(text):
            for sentence in split_sentences(paragraph):
                for piece in split_clauses(sentence, limit):
                    if chunks and len(chunks[-1]) + 1 + len(piece) <= limit:
                        chunks[-1] = f"{chunks[-1]} {piece}"
                    else:
                        chunks.append(piece)
        if len(chunks) > self.limits.max_chunks:
            raise InvalidInputError(f"TEXT makes {len(chunks)} prompts of at most "
                                    f"{limit} characters, at most "
                                    f"{self.limits.max_chunks} are allowed: send it in parts")
        return chunks

    def prompt_text(self, description: str, text: str) -> str:
        """The reference's prompt string (special tokens as their text)."""
        s = self.special
        head = "".join(s[i] for i in PREFIX)
        tail = "".join(s[i] for i in SUFFIX)
        return f'{head}<description="{description}"> {text}{tail}'

    def prompt_ids(self, description: str, text: str) -> list[int]:
        """One prompt; `text` is spoken as a whole (no splitting)."""
        prompt = self.prompt_text(self.check_description(description), text)
        return list(self.tokenizer.encode(prompt).ids)  # the tokenizer's own BOS handling

    def chunk(self, description: str, text: str) -> Chunk:
        return Chunk(tuple(self.prompt_ids(description, text)), text, description)

    def plan(self, description: str, text: str) -> list[Chunk]:
        """A chunk per piece of the text, all with the same description."""
        description = self.check_description(description)
        return [self.chunk(description, piece) for piece in self.chunks(self.check_text(text))]

    def prompts(self, description: str, text: str) -> list[list[int]]:
        """The ids of `plan`'s chunks."""
        return [list(chunk.ids) for chunk in self.plan(description, text)]

    def halves(self, chunk: Chunk) -> list[Chunk] | None:
        """The chunk's text cut in two near its middle (at a clause mark if it has one, else
        at a space), or None when it cannot be cut (one word, or ids without text)."""
        if chunk.text is None or chunk.description is None:
            return None
        words = chunk.text.split()
        if len(words) < 2:
            return None
        middle = len(chunk.text) / 2
        clauses = [m.start() for m in _CLAUSE_END.finditer(chunk.text)]
        spaces = [m.start() for m in re.finditer(r"\s+", chunk.text)]
        cut = min(clauses or spaces, key=lambda at: abs(at - middle))
        first, second = chunk.text[:cut].strip(), chunk.text[cut:].strip()
        return [self.chunk(chunk.description, first), self.chunk(chunk.description, second)]

    def continued(self, chunk: Chunk, previous: Chunk,
                  previous_codes: Sequence[int]) -> Chunk:
        """`chunk` prompted after `previous` as a finished turn: the previous prompt, its
        last `continuity_frames` frames of codes, CODE_END and EOA, then this prompt (the
        Orpheus long-form recipe). Costs len(previous prompt) + 7 frames + 2 tokens more."""
        if chunk.text is None or previous.text is None or chunk.description is None:
            return chunk
        keep = 7 * self.limits.continuity_frames
        codes = list(previous_codes)[-keep:] if keep else []
        history = self.prompt_text(chunk.description, previous.text) + self.tokenizer.decode(
            [*codes, CODE_END, END_OF_AI], skip_special_tokens=False)
        ids = self.tokenizer.encode(history + self.prompt_text(chunk.description, chunk.text)).ids
        return Chunk(tuple(ids), chunk.text, chunk.description)
