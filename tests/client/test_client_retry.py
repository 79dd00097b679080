"""Retry policy and error classification of the client, without a server."""

from __future__ import annotations

import asyncio
import random

import pytest

from tritontts.serving.server import free_port
from tritontts_client import (
    AccessDeniedError,
    AsyncTTSClient,
    DeadlineExceededError,
    InvalidRequestError,
    OverloadedError,
    RetryPolicy,
    ServerError,
    ServerUnavailableError,
)
from tritontts_client.errors import classify
from tritontts_client.retry import (
    Attempts,
    RetryLoop,
    RetryThrottle,
    call_with_retries,
    call_with_retries_async,
)

# Status and message pairs as tritonclient reports them from a 2.51 server (seen in this
# project's overload, fault and security tests).
SEEN = [
    ("StatusCode.UNAVAILABLE",
     "in ensemble 'tts', [request id: <id_unknown>] Exceeds maximum queue size", OverloadedError),
    ("StatusCode.UNAVAILABLE", "in ensemble 'tts', Request timeout expired", OverloadedError),
    ("INTERNAL", "StageCallError: model 'vocoder' failed: Exceeds maximum queue size",
     OverloadedError),
    ("StatusCode.INTERNAL", "in ensemble 'tts', Stub process 'acoustic_0_0' is not healthy.",
     ServerUnavailableError),
    ("StatusCode.NOT_FOUND", "Request for unknown model: 'tts' has no available versions",
     ServerUnavailableError),
    ("StatusCode.UNAVAILABLE", "in ensemble 'tts', [request id: <id_unknown>] Server is "
     "stopping, scheduler for model has stopped accepting new inference requests",
     ServerUnavailableError),
    ("StatusCode.INVALID_ARGUMENT", "in ensemble 'tts', TEXT is empty", InvalidRequestError),
    ("StatusCode.DEADLINE_EXCEEDED", "Deadline Exceeded", DeadlineExceededError),
    ("StatusCode.UNAVAILABLE", "This protocol is restricted, expecting header "
     "'triton-grpc-protocol-tritontts-api-key'", AccessDeniedError),
    ("StatusCode.UNAVAILABLE", "failed to connect to all addresses; last error: UNKNOWN: "
     "ipv4:127.0.0.1:57915: Tls handshake failed (TSI_PROTOCOL_FAILURE): SSL_ERROR_SSL: "
     "CERTIFICATE_VERIFY_FAILED", AccessDeniedError),
    ("StatusCode.UNAVAILABLE", "failed to connect to all addresses; last error: UNAVAILABLE: "
     "ipv4:127.0.0.1:41655: Socket closed", ServerUnavailableError),
    ("StatusCode.CANCELLED", "CANCELLED", ServerUnavailableError),
    ("StatusCode.INTERNAL", "in ensemble 'tts', ValueError: something broke", ServerError),
]


@pytest.mark.parametrize("status,message,kind", SEEN)
def test_classification(status: str, message: str, kind: type) -> None:
    assert classify(status, message) is kind


def test_overload_is_a_kind_of_unavailable() -> None:
    assert issubclass(OverloadedError, ServerUnavailableError)
    assert issubclass(DeadlineExceededError, ServerUnavailableError)


@pytest.mark.parametrize("retry", [1, 2, 3, 6, 10])
def test_backoff_is_full_jitter_under_an_exponential_cap(retry: int) -> None:
    policy = RetryPolicy(initial_backoff_s=0.05, max_backoff_s=1.0, multiplier=2.0)
    cap = min(1.0, 0.05 * 2 ** (retry - 1))
    rng = random.Random(retry)
    draws = [policy.backoff_s(retry, rng) for _ in range(2000)]
    assert all(0 <= d <= cap for d in draws)
    assert max(draws) > 0.9 * cap and min(draws) < 0.1 * cap  # spread over the whole range


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_refusals_are_retried_until_success() -> None:
    clock = FakeClock()
    outcomes = [OverloadedError("full"), ServerUnavailableError("restarting"), "audio"]
    budgets: list[float] = []

    def attempt(remaining: float) -> str:
        budgets.append(remaining)
        clock.now += 0.01
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    attempts = Attempts()
    assert call_with_retries(attempt, 5.0, RetryPolicy(), attempts, clock, clock.sleep) == "audio"
    assert attempts.count == 3 and len(clock.sleeps) == 2
    assert budgets[0] == 5.0 and budgets[1] < budgets[0]  # each try gets what is left


