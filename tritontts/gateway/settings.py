"""Everything the gateway is configured with, as typed dataclasses (filled by `cli.py`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tritontts.api.requests import SpeechOffer
from tritontts.jobs.settings import JobSettings
from tritontts_client.contract import STREAM_MODEL, TTS_MODEL

# OpenAI's voice names, so that unchanged OpenAI clients work: "" is the repository's default
# voice (its first speaker). Point them at `<voice>` or `<voice>/<speaker>` of the repository.
OPENAI_VOICES = ("alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage",
                 "shimmer", "verse")


@dataclass(frozen=True)
class ClientLimits:
    """What one caller may do: the `limits` library's notation ("10/second", "5000/minute")."""

    requests: str = "10/second"
    characters: tuple[str, ...] = ("20000/minute",)
    concurrency: int = 4  # requests in progress at once, per replica


@dataclass(frozen=True)
class JWTSettings:
    """JWTs verified against a public key (PEM) or a JWKS file; `None` of both: no JWTs."""

    public_key_file: Path | None = None
    jwks_file: Path | None = None
    issuer: str | None = None
    audience: str | None = None
    algorithms: tuple[str, ...] = ("RS256", "ES256", "EdDSA")
    leeway_s: float = 0.0

    @property
    def enabled(self) -> bool:
        return self.public_key_file is not None or self.jwks_file is not None


@dataclass(frozen=True)
class CacheSettings:
    """The shared response cache in Redis (needs `GatewaySettings.redis_url`)."""

    enabled: bool = True
    max_bytes: int = 256 << 20  # all entries together; the oldest go first
    max_entry_bytes: int = 8 << 20
    ttl_s: int = 24 * 3600


@dataclass(frozen=True)
class RealtimeSettings:
    """The realtime speech socket (docs/realtime.md): bounds on one socket."""

    max_message_bytes: int = 16 << 10  # one client message
    max_pending_chars: int = 8192  # text taken but not yet spoken (SSML held to its flush)
    idle_timeout_s: float = 60.0  # nothing from the client and nothing to say: closed
    # A sentence still being written is spoken after this long without new text (0: only on
    # flush); a socket's config may change it.
    tail_after_s: float = 1.0
    # Segments of a socket synthesized at once. One is enough to stay ahead of playback (a
    # sentence is made several times faster than it is spoken) and keeps a turn's audio equal
    # to the speech route's: two streams at once may share a stage batch, whose padding moves
    # a few samples by one step.
    ahead: int = 1
    max_segment_chars: int = 250  # a longer run without a sentence end is cut
    # The pause the stream model puts between sentences, which the socket puts between
    # segments. None: read from the model's configuration, or, where Triton keeps that API to
    # its admin key, the frontend's default; set it when the repository was tuned otherwise.
    sentence_pause_s: float | None = None


@dataclass(frozen=True)
class GatewaySettings:
    triton_url: str = "127.0.0.1:8001"  # gRPC
    triton_api_key: str | None = None  # `tritontts serve --api-key`, when the server wants one
    tts_model: str = TTS_MODEL
    stream_model: str = STREAM_MODEL
    host: str = "127.0.0.1"
    port: int = 8080
    # Auth: API keys (a JSON file, or Redis when `keys_in_redis`) and/or JWTs. With neither,
    # the gateway is open (every caller gets `default_limits`).
    keys_file: Path | None = None
    keys_in_redis: bool = False
    jwt: JWTSettings = field(default_factory=JWTSettings)
    # Redis for limits shared by replicas, the response cache and keys; None: in-memory limits,
    # no cache.
    redis_url: str | None = None
    default_limits: ClientLimits = field(default_factory=ClientLimits)
    # Requests in progress at once in this replica; one more is refused at once (429).
    max_concurrency: int = 16
    cache: CacheSettings = field(default_factory=CacheSettings)
    max_body_bytes: int = 64 << 10
    max_input_chars: int = 4096  # OpenAI's limit
    # Model names a request may give; all are served by the repository's `tts` pipeline.
    models: tuple[str, ...] = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts", "tritontts")
    voices: tuple[str, ...] = ()  # the repository's voices (and speakers), listed as served
    voice_aliases: dict[str, str] = field(
        default_factory=lambda: dict.fromkeys(OPENAI_VOICES, ""))
    # OpenAI's pcm is 24 kHz s16le mono; clients assume it, so pcm is resampled to it.
    pcm_sample_rate: int = 24000
    # Whether the repository serves Maya1 (which `instructions` needs).
    maya1: bool = False
    # The voice's variation, for every request (None: the voice's own). 0 makes the same
    # request give the same audio, which the response cache assumes anyway.
    noise_scale: float | None = None
    noise_w: float | None = None
    deadline_s: float = 60.0  # one Triton call, retries of "not now" refusals included
    # Long-audio jobs (/v1/audio/jobs): None, no jobs routes.
    jobs: JobSettings | None = None
    # Bodies of job submissions may be this large (1 MiB of text, escaped into JSON).
    max_job_body_bytes: int = 8 << 20
    realtime: RealtimeSettings = field(default_factory=RealtimeSettings)

    @property
    def offer(self) -> SpeechOffer:
        """What requests may ask of this deployment (the speech and the jobs routes check it)."""
        return SpeechOffer(self.models, self.voice_aliases, self.pcm_sample_rate, self.maya1)

    @property
    def auth_enabled(self) -> bool:
        return self.keys_file is not None or self.keys_in_redis or self.jwt.enabled
