"""OpenAI's `POST /v1/audio/speech` request, checked as OpenAI checks it (unknown fields are
refused), and resolved against this deployment: its models, voices and Maya1."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tritontts.gateway.errors import APIError, bad_request
from tritontts.gateway.settings import GatewaySettings
from tritontts_client.audio import FORMATS, REQUEST_RATES, AudioFormatError

# OpenAI's formats (mp3, opus, aac, flac, wav, pcm) and, beside them, the phone line's
# (mulaw, alaw, mulaw_wav, alaw_wav): every format of the shared encoder, named as it names them.
ResponseFormat = Literal[tuple(FORMATS)]  # type: ignore[valid-type]
SampleRate = Literal[REQUEST_RATES]  # type: ignore[valid-type]


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


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` for a route that reads its JSON body itself (to answer in OpenAI's error
    envelope): the model's schema as the route's request body in the OpenAPI document, from
    which the handbook's HTTP reference is generated."""
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": model.model_json_schema()}}}}


def parse_speech_request(body: bytes) -> SpeechRequest:
    try:
        return SpeechRequest.model_validate_json(body)
    except ValidationError as exc:
        raise validation_error(exc) from None


def validation_error(exc: ValidationError) -> APIError:
    first = exc.errors()[0]
    param = ".".join(str(p) for p in first.get("loc", ())) or None
    kind = first.get("type", "")
    if kind == "extra_forbidden":
        return bad_request(f"Unrecognized request argument supplied: {param}", param,
                           "unknown_parameter")
    if kind == "json_invalid":
        return bad_request("The request body is not valid JSON: "
                           f"{first.get('msg', '')}", None, "invalid_json")
    return bad_request(f"Invalid value for '{param}': {first.get('msg', '')}", param,
                       "invalid_value")


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


def instructions_supported(settings: GatewaySettings) -> bool:
    """The one switch for `instructions`: they become Maya1's voice description, so they are
    taken only when the repository serves Maya1 models."""
    return settings.maya1


def resolve(request: SpeechRequest, settings: GatewaySettings) -> ResolvedSpeech:
    if request.model not in settings.models:
        raise APIError(404, f"The model '{request.model}' does not exist; this deployment "
                            f"serves {', '.join(settings.models)}", "invalid_request_error",
                       "model", "model_not_found")
    if len(request.input) > settings.max_input_chars:
        raise bad_request(f"input is {len(request.input)} characters; at most "
                          f"{settings.max_input_chars} are accepted", "input",
                          "string_above_max_length")
    if not request.input.strip():
        raise bad_request("input is empty: give some words to speak", "input", "invalid_value")
    if request.instructions is not None and not instructions_supported(settings):
        raise bad_request("instructions describe a Maya1 voice, and this deployment has no "
                          "Maya1 models; leave instructions out", "instructions",
                          "unsupported_parameter")
    voice = settings.voice_aliases.get(request.voice, request.voice)
    return ResolvedSpeech(
        text=request.input, voice=voice or None, speed=request.speed,
        noise_scale=settings.noise_scale, noise_w=settings.noise_w,
        response_format=request.response_format,
        sample_rate=output_rate(request.response_format, request.sample_rate, settings),
        sse=request.stream_format == "sse", timestamps=request.timestamps)


def output_rate(response_format: str, requested: int | None,
                settings: GatewaySettings) -> int | None:
    """The rate a request's audio is encoded at (None: the format's default for the voice),
    refused with a 400 when the format cannot carry it (G.711 at 16 kHz, opus at 8 kHz)."""
    rate = requested
    if rate is None and response_format == "pcm":
        rate = settings.pcm_sample_rate  # headerless: OpenAI's clients assume 24 kHz
    if rate is not None:
        try:
            FORMATS[response_format].output_rate(rate, rate)
        except AudioFormatError as exc:
            raise bad_request(f"{exc} (or leave sample_rate out)", "sample_rate",
                              "unsupported_sample_rate") from None
    return rate
