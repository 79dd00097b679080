"""`tritontts worker`: render long-audio jobs from the Redis queue with a running Triton."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from tritontts.errors import UsageError
from tritontts_client.contract import (
    API_KEY_ENV,
    BATCH_PRIORITY,
    JOBS_ENV_S3_ACCESS_KEY,
    JOBS_ENV_S3_BUCKET,
    JOBS_ENV_S3_ENDPOINT,
    JOBS_ENV_S3_SECRET_KEY,
    JOBS_ENV_STORE_DIR,
    REDIS_URL_ENV,
    TRITON_URL_ENV,
)


def add_store_options(parser: argparse.ArgumentParser, with_redis: bool = True) -> None:
    """The result store and the queue: the same options for the gateway and the workers
    (the gateway has its --redis-url already)."""
    group = parser.add_argument_group("long-audio jobs: queue and result store")
    if with_redis:
        group.add_argument("--redis-url", default=os.environ.get(REDIS_URL_ENV),
                           help=f"redis://HOST:PORT/DB of the queue (default: "
                                f"${REDIS_URL_ENV})")
    group.add_argument("--s3-endpoint", default=os.environ.get(JOBS_ENV_S3_ENDPOINT),
                       help="S3-compatible endpoint URL (MinIO, SeaweedFS; none with a bucket: "
                            f"AWS) (default: ${JOBS_ENV_S3_ENDPOINT})")
    group.add_argument("--s3-bucket", default=os.environ.get(JOBS_ENV_S3_BUCKET),
                       help=f"bucket for results (default: ${JOBS_ENV_S3_BUCKET}); neither "
                            "endpoint nor bucket: a local directory")
    group.add_argument("--s3-region", default="us-east-1")
    group.add_argument("--jobs-dir", type=Path,
                       default=Path(os.environ.get(JOBS_ENV_STORE_DIR, "build/jobs")),
                       help="the local result store when no S3 is configured (default: "
                            f"${JOBS_ENV_STORE_DIR} or build/jobs)")
    group.add_argument("--result-ttl", type=float, default=7 * 24 * 3600, metavar="SECONDS",
                       help="how long results are kept after a job ends (default: 7 days)")
    group.add_argument("--lease", type=float, default=30.0, metavar="SECONDS",
                       help="a worker that stops renewing its lease this long loses its job "
                            "to another worker (default: 30)")


def jobs_settings_from(args: argparse.Namespace):  # -> JobSettings (imported lazily)
    from tritontts.jobs.settings import JobSettings, StoreSettings, WorkerSettings

    if not args.redis_url:
        raise ValueError(f"jobs need a Redis: --redis-url or ${REDIS_URL_ENV}")
    worker = WorkerSettings(
        triton_url=getattr(args, "triton_url", "127.0.0.1:8001"),
        triton_api_key=getattr(args, "triton_api_key", None),
        jobs_at_once=getattr(args, "jobs_at_once", 1),
        chunks_at_once=getattr(args, "chunks_at_once", 4),
        global_budget=getattr(args, "global_budget", 4),
        lease_s=args.lease,
        maintenance_chance=getattr(args, "maintenance_chance", 100_000),
        sweep_interval_s=getattr(args, "sweep_interval", 60.0),
        noise_w=getattr(args, "noise_w", None),
        priority=getattr(args, "priority", BATCH_PRIORITY))
    store = StoreSettings(local_dir=args.jobs_dir, s3_endpoint=args.s3_endpoint,
                          s3_bucket=args.s3_bucket, s3_region=args.s3_region,
                          s3_access_key=os.environ.get(JOBS_ENV_S3_ACCESS_KEY),
                          s3_secret_key=os.environ.get(JOBS_ENV_S3_SECRET_KEY))
    return JobSettings(redis_url=args.redis_url, store=store, worker=worker,
                       result_ttl_s=int(args.result_ttl))


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Render long-audio jobs (POST /v1/audio/jobs on the gateway) from the Redis queue: "
        "chunks go to Triton at the batch priority, the result to the store. SIGTERM "
        "finishes the chunks in flight and hands the job back.")
    parser.add_argument("--triton-url", default=os.environ.get(TRITON_URL_ENV,
                                                               "127.0.0.1:8001"),
                        help=f"gRPC HOST:PORT of Triton (default: ${TRITON_URL_ENV} or "
                             "127.0.0.1:8001)")
    parser.add_argument("--triton-api-key", default=os.environ.get(API_KEY_ENV))
    parser.add_argument("--jobs-at-once", type=int, default=1,
                        help="jobs this process renders at the same time (default: 1)")
    parser.add_argument("--chunks-at-once", type=int, default=4,
                        help="chunks of one job sent to Triton at once (default: 4)")
    parser.add_argument("--global-budget", type=int, default=4,
                        help="Triton requests in flight from all workers together (default: 4)")
    parser.add_argument("--priority", type=int, default=BATCH_PRIORITY,
                        help=f"Triton queue level of job requests (default: {BATCH_PRIORITY}, "
                             "behind real-time requests; 0: the real-time level)")
    parser.add_argument("--noise-w", type=float, default=None,
                        help="rhythm variation of every chunk (default: the voice's own; 0: a "
                             "repeated chunk gives the same audio)")
    parser.add_argument("--sweep-interval", type=float, default=60.0, metavar="SECONDS",
                        help="how often expired results are removed (default: 60)")
    parser.add_argument("--maintenance-chance", type=int, default=100_000,
                        help="broker commands, out of 1 000 000, that look for dead workers' "
                             "jobs (default: 100000)")
    add_store_options(parser)


def run(args: argparse.Namespace) -> int:
    try:
        settings = jobs_settings_from(args)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    from tritontts.jobs.worker import JobWorker

    return JobWorker(settings).run()
