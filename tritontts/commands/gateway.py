"""`tritontts gateway`: run the OpenAI-compatible speech gateway, or add and revoke its keys."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from tritontts.api.scopes import ALL_SCOPES
from tritontts.commands.worker import add_store_options, jobs_settings_from
from tritontts_client.contract import API_KEY_ENV, GATEWAY_KEYS_ENV, REDIS_URL_ENV, TRITON_URL_ENV


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Serve OpenAI's POST /v1/audio/speech (and /v1/models, /v1/audio/voices, /healthz, "
        "/readyz, /metrics, a page to try it at /) in front of a running tritontts server. "
        "With --add-key or --revoke-key it changes the key store and exits.")
    parser.add_argument("--triton-url", default=os.environ.get(TRITON_URL_ENV,
                                                               "127.0.0.1:8001"),
                        help=f"gRPC HOST:PORT of Triton (default: ${TRITON_URL_ENV} or "
                             "127.0.0.1:8001)")
    parser.add_argument("--triton-api-key", default=os.environ.get(API_KEY_ENV),
                        help="the inference key Triton wants, if any")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    auth = parser.add_argument_group("auth (none of these: the gateway is open)")
    auth.add_argument("--keys-file", type=Path, default=os.environ.get(GATEWAY_KEYS_ENV),
                      help="JSON file of hashed API keys (re-read when it changes)")
    auth.add_argument("--keys-in-redis", action="store_true",
                      help="keep the API keys in Redis (--redis-url) instead")
    auth.add_argument("--jwt-public-key", type=Path, metavar="PEM",
                      help="accept JWTs signed by this public key")
    auth.add_argument("--jwks", type=Path, metavar="FILE", help="... or by a key of this JWKS")
    auth.add_argument("--jwt-issuer", help="the `iss` tokens must carry")
    auth.add_argument("--jwt-audience", help="the `aud` tokens must carry")
    limits = parser.add_argument_group("limits (per caller unless said otherwise)")
    limits.add_argument("--redis-url", default=os.environ.get(REDIS_URL_ENV),
                        help="redis://HOST:PORT/DB: limits shared by replicas and the response "
                             f"cache (default: ${REDIS_URL_ENV}; none: in-memory, no cache)")
    limits.add_argument("--rate", default="10/second", help="requests (default: 10/second)")
    limits.add_argument("--characters", action="append", metavar="LIMIT",
                        help="characters of input, repeatable (default: 20000/minute)")
    limits.add_argument("--concurrency", type=int, default=4,
                        help="requests in progress at once (default: 4)")
    limits.add_argument("--max-concurrency", type=int, default=16,
                        help="requests in progress in this replica; more get 429 (default 16)")
    limits.add_argument("--no-cache", action="store_true", help="no Redis response cache")
    limits.add_argument("--cache-max-mib", type=int, default=256,
                        help="size bound of the response cache (default: 256 MiB)")
    limits.add_argument("--jobs", action="store_true",
                        help="serve long-audio jobs at /v1/audio/jobs (needs --redis-url; "
                             "`tritontts worker` renders them)")
    realtime = parser.add_argument_group("realtime socket (docs/realtime.md)")
    realtime.add_argument("--socket-idle-timeout", type=float, default=60.0, metavar="S",
                          help="close a socket after S seconds with nothing sent and nothing "
                               "to say (default 60)")
    realtime.add_argument("--socket-tail-ms", type=int, default=1000, metavar="MS",
                          help="speak an unfinished sentence after MS without new text; 0: "
                               "only on flush (default 1000; a socket's config may change it)")
    realtime.add_argument("--socket-max-pending-chars", type=int, default=8192, metavar="N",
                          help="text a socket may have waiting to be spoken (default 8192)")
    realtime.add_argument("--socket-max-message-bytes", type=int, default=16 << 10,
                          metavar="N", help="largest client message (default 16384)")
    realtime.add_argument("--socket-ahead", type=int, default=1, metavar="N",
                          help="sentences of a socket synthesized at once (default 1)")
    realtime.add_argument("--sentence-pause-s", type=float, default=None, metavar="S",
                          help="the pause between sentences the repository was tuned with "
                               "(default: read from Triton, else 0.2)")
    add_store_options(parser, with_redis=False)
    voices = parser.add_argument_group("voices")
    voices.add_argument("--voice", action="append", default=[], metavar="NAME",
                        help="a voice (or voice/speaker) the repository serves, listed by "
                             "/v1/audio/voices; repeatable")
    voices.add_argument("--voice-alias", action="append", default=[], metavar="NAME=VOICE",
                        help="serve request voice NAME with VOICE (OpenAI's names map to the "
                             "default voice unless set); repeatable")
    voices.add_argument("--noise-scale", type=float, default=None,
                        help="voice variation for every request (default: the voice's own)")
    voices.add_argument("--noise-w", type=float, default=None,
                        help="rhythm variation for every request (default: the voice's own; "
                             "0: the same request gives the same audio)")
    keys = parser.add_argument_group("keys (then exit)")
    keys.add_argument("--add-key", metavar="NAME", help="create a key NAME and print it once")
    keys.add_argument("--revoke-key", metavar="NAME", help="revoke the key NAME")
    keys.add_argument("--scopes", default=",".join(ALL_SCOPES),
                      help=f"scopes of --add-key, comma separated (default: all: "
                           f"{','.join(ALL_SCOPES)})")


def settings_from(args: argparse.Namespace):  # -> GatewaySettings (imported lazily)
    from tritontts.gateway.settings import (
        CacheSettings,
        ClientLimits,
        GatewaySettings,
        JWTSettings,
        RealtimeSettings,
    )

    aliases = GatewaySettings().voice_aliases
    for entry in args.voice_alias:
        name, separator, target = entry.partition("=")
        if not separator or not name:
            raise ValueError(f"--voice-alias wants NAME=VOICE, got {entry!r}")
        aliases[name] = target
    return GatewaySettings(
        triton_url=args.triton_url, triton_api_key=args.triton_api_key, host=args.host,
        port=args.port, keys_file=args.keys_file, keys_in_redis=args.keys_in_redis,
        jwt=JWTSettings(public_key_file=args.jwt_public_key, jwks_file=args.jwks,
                        issuer=args.jwt_issuer, audience=args.jwt_audience),
        redis_url=args.redis_url,
        default_limits=ClientLimits(args.rate, tuple(args.characters or ("20000/minute",)),
                                    args.concurrency),
        max_concurrency=args.max_concurrency,
        cache=CacheSettings(enabled=not args.no_cache, max_bytes=args.cache_max_mib << 20),
        voices=tuple(args.voice), voice_aliases=aliases, noise_scale=args.noise_scale,
        noise_w=args.noise_w, jobs=jobs_settings_from(args) if args.jobs else None,
        realtime=RealtimeSettings(max_message_bytes=args.socket_max_message_bytes,
                                  max_pending_chars=args.socket_max_pending_chars,
                                  idle_timeout_s=args.socket_idle_timeout,
                                  tail_after_s=args.socket_tail_ms / 1000,
                                  sentence_pause_s=args.sentence_pause_s,
                                  ahead=args.socket_ahead))


def run(args: argparse.Namespace) -> int:
    try:
        settings = settings_from(args)
        if args.add_key or args.revoke_key:
            return asyncio.run(_manage_keys(args, settings))
    except ValueError as exc:
        print(f"tritontts gateway: {exc}", file=sys.stderr)
        return 2
    import uvicorn

    from tritontts.gateway.app import create_app

    # Larger socket messages are cut off by the protocol itself; up to this size the socket
    # answers with an error message and stays open.
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                log_level="info", timeout_graceful_shutdown=10,
                ws_max_size=4 * settings.realtime.max_message_bytes)
    return 0


async def _manage_keys(args: argparse.Namespace, settings) -> int:
    from tritontts.gateway import keystore

    if args.add_key:
        scopes = tuple(s for s in args.scopes.split(",") if s)
        key = await keystore.add_key(settings, args.add_key, scopes)
        print(key)
        print(f"key {args.add_key!r} added; it is shown only now", file=sys.stderr)
    else:
        await keystore.revoke_key(settings, args.revoke_key)
        print(f"key {args.revoke_key!r} revoked", file=sys.stderr)
    return 0
