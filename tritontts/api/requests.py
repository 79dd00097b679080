"""Request pieces the speech and the jobs routes check alike: the audio formats a caller may
ask for, pydantic's validation errors in OpenAI's envelope, and what this deployment offers
(the models, voices and options a request may name)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from tritontts.api.errors import APIError, bad_request
from tritontts_client.audio import FORMATS, REQUEST_RATES, AudioFormatError

# OpenAI's formats (mp3, opus, aac, flac, wav, pcm) and, beside them, the phone line's
# (mulaw, alaw, mulaw_wav, alaw_wav): every format of the shared encoder, named as it names them.
ResponseFormat = Literal[tuple(FORMATS)]  # type: ignore[valid-type]
SampleRate = Literal[REQUEST_RATES]  # type: ignore[valid-type]


@dataclass(frozen=True)
class SpeechOffer:
    """What a speech or job request may ask of this deployment."""

    models: tuple[str, ...]  # model names a request may give
    voice_aliases: dict[str, str] = field(default_factory=dict)  # alias -> voice ("": default)
    pcm_sample_rate: int = 24000  # OpenAI's pcm is 24 kHz; pcm is resampled to it
    maya1: bool = False  # whether the repository serves Maya1 (voice descriptions)

    def voice(self, requested: str) -> str | None:
        """The repository's voice for a requested name or alias (None: its default voice)."""
        return self.voice_aliases.get(requested, requested) or None

    def sample_rate(self, response_format: str, requested: int | None = None) -> int | None:
        """The rate audio of that format is encoded at (None: the format's default for the
        voice), refused with a 400 when the format cannot carry it (G.711 at 16 kHz, opus at
        8 kHz)."""
        rate = requested
        if rate is None and response_format == "pcm":
            rate = self.pcm_sample_rate  # headerless: OpenAI's clients assume 24 kHz
        if rate is not None:
            try:
                FORMATS[response_format].output_rate(rate, rate)
            except AudioFormatError as exc:
                raise bad_request(f"{exc} (or leave sample_rate out)", "sample_rate",
                                  "unsupported_sample_rate") from None
        return rate

    def unknown_model(self, model: str) -> APIError:
        return APIError(404, f"The model '{model}' does not exist; this deployment serves "
                             f"{', '.join(self.models)}", "invalid_request_error", "model",
                        "model_not_found")


def instructions_supported(offer: SpeechOffer) -> bool:
    """The one switch for voice descriptions (`instructions`, a job's `description`): they
    become Maya1's voice description, so they are taken only when the repository serves Maya1."""
    return offer.maya1


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` for a route that reads its JSON body itself (to answer in OpenAI's error
    envelope): the model's schema as the route's request body in the OpenAPI document, from
    which the handbook's HTTP reference is generated."""
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": model.model_json_schema()}}}}


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
