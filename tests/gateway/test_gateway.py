"""The gateway against real Triton, through the official `openai` SDK and plain HTTP: every
format decodes back right, streams start early, SSE parses, a client that leaves stops the
work, and every error has OpenAI's envelope."""

from __future__ import annotations

import base64
import io
import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path

import av
import httpx
import openai
import pytest

from tritontts.serving.server import TritonServer, free_port
from tritontts_client import TTSClient

from gateway_servers import running_gateway

pytestmark = pytest.mark.e2e

TEXT = "The gateway speaks every format that the speech API promises, at the right length."
LONG_TEXT = " ".join([
    "Streaming sends the first audio while the rest is still being made.",
    "Each sentence is read, turned into sound and encoded in turn.",
    "A listener hears the start long before the end exists.",
    "That is the whole point of a stream.",
    "The last sentence comes after all the others."])
RATES = {"mp3": 22050, "opus": 48000, "aac": 22050, "flac": 22050, "wav": 22050, "pcm": 24000}


@pytest.fixture(scope="module")
def gateway(server: TritonServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("gateway") / "gateway.log"
    # Deterministic rhythm: durations of the same text can then be compared across formats.
    with running_gateway(server.grpc_url, "--noise-w", "0", "--rate", "100/second",
                         "--voice", "en_US-joe-medium", log=log) as url:
        yield url


@pytest.fixture()
def sdk(gateway: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway + "/v1", api_key="unused", max_retries=0) as client:
        yield client


def decoded(data: bytes, fmt: str) -> tuple[int, int, float]:
    """(sample rate, channels, seconds) of encoded audio, decoded by FFmpeg."""
    if fmt == "pcm":  # OpenAI's pcm: 24 kHz s16le mono, no header
        return RATES["pcm"], 1, len(data) / 2 / RATES["pcm"]
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        rate = stream.codec_context.sample_rate
        return rate, stream.codec_context.channels, samples / rate


def test_every_format_through_the_openai_sdk(sdk: openai.OpenAI) -> None:
    durations = {}
    for fmt in RATES:
        response = sdk.audio.speech.create(model="tts-1", voice="alloy", input=TEXT,
                                           response_format=fmt)
        rate, channels, durations[fmt] = decoded(response.content, fmt)
        assert (rate, channels) == (RATES[fmt], 1), fmt
    words = len(TEXT.split())
    assert 0.2 * words <= durations["wav"] <= 0.8 * words
    for fmt, seconds in durations.items():
        assert seconds == pytest.approx(durations["wav"], rel=0.05), (fmt, durations)


def test_default_format_is_mp3_and_voices_name_the_repository(sdk: openai.OpenAI,
                                                             gateway: str) -> None:
    response = sdk.audio.speech.create(model="gpt-4o-mini-tts", voice="en_US-joe-medium",
                                       input="Hello there.")
    assert response.response.headers["content-type"] == "audio/mpeg"
    assert decoded(response.content, "mp3")[0] == 22050
    voices = httpx.get(gateway + "/v1/audio/voices").json()["voices"]
    assert {"alloy", "en_US-joe-medium"} <= {v["id"] for v in voices}
    assert [m.id for m in sdk.models.list()][:1] == ["tts-1"]


def test_streaming_response_starts_before_synthesis_ends(sdk: openai.OpenAI) -> None:
    started = time.perf_counter()
    arrivals: list[tuple[float, int]] = []
    with sdk.audio.speech.with_streaming_response.create(
            model="tts-1", voice="alloy", input=LONG_TEXT, response_format="mp3") as response:
        for piece in response.iter_bytes():
            arrivals.append((time.perf_counter() - started, len(piece)))
    total = arrivals[-1][0]
    first = arrivals[0][0]
    assert len(arrivals) >= 3
    # The first bytes come with the first chunk, long before the last sentence is spoken.
    assert first < 0.5 * total, (first, total)
    print(f"first bytes after {first:.2f} s of {total:.2f} s")


def test_sse_events_parse(gateway: str) -> None:
    events = []
    with httpx.stream("POST", gateway + "/v1/audio/speech", timeout=120, json={
            "model": "tts-1", "voice": "alloy", "input": TEXT, "response_format": "mp3",
            "stream_format": "sse"}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[len("data: "):]))
    deltas = [e for e in events if e["type"] == "speech.audio.delta"]
    assert len(deltas) >= 2
    assert events[-1]["type"] == "speech.audio.done"
    usage = events[-1]["usage"]
    assert usage["input_tokens"] == len(TEXT)
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    audio = b"".join(base64.b64decode(e["audio"]) for e in deltas)
    rate, channels, seconds = decoded(audio, "mp3")
    assert (rate, channels) == (22050, 1)
    assert seconds == pytest.approx(usage["output_tokens"] / 22050, rel=0.05)


