"""Locust users for a tritontts deployment: gRPC (short / medium / long texts), streaming
(time to first audio as its own statistic) and HTTP.

Run through `make load` (benchmarks/load.py), which starts a server when no HOST is given and
turns the statistics into an SLO verdict. Directly:

    locust -f benchmarks/locustfile.py --headless -u 4 -r 2 -t 30s \
        --grpc-host localhost:8001 --host http://localhost:8000
"""

from __future__ import annotations

# grpcio blocks gevent's loop unless told to cooperate; this must run before any channel.
import grpc.experimental.gevent as grpc_gevent

grpc_gevent.init_gevent()

import random  # noqa: E402
import time  # noqa: E402

from locust import HttpUser, User, between, events, tag, task  # noqa: E402

from tritontts_client import NO_RETRY, TTSClient  # noqa: E402
from tritontts_client.contract import AUDIO, TEXT, TTS_MODEL  # noqa: E402

SHORT = [  # up to ten words: what real-time voice interfaces mostly send
    "Your table is ready.",
    "Please hold while I transfer your call.",
    "The door is unlocked.",
    "Turn left in two hundred meters.",
    "You have three new messages.",
    "Sorry, I did not catch that.",
]
MEDIUM = [
    "Your package left the warehouse this morning and should arrive by Thursday afternoon, "
    "weather permitting.",
    "The museum opens at nine and the guided tour of the east wing starts every hour on the "
    "hour.",
]
LONG = [
    "Thanks for waiting, I found your booking for two nights at the harbor hotel. Check in "
    "opens at three in the afternoon, and breakfast is served until ten every morning. The room "
    "has a view of the water and a small balcony. Would you like me to add late checkout or a "
    "parking space for your car?",
]


@events.init_command_line_parser.add_listener
def _arguments(parser) -> None:
    # Locust's own --host is the HTTP base URL; gRPC needs its own address.
    parser.add_argument("--grpc-host", default="localhost:8001", help="gRPC HOST:PORT")


def _fire(user: User, request_type: str, name: str, started: float, length: int,
          exception: BaseException | None) -> None:
    user.environment.events.request.fire(
        request_type=request_type, name=name, response_time=(time.perf_counter() - started) * 1e3,
        response_length=length, exception=exception, context={})


class TritonUser(User):
    """A user with its own gRPC tritontts client."""

    abstract = True
    wait_time = between(1, 2)

    def on_start(self) -> None:
        # No client retries: the load test measures the server, and an overload refusal is a
        # failure it must report, not one to hide behind a retry.
        self.tts = TTSClient(self.environment.parsed_options.grpc_host, "grpc", deadline_s=60,
                             retry=NO_RETRY)

    def on_stop(self) -> None:
        self.tts.close()


class GrpcUser(TritonUser):
    """The `tts` ensemble over gRPC through the tritontts client."""

    weight = 4

    def _speak(self, name: str, texts: list[str]) -> None:
        started, length, error = time.perf_counter(), 0, None
        try:
            length = self.tts.synthesize(random.choice(texts)).audio.nbytes
        except Exception as exc:  # counted as a failure by Locust
            error = exc
        _fire(self, "grpc", name, started, length, error)

    @tag("short")
    @task(6)
    def short(self) -> None:
        self._speak("tts short", SHORT)

    @tag("medium")
    @task(3)
    def medium(self) -> None:
        self._speak("tts medium", MEDIUM)

    @tag("long")
    @task(1)
    def long(self) -> None:
        self._speak("tts long", LONG)


class StreamUser(TritonUser):
    """`tts_stream`: time to first audio is reported as its own request name."""

    weight = 1

    @tag("stream")
    @task
    def stream(self) -> None:
        started, length, error, first = time.perf_counter(), 0, None, True
        try:
            for chunk in self.tts.stream(random.choice(SHORT + MEDIUM)):
                if first:
                    _fire(self, "grpc-stream", "tts_stream first audio", started,
                          chunk.audio.nbytes, None)
                    first = False
                length += chunk.audio.nbytes
        except Exception as exc:
            error = exc
        _fire(self, "grpc-stream", "tts_stream complete", started, length, error)


class KServeHttpUser(HttpUser):
    """The `tts` ensemble over HTTP with the KServe v2 JSON protocol, as any HTTP client would."""

    weight = 1
    wait_time = between(1, 2)

    @tag("short")
    @task
    def short(self) -> None:
        body = {"inputs": [{"name": TEXT.name, "shape": [1], "datatype": TEXT.dtype,
                            "data": [random.choice(SHORT)]}],
                "outputs": [{"name": AUDIO.name, "parameters": {"binary_data": True}}]}
        self.client.post(f"/v2/models/{TTS_MODEL}/infer", json=body, name="http tts short")
