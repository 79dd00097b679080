"""The python backend's stub processes of a running tritonserver, read from /proc (Linux).

Every python-backend model instance runs in its own `triton_python_backend_stub` child process
of tritonserver; its second argument is the instance's `<repository>/<model>/<version>/model.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

STUB_NAME = "triton_python_backend_stub"
PROC = Path("/proc")


@dataclass(frozen=True)
class StubProcess:
    pid: int
    model: str  # "" for a zombie: the kernel has already dropped its command line
    state: str  # the /proc state letter: R running, S sleeping, Z zombie (dead, not reaped), ...

    @property
    def alive(self) -> bool:
        return self.state not in ("Z", "X")


def _stat_fields(pid: int) -> list[str]:
    """Fields of /proc/PID/stat after the command name (which may contain spaces)."""
    text = (PROC / str(pid) / "stat").read_text()
    return text.rsplit(")", 1)[1].split()


def is_running(pid: int) -> bool:
    """Whether `pid` is a live process (not gone, not a zombie waiting to be reaped)."""
    try:
        return _stat_fields(pid)[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def process_name(pid: int) -> str:
    """The kernel's name of a process (its executable's, at most 15 characters); "" if gone."""
    try:
        return (PROC / str(pid) / "comm").read_text().strip()
    except OSError:
        return ""


def child_pids(parent_pid: int) -> list[int]:
    """The processes whose parent is `parent_pid`."""
    children = []
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            try:
                if int(_stat_fields(int(entry.name))[1]) == parent_pid:
                    children.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue  # exited while we looked
    return children


def stub_processes(server_pid: int) -> list[StubProcess]:
    """The stub processes whose parent is `server_pid`, zombies included."""
    stubs = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            state, ppid = _stat_fields(pid)[:2]
            if int(ppid) != server_pid:
                continue
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue  # exited while we looked
        if argv and argv[0] and not argv[0].decode(errors="replace").endswith(STUB_NAME):
            continue
        model = Path(argv[1].decode(errors="replace")).parent.parent.name if len(argv) > 1 else ""
        stubs.append(StubProcess(pid, model, state))
    return stubs


def rss_bytes(pid: int) -> int:
    """Resident memory of one process (0 if it is gone or a zombie)."""
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def server_rss_bytes(server_pid: int) -> dict[str, int]:
    """RSS of tritonserver and of each live stub, by name ("tritonserver", then models)."""
    usage = {"tritonserver": rss_bytes(server_pid)}
    for stub in stub_processes(server_pid):
        if stub.alive:
            usage[stub.model] = usage.get(stub.model, 0) + rss_bytes(stub.pid)
    return usage

