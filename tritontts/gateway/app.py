"""The gateway's FastAPI app: OpenAI's speech API in front of Triton's `tts_stream`."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException as StarletteHTTPException

from tritontts.api.errors import APIError, from_tts_error
from tritontts.api.requests import json_body
from tritontts.api.scopes import SCOPE_MODELS, SCOPE_SPEECH
from tritontts.gateway.auth import (
    Authenticator,
    FileKeyStore,
    JWTVerifier,
    KeyStore,
    Principal,
    RedisKeyStore,
)
from tritontts.gateway.cache import ResponseCache
from tritontts.gateway.limits import Limits, limits_storage
from tritontts.gateway.metrics import GatewayMetrics
from tritontts.gateway.middleware import GatewayMiddleware
from tritontts.gateway.realtime.route import add_realtime_route
from tritontts.gateway.schema import (
    ResolvedSpeech,
    SpeechRequest,
    parse_speech_request,
    resolve,
)
from tritontts.gateway.settings import GatewaySettings
from tritontts.gateway.speech import StreamTally, encoded_audio, sse_events, timestamped_json
from tritontts_client import AsyncTTSClient, RetryPolicy, TTSError
from tritontts_client.audio import FORMATS
from tritontts_client.contract import (
    CACHE_HEADER,
    HEALTH_ROUTE,
    JOBS_ROUTE,
    METRICS_ROUTE,
    MODELS_ROUTE,
    READY_ROUTE,
    SPEECH_ROUTE,
    VOICES_ROUTE,
)

log = logging.getLogger(__name__)
# Package data (the wheel carries it), read through importlib.resources.
PAGE = resources.files(__package__) / "static" / "index.html"


@dataclass
class Gateway:
    """What the routes share; made when the app starts (the gRPC client needs the loop)."""

    settings: GatewaySettings
    metrics: GatewayMetrics
    client: AsyncTTSClient
    auth: Authenticator
    limits: Limits
    cache: ResponseCache | None
    # The stream model's pause between sentences, asked when the first realtime socket opens.
    sentence_pause_s: float | None = None


def create_app(settings: GatewaySettings) -> FastAPI:
    metrics = GatewayMetrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            app.state.gateway = await _start(settings, metrics, stack)
            yield

    app = FastAPI(title="tritontts gateway", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.add_middleware(GatewayMiddleware, metrics=metrics,
                       max_body_bytes=settings.max_body_bytes,
                       path_body_limits={JOBS_ROUTE: settings.max_job_body_bytes})
    _add_error_handlers(app)
    _add_routes(app, metrics)
    add_realtime_route(app)
    if settings.jobs is not None:
        from tritontts.jobs.api import mount_jobs

        mount_jobs(app, settings.offer, settings.jobs, _caller)
    return app


async def _start(settings: GatewaySettings, metrics: GatewayMetrics,
                 stack: AsyncExitStack) -> Gateway:
    redis = None
    if settings.redis_url:
        import redis.asyncio as aioredis

        redis = aioredis.from_url(settings.redis_url)
        stack.push_async_callback(redis.aclose)
    # The gateway answers "not now" itself (503 + Retry-After) rather than making a caller
    # wait through retries: two quick tries at most.
    client = AsyncTTSClient(settings.triton_url, settings.tts_model,
                            stream_model=settings.stream_model, deadline_s=settings.deadline_s,
                            retry=RetryPolicy(max_attempts=2), api_key=settings.triton_api_key)
    stack.push_async_callback(client.close)
    keys: KeyStore | None = None
    if settings.keys_in_redis:
        if redis is None:
            raise ValueError("keys in Redis need a Redis URL")
        keys = RedisKeyStore(redis)
    elif settings.keys_file is not None:
        keys = FileKeyStore(settings.keys_file)
    jwt = JWTVerifier(settings.jwt, settings.default_limits) if settings.jwt.enabled else None
    if not settings.auth_enabled:
        log.warning("gateway: no API keys or JWT configured; every caller is let in")
    cache = (ResponseCache(redis, settings.cache, metrics)
             if redis is not None and settings.cache.enabled else None)
    return Gateway(settings, metrics, client, Authenticator(settings, keys, jwt),
                   Limits(limits_storage(settings.redis_url), settings.max_concurrency,
                          metrics), cache)


def _gateway(request: Request) -> Gateway:
    return request.app.state.gateway


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def api_error(request: Request, exc: APIError) -> JSONResponse:
        if exc.status in (401, 403):
            _gateway(request).metrics.refusals.labels(f"auth_{exc.status}").inc()
        return exc.response()

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return APIError(exc.status_code, str(exc.detail), "invalid_request_error",
                        code="not_found" if exc.status_code == 404 else None).response()

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("gateway: unexpected error")
        return APIError(500, "the gateway failed the request", "server_error",
                        code="internal_error").response()


async def _caller(request: Request, scope: str) -> Principal:
    caller = await _gateway(request).auth.authenticate(request.headers.get("authorization"))
    caller.require(scope)
    return caller


def _add_routes(app: FastAPI, metrics: GatewayMetrics) -> None:
    @app.get("/", include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(PAGE.read_text(encoding="utf-8"))

    @app.get(HEALTH_ROUTE)
    async def healthz() -> dict[str, str]:
        """The gateway process is up (liveness)."""
        return {"status": "ok"}

    @app.get(READY_ROUTE)
    async def readyz(request: Request) -> JSONResponse:
        """Ready only while Triton and its speech model are (readiness); 503 otherwise."""
        if await _gateway(request).client.is_ready():
            return JSONResponse({"status": "ready"})
        return APIError(503, "the speech server is not ready", "server_error",
                        code="not_ready").response()

    @app.get(METRICS_ROUTE)
    async def prometheus() -> Response:
        """The gateway's Prometheus metrics (text exposition format)."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get(MODELS_ROUTE)
    async def models(request: Request) -> dict[str, Any]:
        """The model names a request may give (scope `models`); all are served by the
        repository's pipeline."""
        await _caller(request, SCOPE_MODELS)
        return {"object": "list",
                "data": [{"id": name, "object": "model", "created": 0, "owned_by": "tritontts"}
                         for name in _gateway(request).settings.models]}

    @app.get(VOICES_ROUTE)
    async def voices(request: Request) -> dict[str, Any]:
        """The voices (OpenAI's names are aliases) and the audio formats (scope `models`)."""
        await _caller(request, SCOPE_MODELS)
        settings = _gateway(request).settings
        return {"voices": [{"id": name, "served_by": "the default voice"} if not target
                           else {"id": name, "served_by": target}
                           for name, target in settings.voice_aliases.items()]
                + [{"id": name, "served_by": name} for name in settings.voices],
                "formats": list(FORMATS)}

    @app.post(SPEECH_ROUTE, openapi_extra=json_body(SpeechRequest))
    async def speech(request: Request) -> Response:
        """OpenAI's speech request (scope `speech`): audio streamed as it is synthesized, as a
        file body (`stream_format: audio`) or server-sent events (`sse`). Unknown fields are
        refused; errors come in OpenAI's envelope."""
        return await _speech(request)


