"""The tritontts client: `TTSClient(url, protocol).synthesize(text)` → `Synthesis`."""

from tritontts_client.client import (
    AsyncTTSClient,
    AudioChunk,
    Synthesis,
    SynthesisRequest,
    TLSConfig,
    TTSClient,
    WordTiming,
)
from tritontts_client.errors import (
    AccessDeniedError,
    DeadlineExceededError,
    InvalidRequestError,
    OverloadedError,
    ServerError,
    ServerUnavailableError,
    TTSError,
)
from tritontts_client.realtime import AsyncRealtimeSession, RealtimeError, RealtimeSession
from tritontts_client.retry import NO_RETRY, RetryPolicy, RetryThrottle

__all__ = [
    "NO_RETRY",
    "AccessDeniedError",
    "AsyncRealtimeSession",
    "AsyncTTSClient",
    "AudioChunk",
    "DeadlineExceededError",
    "InvalidRequestError",
    "OverloadedError",
    "RealtimeError",
    "RealtimeSession",
    "RetryPolicy",
    "RetryThrottle",
    "ServerError",
    "ServerUnavailableError",
    "Synthesis",
    "SynthesisRequest",
    "TLSConfig",
    "TTSClient",
    "TTSError",
    "WordTiming",
]
