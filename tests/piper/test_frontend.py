"""Text → phoneme ids, and the resolution of per-request options."""

from __future__ import annotations

import math

import pytest
from piper_phonemize import phoneme_ids_espeak, phonemize_espeak

from tritontts.export.voice import default_voice
from tritontts.piper.frontend import (
    BOS,
    EOS,
    PAD,
    SENTENCE_PAUSE_S,
    WORD_BREAK,
    FrontendLimits,
    TextFrontend,
    encode_request,
)
from tritontts.piper.voice import InvalidInputError, PiperVoiceConfig, SynthesisOptions


@pytest.fixture(scope="module")
def voice() -> PiperVoiceConfig:
    return PiperVoiceConfig.load(default_voice()[1])


@pytest.fixture(scope="module")
def frontend(voice: PiperVoiceConfig) -> TextFrontend:
    return TextFrontend(voice)


def test_voice_config(voice: PiperVoiceConfig) -> None:
    assert voice.sample_rate == 22050
    assert voice.espeak_voice == "en-us"
    assert (voice.noise_scale, voice.length_scale, voice.noise_w) == (0.667, 1.0, 0.8)


def test_ids_match_piper_phonemize(frontend: TextFrontend) -> None:
    """Our id layout, read from the voice's own map, equals piper-phonemize's for this voice."""
    text = "Hello world. How are you today? I'm fine, thanks!"
    for phonemes in phonemize_espeak(text, "en-us"):
        assert frontend.phoneme_ids(phonemes) == phoneme_ids_espeak(phonemes)


def test_sentences_become_rows(frontend: TextFrontend, voice: PiperVoiceConfig) -> None:
    batch = frontend.encode("First sentence here. And a second, longer sentence follows it.")
    assert batch.chunks == 2
    assert batch.ids.shape == (2, int(batch.lengths.max()))
    for row, length in zip(batch.ids, batch.lengths, strict=True):
        assert row[0] == voice.phoneme_id_map[BOS][0]
        assert row[length - 1] == voice.phoneme_id_map[EOS][0]
        assert all(v == voice.phoneme_id_map[PAD][0] for v in row[length:])


def test_long_sentence_is_split_at_word_breaks(voice: PiperVoiceConfig) -> None:
    limits = FrontendLimits(max_phoneme_ids=60)
    frontend = TextFrontend(voice, limits)
    words = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen"
    (sentence,) = frontend.sentences(words)
    phonemes = frontend.phonemize(sentence)
    chunks = frontend.chunk(phonemes)
    assert len(chunks) > 1
    assert all(len(frontend.phoneme_ids(c)) <= limits.max_phoneme_ids for c in chunks)
    # Every chunk is a run of the original, and each cut falls on a word break.
    position = 0
    for chunk in chunks:
        assert phonemes[position : position + len(chunk)] == chunk
        position += len(chunk)
        if position < len(phonemes):
            assert phonemes[position] == WORD_BREAK
        while position < len(phonemes) and phonemes[position] == WORD_BREAK:
            position += 1
    assert position == len(phonemes)


@pytest.mark.parametrize("text", ["", "   ", "\n\t  \n", "\x00\x01\x02"])
def test_empty_text_is_invalid(frontend: TextFrontend, text: str) -> None:
    with pytest.raises(InvalidInputError, match="empty"):
        frontend.encode(text)


def test_text_over_the_limit_is_invalid(frontend: TextFrontend) -> None:
    with pytest.raises(InvalidInputError, match="limit"):
        frontend.encode("word " * 10_001)


def test_too_many_chunks_is_invalid(voice: PiperVoiceConfig) -> None:
    frontend = TextFrontend(voice, FrontendLimits(max_chunks=3))
    with pytest.raises(InvalidInputError, match="at most 3"):
        frontend.encode("One. Two. Three. Four. Five.")


def test_control_characters_are_not_spoken(frontend: TextFrontend) -> None:
    clean = frontend.encode("Hello there")
    dirty = frontend.encode("Hello\x07 there\x1b")
    assert (clean.ids == dirty.ids).all()


