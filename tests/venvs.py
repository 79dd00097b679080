"""Fresh virtualenvs outside the checkout, for tests of what users install: the wheels, the
client alone. pip runs with the machine's own configuration (its index, find-links and cache),
so a second run reuses what the first one downloaded."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Build outputs and caches that a copy of the source tree leaves behind.
NOT_SOURCES = shutil.ignore_patterns(".git", ".venv", "build", "dist", "out", "*.egg-info",
                                     "__pycache__", ".pytest_cache", ".ruff_cache",
                                     ".hypothesis", "*.onnx", "*.wav")


# The interpreter of the wheel test's venv (default: the one running the tests), so the same
# test measures another Python: TRITONTTS_TEST_PYTHON=python3.12 pytest tests/test_wheel.py
TEST_PYTHON_ENV = "TRITONTTS_TEST_PYTHON"


def wheel_python() -> str:
    return os.environ.get(TEST_PYTHON_ENV) or this_python()


def this_python() -> str:
    """The interpreter behind the running virtualenv (a new venv is made from it)."""
    return getattr(sys, "_base_executable", sys.executable)


def copy_sources(folder: Path, target: Path) -> Path:
    """A clean copy of a source folder: pip builds in place, and a build folder left in the
    checkout would leak stale files into later wheels."""
    shutil.copytree(folder, target, ignore=NOT_SOURCES)
    return target


def clean_env(venv: Path | None = None) -> dict[str, str]:
    """The environment of a user's shell: nothing points at the checkout or at the test's own
    virtualenv; `venv`'s bin/ first on PATH, as after `source venv/bin/activate`."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PYTHONSAFEPATH")}
    own_bin = str(Path(sys.executable).parent)
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p and p != own_bin]
    if venv is not None:
        path.insert(0, str(venv / "bin"))
        env["VIRTUAL_ENV"] = str(venv)
    env["PATH"] = os.pathsep.join(path)
    return env


def run(argv: list[str | Path], cwd: Path, venv: Path | None = None, timeout: float = 900,
        ) -> subprocess.CompletedProcess[str]:
    """Run a command as a user would; fail with its output when it fails."""
    result = subprocess.run([str(a) for a in argv], cwd=cwd, env=clean_env(venv),
                            capture_output=True, text=True, timeout=timeout, check=False)
    assert result.returncode == 0, (
        f"{' '.join(map(str, argv))} exited {result.returncode}\n"
        f"stdout: {result.stdout[-3000:]}\nstderr: {result.stderr[-3000:]}")
    return result


def fresh_venv(target: Path, python: str | None = None) -> Path:
    run([python or this_python(), "-m", "venv", target], cwd=target.parent)
    return target


def pip_install(venv: Path, *requirements: str | Path, cwd: Path) -> None:
    run([venv / "bin" / "python", "-m", "pip", "install", "--quiet", *requirements],
        cwd=cwd, venv=venv)
