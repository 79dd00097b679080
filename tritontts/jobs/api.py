"""The jobs API, mounted by the gateway with its authentication and OpenAI's error envelope
(tritontts.api, which both share; this package never imports the gateway):

    POST   /v1/audio/jobs             submit (202: the job and its URL)
    GET    /v1/audio/jobs             this key's jobs, newest first (?limit=&after=)
    GET    /v1/audio/jobs/{id}        status, progress, result URL, sentence offsets
    GET    /v1/audio/jobs/{id}/audio  the result (the local store; S3 results have a URL)
    DELETE /v1/audio/jobs/{id}        cancel if unfinished, delete the audio

A key sees only its own jobs: another key's job id answers 404, as an unknown one does.
The records are in Redis through a sync client, called from the thread pool.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from tritontts.api.errors import APIError, bad_request
from tritontts.api.requests import (
    ResponseFormat,
    SampleRate,
    SpeechOffer,
    instructions_supported,
    json_body,
    validation_error,
)
from tritontts.api.scopes import SCOPE_SPEECH
from tritontts.errors import InvalidInputError
from tritontts.jobs.chunks import split_job_text
from tritontts.jobs.queue import enqueue, make_broker
from tritontts.jobs.records import UNFINISHED, Job, JobBook, JobOptions
from tritontts.jobs.settings import JobSettings
from tritontts.jobs.store import LocalStore, ResultStore, job_prefix, open_store
from tritontts_client.audio import FORMATS
from tritontts_client.contract import JOBS_ROUTE

IDEMPOTENCY_HEADER = "idempotency-key"


class JobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: str = Field(min_length=1)
    voice: str = ""  # "" or an alias of it: the repository's default voice
    model: str | None = None
    response_format: ResponseFormat | None = None
    sample_rate: SampleRate | None = None  # as on /v1/audio/speech
    speed: float = Field(default=1.0, ge=0.25, le=4.0)
    description: str | None = Field(default=None, max_length=4096)  # a Maya1 voice
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=255)


@dataclass
class JobsService:
    settings: JobSettings
    offer: SpeechOffer
    book: JobBook
    store: ResultStore
    broker: Any


def mount_jobs(app: FastAPI, offer: SpeechOffer, settings: JobSettings, caller: Any) -> None:
    """Add the jobs routes; `caller(request, scope)` is the mounting app's authentication."""
    import redis

    service = JobsService(settings, offer, JobBook(redis.Redis.from_url(settings.redis_url)),
                          open_store(settings.store), make_broker(settings))
    app.state.jobs = service
    router = APIRouter()

    @router.post(JOBS_ROUTE, status_code=202, openapi_extra=json_body(JobRequest))
    async def submit(request: Request) -> JSONResponse:
        """Submit a long text as a job (scope `speech`): 202 with the job; the same
        idempotency key of the same caller answers 200 with the job made first."""
        owner = (await caller(request, SCOPE_SPEECH)).name
        job, created = await run_in_threadpool(
            _submit, service, owner, await request.body(),
            request.headers.get(IDEMPOTENCY_HEADER))
        return JSONResponse(_view(service, job, request), status_code=202 if created else 200)

    @router.get(JOBS_ROUTE)
    async def listing(request: Request, limit: int | None = None,
                      after: str | None = None) -> dict[str, Any]:
        """This caller's jobs, newest first (`limit` at most 100, `after` a job id)."""
        owner = (await caller(request, SCOPE_SPEECH)).name
        size = min(max(1, limit or settings.limits.page_size), settings.limits.max_page_size)
        jobs, more = await run_in_threadpool(service.book.page, owner, size, after)
        return {"object": "list", "data": [_view(service, j, request, brief=True) for j in jobs],
                "has_more": more, "last_id": jobs[-1].id if jobs else None}

    @router.get(JOBS_ROUTE + "/{job_id}")
    async def status(request: Request, job_id: str) -> dict[str, Any]:
        """A job's status, progress, result URL and sentence offsets."""
        job = await _owned(request, service, caller, job_id)
        return _view(service, job, request)

    @router.get(JOBS_ROUTE + "/{job_id}/audio")
    async def audio(request: Request, job_id: str) -> Response:
        """The result itself (the URL given for the local store); 409 until it succeeded."""
        job = await _owned(request, service, caller, job_id)
        if job.status != "succeeded" or not job.result_key:
            raise APIError(409, f"job {job_id} has no audio (it is {job.status})",
                           "invalid_request_error", None, "job_not_finished")
        data = await run_in_threadpool(service.store.get, job.result_key)
        return Response(data, media_type=FORMATS[job.options.response_format].media_type)

    @router.delete(JOBS_ROUTE + "/{job_id}")
    async def delete(request: Request, job_id: str) -> dict[str, Any]:
        """Cancel an unfinished job and delete its audio; a finished job is removed."""
        job = await _owned(request, service, caller, job_id)
        job = await run_in_threadpool(_delete, service, job)
        return {"id": job.id, "object": "audio.job.deleted", "deleted": True,
                "status": job.status}

    app.include_router(router)


