"""The test tiers' rule, checked while tests run: a test that starts a server carries the
marker that says so (pyproject.toml registers them; `make test-fast` deselects them all).

conftest.py records the test being set up; the helpers that start servers call `starting`."""

from __future__ import annotations

import pytest

# The test being set up (its module- and session-scoped fixtures start under it too).
current: list[pytest.Item | None] = [None]


def starting(marker: str, what: str) -> None:
    """Fail the running test if it starts `what` without carrying `marker`."""
    item = current[0]
    if item is not None and item.get_closest_marker(marker) is None:
        pytest.fail(f"{item.nodeid} starts {what} but is not marked `{marker}`: add "
                    f"`pytest.mark.{marker}` (docs/development.md, Tests)", pytrace=False)
