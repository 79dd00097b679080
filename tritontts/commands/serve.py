"""`tritontts serve`: run tritonserver on a model repository until SIGINT or SIGTERM; if
`serve` itself is killed, tritonserver goes with it."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from tritontts.errors import UsageError
from tritontts.serving.server import ADMIN_APIS, ServerOptions, ServerTLS, TritonServer
from tritontts_client.contract import ADMIN_HEADER, ADMIN_KEY_ENV, API_KEY_ENV, API_KEY_HEADER

# 64 MiB holds about 12 minutes of 22 050 Hz float audio: hundreds of repeated prompts.
DEFAULT_CACHE_BYTES = 64 << 20


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Start tritonserver (the one on PATH, else the one carried by the nvidia-pytriton "
        "wheel) on a model repository, wait until it is ready, and stop it cleanly on "
        "SIGINT/SIGTERM: in-flight requests get up to --exit-timeout seconds to finish.")
    parser.add_argument("--model-repository", type=Path, default=Path("build/model_repository"),
                        help="repository folder (default: build/model_repository)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: 127.0.0.1; 0.0.0.0 for all)")
    parser.add_argument("--http-port", type=int, default=8000)
    parser.add_argument("--grpc-port", type=int, default=8001)
    parser.add_argument("--metrics-port", type=int, default=8002)
    parser.add_argument("--cache-size", type=int, default=DEFAULT_CACHE_BYTES, metavar="BYTES",
                        help="size of the local response cache that `tts_cached` uses; "
                             f"0 disables it (default: {DEFAULT_CACHE_BYTES})")
    parser.add_argument("--exit-timeout", type=int, default=30, metavar="SECONDS",
                        help="time in-flight requests get to finish on shutdown (default: 30)")
    parser.add_argument("--ready-timeout", type=float, default=300.0, metavar="SECONDS",
                        help="give up if the server is not ready after SECONDS (default: 300)")
    parser.add_argument("--log-verbose", type=int, default=0)
    parser.add_argument("--text-model-rss-limit", type=int, default=1024, metavar="MIB",
                        help="reload frontend / tts_stream, when idle, once a stub of theirs "
                             "holds more than MIB of memory: the espeak-ng phonemizer keeps "
                             "~1.3 KB per call (default 1024; 0: never)")
    tls = parser.add_argument_group(
        "TLS (gRPC only: tritonserver serves HTTP in plain text, keep it on a private address)")
    tls.add_argument("--tls-cert", type=Path, metavar="PEM", help="server certificate (chain)")
    tls.add_argument("--tls-key", type=Path, metavar="PEM", help="private key of --tls-cert")
    tls.add_argument("--tls-client-ca", type=Path, metavar="PEM",
                     help="mutual TLS: accept only clients whose certificate this CA signed")
    access = parser.add_argument_group("restricted APIs")
    access.add_argument(
        "--admin-key", default=os.environ.get(ADMIN_KEY_ENV), metavar="VALUE",
        help=f"value of the `{ADMIN_HEADER}` header that {', '.join(ADMIN_APIS)} "
             f"require (default: ${ADMIN_KEY_ENV}; unset: a random key nobody else knows)")
    access.add_argument(
        "--api-key", default=os.environ.get(API_KEY_ENV), metavar="VALUE",
        help=f"require the `{API_KEY_HEADER}` header with VALUE for inference too "
             f"(default: ${API_KEY_ENV}; unset: inference is open)")


def _tls(args: argparse.Namespace) -> ServerTLS | None:
    if not (args.tls_cert or args.tls_key or args.tls_client_ca):
        return None
    if not (args.tls_cert and args.tls_key):
        raise UsageError("TLS needs both --tls-cert and --tls-key")
    return ServerTLS(args.tls_cert, args.tls_key, args.tls_client_ca)


def run(args: argparse.Namespace) -> int:
    tls = _tls(args)
    options = ServerOptions(
        model_repository=args.model_repository, host=args.host, http_port=args.http_port,
        grpc_port=args.grpc_port, metrics_port=args.metrics_port,
        response_cache_bytes=args.cache_size, exit_timeout_s=args.exit_timeout,
        log_verbose=args.log_verbose, admin_key=args.admin_key, inference_key=args.api_key,
        tls=tls, text_model_rss_limit_mib=args.text_model_rss_limit or None)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    server = TritonServer(options)
    server.start(ready_timeout_s=args.ready_timeout)  # a ServerError is printed by the CLI
    print(f"tritontts serve: ready. gRPC {server.grpc_url}  HTTP {server.http_url}  "
          f"metrics {server.metrics_url}  (Ctrl-C stops)", file=sys.stderr, flush=True)
    assert server.process is not None
    try:
        while not stop.wait(0.5):
            if server.process.poll() is not None:
                print(f"tritontts serve: tritonserver exited with {server.process.returncode}",
                      file=sys.stderr)
                return server.process.returncode or 1
        print("tritontts serve: stopping: new requests are refused, in-flight ones finish",
              file=sys.stderr, flush=True)
    finally:
        # Every way out stops the server (an error here included; its stubs too when it
        # exited on its own). What no finally sees (SIGKILL, a crash of the interpreter),
        # the kernel's parent-death signal handles (tritontts.serving.tether).
        server.stop()
    return 0
