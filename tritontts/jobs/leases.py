"""Leases in Redis that expire on their own: the one worker that owns a job, and the global
budget of Triton requests all workers may have in flight. A holder renews what it holds from
its heartbeat (every third of the lease); one that is killed stops renewing, and what it held
is free again within one lease. (dramatiq's ConcurrentRateLimiter counts holders in one
counter whose TTL every holder refreshes, so a killed holder's slot would stay taken while
others keep working.)

Budget slots are members of one sorted set, scored by the time (Redis's clock, so workers on
hosts whose clocks differ agree) at which they lapse unless renewed. A member names its
holder (`host:pid:random`), so an operator can see who holds the budget."""

from __future__ import annotations

import contextlib
import logging
import os
import random
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from redis.exceptions import RedisError

from tritontts.jobs.records import lease_key
from tritontts_client.contract import JOBS_REDIS_PREFIX

log = logging.getLogger(__name__)

BUDGET_KEY = JOBS_REDIS_PREFIX + "budget"  # sorted set: slot token -> lapses at (ms)

# Redis's own time in ms; scripts may read it (Redis 5+ replicates their effects).
_NOW = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
"""
# KEYS[1] the budget set; ARGV: token, lease ms, limit. Lapsed slots are dropped first, so a
# killed worker's slots come back by themselves.
_TAKE_SLOT = _NOW + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
  return 1
end
return 0
"""
# KEYS[1] the budget set; ARGV: lease ms, then the holder's tokens. Pushes each slot that is
# still there one lease on; returns the tokens that had lapsed (and may be someone else's
# slot by now).
_RENEW_SLOTS = _NOW + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local lost = {}
for i = 2, #ARGV do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) then
    redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[1]), ARGV[i])
  else
    table.insert(lost, ARGV[i])
  end
end
return lost
"""
_IN_USE = _NOW + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZRANGE', KEYS[1], 0, -1)
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


def holder_id(pid: int | None = None) -> str:
    """Who holds a budget slot: this host and process (or the process `pid` on this host)."""
    return f"{socket.gethostname()}:{os.getpid() if pid is None else pid}"


def slot_holder(token: str | bytes) -> str:
    """The holder named in a slot's token."""
    text = token.decode() if isinstance(token, bytes) else token
    return text.rsplit(":", 1)[0]


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
    """At most `limit` Triton requests in flight from all workers together.

    A slot lapses `lease_s` after it was taken or last renewed: the holder's heartbeat calls
    `renew()` (every third of the lease), so a live worker keeps its slots for as long as its
    requests take and a dead one's are free within one lease. A slot is held only around one
    request, which has a deadline: one held past `overdue_s` is a bug, logged once.
    """

    def __init__(self, redis: Any, limit: int, lease_s: float,
                 overdue_s: float | None = None, holder: str | None = None) -> None:
        self.redis, self.limit = redis, limit
        self.lease_ms = int(lease_s * 1000)
        self.overdue_s = overdue_s
        self.holder = holder or holder_id()
        self._take = redis.register_script(_TAKE_SLOT)
        self._renew = redis.register_script(_RENEW_SLOTS)
        self._in_use = redis.register_script(_IN_USE)
        self._held: dict[str, float] = {}  # token -> time.monotonic() when taken
        self._overdue_logged: set[str] = set()
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def slot(self, should_stop: Any = None) -> Iterator[bool]:
        """Wait for a slot (polling with jittered backoff); yields False if `should_stop()`
        turned true while waiting."""
        token = f"{self.holder}:{secrets.token_hex(4)}"
        pause = 0.01
        while not self._take(keys=[BUDGET_KEY], args=[token, self.lease_ms, self.limit]):
            if should_stop is not None and should_stop():
                yield False
                return
            time.sleep(pause * random.uniform(0.5, 1.0))
            pause = min(0.2, pause * 2)
        with self._lock:
            self._held[token] = time.monotonic()
        try:
            yield True
        finally:
            with self._lock:  # renewed no more: if the release fails, it lapses by itself
                self._held.pop(token, None)
                self._overdue_logged.discard(token)
            try:
                self.redis.zrem(BUDGET_KEY, token)
            except RedisError as exc:
                log.warning("budget: could not release a slot (%s); it lapses within %.0f s",
                            exc, self.lease_ms / 1000)

    def renew(self) -> None:
        """Push every slot this process holds one lease on (the worker's heartbeat)."""
        with self._lock:
            held = dict(self._held)
        if not held:
            return
        lost = [token.decode() if isinstance(token, bytes) else token
                for token in self._renew(keys=[BUDGET_KEY], args=[self.lease_ms, *held])]
        with self._lock:  # a slot released since the look above is not lost
            lost = [token for token in lost if self._held.pop(token, None) is not None]
        for token in lost:
            # Beats came too late (a stalled process, a long Redis outage): the budget may be
            # overcommitted until this request ends.
            log.warning("budget: slot %s lapsed while its request was in flight", token)
        if self.overdue_s is None:
            return
        now = time.monotonic()
        with self._lock:
            overdue = [(token, now - since) for token, since in self._held.items()
                       if now - since > self.overdue_s and token not in self._overdue_logged]
            self._overdue_logged.update(token for token, _ in overdue)
        for token, held_s in overdue:
            log.error("budget: slot %s held %.0f s, past the %.0f s deadline of its "
                      "request: a bug (the slot is renewed while this process lives)",
                      token, held_s, self.overdue_s)

    def holders(self) -> list[str]:
        """The holder of each slot in use (across all workers)."""
        return [slot_holder(token) for token in self._in_use(keys=[BUDGET_KEY])]

    def in_use(self) -> int:
        return len(self.holders())