BREAK_INPUT = ('<speak>Words come first. <break time="2s"/> '
               "More words come after the break.</speak>")


def test_timestamps_through_the_openai_sdk(sdk: openai.OpenAI, server: TritonServer) -> None:
    """`timestamps` is not in OpenAI's schema: SDKs send it with extra_body and get JSON with
    base64 audio and the words, which the Triton client's own words match (the gateway's
    noise_w 0 makes durations deterministic)."""
    response = sdk.audio.speech.create(model="tts-1", voice="alloy", input=BREAK_INPUT,
                                       response_format="wav", extra_body={"timestamps": True})
    assert response.response.headers["content-type"] == "application/json"
    body = json.loads(response.content)
    assert set(body) == {"audio", "format", "sample_rate", "words"}
    rate, channels, seconds = decoded(base64.b64decode(body["audio"]), "wav")
    assert (rate, channels, body["format"], body["sample_rate"]) == (22050, 1, "wav", 22050)
    words = body["words"]
    assert [w["word"] for w in words] == ["Words", "come", "first", "More", "words", "come",
                                          "after", "the", "break"]
    assert all(0 <= w["start"] < w["end"] <= seconds for w in words)
    assert all(a["end"] <= b["start"] for a, b in itertools.pairwise(words))
    assert words[3]["start"] - words[2]["end"] >= 2.0
    with TTSClient(server.grpc_url) as client:
        direct = client.synthesize(BREAK_INPUT, voice="en_US-joe-medium", noise_w=0.0,
                                   timestamps=True)
    assert [(w["word"], w["start"], w["end"]) for w in words] == [
        (w.word, pytest.approx(w.start_s, abs=1e-4), pytest.approx(w.end_s, abs=1e-4))
        for w in direct.words]
    # Without the field the same call is plain audio, as OpenAI answers it.
    plain = sdk.audio.speech.create(model="tts-1", voice="alloy", input=BREAK_INPUT,
                                    response_format="wav")
    assert plain.response.headers["content-type"] == "audio/wav"


def test_timestamps_as_sse_word_events(gateway: str) -> None:
    events = []
    with httpx.stream("POST", gateway + "/v1/audio/speech", timeout=120, json={
            "model": "tts-1", "voice": "alloy", "input": BREAK_INPUT, "response_format": "mp3",
            "stream_format": "sse", "timestamps": True}) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[len("data: "):]))
    kinds = [e["type"] for e in events]
    words = [e for e in events if e["type"] == "speech.word"]
    assert [w["word"] for w in words][:3] == ["Words", "come", "first"] and len(words) == 9
    assert kinds[0] == "speech.word" and kinds[-1] == "speech.audio.done"
    # The second sentence's words come after some of the first sentence's audio.
    assert kinds.index("speech.audio.delta") < events.index(words[3])
    assert all(a["end"] <= b["start"] for a, b in itertools.pairwise(words))
    json_words = speak(gateway, input=BREAK_INPUT, timestamps=True, response_format="wav")
    assert [(w["word"], w["start"], w["end"]) for w in words] == [
        (w["word"], w["start"], w["end"]) for w in json_words.json()["words"]]


