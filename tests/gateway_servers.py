"""Real servers for the gateway tests: redis-server and `tritontts gateway` processes on free
loopback ports, always stopped."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tritontts.serving.server import free_port

from tiers import starting


def stop(process: subprocess.Popen, timeout_s: float) -> None:
    """SIGTERM, then SIGKILL when the process has not exited within `timeout_s`."""
    process.terminate()
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def running_redis(directory: Path) -> Iterator[str]:
    """redis-server on a free port, nothing saved; yields its URL."""
    starting("redis", "a redis-server")
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is missing: `make system-deps` installs it")
    port = free_port()
    directory.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1",
                                "--save", "", "--appendonly", "no", "--dir", str(directory)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import redis

        client = redis.Redis(host="127.0.0.1", port=port)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        client.close()
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop(process, timeout_s=10)


@contextmanager
def running_gateway(triton_grpc_url: str, *args: str, log: Path) -> Iterator[str]:
    """A `tritontts gateway` process on a free port; yields its base URL once it is healthy."""
    starting("e2e", "a gateway in front of tritonserver")
    port = free_port()
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "tritontts.cli", "gateway", "--triton-url", triton_grpc_url,
             "--host", "127.0.0.1", "--port", str(port), *args],
            stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the gateway did not start: {log.read_text()}") from None
                time.sleep(0.1)
        yield url
    finally:
        stop(process, timeout_s=15)
