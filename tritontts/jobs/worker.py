"""`tritontts worker`'s process: dramatiq workers rendering jobs, a heartbeat that renews this
process's leases (its budget slots', its jobs', and its broker heartbeat, which the consumer
alone does not send while every worker thread is busy), the sweeper (on a thread of its own),
and the signals.

SIGTERM or SIGINT (a spot node being reclaimed, a rollout): no new chunks start; the chunks
in flight finish and are recorded, the job goes back to the queue, and the process exits.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from tritontts.jobs.leases import GlobalBudget
from tritontts.jobs.queue import make_broker
from tritontts.jobs.records import JobBook
from tritontts.jobs.runner import JobRunner
from tritontts.jobs.settings import JobSettings
from tritontts.jobs.store import S3Store, open_store
from tritontts.jobs.sweeper import sweep
from tritontts_client.contract import JOBS_ACTOR, JOBS_QUEUE

log = logging.getLogger(__name__)


class JobWorker:
    def __init__(self, settings: JobSettings) -> None:
        import dramatiq
        import redis

        from tritontts_client import TTSClient

        self.settings = settings
        self.stopping = threading.Event()
        self.redis = redis.Redis.from_url(settings.redis_url)
        self.book = JobBook(self.redis)
        self.store = open_store(settings.store)
        if isinstance(self.store, S3Store):
            self.store.ensure_bucket(settings.result_ttl_s)
        self.broker = make_broker(settings)
        worker = settings.worker
        self.client = TTSClient(worker.triton_url, model=worker.tts_model,
                                deadline_s=worker.chunk_deadline_s, api_key=worker.triton_api_key)
        # Budget slots live as long as this process's heartbeat renews them: a killed
        # worker's slots are free within one lease, whatever the chunk deadline. A slot is
        # held around one request, which ends by its deadline (+ one beat of grace).
        self.budget = GlobalBudget(self.redis, worker.global_budget, lease_s=worker.lease_s,
                                   overdue_s=worker.chunk_deadline_s + worker.lease_s / 3)
        self.runner = JobRunner(settings, self.book, self.store, self.broker, self.client,
                                self.budget, self.stopping)
        dramatiq.Actor(self._render, broker=self.broker, actor_name=JOBS_ACTOR,
                       queue_name=JOBS_QUEUE, priority=0, options={})
        self._worker: Any = None

    def _render(self, job_id: str) -> None:
        from dramatiq.middleware import CurrentMessage

        message = CurrentMessage.get_current_message()
        retries = message.options.get("retries", 0) if message is not None else 0
        final = retries >= self.settings.worker.job_retries
        outcome = self.runner.run(job_id, final_attempt=final)
        log.info("worker: %s %s (%d chunks rendered here)", job_id, outcome.result,
                 len(outcome.chunks_rendered))

    def _heartbeat(self) -> None:
        interval = self.settings.worker.lease_s / 3
        while not self._beats_done.wait(interval):
            try:
                self.budget.renew()
                self.runner.renew_leases()
                self.broker.do_qsize(JOBS_QUEUE)  # every broker command is a heartbeat
            except Exception:  # a Redis blip: the next beat tries again
                log.exception("worker: heartbeat failed")

    def _sweeper(self) -> None:
        # A thread of its own: a long sweep (many results expiring at once) must not delay
        # the beats, or this live worker's leases and budget slots would lapse.
        pause = self.settings.worker.lease_s / 3
        while not self._beats_done.wait(pause):
            pause = self.settings.worker.sweep_interval_s
            if self.stopping.is_set():
                continue
            try:
                sweep(self.book, self.store)
            except Exception:  # a Redis or store blip: the next sweep tries again
                log.exception("worker: sweep failed")

    def run(self) -> int:
        import dramatiq

        jobs_at_once = max(1, self.settings.worker.jobs_at_once)
        self._worker = dramatiq.Worker(self.broker, worker_threads=jobs_at_once,
                                       worker_timeout=250)
        # Take only as many jobs as are rendered at once: the rest stay for other workers.
        self._worker.queue_prefetch = jobs_at_once
        done = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: done.set())
        self._beats_done = threading.Event()
        beats = [threading.Thread(target=self._heartbeat, name="heartbeat", daemon=True),
                 threading.Thread(target=self._sweeper, name="sweeper", daemon=True)]
        for thread in beats:
            thread.start()
        self._worker.start()
        log.info("worker: rendering jobs from %s (%d at once, %d chunks each, budget %d)",
                 self.settings.redis_url, jobs_at_once, self.settings.worker.chunks_at_once,
                 self.settings.worker.global_budget)
        done.wait()
        log.info("worker: stopping: finishing the chunks in flight, then handing jobs back")
        self.stopping.set()
        self._worker.stop()  # waits for the actors, which hand their jobs back
        self._beats_done.set()
        for thread in beats:
            thread.join(5)
        self.client.close()
        log.info("worker: stopped")
        return 0
