"""The realtime socket against a running gateway and Triton, through a real WebSocket client
(`websockets`): text split like a language model's tokens (abbreviations and numbers across
pieces), flush, several turns, word timestamps, clear mid-sentence, a client that leaves, bad
frames, and a turn's audio equal to the speech route's for the same text, sample for sample."""

from __future__ import annotations

import asyncio
import io
import json
import random
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import av
import httpx
import numpy as np
import pytest
from websockets.sync.client import ClientConnection, connect

from tritontts.serving.server import TritonServer
from tritontts_client import AsyncRealtimeSession, RealtimeError, RealtimeSession
from tritontts_client import contract as c

from gateway_servers import running_gateway
from helpers import settled_metric

pytestmark = pytest.mark.e2e

TEXT = ("Dr. Smith paid 3.5 dollars for it at 5 p.m. on Monday. Then he left for Main St. "
        "and walked home! Was it far? Not at all.\n\nA new paragraph begins here. It ends.")
LONG_TEXT = " ".join(["This sentence is one of many that keep the speech server busy for a "
                      "while, so that a clear can come in the middle."] * 6)


@pytest.fixture(scope="module")
def gateway(server: TritonServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("gateway-realtime") / "gateway.log"
    # No noise: the same text gives the same audio, so a turn can equal the speech route.
    with running_gateway(server.grpc_url, "--noise-scale", "0", "--noise-w", "0",
                         "--rate", "100/second", "--concurrency", "8", log=log) as url:
        yield url


def socket_url(http_url: str, **query: str) -> str:
    url = http_url.replace("http://", "ws://") + c.REALTIME_ROUTE
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def tokens(text: str, seed: int = 0) -> list[str]:
    """Pieces as a language model sends them: words with their space, some cut in two."""
    rng = random.Random(seed)
    pieces = []
    for word in re.findall(r"\s*\S+", text):
        cut = rng.randint(1, max(1, len(word) - 1)) if rng.random() < 0.6 else len(word)
        pieces += [word[:cut], word[cut:]]
    return [p for p in pieces if p]


@dataclass
class Received:
    audio: bytes = b""
    messages: list[dict[str, Any]] = field(default_factory=list)
    frames: list[tuple[float, Any]] = field(default_factory=list)  # (arrival, frame)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == kind]


def receive_until(ws: ClientConnection, kind: str, timeout_s: float = 120) -> Received:
    """Frames until a JSON message of `kind` arrives (included)."""
    got = Received()
    deadline = time.monotonic() + timeout_s
    while True:
        frame = ws.recv(timeout=max(0.1, deadline - time.monotonic()))
        got.frames.append((time.perf_counter(), frame))
        if isinstance(frame, bytes):
            got.audio += frame
            continue
        message = json.loads(frame)
        got.messages.append(message)
        if message["type"] == kind:
            return got


def send(ws: ClientConnection, kind: str, **fields: Any) -> None:
    ws.send(json.dumps({"type": kind, **fields}))


def send_turn(ws: ClientConnection, pieces: list[str]) -> None:
    for piece in pieces:
        send(ws, c.RT_TEXT, text=piece)
    send(ws, c.RT_FLUSH)


def speak_turn(ws: ClientConnection, pieces: list[str]) -> Received:
    send_turn(ws, pieces)
    return receive_until(ws, c.RT_FLUSHED)


def plain_route(gateway: str, text: str, fmt: str, **extra: Any) -> httpx.Response:
    response = httpx.post(gateway + "/v1/audio/speech", timeout=120, json={
        "model": "tts-1", "voice": "alloy", "input": text, "response_format": fmt, **extra})
    assert response.status_code == 200, response.text
    return response


def pcm_samples(data: bytes, fmt: str) -> np.ndarray:
    if fmt == "pcm":
        return np.frombuffer(data, "<i2")
    with av.open(io.BytesIO(data)) as container:
        return np.concatenate([f.to_ndarray().reshape(-1)
                               for f in container.decode(container.streams.audio[0])])


@pytest.mark.parametrize("fmt", ["wav", "pcm"])
def test_a_token_split_turn_is_the_speech_route_sample_for_sample(gateway: str,
                                                                  fmt: str) -> None:
    with connect(socket_url(gateway)) as ws:
        ready = json.loads(ws.recv(timeout=30))
        assert ready["type"] == c.RT_READY and ready["format"] == "pcm"
        send(ws, c.RT_CONFIG, voice="alloy", format=fmt)
        assert json.loads(ws.recv(timeout=30))["format"] == fmt
        turn = speak_turn(ws, tokens(TEXT))
    start = turn.of_type(c.RT_AUDIO_START)
    assert len(start) == 1 and start[0]["format"] == fmt
    assert turn.of_type(c.RT_FLUSHED)[0]["turn"] == 1
    assert not turn.of_type(c.RT_ERROR)
    whole = plain_route(gateway, TEXT, fmt).content
    ours, theirs = pcm_samples(turn.audio, fmt), pcm_samples(whole, fmt)
    assert len(ours) == len(theirs)
    np.testing.assert_array_equal(ours, theirs)
    assert turn.audio == whole


@pytest.mark.parametrize("law", ["mulaw", "alaw"])
def test_phone_line_audio_on_the_socket(gateway: str, law: str) -> None:
    """G.711 for a telephony bridge: raw 8 kHz bytes that decode (FFmpeg) to the length of the
    voice's audio at 8 kHz, the same bytes the speech route sends for the same text."""
    text = "Your table for two is booked for Friday at 7 p.m. Goodbye."
    with connect(socket_url(gateway)) as ws:
        ws.recv(timeout=30)
        send(ws, c.RT_CONFIG, format=law)
        ready = json.loads(ws.recv(timeout=30))
        assert (ready["format"], ready["sample_rate"]) == (law, 8000)
        turn = speak_turn(ws, tokens(text, 3))
    with av.open(io.BytesIO(turn.audio), format=law,
                 options={"sample_rate": "8000"}) as container:
        stream = container.streams.audio[0]
        decoded = np.concatenate([f.to_ndarray().reshape(-1)
                                  for f in container.decode(stream)])
        assert stream.codec_context.sample_rate == 8000
        assert stream.codec_context.name == f"pcm_{law}"
    wav = plain_route(gateway, text, "wav").content
    voice = pcm_samples(wav, "wav")
    with av.open(io.BytesIO(wav)) as container:
        voice_rate = container.streams.audio[0].codec_context.sample_rate
    assert abs(len(decoded) - len(voice) * 8000 / voice_rate) <= 2, (len(decoded), len(voice))
    assert turn.audio == plain_route(gateway, text, law).content


def test_several_turns_with_word_timestamps(gateway: str) -> None:
    first, second = "Hello there. This is the first turn.", "And the second one, 2.5 times."
    with connect(socket_url(gateway)) as ws:
        ws.recv(timeout=30)
        send(ws, c.RT_CONFIG, format="wav", timestamps=True)
        ws.recv(timeout=30)
        turns = [speak_turn(ws, tokens(first, 1)), speak_turn(ws, tokens(second, 2))]
    for number, (turn, text) in enumerate(zip(turns, (first, second), strict=True), 1):
        assert turn.of_type(c.RT_FLUSHED)[0]["turn"] == number
        words = [w for m in turn.of_type(c.RT_WORDS) for w in m["words"]]
        expected = plain_route(gateway, text, "wav", timestamps=True).json()
        assert words == expected["words"]
        assert turn.audio == plain_route(gateway, text, "wav").content


def test_clear_mid_sentence_stops_the_audio_and_cancels_the_streams(
        gateway: str, server: TritonServer) -> None:
    cancelled = server.metric(c.STREAM_CANCELLED_TOTAL, c.STREAM_MODEL)
    with connect(socket_url(gateway)) as ws:
        ws.recv(timeout=30)
        send_turn(ws, tokens(LONG_TEXT))
        got = receive_until(ws, c.RT_AUDIO_START)
        first = ws.recv(timeout=60)
        assert isinstance(first, bytes)
        sent_at = time.perf_counter()
        send(ws, c.RT_CLEAR)
        after = receive_until(ws, c.RT_CLEARED, timeout_s=30)
        assert after.of_type(c.RT_CLEARED)[0]["turns"] == [1]
        assert not after.of_type(c.RT_FLUSHED)  # the cleared turn is never reported spoken
        audio_frames = [t for t, f in after.frames if isinstance(f, bytes)]
        # At most the frames already queued when the clear arrived, and soon.
        assert len(audio_frames) <= 10
        assert after.frames[-1][0] - sent_at < 2.0
        # Nothing more of the cleared turn; the socket goes on with a new turn.
        turn = speak_turn(ws, tokens("A fresh turn after the clear."))
        assert turn.of_type(c.RT_FLUSHED)[0]["turn"] == 2
        assert pcm_samples(turn.audio, "pcm").size > 0
    assert got.of_type(c.RT_AUDIO_START)
    assert settled_metric(server, c.STREAM_CANCELLED_TOTAL, cancelled + 1,
                          c.STREAM_MODEL) >= cancelled + 1
    metrics = httpx.get(gateway + "/metrics").text
    assert 'tritontts_gateway_realtime_cancellations_total{cause="clear"}' in metrics


def test_a_client_that_leaves_cancels_its_streams(gateway: str, server: TritonServer) -> None:
    cancelled = server.metric(c.STREAM_CANCELLED_TOTAL, c.STREAM_MODEL)
    with connect(socket_url(gateway)) as ws:
        ws.recv(timeout=30)
        send_turn(ws, tokens(LONG_TEXT))
        receive_until(ws, c.RT_AUDIO_START)
    assert settled_metric(server, c.STREAM_CANCELLED_TOTAL, cancelled + 1,
                          c.STREAM_MODEL) >= cancelled + 1
    deadline = time.monotonic() + 15
    while 'realtime_cancellations_total{cause="disconnect"}' not in (
            text := httpx.get(gateway + "/metrics").text) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert 'realtime_cancellations_total{cause="disconnect"}' in text
    assert "tritontts_gateway_realtime_sockets_open 0.0" in text


def test_bad_frames_get_error_messages_and_the_socket_goes_on(gateway: str) -> None:
    bad = [("not json", c.RT_INVALID_MESSAGE), ("[1, 2]", c.RT_INVALID_MESSAGE),
           ('{"type": "shout"}', c.RT_INVALID_MESSAGE),
           ('{"type": "text", "text": 5}', c.RT_INVALID_MESSAGE),
           ('{"type": "text", "text": "x", "extra": 1}', c.RT_INVALID_MESSAGE),
           ('{"type": "config", "format": "nope"}', c.RT_INVALID_CONFIG),
           ('{"type": "config", "speed": 9}', c.RT_INVALID_CONFIG),
           ('{"type": "config", "format": "mp3", "sample_rate": 7000}', c.RT_INVALID_CONFIG),
           ('{"type": "config", "model": "nope"}', c.RT_INVALID_CONFIG),
           (b"\x00\x01", c.RT_INVALID_MESSAGE)]
    with connect(socket_url(gateway)) as ws:
        ws.recv(timeout=30)
        for frame, code in bad:
            ws.send(frame)
            message = json.loads(ws.recv(timeout=30))
            assert (message["type"], message["code"]) == (c.RT_ERROR, code), (frame, message)
        send(ws, c.RT_TEXT, text="Still ")
        send(ws, c.RT_CONFIG, format="wav")  # a turn has begun: not now
        assert json.loads(ws.recv(timeout=30))["code"] == c.RT_TURN_IN_PROGRESS
        turn = speak_turn(ws, ["works."])
        assert pcm_samples(turn.audio, "pcm").size > 0
        # Nothing speakable: the speech server's refusal never comes, the turn ends empty.
        turn = speak_turn(ws, ["...", " !!"])
        assert turn.of_type(c.RT_FLUSHED)[0]["audio_seconds"] == 0


def test_a_pause_in_the_text_speaks_the_unfinished_sentence(gateway: str) -> None:
    with connect(socket_url(gateway)) as ws:
        ws.recv(timeout=30)
        send(ws, c.RT_CONFIG, tail_after_ms=300)
        ws.recv(timeout=30)
        send(ws, c.RT_TEXT, text="The writer stopped in the middle of")
        got = receive_until(ws, c.RT_AUDIO_START, timeout_s=60)  # no flush was sent
        assert got.of_type(c.RT_AUDIO_START)
        assert isinstance(ws.recv(timeout=60), bytes)


def test_the_client_sessions_sync_and_asyncio(gateway: str) -> None:
    pieces = tokens("The client feeds pieces. It gets audio back.", 3)
    expected = plain_route(gateway, "The client feeds pieces. It gets audio back.", "wav")
    with RealtimeSession(gateway, voice="alloy", format="wav") as session:
        assert session.ready["format"] == "wav"
        assert session.speak(pieces) == expected.content
        assert session.speak(pieces) == expected.content  # a second turn, the same

    async def talk() -> tuple[bytes, int]:
        async with AsyncRealtimeSession.open(gateway, format="wav") as session:
            audio = await session.speak(pieces)
            for piece in tokens(LONG_TEXT):
                await session.send_text(piece)
            await session.flush()
            async for _ in session.audio():  # the first audio, then barge in
                await session.clear()
                break
            cut = [chunk async for chunk in session.audio()]  # ends at `cleared`
            return audio, len(cut)

    audio, frames_after_clear = asyncio.run(talk())
    assert audio == expected.content
    assert frames_after_clear <= 10


def test_the_client_maps_refusals(gateway: str) -> None:
    with pytest.raises(RealtimeError) as bad, RealtimeSession(gateway, format="nope"):
        pass
    assert bad.value.code == c.RT_INVALID_CONFIG
