"""The `tts_stream` model's logic without Triton: PiperStreamer driven with fake stage calls.

The fake acoustic stage makes `FRAMES_PER_ID` latent frames per phoneme id, each frame holding
its own index within its sentence; the fake vocoder turns every frame into `HOP` samples of
that value. So the joined stream must be, sentence by sentence, the ramp of its frame indices
with the sentence pause after it: a window cut or joined in the wrong place (a seam) shows up
as a wrong sample. The end-to-end tests against a real tritonserver are in test_streaming.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pytest

from tritontts.errors import InvalidInputError
from tritontts.export.voice import default_voice
from tritontts.piper.frontend import TextFrontend, VoiceFrontends
from tritontts.piper.stages import pause_samples
from tritontts.piper.streaming import PiperStreamer, StreamPiece, StreamRequest, StreamVoice
from tritontts.piper.voice import PiperVoiceConfig
from tritontts.piper.windows import WindowPlan, plan_windows
from tritontts_client import contract as c

HOP = 4
FRAMES_PER_ID = 3
CHANNELS = 2
SAMPLE_RATE = 22050
PLAN = WindowPlan(first_frames=8, growth=2.0, max_frames=32, context_frames=4)
TEXT = "The first sentence is here. A second one follows it. And then a third."


@pytest.fixture(scope="module")
def voice() -> PiperVoiceConfig:
    return PiperVoiceConfig.load(default_voice()[1])


def frontends(voice: PiperVoiceConfig, names: Sequence[str] = ("joe",)) -> VoiceFrontends:
    return VoiceFrontends([TextFrontend(voice, voice_name=name) for name in names])


@dataclass
class FakeStages:
    """Stage calls recorded; `fail_on` (model, call number) raises there."""

    calls: list[tuple[str, dict[str, np.ndarray]]] = field(default_factory=list)
    fail_on: tuple[str, int] | None = None
    on_call: object = None  # called with the model name before each call

    async def __call__(self, model: str, inputs: Mapping[str, np.ndarray],
                       outputs: Sequence[str]) -> dict[str, np.ndarray]:
        await asyncio.sleep(0)  # a real call yields to the event loop
        if callable(self.on_call):
            self.on_call(model)
        self.calls.append((model, dict(inputs)))
        if self.fail_on == (model, sum(m == model for m, _ in self.calls)):
            raise RuntimeError(f"model {model!r} failed: out of memory")
        if model == c.ACOUSTIC_MODEL:
            length = int(inputs[c.PHONEME_LENGTHS.name].reshape(-1)[0])
            frames = length * FRAMES_PER_ID
            ramp = np.arange(frames, dtype=np.float32) / 10_000
            out = {c.LATENT.name: np.broadcast_to(ramp, (1, CHANNELS, frames)).copy(),
                   c.FRAME_LENGTHS.name: np.array([frames], dtype=np.int64),
                   c.PHONEME_DURATIONS.name: np.full((1, length), FRAMES_PER_ID, np.int64)}
            return {name: out[name] for name in outputs}
        assert model == c.VOCODER_MODEL
        latent = inputs[c.LATENT.name]
        return {c.WAVEFORM.name: np.repeat(latent[:, 0, :], HOP, axis=-1)}


@dataclass
class Sink:
    pieces: list[StreamPiece] = field(default_factory=list)
    cancels: int = 0
    errors: list[Exception] = field(default_factory=list)
    on_send: object = None  # called with each piece once it is recorded

    def send(self, piece: StreamPiece) -> None:
        self.pieces.append(piece)
        if callable(self.on_send):
            self.on_send(piece)

    def cancelled(self) -> None:
        self.cancels += 1

    def failed(self, error: Exception) -> None:
        self.errors.append(error)


@dataclass
class Metrics:
    in_flight_seen: list[int] = field(default_factory=list)
    first_audio_s: list[float] = field(default_factory=list)
    cancels: int = 0

    def in_flight(self, streams: int) -> None:
        self.in_flight_seen.append(streams)

    def first_audio(self, seconds: float) -> None:
        self.first_audio_s.append(seconds)

    def cancelled(self) -> None:
        self.cancels += 1


def streamer(voices: VoiceFrontends, stages: FakeStages, metrics: Metrics | None = None,
             max_concurrent: int = 4) -> PiperStreamer:
    shapes = [StreamVoice(HOP, SAMPLE_RATE)] * len(voices.frontends)
    return PiperStreamer(voices, shapes, PLAN, stages, max_concurrent, metrics)


def serve(streamer: PiperStreamer, request: StreamRequest) -> Sink:
    sink = Sink()
    asyncio.run(streamer.serve(request, sink))
    return sink


def expected_audio(voices: VoiceFrontends, text: str) -> tuple[np.ndarray, list[int]]:
    """What the fake stages make of `text` in one shot: each sentence's ramp, then its pause."""
    encoded = voices.encode(text, noise_scale=0.0, noise_w=0.0)
    pauses = pause_samples(encoded.batch.pauses_s, SAMPLE_RATE)
    parts = []
    for index, length in enumerate(encoded.batch.lengths):
        frames = int(length) * FRAMES_PER_ID
        parts.append(np.repeat(np.arange(frames, dtype=np.float32) / 10_000, HOP))
        if index < len(pauses) - 1:
            parts.append(np.zeros(pauses[index], np.float32))
    return np.concatenate(parts), [int(n) * FRAMES_PER_ID for n in encoded.batch.lengths]


