"""Retries with exponential backoff and full jitter, bounded by a deadline.

Only refusals that say "not now" are retried (OverloadedError, ServerUnavailableError): an
invalid request, a missing key or a server-side failure is raised at once. The deadline is
the caller's whole budget: every attempt gets what is left of it as its own timeout, and no
pause runs past it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tritontts.client.errors import DeadlineExceededError, ServerUnavailableError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    initial_backoff_s: float = 0.05
    max_backoff_s: float = 2.0
    multiplier: float = 2.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.initial_backoff_s < 0 or self.multiplier < 1:
            raise ValueError(f"inconsistent retry policy {self}")

    def backoff_s(self, retry: int, rng: random.Random | None = None) -> float:
        """Pause before retry number `retry` (1 = the first retry): "full jitter", a uniform
        draw below the exponential cap, so that clients refused together do not come back
        together."""
        cap = min(self.max_backoff_s, self.initial_backoff_s * self.multiplier ** (retry - 1))
        return (rng or random).uniform(0.0, cap)


NO_RETRY = RetryPolicy(max_attempts=1)


@dataclass
class Attempts:
    """What happened during one call: how many attempts, and the refusals on the way."""

    count: int = 0
    refusals: list[str] | None = None


def call_with_retries(attempt: Callable[[float], T], deadline_s: float, policy: RetryPolicy,
                      attempts: Attempts | None = None,
                      clock: Callable[[], float] = time.monotonic,
                      sleep: Callable[[float], None] = time.sleep) -> T:
    """Run `attempt(remaining_s)` until it succeeds, fails for good, or the budget is spent."""
    attempts = attempts if attempts is not None else Attempts()
    attempts.refusals = attempts.refusals if attempts.refusals is not None else []
    end = clock() + deadline_s
    for number in range(1, policy.max_attempts + 1):
        remaining = end - clock()
        if remaining <= 0:
            break
        attempts.count = number
        try:
            return attempt(remaining)
        except DeadlineExceededError:
            raise
        except ServerUnavailableError as exc:
            attempts.refusals.append(f"{type(exc).__name__}: {exc}")
            if number == policy.max_attempts:
                raise
            pause = policy.backoff_s(number)
            if clock() + pause >= end:
                raise  # no time left for another try: the refusal is the answer
            sleep(pause)
    raise DeadlineExceededError(f"no answer within the deadline of {deadline_s:g} s "
                                f"({attempts.count} attempts)")
