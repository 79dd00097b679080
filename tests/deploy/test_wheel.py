"""The wheels as users receive them: built with `pip wheel`, installed into a fresh virtualenv
outside the checkout, and run from a folder with no project files: export the bundled voice,
render the repository, serve it, speak through it, and the gateway's help."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import soundfile

from tritontts.repository.render import SOURCES
from tritontts.serving.server import free_port

from helpers import assert_speech
from venvs import ROOT, clean_env, copy_sources, fresh_venv, pip_install, run, wheel_python

TEXT = "Installed from the wheel, this server speaks."

# Builds both wheels and installs them into fresh virtualenvs (pip, about a minute).
pytestmark = pytest.mark.slow


def _version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Both wheels, built once from a clean copy of the source tree."""
    work = tmp_path_factory.mktemp("wheels")
    source = copy_sources(ROOT, work / "source")
    dist = work / "dist"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", dist,
         source, source / "client"], cwd=work)
    version = _version()
    built = {"server": dist / f"tritontts-{version}-py3-none-any.whl",
             "client": dist / f"tritontts_client-{version}-py3-none-any.whl"}
    assert all(p.exists() for p in built.values()), sorted(dist.iterdir())
    return built


def test_the_wheel_carries_every_adapter_and_the_page(wheels: dict[str, Path]) -> None:
    names = set(zipfile.ZipFile(wheels["server"]).namelist())
    adapters = {f"tritontts/model_repository/{p.relative_to(ROOT / 'model_repository')}"
                for p in (ROOT / "model_repository").rglob("model.py")}
    assert adapters and adapters <= names, sorted(adapters - names)
    assert "tritontts/gateway/static/index.html" in names
    # The client is a distribution of its own: no second copy inside the server's wheel.
    assert not any(n.startswith("tritontts_client/") for n in names)
    assert "tritontts_client/speak.py" in zipfile.ZipFile(wheels["client"]).namelist()


def test_the_adapters_have_one_source() -> None:
    # However tritontts is installed, the renderer copies the files a reader opens in the
    # top-level model_repository/ (an editable install: that very folder).
    for source in (ROOT / "model_repository").rglob("model.py"):
        installed = SOURCES / source.relative_to(ROOT / "model_repository")
        assert installed.read_bytes() == source.read_bytes(), installed


@pytest.fixture(scope="module")
def installed(wheels: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = fresh_venv(tmp_path_factory.mktemp("wheel-venv") / "venv", wheel_python())
    pip_install(venv, wheels["server"], wheels["client"], cwd=venv.parent)
    return venv


@pytest.fixture
def user_dir(tmp_path: Path) -> Path:
    """A folder with no project files, where the user types the commands."""
    folder = tmp_path / "user"
    folder.mkdir()
    return folder


@pytest.fixture
def serving(installed: Path, user_dir: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    tritontts = installed / "bin" / "tritontts"
    run([tritontts, "export", "--out", "voices", "--no-variants"], cwd=user_dir, venv=installed)
    run([tritontts, "repository", "--out", "repository",
         "--voice-dir", "voices/en_US-joe-medium"], cwd=user_dir, venv=installed)
    assert (user_dir / "repository" / "frontend" / "1" / "model.py").read_bytes() == (
        ROOT / "model_repository" / "piper" / "frontend" / "1" / "model.py").read_bytes()
    http, grpc, metrics = free_port(), free_port(), free_port()
    log = (user_dir / "serve.log").open("wb")
    process = subprocess.Popen(
        [str(tritontts), "serve", "--model-repository", "repository", "--host", "127.0.0.1",
         "--http-port", str(http), "--grpc-port", str(grpc), "--metrics-port", str(metrics)],
        cwd=user_dir, env=clean_env(installed), stdout=log, stderr=subprocess.STDOUT)
    try:
        yield f"127.0.0.1:{grpc}", process
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.mark.e2e
def test_the_installed_wheel_serves(installed: Path, user_dir: Path,
                                    serving: tuple[str, subprocess.Popen[bytes]]) -> None:
    url, process = serving
    bin_dir = installed / "bin"
    # The commands run the installed packages, not the checkout's.
    where = run([bin_dir / "python", "-c",
                 "import tritontts, tritontts_client; "
                 "print(tritontts.__file__); print(tritontts_client.__file__)"],
                cwd=user_dir, venv=installed).stdout.split()
    assert all(Path(p).is_relative_to(installed) for p in where), where
    run([bin_dir / "tritontts", "speak", TEXT, "-o", "speech.wav", "--url", url,
         "--wait-ready", "300"], cwd=user_dir, venv=installed)
    assert process.poll() is None, (user_dir / "serve.log").read_text()[-3000:]
    audio, rate = soundfile.read(user_dir / "speech.wav", dtype="float32")
    assert rate == 22050
    assert_speech(audio, rate, TEXT)
    # The client distribution's own command, from the same venv.
    run([bin_dir / "tritontts-speak", TEXT, "-o", "speech.mp3", "--url", url], cwd=user_dir,
        venv=installed)
    assert (user_dir / "speech.mp3").stat().st_size > 1000
    helped = run([bin_dir / "tritontts", "gateway", "--help"], cwd=user_dir, venv=installed)
    assert helped.stdout.startswith("usage: tritontts gateway")
