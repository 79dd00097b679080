"""The container images' Dockerfile and the chart's plain YAML, linted; the images install
the project with the same script `make setup` (and so CI) runs, take their base and CA bundle
from the build's inputs, and are what the rendered chart runs. tests/test_image.py builds the
cpu image and runs it; the gpu image's base comes from NGC's registry, so its build runs only
where that image is present."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
import urllib.request
from pathlib import Path

import helm_python as helm
import pytest
import yaml

from tritontts.serving.server import TritonServer

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DOCKERFILE = ROOT / "Dockerfile"
CHART = ROOT / "helm" / "tritontts"
CA_SECRET = "--mount=type=secret,id=ca-bundle"
PIP_CACHE = "--mount=type=cache,target=/root/.cache/pip"
# NGC release -> the Triton version inside it (NVIDIA's support matrix). The gpu image runs
# the nvidia-pytriton wheel's Python 3.11 stub in NGC's python backend: same Triton version.
NGC_TRITON_VERSIONS = {"24.10": "2.51.0"}


def run(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120, check=False)


def test_hadolint_passes_on_the_dockerfile() -> None:
    result = run(BIN / "hadolint", "--failure-threshold", "info", DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_yamllint_passes_on_the_plain_yaml_files() -> None:
    chart = ROOT / "helm" / "tritontts"
    files = [chart / "Chart.yaml", *sorted(chart.glob("values*.yaml")),
             *sorted((ROOT / "tests" / "data").rglob("*.yaml")), ROOT / ".yamllint.yaml"]
    assert len(files) >= 8
    result = run(BIN / "yamllint", "--strict", *files)
    assert result.returncode == 0, result.stdout + result.stderr


def stage(name: str) -> str:
    text = DOCKERFILE.read_text()
    match = re.search(rf"^FROM \S+ AS {name}\n(.*?)(?=^FROM |\Z)", text, re.M | re.S)
    assert match, f"no {name} stage"
    return match.group(1)


def instructions(name: str) -> list[str]:
    """The stage's instructions, continuation lines joined, comments left out."""
    lines = [line for line in stage(name).splitlines() if not line.lstrip().startswith("#")]
    return [i.strip() for i in re.sub(r"\\\n\s*", " ", "\n".join(lines)).splitlines()
            if i.strip()]


@pytest.mark.parametrize("target", ["gpu", "cpu"])
def test_both_images_install_the_wheels_and_start_tritontts_serve(target: str) -> None:
    """The images install what users install: the two wheels (tests/test_wheel.py serves from
    them), built from the tree in the `wheels` stage; no source tree stays in an image."""
    wheels = "\n".join(instructions("wheels"))
    assert re.search(r"^RUN .*pip wheel --no-deps -w /wheels \./client \.$", wheels, re.M)
    body = "\n".join(instructions(target))
    # Copied, not bind-mounted: Podman's layer cache ignores a mounted stage's content.
    assert re.search(r"^COPY --from=wheels /wheels /tmp/wheels$", body, re.M), body
    assert "type=bind" not in body
    install = re.search(r"^RUN .*pip install /tmp/wheels/tritontts_client-\*\.whl\s+"
                        r"\"\$\(ls /tmp/wheels/tritontts-\*\.whl\)\[(\w+(?:,\w+)*)\]\"\s+"
                        r"&& rm -rf /tmp/wheels", body, re.M)
    assert install, body
    line = body[install.start():].splitlines()[0]
    assert "locate_tritonserver()" in line, "the python backend is assembled at build"
    assert "COPY . ." not in body and "install.sh" not in body
    assert 'ENTRYPOINT ["tritontts", "serve"]' in body
    assert re.search(r"^USER 1000", body, re.M), "non-root, as the chart's securityContext"


def test_the_ngc_tag_is_pinned_once_and_used_by_the_gpu_stage() -> None:
    text = DOCKERFILE.read_text()
    pins = re.findall(r"^ARG TRITON_IMAGE_TAG=(\S+)$", text, re.M)
    assert len(pins) == 1 and re.fullmatch(r"\d\d\.\d\d-py3", pins[0])
    assert "FROM nvcr.io/nvidia/tritonserver:${TRITON_IMAGE_TAG} AS gpu" in text
    assert len(re.findall(r"\d\d\.\d\d-py3", text)) == 1, "the tag appears in one place"
    assert pins[0].removesuffix("-py3") in NGC_TRITON_VERSIONS