async def _speech(request: Request) -> Response:
    arrived = time.perf_counter()
    gateway = _gateway(request)
    caller = await _caller(request, SCOPE_SPEECH)
    speech = resolve(parse_speech_request(await request.body()), gateway.settings)
    await gateway.limits.check_rates(caller, len(speech.text))
    finish = AsyncExitStack()
    await finish.enter_async_context(gateway.limits.slot(caller))
    try:
        return await _speech_response(gateway, speech, arrived, finish)
    except BaseException:
        await finish.aclose()
        raise


async def _timestamped_response(gateway: Gateway, speech: ResolvedSpeech, arrived: float,
                                finish: AsyncExitStack) -> Response:
    """Audio and word timestamps in one JSON body (`timestamps: true`, no SSE): the whole
    utterance is synthesized first, so any refusal still gets its own status."""
    tally = StreamTally()
    audio = encoded_audio(gateway.client, speech, tally)
    try:
        body = await timestamped_json(audio, speech, tally)
    except TTSError as exc:
        raise from_tts_error(exc) from None
    finally:
        await audio.aclose()
        await finish.aclose()
    gateway.metrics.first_byte.labels(speech.response_format, "json").observe(
        time.perf_counter() - arrived)
    gateway.metrics.audio_bytes.labels(speech.response_format).inc(tally.audio_bytes)
    return JSONResponse(body)


async def _speech_response(gateway: Gateway, speech: ResolvedSpeech, arrived: float,
                           finish: AsyncExitStack) -> Response:
    fmt = FORMATS[speech.response_format]
    labels = (speech.response_format, "sse" if speech.sse else "audio")
    if speech.timestamps and not speech.sse:
        return await _timestamped_response(gateway, speech, arrived, finish)
    key = speech.cache_key()
    use_cache = gateway.cache is not None and not speech.sse and not speech.timestamps
    if use_cache and (cached := await gateway.cache.get(key)) is not None:
        await finish.aclose()
        gateway.metrics.first_byte.labels(*labels).observe(time.perf_counter() - arrived)
        gateway.metrics.audio_bytes.labels(speech.response_format).inc(len(cached))
        return Response(cached, media_type=fmt.media_type, headers={CACHE_HEADER: "hit"})

    tally = StreamTally()
    audio = encoded_audio(gateway.client, speech, tally)
    body: AsyncIterator[bytes] = sse_events(audio, speech, tally) if speech.sse else audio
    try:
        # The first piece is awaited here, so that a refusal before any audio (bad text,
        # overload) still gets its own status instead of a broken 200.
        first = await anext(body)
    except TTSError as exc:
        await body.aclose()
        raise from_tts_error(exc) from None
    gateway.metrics.first_byte.labels(*labels).observe(time.perf_counter() - arrived)
    finish.push_async_callback(body.aclose)

    async def rest() -> AsyncIterator[bytes]:
        sent = [first]
        try:
            yield first
            async for piece in body:
                sent.append(piece)
                yield piece
            gateway.metrics.audio_bytes.labels(speech.response_format).inc(
                sum(map(len, sent)))
            if use_cache and tally.complete:
                await gateway.cache.put(key, b"".join(sent))
        except TTSError as exc:  # after the status has gone: the stream ends short
            log.warning("gateway: stream failed after %d bytes: %s", tally.audio_bytes, exc)
        finally:
            if not tally.complete:
                gateway.metrics.disconnects.inc()
            await finish.aclose()

    media_type = "text/event-stream" if speech.sse else fmt.media_type
    headers = {CACHE_HEADER: "miss"} if use_cache else {}
    # The background task runs when the response is over, also when the body never started.
    return StreamingResponse(rest(), media_type=media_type, headers=headers,
                             background=BackgroundTask(finish.aclose))
