"""The tritontts client: `TTSClient(url, protocol).synthesize(text)` → `Synthesis`."""

from tritontts.client.client import Synthesis, SynthesisRequest, TTSClient
from tritontts.client.errors import (
    InvalidRequestError,
    ServerError,
    ServerUnavailableError,
    TTSError,
)

__all__ = [
    "InvalidRequestError",
    "ServerError",
    "ServerUnavailableError",
    "Synthesis",
    "SynthesisRequest",
    "TTSClient",
    "TTSError",
]
