"""The gateway with a real redis-server: the shared response cache (byte-identical hits,
much faster), limits that hold across two gateway processes, keys kept in Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
import redis

from tritontts.gateway.cache import ResponseCache
from tritontts.gateway.keystore import add_key
from tritontts.gateway.metrics import GatewayMetrics
from tritontts.gateway.settings import CacheSettings, ClientLimits, GatewaySettings
from tritontts.serving.server import TritonServer

from gateway_servers import running_gateway, running_redis

pytestmark = [pytest.mark.e2e, pytest.mark.redis]

TEXT = "A cached answer is the same answer, only much sooner than the first time."


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_redis(tmp_path_factory.mktemp("redis")) as url:
        yield url


def test_cache_hit_is_byte_identical_and_much_faster(server: TritonServer, redis_url: str,
                                                     tmp_path: Path) -> None:
    with running_gateway(server.grpc_url, "--redis-url", redis_url,
                         log=tmp_path / "gateway.log") as url, \
            openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0) as client:
        timings, bodies, states = [], [], []
        for _ in range(3):
            started = time.perf_counter()
            response = client.audio.speech.create(model="tts-1", voice="alloy", input=TEXT,
                                                  response_format="opus")
            timings.append(time.perf_counter() - started)
            bodies.append(response.content)
            states.append(response.response.headers["x-tritontts-cache"])
        assert states == ["miss", "hit", "hit"]
        assert bodies[1] == bodies[0] and bodies[2] == bodies[0]
        miss, hit = timings[0], min(timings[1:])
        print(f"cache miss {miss * 1000:.0f} ms, hit {hit * 1000:.1f} ms")
        assert hit < miss / 5, (miss, hit)
        # Another format is another entry.
        other = client.audio.speech.create(model="tts-1", voice="alloy", input=TEXT,
                                           response_format="wav")
        assert other.response.headers["x-tritontts-cache"] == "miss"
        metrics = httpx.get(url + "/metrics").text
        assert 'tritontts_gateway_cache_lookups_total{result="hit"} 2.0' in metrics


def test_cache_stays_within_its_bound(server: TritonServer, redis_url: str,
                                      tmp_path: Path) -> None:
    with running_gateway(server.grpc_url, "--redis-url", redis_url, "--cache-max-mib", "0",
                         log=tmp_path / "gateway.log") as url:
        body = {"model": "tts-1", "voice": "alloy", "input": "Nothing fits.",
                "response_format": "wav"}
        for _ in range(2):
            response = httpx.post(url + "/v1/audio/speech", json=body, timeout=60)
            assert response.headers["x-tritontts-cache"] == "miss"
    client = redis.Redis.from_url(redis_url)
    assert int(client.get("tritontts:gateway:cache:total") or 0) == 0
    client.close()


def test_cache_evicts_the_oldest_entries_first(redis_url: str) -> None:
    async def scenario() -> tuple[list[bytes | None], int, bool]:
        import redis.asyncio as aioredis

        client = aioredis.from_url(redis_url)
        await client.flushdb()
        cache = ResponseCache(client, CacheSettings(max_bytes=250, max_entry_bytes=200),
                              GatewayMetrics())
        for name in ("first", "second", "third"):
            await cache.put(name, name.encode() * (100 // len(name)))
        stored_too_big = await cache.put("huge", b"x" * 201)
        found = [await cache.get(name) for name in ("first", "second", "third")]
        total = await cache.total_bytes()
        await client.aclose()
        return found, total, stored_too_big

    found, total, stored_too_big = asyncio.run(scenario())
    assert found[0] is None and found[1] and found[2]
    assert total == len(found[1]) + len(found[2]) <= 250
    assert not stored_too_big


def test_limits_hold_across_two_gateways_sharing_redis(server: TritonServer, redis_url: str,
                                                       tmp_path: Path) -> None:
    settings = GatewaySettings(keys_in_redis=True, redis_url=redis_url)
    key = asyncio.run(add_key(settings, "shared", limits=ClientLimits("3/minute")))
    args = ("--redis-url", redis_url, "--keys-in-redis", "--no-cache")
    with running_gateway(server.grpc_url, *args, log=tmp_path / "a.log") as first, \
            running_gateway(server.grpc_url, *args, log=tmp_path / "b.log") as second:
        statuses = []
        for url in (first, second, first, second):
            response = httpx.post(url + "/v1/audio/speech", timeout=60,
                                  headers={"authorization": f"Bearer {key}"},
                                  json={"model": "tts-1", "voice": "alloy", "input": "Hi.",
                                        "response_format": "pcm"})
            statuses.append(response.status_code)
        # Three allowed a minute in all, not three per gateway.
        assert statuses == [200, 200, 200, 429]
        assert int(response.headers["retry-after"]) >= 1
        # Keys in Redis: a wrong one is refused by both.
        for url in (first, second):
            wrong = httpx.get(url + "/v1/models", headers={"authorization": "Bearer sk-tts-x"})
            assert wrong.status_code == 401
