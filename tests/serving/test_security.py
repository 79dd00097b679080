"""gRPC over TLS and mutual TLS, and APIs behind keys, on servers of their own."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from tritontts.serving.server import ServerOptions, ServerTLS, TritonServer, free_port
from tritontts_client import (
    NO_RETRY,
    AccessDeniedError,
    AsyncTTSClient,
    ServerUnavailableError,
    TLSConfig,
    TTSClient,
    TTSError,
)

from certs import Certificates, make_pki
from helpers import assert_speech

pytestmark = pytest.mark.e2e

TEXT = "Only the right people hear this."
API_KEY = "inference-key-for-tests"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _start(repository: Path, tmp: Path, **options: object) -> TritonServer:
    server = TritonServer(ServerOptions(repository, http_port=free_port(), grpc_port=free_port(),
                                        metrics_port=free_port(), exit_timeout_s=5, **options),
                          log_file=tmp / "tritonserver.log")
    return server.start()


@pytest.fixture(scope="module")
def tls_server(repository: Path, pki: Certificates,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonServer]:
    """Server-authenticated TLS, and inference behind the API key."""
    server = _start(repository, tmp_path_factory.mktemp("tls"),
                    tls=ServerTLS(pki.server.cert, pki.server.key), inference_key=API_KEY)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def mtls_server(repository: Path, pki: Certificates,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonServer]:
    server = _start(repository, tmp_path_factory.mktemp("mtls"),
                    tls=ServerTLS(pki.server.cert, pki.server.key, client_ca=pki.ca))
    yield server
    server.stop()


def refused(client: TTSClient) -> TTSError:
    with pytest.raises(TTSError) as caught:
        client.synthesize(TEXT)
    return caught.value


def test_tls_synthesis_and_stream(tls_server: TritonServer, pki: Certificates) -> None:
    with TTSClient(tls_server.grpc_url, tls=TLSConfig(pki.ca), api_key=API_KEY) as client:
        result = client.synthesize(TEXT)
        chunks = list(client.stream(TEXT))
    assert_speech(result.audio, result.sample_rate, TEXT)
    assert chunks[-1].final
    assert_speech(np.concatenate([c.audio for c in chunks]), 22050, TEXT)


def test_plaintext_client_gets_nothing_from_a_tls_port(tls_server: TritonServer) -> None:
    with TTSClient(tls_server.grpc_url, api_key=API_KEY, retry=NO_RETRY,
                   deadline_s=10) as client:
        error = refused(client)
    print(f"plaintext client: {type(error).__name__}: {error}")
    # gRPC cannot tell "TLS port" from "server gone": the TLS server just closes the socket.
    assert isinstance(error, ServerUnavailableError)


def test_client_rejects_a_server_it_cannot_verify(tls_server: TritonServer,
                                                  pki: Certificates) -> None:
    # The stranger's certificate is no CA of this server: the handshake must fail.
    with TTSClient(tls_server.grpc_url, tls=TLSConfig(pki.stranger.cert), api_key=API_KEY,
                   retry=NO_RETRY, deadline_s=10) as client:
        error = refused(client)
    print(f"unverifiable server: {type(error).__name__}: {error}")
    assert isinstance(error, AccessDeniedError) and "CERTIFICATE_VERIFY_FAILED" in str(error)


@pytest.mark.parametrize("key", [None, "wrong-key"])
def test_inference_needs_the_api_key(tls_server: TritonServer, pki: Certificates,
                                     key: str | None) -> None:
    with TTSClient(tls_server.grpc_url, tls=TLSConfig(pki.ca), api_key=key,
                   retry=NO_RETRY) as client:
        error = refused(client)
    assert isinstance(error, AccessDeniedError), error
    http = httpclient.InferenceServerClient(tls_server.http_url)
    tensor = httpclient.InferInput("TEXT", [1], "BYTES")
    tensor.set_data_from_numpy(np.array([TEXT.encode()], dtype=np.object_))
    with pytest.raises(InferenceServerException, match="restricted"):
        http.infer("tts", [tensor], headers={"tritontts-api-key": key} if key else None)
    result = http.infer("tts", [tensor], headers={"tritontts-api-key": API_KEY})
    assert result.as_numpy("AUDIO").size > 0


def test_mutual_tls(mtls_server: TritonServer, pki: Certificates) -> None:
    with_cert = TLSConfig(pki.ca, private_key=pki.client.key, certificate_chain=pki.client.cert)
    with TTSClient(mtls_server.grpc_url, tls=with_cert) as client:
        result = client.synthesize(TEXT)
        assert list(client.stream(TEXT))[-1].final
    assert_speech(result.audio, result.sample_rate, TEXT)
    for name, tls in [("no client certificate", TLSConfig(pki.ca)),
                      ("certificate of another CA",
                       TLSConfig(pki.ca, private_key=pki.stranger.key,
                                 certificate_chain=pki.stranger.cert))]:
        with TTSClient(mtls_server.grpc_url, tls=tls, retry=NO_RETRY, deadline_s=10) as client:
            error = refused(client)
        print(f"mTLS, {name}: {type(error).__name__}: {error}")
        # The server ends the handshake; the client only sees the socket close.
        assert isinstance(error, ServerUnavailableError | AccessDeniedError)


def test_async_client_over_mutual_tls(mtls_server: TritonServer, pki: Certificates) -> None:
    tls = TLSConfig(pki.ca, private_key=pki.client.key, certificate_chain=pki.client.cert)

    async def speak() -> tuple[np.ndarray, list]:
        async with AsyncTTSClient(mtls_server.grpc_url, tls=tls) as client:
            result = await client.synthesize(TEXT)
            chunks = [c async for c in client.stream(TEXT)]
        return result.audio, chunks

    audio, chunks = asyncio.run(speak())
    assert_speech(audio, 22050, TEXT)
    assert chunks and chunks[-1].final


def test_serve_refuses_half_a_tls_setup(pki: Certificates, repository: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "tritontts.cli", "serve",
                             "--model-repository", str(repository),
                             "--tls-cert", str(pki.server.cert)],
                            capture_output=True, timeout=60, check=False)
    assert result.returncode == 2 and b"--tls-key" in result.stderr


def test_speak_over_mutual_tls(mtls_server: TritonServer, pki: Certificates,
                               tmp_path: Path) -> None:
    out = tmp_path / "tls.wav"
    command = [sys.executable, "-m", "tritontts.cli", "speak", TEXT, "-o", str(out),
               "--url", mtls_server.grpc_url, "--tls-ca", str(pki.ca),
               "--tls-cert", str(pki.client.cert), "--tls-key", str(pki.client.key)]
    result = subprocess.run(command, capture_output=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr.decode()
    audio, rate = soundfile.read(str(out), dtype="float32")
    assert_speech(audio, rate, TEXT)
    streamed = subprocess.run([*command, "--stream", "-o", "-"], capture_output=True,
                              timeout=120, check=False)
    assert streamed.returncode == 0, streamed.stderr.decode()
    assert len(streamed.stdout) > 22050  # more than half a second of 16-bit audio
    plain = subprocess.run([sys.executable, "-m", "tritontts.cli", "speak", TEXT, "-o", "-",
                            "--url", mtls_server.grpc_url, "--timeout", "5"],
                           capture_output=True, timeout=120, check=False)
    assert plain.returncode == 2 and b"Error" in plain.stderr


# --- admin APIs (the shared server restricts them with its own random key) ------------------

# Each admin API, and what its answer must hold when the key is right (the gRPC client is
# asked for JSON, so both protocols answer with dicts; gRPC wraps some in one more key).
GRPC_ADMIN_CALLS = {
    "model-repository index": lambda c, h, j: c.get_model_repository_index(headers=h, **j),
    "model-repository load": lambda c, h, j: c.load_model("postprocess", headers=h),
    "model-config": lambda c, h, j: c.get_model_config("tts", headers=h, **j),
    "logging": lambda c, h, j: c.get_log_settings(headers=h, **j),
    "trace": lambda c, h, j: c.get_trace_settings(headers=h, **j),
}


def _unwrap(answer: object, key: str) -> object:
    return answer[key] if isinstance(answer, dict) and key in answer else answer


def _check_admin_answer(api: str, answer: object, client: object) -> None:
    if api == "model-repository index":
        models = _unwrap(answer, "models")
        assert {m["name"]: m.get("state") for m in models}["tts"] == "READY", models
    elif api == "model-repository load":
        assert client.is_model_ready("postprocess")  # (re)loaded, and serving
    elif api == "model-config":
        config = _unwrap(answer, "config")
        assert config["name"] == "tts" and config["platform"] == "ensemble", config
    elif api == "logging":
        assert "log_info" in _unwrap(answer, "settings"), answer
    else:
        assert "trace_level" in _unwrap(answer, "settings"), answer


@pytest.mark.parametrize("api", list(GRPC_ADMIN_CALLS))
@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_admin_apis_need_the_admin_key(server: TritonServer, api: str, protocol: str) -> None:
    if protocol == "grpc":
        client = grpcclient.InferenceServerClient(server.grpc_url)
        good, as_json = server.admin.grpc_headers(), {"as_json": True}
    else:
        client = httpclient.InferenceServerClient(server.http_url)
        good, as_json = server.admin.http_headers(), {}
    call = GRPC_ADMIN_CALLS[api]
    wrong = {name: "not-the-key" for name in good}
    for headers in (None, wrong):
        with pytest.raises(InferenceServerException, match="restricted"):
            call(client, headers, as_json)
    _check_admin_answer(api, call(client, good, as_json), client)
    # Inference, health and statistics stay open: no key, and real answers.
    assert client.is_server_ready() and client.is_model_ready("tts")
    stats = _unwrap(client.get_inference_statistics("tts", **as_json), "model_stats")
    assert [s["name"] for s in stats] == ["tts"], stats
