"""Print the pinned third-party requirements of tritontts and tritontts-client, one a line.

The container images install these in a layer of their own, built from the two pyproject.toml
files alone, so that a change to the code reuses that layer instead of reinstalling them.
The distributions of this repository (tritontts-client) are left out: they install from the
tree (or their wheels) afterwards.
usage: python scripts/dependencies.py [EXTRAS]        e.g. gateway,jobs
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECTS = (ROOT / "pyproject.toml", ROOT / "client" / "pyproject.toml")


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()  # PEP 503


def requirement_name(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    if not match:
        raise SystemExit(f"dependencies.py: cannot read the requirement {requirement!r}")
    return normalized(match.group(1))


def requirements(extras: list[str]) -> list[str]:
    projects = [tomllib.loads(path.read_text())["project"] for path in PROJECTS]
    local = {normalized(project["name"]) for project in projects}
    server = projects[0]
    optional = server.get("optional-dependencies", {})
    unknown = [extra for extra in extras if extra not in optional]
    if unknown:
        raise SystemExit(f"dependencies.py: no extra {', '.join(unknown)} in pyproject.toml")
    found = [*server["dependencies"], *(r for e in extras for r in optional[e])]
    found += [r for project in projects[1:] for r in project.get("dependencies", [])]
    return [r for r in dict.fromkeys(found) if requirement_name(r) not in local]


def main() -> int:
    extras = [e for e in (sys.argv[1] if len(sys.argv) > 1 else "").split(",") if e]
    print("\n".join(requirements(extras)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
