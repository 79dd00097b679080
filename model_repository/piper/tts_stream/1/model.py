"""Triton adapter for `tts_stream` (decoupled): audio sent chunk by chunk as it is ready.

It reads the text itself (the frontend is light, and a refusal must reach the client as
INVALID_ARG), then calls the same `acoustic` and `vocoder` models as the `tts` ensemble (BLS),
so streams share their instances and dynamic batches with non-streaming requests. `execute` is
a coroutine: the backend runs many of them at once on one event loop, one per batch of stream
requests, so one long stream does not hold up the others. The streaming itself (windows,
word timestamps, cancellation, how a stream ends) is tritontts.piper.streaming.PiperStreamer;
this file turns tensors into its requests and its pieces into responses.
"""

import asyncio
import time

import numpy as np
import triton_python_backend_utils as pb_utils

from tritontts.piper.streaming import PiperStreamer, StreamRequest, StreamVoice
from tritontts.piper.triton import load_frontends, request_options, voices
from tritontts.piper.windows import WindowPlan
from tritontts.serving.adapter import (
    ModelArgs,
    call_model,
    error_response,
    optional_text,
    text_input,
)
from tritontts_client import contract as c

FINAL = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL


class Metrics:
    """The stream model's Prometheus metrics (a metric must not outlive its family: both are
    kept here)."""

    def __init__(self, model_name):
        labels = {"model": model_name}
        self.first_audio_family = pb_utils.MetricFamily(
            # Triton's own first-response histogram needs a newer core than the 2.51 one the
            # cpu profile runs, so the stream model records it itself.
            name=c.STREAM_FIRST_AUDIO_MS,
            description="Time from the arrival of a stream request to its first audio chunk (ms)",
            kind=pb_utils.MetricFamily.HISTOGRAM)
        self.first_audio_ms = self.first_audio_family.Metric(
            labels=labels, buckets=list(c.FIRST_AUDIO_BUCKETS_MS))
        self.cancelled_family = pb_utils.MetricFamily(
            name=c.STREAM_CANCELLED_TOTAL,
            description="Streams whose work stopped because the client cancelled them",
            kind=pb_utils.MetricFamily.COUNTER)
        self.cancelled_total = self.cancelled_family.Metric(labels=labels)
        # Streams being served right now. A server that drains before it stops waits for
        # this to reach 0: the model's own unload is no signal, because in 2.51 it sometimes
        # never completes after streams have run, with nothing in flight.
        self.in_flight_family = pb_utils.MetricFamily(
            name=c.STREAM_IN_FLIGHT, description="Streams in progress",
            kind=pb_utils.MetricFamily.GAUGE)
        self.in_flight_gauge = self.in_flight_family.Metric(labels=labels)

    def in_flight(self, streams):
        self.in_flight_gauge.set(streams)

    def first_audio(self, seconds):
        self.first_audio_ms.observe(seconds * 1e3)

    def cancelled(self):
        self.cancelled_total.increment(1)


class ResponseSink:
    """A stream's pieces as responses on its sender."""

    def __init__(self, sender):
        self.sender = sender

    def send(self, piece):
        if piece.audio.size == 0 and piece.final:  # the stream ended after its last audio
            self.sender.send(flags=FINAL)
            return
        tensors = [pb_utils.Tensor(c.AUDIO.name, piece.audio),
                   pb_utils.Tensor(c.SAMPLE_RATE.name,
                                   np.array([piece.sample_rate], dtype=np.int32))]
        if piece.words:
            tensors += [pb_utils.Tensor(c.WORDS.name, np.array(
                            [w.encode("utf-8") for w in piece.words], dtype=np.object_)),
                        pb_utils.Tensor(c.WORD_TIMES.name, piece.word_times)]
        self.sender.send(pb_utils.InferenceResponse(tensors), flags=FINAL if piece.final else 0)

    def cancelled(self):
        pb_utils.Logger.log_info("tts_stream: stream cancelled by the client; work stopped")
        self.sender.send(pb_utils.InferenceResponse(error=pb_utils.TritonError(
            "stream cancelled", pb_utils.TritonError.CANCELLED)), flags=FINAL)

    def failed(self, error):
        self.sender.send(error_response(error, stream=True), flags=FINAL)


class TritonPythonModel:
    def initialize(self, args):
        model = ModelArgs(args)
        plan = WindowPlan(
            first_frames=int(model.param(c.PARAM_FIRST_WINDOW_FRAMES)),
            max_frames=int(model.param(c.PARAM_MAX_WINDOW_FRAMES)),
            growth=float(model.param(c.PARAM_WINDOW_GROWTH)),
            context_frames=int(model.param(c.PARAM_WINDOW_CONTEXT_FRAMES)))
        self.metrics = Metrics(model.name)
        self.streamer = PiperStreamer(
            load_frontends(model),
            [StreamVoice(int(v[c.VOICE_HOP_LENGTH]), int(v[c.VOICE_SAMPLE_RATE]))
             for v in voices(model)],
            plan, call_model, int(model.param(c.PARAM_MAX_CONCURRENT_STREAMS)), self.metrics)

    async def execute(self, requests):
        arrived = time.perf_counter()
        await asyncio.gather(*(self._stream(request, arrived) for request in requests))
        return None

    async def _stream(self, request, arrived):
        sink = ResponseSink(request.get_response_sender())
        try:
            stream = StreamRequest(
                text=text_input(request), voice=optional_text(request, c.VOICE.name),
                options=request_options(request),
                want_words=c.WORDS.name in request.requested_output_names(),
                is_cancelled=request.is_cancelled)
        except Exception as exc:  # a tensor that cannot be read: refused on the stream
            sink.failed(exc)
            return
        await self.streamer.serve(stream, sink, arrived)
