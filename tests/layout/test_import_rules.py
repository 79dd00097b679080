"""The import rules in pyproject.toml ([tool.importlinter]) hold: `lint-imports` reads the
package graph from the sources and fails on a backwards arrow (say, tritontts.jobs importing
the gateway, or Maya1 reaching into the Piper family)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def run_lint_imports(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if not LINT_IMPORTS.exists():
        pytest.skip("lint-imports is not installed (pip install -e '.[dev]')")
    # The sources under `root` come first on the path, so a copy is analysed, not the install.
    env = {"PATH": str(LINT_IMPORTS.parent), "PYTHONPATH": f"{root}:{root / 'client'}"}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", *args], cwd=root,
                          capture_output=True, text=True, timeout=300, env=env)


def test_every_import_rule_is_kept() -> None:
    result = run_lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_backwards_import_breaks_the_rules(tmp_path: Path) -> None:
    """A copy of the sources with one import the rules forbid (the jobs routes taking the
    gateway's settings, the arrow that once made a cycle) fails, naming that import."""
    for folder in ("tritontts", "client"):
        shutil.copytree(ROOT / folder, tmp_path / folder,
                        ignore=shutil.ignore_patterns("__pycache__", "static"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    planted = tmp_path / "tritontts" / "jobs" / "api.py"
    planted.write_text(planted.read_text()
                       + "\nfrom tritontts.gateway.settings import GatewaySettings  # noqa\n")
    result = run_lint_imports(tmp_path)
    assert result.returncode != 0
    assert "tritontts.jobs.api -> tritontts.gateway.settings" in result.stdout
