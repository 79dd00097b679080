"""A response cache in Redis for encoded audio of identical requests, shared by every replica
(Triton's own response cache is per server). Bounded: entries past `max_entry_bytes` are not
kept, and when all entries together pass `max_bytes` the oldest are evicted."""

from __future__ import annotations

import time
from typing import Any

from tritontts.gateway.metrics import GatewayMetrics
from tritontts.gateway.settings import CacheSettings
from tritontts_client.contract import GATEWAY_REDIS_CACHE_PREFIX

_INDEX = GATEWAY_REDIS_CACHE_PREFIX + "index"  # sorted set: entry key -> time stored
_SIZES = GATEWAY_REDIS_CACHE_PREFIX + "sizes"  # hash: entry key -> bytes
_TOTAL = GATEWAY_REDIS_CACHE_PREFIX + "total"  # bytes of all entries

# Store one entry and evict the oldest until the total fits, in one atomic step, so that
# replicas storing at the same time keep the count right. Entries that expired by TTL stay
# counted until evicted; they are the oldest, so they go first.
_PUT = """
local key, value, ttl, now, max_total = KEYS[1], ARGV[1], tonumber(ARGV[2]), ARGV[3],
  tonumber(ARGV[4])
local old = tonumber(redis.call('HGET', KEYS[3], key) or '0')
redis.call('SET', key, value, 'EX', ttl)
redis.call('ZADD', KEYS[2], now, key)
redis.call('HSET', KEYS[3], key, #value)
local total = redis.call('INCRBY', KEYS[4], #value - old)
while total > max_total do
  local oldest = redis.call('ZPOPMIN', KEYS[2])
  if #oldest == 0 then break end
  local size = tonumber(redis.call('HGET', KEYS[3], oldest[1]) or '0')
  redis.call('HDEL', KEYS[3], oldest[1])
  redis.call('DEL', oldest[1])
  total = redis.call('DECRBY', KEYS[4], size)
end
return total
"""


class ResponseCache:
    def __init__(self, redis: Any, settings: CacheSettings, metrics: GatewayMetrics) -> None:
        self.redis = redis
        self.settings = settings
        self.metrics = metrics
        self._put = redis.register_script(_PUT)

    async def get(self, key: str) -> bytes | None:
        value = await self.redis.get(GATEWAY_REDIS_CACHE_PREFIX + key)
        self.metrics.cache.labels("hit" if value is not None else "miss").inc()
        return value

    async def put(self, key: str, value: bytes) -> bool:
        if len(value) > self.settings.max_entry_bytes:
            return False
        await self._put(keys=[GATEWAY_REDIS_CACHE_PREFIX + key, _INDEX, _SIZES, _TOTAL],
                        args=[value, self.settings.ttl_s, time.time(), self.settings.max_bytes])
        return True

    async def total_bytes(self) -> int:
        return int(await self.redis.get(_TOTAL) or 0)
