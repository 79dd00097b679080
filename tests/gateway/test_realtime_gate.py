"""The gate of the realtime socket, with a real WebSocket client against a running gateway with
keys: refused upgrades (no key, a wrong key, a key without the speech scope, one socket too
many for the key), the key as a query token for browsers, the character quota counted piece by
piece, message and buffer caps, and the idle timeout."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tritontts.gateway.keystore import add_key
from tritontts.gateway.settings import ClientLimits, GatewaySettings
from tritontts.serving.server import TritonServer
from tritontts_client import contract as c

from gateway_servers import running_gateway

pytestmark = pytest.mark.e2e

IDLE_S = 2
MAX_PENDING = 300
MAX_MESSAGE = 2000


@dataclass
class Deployment:
    url: str
    keys: dict[str, str]

    def socket(self, key: str | None = None, query_token: str | None = None):
        url = self.url.replace("http://", "ws://") + c.REALTIME_ROUTE
        if query_token is not None:
            url += f"?{c.REALTIME_TOKEN_QUERY}={query_token}"
        headers = {"Authorization": f"Bearer {key}"} if key else None
        return connect(url, additional_headers=headers, open_timeout=30)


@pytest.fixture(scope="module")
def deployment(server: TritonServer, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[Deployment]:
    directory = tmp_path_factory.mktemp("realtime-gate")
    settings = GatewaySettings(keys_file=directory / "keys.json")
    roomy = ClientLimits("50/second", ("100000/minute",), 4)
    keys = {
        "full": asyncio.run(add_key(settings, "full", limits=roomy)),
        "models-only": asyncio.run(add_key(settings, "models-only", ("models",), roomy)),
        "solo": asyncio.run(add_key(settings, "solo",
                                    limits=ClientLimits("50/second", ("100000/minute",), 1))),
        "few": asyncio.run(add_key(settings, "few",
                                   limits=ClientLimits("50/second", ("40/minute",), 4))),
    }
    with running_gateway(server.grpc_url, "--keys-file", str(settings.keys_file),
                         "--socket-idle-timeout", str(IDLE_S),
                         "--socket-max-pending-chars", str(MAX_PENDING),
                         "--socket-max-message-bytes", str(MAX_MESSAGE),
                         log=directory / "gateway.log") as url:
        yield Deployment(url, keys)


def refused_status(deployment: Deployment, **how: str | None) -> int:
    with pytest.raises(InvalidStatus) as refused:
        deployment.socket(**how).close()
    return refused.value.response.status_code


def error_code(ws) -> str:
    message = json.loads(ws.recv(timeout=30))
    assert message["type"] == c.RT_ERROR, message
    return message["code"]


def test_refused_upgrades_get_their_status(deployment: Deployment) -> None:
    assert refused_status(deployment) == 401
    assert refused_status(deployment, key="sk-tts-wrong") == 401
    assert refused_status(deployment, query_token="sk-tts-wrong") == 401
    assert refused_status(deployment, key=deployment.keys["models-only"]) == 403


def test_header_and_query_token_are_let_in(deployment: Deployment) -> None:
    for how in ({"key": deployment.keys["full"]}, {"query_token": deployment.keys["full"]}):
        with deployment.socket(**how) as ws:
            assert json.loads(ws.recv(timeout=30))["type"] == c.RT_READY


def test_the_key_concurrency_counts_sockets_for_their_whole_life(
        deployment: Deployment) -> None:
    with deployment.socket(deployment.keys["solo"]) as ws:
        ws.recv(timeout=30)
        assert refused_status(deployment, key=deployment.keys["solo"]) == 429
    # Closed: the slot is free again (the gateway notices the close within a moment).
    for _ in range(50):
        try:
            with deployment.socket(deployment.keys["solo"]) as ws:
                assert json.loads(ws.recv(timeout=30))["type"] == c.RT_READY
            break
        except InvalidStatus:
            time.sleep(0.1)
    else:
        pytest.fail("the key's slot was never given back")


def test_the_character_quota_is_counted_piece_by_piece(deployment: Deployment) -> None:
    with deployment.socket(deployment.keys["few"]) as ws:
        ws.recv(timeout=30)
        ws.send(json.dumps({"type": c.RT_TEXT, "text": "Thirty characters of text ok. "}))
        ws.send(json.dumps({"type": c.RT_TEXT, "text": "And thirty more that are over."}))
        assert error_code(ws) == c.RT_QUOTA_EXCEEDED
        ws.send(json.dumps({"type": c.RT_FLUSH}))  # the socket goes on: the first piece speaks
        while not isinstance(frame := ws.recv(timeout=60), str) or (
                json.loads(frame)["type"] != c.RT_FLUSHED):
            pass
        assert json.loads(frame)["audio_seconds"] > 0.5


def test_message_and_buffer_caps(deployment: Deployment) -> None:
    with deployment.socket(deployment.keys["full"]) as ws:
        ws.recv(timeout=30)
        ws.send(json.dumps({"type": c.RT_TEXT, "text": "x" * MAX_MESSAGE}))
        assert error_code(ws) == c.RT_MESSAGE_TOO_LARGE
        # SSML waits for its flush as one document: the buffer fills.
        ws.send(json.dumps({"type": c.RT_TEXT, "text": "<speak>" + "word " * 50}))
        ws.send(json.dumps({"type": c.RT_TEXT, "text": "word " * 30}))
        assert error_code(ws) == c.RT_BUFFER_FULL
        ws.send(json.dumps({"type": c.RT_CLEAR}))
        assert json.loads(ws.recv(timeout=30))["type"] == c.RT_CLEARED


def test_an_idle_socket_is_closed(deployment: Deployment) -> None:
    with deployment.socket(deployment.keys["full"]) as ws:
        ws.recv(timeout=30)
        assert error_code(ws) == c.RT_IDLE_TIMEOUT  # after IDLE_S
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == c.RT_CLOSE_IDLE
