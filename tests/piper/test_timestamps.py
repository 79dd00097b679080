"""Word timestamps: the frontend's word layout, durations into sample offsets, and the real
server's `tts` / `tts_stream` outputs through the client."""

from __future__ import annotations

import asyncio
import itertools

import numpy as np
import pytest
import tritonclient.grpc as grpcclient

from tritontts.piper.frontend import TextFrontend
from tritontts.piper.voice import ExportedVoice, PiperVoiceConfig
from tritontts.piper.words import (
    chunk_offsets,
    pair_words,
    phoneme_groups,
    word_times,
    written_words,
)
from tritontts.serving.server import TritonServer
from tritontts_client import AsyncTTSClient, InvalidRequestError, TTSClient, WordTiming
from tritontts_client.contract import ACOUSTIC_MODEL, FRAME_LENGTHS, PHONEME_DURATIONS

DETERMINISTIC = {"noise_scale": 0.0, "noise_w": 0.0}
BREAK_S = 2.0
BREAK_TEXT = (f'<speak>The first words come now. <break time="{BREAK_S:g}s"/> '
              "And these words come after the break.</speak>")
BEFORE = ["The", "first", "words", "come", "now"]
AFTER = ["And", "these", "words", "come", "after", "the", "break"]


@pytest.fixture(scope="module")
def frontend(exported_voice: ExportedVoice) -> TextFrontend:
    return TextFrontend(PiperVoiceConfig.load(exported_voice.config))


# --- plain modules ---------------------------------------------------------------------------

def test_groups_leave_punctuation_out() -> None:
    phonemes = [*"hə,", " ", *"wɜːld.", " ", "!"]
    assert phoneme_groups(phonemes) == [(0, 2), (4, 9)]
    assert written_words('"Hello," said  twenty-five (dogs).') == [
        "Hello", "said", "twenty-five", "dogs"]


def test_words_run_together_pair_by_sound() -> None:
    """Two groups for three words: the phrase that sounds like a group gets it."""
    phonemes = [*"nɑːɾə", " ", *"tɛst"]
    sounds = {"not": "nɑːt", "not a": "nɑːɾə", "a": "eɪ", "a test": "ɐ tɛst", "test": "tɛst"}

    def phonemize(phrase: str) -> str:
        return sounds.get(phrase) or " ".join(sounds[w] for w in phrase.split())

    paired = pair_words(["not", "a", "test"], phoneme_groups(phonemes), phonemes, phonemize)
    assert [(w.text, w.start, w.end) for w in paired] == [("not a", 0, 5), ("test", 6, 10)]


def test_word_times_add_frames_and_pauses() -> None:
    # Two chunks: 3 + 2 frames of 4 samples, 10 samples of pause after the first.
    durations = np.array([[1, 0, 2, 0], [1, 1, 0, 0]], dtype=np.int64)
    offsets = chunk_offsets([3, 2], [10, 0], hop_length=4)
    assert offsets == [0, 22]
    spans = np.array([[0, 0, 2], [0, 2, 3], [1, 1, 2]])
    np.testing.assert_array_equal(word_times(spans, durations, offsets, 4),
                                  [[0, 4], [4, 12], [26, 30]])


def test_frontend_word_spans_point_at_each_words_ids(frontend: TextFrontend) -> None:
    chunks = frontend.plan("Hello, world! I work in the A.M. hours.")
    words = [[w.text for w in chunk.words] for chunk in chunks]
    # espeak-ng says "in the" as one word: one entry.
    assert words == [["Hello", "world"], ["I", "work", "in the", "eh", "M", "hours"]]
    pad = frontend.voice.phoneme_id_map["_"][0]
    for chunk in chunks:
        previous_end = 2  # after BOS, PAD
        for word in chunk.words:
            assert previous_end <= word.start < word.end < len(chunk.ids)
            assert chunk.ids[word.end - 1] == pad  # a phoneme's PAD is the word's
            previous_end = word.end
    batch = frontend.encode("Hello there. How are you?")
    assert batch.words == ("Hello", "there", "How", "are", "you")
    assert batch.word_spans[:, 0].tolist() == [0, 0, 1, 1, 1]


def test_ssml_words_name_what_was_written(frontend: TextFrontend) -> None:
    chunks = frontend.plan('<speak>A <phoneme ph="təmˈɑːtoʊ">tomato</phoneme>, '
                           "<say-as interpret-as=\"cardinal\">12</say-as> times.</speak>")
    assert [w.text for c in chunks for w in c.words] == ["A", "tomato", "twelve", "times"]


def test_long_sentences_keep_their_words_across_chunks(frontend: TextFrontend) -> None:
    text = " ".join(["the quick brown fox jumps over the lazy dog"] * 12) + "."
    chunks = frontend.plan(text)
    assert len(chunks) > 1
    spoken = [w.text for c in chunks for w in c.words]
    assert spoken == written_words(text)


# --- the real server ---------------------------------------------------------------------------

def _check_intervals(words: tuple[WordTiming, ...], samples: int) -> None:
    for word in words:
        assert 0 <= word.start_sample < word.end_sample <= samples, word
    for before, after in itertools.pairwise(words):
        assert before.end_sample <= after.start_sample, (before, after)


