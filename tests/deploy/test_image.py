"""The cpu image, built (scripts/build-image.sh, as `make image`) and run as the Helm chart runs
it: the chart is rendered, and each container runs with what the rendered pod says (user and
group, read-only root filesystem, dropped capabilities, no privilege escalation, its command,
arguments and environment, its volumes), the init containers first, then `tritontts serve`
until the chart's startup probe passes. The thin client synthesizes from the host; the
gateway, from the same image, answers the OpenAI route; the workers' command runs.

Kubernetes' emptyDir volumes are folders on the node shared by the pod's containers: here a
folder per pod on the host (medium Memory: a tmpfs). The containers share the host's network
(Podman's own network does not work on every host): ports are the chart's values set to free
ports, the Service name resolves to the loopback address, and `--host=0.0.0.0` becomes the
loopback address, so nothing listens beyond this machine.

Needs Docker or Podman (`scripts/podman-setup.sh` installs Podman on Debian); skipped without.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import helm_python as helm
import openai
import pytest
import soundfile
import yaml

from tritontts.serving.server import free_port
from tritontts_client import InvalidRequestError, TTSClient

from helpers import assert_speech

pytestmark = [pytest.mark.e2e, pytest.mark.image]

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "tritontts"
BUILD = ROOT / "scripts" / "build-image.sh"
# `make test-image IMAGE=name:tag` names it.
IMAGE = os.environ.get("TRITONTTS_IMAGE", "tritontts:cpu")
RELEASE = "tts"
FULLNAME = f"{RELEASE}-tritontts"
LOOPBACK = "127.0.0.1"
# The chart's listen address, and what it becomes here (the host's network is shared).
ANY_HOST, LOOPBACK_HOST = "--host=0.0.0.0", f"--host={LOOPBACK}"
TEXT = "The image was built and started the way the chart runs it."
SAMPLE_RATE = 22050  # the bundled voice's
# A cold build downloads and installs ~1 GB of wheels; a warm one reuses every layer.
BUILD_TIMEOUT_S = 45 * 60
QUANTITY_UNITS = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}


def container_engine() -> str | None:
    """Docker where its daemon answers, else Podman (ENGINE=docker|podman chooses)."""
    forced = os.environ.get("ENGINE")
    for name in [forced] if forced else ["docker", "podman"]:
        if shutil.which(name) and subprocess.run(
                [name, "info"], capture_output=True, timeout=60, check=False).returncode == 0:
            return name
    return None


def report(request: pytest.FixtureRequest, line: str) -> None:
    """A figure on the terminal, beside the test results (the image's size, start time)."""
    plugins = request.config.pluginmanager
    reporter, capture = plugins.getplugin("terminalreporter"), plugins.getplugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():  # else it lands in the captured output
            reporter.write_line(f"[image] {line}")


def quantity_bytes(quantity: str) -> int:
    match = re.fullmatch(r"(\d+)(Ki|Mi|Gi)?", quantity)
    assert match, f"quantity {quantity!r}: only plain, Ki, Mi and Gi sizes are run here"
    return int(match.group(1)) * QUANTITY_UNITS.get(match.group(2) or "", 1)


@dataclass
class Pod:
    """A rendered Deployment's pod, its containers run one by one with the engine."""

    engine: str
    spec: dict
    volumes_dir: Path
    started: list[str] = field(default_factory=list)

    def container(self, name: str) -> dict:
        return next(c for c in self.spec["containers"] if c["name"] == name)

    def run_args(self, container: dict, name: str, detach: bool = False) -> list[str]:
        security = {**self.spec.get("securityContext", {}),
                    **container.get("securityContext", {})}
        args = [self.engine, "run", "--name", name, "--network", "host",
                "--add-host", f"{FULLNAME}:{LOOPBACK}"]
        args += ["--detach"] if detach else ["--rm"]
        if "runAsUser" in security:
            group = security.get("runAsGroup")
            user = f"{security['runAsUser']}" + ("" if group is None else f":{group}")
            args += ["--user", user]
        if "fsGroup" in security:
            args += ["--group-add", str(security["fsGroup"])]
        if security.get("readOnlyRootFilesystem"):
            # Podman would otherwise mount tmpfs on /tmp, /var/tmp and /run; Kubernetes does not.
            args += ["--read-only"] + (["--read-only-tmpfs=false"]
                                       if self.engine == "podman" else [])
        if "ALL" in security.get("capabilities", {}).get("drop", []):
            args += ["--cap-drop", "ALL"]
        if security.get("allowPrivilegeEscalation") is False:
            args += ["--security-opt", "no-new-privileges"]
        for env in container.get("env") or []:
            assert "value" in env, f"{env['name']}: values from Secrets are not set here"
            args += ["--env", f"{env['name']}={env['value']}"]
        volumes = {v["name"]: v for v in self.spec.get("volumes", [])}
        for mount in container.get("volumeMounts", []):
            args += self._mount(mount, volumes[mount["name"]])
        command = container["command"]
        arguments = [LOOPBACK_HOST if a == ANY_HOST else a for a in container.get("args", [])]
        return [*args, "--entrypoint", command[0], IMAGE, *command[1:], *arguments]

    def _mount(self, mount: dict, volume: dict) -> list[str]:
        empty_dir = volume.get("emptyDir")
        assert empty_dir is not None, f"volume {volume['name']}: only emptyDir is run here"
        path = mount["mountPath"]
        if empty_dir.get("medium") == "Memory":
            size = quantity_bytes(empty_dir["sizeLimit"])
            if path == "/dev/shm":
                return ["--shm-size", str(size)]
            return ["--tmpfs", f"{path}:rw,size={size},mode=1777"]
        host = self.volumes_dir / volume["name"]
        host.mkdir(exist_ok=True)
        host.chmod(0o777)  # an emptyDir's mode
        return ["--volume", f"{host}:{path}" + (":ro" if mount.get("readOnly") else "")]

    def run(self, container: dict, timeout_s: float) -> subprocess.CompletedProcess:
        name = f"tritontts-test-{container['name']}-{uuid.uuid4().hex[:8]}"
        return subprocess.run(self.run_args(container, name), capture_output=True, text=True,
                              timeout=timeout_s, check=False)

    def start(self, container: dict) -> str:
        name = f"tritontts-test-{container['name']}-{uuid.uuid4().hex[:8]}"
        subprocess.run(self.run_args(container, name, detach=True), capture_output=True,
                       text=True, timeout=120, check=True)
        self.started.append(name)
        return name

    def running(self, name: str) -> bool:
        state = subprocess.run([self.engine, "inspect", "--format", "{{.State.Running}}", name],
                               capture_output=True, text=True, timeout=60, check=False)
        return state.stdout.strip() == "true"

    def exit_code(self, name: str) -> int:
        state = subprocess.run([self.engine, "inspect", "--format", "{{.State.ExitCode}}", name],
                               capture_output=True, text=True, timeout=60, check=True)
        return int(state.stdout.strip())

    def logs(self, name: str) -> str:
        logs = subprocess.run([self.engine, "logs", name], capture_output=True, text=True,
                              timeout=60, check=False)
        return (logs.stdout + logs.stderr)[-6000:]

    def stop(self, name: str, grace_s: int) -> None:
        subprocess.run([self.engine, "stop", "--time", str(grace_s), name], capture_output=True,
                       timeout=grace_s + 60, check=False)

    def remove_all(self) -> None:
        for name in self.started:
            subprocess.run([self.engine, "rm", "--force", name], capture_output=True,
                           timeout=120, check=False)


def probe_url(container: dict, probe: str) -> str:
    get = container[probe]["httpGet"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    port = ports.get(get["port"], get["port"])
    return f"http://{LOOPBACK}:{port}{get['path']}"


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def wait_until_probe_passes(pod: Pod, name: str, url: str, timeout_s: float) -> float:
    """Seconds until `url` answers 200; fails with the container's log if it exits first."""
    started = time.monotonic()
    while not answers(url):
        if not pod.running(name):
            pytest.fail(f"{name} exited before {url} answered:\n{pod.logs(name)}")
        if time.monotonic() - started > timeout_s:
            pytest.fail(f"{url} did not answer within {timeout_s:.0f} s:\n{pod.logs(name)}")
        time.sleep(0.5)
    return time.monotonic() - started


@pytest.fixture(scope="module")
def engine() -> str:
    found = container_engine()
    if found is None:
        pytest.skip("neither a Docker daemon nor Podman answers: start Docker, or on Debian "
                    "run scripts/podman-setup.sh as root (make podman-setup)")
    return found


@pytest.fixture(scope="module")
def image(engine: str, tmp_path_factory: pytest.TempPathFactory,
          request: pytest.FixtureRequest) -> str:
    log = tmp_path_factory.mktemp("image") / "build.log"
    started = time.monotonic()
    with log.open("w") as out:
        result = subprocess.run([str(BUILD), "cpu", IMAGE], stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "ENGINE": engine}, cwd=ROOT,
                                timeout=BUILD_TIMEOUT_S, check=False)
    lines = log.read_text().splitlines()
    if result.returncode != 0:
        pytest.fail("the image build failed:\n" + "\n".join(lines[-60:]))
    report(request, f"build ({time.monotonic() - started:.0f} s): {lines[-1]}")
    return IMAGE


@pytest.fixture(scope="module")
def rendered() -> dict[str, dict]:
    """The chart's Deployments by name, rendered with the cpu node pool's values, free ports,
    and the gateway and workers turned on."""
    values = yaml.safe_load((CHART / "values-cpu.yaml").read_text()) or {}
    values |= {
        "ports": {"http": free_port(), "grpc": free_port(), "metrics": free_port()},
        "gateway": {"enabled": True, "port": free_port()},
        "worker": {"enabled": True, "redisUrl": f"redis://{LOOPBACK}:6379/0",
                   "s3": {"bucket": "tritontts-results"}},
    }
    manifests = helm.Chart.load(CHART).render(values, name=RELEASE, namespace="speech")
    objects = [doc for text in manifests.values() for doc in yaml.safe_load_all(text) if doc]
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == "Deployment"}


