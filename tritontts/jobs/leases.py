"""Leases in Redis that expire on their own: the one worker that owns a job, and the global
budget of Triton requests all workers may have in flight. A holder renews its lease while it
works; one that is killed stops renewing, and what it held is free again after the lease
time. (dramatiq's ConcurrentRateLimiter counts holders in one counter whose TTL every holder
refreshes, so a killed holder's slot would stay taken while others keep working.)"""

from __future__ import annotations

import contextlib
import random
import secrets
import time
from collections.abc import Iterator
from typing import Any

from tritontts.jobs.records import lease_key
from tritontts_client.contract import JOBS_REDIS_PREFIX

_BUDGET = JOBS_REDIS_PREFIX + "budget"  # sorted set: holder token -> lease end (ms)

# KEYS[1] the budget set; ARGV: token, now ms, lease ms, limit. Expired holders are dropped
# first, so a killed worker's slots come back by themselves.
_TAKE_SLOT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[4]) then
  redis.call('ZADD', KEYS[1], tonumber(ARGV[2]) + tonumber(ARGV[3]), ARGV[1])
  return 1
end
return 0
"""
# KEYS[1] the lease; ARGV: token, lease ms. Renew or release only a lease this holder has.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _now_ms() -> int:
    return int(time.time() * 1000)


class JobLease:
    """The right to work on one job."""

    def __init__(self, redis: Any, job_id: str, lease_s: float) -> None:
        self.redis, self.key = redis, lease_key(job_id)
        self.lease_ms = int(lease_s * 1000)
        self.token = secrets.token_hex(8)
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    def acquire(self) -> bool:
        return bool(self.redis.set(self.key, self.token, nx=True, px=self.lease_ms))

    def remaining_ms(self) -> int:
        return max(0, int(self.redis.pttl(self.key)))

    def renew(self) -> bool:
        return bool(self._renew(keys=[self.key], args=[self.token, self.lease_ms]))

    def release(self) -> None:
        self._release(keys=[self.key], args=[self.token])


class GlobalBudget:
    """At most `limit` Triton requests in flight from all workers together."""

    def __init__(self, redis: Any, limit: int, lease_s: float) -> None:
        self.redis, self.limit = redis, limit
        self.lease_ms = int(lease_s * 1000)
        self._take = redis.register_script(_TAKE_SLOT)

    @contextlib.contextmanager
    def slot(self, should_stop: Any = None) -> Iterator[bool]:
        """Wait for a slot (polling with jittered backoff); yields False if `should_stop()`
        turned true while waiting."""
        token = secrets.token_hex(8)
        pause = 0.01
        while not self._take(keys=[_BUDGET], args=[token, _now_ms(), self.lease_ms,
                                                   self.limit]):
            if should_stop is not None and should_stop():
                yield False
                return
            time.sleep(pause * random.uniform(0.5, 1.0))
            pause = min(0.2, pause * 2)
        try:
            yield True
        finally:
            self.redis.zrem(_BUDGET, token)

    def in_use(self) -> int:
        self.redis.zremrangebyscore(_BUDGET, "-inf", _now_ms())
        return int(self.redis.zcard(_BUDGET))