def test_leaving_mid_stream_stops_the_work(server: TritonServer, gateway: str) -> None:
    name = "tritontts_stream_cancelled_total"
    before = server.metric(name, "tts_stream")
    long_text = " ".join([LONG_TEXT] * 6)
    with httpx.stream("POST", gateway + "/v1/audio/speech", timeout=120, json={
            "model": "tts-1", "voice": "alloy", "input": long_text,
            "response_format": "pcm"}) as response:
        assert response.status_code == 200
        next(response.iter_bytes())
    # Closed after the first bytes: the gateway cancels the Triton stream.
    deadline = time.monotonic() + 30
    while server.metric(name, "tts_stream") <= before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert server.metric(name, "tts_stream") == before + 1
    metrics = httpx.get(gateway + "/metrics").text
    assert "tritontts_gateway_client_disconnects_total 1.0" in metrics


def error_of(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["x-request-id"]
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


def speak(gateway: str, **fields: object) -> httpx.Response:
    body = {"model": "tts-1", "voice": "alloy", "input": "Hello.", **fields}
    return httpx.post(gateway + "/v1/audio/speech", json=body, timeout=60)


def test_bad_requests_get_400_in_the_envelope(gateway: str) -> None:
    unknown = error_of(speak(gateway, temperature=0.5), 400)
    assert unknown["param"] == "temperature" and unknown["code"] == "unknown_parameter"
    slow = error_of(speak(gateway, speed=10), 400)
    assert slow["param"] == "speed"
    fmt = error_of(speak(gateway, response_format="ogg"), 400)
    assert fmt["param"] == "response_format"
    long = error_of(speak(gateway, input="a" * 4097), 400)
    assert long["param"] == "input"
    maya = error_of(speak(gateway, instructions="A warm, calm voice."), 400)
    assert maya["param"] == "instructions" and "no Maya1 models" in str(maya["message"])
    # Triton's own INVALID_ARG message is passed through.
    voice = error_of(speak(gateway, voice="nobody"), 400)
    assert "nobody" in str(voice["message"]) and voice["code"] == "invalid_input"
    broken = httpx.post(gateway + "/v1/audio/speech", content=b"{not json", timeout=10)
    assert error_of(broken, 400)["code"] == "invalid_json"
    model = error_of(speak(gateway, model="whisper-1"), 404)
    assert model["param"] == "model" and model["code"] == "model_not_found"


def test_other_statuses_get_the_envelope(gateway: str) -> None:
    huge = httpx.post(gateway + "/v1/audio/speech", content=b"x" * (65 << 10), timeout=10,
                      headers={"content-type": "application/json"})
    assert error_of(huge, 413)["code"] == "request_too_large"
    assert error_of(httpx.get(gateway + "/v1/nothing"), 404)["code"] == "not_found"
    given = httpx.get(gateway + "/healthz", headers={"x-request-id": "trace-42"})
    assert given.headers["x-request-id"] == "trace-42"
    assert httpx.get(gateway + "/readyz").status_code == 200


def test_a_triton_that_is_down_gives_503(tmp_path: Path) -> None:
    with running_gateway(f"127.0.0.1:{free_port()}", log=tmp_path / "gateway.log") as url:
        assert error_of(httpx.get(url + "/readyz"), 503)["code"] == "not_ready"
        refused = speak(url)
        assert error_of(refused, 503)["code"] == "unavailable"
        assert refused.headers["retry-after"] == "1"


def test_metrics_count_requests_bytes_and_first_bytes(gateway: str) -> None:
    assert speak(gateway, response_format="wav").status_code == 200
    text = httpx.get(gateway + "/metrics").text
    assert 'tritontts_gateway_requests_total{route="/v1/audio/speech",status="200"}' in text
    assert 'tritontts_gateway_audio_bytes_total{format="wav"}' in text
    assert "tritontts_gateway_first_byte_seconds_count" in text
    assert 'tritontts_gateway_refusals_total' in text
