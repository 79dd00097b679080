"""Per-caller request and character rates (the `limits` library: in memory, or in Redis so that
every replica counts the same), and concurrency caps that refuse at once instead of queueing:
one per replica and one per caller (counted in this replica)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from tritontts.api.errors import too_many
from tritontts.gateway.auth import Principal
from tritontts.gateway.metrics import GatewayMetrics

NAMESPACE = "tritontts-gateway"


def limits_storage(redis_url: str | None) -> Storage:
    if redis_url is None:
        return storage_from_string("async+memory://")
    scheme, _, rest = redis_url.partition("://")
    return storage_from_string(f"async+{scheme}://{rest}", implementation="redispy")


class Limits:
    def __init__(self, storage: Storage, max_concurrency: int, metrics: GatewayMetrics) -> None:
        self.limiter = MovingWindowRateLimiter(storage)
        self.max_concurrency = max_concurrency
        self.metrics = metrics
        self._in_flight = 0
        self._per_caller: Counter[str] = Counter()
        self._parsed: dict[str, RateLimitItem] = {}

    def _item(self, notation: str) -> RateLimitItem:
        if notation not in self._parsed:
            self._parsed[notation] = parse(notation)
        return self._parsed[notation]

    async def check_rates(self, caller: Principal, characters: int) -> None:
        """Count one request and its characters; 429 with Retry-After when over a limit."""
        await self.check_requests(caller)
        await self.check_characters(caller, characters)

    async def check_requests(self, caller: Principal) -> None:
        """Count one request (a socket counts once, at its upgrade)."""
        requests = self._item(caller.limits.requests)
        if not await self.limiter.hit(requests, NAMESPACE, "requests", caller.name):
            await self._refuse(requests, caller, "requests", "rate_limit_exceeded",
                               f"Rate limit reached: {caller.limits.requests} requests")

    async def check_characters(self, caller: Principal, characters: int) -> None:
        """Count characters of input (a socket's, piece by piece over its life)."""
        for notation in caller.limits.characters:
            item = self._item(notation)
            if characters > item.amount:
                self.metrics.refusals.labels("characters").inc()
                raise too_many(f"{characters} characters exceed this key's whole quota of "
                               f"{notation}", "quota_exceeded", item.get_expiry())
            if not await self.limiter.hit(item, NAMESPACE, "characters", caller.name,
                                          cost=characters):
                await self._refuse(item, caller, "characters", "quota_exceeded",
                                   f"Character quota reached: {notation}")

    async def _refuse(self, item: RateLimitItem, caller: Principal, kind: str, code: str,
                      message: str) -> None:
        stats = await self.limiter.get_window_stats(item, NAMESPACE, kind, caller.name)
        self.metrics.refusals.labels(kind).inc()
        raise too_many(message, code, max(0.0, stats.reset_time - time.time()))

    @asynccontextmanager
    async def slot(self, caller: Principal) -> AsyncIterator[None]:
        """Hold one of the replica's and the caller's concurrent slots for a request."""
        if self._in_flight >= self.max_concurrency:
            self.metrics.refusals.labels("replica_concurrency").inc()
            raise too_many("The gateway is busy; retry shortly", "server_busy", 1)
        if self._per_caller[caller.name] >= caller.limits.concurrency:
            self.metrics.refusals.labels("concurrency").inc()
            raise too_many(f"Too many requests in progress for this key (at most "
                           f"{caller.limits.concurrency} at once)", "concurrency_limit_exceeded",
                           1)
        # One event loop runs every request of the replica: no lock is needed.
        self._in_flight += 1
        self._per_caller[caller.name] += 1
        self.metrics.in_flight.set(self._in_flight)
        try:
            yield
        finally:
            self._in_flight -= 1
            self._per_caller[caller.name] -= 1
            if not self._per_caller[caller.name]:
                del self._per_caller[caller.name]
            self.metrics.in_flight.set(self._in_flight)
