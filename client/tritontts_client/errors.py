"""Errors of the tritontts client: one base class, mapped from Triton's status codes."""

from __future__ import annotations

from tritontts_client.contract import INVALID_ARG, STREAM_CODE_SEPARATOR


class TTSError(Exception):
    """Base of every error the client raises."""


class InvalidRequestError(TTSError):
    """The request was refused as sent (bad text or option); do not retry it unchanged."""


class AccessDeniedError(TTSError):
    """The server wants a key (header) this client did not send, or a different one, or the
    TLS handshake failed on a certificate that could not be verified."""


class ServerUnavailableError(TTSError):
    """The server could not be reached or is not ready; retrying later may succeed."""


class OverloadedError(ServerUnavailableError):
    """The server is at capacity and refused the request (a stage queue was full, or the
    request waited there longer than the stage allows); retry after a pause."""


class DeadlineExceededError(ServerUnavailableError):
    """No answer within the call's deadline (retries included)."""


class ServerError(TTSError):
    """The server failed the request for a reason of its own."""


_INVALID = (INVALID_ARG, "400")
# CANCELLED from the server: it shut down with the call open (the client never cancels a
# unary call itself).
_UNAVAILABLE = ("UNAVAILABLE", "503", "UNKNOWN", "CANCELLED")
# What Triton says when a stage's queue policy refuses a request. Through the ensemble the
# status is UNAVAILABLE; through a stream (BLS) only the message survives, so match on it.
_OVERLOAD_MESSAGES = ("exceeds maximum queue size", "request timeout expired")
# A stage being reloaded or a server draining: the model is there but not serving right now.
_TRANSIENT_MESSAGES = ("is not healthy", "has no available versions", "server is stopping",
                       "connect", "socket closed")
_ACCESS_MESSAGES = ("this protocol is restricted", "this api is restricted",
                    "handshake failed")


def classify(status: str, message: str) -> type[TTSError]:
    """The TTSError class for a Triton status (gRPC or HTTP) and message."""
    lowered = message.lower()
    if any(code in status for code in _INVALID):
        return InvalidRequestError
    if any(m in lowered for m in _ACCESS_MESSAGES):
        return AccessDeniedError
    if any(m in lowered for m in _OVERLOAD_MESSAGES):
        return OverloadedError
    if "DEADLINE_EXCEEDED" in status or "deadline exceeded" in lowered:
        return DeadlineExceededError
    if any(code in status for code in _UNAVAILABLE) or any(
            m in lowered for m in _TRANSIENT_MESSAGES):
        return ServerUnavailableError
    return ServerError


def from_triton(exc: Exception) -> TTSError:
    """Map a tritonclient InferenceServerException (gRPC or HTTP) to a TTSError."""
    status = str(getattr(exc, "status", lambda: "")() or "")
    message = getattr(exc, "message", lambda: str(exc))() or str(exc)
    if not status:
        # Stream errors carry no status; tritontts puts the code first: "INVALID_ARG: ...".
        code, separator, rest = message.partition(STREAM_CODE_SEPARATOR)
        if separator and code.isupper() and code.replace("_", "").isalpha():
            status, message = code, rest
    kind = classify(status, message)
    if kind is ServerError and status:
        return ServerError(f"{message} (status {status})")
    return kind(message)