@pytest.mark.parametrize("error", [InvalidRequestError("bad"), ServerError("bug"),
                                   AccessDeniedError("key")])
def test_final_answers_are_not_retried(error: Exception) -> None:
    calls = []

    def attempt(remaining: float) -> None:
        calls.append(remaining)
        raise error

    with pytest.raises(type(error)):
        call_with_retries(attempt, 5.0, RetryPolicy())
    assert len(calls) == 1


def test_the_deadline_bounds_the_retries() -> None:
    clock = FakeClock()

    def attempt(remaining: float) -> None:
        clock.now += 0.4
        raise OverloadedError("full")

    policy = RetryPolicy(max_attempts=100, initial_backoff_s=0.2, max_backoff_s=0.2)
    attempts = Attempts()
    with pytest.raises(OverloadedError):
        call_with_retries(attempt, 2.0, policy, attempts, clock=clock, sleep=clock.sleep)
    # Tries of 0.4 s and pauses of at most 0.2 s: 4 or 5 tries fit, the last one started
    # inside the budget, and the refusal itself is the answer once no time is left.
    assert 4 <= attempts.count <= 5
    assert clock.now <= 2.0 + 0.4
    assert len(attempts.refusals or []) == attempts.count


def test_throttle_stops_retries_when_most_calls_are_refused() -> None:
    throttle = RetryThrottle(max_tokens=10, token_ratio=0.1)
    clock = FakeClock()
    calls: list[int] = []

    def refused(remaining: float) -> None:
        calls.append(1)
        raise OverloadedError("full")

    for _ in range(20):
        with pytest.raises(OverloadedError):
            call_with_retries(refused, 60.0, RetryPolicy(max_attempts=6), clock=clock,
                              sleep=clock.sleep, throttle=throttle)
    # Five refusals use up the half of the budget that retries may spend: the first call
    # retries 4 times, every later one is tried once (not 5 times each).
    assert len(calls) == 20 + 4
    for _ in range(60):  # successes earn the budget back
        call_with_retries(lambda remaining: "audio", 60.0, RetryPolicy(), throttle=throttle)
    assert throttle.tokens == pytest.approx(6.0)


def test_async_calls_retry_the_same_way() -> None:
    outcomes: list[object] = [OverloadedError("full"), ServerUnavailableError("restarting"),
                              "audio"]
    budgets: list[float] = []

    async def attempt(remaining: float) -> object:
        budgets.append(remaining)
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    fast = RetryPolicy(initial_backoff_s=0.001, max_backoff_s=0.001)
    assert asyncio.run(call_with_retries_async(attempt, 5.0, fast)) == ("audio", 3)
    assert budgets[1] < budgets[0] <= 5.0

    async def invalid(remaining: float) -> None:
        budgets.append(remaining)
        raise InvalidRequestError("bad")

    budgets.clear()
    with pytest.raises(InvalidRequestError):
        asyncio.run(call_with_retries_async(invalid, 5.0, fast))
    assert len(budgets) == 1


def test_a_refusal_after_part_of_the_answer_is_not_retried() -> None:
    loop = RetryLoop(5.0, RetryPolicy())
    next(iter(loop))
    with pytest.raises(ServerUnavailableError):
        loop.pause_after(ServerUnavailableError("gone mid-stream"), answered=True)
    assert loop.pause_after(ServerUnavailableError("not yet")) >= 0.0


def test_async_client_reports_an_unreachable_server_as_unavailable() -> None:
    """Real gRPC against a port nobody listens on: both calls end in the client's own error
    after their retries, not in a raw gRPC exception."""
    url = f"127.0.0.1:{free_port()}"
    fast = RetryPolicy(max_attempts=3, initial_backoff_s=0.01, max_backoff_s=0.01)

    async def synthesize() -> None:
        async with AsyncTTSClient(url, deadline_s=5, retry=fast) as client:
            await client.synthesize("Hello.")

    async def stream() -> None:
        async with AsyncTTSClient(url, deadline_s=5, retry=fast) as client:
            [chunk async for chunk in client.stream("Hello.")]

    for call in (synthesize, stream):
        with pytest.raises(ServerUnavailableError, match="failed to connect"):
            asyncio.run(call())
