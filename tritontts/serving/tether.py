"""Child processes that die with the process that started them (Linux).

`tritontts serve` starts tritonserver in a session of its own (so that a signal to the
terminal's process group reaches `serve` alone, which drains the server first). Without a
tether, a `serve` killed with SIGKILL (the OOM killer, a container runtime's hard stop, a
supervisor giving up) leaves tritonserver running under PID 1, holding its ports, memory and
GPU. The kernel's parent-death signal (prctl PR_SET_PDEATHSIG) ends the child instead.

The kernel sends that signal when the *thread* that forked the child exits, not the process:
children are therefore forked on the main thread, or, when asked from any other thread, on a
thread of this module that lives as long as the process.
"""

from __future__ import annotations

import ctypes
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _prctl() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    return ctypes.CDLL(None, use_errno=True).prctl


def death_signal_setter(signum: int = signal.SIGKILL) -> Callable[[], None] | None:
    """A `preexec_fn` that has the kernel send `signum` to the child when this process
    dies; None where the kernel has no such thing."""
    prctl = _prctl()  # looked up here: the child between fork and exec does as little as it can
    if prctl is None:
        return None
    parent = os.getpid()

    def set_death_signal() -> None:
        if prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        if os.getppid() != parent:  # the parent died before the signal was set
            os.kill(os.getpid(), signum)

    return set_death_signal


class _Spawner:
    """A daemon thread, alive until the process exits, that forks children for other threads."""

    _lock = threading.Lock()
    _instance: _Spawner | None = None

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = \
            queue.SimpleQueue()
        threading.Thread(target=self._run, name="tether-spawner", daemon=True).start()

    @classmethod
    def get(cls) -> _Spawner:
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def _run(self) -> None:
        while True:
            call, future = self._jobs.get()
            try:
                future.set_result(call())
            except BaseException as exc:  # handed to the thread that asked
                future.set_exception(exc)

    def call(self, call: Callable[[], Any]) -> Any:
        future: Future[Any] = Future()
        self._jobs.put((call, future))
        return future.result()


def tethered_popen(args: list[str], **options: Any) -> subprocess.Popen[bytes]:
    """`subprocess.Popen(args, **options)` whose child gets SIGKILL when this process dies,
    however it dies."""
    setter = death_signal_setter()
    if setter is None:
        return subprocess.Popen(args, **options)

    def spawn() -> subprocess.Popen[bytes]:
        return subprocess.Popen(args, preexec_fn=setter, **options)

    if threading.current_thread() is threading.main_thread():
        return spawn()
    return _Spawner.get().call(spawn)
