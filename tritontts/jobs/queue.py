"""The queue: dramatiq over Redis. A message names a job; the job's state is in Redis
(records.py), so a message delivered twice, or after a worker died, finds the job where it
was left. dramatiq's Redis broker acknowledges a message only when its actor returns, and a
worker whose heartbeat stops (SIGKILL, a lost node) has its unacknowledged messages moved back
to the queue by the other workers' maintenance: delivery is at least once."""

from __future__ import annotations

from typing import Any

from tritontts.jobs.settings import JobSettings
from tritontts_client.contract import JOBS_ACTOR, JOBS_BROKER_NAMESPACE, JOBS_QUEUE


def make_broker(settings: JobSettings) -> Any:
    from dramatiq.brokers.redis import RedisBroker
    from dramatiq.middleware import CurrentMessage, Retries

    worker = settings.worker
    broker = RedisBroker(
        url=settings.redis_url, namespace=JOBS_BROKER_NAMESPACE,
        # No time limit, age limit or shutdown exceptions: a job runs as long as its text
        # needs, and a worker that is told to stop finishes its chunk and hands the job back.
        middleware=[Retries(max_retries=worker.job_retries,
                            min_backoff=worker.job_min_backoff_ms,
                            max_backoff=worker.job_max_backoff_ms),
                    CurrentMessage()],
        heartbeat_timeout=int(worker.lease_s * 1000),
        maintenance_chance=worker.maintenance_chance)
    broker.declare_queue(JOBS_QUEUE)
    return broker


def enqueue(broker: Any, job_id: str, delay_ms: int | None = None) -> None:
    from dramatiq import Message

    broker.enqueue(Message(queue_name=JOBS_QUEUE, actor_name=JOBS_ACTOR, args=(job_id,),
                           kwargs={}, options={}), delay=delay_ms)


def queue_length(broker: Any) -> int:
    """Messages waiting (what an autoscaler reads: KEDA's Redis scaler counts this list)."""
    return int(broker.client.llen(f"{JOBS_BROKER_NAMESPACE}:{JOBS_QUEUE}"))
