"""What the jobs API and the workers are configured with, as typed dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tritontts_client.contract import BATCH_PRIORITY, TTS_MODEL

MIB = 1 << 20


@dataclass(frozen=True)
class StoreSettings:
    """Where results go: an S3-compatible bucket when `s3_endpoint` or `s3_bucket` is set,
    otherwise a local directory (the embedded default: one machine, or a shared volume)."""

    local_dir: Path = Path("build/jobs")
    s3_endpoint: str | None = None  # e.g. http://127.0.0.1:8333; None with a bucket: AWS
    s3_bucket: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key: str | None = None  # None: boto3's own chain (env, profile, instance role)
    s3_secret_key: str | None = None
    # Multipart upload of results: parts of this size (S3's minimum is 5 MiB but the last).
    part_bytes: int = 8 * MIB
    # A lifecycle rule on the jobs prefix as the store's own backstop for the TTL; S3 counts
    # in whole days, so the sweeper is what keeps shorter TTLs.
    lifecycle_rule: bool = True

    @property
    def is_s3(self) -> bool:
        return bool(self.s3_endpoint or self.s3_bucket)


@dataclass(frozen=True)
class JobLimits:
    max_input_bytes: int = 1 << 20  # 1 MiB of UTF-8 text or SSML
    # A sentence longer than this is cut between words into several chunks.
    max_chunk_chars: int = 2000
    max_chunks: int = 50_000
    page_size: int = 20
    max_page_size: int = 100


@dataclass(frozen=True)
class WorkerSettings:
    triton_url: str = "127.0.0.1:8001"
    triton_api_key: str | None = None
    tts_model: str = TTS_MODEL
    # Jobs a worker process renders at once, and chunks of one job sent to Triton at once.
    jobs_at_once: int = 1
    chunks_at_once: int = 4
    # Triton requests in flight from all workers together (a Redis semaphore), so that a
    # large backlog cannot crowd out real-time requests however many workers run.
    global_budget: int = 4
    priority: int = BATCH_PRIORITY
    # A chunk that fails is retried this many times with exponential backoff and jitter;
    # the job then goes back to the queue (dramatiq's retries, with their own backoff) and
    # fails, with the reason, only when those are spent too.
    chunk_retries: int = 4
    chunk_backoff_s: float = 0.5
    chunk_deadline_s: float = 120.0
    job_retries: int = 3
    job_min_backoff_ms: int = 1000
    job_max_backoff_ms: int = 60_000
    # A worker renews its lease on a job (and its heartbeat to the broker) every
    # lease_s / 3; a worker that stops renewing (SIGKILL, a lost node) loses the job after
    # lease_s and another worker continues it from its last recorded chunk.
    lease_s: float = 30.0
    # How often a broker command runs maintenance (moving a dead worker's messages back to
    # the queue), out of 1 000 000.
    maintenance_chance: int = 100_000
    sweep_interval_s: float = 60.0
    # The voice's variation for every chunk (None: the voice's own); 0 makes a repeated chunk
    # give the same audio.
    noise_scale: float | None = None
    noise_w: float | None = None


@dataclass(frozen=True)
class JobSettings:
    redis_url: str = "redis://127.0.0.1:6379/0"
    store: StoreSettings = field(default_factory=StoreSettings)
    limits: JobLimits = field(default_factory=JobLimits)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    # Results (and the job records) are kept this long after the job ends.
    result_ttl_s: int = 7 * 24 * 3600
    # A result URL is valid this long (and never past the result's expiry).
    url_ttl_s: int = 3600
    # Pauses between sentences and after paragraphs, as the frontend makes them inside one
    # request (tritontts.piper.frontend), so that a job sounds like one long request.
    sentence_pause_s: float = 0.2
    paragraph_pause_s: float = 0.6
    default_format: str = "mp3"
