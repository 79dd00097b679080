"""A thin client for the `tts` model over gRPC or HTTP (KServe v2 protocol).

Imports numpy and tritonclient only: no torch, no onnx, no server-side code.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from tritonclient.utils import InferenceServerException

from tritontts.client.errors import (
    InvalidRequestError,
    ServerError,
    ServerUnavailableError,
    TTSError,
    from_triton,
)

Protocol = Literal["grpc", "http"]
DEFAULT_URLS = {"grpc": "localhost:8001", "http": "localhost:8000"}


@dataclass(frozen=True)
class Synthesis:
    audio: np.ndarray  # float32 samples in [-1, 1], mono
    sample_rate: int

    @property
    def duration_s(self) -> float:
        return len(self.audio) / self.sample_rate

    def pcm16(self) -> bytes:
        """Little-endian signed 16-bit PCM, as `aplay -f S16_LE` and WAV files hold it."""
        clipped = np.clip(self.audio, -1.0, 1.0)
        return (clipped * 32767.0).round().astype("<i2").tobytes()


@dataclass(frozen=True)
class AudioChunk:
    """One piece of a stream; joined in order, the chunks are the whole utterance."""

    audio: np.ndarray  # float32 samples in [-1, 1], mono
    sample_rate: int
    index: int
    final: bool

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
    voice: str | None = None  # a speaker of a multi-speaker voice

    def validate(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip():
            raise InvalidRequestError("text is empty: give some words to speak")
        for name in ("speed", "noise_scale", "noise_w"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int | float) and math.isfinite(value)):
                raise InvalidRequestError(f"{name} must be a finite number, got {value!r}")
        if self.speed is not None and self.speed <= 0:
            raise InvalidRequestError(f"speed must be positive, got {self.speed}")

    def grpc_inputs(self, module: Any) -> list[Any]:
        """InferInput objects of `module` (tritonclient.grpc or tritonclient.http)."""
        inputs = []
        for name, array in self.tensors():
            tensor = module.InferInput(name, list(array.shape),
                                       "BYTES" if array.dtype == np.object_ else "FP32")
            tensor.set_data_from_numpy(array)
            inputs.append(tensor)
        return inputs

    def stream_request(self, model: str) -> Any:
        """The ModelInferRequest protobuf of this request, asking for a final-flag response."""
        from tritonclient.grpc import service_pb2
        from tritonclient.utils import serialize_byte_tensor

        request = service_pb2.ModelInferRequest(model_name=model)
        for name, array in self.tensors():
            is_text = array.dtype == np.object_
            request.inputs.add(name=name, datatype="BYTES" if is_text else "FP32",
                               shape=list(array.shape))
            raw = serialize_byte_tensor(array).item() if is_text else array.tobytes()
            request.raw_input_contents.append(raw)
        request.parameters["triton_enable_empty_final_response"].bool_param = True
        return request

    def tensors(self) -> list[tuple[str, np.ndarray]]:
        tensors = [("TEXT", np.array([self.text.encode("utf-8")], dtype=np.object_))]
        if self.voice:
            tensors.append(("VOICE", np.array([self.voice.encode("utf-8")], dtype=np.object_)))
        for name, value in (("SPEED", self.speed), ("NOISE_SCALE", self.noise_scale),
                            ("NOISE_W", self.noise_w)):
            if value is not None:
                tensors.append((name, np.array([value], dtype=np.float32)))
        return tensors


class TTSClient:
    """Synthesize speech with a tritontts deployment.

    The gRPC client is safe to share between threads; for HTTP make one client per thread.
    """

    def __init__(self, url: str | None = None, protocol: Protocol = "grpc",
                 model: str = "tts", timeout_s: float = 120.0,
                 stream_model: str = "tts_stream") -> None:
        if protocol not in DEFAULT_URLS:
            raise ValueError(f"protocol must be 'grpc' or 'http', not {protocol!r}")
        self.protocol = protocol
        self.url = url or DEFAULT_URLS[protocol]
        self.model = model
        self.stream_model = stream_model
        self.timeout_s = timeout_s
        if protocol == "grpc":
            import tritonclient.grpc as triton
        else:
            import tritonclient.http as triton
        self._triton = triton
        self._client: Any = (
            triton.InferenceServerClient(self.url) if protocol == "grpc" else
            triton.InferenceServerClient(self.url, connection_timeout=timeout_s,
                                         network_timeout=timeout_s))

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> TTSClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
                raise ServerUnavailableError(
                    f"model {self.model!r} at {self.url} was not ready within {timeout_s:.0f} s")
            time.sleep(0.5)

    def synthesize(self, text: str, speed: float | None = None, noise_scale: float | None = None,
                   noise_w: float | None = None, voice: str | None = None) -> Synthesis:
        request = SynthesisRequest(text, speed, noise_scale, noise_w, voice)
        request.validate()
        inputs = request.grpc_inputs(self._triton)
        try:
            if self.protocol == "grpc":
                result = self._client.infer(self.model, inputs, client_timeout=self.timeout_s)
            else:
                result = self._client.infer(self.model, inputs)
        except InferenceServerException as exc:
            raise from_triton(exc) from None
        except (OSError, ConnectionError) as exc:
            raise ServerUnavailableError(f"cannot reach {self.url}: {exc}") from None
        return Synthesis(audio=result.as_numpy("AUDIO"),
                         sample_rate=int(result.as_numpy("SAMPLE_RATE").reshape(-1)[0]))

    def stream(self, text: str, speed: float | None = None, noise_scale: float | None = None,
               noise_w: float | None = None, voice: str | None = None) -> Iterator[AudioChunk]:
        """Yield audio chunks as the server sends them (gRPC only).

        The stream is read in the calling thread (no helper thread, so it also works under
        gevent, e.g. in Locust). Each call opens its own gRPC call, so several streams may run
        at once from one client. Leaving the loop early (or closing the iterator) cancels the
        request on the server, which then stops working on it.
        """
        if self.protocol != "grpc":
            raise TTSError("streaming needs the gRPC protocol (HTTP has no response streams)")
        request = SynthesisRequest(text, speed, noise_scale, noise_w, voice)
        request.validate()
        import grpc
        from tritonclient.grpc import InferResult, service_pb2_grpc

        channel = grpc.insecure_channel(self.url, options=_own_channel_args())
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        call = stub.ModelStreamInfer(iter([request.stream_request(self.stream_model)]),
                                     timeout=self.timeout_s)
        finished = False
        try:
            for index, response in enumerate(call):
                if response.error_message:
                    finished = True
                    raise from_triton(InferenceServerException(response.error_message))
                chunk = _chunk(InferResult(response.infer_response), index)
                finished = chunk.final
                if chunk.audio.size:
                    yield chunk
                if finished:
                    return
            raise ServerError("the stream ended without a final response")
        except grpc.RpcError as exc:
            finished = True
            raise _from_rpc_error(exc) from None
        finally:
            if not finished:
                call.cancel()  # the consumer stopped early: the server stops too
            channel.close()


def _from_rpc_error(exc: Any) -> TTSError:
    import grpc

    code = exc.code() if hasattr(exc, "code") else None
    details = exc.details() if hasattr(exc, "details") else str(exc)
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return ServerUnavailableError(f"{details} ({code.name})")
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return InvalidRequestError(details)
    return ServerError(f"{details} ({code.name if code else 'no status'})")


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


def _chunk(result: Any, index: int) -> AudioChunk:
    final = result.get_response().parameters["triton_final_response"].bool_param
    audio = result.as_numpy("AUDIO")
    rate = result.as_numpy("SAMPLE_RATE")
    return AudioChunk(
        audio=np.zeros(0, np.float32) if audio is None else audio,
        sample_rate=0 if rate is None else int(rate.reshape(-1)[0]),
        index=index, final=final)


class AsyncTTSClient:
    """The asyncio twin of TTSClient (gRPC only).

    `await client.synthesize(text)`, `async for chunk in client.stream(text)`.
    """

    def __init__(self, url: str | None = None, model: str = "tts", timeout_s: float = 120.0,
                 stream_model: str = "tts_stream") -> None:
        import tritonclient.grpc.aio as aioclient

        self.url = url or DEFAULT_URLS["grpc"]
        self.model = model
        self.stream_model = stream_model
        self.timeout_s = timeout_s
        self._triton = aioclient
        self._client = aioclient.InferenceServerClient(self.url)

    async def close(self) -> None:
        await self._client.close()

    async def __aenter__(self) -> AsyncTTSClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def synthesize(self, text: str, speed: float | None = None,
                         noise_scale: float | None = None,
                         noise_w: float | None = None, voice: str | None = None) -> Synthesis:
        request = SynthesisRequest(text, speed, noise_scale, noise_w, voice)
        request.validate()
        try:
            result = await self._client.infer(self.model, request.grpc_inputs(self._triton),
                                              client_timeout=self.timeout_s)
        except InferenceServerException as exc:
            raise from_triton(exc) from None
        return Synthesis(audio=result.as_numpy("AUDIO"),
                         sample_rate=int(result.as_numpy("SAMPLE_RATE").reshape(-1)[0]))

    async def stream(self, text: str, speed: float | None = None,
                     noise_scale: float | None = None,
                     noise_w: float | None = None,
                     voice: str | None = None) -> AsyncIterator[AudioChunk]:
        request = SynthesisRequest(text, speed, noise_scale, noise_w, voice)
        request.validate()

        async def requests() -> AsyncIterator[dict[str, Any]]:
            yield {"model_name": self.stream_model,
                   "inputs": request.grpc_inputs(self._triton),
                   "enable_empty_final_response": True}

        responses = self._client.stream_infer(requests(), stream_timeout=self.timeout_s)
        finished = False
        index = 0
        try:
            async for result, error in responses:
                if error is not None:
                    finished = True
                    raise from_triton(error)
                chunk = _chunk(result, index)
                finished = chunk.final
                if chunk.audio.size:
                    yield chunk
                    index += 1
                if finished:
                    break
        except InferenceServerException as exc:
            raise from_triton(exc) from None
        finally:
            if not finished:
                responses.cancel()
