"""Compare two lists of collected test ids (`pytest --collect-only -q` output, one id a line):
every test of the first must still be collected in the second, wherever its file now lives.

A test is named by its file's basename, its class if any and its name with parameters, so
moving a file between folders keeps its tests' names. Exit status 1 lists what went missing.

    python scripts/compare_test_ids.py before.txt after.txt
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def test_names(listing: Path) -> list[str]:
    """`file-basename::rest` of every id line (pytest's summary lines are skipped)."""
    names = []
    for line in listing.read_text().splitlines():
        path, separator, rest = line.strip().partition("::")
        if separator and path.endswith(".py"):
            names.append(f"{Path(path).name}::{rest}")
    return names


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    args = parser.parse_args()
    before, after = test_names(args.before), test_names(args.after)
    for label, names in (("before", before), ("after", after)):
        if len(names) != len(set(names)):
            print(f"{label}: {len(names) - len(set(names))} names collected twice")
    missing = sorted(set(before) - set(after))
    print(f"before: {len(before)} tests, after: {len(after)} tests, "
          f"missing: {len(missing)}, new: {len(set(after) - set(before))}")
    for name in missing:
        print(f"missing: {name}")
    return 1 if missing or len(after) < len(before) else 0


if __name__ == "__main__":
    sys.exit(main())
