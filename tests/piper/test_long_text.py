"""A 5 000-word text synthesizes completely through the `tts` ensemble."""

from __future__ import annotations

import numpy as np
import pytest

from tritontts.serving.server import TritonServer
from tritontts_client import TTSClient

from helpers import assert_speech

pytestmark = pytest.mark.e2e

# Varied sentences with numbers, money, dates and abbreviations, so the whole reading path runs.
PARAGRAPH = (
    "On March 3rd, 2024, Dr. Rivera opened the new clinic on Main St. with a budget of $2.5 "
    "million. It serves about 1,200 patients a month, and 45% of them arrive before 9:30 am. "
    "The building is 150 m from the station, so most people walk. Parking costs $4 an hour, "
    "or $20 for the whole day. Nurses work in three shifts of 8 hours each. "
    "Questions go to info@example.org or to (555) 123-4567, Monday to Friday.\n\n"
)
SILENCE = 1e-4
MIN_PAUSE_S = 0.15


def pauses(audio: np.ndarray, sample_rate: int) -> int:
    """Runs of digital silence at least MIN_PAUSE_S long."""
    quiet = np.abs(audio) < SILENCE
    edges = np.flatnonzero(np.diff(np.concatenate(([0], quiet.view(np.int8), [0]))))
    runs = edges[1::2] - edges[::2]
    return int(np.sum(runs >= MIN_PAUSE_S * sample_rate))


def test_five_thousand_words(server: TritonServer) -> None:
    words_per_paragraph = len(PARAGRAPH.split())
    text = PARAGRAPH * (5000 // words_per_paragraph + 1)
    sentences = text.count(". ") + text.count(".\n")
    with TTSClient(server.grpc_url, deadline_s=600) as client:
        result = client.synthesize(text)
    # Numbers and symbols become several spoken words each, so the written word count is a
    # lower bound on what is said; the rate check uses written words with a generous ceiling.
    assert_speech(result.audio, result.sample_rate, text, seconds_per_word=(0.25, 1.2))
    assert pauses(result.audio, result.sample_rate) >= 0.9 * sentences
    assert server.is_ready()
