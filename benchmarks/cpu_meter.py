"""How much CPU other work on the machine took while a benchmark measured (Linux /proc).

The benchmarks share a small machine with whatever else runs on it. "Foreign" CPU is all busy
CPU time minus that of this process and its descendants (the tritonservers it started and their
python-backend stubs), in cores: 1.0 means one core was busy with other work the whole time.
Measurements record it, and wait for a quiet machine before they start, so that a figure taken
under interference can be recognised, and retried.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TypeVar

TICKS_PER_S = os.sysconf("SC_CLK_TCK")
QUIET_CORES = 0.3  # other work below this is taken as a quiet machine
DISTURBED_CORES = 0.5  # a measurement with more foreign CPU than this is worth repeating
RETRIES = 2  # ... this many times at most, so that a busy machine does not stall the run


def _busy_ticks() -> int:
    """Busy CPU time of the whole machine (user, nice, system, irq, softirq, steal)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return user + nice + system + irq + softirq + steal


def _own_ticks(root: int) -> int:
    """CPU time of `root` and every process below it."""
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # the process ended while we looked
            continue
        fields = stat.rsplit(")", 1)[1].split()  # the name may hold spaces and parentheses
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        ticks[pid] = int(fields[11]) + int(fields[12])  # utime + stime
    ours = {root}
    grew = True
    while grew:  # descendants: repeat until no process joins
        children = {pid for pid, parent in parents.items() if parent in ours} - ours
        grew = bool(children)
        ours |= children
    return sum(ticks.get(pid, 0) for pid in ours)


class ForeignCpu:
    """`with ForeignCpu() as meter: ...`; then `meter.cores`: other work's CPU, in cores, and
    `meter.own_cores`: the CPU this process and its descendants took meanwhile."""

    def __init__(self) -> None:
        self.cores = 0.0
        self.own_cores = 0.0

    def __enter__(self) -> ForeignCpu:
        self._start = (time.perf_counter(), _busy_ticks(), _own_ticks(os.getpid()))
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        wall, busy, own = self._start
        elapsed = time.perf_counter() - wall
        own_ticks = _own_ticks(os.getpid()) - own
        foreign = (_busy_ticks() - busy) - own_ticks
        self.cores = max(0.0, foreign / TICKS_PER_S / max(elapsed, 1e-9))
        self.own_cores = own_ticks / TICKS_PER_S / max(elapsed, 1e-9)


class Patience:
    """How long a run may spend waiting for, and repeating measurements because of, other work
    on the machine: on a machine busy for good, a run must still end."""

    def __init__(self, seconds: float) -> None:
        self.left_s = seconds

    def wait_for_quiet(self, max_wait_s: float = 20.0, window_s: float = 0.5) -> None:
        """Wait until other work takes less than QUIET_CORES over a window."""
        started = time.perf_counter()
        while self.left_s > 0 and time.perf_counter() - started < max_wait_s:
            with ForeignCpu() as meter:
                time.sleep(window_s)
            if meter.cores < QUIET_CORES:
                break
            self.left_s -= window_s
        waited = time.perf_counter() - started - window_s
        if waited >= 1:
            print(f"waited {waited:.0f} s for other work on the machine to calm down "
                  f"(now {meter.cores:.2f} cores; patience left {max(self.left_s, 0):.0f} s)",
                  file=sys.stderr)

    def may_repeat(self, cost_s: float) -> bool:
        """Whether a disturbed measurement that took `cost_s` may be taken again."""
        if self.left_s <= 0:
            return False
        self.left_s -= cost_s
        return True


PATIENCE = Patience(300.0)  # bench.py --patience sets it


T = TypeVar("T")


def least_disturbed(measure: Callable[[], T], foreign_cores: Callable[[T], float],
                    label: str) -> tuple[T, int]:
    """Run `measure` on a quiet machine; when other work took more than DISTURBED_CORES
    during it (`foreign_cores` of its result), again, up to RETRIES times while PATIENCE
    lasts. (the least disturbed result, attempts made)."""
    attempts: list[T] = []
    while True:
        PATIENCE.wait_for_quiet()
        started = time.perf_counter()
        result = measure()
        attempts.append(result)
        cores = foreign_cores(result)
        if (cores <= DISTURBED_CORES or len(attempts) > RETRIES
                or not PATIENCE.may_repeat(time.perf_counter() - started)):
            break
        print(f"{label}: other work took {cores:.2f} cores meanwhile; again", file=sys.stderr)
    return min(attempts, key=foreign_cores), len(attempts)
