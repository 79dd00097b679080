"""The realtime socket's messages (docs/realtime.md): client messages parsed and checked, server
messages built. Client messages are JSON text frames with a "type"; audio leaves as binary
frames, everything else as JSON text frames."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tritontts.api.errors import APIError
from tritontts.gateway.settings import GatewaySettings
from tritontts_client import contract as c
from tritontts_client.audio import AudioFormatError, audio_format


class ProtocolError(Exception):
    """A client message the socket refuses; sent back as an error message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ConfigMessage(_Message):
    type: Literal["config"]
    model: str | None = None  # one of the deployment's model names, as /v1/audio/speech takes
    voice: str = Field(default="alloy", min_length=1)
    format: str = "pcm"  # any name the audio encoder knows
    sample_rate: int | None = None  # None: the format's default (pcm: the gateway's pcm rate)
    speed: float = Field(default=1.0, ge=0.25, le=4.0)
    timestamps: bool = False
    # Speak a sentence still being written after this long without new text; 0: only on
    # flush; None: the gateway's default.
    tail_after_ms: int | None = Field(default=None, ge=0, le=60_000)


class TextMessage(_Message):
    type: Literal["text"]
    text: str


class ControlMessage(_Message):
    type: Literal["flush", "clear", "close"]


ClientMessage = ConfigMessage | TextMessage | ControlMessage
_MODELS: dict[str, type[_Message]] = {
    c.RT_CONFIG: ConfigMessage, c.RT_TEXT: TextMessage, c.RT_FLUSH: ControlMessage,
    c.RT_CLEAR: ControlMessage, c.RT_CLOSE: ControlMessage}


def parse_message(raw: str) -> ClientMessage:
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ProtocolError(c.RT_INVALID_MESSAGE, f"a message must be JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ProtocolError(c.RT_INVALID_MESSAGE, "a message must be a JSON object")
    kind = data.get("type")
    model = _MODELS.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise ProtocolError(c.RT_INVALID_MESSAGE, f"unknown message type {kind!r}; one of "
                                                  f"{', '.join(c.RT_CLIENT_MESSAGES)}")
    try:
        return model.model_validate(data)  # type: ignore[return-value]
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ())) or "message"
        code = c.RT_INVALID_CONFIG if kind == c.RT_CONFIG else c.RT_INVALID_MESSAGE
        raise ProtocolError(code, f"{kind}: invalid {field!r}: {first.get('msg', '')}") from None


@dataclass(frozen=True)
class SocketConfig:
    """A config message in this deployment's terms."""

    voice: str | None  # None: the repository's default voice
    format: str
    sample_rate: int | None  # None: the format's default for the voice's rate
    speed: float
    timestamps: bool
    tail_after_s: float
    noise_scale: float | None
    noise_w: float | None

    def ready_message(self) -> dict[str, Any]:
        # A format with a rate of its own (G.711: 8000, opus: 48000) says it; null: the voice's.
        rate = self.sample_rate or audio_format(self.format).default_rate
        return {"type": c.RT_READY, "format": self.format, "sample_rate": rate,
                "voice": self.voice, "speed": self.speed, "timestamps": self.timestamps,
                "tail_after_ms": round(self.tail_after_s * 1000)}


def resolve_config(message: ConfigMessage, settings: GatewaySettings) -> SocketConfig:
    if message.model is not None and message.model not in settings.models:
        raise ProtocolError(c.RT_INVALID_CONFIG, f"the model {message.model!r} does not exist; "
                                                 f"this deployment serves "
                                                 f"{', '.join(settings.models)}")
    try:
        fmt = audio_format(message.format)
        # The speech route's rule: pcm at the gateway's pcm rate unless another is asked for.
        rate = settings.offer.sample_rate(fmt.name, message.sample_rate)
    except AudioFormatError as exc:
        raise ProtocolError(c.RT_INVALID_CONFIG, str(exc)) from None
    except APIError as exc:
        raise ProtocolError(c.RT_INVALID_CONFIG, exc.message) from None
    voice = settings.offer.voice(message.voice)
    tail_ms = message.tail_after_ms
    return SocketConfig(voice=voice, format=fmt.name, sample_rate=rate,
                        speed=message.speed, timestamps=message.timestamps,
                        tail_after_s=(settings.realtime.tail_after_s if tail_ms is None
                                      else tail_ms / 1000),
                        noise_scale=settings.noise_scale, noise_w=settings.noise_w)


def default_config(settings: GatewaySettings) -> SocketConfig:
    return resolve_config(ConfigMessage(type="config"), settings)


def error_message(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"type": c.RT_ERROR, "code": code, "message": message, **extra}
