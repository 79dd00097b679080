"""Faults under load: a stage's stub process killed, and SIGTERM to a serving server.

Each test starts a server of its own: these tests kill things.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient

from tritontts.serving.processes import (
    child_pids,
    is_running,
    process_name,
    rss_bytes,
    stub_processes,
)
from tritontts.serving.recovery import MemoryLimit
from tritontts.serving.server import ServerOptions, TritonServer, free_port
from tritontts_client import (
    NO_RETRY,
    RetryPolicy,
    ServerUnavailableError,
    Synthesis,
    TTSClient,
    TTSError,
)

from helpers import assert_speech

pytestmark = pytest.mark.e2e

_numbers = itertools.count()


def short_text() -> str:
    # Distinct texts, so that nothing could be answered from a cache.
    return f"Request number {next(_numbers)} is still being answered."


@dataclass
class Outcome:
    started: float  # time.monotonic()
    ended: float
    error: TTSError | None
    text: str = ""


class Load:
    """Threads sending short requests back to back until stopped; every outcome is kept."""

    def __init__(self, client: TTSClient, threads: int = 3,
                 text: Callable[[], str] = short_text) -> None:
        self.client, self.text = client, text
        self.outcomes: list[Outcome] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self) -> None:
        while not self._stop.is_set():
            text = self.text()
            started = time.monotonic()
            try:
                self.client.synthesize(text)
                error = None
            except TTSError as exc:
                error = exc
            self.outcomes.append(Outcome(started, time.monotonic(), error, text))
            if error is not None:
                time.sleep(0.05)

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)


@pytest.fixture
def own_server(repository: Path, tmp_path: Path) -> Iterator[TritonServer]:
    # A short exit timeout: after a stub crash the dead instance never finishes unloading
    # in 2.51 (docs/faults.md), so the final exit waits it out.
    options = ServerOptions(repository, http_port=free_port(), grpc_port=free_port(),
                            metrics_port=free_port(), exit_timeout_s=5)
    server = TritonServer(options, log_file=tmp_path / "tritonserver.log").start()
    yield server
    server.stop()


def stage_pid(server: TritonServer, model: str) -> int:
    assert server.process is not None
    pids = [s.pid for s in stub_processes(server.process.pid) if s.model == model and s.alive]
    assert len(pids) == 1, pids
    return pids[0]


def test_killed_stage_stub_fails_its_requests_clearly_and_comes_back(
        own_server: TritonServer) -> None:
    assert own_server.watchdog is not None
    ready_probe: list[bool] = []
    with TTSClient(own_server.grpc_url, retry=NO_RETRY, deadline_s=30) as client, \
            Load(client) as load:
        time.sleep(2.0)
        old_pid = stage_pid(own_server, "acoustic")
        killed_at = time.monotonic()
        os.kill(old_pid, signal.SIGKILL)
        deadline = killed_at + 30
        while not own_server.watchdog.recoveries and time.monotonic() < deadline:
            ready_probe.append(own_server.is_ready())
            time.sleep(0.2)
        assert own_server.watchdog.recoveries, "the watchdog never reloaded the stage"
        recovery = own_server.watchdog.recoveries[0]
        time.sleep(3.0)  # load goes on against the new instance
    # A client that retries rides through a crash: one more kill, one call.
    with TTSClient(own_server.grpc_url, deadline_s=30, retry=RetryPolicy(max_attempts=30),
                   throttle_retries=False) as retrying:
        second_kill = time.monotonic()
        os.kill(stage_pid(own_server, "acoustic"), signal.SIGKILL)
        ridden = retrying.synthesize("This request arrives while the stage is down.")
        ridden_s = time.monotonic() - second_kill
    assert recovery.model == "acoustic" and recovery.pid == old_pid
    assert recovery.seconds is not None
    assert stage_pid(own_server, "acoustic") not in (old_pid,)

    held = [o for o in load.outcomes if o.started < killed_at < o.ended or
            killed_at <= o.started < recovery.recovered_at]
    failed = [o for o in load.outcomes if o.error is not None]
    after = [o for o in load.outcomes if recovery.recovered_at and
             o.started > recovery.recovered_at + 0.5]
    first_success = min(o.ended for o in load.outcomes
                        if o.error is None and o.started > killed_at)
    print(f"\nstub kill: detected {recovery.detected_at - killed_at:.2f} s after the kill, "
          f"stage reloaded in {recovery.seconds:.2f} s, first success "
          f"{first_success - killed_at:.2f} s after the kill; {len(failed)} requests failed, "
          f"{len(after)} after recovery all answered; a retrying client's call during a second "
          f"crash took {ridden_s:.2f} s ({ridden.attempts} attempts)")
    assert failed, "killing the stage should have failed the requests it held"
    # Every failure is a transient refusal that says what happened: the dead stub's own
    # "not healthy", or a queue timeout of requests that waited behind it.
    assert any("is not healthy" in str(o.error) for o in failed)
    for outcome in failed:
        assert isinstance(outcome.error, ServerUnavailableError), outcome.error
        assert outcome in held
    assert after and all(o.error is None for o in after)
    assert all(ready_probe), "the server should stay up while one stage is reloaded"
    assert ridden.attempts > 1 and ridden.audio.size > 0


def test_a_grown_frontend_is_recycled_under_load_and_nothing_fails(
        own_server: TritonServer) -> None:
    """The phonemizer keeps ~1.3 KB per call; the watchdog reloads a frontend whose stub
    passed its memory limit while requests keep flowing, and none of them fails."""
    dog = own_server.watchdog
    assert dog is not None
    many_sentences = np.array([("Yes. " * 400).encode()], dtype=np.object_)
    with TTSClient(own_server.grpc_url, retry=NO_RETRY, deadline_s=30) as client, \
            Load(client, threads=2) as load, \
            grpcclient.InferenceServerClient(own_server.grpc_url) as raw:
        time.sleep(1.0)
        old_pid = stage_pid(own_server, "frontend")
        # A limit just above what the frontend holds now: a few hundred phonemize calls.
        dog.memory_limits = {"frontend": MemoryLimit(rss_bytes(old_pid) + (512 << 10))}
        deadline = time.monotonic() + 60
        while not dog.recycles and time.monotonic() < deadline:
            text = grpcclient.InferInput("TEXT", [1], "BYTES")
            text.set_data_from_numpy(many_sentences)
            raw.infer("frontend", [text])  # 400 sentences, each phonemized
        dog.memory_limits = {}
        time.sleep(2.0)  # requests go on against the fresh stub
    assert dog.recycles, "the frontend never passed its limit or was never recycled"
    recycle = dog.recycles[0]
    assert recycle.model == "frontend" and recycle.pid == old_pid and recycle.seconds
    assert stage_pid(own_server, "frontend") != old_pid
    failed = [o.error for o in load.outcomes if o.error is not None]
    assert not failed, failed
    assert len(load.outcomes) > 5
    print(f"\nfrontend recycled at {recycle.rss_bytes / 2**20:.0f} MiB in "
          f"{recycle.seconds:.1f} s; {len(load.outcomes)} requests meanwhile, none failed")


@dataclass
class Serving:
    process: subprocess.Popen[bytes]
    http_url: str
    grpc_url: str
    exit_timeout_s: int


def start_serve(repository: Path, ports: tuple[int, int, int], log: Path,
                exit_timeout_s: int) -> subprocess.Popen[bytes]:
    """`tritontts serve` as a deployment runs it, once it answers ready."""
    http, grpc, metrics = ports
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tritontts.cli", "serve", "--model-repository",
             str(repository), "--http-port", str(http), "--grpc-port", str(grpc),
             "--metrics-port", str(metrics), "--exit-timeout", str(exit_timeout_s)],
            stdout=subprocess.DEVNULL, stderr=out)
    try:
        probe = TritonServer(ServerOptions(repository, http_port=http))
        deadline = time.monotonic() + 120
        while not probe.is_ready():
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "server never became ready"
            time.sleep(0.2)
    except BaseException:
        process.kill()
        process.wait()
        raise
    return process


@pytest.fixture
def serving(repository: Path, tmp_path: Path) -> Iterator[Serving]:
    """`tritontts serve`: the process that gets the SIGTERM."""
    http, grpc = free_port(), free_port()
    exit_timeout_s = 20
    process = start_serve(repository, (http, grpc, free_port()), tmp_path / "serve.log",
                          exit_timeout_s)
    try:
        yield Serving(process, f"127.0.0.1:{http}", f"127.0.0.1:{grpc}", exit_timeout_s)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def tritonserver_of(serve_pid: int) -> int:
    """The pid of the tritonserver that `serve` started (its child)."""
    children = [child for child in child_pids(serve_pid)
                if process_name(child) == "tritonserver"]
    assert len(children) == 1, children
    return children[0]


def test_sigkill_of_serve_ends_its_tritonserver_and_a_new_serve_takes_the_ports(
        repository: Path, tmp_path: Path) -> None:
    """The OOM killer, a container runtime's hard stop or a supervisor that gives up ends
    `serve` with SIGKILL: no drain is possible, but nothing of it may stay behind holding
    the ports, the memory and the GPU."""
    ports = (free_port(), free_port(), free_port())
    log = tmp_path / "serve.log"
    first = start_serve(repository, ports, log, exit_timeout_s=5)
    triton = tritonserver_of(first.pid)
    stubs = [stub.pid for stub in stub_processes(triton)]
    assert stubs
    first.kill()
    killed_at = time.monotonic()
    first.wait()
    left, gone_s = [triton, *stubs], {}
    try:
        while left and time.monotonic() < killed_at + 10:
            time.sleep(0.01)
            for pid in [pid for pid in left if not is_running(pid)]:
                gone_s[pid] = time.monotonic() - killed_at
                left.remove(pid)
        assert triton in gone_s, "tritonserver still runs 10 s after `serve` was killed"
        assert not left, f"stubs of the killed server still run: {left}"
    finally:
        for pid in left:  # never leave one behind, even when the test fails
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    print(f"\nserve SIGKILL: tritonserver gone {gone_s[triton]:.2f} s after the kill, its "
          f"{len(stubs)} stubs {max(gone_s[pid] for pid in stubs):.2f} s after the kill")
    second = start_serve(repository, ports, log, exit_timeout_s=5)  # the same ports
    with TTSClient(f"127.0.0.1:{ports[1]}", retry=NO_RETRY, deadline_s=30) as client:
        spoken = client.synthesize("A new server answers on the same ports.")
    second.send_signal(signal.SIGTERM)
    assert second.wait(60) == 0
    assert spoken.audio.size > 0


def test_sigterm_lets_in_flight_requests_finish_and_refuses_new_ones(serving: Serving) -> None:
    process, exit_timeout_s = serving.process, serving.exit_timeout_s
    long_texts = [" ".join(f"Sentence {n} of long request {i} must reach its listener."
                           for n in range(4)) for i in range(3)]
    in_flight: list[Outcome] = []
    audio: dict[str, Synthesis] = {}

    def speak(text: str) -> None:
        started = time.monotonic()
        try:
            audio[text] = client.synthesize(text)
            error = None
        except TTSError as exc:
            error = exc
        in_flight.append(Outcome(started, time.monotonic(), error, text))

    with TTSClient(serving.grpc_url, retry=NO_RETRY, deadline_s=60) as client:
        client.synthesize("Warm up.")
        with Load(client, threads=1) as newcomers:
            speakers = [threading.Thread(target=speak, args=(t,)) for t in long_texts]
            for thread in speakers:
                thread.start()
            time.sleep(0.5)
            sigterm_at = time.monotonic()
            process.send_signal(signal.SIGTERM)
            for thread in speakers:
                thread.join(timeout=exit_timeout_s + 30)
            returncode = process.wait(timeout=exit_timeout_s + 30)
            exited_at = time.monotonic()
    late = [o for o in newcomers.outcomes if o.started > sigterm_at + 1.0]
    print(f"\nSIGTERM: {len(in_flight)} in-flight requests, "
          f"{sum(o.error is None for o in in_flight)} finished with audio, the last "
          f"{max(o.ended for o in in_flight) - sigterm_at:.2f} s after the signal; server "
          f"exited {exited_at - sigterm_at:.2f} s after it (code {returncode}); "
          f"{len(late)} new requests after the signal, all refused: "
          f"{sorted({type(o.error).__name__ for o in late})}")
    assert returncode == 0
    assert exited_at - sigterm_at <= exit_timeout_s + 10
    assert len(in_flight) == 3
    for outcome in in_flight:
        assert outcome.error is None, outcome.error
        assert outcome.started < sigterm_at < outcome.ended  # really in flight at the signal
        result = audio[outcome.text]
        assert_speech(result.audio, result.sample_rate, outcome.text)
    assert late, "no request was sent after the signal"
    for outcome in late:
        assert isinstance(outcome.error, ServerUnavailableError), outcome.error
