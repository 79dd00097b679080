"""A thin client for the `tts` model over gRPC or HTTP (KServe v2 protocol).

Imports numpy and tritonclient only: no torch, no onnx, no server-side code.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from tritonclient.utils import InferenceServerException
from tritontts.client.errors import InvalidRequestError, ServerUnavailableError, from_triton

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
class SynthesisRequest:
    text: str
    speed: float | None = None
    noise_scale: float | None = None
    noise_w: float | None = None

    def validate(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip():
            raise InvalidRequestError("text is empty: give some words to speak")
        for name in ("speed", "noise_scale", "noise_w"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int | float) and math.isfinite(value)):
                raise InvalidRequestError(f"{name} must be a finite number, got {value!r}")
        if self.speed is not None and self.speed <= 0:
            raise InvalidRequestError(f"speed must be positive, got {self.speed}")

    def tensors(self) -> list[tuple[str, np.ndarray]]:
        tensors = [("TEXT", np.array([self.text.encode("utf-8")], dtype=np.object_))]
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
                 model: str = "tts", timeout_s: float = 120.0) -> None:
        if protocol not in DEFAULT_URLS:
            raise ValueError(f"protocol must be 'grpc' or 'http', not {protocol!r}")
        self.protocol = protocol
        self.url = url or DEFAULT_URLS[protocol]
        self.model = model
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
                   noise_w: float | None = None) -> Synthesis:
        request = SynthesisRequest(text, speed, noise_scale, noise_w)
        request.validate()
        inputs = []
        for name, array in request.tensors():
            tensor = self._triton.InferInput(name, list(array.shape),
                                             "BYTES" if array.dtype == np.object_ else "FP32")
            tensor.set_data_from_numpy(array)
            inputs.append(tensor)
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
