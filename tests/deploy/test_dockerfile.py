"""The container images' Dockerfile and the chart's plain YAML, linted; the images install
the project with the same script `make setup` (and so CI) runs. No image is built here: there
is no container runtime on these machines."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tritontts.serving.server import TritonServer

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DOCKERFILE = ROOT / "Dockerfile"
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


@pytest.mark.parametrize("target", ["gpu", "cpu"])
def test_both_images_install_with_the_setup_script_and_start_tritontts_serve(target: str) -> None:
    body = stage(target)
    assert re.search(r"^RUN .*scripts/install\.sh /opt/venv", body, re.M)
    assert 'ENTRYPOINT ["tritontts", "serve"]' in body
    assert re.search(r"^USER 1000", body, re.M), "non-root, as the chart's securityContext"
    # ... and `make setup` runs that same script.
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^\t.*scripts/install\.sh \$\(VENV\)", makefile, re.M)


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
