"""Start and stop a real `tritonserver` process.

Two installations are known:

* a `tritonserver` on PATH (the NGC container: backends under /opt/tritonserver), which wins;
* the binary carried by the `nvidia-pytriton` wheel (the cpu profile). Its python backend needs
  the `triton_python_backend_stub` built for the running Python next to `libtriton_python.so`,
  so the backend folder is assembled once per virtualenv under `<venv>/share/tritontts/`.

The python backend stub takes its packages from the virtualenv whose `bin/` is first on PATH,
so the server is always started with this interpreter's `bin/` first.

The server runs in explicit model-control mode with every model loaded, so that this runner
can reload a stage whose stub died (`recovery.py`) and drain the entry models before it stops
(`control.py`); the repository API that allows this is behind the admin key.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tritontts.errors import TritonTTSError
from tritontts.serving.control import ModelControl
from tritontts.serving.recovery import MemoryLimit, StubWatchdog
from tritontts.serving.tether import tethered_popen
from tritontts_client.contract import (
    ADMIN_HEADER,
    API_KEY_HEADER,
    CPU_RESOURCE,
    ENTRY_MODELS,
    STREAM_IN_FLIGHT,
    STREAM_MODEL,
    TEXT_MODELS,
    grpc_header,
)

# How long a drained server gets to exit on its own before it is killed (unloading the
# stage models takes a few seconds).
DRAINED_EXIT_S = 10

log = logging.getLogger(__name__)

# APIs that change or reveal how the server is set up: behind the admin key by default.
# shared-memory is among them because registering a region makes the server read and write
# host memory by name; health, metadata, statistics and inference stay open.
ADMIN_APIS = ("model-repository", "model-config", "logging", "trace", "shared-memory")


class ServerError(TritonTTSError):
    """The server could not be found, started or stopped."""


@dataclass(frozen=True)
class TritonInstall:
    binary: Path
    backend_dir: Path
    cache_dir: Path
    library_path: tuple[Path, ...] = ()


@dataclass(frozen=True)
class ServerTLS:
    """gRPC over TLS. With `client_ca`, mutual TLS: clients must show a certificate it signed.

    tritonserver has no TLS for HTTP: keep the HTTP port on a private address (the default
    127.0.0.1) or behind a TLS-terminating proxy.
    """

    cert: Path  # PEM server certificate (chain)
    key: Path  # PEM private key of the certificate
    client_ca: Path | None = None

    def args(self) -> list[str]:
        for path in (self.cert, self.key, self.client_ca):
            if path is not None and not Path(path).is_file():
                raise ServerError(f"TLS file {path} does not exist")
        args = ["--grpc-use-ssl=true", f"--grpc-server-cert={Path(self.cert).resolve()}",
                f"--grpc-server-key={Path(self.key).resolve()}"]
        if self.client_ca is not None:
            args += ["--grpc-use-ssl-mutual=true",
                     f"--grpc-root-cert={Path(self.client_ca).resolve()}"]
        return args


@dataclass(frozen=True)
class Restriction:
    """A group of Triton APIs that answer only requests carrying `header: value`."""

    apis: tuple[str, ...]
    header: str
    value: str

    def args(self) -> list[str]:
        if not self.apis or not self.header or not self.value:
            raise ServerError(f"incomplete API restriction {self.apis!r} / {self.header!r}")
        # Triton splits the flag at ':' and '=' and takes the key and value verbatim.
        if any(c in self.value for c in ":=, ") or self.header != self.header.lower():
            raise ServerError("restricted-API header names must be lowercase and key values "
                              "must not contain ':', '=', ',' or spaces")
        spec = f"{','.join(self.apis)}:{self.header}={self.value}"
        return [f"--grpc-restricted-protocol={spec}", f"--http-restricted-api={spec}"]

    def grpc_headers(self) -> dict[str, str]:
        return {grpc_header(self.header): self.value}

    def http_headers(self) -> dict[str, str]:
        return {self.header: self.value}


@dataclass
class ServerOptions:
    model_repository: Path
    http_port: int = 8000
    grpc_port: int = 8001
    metrics_port: int = 8002
    host: str = "127.0.0.1"
    response_cache_bytes: int = 0
    exit_timeout_s: int = 30
    log_verbose: int = 0
    # explicit: every model is loaded at start and can be reloaded or unloaded through the
    # repository API, which stage recovery and draining need. none: Triton's default.
    model_control: Literal["explicit", "none"] = "explicit"
    # Value of the admin header for ADMIN_APIS; None: a random one for each start, so those
    # APIs are never open by accident (the runner itself knows it).
    admin_key: str | None = None
    # When set, inference needs the `tritontts-api-key` header with this value too.
    inference_key: str | None = None
    tls: ServerTLS | None = None
    # Reload a python model whose stub process died (needs explicit model control).
    restart_crashed_stubs: bool = True
    # Recycle (reload) a text-reading model whose stub holds more than this many MiB, when it
    # is idle: the phonemizer keeps ~1.3 KB per call. None: never (needs the watchdog above).
    text_model_rss_limit_mib: int | None = 1024
    # On stop: refuse new requests and let in-flight ones finish first (explicit control).
    drain_on_stop: bool = True
    # Units of the "cpu" resource the heavy stages share (a unit per thread they run); None:
    # this machine's cores.
    cpu_units: int | None = None
    extra_args: list[str] = field(default_factory=list)


def free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_units_asked(repository: Path) -> int:
    """The most units of the global "cpu" rate-limiter resource one instance of the
    repository's models asks for (0: none takes turns). The server must offer at least that
    many, or such an instance could never run."""
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2 as mc

    asked = 0
    for config_path in Path(repository).glob("*/config.pbtxt"):
        config = text_format.Parse(config_path.read_text(), mc.ModelConfig())
        for group in config.instance_group:
            for resource in group.rate_limiter.resources:
                if resource.name == CPU_RESOURCE:
                    asked = max(asked, resource.count)
    return asked


def locate_tritonserver() -> TritonInstall:
    on_path = shutil.which("tritonserver")
    if on_path:
        root = Path(on_path).resolve().parent.parent
        return TritonInstall(Path(on_path), root / "backends", root / "caches")
    return _pytriton_install()


def _pytriton_install() -> TritonInstall:
    try:
        import pytriton  # the nvidia-pytriton wheel
    except ImportError as exc:  # pragma: no cover - dependency of the package
        raise ServerError(
            "no tritonserver on PATH and the nvidia-pytriton wheel is not installed; "
            "run `make setup` (or pip install nvidia-pytriton)"
        ) from exc
    wheel_root = Path(pytriton.__file__).parent / "tritonserver"
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = wheel_root / "python_backend_stubs" / version / "triton_python_backend_stub"
    if not stub.exists():
        raise ServerError(f"nvidia-pytriton carries no python backend stub for Python {version}")
    runtime = Path(sys.prefix) / "share" / "tritontts" / f"tritonserver-py{version}"
    backend_dir = runtime / "backends"
    _assemble_backends(wheel_root, stub, backend_dir)
    libs = [Path(pytriton.__file__).parent.parent / "nvidia_pytriton.libs"]
    # The stub links libpython3.X.so.1.0: prefer the running interpreter's own copy so the
    # stub runs the same Python (and ABI) as this virtualenv.
    libdir = sysconfig.get_config_var("LIBDIR")
    if libdir and any(Path(libdir).glob(f"libpython{version}.so*")):
        libs.insert(0, Path(libdir))
    return TritonInstall(wheel_root / "bin" / "tritonserver", backend_dir, wheel_root / "caches",
                         tuple(libs))


def _assemble_backends(wheel_root: Path, stub: Path, backend_dir: Path) -> None:
    python_dir = backend_dir / "python"
    marker = python_dir / "triton_python_backend_stub"
    if marker.exists() and marker.stat().st_size == stub.stat().st_size:
        return
    tmp = backend_dir.with_name(f"backends.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(wheel_root / "backends", tmp,
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(stub, tmp / "python" / "triton_python_backend_stub")
    shutil.rmtree(backend_dir, ignore_errors=True)
    tmp.rename(backend_dir)


class TritonServer:
    """A `tritonserver` child process; use as a context manager."""

    def __init__(self, options: ServerOptions, install: TritonInstall | None = None,
                 log_file: Path | None = None) -> None:
        self.options = options
        self.install = install or locate_tritonserver()
        self.log_file = log_file
        self.process: subprocess.Popen[bytes] | None = None
        self.admin = Restriction(ADMIN_APIS, ADMIN_HEADER,
                                 options.admin_key or secrets.token_urlsafe(24))
        self.inference_restriction = (
            Restriction(("inference",), API_KEY_HEADER, options.inference_key)
            if options.inference_key else None)
        self.watchdog: StubWatchdog | None = None

    @property
    def http_url(self) -> str:
        return f"{self.options.host}:{self.options.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"{self.options.host}:{self.options.grpc_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://{self.options.host}:{self.options.metrics_port}/metrics"

    def command(self) -> list[str]:
        opts = self.options
        cmd = [
            str(self.install.binary),
            f"--model-repository={Path(opts.model_repository).resolve()}",
            f"--backend-directory={self.install.backend_dir}",
            f"--http-address={opts.host}",
            f"--grpc-address={opts.host}",
            f"--metrics-address={opts.host}",
            f"--http-port={opts.http_port}",
            f"--grpc-port={opts.grpc_port}",
            f"--metrics-port={opts.metrics_port}",
            f"--exit-timeout-secs={opts.exit_timeout_s}",
            f"--log-verbose={opts.log_verbose}",
            "--strict-readiness=true",
            # Honour the rate_limiter of instance groups (the heavy stages take turns).
            "--rate-limit=execution_count",
            # Latency histograms, including time to first response of the streaming model.
            "--metrics-config=histogram_latencies=true",
            # p50 / p95 / p99 of request and queue time per model (nv_inference_*_summary_us):
            # 2.51 keeps histograms for decoupled models only.
            "--metrics-config=summary_latencies=true",
        ]
        asked = cpu_units_asked(opts.model_repository)
        if asked:
            units = max(opts.cpu_units or len(os.sched_getaffinity(0)), asked)
            cmd.append(f"--rate-limit-resource={CPU_RESOURCE}:{units}")
        if opts.response_cache_bytes > 0:
            cmd += [f"--cache-directory={self.install.cache_dir}",
                    f"--cache-config=local,size={opts.response_cache_bytes}"]
        if opts.model_control == "explicit":
            cmd += ["--model-control-mode=explicit", "--load-model=*"]
        cmd += self.admin.args()
        if self.inference_restriction is not None:
            cmd += self.inference_restriction.args()
        if opts.tls is not None:
            cmd += opts.tls.args()
        return cmd + list(opts.extra_args)

    def model_control(self) -> ModelControl:
        """Repository-API calls with the admin key (over HTTP on the server's own host)."""
        return ModelControl(self.http_url, self.admin.http_headers())

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        if self.install.library_path:
            extra = os.pathsep.join(str(p) for p in self.install.library_path)
            old = env.get("LD_LIBRARY_PATH")
            env["LD_LIBRARY_PATH"] = f"{extra}{os.pathsep}{old}" if old else extra
        return env

    def start(self, ready_timeout_s: float = 180.0) -> TritonServer:
        if not Path(self.options.model_repository).is_dir():
            raise ServerError(f"model repository {self.options.model_repository} does not exist; "
                              "run `make repository` first")
        out = open(self.log_file, "ab") if self.log_file else None  # noqa: SIM115
        try:
            # A session of its own (a terminal's Ctrl-C reaches this runner alone, which
            # drains first), tethered: if this process dies without stopping it (SIGKILL,
            # a crash), the kernel kills tritonserver, and its stubs follow their parent.
            self.process = tethered_popen(
                self.command(), env=self.environment(), stdout=out or None,
                stderr=subprocess.STDOUT if out else None, start_new_session=True)
        finally:
            if out:
                out.close()
        try:
            self.wait_ready(ready_timeout_s)
        except BaseException:
            self.stop()
            raise
        if self.options.restart_crashed_stubs and self.options.model_control == "explicit":
            self.watchdog = StubWatchdog(self.process.pid, self._reload,
                                         memory_limits=self._memory_limits()).start()
        log.info("tritonserver ready: HTTP %s, gRPC %s, metrics %s",
                 self.http_url, self.grpc_url, self.metrics_url)
        return self

    def _memory_limits(self) -> dict[str, MemoryLimit]:
        limit_mib = self.options.text_model_rss_limit_mib
        if limit_mib is None:
            return {}
        limits = {model: MemoryLimit(limit_mib * 2**20) for model in TEXT_MODELS}
        # A stream model is recycled between streams: its streams would end with the old stub.
        limits[STREAM_MODEL] = MemoryLimit(limit_mib * 2**20, idle=self._no_stream_in_flight)
        return limits

    def _no_stream_in_flight(self) -> bool:
        return not self.metric(STREAM_IN_FLIGHT, STREAM_MODEL)

    def is_ready(self) -> bool:
        url = f"http://{self.http_url}/v2/health/ready"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                where = f"; see {self.log_file}" if self.log_file else ""
                raise ServerError(
                    f"tritonserver exited with code {self.process.returncode} while starting"
                    f"{where}")
            if self.is_ready():
                return
            time.sleep(0.25)
        raise ServerError(f"tritonserver was not ready within {timeout_s:.0f} s")

    def _reload(self, model: str) -> None:
        control = self.model_control()
        try:
            control.reload(model)
        finally:
            control.close()

    def metric(self, name: str, model: str | None = None) -> float:
        """One value from the metrics endpoint (0 when it is not there)."""
        try:
            with urllib.request.urlopen(self.metrics_url, timeout=5) as response:
                text = response.read().decode()
        except (urllib.error.URLError, OSError):
            return 0.0
        for line in text.splitlines():
            if line.startswith(name) and (model is None or f'model="{model}"' in line):
                head, _, value = line.rpartition(" ")
                if head.split("{")[0] == name:
                    return float(value)
        return 0.0

    def drain(self) -> bool:
        """Refuse new requests and wait (up to the exit timeout) for in-flight ones to finish.

        tritonserver's own SIGTERM handling is not enough for ensembles: measured on 2.51,
        the stage models stop accepting new requests at once, and the next step of every
        in-flight ensemble request is one, so those requests fail ("Server is stopping").
        Unloading the entry models first refuses new requests while the stages stay up.
        """
        if self.options.model_control != "explicit" or not self.is_ready():
            return False
        control = self.model_control()
        try:
            return control.drain(ENTRY_MODELS, timeout_s=self.options.exit_timeout_s,
                                 idle={STREAM_MODEL: self._no_stream_in_flight})
        except Exception as exc:  # a failed drain must not stop the shutdown
            log.warning("drain failed (%s); stopping anyway", exc)
            return False
        finally:
            control.close()

    def stop(self) -> int | None:
        """Drain, SIGTERM, wait for the rest (exit timeout), then kill the process group."""
        proc = self.process
        if proc is None:
            return None
        if self.watchdog is not None:
            self.watchdog.stop()  # a stage stopping now is no crash
            self.watchdog = None
        drained = proc.poll() is None and self.options.drain_on_stop and self.drain()
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            # Drained, nothing is in flight: the exit only unloads models, and a model whose
            # unload hangs (docs/operations.md, "Graceful shutdown") must not hold it for the whole
            # exit timeout. Otherwise in-flight requests get the exit timeout.
            wait_s = DRAINED_EXIT_S if drained else self.options.exit_timeout_s + 10
            try:
                proc.wait(timeout=wait_s)
            except subprocess.TimeoutExpired:
                log.warning("tritonserver did not exit in time; killing it")
        # The python backend stubs are in the same session; never leave them behind.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return proc.returncode

    def __enter__(self) -> TritonServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
