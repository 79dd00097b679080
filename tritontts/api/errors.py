"""Errors in OpenAI's envelope: `{"error": {"message", "type", "param", "code"}}`."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from tritontts_client.contract import RETRY_AFTER_HEADER
from tritontts_client.errors import (
    AccessDeniedError,
    DeadlineExceededError,
    InvalidRequestError,
    OverloadedError,
    ServerUnavailableError,
    TTSError,
)


class APIError(Exception):
    def __init__(self, status: int, message: str, type_: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None,
                 retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = (
            status, message, type_, param, code)
        self.retry_after_s = retry_after_s

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param,
                          "code": self.code}}

    def response(self, headers: dict[str, str] | None = None) -> JSONResponse:
        headers = dict(headers or {})
        if self.retry_after_s is not None:
            # Whole seconds, rounded up: a client that waits that long is let in.
            headers[RETRY_AFTER_HEADER] = str(max(1, int(-(-self.retry_after_s // 1))))
        return JSONResponse(self.body(), status_code=self.status, headers=headers)


def bad_request(message: str, param: str | None = None, code: str | None = None) -> APIError:
    return APIError(400, message, "invalid_request_error", param, code)


def unauthorized(message: str, code: str = "invalid_api_key") -> APIError:
    return APIError(401, message, "authentication_error", None, code)


def forbidden(message: str) -> APIError:
    return APIError(403, message, "permission_error", None, "insufficient_scope")


def too_many(message: str, code: str, retry_after_s: float) -> APIError:
    return APIError(429, message, "rate_limit_error", None, code, retry_after_s)


def from_tts_error(exc: TTSError) -> APIError:
    """What a Triton refusal becomes for the gateway's caller."""
    if isinstance(exc, InvalidRequestError):  # Triton's INVALID_ARG message, passed through
        return bad_request(str(exc), code="invalid_input")
    if isinstance(exc, OverloadedError):
        return APIError(503, f"the speech server is at capacity: {exc}", "server_error",
                        code="overloaded", retry_after_s=1)
    if isinstance(exc, DeadlineExceededError):
        return APIError(504, f"the speech server did not answer in time: {exc}",
                        "server_error", code="timeout")
    if isinstance(exc, ServerUnavailableError):
        return APIError(503, f"the speech server is unavailable: {exc}", "server_error",
                        code="unavailable", retry_after_s=1)
    if isinstance(exc, AccessDeniedError):  # the gateway's own Triton key is wrong
        return APIError(502, "the gateway was refused by the speech server", "server_error",
                        code="upstream_access_denied")
    return APIError(502, f"the speech server failed the request: {exc}", "server_error",
                    code="upstream_error")