def test_windows_join_without_seams_into_the_one_shot_audio(voice: PiperVoiceConfig) -> None:
    voices, stages = frontends(voice), FakeStages()
    sink = serve(streamer(voices, stages), StreamRequest(TEXT))
    want, frames = expected_audio(voices, TEXT)
    assert len(frames) == 3 and not sink.errors and sink.cancels == 0
    np.testing.assert_array_equal(np.concatenate([p.audio for p in sink.pieces]), want)
    assert [p.final for p in sink.pieces] == [False] * (len(sink.pieces) - 1) + [True]
    assert {p.sample_rate for p in sink.pieces} == {SAMPLE_RATE}
    # The first audio is the first window alone: small, so that it comes fast.
    assert sink.pieces[0].audio.size == PLAN.first_frames * HOP
    # The vocoder saw each planned window with its context, sentence by sentence, in order.
    decoded = [call[c.LATENT.name].shape[-1] for model, call in stages.calls
               if model == c.VOCODER_MODEL]
    assert decoded == [w.context_end - w.context_start for n in frames
                       for w in plan_windows(n, PLAN)]


def test_every_sentence_gets_its_words_with_its_first_audio(voice: PiperVoiceConfig) -> None:
    voices = frontends(voice)
    sink = serve(streamer(voices, FakeStages()), StreamRequest(TEXT, want_words=True))
    with_words = [p for p in sink.pieces if p.words]
    assert len(with_words) == 3
    assert [w for p in with_words for w in p.words] == list(voices.encode(TEXT).batch.words)
    total = sum(p.audio.size for p in sink.pieces)
    starts = np.concatenate([p.word_times[:, 0] for p in with_words])
    ends = np.concatenate([p.word_times[:, 1] for p in with_words])
    assert np.all(np.diff(starts) >= 0) and np.all(ends > starts) and ends.max() <= total
    # A word is announced no later than its audio: the piece that carries it starts at or
    # before the word's first sample.
    sent = 0
    for piece in sink.pieces:
        if piece.words:
            assert sent <= piece.word_times[0, 0]
        sent += piece.audio.size
    # Not asked for, not sent.
    plain = serve(streamer(voices, FakeStages()), StreamRequest(TEXT))
    assert not any(p.words for p in plain.pieces)


