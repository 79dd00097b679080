"""A client of the gateway's realtime speech socket (docs/realtime.md): feed text as it is
written, get audio as it is ready. Sync and asyncio twins over the `websockets` library (the
distribution's `realtime` extra).

    with RealtimeSession("http://127.0.0.1:8080", api_key=key, format="pcm") as session:
        for piece in llm_tokens:
            session.send_text(piece)
        session.flush()
        for audio in session.audio():  # the turn's bytes, until it is fully spoken
            play(audio)
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

from tritontts_client import contract as c
from tritontts_client.errors import (
    AccessDeniedError,
    InvalidRequestError,
    OverloadedError,
    ServerError,
    ServerUnavailableError,
    TTSError,
)


class RealtimeError(TTSError):
    """An error message of the socket: `code` says which (contract.RT_* codes)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


@dataclass(frozen=True)
class Event:
    """One message of the socket: `audio` for binary frames, else the JSON message."""

    type: str  # "audio" or a contract.RT_* server message type
    audio: bytes = b""
    message: dict[str, Any] = field(default_factory=dict)


AUDIO = "audio"


def socket_url(url: str) -> str:
    """ws(s)://.../v1/audio/speech/stream from the gateway's base URL (http, https or ws)."""
    base = url.rstrip("/")
    for plain, secure in (("http://", "ws://"), ("https://", "wss://")):
        if base.startswith(plain):
            base = secure + base[len(plain):]
    if not base.startswith(("ws://", "wss://")):
        base = "ws://" + base
    return base if base.endswith(c.REALTIME_ROUTE) else base + c.REALTIME_ROUTE


def config_message(voice: str | None, format: str, sample_rate: int | None, speed: float,
                   timestamps: bool, tail_after_ms: int | None) -> str:
    config: dict[str, Any] = {"type": c.RT_CONFIG, "format": format, "speed": speed,
                              "timestamps": timestamps}
    for name, value in (("voice", voice), ("sample_rate", sample_rate),
                        ("tail_after_ms", tail_after_ms)):
        if value is not None:
            config[name] = value
    return json.dumps(config)


def read_frame(frame: str | bytes) -> Event:
    if isinstance(frame, bytes):
        return Event(AUDIO, audio=frame)
    message = json.loads(frame)
    return Event(str(message.get("type")), message=message)


def refusal(exc: Exception) -> TTSError:
    """A refused upgrade (websockets' InvalidStatus) as the client's errors."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", 0)
    try:
        body = json.loads(bytes(getattr(response, "body", b"") or b"{}"))
        message = body["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = str(exc)
    if status in (401, 403):
        return AccessDeniedError(f"the gateway refused the socket ({status}): {message}")
    if status == 429:
        return OverloadedError(f"the gateway refused the socket (429): {message}")
    if status in (502, 503, 504):
        return ServerUnavailableError(f"the gateway refused the socket ({status}): {message}")
    if status == 400:
        return InvalidRequestError(message)
    return ServerError(f"the socket could not open: {message}")


class _Turns:
    """What both sessions keep: the configuration in force, word timestamps heard."""

    ready: dict[str, Any]
    words: list[dict[str, Any]]

    def _take(self, event: Event, until: tuple[str, ...]) -> bool:
        """Whether the iteration of a turn's audio ends with this event; raises on errors."""
        if event.type == c.RT_ERROR:
            raise RealtimeError(str(event.message.get("code")),
                                str(event.message.get("message")))
        if event.type == c.RT_WORDS:
            self.words.extend(event.message["words"])
        if event.type == c.RT_READY:
            self.ready = event.message
        return event.type in until


