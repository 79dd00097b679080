"""The realtime socket's route: the gate at the upgrade (key or JWT from the header or the
query, the request rate, the replica's and the caller's concurrency), then the caller's
messages until `close`, a disconnect or the idle timeout. Bad messages get error messages and
the socket goes on."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from fastapi import FastAPI, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from tritontts.api.errors import APIError, from_tts_error
from tritontts.api.scopes import SCOPE_SPEECH
from tritontts.gateway.auth import Principal
from tritontts.gateway.realtime.protocol import (
    ConfigMessage,
    ProtocolError,
    TextMessage,
    default_config,
    error_message,
    parse_message,
    resolve_config,
)
from tritontts.gateway.realtime.session import Frame, SpeechSession
from tritontts.text.reader import SENTENCE_PAUSE_S
from tritontts_client import AccessDeniedError, TTSError
from tritontts_client import contract as c

log = logging.getLogger(__name__)


def add_realtime_route(app: FastAPI) -> None:
    @app.websocket(c.REALTIME_ROUTE)
    async def realtime(websocket: WebSocket) -> None:
        gateway = websocket.app.state.gateway
        try:
            caller = await _admit(gateway, websocket)
            pause_s = await _sentence_pause(gateway)
            async with gateway.limits.slot(caller):  # held for the socket's life
                await websocket.accept()
                await _serve(gateway, caller, websocket, pause_s)
        except APIError as exc:
            if exc.status in (401, 403):
                gateway.metrics.refusals.labels(f"auth_{exc.status}").inc()
            await _refuse(websocket, exc)


async def _admit(gateway: Any, websocket: WebSocket) -> Principal:
    authorization = websocket.headers.get("authorization")
    token = websocket.query_params.get(c.REALTIME_TOKEN_QUERY)
    if authorization is None and token:
        authorization = f"Bearer {token}"
    caller = await gateway.auth.authenticate(authorization)
    caller.require(SCOPE_SPEECH)
    await gateway.limits.check_requests(caller)
    return caller


async def _sentence_pause(gateway: Any) -> float:
    """The stream model's pause between sentences, asked once (the socket puts it between
    segments as the model puts it between the sentences of one request)."""
    if gateway.sentence_pause_s is None:
        configured = gateway.settings.realtime.sentence_pause_s
        if configured is None:
            try:
                parameters = await gateway.client.model_parameters()
                configured = float(parameters.get(c.PARAM_SENTENCE_PAUSE_S, SENTENCE_PAUSE_S))
            except AccessDeniedError:  # model-config is an admin API of this Triton
                log.warning("realtime: the model configuration is not readable; sentences "
                            "are joined with the default %.2f s pause (--sentence-pause-s "
                            "sets another)", SENTENCE_PAUSE_S)
                configured = SENTENCE_PAUSE_S
            except TTSError as exc:
                raise from_tts_error(exc) from None
        gateway.sentence_pause_s = configured
    return gateway.sentence_pause_s


async def _refuse(websocket: WebSocket, exc: APIError) -> None:
    """Before the upgrade: the HTTP status and OpenAI's error body; after it: an error message
    and a policy close."""
    if websocket.application_state == WebSocketState.CONNECTING:
        await websocket.send_denial_response(exc.response())
        return
    with contextlib.suppress(Exception):
        await websocket.send_json(error_message(exc.code or "refused", exc.message))
        await websocket.close(c.RT_CLOSE_POLICY, exc.message[:120])


async def _serve(gateway: Any, caller: Principal, websocket: WebSocket, pause_s: float) -> None:
    settings, metrics = gateway.settings, gateway.metrics
    limits = settings.realtime

    async def send(frame: Frame) -> None:
        if isinstance(frame, bytes):
            await websocket.send_bytes(frame)
        else:
            await websocket.send_text(json.dumps(frame, separators=(",", ":")))

    # Every frame leaves through the session's outbox: one sender, in order.
    session = SpeechSession(gateway.client, default_config(settings), pause_s, metrics, send,
                            ahead=limits.ahead, max_segment_chars=limits.max_segment_chars)
    metrics.sockets_open.inc()
    try:
        await session.outbox.put(session.config.ready_message())
        if await _messages(gateway, caller, websocket, session):
            await session.finish()
            await websocket.close(c.RT_CLOSE_NORMAL)
    except WebSocketDisconnect:
        pass
    finally:
        metrics.sockets_open.dec()
        await session.close()


async def _messages(gateway: Any, caller: Principal, websocket: WebSocket,
                    session: SpeechSession) -> bool:
    """The caller's messages until `close` (True) or the end of the socket (False)."""
    limits = gateway.settings.realtime
    last_message = time.monotonic()
    while True:
        tail_s = session.config.tail_after_s
        waiting_text = bool(session.text.pending.strip()) and tail_s > 0
        try:
            message = await asyncio.wait_for(websocket.receive(),
                                             tail_s if waiting_text else limits.idle_timeout_s)
        except TimeoutError:
            if waiting_text:
                session.tail()  # the writer has paused mid-sentence: speak what there is
            elif not session.busy and (
                    time.monotonic() - last_message >= limits.idle_timeout_s):
                await session.outbox.put(error_message(
                    c.RT_IDLE_TIMEOUT,
                    f"nothing was sent for {limits.idle_timeout_s:g} s; closing"))
                await session.outbox.drained()
                await websocket.close(c.RT_CLOSE_IDLE, "idle timeout")
                return False
            continue
        if message["type"] == "websocket.disconnect":
            return False
        last_message = time.monotonic()
        try:
            if await _handle(gateway, caller, session, message.get("text")):
                return True
        except ProtocolError as exc:
            await session.outbox.put(error_message(exc.code, str(exc)))


async def _handle(gateway: Any, caller: Principal, session: SpeechSession,
                  raw: str | None) -> bool:
    """One message; True for `close`."""
    limits = gateway.settings.realtime
    if raw is None:
        raise ProtocolError(c.RT_INVALID_MESSAGE,
                            "messages are JSON text frames; binary frames are not taken")
    if len(raw.encode("utf-8")) > limits.max_message_bytes:
        raise ProtocolError(c.RT_MESSAGE_TOO_LARGE,
                            f"a message may have at most {limits.max_message_bytes} bytes")
    parsed = parse_message(raw)
    if isinstance(parsed, ConfigMessage):
        if session.busy:
            raise ProtocolError(c.RT_TURN_IN_PROGRESS,
                                "the config changes between turns: wait for the turn's "
                                "`flushed` (or clear it) first")
        session.config = resolve_config(parsed, gateway.settings)
        await session.outbox.put(session.config.ready_message())
    elif isinstance(parsed, TextMessage):
        await _take_text(gateway, caller, session, parsed.text)
    elif parsed.type == c.RT_FLUSH:
        session.flush()
    elif parsed.type == c.RT_CLEAR:
        await session.clear()
    else:
        return True
    return False


async def _take_text(gateway: Any, caller: Principal, session: SpeechSession,
                     text: str) -> None:
    if len(text) + session.pending_chars > gateway.settings.realtime.max_pending_chars:
        raise ProtocolError(c.RT_BUFFER_FULL,
                            f"more than {gateway.settings.realtime.max_pending_chars} "
                            "characters would wait to be spoken; the piece was dropped")
    if text:
        try:
            await gateway.limits.check_characters(caller, len(text))
        except APIError as exc:
            raise ProtocolError(c.RT_QUOTA_EXCEEDED,
                                f"{exc.message}; the piece was dropped") from None
    session.feed(text)
