"""Text → sentences → phoneme-id chunks, as Piper voices were trained (espeak-ng phonemes).

The text is first read into sentences of speakable words by `tritontts.text` (normalization,
SSML, the deployment's pronunciation dictionary), then phonemized with espeak-ng, then cut into
chunks the acoustic stage accepts. Each chunk carries its speaking rate and the pause after it.

Plain Python: the Triton `frontend` and `tts_stream` models only decode and encode tensors
around this module.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from piper_phonemize import phonemize_espeak

from tritontts.piper.voice import (
    InvalidInputError,
    OptionLimits,
    PiperVoiceConfig,
    SynthesisOptions,
    choose_voice,
)
from tritontts.piper.words import (
    WORD_BREAK,
    SpokenWord,
    WordSpan,
    chunk_words,
    pair_words,
    phoneme_groups,
    written_words,
)
from tritontts.text import Sentence, read_text
from tritontts.text.reader import SENTENCE_PAUSE_S

BOS, EOS, PAD = "^", "$", "_"
CLAUSE_MARKS = frozenset(",;:")
# Whitespace that shapes text (paragraphs), unlike other control characters.
KEPT_CONTROLS = frozenset("\n\r\t")


@dataclass(frozen=True)
class FrontendLimits:
    """Bounds on one request; each is enforced with a clear INVALID_ARG error."""

    # About 8 000 English words, some 50 minutes of speech.
    max_text_chars: int = 50_000
    # Longest phoneme-id sequence given to the acoustic stage; longer sentences are split at
    # clause boundaries, else between words.
    max_phoneme_ids: int = 400
    # Most chunks in one request: the acoustic and vocoder max_batch_size.
    max_chunks: int = 512


# The gpu profile feeds a request's chunks to TensorRT engines as one batch, so the engines'
# largest optimization profile bounds them (and the vocoder profile's memory grows with it).
GPU_LIMITS = FrontendLimits(max_text_chars=10_000, max_chunks=64)


@dataclass(frozen=True)
class PlannedChunk:
    """One chunk of a request as the acoustic stage gets it: the sentence it comes from, its
    phonemes and ids, its speaking rate and the pause after it."""

    sentence: Sentence
    phonemes: list[str]
    ids: list[int]
    rate: float
    pause_s: float
    continued: bool  # a later chunk of a sentence too long for one
    # The spoken words of the chunk, each with its ids [start, end) in `ids`.
    words: tuple[WordSpan, ...] = ()


@dataclass(frozen=True)
class PhonemeBatch:
    """Every chunk of one request: phoneme ids right-padded with the PAD id, and per chunk its
    speaking rate and the pause after it."""

    ids: np.ndarray  # [chunks, max_len] int64
    lengths: np.ndarray  # [chunks] int64
    rates: np.ndarray  # [chunks] float32, 1.0 = the requested speed
    pauses_s: np.ndarray  # [chunks] float32, silence after each chunk
    # Every spoken word of the request, in order, and where its ids are: [words, 3] int64 rows
    # of (chunk, first id, end id).
    words: tuple[str, ...] = ()
    word_spans: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), dtype=np.int64))

    @property
    def chunks(self) -> int:
        return int(self.ids.shape[0])


class TextFrontend:
    def __init__(self, voice: PiperVoiceConfig, limits: FrontendLimits | None = None,
                 lexicon: Mapping[str, str] | None = None,
                 sentence_pause_s: float = SENTENCE_PAUSE_S,
                 length_buckets: tuple[int, ...] = (), voice_name: str = "") -> None:
        self.voice = voice
        self.voice_name = voice_name
        # Pad ids to one of these widths so that requests share shapes (native backends only
        # batch equal shapes); empty: pad to the request's longest chunk.
        self.length_buckets = tuple(sorted(length_buckets))
        self.limits = limits or FrontendLimits()
        self.lexicon = dict(lexicon or {})
        self.sentence_pause_s = sentence_pause_s
        for symbol in (BOS, EOS, PAD):
            if symbol not in voice.phoneme_id_map:
                raise ValueError(f"voice phoneme_id_map lacks the {symbol!r} symbol")
        self._pad_id = voice.phoneme_id_map[PAD][0]

    def check_text(self, text: str) -> str:
        if len(text) > self.limits.max_text_chars:
            raise InvalidInputError(
                f"TEXT has {len(text)} characters; the limit is {self.limits.max_text_chars}. "
                "Split the text into several requests.")
        # Control characters other than line breaks and tabs are never speech.
        text = "".join(" " if unicodedata.category(ch) == "Cc" and ch not in KEPT_CONTROLS
                       else ch for ch in text)
        if not text.strip():
            raise InvalidInputError("TEXT is empty or only white space; send some words to speak")
        return text

    def sentences(self, text: str) -> list[Sentence]:
        """Sentences of speakable words and IPA pieces (normalized text or SSML)."""
        return read_text(self.check_text(text), self.lexicon)

    def phonemize(self, sentence: Sentence) -> list[str]:
        """espeak-ng phonemes of the sentence's words, IPA pieces spliced in as given."""
        return self.phonemize_words(sentence)[0]

    def phonemize_words(self, sentence: Sentence) -> tuple[list[str], list[SpokenWord]]:
        """The sentence's phonemes and its spoken words, each with its phonemes in them: the
        words of a text piece paired with espeak-ng's word groups, an IPA piece one word (named
        by what it was written as)."""
        phonemes: list[str] = []
        words: list[SpokenWord] = []
        for piece in sentence.pieces:
            parts = ([list(piece.ipa)] if piece.ipa else
                     phonemize_espeak(piece.text, self.voice.espeak_voice) if piece.text else [])
            start = len(phonemes)
            for part in parts:
                if phonemes and part:
                    phonemes.append(WORD_BREAK)
                phonemes.extend(part)
            groups = phoneme_groups(phonemes[start:], offset=start)
            if piece.ipa:
                if groups:
                    words.append(SpokenWord(piece.written or piece.ipa, groups[0][0],
                                            groups[-1][1]))
            elif piece.text:
                words.extend(pair_words(written_words(piece.text), groups, phonemes,
                                        self._phonemize_alone))
        return phonemes, words

    def _phonemize_alone(self, words: str) -> str:
        return WORD_BREAK.join("".join(part) for part in
                               phonemize_espeak(words, self.voice.espeak_voice))

    def phoneme_ids(self, phonemes: list[str]) -> list[int]:
        """Piper's id layout: BOS, then each known phoneme followed by PAD, then EOS."""
        return self.id_layout(phonemes)[0]

    def id_layout(self, phonemes: list[str]) -> tuple[list[int], list[tuple[int, int]]]:
        """The ids, and for each phoneme its ids [start, end) among them (its PAD included;
        empty for a phoneme the voice does not know)."""
        id_map = self.voice.phoneme_id_map
        ids = [*id_map[BOS], *id_map[PAD]]
        ranges = []
        for phoneme in phonemes:
            start = len(ids)
            if phoneme in id_map:
                ids.extend(id_map[phoneme])
                ids.extend(id_map[PAD])
            ranges.append((start, len(ids)))
        ids.extend(id_map[EOS])
        return ids, ranges

    def chunk(self, phonemes: list[str]) -> list[list[str]]:
        """Split a sentence so that each chunk fits max_phoneme_ids: after the last clause mark
        (, ; :) that fits, else at the last word break, never inside a word that fits."""
        return [phonemes[start:end] for start, end in self.chunk_ranges(phonemes)]

    def chunk_ranges(self, phonemes: list[str]) -> list[tuple[int, int]]:
        """The chunks of `chunk` as [start, end) positions in the sentence's phonemes."""
        budget = (self.limits.max_phoneme_ids - 3) // 2
        ranges: list[tuple[int, int]] = []
        position = 0
        while len(phonemes) - position > budget:
            rest = phonemes[position:]
            breaks = [i for i in range(1, budget) if rest[i] == WORD_BREAK]
            clauses = [i for i in breaks if rest[i - 1] in CLAUSE_MARKS]
            cut = (clauses or breaks or [budget])[-1]
            ranges.append((position, position + cut))
            position += cut
            while position < len(phonemes) and phonemes[position] == WORD_BREAK:
                position += 1
        if position < len(phonemes):
            ranges.append((position, len(phonemes)))
        return ranges

    def _check_chunk_count(self, chunks: int) -> None:
        if chunks > self.limits.max_chunks:
            raise InvalidInputError(
                f"TEXT makes {chunks} or more sentence chunks; one request takes at most "
                f"{self.limits.max_chunks}. Split the text into several requests.")

    def plan(self, text: str) -> list[PlannedChunk]:
        """Every chunk the acoustic stage will get for this text, in order, with its rate and
        the pause after it: what `encode` batches and `tritontts phonemize` prints."""
        chunks: list[PlannedChunk] = []
        sentences = self.sentences(text)
        # Every sentence is at least one chunk: refuse before espeak-ng works on each of them.
        self._check_chunk_count(len(sentences))
        for sentence in sentences:
            phonemes, words = self.phonemize_words(sentence)
            pieces = self.chunk_ranges(phonemes)
            if not pieces:
                if chunks and sentence.pause_after_s is not None:
                    # A break with nothing to say lengthens the pause before it.
                    last = chunks[-1]
                    chunks[-1] = replace(last, pause_s=last.pause_s + sentence.pause_after_s)
                continue
            pause = (sentence.pause_after_s if sentence.pause_after_s is not None
                     else self.sentence_pause_s)
            for number, (start, end) in enumerate(pieces, 1):
                last = number == len(pieces)
                ids, id_ranges = self.id_layout(phonemes[start:end])
                chunks.append(PlannedChunk(sentence=sentence, phonemes=phonemes[start:end],
                                           ids=ids, rate=sentence.rate,
                                           pause_s=pause if last else 0.0,
                                           continued=number > 1,
                                           words=tuple(chunk_words(words, start, end,
                                                                   id_ranges))))
        if not chunks:
            raise InvalidInputError("TEXT has nothing speakable in it")
        self._check_chunk_count(len(chunks))
        return chunks

    def encode(self, text: str) -> PhonemeBatch:
        chunks = self.plan(text)
        lengths = np.array([len(c.ids) for c in chunks], dtype=np.int64)
        width = int(lengths.max())
        width = next((b for b in self.length_buckets if b >= width), width)
        ids = np.full((len(chunks), width), self._pad_id, dtype=np.int64)
        for row, chunk in enumerate(chunks):
            ids[row, : len(chunk.ids)] = chunk.ids
        spans = [(row, w.start, w.end) for row, chunk in enumerate(chunks) for w in chunk.words]
        return PhonemeBatch(ids, lengths, np.asarray([c.rate for c in chunks], dtype=np.float32),
                            np.asarray([c.pause_s for c in chunks], dtype=np.float32),
                            words=tuple(w.text for chunk in chunks for w in chunk.words),
                            word_spans=np.asarray(spans, dtype=np.int64).reshape(-1, 3))


