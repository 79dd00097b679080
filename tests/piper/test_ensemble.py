"""The `tts` ensemble on a real tritonserver, over gRPC and HTTP."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from tritontts.export.voice import default_voice
from tritontts.piper.baseline import PiperBaseline
from tritontts.serving.server import TritonServer
from tritontts_client import InvalidRequestError, TTSClient

from helpers import assert_speech, max_abs_diff

pytestmark = pytest.mark.e2e

TEXT = "Triton is serving this voice. It runs on a plain CPU, with no GPU at all."
DETERMINISTIC = {"noise_scale": 0.0, "noise_w": 0.0}
TOLERANCE = 1e-4
SENTENCES = [
    "Good morning, and welcome aboard.",
    "The next train to the airport leaves in five minutes.",
    "Please keep your belongings with you at all times.",
    "Your order has shipped and will arrive on Tuesday.",
    "I could not find that contact; would you like to try again?",
    "The meeting has been moved to the large conference room.",
    "Thank you for calling, how can I help you today?",
    "Remember to drink water and take a short walk every hour.",
]


@pytest.fixture(scope="module")
def baseline() -> PiperBaseline:
    return PiperBaseline(*default_voice())


def reference(baseline: PiperBaseline, text: str) -> np.ndarray:
    return baseline.synthesize(text, **DETERMINISTIC)


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_ensemble_matches_direct_baseline(server: TritonServer, baseline: PiperBaseline,
                                          protocol: str) -> None:
    url = server.grpc_url if protocol == "grpc" else server.http_url
    with TTSClient(url, protocol) as client:
        result = client.synthesize(TEXT, **DETERMINISTIC)
    assert result.sample_rate == 22050
    assert result.audio.dtype == np.float32
    assert_speech(result.audio, result.sample_rate, TEXT)
    assert max_abs_diff(result.audio, reference(baseline, TEXT)) <= TOLERANCE


def test_default_options_are_natural_and_vary(server: TritonServer) -> None:
    """With the voice's own noise scales, speech comes out, and not identically twice."""
    with TTSClient(server.grpc_url) as client:
        first = client.synthesize(SENTENCES[0])
        second = client.synthesize(SENTENCES[0])
    assert_speech(first.audio, first.sample_rate, SENTENCES[0])
    assert first.audio.shape != second.audio.shape or not np.array_equal(first.audio,
                                                                           second.audio)


def test_speed_changes_duration(server: TritonServer) -> None:
    with TTSClient(server.grpc_url) as client:
        normal = client.synthesize(SENTENCES[1], **DETERMINISTIC)
        fast = client.synthesize(SENTENCES[1], speed=2.0, **DETERMINISTIC)
    assert 0.4 < fast.duration_s / normal.duration_s < 0.65


def test_eight_concurrent_requests(server: TritonServer, baseline: PiperBaseline) -> None:
    with TTSClient(server.grpc_url) as client, ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda t: client.synthesize(t, **DETERMINISTIC), SENTENCES))
    assert len(results) == 8
    for text, result in zip(SENTENCES, results, strict=True):
        assert_speech(result.audio, result.sample_rate, text)
        # Dynamically batched with other requests, each still gets exactly its own audio.
        assert max_abs_diff(result.audio, reference(baseline, text)) <= TOLERANCE


def _raw_grpc(server: TritonServer, text: object, **options: float) -> None:
    """Bypass the client's own checks so that the server's validation is what is tested."""
    client = grpcclient.InferenceServerClient(server.grpc_url)
    data = text if isinstance(text, bytes) else str(text).encode()
    inputs = [grpcclient.InferInput("TEXT", [1], "BYTES")]
    inputs[0].set_data_from_numpy(np.array([data], dtype=np.object_))
    for name, value in options.items():
        tensor = grpcclient.InferInput(name, [1], "FP32")
        tensor.set_data_from_numpy(np.array([value], dtype=np.float32))
        inputs.append(tensor)
    client.infer("tts", inputs, client_timeout=60)


BAD_REQUESTS = {
    "empty": ("", {}, "empty"),
    "whitespace": (" \t\n  ", {}, "empty"),
    "100k characters": ("a" * 100_000, {}, "limit"),
    "negative speed": ("Hello there.", {"SPEED": -1.0}, "SPEED"),
    "nan speed": ("Hello there.", {"SPEED": float("nan")}, "SPEED"),
    "infinite noise": ("Hello there.", {"NOISE_SCALE": float("inf")}, "NOISE_SCALE"),
    "invalid utf-8": (b"\xff\xfe broken", {}, "UTF-8"),
}


@pytest.mark.parametrize("name", list(BAD_REQUESTS))
def test_bad_input_is_invalid_arg_and_server_stays_ready(server: TritonServer,
                                                         name: str) -> None:
    text, options, words = BAD_REQUESTS[name]
    with pytest.raises(InferenceServerException) as caught:
        _raw_grpc(server, text, **options)
    assert caught.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert words in caught.value.message()
    assert server.is_ready()
    with TTSClient(server.grpc_url) as client:
        assert client.synthesize("Still here.").duration_s > 0.3


def test_http_bad_input_is_400(server: TritonServer) -> None:
    client = httpclient.InferenceServerClient(server.http_url)
    tensor = httpclient.InferInput("TEXT", [1], "BYTES")
    tensor.set_data_from_numpy(np.array([b"   "], dtype=np.object_))
    with pytest.raises(InferenceServerException) as caught:
        client.infer("tts", [tensor])
    assert "empty" in caught.value.message()
    assert server.is_ready()


def test_client_maps_server_refusal_to_invalid_request(server: TritonServer) -> None:
    with TTSClient(server.grpc_url) as client, pytest.raises(InvalidRequestError, match="SPEED"):
        client.synthesize("Hello.", speed=100.0)


@pytest.mark.parametrize("kwargs", [{"text": ""}, {"text": "hi", "speed": float("nan")},
                                    {"text": "hi", "speed": -2.0}])
def test_client_validates_before_sending(kwargs: dict) -> None:
    # Port 9 (discard) is never a Triton: a request that reached the network would fail
    # differently.
    with TTSClient("127.0.0.1:9") as client, pytest.raises(InvalidRequestError):
        client.synthesize(**kwargs)