@pytest.mark.e2e
def test_words_after_a_long_break_start_after_it(server: TritonServer) -> None:
    with TTSClient(server.grpc_url) as client:
        result = client.synthesize(BREAK_TEXT, timestamps=True, **DETERMINISTIC)
    words = result.words
    assert [w.word for w in words] == BEFORE + AFTER
    _check_intervals(words, len(result.audio))
    last_before, first_after = words[len(BEFORE) - 1], words[len(BEFORE)]
    # The break is silence: the words after it begin at least its length after the last
    # word before it ends.
    assert first_after.start_s - last_before.end_s >= BREAK_S
    gap = result.audio[last_before.end_sample:first_after.start_sample]
    silent = np.abs(gap) < 1e-6
    assert silent.sum() >= BREAK_S * result.sample_rate
    # Every word's interval holds speech.
    for word in words:
        piece = result.audio[word.start_sample:word.end_sample]
        assert np.sqrt(np.mean(piece ** 2)) > 0.01, word
    assert all(w.end_s == pytest.approx(w.end_sample / result.sample_rate) for w in words)


@pytest.mark.e2e
def test_a_client_that_does_not_ask_gets_no_words(server: TritonServer) -> None:
    with TTSClient(server.grpc_url) as client:
        plain = client.synthesize("Just the audio, please.", **DETERMINISTIC)
        chunks = list(client.stream("Just the audio, please.", **DETERMINISTIC))
        timed = client.synthesize("Just the audio, please.", timestamps=True, **DETERMINISTIC)
    assert plain.words == () and all(c.words == () for c in chunks)
    np.testing.assert_array_equal(plain.audio, timed.audio)
    assert [w.word for w in timed.words] == ["Just", "the", "audio", "please"]


@pytest.mark.e2e
def test_stream_words_equal_the_one_shot_words(server: TritonServer) -> None:
    text = ("Streams name their words too. Each sentence chunk brings its own, "
            "in samples of the whole stream.")
    with TTSClient(server.grpc_url) as client:
        whole = client.synthesize(BREAK_TEXT, timestamps=True, **DETERMINISTIC)
        chunks = list(client.stream(BREAK_TEXT, timestamps=True, **DETERMINISTIC))
        other = client.synthesize(text, timestamps=True, **DETERMINISTIC)
        other_chunks = list(client.stream(text, timestamps=True, **DETERMINISTIC))
    for one_shot, streamed in ((whole, chunks), (other, other_chunks)):
        assert tuple(w for c in streamed for w in c.words) == one_shot.words
        audio = np.concatenate([c.audio for c in streamed])
        assert len(audio) == len(one_shot.audio)
    # Words arrive with the chunk their sentence starts in, never before its audio.
    position = 0
    for chunk in chunks:
        for word in chunk.words:
            assert word.start_sample >= position
        position += len(chunk.audio)
    assert sum(bool(c.words) for c in chunks) == 2  # two sentences


@pytest.mark.e2e
def test_the_async_client_reads_words_too(server: TritonServer) -> None:
    async def run() -> tuple:
        async with AsyncTTSClient(server.grpc_url) as client:
            whole = await client.synthesize(BREAK_TEXT, timestamps=True, cache=True,
                                            **DETERMINISTIC)
            streamed = [c async for c in client.stream(BREAK_TEXT, timestamps=True,
                                                       **DETERMINISTIC)]
            return whole, streamed

    whole, streamed = asyncio.run(run())
    assert [w.word for w in whole.words] == BEFORE + AFTER
    assert tuple(w for c in streamed for w in c.words) == whole.words


def test_timestamps_are_not_for_maya1() -> None:
    client = TTSClient("127.0.0.1:1")
    with pytest.raises(InvalidRequestError, match="timestamps"):
        client.synthesize("Hi.", description="A calm voice.", timestamps=True)


@pytest.mark.e2e
def test_acoustic_model_durations_sum_to_its_frames(server: TritonServer,
                                                    frontend: TextFrontend) -> None:
    """The served stage, two chunks of different lengths in one request: its durations are
    trimmed to the request's ids and add up to each chunk's frames."""
    batch = frontend.encode("A short one. And then a somewhat longer sentence follows it.")
    client = grpcclient.InferenceServerClient(server.grpc_url)
    inputs = []
    for name, array in (("phoneme_ids", batch.ids), ("phoneme_lengths", batch.lengths[:, None]),
                        ("scales", np.tile(np.float32([0.0, 1.0, 0.0]), (batch.chunks, 1)))):
        tensor = grpcclient.InferInput(name, list(array.shape),
                                       "INT64" if array.dtype == np.int64 else "FP32")
        tensor.set_data_from_numpy(array)
        inputs.append(tensor)
    result = client.infer(ACOUSTIC_MODEL, inputs)
    durations = result.as_numpy(PHONEME_DURATIONS.name)
    frames = result.as_numpy(FRAME_LENGTHS.name).reshape(-1)
    assert durations.shape == batch.ids.shape
    np.testing.assert_array_equal(durations.sum(axis=1), frames)
    assert (durations[0, batch.lengths[0]:] == 0).all()
    client.close()