def encode_request(frontend: TextFrontend, text: str, speed: float | None = None,
                   noise_scale: float | None = None, noise_w: float | None = None,
                   limits: OptionLimits | None = None) -> tuple[PhonemeBatch, np.ndarray]:
    """A whole request: its chunks, and one `scales` row [noise, length, noise_w] per chunk in
    which the request's speed and each chunk's SSML rate are combined (within the speed limits).
    """
    limits = limits or OptionLimits()
    options = SynthesisOptions.resolve(frontend.voice, speed=speed, noise_scale=noise_scale,
                                       noise_w=noise_w, limits=limits)
    batch = frontend.encode(text)
    requested_speed = frontend.voice.length_scale / options.length_scale
    speeds = np.clip(requested_speed * batch.rates, *limits.speed)
    scales = np.empty((batch.chunks, 3), dtype=np.float32)
    scales[:, 0] = options.noise_scale
    scales[:, 1] = frontend.voice.length_scale / speeds
    scales[:, 2] = options.noise_w
    return batch, scales


@dataclass(frozen=True)
class EncodedRequest:
    """A request read by the frontend of the voice it chose."""

    batch: PhonemeBatch
    scales: np.ndarray  # [chunks, 3]
    voice: int  # the voice's place among the repository's voices
    speaker: int

    def per_chunk(self, value: int) -> np.ndarray:
        """[chunks, 1] int64 of one value: the voice or speaker column of the stage inputs."""
        return np.full((self.batch.chunks, 1), value, dtype=np.int64)


class VoiceFrontends:
    """The text frontends of every voice one repository serves; VOICE picks one per request."""

    def __init__(self, frontends: Sequence[TextFrontend]) -> None:
        if not frontends:
            raise ValueError("a repository serves at least one voice")
        self.frontends = list(frontends)
        self._named = [(f.voice_name, f.voice) for f in self.frontends]
        self.multi_voice = len(self.frontends) > 1
        self.multi_speaker = any(f.voice.num_speakers > 1 for f in self.frontends)

    def encode(self, text: str, requested_voice: str | None = None, speed: float | None = None,
               noise_scale: float | None = None, noise_w: float | None = None) -> EncodedRequest:
        # The voice is checked first: a wrong VOICE costs no phonemizing.
        voice, speaker = choose_voice(self._named, requested_voice)
        batch, scales = encode_request(self.frontends[voice], text, speed, noise_scale, noise_w)
        return EncodedRequest(batch, scales, voice, speaker)
