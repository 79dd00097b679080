"""The socket's speech session without a server: a stand-in speech client whose later sentences
finish first shows that audio still leaves in text order, with the pauses between sentences,
and that clear cancels every stream at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np
import pytest

from tritontts.gateway.metrics import GatewayMetrics
from tritontts.gateway.realtime.protocol import default_config
from tritontts.gateway.realtime.session import SpeechSession, pause_samples
from tritontts.gateway.settings import GatewaySettings
from tritontts_client import AudioChunk
from tritontts_client import contract as c

RATE = 16000
PAUSE_S = 0.2


class SlowFirstClient:
    """Each sentence is two chunks of a constant value (its number); the first sentence takes
    longest, so with several streams at once the later ones finish first."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.cancelled: list[str] = []

    async def stream(self, text: str, **_: object) -> AsyncIterator[AudioChunk]:
        number = len(self.started) + 1
        self.started.append(text)
        try:
            for index in range(2):
                await asyncio.sleep(0.2 if number == 1 else 0.1)
                yield AudioChunk(np.full(100, number / 100, np.float32), RATE, index,
                                 final=index == 1)
        except (asyncio.CancelledError, GeneratorExit):
            self.cancelled.append(text)
            raise


def session_with(client: SlowFirstClient, ahead: int) -> tuple[SpeechSession, list]:
    frames: list = []

    async def send(frame: object) -> None:
        frames.append(frame)

    config = default_config(GatewaySettings(pcm_sample_rate=RATE))
    return SpeechSession(client, config, PAUSE_S, GatewayMetrics(), send,  # type: ignore[arg-type]
                         ahead=ahead), frames


@pytest.mark.parametrize("ahead", [1, 3])
def test_audio_leaves_in_text_order_with_the_pauses(ahead: int) -> None:
    async def run() -> tuple[list, SlowFirstClient]:
        client = SlowFirstClient()
        session, frames = session_with(client, ahead)
        session.feed("One. Two. Three. ")
        session.flush()
        await session.finish()
        await session.close()
        return frames, client

    frames, client = asyncio.run(run())
    assert client.started == ["One.", "Two.", "Three."]
    audio = np.frombuffer(b"".join(f for f in frames if isinstance(f, bytes)), "<i2")
    pause = pause_samples(PAUSE_S, RATE)
    values = [round(v / 32767 * 100) for v in audio]
    assert values == [1] * 200 + [0] * pause + [2] * 200 + [0] * pause + [3] * 200
    kinds = [f["type"] for f in frames if isinstance(f, dict)]
    assert kinds == [c.RT_AUDIO_START, c.RT_FLUSHED]


def test_clear_cancels_every_stream_and_says_which_turns_were_cut() -> None:
    async def run() -> tuple[list, SlowFirstClient]:
        client = SlowFirstClient()
        session, frames = session_with(client, ahead=3)
        session.feed("One. Two. Three. ")
        session.flush()
        session.feed("Four is still being wri")
        await asyncio.sleep(0.02)  # streams under way, nothing finished
        await session.clear()
        await session.outbox.drained()
        await session.close()
        return frames, client

    frames, client = asyncio.run(run())
    assert sorted(client.cancelled) == sorted(client.started) == ["One.", "Three.", "Two."]
    assert frames[-1] == {"type": c.RT_CLEARED, "turns": [1, 2]}
    assert not [f for f in frames if isinstance(f, dict) and f["type"] == c.RT_FLUSHED]