@dataclass
class Started:
    pod: Pod
    name: str
    container: dict
    ready_s: float


@pytest.fixture(scope="module")
def triton(engine: str, image: str, rendered: dict[str, dict],
           tmp_path_factory: pytest.TempPathFactory,
           request: pytest.FixtureRequest) -> Iterator[Started]:
    spec = rendered[FULLNAME]["spec"]["template"]["spec"]
    pod = Pod(engine, spec, tmp_path_factory.mktemp("pod-tritontts"))
    try:
        for init in spec.get("initContainers", []):
            started = time.monotonic()
            result = pod.run(init, timeout_s=900)
            assert result.returncode == 0, (
                f"init container {init['name']} failed:\n{result.stdout}{result.stderr}"[-6000:])
            report(request, f"init container {init['name']}: "
                            f"{time.monotonic() - started:.1f} s")
        container = pod.container("tritontts")
        ready_timeout = next(int(a.split("=", 1)[1]) for a in container["args"]
                             if a.startswith("--ready-timeout="))
        started = time.monotonic()
        name = pod.start(container)
        wait_until_probe_passes(pod, name, probe_url(container, "startupProbe"), ready_timeout)
        ready_s = time.monotonic() - started
        report(request, f"tritontts serve: cold start to the startup probe passing "
                        f"{ready_s:.1f} s")
        yield Started(pod, name, container, ready_s)
    finally:
        pod.remove_all()


