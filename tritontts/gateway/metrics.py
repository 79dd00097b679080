"""The gateway's Prometheus metrics, on a registry of its own (one per app)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from tritontts.gateway.names import METRIC_PREFIX

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        p, r = METRIC_PREFIX, self.registry
        self.requests = Counter(p + "requests", "HTTP requests answered",
                                ["route", "status"], registry=r)
        self.latency = Histogram(p + "request_seconds", "Time to the whole response",
                                 ["route"], buckets=LATENCY_BUCKETS, registry=r)
        self.first_byte = Histogram(p + "first_byte_seconds",
                                    "Time from a speech request to its first audio byte",
                                    ["format", "stream_format"], buckets=LATENCY_BUCKETS,
                                    registry=r)
        self.audio_bytes = Counter(p + "audio_bytes", "Encoded audio bytes sent", ["format"],
                                   registry=r)
        self.refusals = Counter(p + "refusals", "Requests refused, by reason", ["reason"],
                                registry=r)
        self.cache = Counter(p + "cache_lookups", "Response cache lookups", ["result"],
                             registry=r)
        self.in_flight = Gauge(p + "in_flight", "Requests in progress in this replica",
                               registry=r)
        self.disconnects = Counter(p + "client_disconnects",
                                   "Streams that ended before their audio did (the client "
                                   "left, or Triton failed)", registry=r)
        # The realtime speech socket (realtime/route.py).
        self.sockets_open = Gauge(p + "realtime_sockets_open",
                                  "Realtime speech sockets open in this replica", registry=r)
        self.turns = Counter(p + "realtime_turns",
                             "Turns spoken on realtime sockets, by how they ended",
                             ["end"], registry=r)
        self.realtime_first_audio = Histogram(
            p + "realtime_first_audio_seconds",
            "Time from a segment's text being complete (sentence end or flush) to its first "
            "audio frame leaving, for the first segment of each turn",
            buckets=LATENCY_BUCKETS, registry=r)
        self.realtime_cancellations = Counter(
            p + "realtime_cancellations",
            "Speech streams cancelled on realtime sockets, by cause", ["cause"], registry=r)
