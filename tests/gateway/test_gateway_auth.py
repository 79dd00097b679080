"""Who may call the gateway: API keys (missing, wrong, revoked, out of scope, over rate, over
quota, over concurrency) and JWTs (valid, expired, wrong audience, wrong signature)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt
import openai
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tritontts.gateway.keystore import add_key
from tritontts.gateway.settings import ClientLimits, GatewaySettings
from tritontts.serving.server import TritonServer

from gateway_servers import running_gateway

pytestmark = pytest.mark.e2e

ISSUER, AUDIENCE = "https://issuer.test", "tritontts-gateway"
LONG_TEXT = " ".join(["A request that holds its slot for a while, sentence after sentence."] * 8)


@dataclass
class Deployment:
    url: str
    keys: dict[str, str]
    keys_file: Path
    signing_key: rsa.RSAPrivateKey


def _pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture(scope="module")
def deployment(server: TritonServer, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[Deployment]:
    directory = tmp_path_factory.mktemp("gateway-auth")
    keys_file = directory / "keys.json"
    settings = GatewaySettings(keys_file=keys_file)
    roomy = ClientLimits("50/second", ("100000/minute",), 4)
    keys = {
        "full": asyncio.run(add_key(settings, "full", limits=roomy)),
        "models-only": asyncio.run(add_key(settings, "models-only", ("models",), roomy)),
        "slow": asyncio.run(add_key(settings, "slow", limits=ClientLimits("2/minute"))),
        "few-characters": asyncio.run(add_key(
            settings, "few-characters", limits=ClientLimits("50/second", ("30/minute",)))),
        "one-at-a-time": asyncio.run(add_key(
            settings, "one-at-a-time", limits=ClientLimits("50/second", concurrency=1))),
    }
    # The command line adds keys too, printing the key once.
    added = subprocess.run([sys.executable, "-m", "tritontts.cli", "gateway", "--keys-file",
                            str(keys_file), "--add-key", "to-revoke"],
                           capture_output=True, text=True, check=True)
    keys["to-revoke"] = added.stdout.strip()
    assert keys["to-revoke"] not in keys_file.read_text(), "keys are stored hashed"
    signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_key = directory / "jwt.pem"
    public_key.write_bytes(_pem(signing_key))
    with running_gateway(server.grpc_url, "--keys-file", str(keys_file), "--jwt-public-key",
                         str(public_key), "--jwt-issuer", ISSUER, "--jwt-audience", AUDIENCE,
                         log=directory / "gateway.log") as url:
        yield Deployment(url, keys, keys_file, signing_key)


def call(deployment: Deployment, token: str | None, path: str = "/v1/models",
         **speech: object) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    if path == "/v1/models":
        return httpx.get(deployment.url + path, headers=headers, timeout=30)
    body = {"model": "tts-1", "voice": "alloy", "input": "Hi.", **speech}
    return httpx.post(deployment.url + path, json=body, headers=headers, timeout=120)


def refusal(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


def test_keys_missing_wrong_revoked_and_out_of_scope(deployment: Deployment) -> None:
    assert call(deployment, deployment.keys["full"]).status_code == 200
    assert refusal(call(deployment, None), 401)["code"] == "missing_api_key"
    assert refusal(call(deployment, "sk-tts-guessed"), 401)["code"] == "invalid_api_key"
    assert call(deployment, deployment.keys["to-revoke"]).status_code == 200
    subprocess.run([sys.executable, "-m", "tritontts.cli", "gateway", "--keys-file",
                    str(deployment.keys_file), "--revoke-key", "to-revoke"], check=True,
                   capture_output=True)
    # The running gateway reads the changed file: no restart.
    assert refusal(call(deployment, deployment.keys["to-revoke"]), 401)["code"] == (
        "revoked_api_key")
    assert call(deployment, deployment.keys["models-only"]).status_code == 200
    scoped = refusal(call(deployment, deployment.keys["models-only"], "/v1/audio/speech"), 403)
    assert scoped["code"] == "insufficient_scope"


def test_the_openai_sdk_with_a_key(deployment: Deployment) -> None:
    with openai.OpenAI(base_url=deployment.url + "/v1", api_key=deployment.keys["full"],
                       max_retries=0) as client:
        audio = client.audio.speech.create(model="tts-1", voice="alloy", input="Hello.",
                                           response_format="wav").content
        assert audio[:4] == b"RIFF"
    with openai.OpenAI(base_url=deployment.url + "/v1", api_key="sk-tts-wrong",
                       max_retries=0) as client, pytest.raises(openai.AuthenticationError):
        client.audio.speech.create(model="tts-1", voice="alloy", input="Hello.")


def test_over_rate_gets_429_with_retry_after(deployment: Deployment) -> None:
    key = deployment.keys["slow"]
    assert call(deployment, key, "/v1/audio/speech").status_code == 200
    assert call(deployment, key, "/v1/audio/speech").status_code == 200
    refused = call(deployment, key, "/v1/audio/speech")
    assert refusal(refused, 429)["code"] == "rate_limit_exceeded"
    assert 1 <= int(refused.headers["retry-after"]) <= 60


def test_over_character_quota_gets_429(deployment: Deployment) -> None:
    key = deployment.keys["few-characters"]
    text = "Twenty characters!!."
    assert call(deployment, key, "/v1/audio/speech", input=text).status_code == 200
    refused = call(deployment, key, "/v1/audio/speech", input=text)
    assert refusal(refused, 429)["code"] == "quota_exceeded"
    assert int(refused.headers["retry-after"]) >= 1
    too_long = call(deployment, key, "/v1/audio/speech", input="x" * 31)
    assert refusal(too_long, 429)["code"] == "quota_exceeded"


def test_over_concurrency_gets_429_at_once(deployment: Deployment) -> None:
    key = deployment.keys["one-at-a-time"]
    streaming = threading.Event()
    finished = threading.Event()

    def hold_a_slot() -> None:
        body = {"model": "tts-1", "voice": "alloy", "input": LONG_TEXT, "response_format": "pcm"}
        with httpx.stream("POST", deployment.url + "/v1/audio/speech", json=body, timeout=120,
                          headers={"authorization": f"Bearer {key}"}) as response:
            for _ in response.iter_bytes():
                streaming.set()
        finished.set()

    holder = threading.Thread(target=hold_a_slot)
    holder.start()
    try:
        assert streaming.wait(60)
        started = time.perf_counter()
        refused = call(deployment, key, "/v1/audio/speech")
        assert time.perf_counter() - started < 1.0, "refused fast, not queued"
        assert not finished.is_set(), "the first stream was still going"
        assert refusal(refused, 429)["code"] == "concurrency_limit_exceeded"
        assert refused.headers["retry-after"] == "1"
    finally:
        holder.join(120)
    assert call(deployment, key, "/v1/audio/speech").status_code == 200


def token(key: rsa.RSAPrivateKey, *, expires_in: float = 300, audience: str = AUDIENCE,
          scope: str = "speech models") -> str:
    now = int(time.time())
    claims = {"sub": "service-a", "iss": ISSUER, "aud": audience, "iat": now,
              "exp": now + int(expires_in), "scope": scope}
    return jwt.encode(claims, key, algorithm="RS256")


def test_jwts(deployment: Deployment) -> None:
    good = token(deployment.signing_key)
    assert call(deployment, good).status_code == 200
    assert call(deployment, good, "/v1/audio/speech").status_code == 200
    expired = token(deployment.signing_key, expires_in=-60)
    assert refusal(call(deployment, expired), 401)["code"] == "token_expired"
    elsewhere = token(deployment.signing_key, audience="another-service")
    assert "audience" in str(refusal(call(deployment, elsewhere), 401)["message"])
    forged = token(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    assert "Signature" in str(refusal(call(deployment, forged), 401)["message"])
    models_only = token(deployment.signing_key, scope="models")
    assert refusal(call(deployment, models_only, "/v1/audio/speech"), 403)["code"] == (
        "insufficient_scope")
