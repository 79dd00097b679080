"""Bring a stage back when its python stub process dies.

Measured on the 2.51 python backend: when a stub is killed, the requests it held fail
("Stub process '<instance>' is not healthy", after about a second), the model and the server
keep reporting READY, the dead stub stays a zombie, and every later request to that model fails
the same way: the backend never restarts it. So the runner watches the stubs itself and, when
one dies, reloads its model through the repository API; Triton builds new instances and swaps
them in, and the tts ensemble goes on with them.

A death shows as a zombie: the backend does not reap a stub it did not stop. Stubs stopped
on purpose (a reload, an unload through the repository API, a drain) are reaped and simply
vanish, so they are never mistaken for crashes and never brought back against the operator.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from tritontts.processes import stub_processes

log = logging.getLogger(__name__)


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
                 interval_s: float = 0.25) -> None:
        self.server_pid = server_pid
        self._reload = reload
        self.interval_s = interval_s
        self.recoveries: list[Recovery] = []
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
        return reloaded

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
