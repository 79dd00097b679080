"""Children tethered to their parent (tritontts.serving.tether): they outlive the thread that
started them, and die with the process, however it dies. Real processes, no server."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from tritontts.serving.processes import is_running

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the parent-death signal is Linux's")

# A parent that starts two tethered `sleep`s in a session of their own, one from its main
# thread and one from a thread that ends at once, prints their pids and waits to be killed
# (or, with "raise", dies of an uncaught exception).
PARENT = """
import sys, threading, time
from tritontts.serving.tether import tethered_popen

def start():
    return tethered_popen(["sleep", "60"], start_new_session=True).pid

pids = [start()]
helper = threading.Thread(target=lambda: pids.append(start()))
helper.start()
helper.join()
time.sleep(0.5)  # the thread that asked is gone: its child must still run
print(*pids, flush=True)
if sys.argv[1] == "raise":
    sys.stdin.readline()
    raise RuntimeError("the parent crashes")
time.sleep(60)
"""


def start_parent(mode: str) -> tuple[subprocess.Popen[str], list[int]]:
    parent = subprocess.Popen([sys.executable, "-c", PARENT, mode], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    children = [int(pid) for pid in parent.stdout.readline().split()]
    assert len(children) == 2 and all(is_running(pid) for pid in children)
    return parent, children


def wait_gone(children: list[int], timeout_s: float = 5.0) -> float:
    started = time.monotonic()
    while any(is_running(pid) for pid in children):
        assert time.monotonic() - started < timeout_s, "a child outlived its parent"
        time.sleep(0.01)
    return time.monotonic() - started


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])
def test_children_die_when_their_parent_is_killed(signum: int) -> None:
    parent, children = start_parent("wait")
    parent.send_signal(signum)
    parent.wait(10)
    assert wait_gone(children) < 2.0


def test_children_die_when_their_parent_crashes() -> None:
    parent, children = start_parent("raise")
    assert parent.stdin is not None
    parent.stdin.write("\n")
    parent.stdin.flush()
    assert parent.wait(10) != 0
    assert wait_gone(children) < 2.0
