"""ASGI middleware (pure ASGI, so that streamed responses pass through untouched): a request
id on every response, the body size limit (413), and the request metrics."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from tritontts.api.errors import APIError
from tritontts.gateway.metrics import GatewayMetrics
from tritontts_client.contract import GATEWAY_ROUTES, REQUEST_ID_HEADER

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
KNOWN_ROUTES = (*GATEWAY_ROUTES, "/")


class GatewayMiddleware:
    def __init__(self, app: Any, metrics: GatewayMetrics, max_body_bytes: int,
                 path_body_limits: dict[str, int] | None = None) -> None:
        self.app, self.metrics, self.max_body_bytes = app, metrics, max_body_bytes
        # Routes that take larger bodies (job submissions): path -> limit.
        self.path_body_limits = path_body_limits or {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        given = headers.get(REQUEST_ID_HEADER, "")
        request_id = given if _SAFE_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        route = scope["path"] if scope["path"] in KNOWN_ROUTES else "other"
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"],
                                      (REQUEST_ID_HEADER.encode(), request_id.encode())]
            await send(message)

        limit = self.path_body_limits.get(scope["path"], self.max_body_bytes)
        try:
            length = headers.get("content-length", "")
            if length.isdigit() and int(length) > limit:
                response = self._too_large(limit).response()
                await response(scope, receive, send_with_id)
                return
            await self.app(scope, self._limited(receive, limit), send_with_id)
        finally:
            self.metrics.requests.labels(route, str(status or 499)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - started)

    def _too_large(self, limit: int) -> APIError:
        self.metrics.refusals.labels("body_too_large").inc()
        return APIError(413, f"the request body is larger than {limit} bytes",
                        "invalid_request_error", None, "request_too_large")

    def _limited(self, receive: Any, limit: int) -> Any:
        """A body sent without Content-Length is counted as it arrives."""
        seen = 0

        async def receive_limited() -> dict[str, Any]:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise self._too_large(limit)
            return message

        return receive_limited
