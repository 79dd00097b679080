"""Description + text -> prompt ids, built by hand (not with a chat template):

    [SOH, BOS] + tokens('<description="DESC"> TEXT') + [END_OF_TEXT, EOH, SOA, SOS]

Emotion tags (`<laugh>`) are placed as their own single ids: the text is split at tags and
only the pieces between them go through the tokenizer, so a tag can never be read out as
the letters "<", "l", "a", ... whatever the tokenizer does with added tokens. A long text is
split at sentence ends into several prompts with the same description, which the generator
runs side by side in one batch.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from tritontts.errors import InvalidInputError
from tritontts.maya1.tokens import (
    BOS,
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
PREFIX = (START_OF_HUMAN, BOS)
SUFFIX = (END_OF_TEXT, END_OF_HUMAN, START_OF_AI, START_OF_SPEECH)
_ANGLE = re.compile(r"<([^<>]*)>")
_DESCRIPTION_FORBIDDEN = set('<>"')


class TextTokenizer(Protocol):
    """What the builder needs of a tokenizer (`tokenizers.Tokenizer` has it)."""

    def encode(self, sequence: str, add_special_tokens: bool = ...) -> object: ...

    def token_to_id(self, token: str) -> int | None: ...


@dataclass(frozen=True)
class PromptLimits:
    max_text_chars: int = 4000
    max_description_chars: int = 600
    # Sentences are packed into prompts of at most this many characters (a longer sentence
    # is a prompt of its own); each prompt must fit the generator's token limit as speech.
    chunk_chars: int = 240
    max_chunks: int = 16


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


class PromptBuilder:
    def __init__(self, tokenizer: TextTokenizer, limits: PromptLimits | None = None) -> None:
        self.tokenizer = tokenizer
        self.limits = limits or PromptLimits()
        self.tags = tag_ids(tokenizer)

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
        """The text's sentences packed into prompts of at most `chunk_chars` characters."""
        chunks: list[str] = []
        for paragraph in split_paragraphs(text):
            for sentence in split_sentences(paragraph):
                if chunks and len(chunks[-1]) + 1 + len(sentence) <= self.limits.chunk_chars:
                    chunks[-1] = f"{chunks[-1]} {sentence}"
                else:
                    chunks.append(sentence)
        if len(chunks) > self.limits.max_chunks:
            raise InvalidInputError(f"TEXT makes {len(chunks)} prompts of at most "
                                    f"{self.limits.chunk_chars} characters, at most "
                                    f"{self.limits.max_chunks} are allowed: send it in parts")
        return chunks

    def prompt_ids(self, description: str, text: str) -> list[int]:
        """One prompt; `text` is spoken as a whole (no splitting)."""
        formatted = f'<description="{self.check_description(description)}"> {text}'
        ids = list(PREFIX)
        start = 0
        for match in _ANGLE.finditer(formatted):
            if match[1] in self.tags:
                ids += self._encode(formatted[start : match.start()])
                ids.append(self.tags[match[1]])
                start = match.end()
        ids += self._encode(formatted[start:])
        return [*ids, *SUFFIX]

    def prompts(self, description: str, text: str) -> list[list[int]]:
        """A prompt per chunk of the text, all with the same description."""
        description = self.check_description(description)
        return [self.prompt_ids(description, chunk) for chunk in self.chunks(self.check_text(text))]

    def _encode(self, piece: str) -> Sequence[int]:
        if not piece:
            return []
        return list(self.tokenizer.encode(piece, add_special_tokens=False).ids)
