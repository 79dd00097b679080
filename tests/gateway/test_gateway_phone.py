"""Phone-line audio from `/v1/audio/speech` against real Triton: G.711 μ-law and A-law (raw
and in WAV) and pcm at each offered rate decode (FFmpeg, through PyAV) to audio of the right
rate and length, close to the voice's own audio resampled; bad combinations get a 400 and the
gateway keeps serving.

The gateway runs with both noise scales at 0, so the same text gives the same audio: the
reference is the request's own audio as a wav at the voice's rate."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator

import av
import httpx
import numpy as np
import openai
import pytest

from tritontts.serving.server import TritonServer
from tritontts_client.audio import FORMATS, REQUEST_RATES, encode_audio

from gateway_servers import running_gateway

pytestmark = pytest.mark.e2e

TEXT = "Thank you for calling. Your balance is twelve dollars and fifty cents."


@pytest.fixture(scope="module")
def gateway(server: TritonServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("gateway") / "gateway.log"
    with running_gateway(server.grpc_url, "--noise-scale", "0", "--noise-w", "0",
                         "--rate", "100/second", log=log) as url:
        yield url


def speak(gateway: str, **fields: object) -> httpx.Response:
    body = {"model": "tts-1", "voice": "alloy", "input": TEXT, **fields}
    return httpx.post(gateway + "/v1/audio/speech", json=body, timeout=60)


def decode(data: bytes, raw_format: str | None = None) -> tuple[np.ndarray, int, str]:
    """(samples in [-1, 1], rate, codec); raw G.711 is read as a phone line's 8 kHz."""
    kwargs = ({"format": raw_format, "options": {"sample_rate": "8000"}}
              if raw_format else {})
    with av.open(io.BytesIO(data), **kwargs) as container:
        stream = container.streams.audio[0]
        frames = [f.to_ndarray().reshape(-1) for f in container.decode(stream)]
        rate, codec = stream.codec_context.sample_rate, stream.codec_context.name
    return np.concatenate(frames).astype(np.float32) / 32768.0, rate, codec


def snr_db(signal: np.ndarray, reference: np.ndarray) -> float:
    size = min(signal.size, reference.size)
    error = signal[:size] - reference[:size]
    return float(10 * np.log10(np.sum(reference[:size] ** 2) / np.sum(error ** 2)))


@pytest.fixture(scope="module")
def voice_audio(gateway: str) -> tuple[np.ndarray, int]:
    """The request's audio at the voice's own rate, 16-bit (the reference)."""
    response = speak(gateway, response_format="wav")
    assert response.status_code == 200, response.text
    audio, rate, _ = decode(response.content)
    return audio, rate


def resampled(voice_audio: tuple[np.ndarray, int], rate: int) -> np.ndarray:
    audio, voice_rate = voice_audio
    pcm = encode_audio(audio, voice_rate, "pcm", rate)
    return np.frombuffer(pcm, "<i2").astype(np.float32) / 32768.0


PHONE = [("mulaw", "mulaw", "pcm_mulaw", "audio/PCMU"),
         ("alaw", "alaw", "pcm_alaw", "audio/PCMA"),
         ("mulaw_wav", None, "pcm_mulaw", "audio/wav"),
         ("alaw_wav", None, "pcm_alaw", "audio/wav")]


@pytest.mark.parametrize("name,raw_format,codec,media_type", PHONE, ids=[p[0] for p in PHONE])
def test_g711_is_8khz_audio_of_the_right_length_and_waveform(
        gateway: str, voice_audio: tuple[np.ndarray, int], name: str, raw_format: str | None,
        codec: str, media_type: str) -> None:
    response = speak(gateway, response_format=name)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == media_type
    audio, rate, got_codec = decode(response.content, raw_format)
    assert (rate, got_codec) == (8000, codec)
    voice, voice_rate = voice_audio
    assert abs(audio.size - voice.size * 8000 / voice_rate) <= 2  # the same seconds
    reference = resampled(voice_audio, 8000)
    # 8-bit companding of the same resample: measured ~37 dB on test tones.
    assert snr_db(audio, reference) > 30.0


def test_mulaw_through_the_openai_sdk_and_as_sse(gateway: str) -> None:
    with openai.OpenAI(base_url=gateway + "/v1", api_key="unused", max_retries=0) as sdk:
        whole = sdk.audio.speech.create(model="tts-1", voice="alloy", input=TEXT,
                                        response_format="mulaw").content  # type: ignore[arg-type]
    with httpx.stream("POST", gateway + "/v1/audio/speech", timeout=60, json={
            "model": "tts-1", "voice": "alloy", "input": TEXT, "response_format": "mulaw",
            "stream_format": "sse"}) as response:
        events = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    deltas = [json.loads(e) for e in events if '"speech.audio.delta"' in e]
    streamed = b"".join(base64.b64decode(d["audio"]) for d in deltas)
    assert len(deltas) >= 2, "a phone stream's bytes leave as they are made"
    assert streamed == whole  # same bytes, one or many pieces


@pytest.mark.parametrize("rate", REQUEST_RATES)
def test_pcm_at_each_rate(gateway: str, voice_audio: tuple[np.ndarray, int], rate: int) -> None:
    response = speak(gateway, response_format="pcm", sample_rate=rate)
    assert response.status_code == 200, response.text
    audio = np.frombuffer(response.content, "<i2").astype(np.float32) / 32768.0
    voice, voice_rate = voice_audio
    assert abs(audio.size - voice.size * rate / voice_rate) <= 2
    assert snr_db(audio, resampled(voice_audio, rate)) > 40.0


def test_pcm_defaults_to_openai_rate_and_wav_takes_a_rate(
        gateway: str, voice_audio: tuple[np.ndarray, int]) -> None:
    voice, voice_rate = voice_audio
    default = speak(gateway, response_format="pcm")
    assert abs(len(default.content) / 2 - voice.size * 24000 / voice_rate) <= 2
    wide = speak(gateway, response_format="wav", sample_rate=16000)
    audio, rate, codec = decode(wide.content)
    assert (rate, codec) == (16000, "pcm_s16le")
    assert abs(audio.size - voice.size * 16000 / voice_rate) <= 2
    timed = speak(gateway, response_format="mulaw", timestamps=True).json()
    assert (timed["format"], timed["sample_rate"]) == ("mulaw", 8000)
    assert len(base64.b64decode(timed["audio"])) == pytest.approx(voice.size * 8000 / voice_rate,
                                                                  abs=2)
    listed = httpx.get(gateway + "/v1/audio/voices", timeout=10).json()["formats"]
    assert set(listed) == set(FORMATS) and "mulaw" in listed


@pytest.mark.parametrize("fields,code", [
    ({"response_format": "mulaw", "sample_rate": 16000}, "unsupported_sample_rate"),
    ({"response_format": "alaw_wav", "sample_rate": 48000}, "unsupported_sample_rate"),
    ({"response_format": "opus", "sample_rate": 8000}, "unsupported_sample_rate"),
    ({"response_format": "pcm", "sample_rate": 22050}, "invalid_value"),
    ({"response_format": "pcm", "sample_rate": "fast"}, "invalid_value"),
    ({"response_format": "ulaw"}, "invalid_value"),
])
def test_bad_combinations_get_400_and_the_gateway_keeps_serving(
        gateway: str, fields: dict[str, object], code: str) -> None:
    response = speak(gateway, input="Hello.", **fields)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["param"] in ("sample_rate", "response_format")
    if code == "unsupported_sample_rate":
        assert f"{fields['response_format']} cannot carry" in error["message"]
    assert speak(gateway, input="Still here.", response_format="mulaw").status_code == 200