async def _owned(request: Request, service: JobsService, caller: Any, job_id: str) -> Job:
    owner = (await caller(request, SCOPE_SPEECH)).name
    job = await run_in_threadpool(service.book.owned, job_id, owner)
    if job is None:
        raise APIError(404, f"No job found with id '{job_id}'", "invalid_request_error",
                       None, "job_not_found")
    return job


def _submit(service: JobsService, owner: str, body: bytes,
            header_key: str | None) -> tuple[Job, bool]:
    try:
        request = JobRequest.model_validate_json(body)
    except ValidationError as exc:
        raise validation_error(exc) from None
    limits, offer = service.settings.limits, service.offer
    size = len(request.input.encode("utf-8"))
    if size > limits.max_input_bytes:
        raise bad_request(f"input is {size} bytes; a job takes at most "
                          f"{limits.max_input_bytes} bytes of text or SSML", "input",
                          "string_above_max_length")
    if request.model is not None and request.model not in offer.models:
        raise offer.unknown_model(request.model)
    if request.description is not None and not instructions_supported(offer):
        raise bad_request("description is a Maya1 voice, and this deployment has no Maya1 "
                          "models; leave it out", "description", "unsupported_parameter")
    try:
        chunks = split_job_text(request.input, max_chunk_chars=limits.max_chunk_chars,
                                sentence_pause_s=service.settings.sentence_pause_s,
                                paragraph_pause_s=service.settings.paragraph_pause_s)
    except InvalidInputError as exc:
        raise bad_request(str(exc), "input", "invalid_input") from None
    if len(chunks) > limits.max_chunks:
        raise bad_request(f"input has {len(chunks)} sentences; a job takes at most "
                          f"{limits.max_chunks}", "input", "too_many_sentences")
    response_format = request.response_format or service.settings.default_format
    options = JobOptions(response_format=response_format, voice=offer.voice(request.voice),
                         speed=request.speed,
                         sample_rate=offer.sample_rate(response_format, request.sample_rate))
    key = header_key or request.idempotency_key
    job, created = service.book.create(owner, options, chunks, key,
                                       idempotency_ttl_s=service.settings.result_ttl_s)
    if created:
        enqueue(service.broker, job.id)
    return job, created


def _delete(service: JobsService, job: Job) -> Job:
    ttl = service.settings.result_ttl_s
    if job.status in UNFINISHED:
        # The worker sees this before its next chunk, stops and removes what it stored.
        service.book.cancel(job.id, ttl)
        service.store.delete_prefix(job_prefix(job.id))
        return service.book.get(job.id) or job
    service.store.delete_prefix(job_prefix(job.id))
    service.book.remove(job.id)
    return job


def _view(service: JobsService, job: Job, request: Request,
          brief: bool = False) -> dict[str, Any]:
    url = str(request.base_url).rstrip("/") + f"{JOBS_ROUTE}/{job.id}"
    view: dict[str, Any] = {
        "id": job.id, "object": "audio.job", "url": url, "status": job.status,
        "created_at": job.created_at, "started_at": job.started_at,
        "finished_at": job.finished_at, "expires_at": job.expires_at,
        "progress": {"chunks_done": job.chunks_done, "chunks_total": job.chunks_total,
                     "fraction": round(job.chunks_done / job.chunks_total, 4)
                     if job.chunks_total else 0.0},
        "response_format": job.options.response_format, "voice": job.options.voice or "",
        "speed": job.options.speed, "attempts": job.attempts,
        "error": {"message": job.error} if job.error else None, "result": None}
    if job.status == "succeeded" and job.result_key:
        view["result"] = _result(service, job, url)
        if not brief:
            view["sentences"] = [{"index": i, "offset_s": round(start, 6),
                                  "duration_s": round(length, 6)}
                                 for i, (start, length) in enumerate(job.offsets)]
    return view


def _result(service: JobsService, job: Job, job_url: str) -> dict[str, Any]:
    remaining = max(1, int((job.expires_at or time.time()) - time.time()))
    expires_s = min(service.settings.url_ttl_s, remaining)
    if isinstance(service.store, LocalStore):
        # Served by the gateway to this key until the result expires.
        url, url_expires = job_url + "/audio", job.expires_at
    else:
        url, url_expires = service.store.url(job.result_key, expires_s), time.time() + expires_s
    return {"url": url, "url_expires_at": url_expires, "bytes": job.result_bytes,
            "format": job.options.response_format, "sample_rate": job.sample_rate,
            "duration_s": job.duration_s}
