"""The tritontts client: `TTSClient(url, protocol).synthesize(text)` → `Synthesis`."""

from tritontts.client.client import (
    AsyncTTSClient,
    AudioChunk,
    Synthesis,
    SynthesisRequest,
    TTSClient,
)
from tritontts.client.errors import (
    InvalidRequestError,
    ServerError,
    ServerUnavailableError,
    TTSError,
)

__all__ = [
    "AsyncTTSClient",
    "AudioChunk",
    "InvalidRequestError",
    "ServerError",
    "ServerUnavailableError",
    "Synthesis",
    "SynthesisRequest",
    "TTSClient",
    "TTSError",
]
