"""OpenAI's `POST /v1/audio/speech` request, checked as OpenAI checks it (unknown fields are
refused), and resolved against this deployment: its models, voices and Maya1."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tritontts.api.errors import bad_request
from tritontts.api.requests import (
    ResponseFormat,
    SampleRate,
    instructions_supported,
    validation_error,
)
from tritontts.gateway.settings import GatewaySettings


class SpeechRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)

    model: str = Field(min_length=1)
    input: str = Field(min_length=1, max_length=4096)
    voice: str = Field(min_length=1)
    instructions: str | None = Field(default=None, max_length=4096)
    response_format: ResponseFormat = "mp3"
    speed: float = Field(default=1.0, ge=0.25, le=4.0)
    # Not in OpenAI's schema: the rate of the audio (pcm: 24000 unless asked; G.711: 8000
    # only; opus: 48000 only; the others: the voice's own unless asked).
    sample_rate: SampleRate | None = None
    stream_format: Literal["audio", "sse"] = "audio"
    # Not in OpenAI's schema (SDKs send it with `extra_body`): every word's start and end, as
    # JSON beside base64 audio, or as `speech.word` events on an SSE stream.
    timestamps: bool = False


def parse_speech_request(body: bytes) -> SpeechRequest:
    try:
        return SpeechRequest.model_validate_json(body)
    except ValidationError as exc:
        raise validation_error(exc) from None


@dataclass(frozen=True)
class ResolvedSpeech:
    """A request in this deployment's terms: what Triton is asked and how audio is encoded."""

    text: str
    voice: str | None  # None: the repository's default voice
    speed: float
    noise_scale: float | None
    noise_w: float | None
    response_format: str
    sample_rate: int | None  # None: the format's default for the voice
    sse: bool
    timestamps: bool = False

    def cache_key(self) -> str:
        """The same audio, whatever the delivery (responses with timestamps are not cached)."""
        fields = asdict(self)
        del fields["timestamps"]
        canonical = json.dumps(fields | {"sse": False}, sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()


def resolve(request: SpeechRequest, settings: GatewaySettings) -> ResolvedSpeech:
    offer = settings.offer
    if request.model not in offer.models:
        raise offer.unknown_model(request.model)
    if len(request.input) > settings.max_input_chars:
        raise bad_request(f"input is {len(request.input)} characters; at most "
                          f"{settings.max_input_chars} are accepted", "input",
                          "string_above_max_length")
    if not request.input.strip():
        raise bad_request("input is empty: give some words to speak", "input", "invalid_value")
    if request.instructions is not None and not instructions_supported(offer):
        raise bad_request("instructions describe a Maya1 voice, and this deployment has no "
                          "Maya1 models; leave instructions out", "instructions",
                          "unsupported_parameter")
    return ResolvedSpeech(
        text=request.input, voice=offer.voice(request.voice), speed=request.speed,
        noise_scale=settings.noise_scale, noise_w=settings.noise_w,
        response_format=request.response_format,
        sample_rate=offer.sample_rate(request.response_format, request.sample_rate),
        sse=request.stream_format == "sse", timestamps=request.timestamps)

