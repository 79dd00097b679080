"""The stub watchdog's decisions, on made-up process tables (no server)."""

from __future__ import annotations

import pytest

from tritontts.serving import recovery
from tritontts.serving.processes import StubProcess
from tritontts.serving.recovery import MemoryLimit, StubWatchdog


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> list[StubProcess]:
    stubs: list[StubProcess] = []
    monkeypatch.setattr(recovery, "stub_processes", lambda server_pid: list(stubs))
    return stubs


def watchdog(reloaded: list[str], fail: int = 0) -> StubWatchdog:
    failures = [fail]

    def reload(model: str) -> None:
        if failures[0] > 0:
            failures[0] -= 1
            raise RuntimeError("server busy")
        reloaded.append(model)

    return StubWatchdog(server_pid=1, reload=reload)


def test_a_zombie_stub_reloads_its_model_once(table: list[StubProcess]) -> None:
    reloaded: list[str] = []
    dog = watchdog(reloaded)
    table[:] = [StubProcess(10, "acoustic", "S"), StubProcess(11, "vocoder", "S")]
    assert dog.check() == []
    table[0] = StubProcess(10, "", "Z")  # killed: its command line is gone, it is not reaped
    assert dog.check() == ["acoustic"]
    table.append(StubProcess(12, "acoustic", "S"))  # the reloaded instance
    assert dog.check() == []  # the same zombie is not a second crash
    del table[0]  # reaped once the old instance is unloaded
    assert dog.check() == []
    assert reloaded == ["acoustic"] and dog.recoveries[0].pid == 10


def test_a_stub_replaced_by_a_reload_is_no_crash(table: list[StubProcess]) -> None:
    reloaded: list[str] = []
    dog = watchdog(reloaded)
    table[:] = [StubProcess(10, "acoustic", "S")]
    dog.check()
    table[:] = [StubProcess(10, "acoustic", "S"), StubProcess(20, "acoustic", "S")]
    dog.check()
    table[:] = [StubProcess(20, "acoustic", "S")]  # the old one exited normally and was reaped
    assert dog.check() == [] and reloaded == []


def test_a_stub_reaped_by_an_unload_is_left_alone(table: list[StubProcess]) -> None:
    """An operator (or a drain) unloaded the model: bringing it back would undo that."""
    reloaded: list[str] = []
    dog = watchdog(reloaded)
    table[:] = [StubProcess(10, "tts_stream", "S")]
    dog.check()
    table.clear()
    assert dog.check() == [] and reloaded == []


def test_a_failed_reload_is_tried_again(table: list[StubProcess]) -> None:
    reloaded: list[str] = []
    dog = watchdog(reloaded, fail=1)
    table[:] = [StubProcess(10, "acoustic", "S")]
    dog.check()
    table[0] = StubProcess(10, "", "Z")
    dog.check()
    assert reloaded == [] and dog.recoveries[0].recovered_at is None
    dog.check()
    assert reloaded == ["acoustic"] and dog.recoveries[1].seconds is not None


def test_a_text_model_over_its_memory_limit_is_recycled_when_idle(
        table: list[StubProcess]) -> None:
    """The phonemizer keeps memory per call: a frontend or stream stub over its limit is
    reloaded (fresh stubs), a stream model only between streams; other models never."""
    reloaded: list[str] = []
    rss = {10: 900 << 20, 11: 2 << 30, 12: 3 << 30, 13: 100 << 20}
    streaming = [True]
    dog = StubWatchdog(server_pid=1, reload=reloaded.append, memory_every=2, rss=rss.__getitem__,
                       memory_limits={
                           "frontend": MemoryLimit(1 << 30),
                           "tts_stream": MemoryLimit(1 << 30, idle=lambda: not streaming[0])})
    table[:] = [StubProcess(10, "frontend", "S"), StubProcess(11, "frontend", "S"),
                StubProcess(12, "tts_stream", "S"), StubProcess(13, "acoustic", "S")]
    rss[13] = 8 << 30  # not a text model: never recycled for memory
    assert dog.check() == []  # memory is looked at every second poll
    assert dog.check() == ["frontend"]  # one reload for the model, however many stubs grew
    assert dog.recycles[0].pid == 11 and dog.recycles[0].rss_bytes == 2 << 30
    table[:] = [StubProcess(20, "frontend", "S"), StubProcess(12, "tts_stream", "S"),
                StubProcess(13, "acoustic", "S")]
    rss[20] = 80 << 20
    dog.check()
    assert dog.check() == []  # tts_stream is over, but streams are in progress
    streaming[0] = False
    dog.check()
    assert dog.check() == ["tts_stream"]
    assert reloaded == ["frontend", "tts_stream"]
    assert dog.recoveries == []  # recycling is no crash recovery
