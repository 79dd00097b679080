"""Bring a stage back when its python stub process dies, and recycle one that grew too big.

Measured on the 2.51 python backend: when a stub is killed, the requests it held fail
("Stub process '<instance>' is not healthy", after about a second), the model and the server
keep reporting READY, the dead stub stays a zombie, and every later request to that model fails
the same way: the backend never restarts it. So the runner watches the stubs itself and, when
one dies, reloads its model through the repository API; Triton builds new instances and swaps
them in, and the tts ensemble goes on with them.

A death shows as a zombie: the backend does not reap a stub it did not stop. Stubs stopped
on purpose (a reload, an unload through the repository API, a drain) are reaped and simply
vanish, so they are never mistaken for crashes and never brought back against the operator.

The same reload recycles the models that read text when their stub's resident memory passes a
limit: espeak-ng, through piper-phonemize, keeps ~1.3 KB for every phonemize call and never
gives it back (measured: 1 360 bytes per call, whatever the text), so a long-running frontend
grows by about a gigabyte per million sentences. A reload swaps in fresh instances while the
old ones finish what they hold; nothing is refused or lost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from tritontts.serving.processes import rss_bytes, stub_processes

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MemoryLimit:
    """Recycle `model` when one of its stubs holds more than `rss_bytes`, at a moment when
    `idle()` says it serves nothing (a stream model: no stream in progress)."""

    rss_bytes: int
    idle: Callable[[], bool] = lambda: True


@dataclass(frozen=True)
class Recycle:
    model: str
    pid: int  # the stub that had grown
    rss_bytes: int
    seconds: float | None  # how long the reload took; None if it failed


@dataclass(frozen=True)
class Recovery:
    model: str
    pid: int  # the stub that died
    detected_at: float  # time.monotonic()
    recovered_at: float | None  # when the reload returned; None if it failed
    error: str = ""

    @property
    def seconds(self) -> float | None:
        return None if self.recovered_at is None else self.recovered_at - self.detected_at


class StubWatchdog:
    """Polls the stubs of one tritonserver; reloads the model of any that died."""

    def __init__(self, server_pid: int, reload: Callable[[str], None],
                 interval_s: float = 0.25,
                 memory_limits: Mapping[str, MemoryLimit] | None = None,
                 memory_every: int = 20,
                 rss: Callable[[int], int] = rss_bytes) -> None:
        self.server_pid = server_pid
        self._reload = reload
        self.interval_s = interval_s
        self.memory_limits = dict(memory_limits or {})
        self.memory_every = memory_every  # polls between two looks at memory
        self._rss = rss
        self._polls = 0
        self.recoveries: list[Recovery] = []
        self.recycles: list[Recycle] = []
        self._known: dict[int, str] = {}  # pid -> model, for stubs seen alive
        self._handled: set[int] = set()
        self._failed: dict[str, int] = {}  # model -> dead pid, for reloads to try again
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stub-watchdog", daemon=True)

    def start(self) -> StubWatchdog:
        self.check()  # learn the stubs that are there now
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.check()
            except Exception:  # the watchdog must outlive any one bad poll
                log.exception("stub watchdog: check failed")

    def check(self) -> list[str]:
        """One poll: returns the models it reloaded."""
        stubs = {s.pid: s for s in stub_processes(self.server_pid)}
        for stub in stubs.values():
            if stub.alive:
                self._known.setdefault(stub.pid, stub.model)
        dead: dict[str, int] = dict(self._failed)
        self._failed.clear()
        for pid, model in list(self._known.items()):
            stub = stubs.get(pid)
            if stub is not None and stub.alive:
                continue
            if pid not in self._handled and stub is not None:  # a zombie
                dead.setdefault(model, pid)
            if stub is None:
                del self._known[pid]  # reaped: forget it
            self._handled.add(pid)
        reloaded = []
        for model, pid in dead.items():
            if self._stop.is_set():
                break
            reloaded.append(model)
            self._recover(model, pid)
        self._polls += 1
        if self.memory_limits and self._polls % self.memory_every == 0:
            reloaded += self._recycle_grown(
                [s for s in stubs.values() if s.alive and s.model not in reloaded])
        return reloaded

    def _recycle_grown(self, stubs: list) -> list[str]:
        grown: dict[str, tuple[int, int]] = {}  # model -> (pid, rss) of its largest stub
        for stub in stubs:
            limit = self.memory_limits.get(stub.model)
            if limit is None:
                continue
            rss = self._rss(stub.pid)
            if rss > limit.rss_bytes and rss > grown.get(stub.model, (0, 0))[1]:
                grown[stub.model] = (stub.pid, rss)
        recycled = []
        for model, (pid, rss) in grown.items():
            if self._stop.is_set() or not self.memory_limits[model].idle():
                continue  # busy: the next look tries again
            log.warning("stub watchdog: the stub of model %r (pid %d) holds %.0f MiB, over its "
                        "%.0f MiB limit; recycling %r", model, pid, rss / 2**20,
                        self.memory_limits[model].rss_bytes / 2**20, model)
            started = time.monotonic()
            try:
                self._reload(model)
            except Exception as exc:
                log.error("stub watchdog: recycling %r failed (will try again): %s", model, exc)
                self.recycles.append(Recycle(model, pid, rss, None))
                continue
            self.recycles.append(Recycle(model, pid, rss, time.monotonic() - started))
            recycled.append(model)
        return recycled

    def _recover(self, model: str, pid: int) -> None:
        detected = time.monotonic()
        log.warning("stub watchdog: the stub of model %r (pid %d) died; reloading %r",
                    model, pid, model)
        try:
            self._reload(model)
        except Exception as exc:
            log.error("stub watchdog: reloading %r failed (will try again): %s", model, exc)
            self.recoveries.append(Recovery(model, pid, detected, None, str(exc)))
            self._failed[model] = pid
            return
        done = time.monotonic()
        log.warning("stub watchdog: %r is back (%.1f s)", model, done - detected)
        self.recoveries.append(Recovery(model, pid, detected, done))
