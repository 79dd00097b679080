"""Speech from Triton's stream model, encoded as it arrives: raw audio bytes, or OpenAI's SSE
events (`speech.audio.delta` with base64 audio, then `speech.audio.done` with usage); with
timestamps, `speech.word` events, or one JSON body of base64 audio and words."""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from tritontts.gateway.schema import ResolvedSpeech
from tritontts_client import AsyncTTSClient, ServerError, WordTiming
from tritontts_client.audio import AudioEncoder


@dataclass
class StreamTally:
    """What a stream has produced so far (for SSE usage and the logs)."""

    samples: int = 0
    sample_rate: int = 0
    audio_bytes: int = 0
    complete: bool = False
    # With timestamps: the words heard so far (times in seconds of the whole audio).
    words: list[WordTiming] = field(default_factory=list)


def word_json(word: WordTiming) -> dict[str, object]:
    return {"word": word.word, "start": round(word.start_s, 4), "end": round(word.end_s, 4)}


async def encoded_audio(client: AsyncTTSClient, speech: ResolvedSpeech,
                        tally: StreamTally) -> AsyncIterator[bytes]:
    """The encoded bytes of a speech request, piece by piece, as Triton streams the audio.
    Closing this generator early cancels the Triton stream."""
    encoder: AudioEncoder | None = None
    chunks = client.stream(speech.text, speed=speech.speed, voice=speech.voice,
                           noise_scale=speech.noise_scale, noise_w=speech.noise_w,
                           timestamps=speech.timestamps)
    async with contextlib.aclosing(chunks):
        async for chunk in chunks:
            tally.words.extend(chunk.words)
            if encoder is None:  # the voice's rate is known with the first chunk
                encoder = AudioEncoder(speech.response_format, chunk.sample_rate,
                                       speech.sample_rate, streaming=True)
                tally.sample_rate = encoder.output_rate
            tally.samples += chunk.audio.size
            data = encoder.encode(chunk.audio)
            if data:
                tally.audio_bytes += len(data)
                yield data
    if encoder is None:
        raise ServerError("the speech server sent no audio")
    tail = encoder.finish()
    tally.audio_bytes += len(tail)
    tally.complete = True
    if tail:
        yield tail


def sse_event(payload: dict[str, object]) -> bytes:
    return f"data: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()


async def sse_events(audio: AsyncIterator[bytes], speech: ResolvedSpeech,
                     tally: StreamTally) -> AsyncIterator[bytes]:
    """OpenAI's events; with timestamps, a `speech.word` event for every word before the
    first audio delta that reaches it."""
    told = 0

    def words() -> list[bytes]:
        nonlocal told
        events = [sse_event({"type": "speech.word", **word_json(w)})
                  for w in tally.words[told:]]
        told = len(tally.words)
        return events

    async for data in audio:
        for event in words():
            yield event
        yield sse_event({"type": "speech.audio.delta",
                         "audio": base64.b64encode(data).decode("ascii")})
    for event in words():
        yield event
    # The characters read are the input "tokens"; output "tokens" are audio samples.
    usage = {"input_tokens": len(speech.text), "output_tokens": tally.samples,
             "total_tokens": len(speech.text) + tally.samples}
    yield sse_event({"type": "speech.audio.done", "usage": usage})


async def timestamped_json(audio: AsyncIterator[bytes], speech: ResolvedSpeech,
                           tally: StreamTally) -> dict[str, object]:
    """The whole answer as one JSON body: the encoded audio in base64 and every word."""
    data = b"".join([piece async for piece in audio])
    return {"audio": base64.b64encode(data).decode("ascii"),
            "format": speech.response_format, "sample_rate": tally.sample_rate,
            "words": [word_json(w) for w in tally.words]}
