"""Which phonemes are which spoken word, and where each word lies in the audio.

espeak-ng separates the words of its phoneme output with a space (the WORD_BREAK phoneme), so a
sentence's phonemes fall into groups, one per spoken word. Mostly the groups and the normalized
words pair one to one; where espeak-ng runs words together ("in the" → `ɪnðɪ`) they are paired
by comparing each word's own phonemes with the groups, and the words spoken as one group become
one timed entry ("in the").

The acoustic stage tells how many frames each phoneme id lasts; `word_times` turns a request's
word spans into sample offsets in its final audio (the pauses between chunks included).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

import numpy as np

WORD_BREAK = " "
# At most this many words (or groups) pair with one group (or word) when the counts differ.
MAX_JOINED = 4


@dataclass(frozen=True)
class SpokenWord:
    """A word of a sentence and its phonemes [start, end) in the sentence's phoneme list."""

    text: str
    start: int
    end: int


@dataclass(frozen=True)
class WordSpan:
    """A word of a chunk and its phoneme ids [start, end) in the chunk's ids."""

    text: str
    start: int
    end: int


def is_punctuation(phoneme: str) -> bool:
    return all(unicodedata.category(ch).startswith("P") for ch in phoneme)


def phoneme_groups(phonemes: Sequence[str], offset: int = 0) -> list[tuple[int, int]]:
    """[start, end) of every word group (phonemes between word breaks), punctuation at its
    edges left out (a comma is a pause, not part of the word); groups of punctuation alone are
    dropped."""
    groups: list[tuple[int, int]] = []
    start = 0
    for index in range(len(phonemes) + 1):
        if index < len(phonemes) and phonemes[index] != WORD_BREAK:
            continue
        first, last = start, index
        while first < last and is_punctuation(phonemes[first]):
            first += 1
        while last > first and is_punctuation(phonemes[last - 1]):
            last -= 1
        if first < last:
            groups.append((offset + first, offset + last))
        start = index + 1
    return groups


def written_words(text: str) -> list[str]:
    """The words of normalized text as a listener would write them: no edge punctuation."""
    words = []
    for token in text.split():
        start, end = 0, len(token)
        while start < end and is_punctuation(token[start]):
            start += 1
        while end > start and is_punctuation(token[end - 1]):
            end -= 1
        if start < end:
            words.append(token[start:end])
    return words


def pair_words(words: Sequence[str], groups: Sequence[tuple[int, int]],
               phonemes: Sequence[str],
               phonemize_words: Callable[[str], str]) -> list[SpokenWord]:
    """Words paired with phoneme groups: one to one when the counts agree, else by the
    alignment in which the words, phonemized as the phrases it pairs with a group
    (`phonemize_words`: the phonemes of a few words spoken together, word breaks included),
    sound most like the groups."""
    if not words or not groups:
        return []
    if len(words) == len(groups):
        return [SpokenWord(w, a, b) for w, (a, b) in zip(words, groups, strict=True)]
    heard = ["".join(phonemes[a:b]) for a, b in groups]
    spoken: dict[tuple[int, int], str] = {}

    def phrase(i: int, count: int) -> str:
        if (i, count) not in spoken:
            spoken[i, count] = phonemize_words(" ".join(words[i:i + count]))
        return spoken[i, count]

    def cost(spoken: str, group: str) -> float:
        """Phonemes left unmatched between the two."""
        matched = sum(b.size for b in SequenceMatcher(None, spoken, group, autojunk=False)
                      .get_matching_blocks())
        return float(len(spoken) + len(group) - 2 * matched)

    n, m = len(words), len(groups)
    inf = float("inf")
    best = [[inf] * (m + 1) for _ in range(n + 1)]
    back: list[list[tuple[int, int] | None]] = [[None] * (m + 1) for _ in range(n + 1)]
    best[0][0] = 0.0
    for i in range(n + 1):
        for j in range(m + 1):
            if best[i][j] == inf:
                continue
            # k words → 1 group, or 1 word → k groups.
            steps = [(k, 1) for k in range(1, MAX_JOINED + 1)] + \
                    [(1, k) for k in range(2, MAX_JOINED + 1)]
            for dw, dg in steps:
                if i + dw > n or j + dg > m:
                    continue
                step = cost(phrase(i, dw), WORD_BREAK.join(heard[j:j + dg]))
                total = best[i][j] + step
                if total < best[i + dw][j + dg]:
                    best[i + dw][j + dg] = total
                    back[i + dw][j + dg] = (dw, dg)
    paired: list[SpokenWord] = []
    i, j = n, m
    while i or j:
        move = back[i][j]
        assert move is not None  # every (n, m) is reachable when both are at least 1
        dw, dg = move
        paired.append(SpokenWord(" ".join(words[i - dw:i]), groups[j - dg][0], groups[j - 1][1]))
        i, j = i - dw, j - dg
    return paired[::-1]


def chunk_words(words: Sequence[SpokenWord], chunk_start: int, chunk_end: int,
                id_ranges: Sequence[tuple[int, int]]) -> list[WordSpan]:
    """The words of a sentence that lie in one chunk (its phonemes [chunk_start, chunk_end)),
    as id spans; `id_ranges[p]` is phoneme p's ids in the chunk (its PAD included). A word
    longer than a whole chunk (cut inside, which the chunker does only when no word break
    fits) is named in each chunk it is spoken in."""
    spans = []
    for word in words:
        start, end = max(word.start, chunk_start), min(word.end, chunk_end)
        if start >= end:
            continue
        first = id_ranges[start - chunk_start][0]
        last = id_ranges[end - 1 - chunk_start][1]
        if first < last:
            spans.append(WordSpan(word.text, first, last))
    return spans


def chunk_offsets(frame_lengths: Sequence[int], pauses: Sequence[int],
                  hop_length: int) -> list[int]:
    """The sample where each chunk begins in the joined audio (chunk audio, then its pause)."""
    offsets, position = [], 0
    for frames, pause in zip(frame_lengths, pauses, strict=True):
        offsets.append(position)
        position += int(frames) * hop_length + int(pause)
    return offsets


def word_times(spans: np.ndarray, durations: Sequence[np.ndarray], offsets: Sequence[int],
               hop_length: int) -> np.ndarray:
    """spans [n, 3] (chunk, first id, end id) → [n, 2] int64 (start, end) samples: the frames
    of the ids before the word and of the word itself, placed at the chunk's offset.
    `durations[chunk]`: that chunk's frames per id (rows of the acoustic stage's output)."""
    spans = np.asarray(spans, dtype=np.int64).reshape(-1, 3)
    times = np.zeros((len(spans), 2), dtype=np.int64)
    ends: dict[int, np.ndarray] = {}
    for row, (chunk, first, end) in enumerate(spans.tolist()):
        if chunk not in ends:
            ends[chunk] = np.cumsum(np.asarray(durations[chunk], dtype=np.int64).reshape(-1))
        start_frame = int(ends[chunk][first - 1]) if first else 0
        end_frame = int(ends[chunk][end - 1])
        times[row] = (offsets[chunk] + start_frame * hop_length,
                      offsets[chunk] + end_frame * hop_length)
    return times