@pytest.mark.e2e
def test_the_ngc_release_carries_the_tritonserver_version_of_the_wheel(
        server: TritonServer) -> None:
    tag = re.search(r"^ARG TRITON_IMAGE_TAG=(\d\d\.\d\d)", DOCKERFILE.read_text(), re.M)
    assert tag
    with urllib.request.urlopen(f"http://{server.http_url}/v2", timeout=10) as response:
        version = json.loads(response.read())["version"]
    assert version == NGC_TRITON_VERSIONS[tag.group(1)]


def test_the_cpu_base_is_a_build_argument_defaulting_to_the_public_python_image() -> None:
    text = DOCKERFILE.read_text()
    assert re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.M) == ["python:3.11-slim-bookworm"]
    assert "FROM ${PYTHON_IMAGE} AS cpu" in text


@pytest.mark.parametrize("target", ["gpu", "cpu"])
def test_pip_runs_with_the_optional_ca_bundle_secret_and_its_cache_mounted(target: str) -> None:
    runs = [i for i in instructions(target)
            if i.startswith("RUN ") and re.search(r"\bpip\b|install\.sh", i)]
    assert len(runs) == 2, runs  # the dependencies, then the code
    runs += [i for i in instructions("wheels") if i.startswith("RUN ")]
    for run in runs:
        assert CA_SECRET in run and PIP_CACHE in run, run
        # The bundle is trusted only where it was given, and only by that command.
        assert "if [ -s /run/secrets/ca-bundle ]; then export PIP_CERT=" in run, run
    body = instructions(target)
    assert "ARG PIP_CONFIG_FILE=/dev/null" in body, "pip reads no configuration of its host"
    assert not [i for i in body if re.match(r"(ENV|ARG) .*PIP_CERT", i)]
    assert not [i for i in body if i.startswith(("COPY", "ADD")) and "ca-" in i]


@pytest.mark.parametrize("target", ["gpu", "cpu"])
def test_dependencies_install_before_the_code_is_copied(target: str) -> None:
    body = instructions(target)
    deps = next(n for n, i in enumerate(body) if "scripts/dependencies.py" in i and "RUN" in i)
    code = next(n for n, i in enumerate(body) if "from=wheels" in i)
    assert deps < code
    copies = [i for i in body[:deps] if i.startswith("COPY")]
    assert copies == ["COPY pyproject.toml ./", "COPY client/pyproject.toml client/",
                      "COPY scripts/dependencies.py scripts/"]


def test_the_dependency_list_is_the_pinned_requirements_without_local_distributions() -> None:
    result = run(sys.executable, ROOT / "scripts" / "dependencies.py", "gateway,jobs")
    assert result.returncode == 0, result.stderr
    listed = result.stdout.splitlines()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    expected = [*project["dependencies"], *project["optional-dependencies"]["gateway"],
                *project["optional-dependencies"]["jobs"]]
    assert set(listed) >= {r for r in expected if not r.startswith("tritontts-client")}
    assert not [r for r in listed if r.startswith(("tritontts", "torch"))], listed
    refused = run(sys.executable, ROOT / "scripts" / "dependencies.py", "gateway,nonesuch")
    assert refused.returncode != 0 and "nonesuch" in refused.stderr


@pytest.mark.parametrize("profile", ["cpu", "gpu"])
def test_the_chart_runs_each_image_as_the_image_is_built(profile: str) -> None:
    """The rendered chart against the Dockerfile stage it deploys: user, command, HOME."""
    values = yaml.safe_load((CHART / f"values-{profile}.yaml").read_text())
    manifests = helm.Chart.load(CHART).render(values, name="tts", namespace="speech")
    objects = [doc for text in manifests.values() for doc in yaml.safe_load_all(text) if doc]
    pod = next(o for o in objects if o["kind"] == "Deployment"
               and o["metadata"]["name"] == "tts-tritontts")["spec"]["template"]["spec"]
    body = instructions(profile)
    user = next(i for i in body if i.startswith("USER ")).split()[1]
    assert f"{pod['securityContext']['runAsUser']}:{pod['securityContext']['runAsGroup']}" == user
    assert re.search(r"^ENV .*\bHOME=/tmp\b", "\n".join(body), re.M)
    entrypoint = json.loads(next(i for i in body if i.startswith("ENTRYPOINT "))[11:])
    containers = pod.get("initContainers", []) + pod["containers"]
    ours = [c for c in containers if c["image"].endswith(f"-{profile}")]
    assert {c["name"] for c in ours} == {"export", "repository", "tritontts"}
    for container in ours:
        assert container["command"][0] == entrypoint[0], container["name"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert {"name": "HOME", "value": "/tmp"} in container["env"]
    main = next(c for c in ours if c["name"] == "tritontts")
    assert main["command"] == entrypoint
