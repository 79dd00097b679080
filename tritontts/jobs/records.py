"""Jobs as Redis records: the job hash (status, options, result), its chunks, the chunks done
(index -> samples: the checkpoint a restarted job continues from), each owner's jobs (sorted
by creation, for paging), idempotency keys, and the expiry schedule the sweeper reads.

Status changes go through one Lua script that checks the current status first, so that a
cancel and a worker's update cannot overwrite each other.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from tritontts.jobs.chunks import Chunk
from tritontts_client.contract import JOBS_REDIS_PREFIX

Status = Literal["queued", "running", "succeeded", "failed", "cancelled"]
FINAL: tuple[Status, ...] = ("succeeded", "failed", "cancelled")
UNFINISHED: tuple[Status, ...] = ("queued", "running")

_EXPIRY = JOBS_REDIS_PREFIX + "expiry"  # sorted set: job id -> when it expires

# KEYS[1] the job hash; ARGV[1] the allowed current statuses (comma separated), then field,
# value pairs. Returns 1 when the change was made.
_TRANSITION = """
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return 0 end
local allowed = ',' .. ARGV[1] .. ','
if not string.find(allowed, ',' .. current .. ',', 1, true) then return 0 end
for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 1
"""


def _job_key(job_id: str) -> str:
    return f"{JOBS_REDIS_PREFIX}job:{job_id}"


def _chunks_key(job_id: str) -> str:
    return f"{JOBS_REDIS_PREFIX}job:{job_id}:chunks"


def _done_key(job_id: str) -> str:
    return f"{JOBS_REDIS_PREFIX}job:{job_id}:done"


def _owner_key(owner: str) -> str:
    return f"{JOBS_REDIS_PREFIX}owner:{owner}"


def _idempotency_key(owner: str, key: str) -> str:
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
    return f"{JOBS_REDIS_PREFIX}idempotency:{owner}:{digest}"


def lease_key(job_id: str) -> str:
    return f"{JOBS_REDIS_PREFIX}lease:{job_id}"


@dataclass(frozen=True)
class JobOptions:
    """What the job asks for (resolved against the deployment at submit)."""

    response_format: str
    voice: str | None
    speed: float
    sample_rate: int | None = None


@dataclass
class Job:
    id: str
    owner: str
    status: Status
    options: JobOptions
    chunks_total: int
    created_at: float
    chunks_done: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    expires_at: float | None = None
    error: str | None = None
    attempts: int = 0
    result_key: str | None = None
    result_bytes: int | None = None
    sample_rate: int | None = None
    duration_s: float | None = None
    # Where each chunk's audio starts in the result, and how long it is (seconds).
    offsets: list[tuple[float, float]] = field(default_factory=list)

    @classmethod
    def from_hash(cls, data: dict[bytes, bytes], chunks_done: int) -> Job:
        values = {k.decode(): v.decode() for k, v in data.items()}

        def number(name: str) -> float | None:
            return float(values[name]) if values.get(name) else None

        options = json.loads(values["options"])
        return cls(
            id=values["id"], owner=values["owner"], status=values["status"],  # type: ignore
            options=JobOptions(**options), chunks_total=int(values["chunks_total"]),
            created_at=float(values["created_at"]), chunks_done=chunks_done,
            started_at=number("started_at"), finished_at=number("finished_at"),
            expires_at=number("expires_at"), error=values.get("error") or None,
            attempts=int(values.get("attempts") or 0),
            result_key=values.get("result_key") or None,
            result_bytes=int(values["result_bytes"]) if values.get("result_bytes") else None,
            sample_rate=int(values["sample_rate"]) if values.get("sample_rate") else None,
            duration_s=number("duration_s"),
            offsets=[tuple(o) for o in json.loads(values.get("offsets") or "[]")])


class JobBook:
    """The jobs in Redis (a sync `redis.Redis`: the worker is threaded, the API calls it from
    its thread pool)."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis
        self._transition = redis.register_script(_TRANSITION)

    # --- submit, read, list -------------------------------------------------------------

    def create(self, owner: str, options: JobOptions, chunks: list[Chunk],
               idempotency_key: str | None, idempotency_ttl_s: int) -> tuple[Job, bool]:
        """A new queued job, or (with an idempotency key this owner used before) the job made
        then; the flag says whether it is new."""
        job_id = "job_" + secrets.token_hex(12)
        if idempotency_key is not None:
            marker = _idempotency_key(owner, idempotency_key)
            if not self.redis.set(marker, job_id, nx=True, ex=idempotency_ttl_s):
                existing = self.get(self.redis.get(marker).decode())
                if existing is not None:
                    return existing, False
                self.redis.set(marker, job_id, ex=idempotency_ttl_s)  # that job has expired
        now = time.time()
        record = {"id": job_id, "owner": owner, "status": "queued",
                  "options": json.dumps(options.__dict__), "chunks_total": len(chunks),
                  "created_at": now, "attempts": 0}
        with self.redis.pipeline() as pipe:
            pipe.set(_chunks_key(job_id), json.dumps([c.to_dict() for c in chunks]))
            pipe.hset(_job_key(job_id), mapping=record)
            pipe.zadd(_owner_key(owner), {job_id: now})
            pipe.execute()
        job = self.get(job_id)
        assert job is not None
        return job, True

    def get(self, job_id: str) -> Job | None:
        with self.redis.pipeline() as pipe:
            pipe.hgetall(_job_key(job_id))
            pipe.hlen(_done_key(job_id))
            data, done = pipe.execute()
        return Job.from_hash(data, done) if data else None

    def owned(self, job_id: str, owner: str) -> Job | None:
        """The job if this owner made it; None otherwise (another key cannot tell it exists)."""
        job = self.get(job_id)
        return job if job is not None and job.owner == owner else None

    def page(self, owner: str, limit: int, after: str | None = None) -> tuple[list[Job], bool]:
        """The owner's jobs, newest first, `limit` at a time after the job id `after`."""
        key = _owner_key(owner)
        start = 0
        if after is not None:
            rank = self.redis.zrevrank(key, after)
            if rank is None:
                return [], False
            start = rank + 1
        ids = self.redis.zrevrange(key, start, start + limit)  # one more: is there a next page
        jobs = [job for raw in ids[:limit] if (job := self.get(raw.decode())) is not None]
        return jobs, len(ids) > limit

    def chunks(self, job_id: str) -> list[Chunk]:
        raw = self.redis.get(_chunks_key(job_id))
        return [] if raw is None else [Chunk.from_dict(c) for c in json.loads(raw)]

    def done(self, job_id: str) -> dict[int, int]:
        return {int(k): int(v) for k, v in self.redis.hgetall(_done_key(job_id)).items()}

    def status(self, job_id: str) -> Status | None:
        value = self.redis.hget(_job_key(job_id), "status")
        return None if value is None else value.decode()  # type: ignore[return-value]

    # --- the worker's updates -------------------------------------------------------------

    def transition(self, job_id: str, allowed: tuple[Status, ...], **fields: Any) -> bool:
        args: list[Any] = [",".join(allowed)]
        for name, value in fields.items():
            args += [name, "" if value is None else value]
        return bool(self._transition(keys=[_job_key(job_id)], args=args))

    def start(self, job_id: str) -> bool:
        """queued -> running (False: cancelled or finished meanwhile)."""
        if not self.transition(job_id, UNFINISHED, status="running", started_at=time.time(),
                               error=None):
            return False
        self.redis.hincrby(_job_key(job_id), "attempts", 1)
        return True

    def record_chunk(self, job_id: str, index: int, samples: int, voice_rate: int) -> None:
        """The checkpoint: once this is written the chunk's audio is in the store."""
        with self.redis.pipeline() as pipe:
            pipe.hset(_job_key(job_id), "voice_rate", voice_rate)
            pipe.hset(_done_key(job_id), str(index), samples)
            pipe.execute()

    def voice_rate(self, job_id: str) -> int:
        return int(self.redis.hget(_job_key(job_id), "voice_rate"))

    def hand_back(self, job_id: str) -> bool:
        return self.transition(job_id, ("running",), status="queued")

    def succeed(self, job_id: str, ttl_s: int, **result: Any) -> bool:
        now = time.time()
        changed = self.transition(job_id, UNFINISHED, status="succeeded", finished_at=now,
                                  expires_at=now + ttl_s, **result)
        if changed:
            self.redis.zadd(_EXPIRY, {job_id: now + ttl_s})
        return changed

    def fail(self, job_id: str, reason: str, ttl_s: int) -> bool:
        now = time.time()
        changed = self.transition(job_id, UNFINISHED, status="failed", finished_at=now,
                                  expires_at=now + ttl_s, error=reason)
        if changed:
            self.redis.zadd(_EXPIRY, {job_id: now + ttl_s})
        return changed

    def cancel(self, job_id: str, ttl_s: int) -> bool:
        now = time.time()
        changed = self.transition(job_id, UNFINISHED, status="cancelled", finished_at=now,
                                  expires_at=now + ttl_s)
        if changed:
            self.redis.zadd(_EXPIRY, {job_id: now + ttl_s})
        return changed

    # --- removal ---------------------------------------------------------------------------

    def due(self, now: float, limit: int = 100) -> list[str]:
        return [raw.decode() for raw in
                self.redis.zrangebyscore(_EXPIRY, 0, now, start=0, num=limit)]

    def remove(self, job_id: str) -> None:
        owner = self.redis.hget(_job_key(job_id), "owner")
        with self.redis.pipeline() as pipe:
            pipe.delete(_job_key(job_id), _chunks_key(job_id), _done_key(job_id),
                        lease_key(job_id))
            pipe.zrem(_EXPIRY, job_id)
            if owner is not None:
                pipe.zrem(_owner_key(owner.decode()), job_id)
            pipe.execute()
