"""The global Triton budget in a real redis-server: slots that live while their holder's
heartbeat renews them and lapse one lease after it stops (a killed worker)."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tritontts.jobs.leases import BUDGET_KEY, GlobalBudget, holder_id

from gateway_servers import running_redis

pytestmark = pytest.mark.redis

LEASE_S = 0.6


@pytest.fixture
def client(tmp_path: Path) -> Iterator[redis.Redis]:
    with running_redis(tmp_path / "redis") as url:
        connection = redis.Redis.from_url(url)
        yield connection
        connection.close()


def budget(client: redis.Redis, holder: str, limit: int = 2, **options: float) -> GlobalBudget:
    return GlobalBudget(client, limit, lease_s=LEASE_S, holder=holder, **options)


def took_slot(budget: GlobalBudget) -> bool:
    """Whether `budget` gets a slot at once (it gives up instead of waiting)."""
    with budget.slot(should_stop=lambda: True) as got:
        return got


class Holder:
    """A thread holding every slot of its budget, as a worker's chunks in flight do."""

    def __init__(self, budget: GlobalBudget) -> None:
        self.budget, self.release = budget, threading.Event()
        self.taken = threading.Barrier(budget.limit + 1)
        self.threads = [threading.Thread(target=self._hold) for _ in range(budget.limit)]
        for thread in self.threads:
            thread.start()
        self.taken.wait(5)

    def _hold(self) -> None:
        with self.budget.slot():
            self.taken.wait(5)
            self.release.wait(30)

    def stop(self) -> None:
        self.release.set()
        for thread in self.threads:
            thread.join(5)


def test_a_silent_holders_slots_lapse_after_one_lease(client: redis.Redis) -> None:
    dead = Holder(budget(client, "dead-host:1"))  # never renewed: its heartbeat is gone
    other = budget(client, "live-host:2")
    try:
        assert other.holders() == ["dead-host:1", "dead-host:1"] and not took_slot(other)
        started = time.monotonic()
        with other.slot() as got:  # waits for a lapsed slot
            waited = time.monotonic() - started
            assert got and other.holders().count("dead-host:1") < 2
        assert waited < LEASE_S + 0.5, waited
    finally:
        dead.stop()


def test_renewed_slots_outlive_the_lease_and_are_released_at_once(
        client: redis.Redis) -> None:
    mine = budget(client, "worker:1")
    holder = Holder(mine)
    other = budget(client, "worker:2")
    try:
        for _ in range(5):  # 3 leases of heartbeats
            time.sleep(LEASE_S / 3)
            mine.renew()
            assert not took_slot(other)
        assert mine.holders() == ["worker:1", "worker:1"]
    finally:
        holder.stop()
    assert mine.in_use() == 0 and took_slot(other)


def test_a_slot_is_released_when_its_request_raises(client: redis.Redis) -> None:
    mine = budget(client, "worker:1")
    with pytest.raises(RuntimeError), mine.slot():
        assert mine.in_use() == 1
        raise RuntimeError("the request failed")
    assert mine.in_use() == 0 and client.zcard(BUDGET_KEY) == 0


def test_a_lapsed_slot_and_an_overdue_one_are_logged(client: redis.Redis,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    mine = budget(client, "worker:1", limit=1, overdue_s=0.2)
    caplog.set_level(logging.WARNING, logger="tritontts.jobs.leases")
    with mine.slot():
        time.sleep(0.3)
        mine.renew()
        mine.renew()
        overdue = [r for r in caplog.records if "past the" in r.getMessage()]
        assert len(overdue) == 1 and overdue[0].levelno == logging.ERROR  # once per slot
        time.sleep(LEASE_S + 0.1)  # a stalled heartbeat: the slot lapses
        assert mine.in_use() == 0
        mine.renew()
        mine.renew()  # a lapsed slot is not renewed back, nor reported twice
        assert mine.in_use() == 0
    lapsed = [r for r in caplog.records if "lapsed while its request" in r.getMessage()]
    assert len(lapsed) == 1


def test_a_slot_names_its_holder() -> None:
    assert holder_id(1234).endswith(":1234")
    assert holder_id() == holder_id(os.getpid())