def test_cancelling_stops_the_stage_calls_and_ends_the_stream_once(
        voice: PiperVoiceConfig) -> None:
    stages, metrics = FakeStages(), Metrics()
    gone = []  # the client goes away after the first audio
    sink = Sink(on_send=gone.append)
    stream = streamer(frontends(voice), stages, metrics)
    asyncio.run(stream.serve(StreamRequest(TEXT, is_cancelled=lambda: bool(gone)), sink))
    assert len(sink.pieces) == 1 and sink.cancels == 1 and not sink.errors
    assert not sink.pieces[0].final
    # One acoustic call and one vocoder call made that first piece; nothing after it.
    assert [model for model, _ in stages.calls] == [c.ACOUSTIC_MODEL, c.VOCODER_MODEL]
    assert metrics.cancels == 1 and metrics.in_flight_seen == [1, 0]
    assert len(metrics.first_audio_s) == 1


def test_a_stream_cancelled_before_it_starts_calls_no_stage(voice: PiperVoiceConfig) -> None:
    stages = FakeStages()
    sink = serve(streamer(frontends(voice), stages),
                 StreamRequest(TEXT, is_cancelled=lambda: True))
    assert sink.cancels == 1 and not sink.pieces and not stages.calls


def test_a_failed_stage_call_ends_the_stream_with_its_error(voice: PiperVoiceConfig) -> None:
    stages, metrics = FakeStages(fail_on=(c.VOCODER_MODEL, 3)), Metrics()
    sink = serve(streamer(frontends(voice), stages, metrics), StreamRequest(TEXT))
    assert len(sink.pieces) == 2 and not any(p.final for p in sink.pieces)
    assert len(sink.errors) == 1 and "out of memory" in str(sink.errors[0])
    assert sink.cancels == 0 and metrics.in_flight_seen[-1] == 0


@pytest.mark.parametrize(("request_", "message"), [
    (StreamRequest("   "), "empty"),
    (StreamRequest(TEXT, voice="nobody"), "nobody"),
    (StreamRequest(TEXT, options={"speed": 99.0}), "SPEED"),
])
def test_bad_requests_are_refused_before_any_stage_call(voice: PiperVoiceConfig,
                                                        request_: StreamRequest,
                                                        message: str) -> None:
    stages = FakeStages()
    sink = serve(streamer(frontends(voice), stages), request_)
    assert not sink.pieces and not stages.calls and sink.cancels == 0
    assert len(sink.errors) == 1 and isinstance(sink.errors[0], InvalidInputError)
    assert message in str(sink.errors[0])


def test_the_voice_index_reaches_both_stages(voice: PiperVoiceConfig) -> None:
    voices, stages = frontends(voice, ("first", "second")), FakeStages()
    sink = serve(streamer(voices, stages), StreamRequest("One sentence.", voice="second"))
    assert sink.pieces[-1].final and not sink.errors
    for model, inputs in stages.calls:
        assert inputs[c.VOICE_INDEX.name].tolist() == [[1]], model


def test_streams_beyond_the_limit_wait_for_a_slot(voice: PiperVoiceConfig) -> None:
    """With one slot, a second stream's first stage call comes after the first stream ended."""
    order: list[str] = []
    stages = FakeStages(on_call=order.append)
    metrics = Metrics()
    stream = streamer(frontends(voice), stages, metrics, max_concurrent=1)
    sinks = [Sink(on_send=lambda p: order.append("end") if p.final else None) for _ in "ab"]

    async def both() -> None:
        await asyncio.gather(stream.serve(StreamRequest("One sentence here."), sinks[0]),
                             stream.serve(StreamRequest("Another one there."), sinks[1]))

    asyncio.run(both())
    assert all(s.pieces[-1].final for s in sinks)
    # The two streams' calls do not interleave: all of one up to its end, then the other.
    first_end = order.index("end")
    assert order.count("end") == 2 and order[-1] == "end"
    assert order[:first_end].count(c.ACOUSTIC_MODEL) == 1
    assert order[first_end:].count(c.ACOUSTIC_MODEL) == 1
    assert c.VOCODER_MODEL in order[:first_end]
    assert max(metrics.in_flight_seen) == 2 and metrics.in_flight_seen[-1] == 0
