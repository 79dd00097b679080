"""Triton adapter for `tts_stream` (decoupled): audio sent chunk by chunk as it is ready.

It reads the text itself (the frontend is light, and a refusal must reach the client as
INVALID_ARG), then calls the same `acoustic` and `vocoder` models as the `tts` ensemble (BLS),
so streams share their instances and dynamic batches with non-streaming requests. `execute` is
a coroutine: the backend runs many of them at once on one event loop, one per batch of stream
requests, so one long stream does not hold up the others.
"""

import asyncio
import time

import numpy as np
import triton_python_backend_utils as pb_utils

from tritontts.piper.stages import pause_samples
from tritontts.piper.streaming import WindowPlan, stream_chunks
from tritontts.piper.triton import load_frontends, request_options, voices
from tritontts.piper.words import chunk_offsets, word_times
from tritontts.serving.adapter import (
    ModelArgs,
    call_model,
    error_response,
    optional_text,
    text_input,
)
from tritontts_client import contract as c

FINAL = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL


class StreamCancelledError(Exception):
    """The client cancelled the stream or went away."""


class TritonPythonModel:
    def initialize(self, args):
        model = ModelArgs(args)
        self.frontends = load_frontends(model)
        self.voices = [(int(v[c.VOICE_HOP_LENGTH]),
                        np.array([int(v[c.VOICE_SAMPLE_RATE])], dtype=np.int32))
                       for v in voices(model)]
        self.plan = WindowPlan(
            first_frames=int(model.param(c.PARAM_FIRST_WINDOW_FRAMES)),
            max_frames=int(model.param(c.PARAM_MAX_WINDOW_FRAMES)),
            growth=float(model.param(c.PARAM_WINDOW_GROWTH)),
            context_frames=int(model.param(c.PARAM_WINDOW_CONTEXT_FRAMES)))
        self.slots = asyncio.Semaphore(int(model.param(c.PARAM_MAX_CONCURRENT_STREAMS)))
        labels = {"model": model.name}
        # A metric must not outlive its family: both are kept on the model.
        self.first_audio_family = pb_utils.MetricFamily(
            # Triton's own first-response histogram needs a newer core than the 2.51 one the
            # cpu profile runs, so the stream model records it itself.
            name=c.STREAM_FIRST_AUDIO_MS,
            description="Time from the arrival of a stream request to its first audio chunk (ms)",
            kind=pb_utils.MetricFamily.HISTOGRAM)
        self.first_audio_ms = self.first_audio_family.Metric(labels=labels,
                                                             buckets=list(c.FIRST_AUDIO_BUCKETS_MS))
        self.cancelled_family = pb_utils.MetricFamily(
            name=c.STREAM_CANCELLED_TOTAL,
            description="Streams whose work stopped because the client cancelled them",
            kind=pb_utils.MetricFamily.COUNTER)
        self.cancelled = self.cancelled_family.Metric(labels=labels)
        # Streams being served right now. A server that drains before it stops waits for
        # this to reach 0: the model's own unload is no signal, because in 2.51 it sometimes
        # never completes after streams have run, with nothing in flight.
        self.in_flight_family = pb_utils.MetricFamily(
            name=c.STREAM_IN_FLIGHT, description="Streams in progress",
            kind=pb_utils.MetricFamily.GAUGE)
        self.in_flight = self.in_flight_family.Metric(labels=labels)
        self.streams = 0

    async def execute(self, requests):
        arrived = time.perf_counter()
        await asyncio.gather(*(self._stream(request, arrived) for request in requests))
        return None

    async def _stream(self, request, arrived):
        sender = request.get_response_sender()
        self.streams += 1  # one event loop runs every stream: no lock needed
        self.in_flight.set(self.streams)
        try:
            async with self.slots:
                await self._synthesize(request, sender, arrived)
        except StreamCancelledError:
            self.cancelled.increment(1)
            pb_utils.Logger.log_info("tts_stream: stream cancelled by the client; work stopped")
            sender.send(pb_utils.InferenceResponse(error=pb_utils.TritonError(
                "stream cancelled", pb_utils.TritonError.CANCELLED)), flags=FINAL)
        except Exception as exc:  # reported on the stream, never lost
            sender.send(error_response(exc, stream=True), flags=FINAL)
        finally:
            self.streams -= 1
            self.in_flight.set(self.streams)

    async def _synthesize(self, request, sender, arrived):
        encoded = self.frontends.encode(text_input(request), optional_text(request, c.VOICE.name),
                                        **request_options(request))
        batch, scales = encoded.batch, encoded.scales
        hop_length, sample_rate = self.voices[encoded.voice]
        # Whose chunk it is, for both stages when the repository serves several voices; the
        # acoustic stage also takes the speaker and hands the vocoder its embedding.
        voice = ({c.VOICE_INDEX.name: np.array([[encoded.voice]], dtype=np.int64)}
                 if self.frontends.multi_voice else {})
        speaker = ({c.SPEAKER_ID.name: np.array([[encoded.speaker]], dtype=np.int64)}
                   if self.frontends.multi_speaker else {})
        vocoder_extra = dict(voice)
        # Word timestamps, for callers that ask for them: each chunk's frames per phoneme id.
        want_words = c.WORDS.name in request.requested_output_names()
        frames_of, durations_of = [], []

        async def latents():
            for row, length in enumerate(batch.lengths):
                self._check(request)
                inputs = {
                    c.PHONEME_IDS.name: batch.ids[row : row + 1, :length],
                    c.PHONEME_LENGTHS.name: batch.lengths[row : row + 1].reshape(1, 1),
                    c.SCALES.name: scales[row : row + 1],
                    **voice,
                    **speaker,
                }
                outputs = [c.LATENT.name, c.FRAME_LENGTHS.name, c.PHONEME_DURATIONS.name]
                if self.frontends.multi_speaker:
                    outputs.append(c.SPEAKER_EMBEDDING.name)
                out = await call_model(c.ACOUSTIC_MODEL, inputs, outputs)
                if self.frontends.multi_speaker:
                    vocoder_extra[c.SPEAKER_EMBEDDING.name] = out[c.SPEAKER_EMBEDDING.name]
                frames = int(out[c.FRAME_LENGTHS.name].reshape(-1)[0])
                frames_of.append(frames)
                durations_of.append(out[c.PHONEME_DURATIONS.name][0])
                yield out[c.LATENT.name][0, :, :frames]

        async def vocode(latent):
            self._check(request)
            # A window has no padding: every frame is decoded, whichever runtime serves it.
            out = await call_model(c.VOCODER_MODEL, {c.LATENT.name: latent, **vocoder_extra},
                                   (c.WAVEFORM.name,))
            return out[c.WAVEFORM.name]

        sent_final, first = False, True
        pauses = pause_samples(batch.pauses_s, int(sample_rate[0]))
        async for chunk in stream_chunks(latents(), pauses, vocode, hop_length, self.plan):
            tensors = [pb_utils.Tensor(c.AUDIO.name, chunk.audio),
                       pb_utils.Tensor(c.SAMPLE_RATE.name, sample_rate)]
            if want_words and chunk.opens_sentence:
                tensors += self._words(batch, chunk.sentence, frames_of, durations_of, pauses,
                                       hop_length)
            response = pb_utils.InferenceResponse(tensors)
            sender.send(response, flags=FINAL if chunk.final else 0)
            if first:
                self.first_audio_ms.observe((time.perf_counter() - arrived) * 1e3)
                first = False
            sent_final = chunk.final
        if not sent_final:
            sender.send(flags=FINAL)

    @staticmethod
    def _words(batch, sentence, frames_of, durations_of, pauses, hop_length):
        """WORDS and WORD_TIMES of one sentence chunk, in samples of the whole stream; none
        when the chunk has no words."""
        rows = batch.word_spans[:, 0] == sentence
        if not rows.any():
            return []
        offsets = chunk_offsets(frames_of[: sentence + 1], pauses[: sentence + 1], hop_length)
        times = word_times(batch.word_spans[rows], durations_of, offsets, hop_length)
        words = np.array([w.encode("utf-8") for w, keep in zip(batch.words, rows, strict=True)
                          if keep], dtype=np.object_)
        return [pb_utils.Tensor(c.WORDS.name, words), pb_utils.Tensor(c.WORD_TIMES.name, times)]

    @staticmethod
    def _check(request):
        if request.is_cancelled():
            raise StreamCancelledError