class RealtimeSession(_Turns):
    """The sync session (websockets' threading client)."""

    def __init__(self, url: str, *, api_key: str | None = None, voice: str | None = None,
                 format: str = "pcm", sample_rate: int | None = None, speed: float = 1.0,
                 timestamps: bool = False, tail_after_ms: int | None = None,
                 open_timeout_s: float = 30.0) -> None:
        from websockets.exceptions import InvalidStatus
        from websockets.sync.client import connect

        headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
        try:
            self._ws = connect(socket_url(url), additional_headers=headers,
                               open_timeout=open_timeout_s).__enter__()
        except InvalidStatus as exc:
            raise refusal(exc) from None
        self.words = []
        self.ready = {}
        self._ws.send(config_message(voice, format, sample_rate, speed, timestamps,
                                     tail_after_ms))
        try:  # the socket's defaults, then the answer to this config
            for _ in range(2):
                self._take(self.next_event(open_timeout_s), ())
        except BaseException:
            self._ws.close()
            raise

    def __enter__(self) -> RealtimeSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send_text(self, text: str) -> None:
        self._ws.send(json.dumps({"type": c.RT_TEXT, "text": text}))

    def flush(self) -> None:
        self._ws.send(json.dumps({"type": c.RT_FLUSH}))

    def clear(self) -> None:
        self._ws.send(json.dumps({"type": c.RT_CLEAR}))

    def next_event(self, timeout_s: float | None = None) -> Event:
        return read_frame(self._ws.recv(timeout=timeout_s))

    def events(self, timeout_s: float | None = None) -> Iterator[Event]:
        while True:
            yield self.next_event(timeout_s)

    def audio(self, timeout_s: float | None = 120.0) -> Iterator[bytes]:
        """The audio of the turns sent so far, until a turn is fully spoken (`flushed`) or
        cleared; error messages are raised as RealtimeError."""
        for event in self.events(timeout_s):
            if event.type == AUDIO:
                yield event.audio
            elif self._take(event, (c.RT_FLUSHED, c.RT_CLEARED)):
                return

    def speak(self, pieces: list[str] | Iterator[str]) -> bytes:
        """Send the pieces as one turn, flush, and return its audio."""
        for piece in pieces:
            self.send_text(piece)
        self.flush()
        return b"".join(self.audio())

    def close(self) -> None:
        """`close`: the gateway speaks what is left, then closes (pending audio is dropped
        here)."""
        from websockets.exceptions import ConnectionClosed

        with contextlib.suppress(ConnectionClosed):
            self._ws.send(json.dumps({"type": c.RT_CLOSE}))
        self._ws.close()


class AsyncRealtimeSession(_Turns):
    """The asyncio session: `session = await AsyncRealtimeSession.open(url, ...)`, or
    `async with AsyncRealtimeSession.open(url, ...) as session`."""

    def __init__(self, ws: Any) -> None:
        self._ws = ws
        self.words = []
        self.ready = {}

    @classmethod
    def open(cls, url: str, **options: Any) -> _Opener:
        return _Opener(url, options)

    async def send_text(self, text: str) -> None:
        await self._ws.send(json.dumps({"type": c.RT_TEXT, "text": text}))

    async def flush(self) -> None:
        await self._ws.send(json.dumps({"type": c.RT_FLUSH}))

    async def clear(self) -> None:
        await self._ws.send(json.dumps({"type": c.RT_CLEAR}))

    async def next_event(self) -> Event:
        return read_frame(await self._ws.recv())

    async def events(self) -> AsyncIterator[Event]:
        while True:
            yield await self.next_event()

    async def audio(self) -> AsyncIterator[bytes]:
        """As RealtimeSession.audio."""
        while True:
            event = await self.next_event()
            if event.type == AUDIO:
                yield event.audio
            elif self._take(event, (c.RT_FLUSHED, c.RT_CLEARED)):
                return

    async def speak(self, pieces: list[str]) -> bytes:
        for piece in pieces:
            await self.send_text(piece)
        await self.flush()
        return b"".join([audio async for audio in self.audio()])

    async def close(self) -> None:
        from websockets.exceptions import ConnectionClosed

        with contextlib.suppress(ConnectionClosed):
            await self._ws.send(json.dumps({"type": c.RT_CLOSE}))
        await self._ws.close()


class _Opener:
    """Awaitable and async context manager, as websockets' own `connect`."""

    def __init__(self, url: str, options: dict[str, Any]) -> None:
        self.url, self.options = url, options
        self.session: AsyncRealtimeSession | None = None

    def __await__(self):  # type: ignore[no-untyped-def]
        return self._open().__await__()

    async def __aenter__(self) -> AsyncRealtimeSession:
        self.session = await self._open()
        return self.session

    async def __aexit__(self, *exc: object) -> None:
        if self.session is not None:
            await self.session.close()

    async def _open(self) -> AsyncRealtimeSession:
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidStatus

        options = dict(self.options)
        api_key = options.pop("api_key", None)
        open_timeout_s = options.pop("open_timeout_s", 30.0)
        config = config_message(options.pop("voice", None), options.pop("format", "pcm"),
                                options.pop("sample_rate", None), options.pop("speed", 1.0),
                                options.pop("timestamps", False),
                                options.pop("tail_after_ms", None))
        if options:
            raise TypeError(f"unknown options: {', '.join(options)}")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
        try:
            ws = await connect(socket_url(self.url), additional_headers=headers,
                               open_timeout=open_timeout_s)
        except InvalidStatus as exc:
            raise refusal(exc) from None
        session = AsyncRealtimeSession(ws)
        try:
            await ws.send(config)
            for _ in range(2):
                session._take(await session.next_event(), ())
        except BaseException:
            await ws.close()
            raise
        return session