@pytest.fixture(scope="module")
def gateway(triton: Started, rendered: dict[str, dict],
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    spec = rendered[f"{FULLNAME}-gateway"]["spec"]["template"]["spec"]
    pod = Pod(triton.pod.engine, spec, tmp_path_factory.mktemp("pod-gateway"))
    container = pod.container("gateway")
    try:
        name = pod.start(container)
        url = probe_url(container, "readinessProbe")
        wait_until_probe_passes(pod, name, url, timeout_s=120)
        yield url.rsplit("/", 1)[0]
    finally:
        pod.remove_all()


def grpc_url(triton: Started) -> str:
    ports = {p["name"]: p["containerPort"] for p in triton.container["ports"]}
    return f"{LOOPBACK}:{ports['grpc']}"


def test_serve_answers_a_synthesis_from_the_host_through_the_thin_client(
        triton: Started, request: pytest.FixtureRequest) -> None:
    with TTSClient(grpc_url(triton)) as client:
        for attempt in ("first", "second"):
            started = time.monotonic()
            result = client.synthesize(TEXT)
            report(request, f"synthesis through the image, {attempt}: "
                            f"{time.monotonic() - started:.2f} s for {result.duration_s:.2f} s "
                            f"of audio ({len(TEXT.split())} words)")
            assert result.sample_rate == SAMPLE_RATE
            assert_speech(result.audio, result.sample_rate, TEXT)


def test_serve_refuses_bad_input_and_stays_ready(triton: Started) -> None:
    with TTSClient(grpc_url(triton)) as client:
        with pytest.raises(InvalidRequestError, match="no-such-voice"):
            client.synthesize("Hello.", voice="no-such-voice")
        assert client.is_ready()
    assert answers(probe_url(triton.container, "readinessProbe"))
    assert answers(probe_url(triton.container, "livenessProbe"))


def test_the_root_filesystem_is_read_only_and_the_chart_volumes_are_writable(
        triton: Started) -> None:
    check = ("import pathlib, sys\n"
             "for path in sys.argv[1:]:\n"
             "    try:\n"
             "        (pathlib.Path(path) / 'probe').write_text('x')\n"
             "        print(path, 'writable')\n"
             "    except OSError as error:\n"
             "        print(path, error.strerror)\n")
    paths = ["/opt/venv", "/opt/tritontts", "/etc", "/tmp", "/dev/shm", "/models"]
    container = {**triton.container, "command": ["python", "-c", check], "args": paths}
    result = triton.pod.run(container, timeout_s=120)
    assert result.returncode == 0, result.stderr
    seen = dict(line.split(" ", 1) for line in result.stdout.splitlines())
    assert seen == {"/opt/venv": "Read-only file system", "/opt/tritontts": "Read-only file system",
                    "/etc": "Read-only file system", "/tmp": "writable", "/dev/shm": "writable",
                    "/models": "writable"}


def test_gateway_from_the_same_image_answers_the_openai_route(gateway: str) -> None:
    with openai.OpenAI(base_url=f"{gateway}/v1", api_key="unused", max_retries=0) as sdk:
        response = sdk.audio.speech.create(model="tts-1", voice="alloy", input=TEXT,
                                           response_format="wav")
    assert response.response.headers["content-type"] == "audio/wav"
    audio, rate = soundfile.read(io.BytesIO(response.content), dtype="float32")
    assert rate == SAMPLE_RATE
    assert_speech(audio, rate, TEXT)


def test_the_workers_command_runs(engine: str, image: str, rendered: dict[str, dict],
                                  tmp_path: Path) -> None:
    spec = rendered[f"{FULLNAME}-worker"]["spec"]["template"]["spec"]
    pod = Pod(engine, spec, tmp_path)
    worker = pod.container("worker")
    result = pod.run({**worker, "args": [*worker["args"], "--help"]}, timeout_s=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("usage: tritontts worker")


def test_serve_drains_and_exits_cleanly_within_the_grace_period(
        triton: Started, rendered: dict[str, dict], request: pytest.FixtureRequest) -> None:
    """Last: it stops the server the tests above use."""
    grace = rendered[FULLNAME]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    started = time.monotonic()
    triton.pod.stop(triton.name, grace)
    stopped_s = time.monotonic() - started
    report(request, f"tritontts serve: SIGTERM to exit {stopped_s:.1f} s")
    assert not triton.pod.running(triton.name)
    assert triton.pod.exit_code(triton.name) == 0, triton.pod.logs(triton.name)
    assert stopped_s < grace


def test_the_gpu_target_builds_where_its_base_image_is_present(engine: str) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    tag = re.search(r"^ARG TRITON_IMAGE_TAG=(\S+)$", dockerfile, re.M)
    assert tag
    base = f"nvcr.io/nvidia/tritonserver:{tag.group(1)}"
    present = subprocess.run([engine, "image", "inspect", base], capture_output=True,
                             timeout=60, check=False).returncode == 0
    if not present:
        pytest.skip(f"the gpu target's base {base} comes from NGC's registry, which this host "
                    f"does not reach (pull it first to build the gpu target here)")
    result = subprocess.run([str(BUILD), "gpu", "tritontts:gpu"], capture_output=True,
                            text=True, env={**os.environ, "ENGINE": engine}, cwd=ROOT,
                            timeout=BUILD_TIMEOUT_S, check=False)
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
