"""Triton adapter for `maya1_stream` (decoupled): Maya1 speech, audio sent as soon as each
window of frames can be decoded.

Its `lm_backend` parameter says where the codes come from: `pytorch` (cpu profile) holds the
LM itself, one batched generator for every request in flight on its own thread; `vllm` or
`tensorrtllm` (gpu profile) calls `maya1_lm` over BLS, one decoupled call per prompt, and
checks every returned frame against the slot bands (a stray id refuses the sequence and is
counted in tritontts_maya1_refused_codes_total). SNAC runs in an ONNX Runtime session on a
worker thread (`snac_onnx`) or is awaited over BLS from `maya1_snac` (`snac_model`).
`execute` is a coroutine: the backend runs many at once on one event loop, so requests join
the running batch while others decode. With WHOLE_SENTENCES it sends each sentence whole
instead (what `maya1` asks for).
"""

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import triton_python_backend_utils as pb_utils

from tritontts.maya1.checkpoint import Maya1Checkpoint, load_tokenizer_file
from tritontts.maya1.prompt import PromptBuilder, PromptLimits
from tritontts.maya1.sampling import SamplingSettings
from tritontts.maya1.synthesis import Speaker
from tritontts.maya1.tokens import SAMPLE_RATE
from tritontts.serving.adapter import (
    ModelArgs,
    call_model,
    error_response,
    optional_input,
    stream_model_call,
    text_input,
)
from tritontts_client import contract

FINAL = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL
FIRST_AUDIO_BUCKETS = [10, 25, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000]


