"""A thin client for the `tts` model over gRPC or HTTP (KServe v2 protocol).

Imports numpy and tritonclient only: no torch, no onnx, no server-side code.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from tritonclient.utils import InferenceServerException

from tritontts_client.contract import (
    API_KEY_HEADER,
    AUDIO,
    CACHED_TTS_MODEL,
    DESCRIPTION,
    ENABLE_EMPTY_FINAL_RESPONSE,
    FINAL_RESPONSE,
    MAYA1_MODEL,
    MAYA1_STREAM_MODEL,
    OPTION_INPUTS,
    SAMPLE_RATE,
    STREAM_MODEL,
    TEXT,
    TTS_MODEL,
    VOICE,
    WORD_TIMES,
    WORDS,
    grpc_header,
)
from tritontts_client.errors import (
    DeadlineExceededError,
    InvalidRequestError,
    ServerError,
    ServerUnavailableError,
    TTSError,
    classify,
    from_triton,
)
from tritontts_client.retry import (
    Attempts,
    RetryLoop,
    RetryPolicy,
    RetryThrottle,
    call_with_retries,
    call_with_retries_async,
)

Protocol = Literal["grpc", "http"]
DEFAULT_URLS = {"grpc": "localhost:8001", "http": "localhost:8000"}


@dataclass(frozen=True)
class TLSConfig:
    """gRPC over TLS: PEM files. `root_certificates` is the CA that signed the server's
    certificate (None: the system's roots); `private_key` and `certificate_chain` are this
    client's own, for servers that ask for mutual TLS."""

    root_certificates: Path | None = None
    private_key: Path | None = None
    certificate_chain: Path | None = None

    def __post_init__(self) -> None:
        if (self.private_key is None) != (self.certificate_chain is None):
            raise ValueError("a client certificate needs both private_key and certificate_chain")
        for path in (self.root_certificates, self.private_key, self.certificate_chain):
            if path is not None and not Path(path).is_file():
                raise ValueError(f"TLS file {path} does not exist")

    def client_args(self) -> dict[str, Any]:
        """Keyword arguments of tritonclient's gRPC InferenceServerClient (file names)."""
        def name(path: Path | None) -> str | None:
            return None if path is None else str(path)

        return {"ssl": True, "root_certificates": name(self.root_certificates),
                "private_key": name(self.private_key),
                "certificate_chain": name(self.certificate_chain)}

    def channel_credentials(self) -> Any:
        import grpc

        def read(path: Path | None) -> bytes | None:
            return None if path is None else Path(path).read_bytes()

        return grpc.ssl_channel_credentials(read(self.root_certificates), read(self.private_key),
                                            read(self.certificate_chain))


@dataclass(frozen=True)
class WordTiming:
    """A spoken word and when it is said: [start, end) in the utterance's audio (a stream's
    whole audio, for chunks). Words that the phonemizer runs together come as one ("in the")."""

    word: str
    start_s: float
    end_s: float
    start_sample: int
    end_sample: int


def read_words(result: Any, sample_rate: int) -> tuple[WordTiming, ...]:
    """The words a response carries (none when it has no timestamp outputs)."""
    words, times = result.as_numpy(WORDS.name), result.as_numpy(WORD_TIMES.name)
    if words is None or times is None or not sample_rate:
        return ()
    times = times.reshape(-1, 2)
    return tuple(WordTiming(word=(w.decode("utf-8") if isinstance(w, bytes) else str(w)),
                            start_s=int(start) / sample_rate, end_s=int(end) / sample_rate,
                            start_sample=int(start), end_sample=int(end))
                 for w, (start, end) in zip(words.reshape(-1), times, strict=True))


@dataclass(frozen=True)
class Synthesis:
    audio: np.ndarray  # float32 samples in [-1, 1], mono
    sample_rate: int
    attempts: int = 1  # 1 + the retries it took
    words: tuple[WordTiming, ...] = ()  # with timestamps=True

    @property
    def duration_s(self) -> float:
        return len(self.audio) / self.sample_rate

    def pcm16(self) -> bytes:
        """Little-endian signed 16-bit PCM, as `aplay -f S16_LE` and WAV files hold it."""
        clipped = np.clip(self.audio, -1.0, 1.0)
        return (clipped * 32767.0).round().astype("<i2").tobytes()

    def save(self, path: str | Path, format: str | None = None,
             sample_rate: int | None = None) -> Path:
        """Write the audio to a file: in `format` (e.g. "mulaw" for a phone line) or the one
        of the path's extension, resampled to `sample_rate`. Needs the `formats` extra."""
        from tritontts_client.audio import save_audio

        return save_audio(path, self.audio, self.sample_rate, format, sample_rate)


@dataclass(frozen=True)
class AudioChunk:
    """One piece of a stream; joined in order, the chunks are the whole utterance."""

    audio: np.ndarray  # float32 samples in [-1, 1], mono
    sample_rate: int
    index: int
    final: bool
    # With timestamps=True: the words of the sentence chunks whose audio starts here (their
    # times are in the whole stream's samples, and may reach into later chunks).
    words: tuple[WordTiming, ...] = ()

    @property
    def duration_s(self) -> float:
        return len(self.audio) / self.sample_rate

    def pcm16(self) -> bytes:
        return Synthesis(self.audio, self.sample_rate).pcm16()


@dataclass(frozen=True)
class SynthesisRequest:
    text: str
    speed: float | None = None
    noise_scale: float | None = None
    noise_w: float | None = None
    voice: str | None = None  # `<voice>` or `<voice>/<speaker>`; None: the server's default
    # A voice description selects Maya1 (emotion tags such as <laugh> go inline in the text).
    description: str | None = None
    timestamps: bool = False  # also ask for every word's start and end

    def validate(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip():
            raise InvalidRequestError("text is empty: give some words to speak")
        if self.description is not None:
            if not self.description.strip():
                raise InvalidRequestError("description is empty: describe the voice")
            if self.voice or self.speed is not None or self.noise_w is not None \
                    or self.noise_scale is not None:
                raise InvalidRequestError("a description selects Maya1, which takes no voice, "
                                          "speed or noise settings")
            if self.timestamps:
                raise InvalidRequestError("word timestamps come from Piper voices; Maya1 "
                                          "(a description) has none")
        for name in ("speed", "noise_scale", "noise_w"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int | float) and math.isfinite(value)):
                raise InvalidRequestError(f"{name} must be a finite number, got {value!r}")
        if self.speed is not None and self.speed <= 0:
            raise InvalidRequestError(f"speed must be positive, got {self.speed}")

    def infer_inputs(self, module: Any) -> list[Any]:
        """InferInput objects of `module` (tritonclient.grpc, .grpc.aio or .http)."""
        inputs = []
        for spec, array in self.tensors(batched=self.description is not None):
            tensor = module.InferInput(spec.name, list(array.shape), spec.dtype)
            tensor.set_data_from_numpy(array)
            inputs.append(tensor)
        return inputs

    def output_names(self) -> list[str]:
        """The outputs to ask for: the audio, and the words only when wanted (a server then
        sends nothing more than before)."""
        names = [AUDIO.name, SAMPLE_RATE.name]
        if self.timestamps:
            names += [WORDS.name, WORD_TIMES.name]
        return names

    def requested_outputs(self, module: Any) -> list[Any]:
        """InferRequestedOutput objects of `module` (tritonclient.grpc, .grpc.aio or .http)."""
        return [module.InferRequestedOutput(name) for name in self.output_names()]

    def stream_request(self, model: str) -> Any:
        """The ModelInferRequest protobuf of this request, asking for a final-flag response."""
        from tritonclient.grpc import service_pb2
        from tritonclient.utils import serialize_byte_tensor

        request = service_pb2.ModelInferRequest(model_name=model)
        for spec, array in self.tensors():
            is_text = spec.dtype == "BYTES"
            request.inputs.add(name=spec.name, datatype=spec.dtype, shape=list(array.shape))
            raw = serialize_byte_tensor(array).item() if is_text else array.tobytes()
            request.raw_input_contents.append(raw)
        for name in self.output_names():
            request.outputs.add(name=name)
        request.parameters[ENABLE_EMPTY_FINAL_RESPONSE].bool_param = True
        return request

    def models(self, model: str, stream_model: str) -> tuple[str, str]:
        """(whole, streaming) model this request goes to."""
        if self.description is not None:
            return MAYA1_MODEL, MAYA1_STREAM_MODEL
        return model, stream_model

    def tensors(self, batched: bool = False) -> list[tuple[Any, np.ndarray]]:
        """(contract tensor, value) of every input this request sends; `batched`: with the
        leading batch axis that `maya1` (a batching model) takes."""
        tensors = [(TEXT, np.array([self.text.encode("utf-8")], dtype=np.object_))]
        if self.description is not None:
            tensors.append((DESCRIPTION,
                            np.array([self.description.encode("utf-8")], dtype=np.object_)))
            if batched:
                tensors = [(spec, array[None]) for spec, array in tensors]
        if self.voice:
            tensors.append((VOICE, np.array([self.voice.encode("utf-8")], dtype=np.object_)))
        for keyword, spec in OPTION_INPUTS.items():
            value = getattr(self, keyword)
            if value is not None:
                tensors.append((spec, np.array([value], dtype=np.float32)))
        return tensors


def read_synthesis(result: Any, attempts: int) -> Synthesis:
    """The whole utterance from a `tts` response (sync, asyncio and HTTP results alike)."""
    sample_rate = int(result.as_numpy(SAMPLE_RATE.name).reshape(-1)[0])
    return Synthesis(audio=result.as_numpy(AUDIO.name).reshape(-1), sample_rate=sample_rate,
                     attempts=attempts, words=read_words(result, sample_rate))


class ChunkReader:
    """Turns the responses of one stream into AudioChunks: `index` counts the chunks of audio
    (0, 1, 2, ...), and the empty final response, if any, only marks the end."""

    def __init__(self) -> None:
        self.index = 0
        self.finished = False

    def read(self, result: Any) -> AudioChunk | None:
        """The chunk in this response, or None when it holds no audio (the final flag)."""
        final = result.get_response().parameters[FINAL_RESPONSE].bool_param
        self.finished = final
        audio = result.as_numpy(AUDIO.name)
        if audio is None or not audio.size:
            return None
        rate = result.as_numpy(SAMPLE_RATE.name)
        sample_rate = 0 if rate is None else int(rate.reshape(-1)[0])
        chunk = AudioChunk(audio=audio, sample_rate=sample_rate, index=self.index, final=final,
                           words=read_words(result, sample_rate))
        self.index += 1
        return chunk


@contextlib.contextmanager
def mapped_errors(url: str) -> Iterator[None]:
    """Server errors as TTSError subclasses, and an unreachable server as "not now"."""
    try:
        yield
    except InferenceServerException as exc:
        raise from_triton(exc) from None
    except (OSError, ConnectionError) as exc:
        raise ServerUnavailableError(f"cannot reach {url}: {exc}") from None


class _CallSettings:
    """What both clients keep for every call: where, which models, the deadline, retries."""

    def _call_settings(self, url: str, model: str, stream_model: str, deadline_s: float,
                       retry: RetryPolicy | None, throttle_retries: bool) -> None:
        self.url = url
        self.model = model
        self.stream_model = stream_model
        self.deadline_s = deadline_s
        self.retry = retry or RetryPolicy()
        # One retry budget for all calls of the client (see RetryThrottle).
        self.throttle = RetryThrottle() if throttle_retries else None

    def _request(self, text: str, speed: float | None, noise_scale: float | None,
                 noise_w: float | None, voice: str | None,
                 description: str | None = None, timestamps: bool = False) -> SynthesisRequest:
        request = SynthesisRequest(text, speed, noise_scale, noise_w, voice, description,
                                   timestamps)
        request.validate()
        return request

    def _model(self, request: SynthesisRequest, cache: bool) -> str:
        if cache and request.description is None:
            return CACHED_TTS_MODEL
        return request.models(self.model, self.stream_model)[0]

    def _stream_model(self, request: SynthesisRequest) -> str:
        return request.models(self.model, self.stream_model)[1]

    def _budget(self, deadline_s: float | None) -> float:
        return self.deadline_s if deadline_s is None else deadline_s

    def _not_ready(self, timeout_s: float) -> ServerUnavailableError:
        return ServerUnavailableError(
            f"model {self.model!r} at {self.url} was not ready within {timeout_s:.0f} s")


class TTSClient(_CallSettings):
    """Synthesize speech with a tritontts deployment.

    `deadline_s` is the whole time budget of one call, retries included; refusals that mean
    "not now" (overload, a stage restarting, a server draining) are retried with exponential
    backoff and jitter inside it, anything else is raised at once. Retries draw on a budget
    shared by all calls of the client (`throttle_retries`), so that a client whose calls are
    mostly refused stops adding retries to the overload. The gRPC client is safe to share
    between threads; for HTTP make one client per thread.
    """

    def __init__(self, url: str | None = None, protocol: Protocol = "grpc",
                 model: str = TTS_MODEL, deadline_s: float = 120.0,
                 stream_model: str = STREAM_MODEL, *, retry: RetryPolicy | None = None,
                 throttle_retries: bool = True, tls: TLSConfig | None = None,
                 api_key: str | None = None) -> None:
        if protocol not in DEFAULT_URLS:
            raise ValueError(f"protocol must be 'grpc' or 'http', not {protocol!r}")
        if tls is not None and protocol != "grpc":
            raise ValueError("TLS is for gRPC: tritonserver serves HTTP in plain text")
        self.protocol = protocol
        self._call_settings(url or DEFAULT_URLS[protocol], model, stream_model, deadline_s,
                            retry, throttle_retries)
        self.tls = tls
        self.api_key = api_key
        if protocol == "grpc":
            import tritonclient.grpc as triton

            self._client: Any = triton.InferenceServerClient(
                self.url, **(tls.client_args() if tls else {}))
        else:
            import tritonclient.http as triton

            self._client = triton.InferenceServerClient(
                self.url, connection_timeout=self.deadline_s, network_timeout=self.deadline_s)
        self._triton = triton

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> TTSClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def headers(self) -> dict[str, str] | None:
        if not self.api_key:
            return None
        header = grpc_header(API_KEY_HEADER) if self.protocol == "grpc" else API_KEY_HEADER
        return {header: self.api_key}

    def is_ready(self) -> bool:
        try:
            return bool(self._client.is_server_ready()) and bool(
                self._client.is_model_ready(self.model))
        except (InferenceServerException, OSError, ConnectionError):
            return False

    def wait_until_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.is_ready():
            if time.monotonic() > deadline:
                raise self._not_ready(timeout_s)
            time.sleep(0.5)

    def synthesize(self, text: str, speed: float | None = None, noise_scale: float | None = None,
                   noise_w: float | None = None, voice: str | None = None, *,
                   cache: bool = False, deadline_s: float | None = None,
                   description: str | None = None, timestamps: bool = False,
                   priority: int = 0) -> Synthesis:
        """The whole utterance. `cache=True` asks the response-cached model: the same request
        then returns the same audio (even with the voice's random noise scales), in ~1 ms.
        `description` (a voice described in words) selects the Maya1 models. `timestamps`:
        also every word's start and end (`Synthesis.words`). `priority` is the queue level at
        the heavy stages (0: the default, real-time level; `contract.BATCH_PRIORITY` for
        background work); the `tts` ensemble passes it on to them (seen in Triton 2.51's
        verbose log)."""
        request = self._request(text, speed, noise_scale, noise_w, voice, description,
                                timestamps)
        inputs = request.infer_inputs(self._triton)
        outputs = request.requested_outputs(self._triton)
        model = self._model(request, cache)
        attempts = Attempts()

        def attempt(remaining_s: float) -> Any:
            with mapped_errors(self.url):
                if self.protocol == "grpc":
                    return self._client.infer(model, inputs, outputs=outputs,
                                              client_timeout=remaining_s, headers=self.headers,
                                              priority=priority)
                return self._client.infer(model, inputs, outputs=outputs, headers=self.headers,
                                          priority=priority)

        result = call_with_retries(attempt, self._budget(deadline_s), self.retry, attempts,
                                   throttle=self.throttle)
        return read_synthesis(result, attempts.count)

    def stream(self, text: str, speed: float | None = None, noise_scale: float | None = None,
               noise_w: float | None = None, voice: str | None = None, *,
               deadline_s: float | None = None, description: str | None = None,
               timestamps: bool = False) -> Iterator[AudioChunk]:
        """Yield audio chunks as the server sends them (gRPC only).

        The stream is read in the calling thread (no helper thread, so it also works under
        gevent, e.g. in Locust). Each call opens its own gRPC call, so several streams may run
        at once from one client. Leaving the loop early (or closing the iterator) cancels the
        request on the server, which then stops working on it. A refusal before the first
        chunk is retried like `synthesize`; once audio has been yielded, an error is raised.
        `timestamps`: each chunk also brings the words whose sentence chunk starts in it
        (`AudioChunk.words`).
        """
        if self.protocol != "grpc":
            raise TTSError("streaming needs the gRPC protocol (HTTP has no response streams)")
        request = self._request(text, speed, noise_scale, noise_w, voice, description,
                                timestamps)
        loop = RetryLoop(self._budget(deadline_s), self.retry, throttle=self.throttle)
        for timeout_s in loop:
            started = False
            try:
                with contextlib.closing(self._stream_once(request, timeout_s)) as chunks:
                    for chunk in chunks:
                        started = True
                        yield chunk
                loop.won(None)
                return
            except ServerUnavailableError as refusal:
                time.sleep(loop.pause_after(refusal, answered=started))
        raise loop.deadline_error()

    def _stream_once(self, request: SynthesisRequest, timeout_s: float) -> Iterator[AudioChunk]:
        import grpc
        from tritonclient.grpc import InferResult, service_pb2_grpc

        if timeout_s <= 0:
            raise DeadlineExceededError("the deadline passed before the stream could start")
        channel = (grpc.secure_channel(self.url, self.tls.channel_credentials(),
                                       options=_own_channel_args())
                   if self.tls else grpc.insecure_channel(self.url, options=_own_channel_args()))
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        call = stub.ModelStreamInfer(iter([request.stream_request(self._stream_model(request))]),
                                     timeout=timeout_s,
                                     metadata=list((self.headers or {}).items()) or None)
        reader = ChunkReader()
        try:
            for response in call:
                if response.error_message:
                    reader.finished = True
                    raise from_triton(InferenceServerException(response.error_message))
                chunk = reader.read(InferResult(response.infer_response))
                if chunk is not None:
                    yield chunk
                if reader.finished:
                    return
            raise ServerError("the stream ended without a final response")
        except grpc.RpcError as exc:
            reader.finished = True
            raise _from_rpc_error(exc) from None
        finally:
            if not reader.finished:
                call.cancel()  # the consumer stopped early: the server stops too
            channel.close()


def _from_rpc_error(exc: Any) -> TTSError:
    import grpc

    code = exc.code() if hasattr(exc, "code") else None
    details = exc.details() if hasattr(exc, "details") else str(exc)
    status = code.name if isinstance(code, grpc.StatusCode) else ""
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        status = "INVALID_ARG"
    kind = classify(status, details or "")
    return kind(f"{details} ({status or 'no status'})")


def _own_channel_args() -> list[tuple[str, Any]]:
    """tritonclient's default channel options, on a subchannel of its own.

    gRPC shares connections between channels to the same target; closing one stream's client
    must not tear down the connection other streams of this process are using.
    """
    import tritonclient.grpc as grpcclient

    keepalive = grpcclient.KeepAliveOptions()
    return [
        ("grpc.max_send_message_length", grpcclient.MAX_GRPC_MESSAGE_SIZE),
        ("grpc.max_receive_message_length", grpcclient.MAX_GRPC_MESSAGE_SIZE),
        ("grpc.keepalive_time_ms", keepalive.keepalive_time_ms),
        ("grpc.keepalive_timeout_ms", keepalive.keepalive_timeout_ms),
        ("grpc.keepalive_permit_without_calls", keepalive.keepalive_permit_without_calls),
        ("grpc.http2.max_pings_without_data", keepalive.http2_max_pings_without_data),
        ("grpc.use_local_subchannel_pool", 1),
    ]


class AsyncTTSClient(_CallSettings):
    """The asyncio twin of TTSClient (gRPC only), with the same deadline and retries.

    `await client.synthesize(text)`, `async for chunk in client.stream(text)`.
    """

    def __init__(self, url: str | None = None, model: str = TTS_MODEL,
                 deadline_s: float = 120.0, stream_model: str = STREAM_MODEL, *,
                 retry: RetryPolicy | None = None, throttle_retries: bool = True,
                 tls: TLSConfig | None = None, api_key: str | None = None) -> None:
        import tritonclient.grpc.aio as aioclient

        self._call_settings(url or DEFAULT_URLS["grpc"], model, stream_model, deadline_s,
                            retry, throttle_retries)
        self.headers = {grpc_header(API_KEY_HEADER): api_key} if api_key else None
        self._triton = aioclient
        self._client = aioclient.InferenceServerClient(
            self.url, **(tls.client_args() if tls else {}))

    async def close(self) -> None:
        await self._client.close()

    async def __aenter__(self) -> AsyncTTSClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def is_ready(self) -> bool:
        try:
            return bool(await self._client.is_server_ready()) and bool(
                await self._client.is_model_ready(self.model))
        except (InferenceServerException, OSError, ConnectionError):
            return False

    async def model_parameters(self, model: str | None = None) -> dict[str, str]:
        """The parameters of a model's configuration (the stream model's by default), such as
        the pause it puts between sentences."""
        with mapped_errors(self.url):
            config = await self._client.get_model_config(model or self.stream_model,
                                                         headers=self.headers, as_json=True)
        parameters = config.get("config", config).get("parameters", {})
        return {name: str(value.get("string_value", "")) for name, value in parameters.items()}

    async def wait_until_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not await self.is_ready():
            if time.monotonic() > deadline:
                raise self._not_ready(timeout_s)
            await asyncio.sleep(0.5)

    async def synthesize(self, text: str, speed: float | None = None,
                         noise_scale: float | None = None,
                         noise_w: float | None = None, voice: str | None = None, *,
                         cache: bool = False, deadline_s: float | None = None,
                         description: str | None = None, timestamps: bool = False,
                         priority: int = 0) -> Synthesis:
        """As TTSClient.synthesize: refusals that mean "not now" are retried within the
        deadline, anything else is raised at once."""
        request = self._request(text, speed, noise_scale, noise_w, voice, description,
                                timestamps)
        inputs = request.infer_inputs(self._triton)
        outputs = request.requested_outputs(self._triton)
        model = self._model(request, cache)

        async def attempt(remaining_s: float) -> Any:
            with mapped_errors(self.url):
                return await self._client.infer(model, inputs, outputs=outputs,
                                                 client_timeout=remaining_s,
                                                 headers=self.headers, priority=priority)

        result, attempts = await call_with_retries_async(
            attempt, self._budget(deadline_s), self.retry, throttle=self.throttle)
        return read_synthesis(result, attempts)

    async def stream(self, text: str, speed: float | None = None,
                     noise_scale: float | None = None,
                     noise_w: float | None = None, voice: str | None = None, *,
                     deadline_s: float | None = None, description: str | None = None,
                     timestamps: bool = False) -> AsyncIterator[AudioChunk]:
        """As TTSClient.stream: a refusal before the first chunk is retried within the
        deadline; once audio has arrived, an error is raised."""
        request = self._request(text, speed, noise_scale, noise_w, voice, description,
                                timestamps)
        loop = RetryLoop(self._budget(deadline_s), self.retry, throttle=self.throttle)
        for timeout_s in loop:
            started = False
            try:
                # aclosing: a consumer that stops early closes the call at once, not whenever
                # the generator is collected.
                async with contextlib.aclosing(self._stream_once(request, timeout_s)) as chunks:
                    async for chunk in chunks:
                        started = True
                        yield chunk
                loop.won(None)
                return
            except ServerUnavailableError as refusal:
                await asyncio.sleep(loop.pause_after(refusal, answered=started))
        raise loop.deadline_error()

    async def _stream_once(self, request: SynthesisRequest,
                           timeout_s: float) -> AsyncIterator[AudioChunk]:
        import grpc

        async def requests() -> AsyncIterator[dict[str, Any]]:
            yield {"model_name": self._stream_model(request),
                   "inputs": request.infer_inputs(self._triton),
                   "outputs": request.requested_outputs(self._triton),
                   "enable_empty_final_response": True}

        responses = self._client.stream_infer(requests(), stream_timeout=timeout_s,
                                              headers=self.headers)
        reader = ChunkReader()
        try:
            with mapped_errors(self.url):
                async for result, error in responses:
                    if error is not None:
                        reader.finished = True
                        raise from_triton(error)
                    chunk = reader.read(result)
                    if chunk is not None:
                        yield chunk
                    if reader.finished:
                        return
            raise ServerError("the stream ended without a final response")
        except grpc.RpcError as exc:  # the call itself failed (connection, deadline)
            reader.finished = True
            raise _from_rpc_error(exc) from None
        finally:
            if not reader.finished:
                responses.cancel()
