"""Retries with exponential backoff and full jitter, bounded by a deadline.

Only refusals that say "not now" are retried (OverloadedError, ServerUnavailableError): an
invalid request, a missing key or a server-side failure is raised at once. The deadline is
the caller's whole budget: every attempt gets what is left of it as its own timeout, and no
pause runs past it.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from tritontts_client.errors import DeadlineExceededError, ServerUnavailableError

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


class RetryThrottle:
    """A retry budget shared by all calls of one client (gRPC's retry throttling).

    Backoff spreads retries out but does not reduce them: under a long overload every
    refused call would still come back several times and add to the load it was refused
    for. Each refusal costs a token and each success earns `token_ratio` back; retries are
    allowed only while more than half of `max_tokens` is left. So a client retries freely
    through a short hiccup and stops retrying almost at once when most calls are refused.
    """

    def __init__(self, max_tokens: float = 10.0, token_ratio: float = 0.1) -> None:
        if max_tokens <= 0 or token_ratio <= 0:
            raise ValueError("max_tokens and token_ratio must be positive")
        self.max_tokens = max_tokens
        self.token_ratio = token_ratio
        self._tokens = max_tokens
        self._lock = threading.Lock()

    @property
    def tokens(self) -> float:
        return self._tokens

    def refused(self) -> bool:
        """Record a refusal; True if a retry is allowed."""
        with self._lock:
            self._tokens = max(0.0, self._tokens - 1.0)
            return self._tokens > self.max_tokens / 2

    def succeeded(self) -> None:
        with self._lock:
            self._tokens = min(self.max_tokens, self._tokens + self.token_ratio)


@dataclass
class Attempts:
    """What happened during one call: how many attempts, and the refusals on the way."""

    count: int = 0
    refusals: list[str] | None = None


class RetryLoop:
    """The retry decisions of one call, for sync and async callers alike.

    Iterating yields each attempt's timeout (what is left of the deadline) until the attempts
    or the time run out; after a refusal, `pause_after` says how long to wait before the next
    attempt, or raises the refusal when no retry is allowed (deadline passed, attempts spent,
    the throttle's tokens spent, or no time left for the pause).
    """

    def __init__(self, deadline_s: float, policy: RetryPolicy, attempts: Attempts | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 throttle: RetryThrottle | None = None) -> None:
        self.deadline_s = deadline_s
        self.policy = policy
        self.attempts = attempts if attempts is not None else Attempts()
        if self.attempts.refusals is None:
            self.attempts.refusals = []
        self.clock = clock
        self.throttle = throttle
        self.end = clock() + deadline_s

    def __iter__(self) -> Iterator[float]:
        for number in range(1, self.policy.max_attempts + 1):
            remaining = self.end - self.clock()
            if remaining <= 0:
                return
            self.attempts.count = number
            yield remaining

    def pause_after(self, refusal: ServerUnavailableError, answered: bool = False) -> float:
        """`answered`: part of the answer (a stream's audio) had arrived; it is not retried."""
        if answered or isinstance(refusal, DeadlineExceededError):
            raise refusal
        assert self.attempts.refusals is not None
        self.attempts.refusals.append(f"{type(refusal).__name__}: {refusal}")
        allowed = self.throttle.refused() if self.throttle is not None else True
        number = self.attempts.count
        if number == self.policy.max_attempts or not allowed:
            raise refusal
        pause = self.policy.backoff_s(number)
        if self.clock() + pause >= self.end:
            raise refusal  # no time left for another try: the refusal is the answer
        return pause

    def won(self, result: T) -> T:
        if self.throttle is not None:
            self.throttle.succeeded()
        return result

    def deadline_error(self) -> DeadlineExceededError:
        return DeadlineExceededError(f"no answer within the deadline of {self.deadline_s:g} s "
                                     f"({self.attempts.count} attempts)")


def call_with_retries(attempt: Callable[[float], T], deadline_s: float, policy: RetryPolicy,
                      attempts: Attempts | None = None,
                      clock: Callable[[], float] = time.monotonic,
                      sleep: Callable[[float], None] = time.sleep,
                      throttle: RetryThrottle | None = None) -> T:
    """Run `attempt(remaining_s)` until it succeeds, fails for good, or the budget (time,
    attempts, and the throttle's tokens if one is given) is spent."""
    loop = RetryLoop(deadline_s, policy, attempts, clock, throttle)
    for timeout_s in loop:
        try:
            return loop.won(attempt(timeout_s))
        except ServerUnavailableError as refusal:
            sleep(loop.pause_after(refusal))
    raise loop.deadline_error()


async def call_with_retries_async(attempt: Callable[[float], Awaitable[T]], deadline_s: float,
                                  policy: RetryPolicy,
                                  throttle: RetryThrottle | None = None) -> tuple[T, int]:
    """`call_with_retries` for a coroutine; (result, attempts made)."""
    loop = RetryLoop(deadline_s, policy, throttle=throttle)
    for timeout_s in loop:
        try:
            return loop.won(await attempt(timeout_s)), loop.attempts.count
        except ServerUnavailableError as refusal:
            await asyncio.sleep(loop.pause_after(refusal))
    raise loop.deadline_error()
