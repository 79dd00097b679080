"""The gateway's Prometheus metrics, on a registry of its own (one per app)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from tritontts_client.contract import (
    GATEWAY_AUDIO_BYTES,
    GATEWAY_CACHE_LOOKUPS,
    GATEWAY_CLIENT_DISCONNECTS,
    GATEWAY_FIRST_BYTE_SECONDS,
    GATEWAY_IN_FLIGHT,
    GATEWAY_REFUSALS,
    GATEWAY_REQUEST_SECONDS,
    GATEWAY_REQUESTS,
    GATEWAY_SOCKET_CANCELLATIONS,
    GATEWAY_SOCKET_FIRST_AUDIO_SECONDS,
    GATEWAY_SOCKET_TURNS,
    GATEWAY_SOCKETS_OPEN,
)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(GATEWAY_REQUESTS, "HTTP requests answered",
                                ["route", "status"], registry=r)
        self.latency = Histogram(GATEWAY_REQUEST_SECONDS, "Time to the whole response",
                                 ["route"], buckets=LATENCY_BUCKETS, registry=r)
        self.first_byte = Histogram(GATEWAY_FIRST_BYTE_SECONDS,
                                    "Time from a speech request to its first audio byte",
                                    ["format", "stream_format"], buckets=LATENCY_BUCKETS,
                                    registry=r)
        self.audio_bytes = Counter(GATEWAY_AUDIO_BYTES, "Encoded audio bytes sent", ["format"],
                                   registry=r)
        self.refusals = Counter(GATEWAY_REFUSALS, "Requests refused, by reason", ["reason"],
                                registry=r)
        self.cache = Counter(GATEWAY_CACHE_LOOKUPS, "Response cache lookups", ["result"],
                             registry=r)
        self.in_flight = Gauge(GATEWAY_IN_FLIGHT, "Requests in progress in this replica",
                               registry=r)
        self.disconnects = Counter(GATEWAY_CLIENT_DISCONNECTS,
                                   "Streams that ended before their audio did (the client "
                                   "left, or Triton failed)", registry=r)
        # The realtime speech socket (realtime/route.py).
        self.sockets_open = Gauge(GATEWAY_SOCKETS_OPEN,
                                  "Realtime speech sockets open in this replica", registry=r)
        self.turns = Counter(GATEWAY_SOCKET_TURNS,
                             "Turns spoken on realtime sockets, by how they ended",
                             ["end"], registry=r)
        self.realtime_first_audio = Histogram(
            GATEWAY_SOCKET_FIRST_AUDIO_SECONDS,
            "Time from a segment's text being complete (sentence end or flush) to its first "
            "audio frame leaving, for the first segment of each turn",
            buckets=LATENCY_BUCKETS, registry=r)
        self.realtime_cancellations = Counter(
            GATEWAY_SOCKET_CANCELLATIONS,
            "Speech streams cancelled on realtime sockets, by cause", ["cause"], registry=r)