def test_options_defaults_and_overrides(voice: PiperVoiceConfig) -> None:
    default = SynthesisOptions.resolve(voice)
    assert default.as_scales() == [0.667, 1.0, 0.8]
    fast = SynthesisOptions.resolve(voice, speed=2.0, noise_scale=0.0, noise_w=0.0)
    assert fast.as_scales() == [0.0, 0.5, 0.0]


@pytest.mark.parametrize("field,value", [
    ("speed", -1.0), ("speed", 0.0), ("speed", math.nan), ("speed", math.inf),
    ("noise_scale", -0.1), ("noise_w", math.nan), ("noise_w", 99.0),
])
def test_out_of_range_options_are_invalid(voice: PiperVoiceConfig, field: str,
                                          value: float) -> None:
    with pytest.raises(InvalidInputError, match=field.upper()):
        SynthesisOptions.resolve(voice, **{field: value})


def test_long_sentence_prefers_clause_boundaries(voice: PiperVoiceConfig) -> None:
    text = ("When the rain stopped and the clouds drifted away over the hills, "
            "we walked down to the harbor to watch the boats come in")
    (sentence,) = TextFrontend(voice).sentences(text)
    phonemes = TextFrontend(voice).phonemize(sentence)
    comma = phonemes.index(",")
    # A budget that reaches a few words past the comma but not the end of the sentence.
    frontend = TextFrontend(voice, FrontendLimits(max_phoneme_ids=2 * (comma + 12) + 3))
    chunks = frontend.chunk(phonemes)
    assert len(chunks) >= 2
    assert chunks[0][-1] == ","  # cut after the comma, not wherever the budget ran out


def test_pauses_follow_sentences_paragraphs_and_breaks(frontend: TextFrontend) -> None:
    plain = frontend.encode("First one. Second one.\n\nA new paragraph.")
    assert plain.chunks == 3
    assert plain.pauses_s[0] == pytest.approx(SENTENCE_PAUSE_S)
    assert plain.pauses_s[1] > SENTENCE_PAUSE_S  # end of a paragraph
    ssml = frontend.encode('<speak>Wait <break time="1500ms"/> for it.</speak>')
    assert ssml.chunks == 2 and ssml.pauses_s[0] == pytest.approx(1.5)


def test_ssml_rate_reaches_the_scales(frontend: TextFrontend, voice: PiperVoiceConfig) -> None:
    batch, scales = encode_request(
        frontend, '<speak>Normal words. <prosody rate="x-slow">Slow words.</prosody></speak>',
        speed=2.0)
    assert batch.chunks == 2
    assert scales[0, 1] == pytest.approx(voice.length_scale / 2.0)
    assert scales[1, 1] > scales[0, 1]


def test_markup_is_never_spoken(frontend: TextFrontend) -> None:
    with_markup = frontend.encode("<speak><p><s>Hello there.</s></p></speak>")
    plain = frontend.encode("Hello there.")
    assert (with_markup.ids == plain.ids).all()


def test_malformed_ssml_is_invalid(frontend: TextFrontend) -> None:
    with pytest.raises(InvalidInputError, match="line 1"):
        frontend.encode("<speak>Hello <break time='1s'></speak>")


def test_numbers_are_read_before_phonemizing(frontend: TextFrontend) -> None:
    assert (frontend.encode("It costs $25.").ids
            == frontend.encode("It costs twenty-five dollars.").ids).all()


def test_lexicon_overrides_espeak(voice: PiperVoiceConfig) -> None:
    plain = TextFrontend(voice)
    custom = TextFrontend(voice, lexicon={"nguyen": "wˈɪn"})
    assert custom.encode("Call Nguyen.").ids.tolist() != plain.encode("Call Nguyen.").ids.tolist()
    (sentence,) = custom.sentences("Call Nguyen.")
    assert "".join(custom.phonemize(sentence)).count("wˈɪn") == 1
