"""Text → sentences → phoneme ids, as Piper voices were trained (espeak-ng phonemes).

Plain Python: the Triton `frontend` model only decodes and encodes tensors around this module.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np
from piper_phonemize import phonemize_espeak

from tritontts.voice import InvalidInputError, PiperVoiceConfig, SynthesisOptions

BOS, EOS, PAD = "^", "$", "_"
WORD_BREAK = " "


@dataclass(frozen=True)
class FrontendLimits:
    """Bounds on one request; each is enforced with a clear INVALID_ARG error."""

    max_text_chars: int = 20_000
    # Longest phoneme-id sequence given to the acoustic stage; longer sentences are split at
    # word boundaries.
    max_phoneme_ids: int = 400
    # Most chunks in one request: the acoustic and vocoder max_batch_size.
    max_chunks: int = 64


@dataclass(frozen=True)
class PhonemeBatch:
    """Phoneme ids of every chunk of one request, right-padded with the PAD id."""

    ids: np.ndarray  # [chunks, max_len] int64
    lengths: np.ndarray  # [chunks] int64

    @property
    def chunks(self) -> int:
        return int(self.ids.shape[0])


class TextFrontend:
    def __init__(self, voice: PiperVoiceConfig, limits: FrontendLimits = FrontendLimits()) -> None:
        self.voice = voice
        self.limits = limits
        for symbol in (BOS, EOS, PAD):
            if symbol not in voice.phoneme_id_map:
                raise ValueError(f"voice phoneme_id_map lacks the {symbol!r} symbol")
        self._pad_id = voice.phoneme_id_map[PAD][0]

    def clean_text(self, text: str) -> str:
        if len(text) > self.limits.max_text_chars:
            raise InvalidInputError(
                f"TEXT has {len(text)} characters; the limit is {self.limits.max_text_chars}. "
                "Split the text into several requests.")
        # Control characters (other than line breaks and tabs) are never speech.
        text = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in text)
        text = " ".join(text.split())
        if not text:
            raise InvalidInputError("TEXT is empty or only white space; send some words to speak")
        return text

    def phonemize(self, text: str) -> list[list[str]]:
        """Phonemes of each sentence (espeak-ng splits the sentences)."""
        sentences = phonemize_espeak(self.clean_text(text), self.voice.espeak_voice)
        sentences = [s for s in sentences if any(p.strip() for p in s)]
        if not sentences:
            raise InvalidInputError("TEXT has nothing speakable in it")
        return sentences

    def phoneme_ids(self, phonemes: list[str]) -> list[int]:
        """Piper's id layout: BOS, then each known phoneme followed by PAD, then EOS."""
        id_map = self.voice.phoneme_id_map
        ids = [*id_map[BOS], *id_map[PAD]]
        for phoneme in phonemes:
            if phoneme in id_map:
                ids.extend(id_map[phoneme])
                ids.extend(id_map[PAD])
        ids.extend(id_map[EOS])
        return ids

    def chunk(self, phonemes: list[str]) -> list[list[str]]:
        """Split a sentence at word breaks so that each chunk fits max_phoneme_ids."""
        budget = (self.limits.max_phoneme_ids - 3) // 2
        chunks: list[list[str]] = []
        rest = phonemes
        while len(rest) > budget:
            cut = max((i for i in range(1, budget) if rest[i] == WORD_BREAK), default=budget)
            chunks.append(rest[:cut])
            rest = rest[cut:]
            while rest and rest[0] == WORD_BREAK:
                rest = rest[1:]
        if rest:
            chunks.append(rest)
        return chunks

    def encode(self, text: str) -> PhonemeBatch:
        sequences = [self.phoneme_ids(c) for s in self.phonemize(text) for c in self.chunk(s)]
        if len(sequences) > self.limits.max_chunks:
            raise InvalidInputError(
                f"TEXT makes {len(sequences)} sentence chunks; one request takes at most "
                f"{self.limits.max_chunks}. Split the text into several requests.")
        lengths = np.array([len(s) for s in sequences], dtype=np.int64)
        ids = np.full((len(sequences), int(lengths.max())), self._pad_id, dtype=np.int64)
        for row, sequence in enumerate(sequences):
            ids[row, : len(sequence)] = sequence
        return PhonemeBatch(ids, lengths)


def encode_request(frontend: TextFrontend, text: str, speed: float | None = None,
                   noise_scale: float | None = None,
                   noise_w: float | None = None) -> tuple[PhonemeBatch, np.ndarray]:
    """A whole request: its chunks' phoneme ids and one `scales` row [3] per chunk."""
    options = SynthesisOptions.resolve(frontend.voice, speed=speed, noise_scale=noise_scale,
                                       noise_w=noise_w)
    batch = frontend.encode(text)
    scales = np.tile(np.asarray(options.as_scales(), dtype=np.float32), (batch.chunks, 1))
    return batch, scales
