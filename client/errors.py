"""Errors of the tritontts client: one base class, mapped from Triton's status codes."""

from __future__ import annotations


class TTSError(Exception):
    """Base of every error the client raises."""


class InvalidRequestError(TTSError):
    """The request was refused as sent (bad text or option); do not retry it unchanged."""


class ServerUnavailableError(TTSError):
    """The server could not be reached or is not ready; retrying later may succeed."""


class ServerError(TTSError):
    """The server failed the request for a reason of its own."""


_INVALID = ("INVALID_ARG", "400")
_UNAVAILABLE = ("UNAVAILABLE", "DEADLINE_EXCEEDED", "503", "UNKNOWN")


def from_triton(exc: Exception) -> TTSError:
    """Map a tritonclient InferenceServerException (gRPC or HTTP) to a TTSError."""
    status = str(getattr(exc, "status", lambda: "")() or "")
    message = getattr(exc, "message", lambda: str(exc))() or str(exc)
    if not status:
        # Stream errors carry no status; tritontts puts the code first: "INVALID_ARG: ...".
        code, separator, rest = message.partition(": ")
        if separator and code.isupper() and code.replace("_", "").isalpha():
            status, message = code, rest
    if any(code in status for code in _INVALID):
        return InvalidRequestError(message)
    if any(code in status for code in _UNAVAILABLE) or "connect" in message.lower():
        return ServerUnavailableError(message)
    return ServerError(f"{message} (status {status})" if status else message)