class TritonPythonModel:
    def initialize(self, args):
        model = ModelArgs(args)
        self.backend = model.param(contract.PARAM_LM_BACKEND)
        if self.backend not in contract.LM_BACKENDS:
            raise pb_utils.TritonModelException(
                f"model {model.name}: {contract.PARAM_LM_BACKEND} {self.backend!r} is not one "
                f"of {', '.join(contract.LM_BACKENDS)}")
        if self.backend == contract.LM_BACKEND_PYTORCH:
            checkpoint = Maya1Checkpoint(model.path(contract.PARAM_CHECKPOINT))
            tokenizer = checkpoint.load_tokenizer()
        else:
            tokenizer = load_tokenizer_file(model.path(contract.PARAM_TOKENIZER))
        self.prompts = PromptBuilder(tokenizer, PromptLimits(
            max_text_chars=int(model.param(contract.PARAM_MAX_TEXT_CHARS)),
            max_description_chars=int(model.param(contract.PARAM_MAX_DESCRIPTION_CHARS)),
            chunk_chars=int(model.param(contract.PARAM_CHUNK_CHARS)),
            max_chunks=int(model.param(contract.PARAM_MAX_CHUNKS)),
            continuity_frames=int(model.param(contract.PARAM_CONTINUITY_FRAMES))))
        self.loop = None
        self.labels = {"model": model.name}
        self.steps_family = pb_utils.MetricFamily(
            name=contract.MAYA1_DECODE_STEPS_TOTAL,
            description="LM decode steps, by how many sequences the step decoded together",
            kind=pb_utils.MetricFamily.COUNTER)
        self.steps = {}
        self.first_audio_family = pb_utils.MetricFamily(
            name=contract.MAYA1_FIRST_AUDIO_MS,
            description="Time from a request's arrival to its first audio (ms)",
            kind=pb_utils.MetricFamily.HISTOGRAM)
        self.first_audio_ms = self.first_audio_family.Metric(labels=self.labels,
                                                             buckets=FIRST_AUDIO_BUCKETS)
        self.refused_family = pb_utils.MetricFamily(
            name=contract.MAYA1_REFUSED_CODES_TOTAL,
            description="Sequences refused because the LM broke the token layout",
            kind=pb_utils.MetricFamily.COUNTER)
        self.refused = self.refused_family.Metric(labels=self.labels)
        self.chunks_family = pb_utils.MetricFamily(
            name=contract.MAYA1_CHUNKS_TOTAL,
            description="Chunks of speech by how they ended (end: CODE_END, limit: cut at "
                        "the token limit, resplit: generated again in two halves)",
            kind=pb_utils.MetricFamily.COUNTER)
        self.chunk_ends = {}
        if self.backend == contract.LM_BACKEND_PYTORCH:
            from tritontts.maya1.generator import BatchedGenerator  # torch: cpu profile only

            self.generator = BatchedGenerator(
                checkpoint.load_model(), max_batch=int(model.param(contract.PARAM_MAX_BATCH)),
                on_step=self._on_step)
        else:
            from tritontts.maya1.llm_wire import wire_for
            from tritontts.maya1.remote import RemoteGenerator

            self.lm_model = model.param(contract.PARAM_LM_MODEL)
            self.wire = wire_for(self.backend, tokenizer)
            self.generator = RemoteGenerator(self._lm_ids,
                                             on_refused=lambda _: self.refused.increment(1))
        if contract.PARAM_SNAC_MODEL in model.parameters:
            self.snac_model = model.param(contract.PARAM_SNAC_MODEL)
            self.snac_max_batch = int(model.param(contract.PARAM_SNAC_MAX_BATCH))
            self.speaker = Speaker(self.generator, self._snac_over_bls, builder=self.prompts)
        else:
            from tritontts.maya1.codec import OnnxSnacDecoder

            decoder = OnnxSnacDecoder(model.path(contract.PARAM_SNAC_ONNX),
                                      threads=int(model.param(contract.PARAM_THREADS)))
            self.speaker = Speaker(self.generator, decoder, ThreadPoolExecutor(1, "maya1-snac"),
                                   builder=self.prompts)
        self.rate = np.array([SAMPLE_RATE], dtype=np.int32)

    async def _lm_ids(self, prompt, settings):
        """The LLM backend's ids for one prompt, a list per streamed response."""
        reader = self.wire.reader()
        calls = stream_model_call(self.lm_model, self.wire.inputs(prompt, settings),
                                  self.wire.output_names)
        try:
            async for outputs in calls:
                yield reader.feed(outputs)
            reader.finish()
        finally:
            await calls.aclose()

    async def _snac_over_bls(self, codes_0, codes_1, codes_2):
        """Windows in calls of at most the SNAC model's max_batch_size rows, awaited together."""
        names = contract.MAYA1_SNAC_INPUTS
        rows = self.snac_max_batch
        calls = [call_model(self.snac_model, dict(zip(names, (
            level[start : start + rows].astype(np.int64) for level in (codes_0, codes_1, codes_2)),
            strict=True)), [contract.MAYA1_SNAC_OUTPUT])
            for start in range(0, codes_0.shape[0], rows)]
        audio = np.concatenate([outputs[contract.MAYA1_SNAC_OUTPUT]
                                for outputs in await asyncio.gather(*calls)])
        return np.clip(audio.reshape(audio.shape[0], -1), -1.0, 1.0).astype(np.float32)

    def _count_chunk(self, end):  # on the event loop
        if end not in self.chunk_ends:
            self.chunk_ends[end] = self.chunks_family.Metric(labels={**self.labels, "end": end})
        self.chunk_ends[end].increment(1)

    def _on_step(self, batch_size):  # on the generator's thread
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self._count_step, batch_size)

    def _count_step(self, batch_size):
        if batch_size not in self.steps:
            self.steps[batch_size] = self.steps_family.Metric(
                labels={**self.labels, "batch_size": str(batch_size)})
        self.steps[batch_size].increment(1)

    async def execute(self, requests):
        self.loop = asyncio.get_running_loop()
        arrived = time.perf_counter()
        await asyncio.gather(*(self._serve(request, arrived) for request in requests))
        return None

    async def _serve(self, request, arrived):
        sender = request.get_response_sender()
        try:
            prompts = self.prompts.plan(text_input(request, contract.DESCRIPTION.name),
                                           text_input(request, contract.TEXT.name))
            settings = _settings(request)
            whole = _flag(request, contract.WHOLE_SENTENCES.name)
            first = True
            async for audio in self.speaker.speak(prompts, settings, whole,
                                                  cancelled=request.is_cancelled,
                                                  on_chunk=self._count_chunk):
                if request.is_cancelled():
                    break
                if audio.size == 0:
                    continue
                sender.send(pb_utils.InferenceResponse([
                    pb_utils.Tensor(contract.AUDIO.name, audio.astype(np.float32)),
                    pb_utils.Tensor(contract.SAMPLE_RATE.name, self.rate)]))
                if first:
                    self.first_audio_ms.observe((time.perf_counter() - arrived) * 1e3)
                    first = False
            sender.send(flags=FINAL)
        except Exception as exc:  # reported on the stream, never lost
            sender.send(error_response(exc, stream=True), flags=FINAL)

    def finalize(self):
        self.generator.close()


def _scalar(request, name):
    array = optional_input(request, name)
    if array is None:
        return None
    if array.size != 1:
        from tritontts.piper.voice import InvalidInputError

        raise InvalidInputError(f"{name} takes exactly one value, got shape {list(array.shape)}")
    return array.reshape(-1)[0].item()


def _flag(request, name):
    return bool(_scalar(request, name) or False)


def _settings(request):
    """The request's sampling settings over Maya1's defaults (validated there)."""
    overrides = {
        "max_new_tokens": _scalar(request, contract.MAX_NEW_TOKENS.name),
        "temperature": _scalar(request, contract.TEMPERATURE.name),
        "top_p": _scalar(request, contract.TOP_P.name),
        "top_k": _scalar(request, contract.TOP_K.name),
        "repetition_penalty": _scalar(request, contract.REPETITION_PENALTY.name),
        "seed": _scalar(request, contract.SEED.name),
    }
    defaults = SamplingSettings()
    if overrides["max_new_tokens"] is not None:
        overrides["min_new_tokens"] = min(defaults.min_new_tokens,
                                          int(overrides["max_new_tokens"]))
    return SamplingSettings(**{**defaults.__dict__,
                               **{k: v for k, v in overrides.items() if v is not None}})
